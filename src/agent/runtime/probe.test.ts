import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { refusedPort } from '../../util/test-ports.ts';
import { runProbe } from './probe.ts';

const ctx = { probeType: 'Readiness' as const, podIP: '127.0.0.1', hostNetwork: false };
let server: Server;
let port = 0;
let closedPort = 0;
let seen: Record<string, string | string[] | undefined> = {};

before(async () => {
  server = createServer((req, res) => {
    seen = req.headers;
    if (req.url === '/ok') res.writeHead(200).end('fine');
    else if (req.url === '/redirect') res.writeHead(302, { Location: '/ok' }).end();
    else if (req.url === '/slow') setTimeout(() => res.writeHead(200).end(), 3000);
    else res.writeHead(503).end('no');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
  closedPort = refusedPort();
});
after(() => { server.closeAllConnections(); server.close(); });

describe('runProbe', () => {
  it('httpGet: 200–399 succeed, with kube-probe User-Agent and custom headers', async () => {
    assert.equal((await runProbe({ httpGet: { path: '/ok', port, httpHeaders: [{ name: 'X-Check', value: '1' }] } }, ctx)).result, 'Success');
    assert.equal(seen['user-agent'], 'kube-probe/1.32', 'the version the node reports (v1.32)');
    assert.equal(seen['x-check'], '1');
    assert.equal((await runProbe({ httpGet: { path: '/redirect', port } }, ctx)).result, 'Success');
    await runProbe({ httpGet: { path: '/ok', port, httpHeaders: [{ name: 'User-Agent', value: 'mine' }, { name: 'Host', value: 'example.com' }] } }, ctx);
    assert.equal(seen['user-agent'], 'mine');
    assert.equal(seen['host'], 'example.com');
  });

  it('httpGet failures read like kubelet events', async () => {
    assert.deepEqual(await runProbe({ httpGet: { path: '/bad', port } }, ctx),
      { result: 'Failure', output: 'HTTP probe failed with statuscode: 503', message: 'Readiness probe failed: HTTP probe failed with statuscode: 503' });
    assert.equal((await runProbe({ httpGet: { path: '/healthz', port: closedPort } }, { ...ctx, probeType: 'Liveness' })).message,
      `Liveness probe failed: Get "http://127.0.0.1:${closedPort}/healthz": dial tcp 127.0.0.1:${closedPort}: connect: connection refused`);
    assert.equal((await runProbe({ httpGet: { path: '/slow', port }, timeoutSeconds: 1 }, ctx)).message,
      `Readiness probe failed: Get "http://127.0.0.1:${port}/slow": context deadline exceeded (Client.Timeout exceeded while awaiting headers)`);
    assert.equal((await runProbe({ httpGet: { port: 'http' } }, ctx)).result, 'Failure');
  });

  it('tcpSocket: connect succeeds, refusal is reported as Go words it', async () => {
    assert.equal((await runProbe({ tcpSocket: { port } }, ctx)).result, 'Success');
    assert.deepEqual(await runProbe({ tcpSocket: { port: closedPort } }, { ...ctx, probeType: 'Liveness' }), {
      result: 'Failure',
      output: `dial tcp 127.0.0.1:${closedPort}: connect: connection refused`,
      message: `Liveness probe failed: dial tcp 127.0.0.1:${closedPort}: connect: connection refused`,
    });
  });
  // exec probes run through the runtime: see process-runtime.test.ts.
});
