// The runtime port's probe and hook texts, with real processes standing in for exec in a container.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import type { Pod } from 'kubernetes-types/core/v1.d.ts';
import { podContainer } from './agent.ts';
import { ProcessRuntimePort } from './process-runtime-port.ts';
import { clampTimerMs } from '../util/timer.ts';
import { refusedPort } from '../util/test-ports.ts';
import { LogStore } from './runtime/log-store.ts';
import { PodFiles } from './runtime/pod-files.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

describe('ProcessRuntimePort: cancelled hooks', () => {
  it('ends an exec or sleep hook at once when its signal is aborted (a pod deleted during its postStart)', { timeout: 20_000 }, async () => {
    for (const handler of [{ exec: { command: ['sh', '-c', 'sleep 30'] } }, { sleep: { seconds: 30 } }]) {
      const abort = new AbortController();
      const t0 = Date.now();
      const hook = port.runHook(handler, { ...ctx, timeoutSeconds: 60, signal: abort.signal });
      setTimeout(() => abort.abort(), 200);
      const r = await hook;
      assert.equal(r.ok, false, JSON.stringify(handler));
      assert.ok(Date.now() - t0 < 5000, `${JSON.stringify(handler)} took ${Date.now() - t0} ms`);
    }
  });
});

describe('ProcessRuntimePort: httpGet and tcpSocket hooks (kubelet\'s runHTTPHandler)', () => {
  it('succeeds on any answer, 500 included, sends kube-lifecycle as User-Agent, and fails only when the request does', async () => {
    const agents: string[] = [];
    const server = createServer((req, res) => { agents.push(req.headers['user-agent'] ?? ''); res.writeHead(500).end('no'); });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const p = (server.address() as AddressInfo).port;
    try {
      assert.deepEqual(await port.runHook({ httpGet: { path: '/started', port: p } }, { ...ctx, timeoutSeconds: 5 }), { ok: true, message: '' });
      assert.deepEqual(agents, ['kube-lifecycle/1.32']);
    } finally {
      server.close();
    }
    const closed = refusedPort();
    const r = await port.runHook({ httpGet: { path: '/started', port: closed } }, { ...ctx, timeoutSeconds: 5 });
    assert.equal(r.message, `HTTP lifecycle hook (/started) for Container "c" in Pod "p_ns(uid1)" failed - error: Get "http://127.0.0.1:${closed}/started": dial tcp 127.0.0.1:${closed}: connect: connection refused`);
  });

  it('cuts a hanging httpGet hook short when its signal is aborted', { timeout: 20_000 }, async () => {
    const server = createServer(() => { /* never answers */ });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const p = (server.address() as AddressInfo).port;
    try {
      const abort = new AbortController();
      const hook = port.runHook({ httpGet: { path: '/', port: p } }, { ...ctx, timeoutSeconds: 60, signal: abort.signal });
      setTimeout(() => abort.abort(), 200);
      const r = await hook;
      assert.equal(r.ok, false);
      assert.match(r.message, /context canceled/);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it('fails a tcpSocket handler, which the API accepts and the kubelet cannot run', async () => {
    assert.deepEqual(await port.runHook({ tcpSocket: { port: 8080 } }, { ...ctx, timeoutSeconds: 5 }), {
      ok: false, message: 'Cannot run handler: invalid handler: &LifecycleHandler{Exec:nil,HTTPGet:nil,TCPSocket:&TCPSocketAction{Port:{0 8080 },Host:,},Sleep:nil,}',
    });
  });

  it('never hands Node a timer longer than it can hold', () => {
    assert.equal(clampTimerMs(2_147_483 * 1000), 2_147_483_000);
    assert.equal(clampTimerMs(10 ** 12), 2 ** 31 - 1);
    assert.equal(clampTimerMs(0), 1);
  });
});

describe('ProcessRuntimePort: what deleted pods left', () => {
  it('removes the logs and files of pods no longer bound here, and keeps the others\'', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'podgate-forget-'));
    try {
      const logs = new LogStore({ dir: join(dir, 'logs'), isRunning: () => false });
      const files = new PodFiles({ dir: join(dir, 'files'), exists: () => true });
      for (const uid of ['keep', 'gone-a']) await logs.prepare(uid, 'c', 0);
      for (const uid of ['keep', 'gone-b']) await files.write(uid, { hosts: '127.0.0.1\tlocalhost\n' });
      const p = new ProcessRuntimePort({ runtime: {} as ProcessRuntime, logs, images: {} as ImageTable, container: () => undefined,
        podFiles: { prepare: async () => ({ bindMounts: [], events: [] }), remove: (uid) => files.remove(uid), list: () => files.list() } });
      await p.forgetAllBut(new Set(['keep']));
      assert.deepEqual([await logs.listPods(), await files.list()], [['keep'], ['keep']]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('ProcessRuntimePort: named ports', () => {
  it('resolves a sidecar\'s named port for its startup probe and its httpGet preStop from the init container\'s own ports', async () => {
    const server = createServer((_req, res) => { res.end('ok'); });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const n = (server.address() as AddressInfo).port;
    try {
      const pod: Pod = {
        metadata: { name: 'p', namespace: 'ns', uid: 'uid1' },
        spec: {
          initContainers: [{ name: 'side', image: 'podgate/echo', restartPolicy: 'Always', ports: [{ name: 'http', containerPort: n }] }],
          containers: [{ name: 'app', image: 'busybox', ports: [{ name: 'web', containerPort: 1 }] }],
        },
      };
      const named = new ProcessRuntimePort({
        runtime: {} as ProcessRuntime, logs: {} as LogStore, images: {} as ImageTable, container: (_uid, name) => podContainer(pod, name),
      });
      const probe = { httpGet: { port: 'http', path: '/' } };
      assert.deepEqual(await named.probe(probe, { ...ctx, containerName: 'side', kind: 'Startup' }), { ok: true, message: '' });
      assert.deepEqual(await named.runHook({ httpGet: { port: 'http', path: '/' } }, { ...ctx, containerName: 'side', timeoutSeconds: 5 }), { ok: true, message: '' });
      // The port is looked up in the probe's own container only.
      assert.deepEqual(await named.probe(probe, { ...ctx, containerName: 'app', kind: 'Startup' }), { ok: false, message: 'Startup probe errored: couldn\'t find port: http' });
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});
