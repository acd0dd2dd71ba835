// proxy-send-timeout as nginx's proxy_send_timeout: the upstream takes no request bytes for that
// long → 504, on the HTTP/1.1 fast path and on HTTP/2. Real sockets on 127.0.0.1; the backend
// accepts and never reads, so the kernel's buffers fill and the proxy's writes stall.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ProxyServer } from './proxy-server.ts';
import { install, requestH2, sendUntilAnswered, startBackend, startStalledBackend, type TestBackend } from './proxy-test-kit.ts';
import { makeIngress, path, rule } from './test-builders.ts';

const P = 'nginx.ingress.kubernetes.io/';

describe('proxy-send-timeout', () => {
  let proxy: ProxyServer;
  const backends: TestBackend[] = [];

  before(async () => {
    backends.push(await startStalledBackend('stalled'));
    backends.push(await startBackend('echo', (req, res) => { let n = 0; req.on('data', (c: Buffer) => (n += c.length)); req.on('end', () => res.end(`got ${n}`)); }));
    proxy = new ProxyServer({ httpPort: 0, httpsPort: 0, bindAddress: '127.0.0.1' });
    await proxy.start();
    await install(proxy, [
      makeIngress('default', 'slow', (i) => {
        i.metadata!.annotations = { [`${P}proxy-send-timeout`]: '1', [`${P}proxy-body-size`]: '0', [`${P}ssl-redirect`]: 'false' };
        i.spec!.rules = [rule('stalled.example.com', path('/', 'stalled', 80)), rule('echo.example.com', path('/', 'echo', 80))];
      }),
    ], backends);
  });

  after(async () => {
    await proxy.stop();
    for (const b of backends) await b.close();
  });

  it('answers 504 when the upstream stops taking the request body (HTTP/1.1)', async () => {
    assert.equal(await sendUntilAnswered(proxy.httpPort!, 'stalled.example.com', 512 * 1024 * 1024), 'HTTP/1.1 504 Gateway Time-out');
  });

  it('answers 504 when the upstream stops taking the request body (HTTP/2)', async () => {
    const r = await requestH2(proxy.httpsPort!, 'stalled.example.com', '/upload', { method: 'POST', body: 'x'.repeat(64 * 1024 * 1024) });
    assert.equal(r.status, 504);
  });

  it('a body the upstream reads goes through under the same timeout', async () => {
    const r = await requestH2(proxy.httpsPort!, 'echo.example.com', '/upload', { method: 'POST', body: 'x'.repeat(8 * 1024 * 1024) });
    assert.equal(r.status, 200);
    assert.equal(r.body, `got ${8 * 1024 * 1024}`);
  });
});
