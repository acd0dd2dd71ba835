// The announcer's commands under a deadline: a real hung program is killed, an Exec that never
// answers is given up, and failures still name the command (not the `timeout` wrapper).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CommandError, runCommand, tryCommand, type Exec } from '../util/exec.ts';
import { withCommandTimeout } from './command-timeout.ts';

describe('command timeout', () => {
  it('kills a command that does not exit', async () => {
    const exec = withCommandTimeout(runCommand, { timeoutMs: 200, graceMs: 60_000 });
    const err = await exec(['sleep', '600']).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof CommandError, String(err));
    assert.deepEqual(err.argv, ['sleep', '600']);
    assert.match(err.message, /^sleep 600: timed out after 200 ms/);
  });

  it('gives up an Exec that never answers (a command the kill cannot reap)', async () => {
    const seen: string[][] = [];
    const never: Exec = (argv) => { seen.push([...argv]); return new Promise(() => {}); };
    const res = await tryCommand(withCommandTimeout(never, { timeoutMs: 10, graceMs: 10 }), ['arping', '-U', '-c', '1', '-w', '1', '-I', 'eth0', '192.0.2.1']);
    assert.equal(res.code, null);
    assert.match(res.stderr, /timed out/);
    assert.deepEqual(seen, [['timeout', '-s', 'KILL', '0.01', 'arping', '-U', '-c', '1', '-w', '1', '-I', 'eth0', '192.0.2.1']]);
  });

  it('passes output through and reports exit codes and missing programs as the command\'s', async () => {
    const exec = withCommandTimeout(runCommand, { timeoutMs: 60_000 });
    assert.equal((await exec(['sh', '-c', 'cat; echo out'], { input: 'in ' })).stdout, 'in out\n');
    assert.deepEqual(await tryCommand(exec, ['sh', '-c', 'echo bad >&2; exit 3']), { code: 3, stdout: '', stderr: 'bad\n' });
    const missing = await tryCommand(exec, ['podgate-no-such-program']);
    assert.equal(missing.code, 127);
  });
});
