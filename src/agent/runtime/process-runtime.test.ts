import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProcessRuntime, StartError, checkExecutable, lookPathError, type ExitInfo } from './process-runtime.ts';
import { LogStore } from './log-store.ts';
import { realProcFs } from './proc-stat.ts';
import { runProbe } from './probe.ts';

const dir = mkdtempSync(join(tmpdir(), 'podgate-rt-'));
const runtime = new ProcessRuntime({ stateDir: join(dir, 'state') });
const logs = new LogStore({ dir: join(dir, 'logs'), isRunning: (p, c) => runtime.isRunning(p, c), pollMs: 20 });
const exits: ExitInfo[] = [];
runtime.onExit((e) => exits.push(e));
after(async () => {
  await runtime.stopAll(0);
  rmSync(dir, { recursive: true, force: true });
});

function exitOf(podUid: string, name: string): Promise<ExitInfo> {
  return new Promise((resolve) => {
    const found = exits.find((e) => e.podUid === podUid && e.containerName === name);
    if (found) return resolve(found);
    const off = runtime.onExit((e) => { if (e.podUid === podUid && e.containerName === name) { off(); resolve(e); } });
  });
}
async function logText(podUid: string, container: string): Promise<string> {
  const parts: Buffer[] = [];
  for await (const c of logs.read({ podUid, container })) parts.push(c);
  return Buffer.concat(parts).toString();
}
async function sh(podUid: string, name: string, script: string, extra: { env?: Record<string, string>; workingDir?: string; runAsUser?: number; runAsGroup?: number; netnsPath?: string } = {}): Promise<number> {
  const logFile = await logs.prepare(podUid, name, 0);
  const { pid } = await runtime.start({ podUid, containerName: name, argv: ['sh', '-c', script], env: extra.env ?? {}, logFile, ...extra });
  return pid;
}
// Zombies count as dead: this machine's pid 1 may be slow to reap re-parented processes.
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

describe('ProcessRuntime', () => {
  it('runs a command with env and workingDir, captures stdout/stderr in CRI format, reports the exit', async () => {
    const wd = join(dir, 'work', 'dir');
    await sh('p1', 'c', 'echo "hello $NAME from $(pwd)"; echo oops >&2; printf partial; exit 3', { env: { NAME: 'pod' }, workingDir: wd });
    const e = await exitOf('p1', 'c');
    assert.equal(e.exitCode, 3);
    assert.equal(e.reason, 'Error');
    assert.ok(e.finishedAt >= e.startedAt);
    assert.equal(await logText('p1', 'c'), `hello pod from ${wd}\noops\npartial\n`);
    const raw = readFileSync(logs.pathFor('p1', 'c', 0), 'utf8');
    assert.match(raw, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z stdout F hello pod/m);
    assert.match(raw, /Z stderr F oops$/m);
    assert.ok(!existsSync(join(dir, 'state', 'p1_c.json')), 'pid file removed after exit');
  });

  it('reports Completed for exit 0, and refuses a program that does not exist', async () => {
    await sh('p2', 'c', 'exit 0');
    assert.equal((await exitOf('p2', 'c')).reason, 'Completed');
    const logFile = await logs.prepare('p2', 'missing', 0);
    await assert.rejects(runtime.start({ podUid: 'p2', containerName: 'missing', argv: ['no-such-program-xyz'], env: {}, logFile }),
      (err: Error) => err instanceof StartError && err.message === 'exec: "no-such-program-xyz": executable file not found in $PATH');
  });

  it('refuses a file that is not executable with runc\'s permission denied, not "no such file"', async () => {
    const logFile = await logs.prepare('p2', 'passwd', 0);
    await assert.rejects(runtime.start({ podUid: 'p2', containerName: 'passwd', argv: ['/etc/passwd'], env: {}, logFile }),
      (err: Error) => err instanceof StartError && err.message === 'exec: "/etc/passwd": permission denied');
    assert.equal(checkExecutable('/etc/passwd'), 'permission denied');
    assert.equal(checkExecutable('/etc'), 'is a directory');
    assert.equal(checkExecutable('/no/such/file'), 'stat /no/such/file: no such file or directory');
    assert.equal(checkExecutable('/bin/sh'), undefined);
    // exec.LookPath: a path is checked itself; a bare name needs an executable in some PATH entry.
    const fake = (p: string) => (p === '/bin/ok' ? undefined : p === '/bin/noexec' ? 'permission denied' : `stat ${p}: no such file or directory`);
    const table: [string, string | undefined][] = [
      ['/bin/ok', undefined],
      ['/bin/noexec', 'exec: "/bin/noexec": permission denied'],
      ['/gone', 'exec: "/gone": stat /gone: no such file or directory'],
      ['ok', undefined],
      ['noexec', 'exec: "noexec": executable file not found in $PATH'],
    ];
    for (const [program, want] of table) assert.equal(lookPathError(program, '/usr/bin:/bin', fake), want, program);
  });

  it('stops gracefully with SIGTERM and kills the whole process group', async () => {
    const pid = await sh('p3', 'c', 'sleep 300 & echo child $!; trap "echo got TERM; exit 0" TERM; while :; do sleep 0.05; done');
    await new Promise((r) => setTimeout(r, 200));
    const child = Number(/child (\d+)/.exec(await logText('p3', 'c'))?.[1]);
    assert.ok(alive(child));
    const e = await runtime.stop('p3', 'c', 5);
    assert.equal(e?.exitCode, 0);
    assert.equal(e?.pid, pid);
    assert.match(await logText('p3', 'c'), /got TERM/);
    await new Promise((r) => setTimeout(r, 50));
    assert.ok(!alive(child), 'the background child died with the group');
  });

  it('escalates to SIGKILL after the grace period', async () => {
    await sh('p4', 'c', 'trap "" TERM; while :; do sleep 0.05; done');
    await new Promise((r) => setTimeout(r, 100));
    const t0 = Date.now();
    const e = await runtime.stop('p4', 'c', 1);
    assert.equal(e?.exitCode, 137);
    assert.equal(e?.signal, 'SIGKILL');
    assert.ok(Date.now() - t0 >= 900);
    assert.equal(await runtime.stop('p4', 'c', 1), undefined, 'stopping a stopped container is a no-op');
  });

  it('switches user with setpriv (runAsUser/runAsGroup)', async () => {
    await sh('p5', 'c', 'echo "$(id -u) $(id -g) $(id -G)"', { runAsUser: 65534, runAsGroup: 65533 });
    await exitOf('p5', 'c');
    assert.equal(await logText('p5', 'c'), '65534 65533 65533\n');
  });

  it('execs in a running container, and exec probes use it', async () => {
    await sh('p6', 'c', 'touch healthy; exec sleep 300', { workingDir: join(dir, 'p6'), env: { X: 'y' } });
    const child = runtime.exec('p6', 'c', ['sh', '-c', 'echo $X; ls']);
    const out = await new Promise<string>((resolve) => { let s = ''; child.stdout!.on('data', (c) => { s += c; }); child.on('close', () => resolve(s)); });
    assert.equal(out, 'y\nhealthy\n');
    const ctx = { probeType: 'Liveness' as const, podIP: '127.0.0.1', hostNetwork: true, exec: (argv: string[]) => runtime.exec('p6', 'c', argv) };
    assert.equal((await runProbe({ exec: { command: ['cat', 'healthy'] } }, ctx)).result, 'Success');
    assert.deepEqual(await runProbe({ exec: { command: ['sh', '-c', 'echo not yet; exit 1'] } }, ctx),
      { result: 'Failure', output: 'not yet\n', message: 'Liveness probe failed: not yet\n' });
    const slow = await runProbe({ exec: { command: ['sleep', '5'] }, timeoutSeconds: 1 }, ctx);
    assert.equal(slow.message, 'Liveness probe failed: command "sleep 5" timed out');
    assert.throws(() => runtime.exec('p6', 'nope', ['true']), /container not found \("nope"\)/);
    await runtime.stop('p6', 'c', 0);
  });

  it('kills what a crashed podgate left behind, and only that', async () => {
    const state = join(dir, 'orphans');
    execFileSync('mkdir', ['-p', state]);
    // A "container" started by a previous podgate: its own process group with a child.
    const leader = spawn('sh', ['-c', 'sleep 300 & wait'], { detached: true, stdio: 'ignore' });
    const leaderExited = new Promise((r) => leader.once('exit', r));
    await new Promise((r) => setTimeout(r, 100));
    const stat = realProcFs.readStat(leader.pid!)!;
    writeFileSync(join(state, 'podX_app.json'), JSON.stringify({ pid: leader.pid, startTicks: stat.startTicks, podUid: 'podX', containerName: 'app' }));
    // A stale record whose pid now belongs to someone else (start time differs): must be left alone.
    const bystander = spawn('sleep', ['300'], { detached: true, stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 50));
    writeFileSync(join(state, 'podY_app.json'), JSON.stringify({ pid: bystander.pid, startTicks: 1, podUid: 'podY', containerName: 'app' }));
    try {
      const killed = await runtime.killOrphans(state);
      assert.equal(killed.length, 1);
      assert.equal(killed[0]?.podUid, 'podX');
      assert.equal(killed[0]?.pids.length, 2, 'leader and its child');
      await leaderExited;
      assert.ok(alive(bystander.pid!));
      assert.ok(!existsSync(join(state, 'podX_app.json')) && !existsSync(join(state, 'podY_app.json')));
    } finally {
      try { process.kill(-leader.pid!, 'SIGKILL'); } catch { /* gone */ }
      process.kill(bystander.pid!, 'SIGKILL');
    }
  });
});

describe('ProcessRuntime working directory', () => {
  it('starts a container without workingDir in / (runc\'s default), not in podgate\'s own directory, and finds relative programs from there', async () => {
    await sh('w1', 'c', 'pwd');
    await exitOf('w1', 'c');
    assert.equal(await logText('w1', 'c'), '/\n');
    const logFile = await logs.prepare('w2', 'c', 0);
    await assert.rejects(runtime.start({ podUid: 'w2', containerName: 'c', argv: ['./no-such-program'], env: {}, logFile, workingDir: join(dir, 'w2') }),
      (err: Error) => err instanceof StartError && err.message === 'exec: "./no-such-program": stat ./no-such-program: no such file or directory');
    mkdirSync(join(dir, 'w2'), { recursive: true });
    writeFileSync(join(dir, 'w2', 'run.sh'), '#!/bin/sh\necho relative-ok\n', { mode: 0o755 });
    await runtime.start({ podUid: 'w2', containerName: 'c', argv: ['./run.sh'], env: {}, logFile, workingDir: join(dir, 'w2') });
    await exitOf('w2', 'c');
    assert.equal(await logText('w2', 'c'), 'relative-ok\n');
  });
});

describe('ProcessRuntime in a network namespace', () => {
  const ns = `podgate-rt-test-${process.pid}`;
  before(() => {
    for (const tool of ['ip', 'nsenter']) {
      try { execFileSync('sh', ['-c', `command -v ${tool}`]); } catch { assert.fail(`${tool} is missing: apt-get install iproute2 util-linux`); }
    }
    execFileSync('ip', ['netns', 'add', ns]);
    execFileSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  });
  after(() => {
    execFileSync('ip', ['netns', 'del', ns]);
  });

  it('runs the container inside the namespace: its ports are not the host\'s, exec shares them', async () => {
    const netnsPath = `/run/netns/${ns}`;
    await sh('n1', 'c', 'ip -o link show | cut -d: -f2 | tr -d " " | sort | tr "\\n" " "; echo; exec sleep 300', { netnsPath });
    await new Promise((r) => setTimeout(r, 200));
    assert.equal((await logText('n1', 'c')).trim(), 'lo');
    const child = runtime.exec('n1', undefined, ['sh', '-c', 'readlink /proc/self/ns/net']);
    const inner = await new Promise<string>((resolve) => { let s = ''; child.stdout!.on('data', (c) => { s += c; }); child.on('close', () => resolve(s.trim())); });
    assert.notEqual(inner, execFileSync('readlink', ['/proc/self/ns/net']).toString().trim());
    assert.equal(inner, execFileSync('ip', ['netns', 'exec', ns, 'readlink', '/proc/self/ns/net']).toString().trim());
    await runtime.stop('n1', 'c', 1);
  });
});
