// The runtime port's probe and hook texts, with real processes standing in for exec in a container.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it } from 'node:test';
import { ProcessRuntimePort } from './process-runtime-port.ts';
import type { LogStore } from './runtime/log-store.ts';
import type { ImageTable } from './runtime/image-table.ts';
import type { ProcessRuntime } from './runtime/process-runtime.ts';

const port = new ProcessRuntimePort({
  runtime: { exec: (_uid: string, _c: string | undefined, argv: string[]) => spawn(argv[0]!, argv.slice(1), { detached: true, stdio: ['ignore', 'pipe', 'pipe'] }) } as unknown as ProcessRuntime,
  logs: {} as LogStore, images: {} as ImageTable, container: () => undefined,
});
const ctx = { podUid: 'uid1', podName: 'p', podNamespace: 'ns', containerName: 'c', podIP: '127.0.0.1' };

describe('ProcessRuntimePort: probe and hook texts', () => {
  it('gives an exec probe failing without output as "<Kind> probe failed: " once', async () => {
    assert.deepEqual(await port.probe({ exec: { command: ['sh', '-c', 'exit 1'] } }, { ...ctx, kind: 'Liveness' }), { ok: false, message: 'Liveness probe failed: ' });
    assert.deepEqual(await port.probe({ exec: { command: ['sh', '-c', 'echo not yet; exit 1'] } }, { ...ctx, kind: 'Readiness' }), { ok: false, message: 'Readiness probe failed: not yet\n' });
    assert.deepEqual(await port.probe({ exec: { command: ['true'] } }, { ...ctx, kind: 'Startup' }), { ok: true, message: '' });
  });

  it('words a failing exec preStop as kubelet\'s handler does', async () => {
    assert.deepEqual(await port.runHook({ exec: { command: ['sh', '-c', 'exit 7'] } }, { ...ctx, timeoutSeconds: 5 }), {
      ok: false,
      message: 'Exec lifecycle hook ([sh -c exit 7]) for Container "c" in Pod "p_ns(uid1)" failed - error: command \'sh -c exit 7\' exited with 7: , message: ""',
    });
    const r = await port.runHook({ exec: { command: ['sh', '-c', 'echo out; echo err >&2; exit 2'] } }, { ...ctx, timeoutSeconds: 5 });
    assert.equal(r.message, 'Exec lifecycle hook ([sh -c echo out; echo err >&2; exit 2]) for Container "c" in Pod "p_ns(uid1)" failed - error: command \'sh -c echo out; echo err >&2; exit 2\' exited with 2: err\n, message: "out\\nerr\\n"');
    assert.deepEqual(await port.runHook({ exec: { command: ['true'] } }, { ...ctx, timeoutSeconds: 5 }), { ok: true, message: '' });
  });
});
