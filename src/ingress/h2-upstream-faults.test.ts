// HTTP/2 clients against upstreams that misbehave: answers HTTP/2 cannot carry, bodies cut short,
// a 101 nobody asked for, and clients that cancel while the answer streams. Each costs one
// stream at most, never the process, and nothing is left open upstream.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import { ProxyServer } from './proxy-server.ts';
import { install, requestH2, type TestBackend } from './proxy-test-kit.ts';
import { makeIngress, path, rule } from './test-builders.ts';

/** A backend answering each request head with the raw bytes `answers[path]` (then closing when asked); counts open sockets. */
async function rawBackend(answers: Record<string, { bytes: string; close?: boolean; stream?: boolean }>): Promise<TestBackend & { open(): number }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    let head = '';
    s.on('data', (d: Buffer) => {
      head += d.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      const p = head.split(' ')[1]!;
      head = head.slice(end + 4);
      const a = answers[p] ?? { bytes: 'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n' };
      s.write(a.bytes);
      if (a.close) setTimeout(() => s.destroy(), 20);
      if (a.stream) { const t = setInterval(() => { if (s.destroyed) clearInterval(t); else s.write('5\r\ntick\n\r\n'); }, 20); s.on('close', () => clearInterval(t)); }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    name: 'raw', port: (server.address() as net.AddressInfo).port, open: () => sockets.size,
    close: () => new Promise((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }),
  };
}

function session(port: number): http2.ClientHttp2Session {
  const s = http2.connect(`https://x.com:${port}`, { createConnection: () => tls.connect({ host: '127.0.0.1', port, servername: 'x.com', rejectUnauthorized: false, ALPNProtocols: ['h2'] }) });
  s.on('error', () => {});
  return s;
}

/** How a stream ended: its status, body, and whether it ended (END_STREAM) or was reset (and the code). */
function outcome(s: http2.ClientHttp2Session, p: string): Promise<{ status: number; body: string; ended: boolean; rstCode: number | undefined }> {
  return new Promise((resolve) => {
    const st = s.request({ ':path': p, ':authority': 'x.com' });
    let status = 0, body = '', ended = false;
    st.on('response', (h) => { status = Number(h[':status']); });
    st.on('data', (c: Buffer) => { body += c.toString(); });
    st.on('end', () => { ended = true; });
    st.on('error', () => {});
    st.on('close', () => resolve({ status, body, ended, rstCode: ended ? undefined : st.rstCode }));
  });
}

async function until(what: string, check: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 25));
  assert.ok(check(), what);
}

describe('HTTP/2 clients and upstream faults', () => {
  let proxy: ProxyServer;
  let backend: TestBackend & { open(): number };

  before(async () => {
    backend = await rawBackend({
      '/status-600': { bytes: 'HTTP/1.1 600 Odd\r\nContent-Length: 2\r\n\r\nok' },
      '/h2-settings': { bytes: 'HTTP/1.1 200 OK\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\nContent-Length: 2\r\n\r\nok' },
      '/cut-length': { bytes: 'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly-part', close: true },
      '/cut-chunked': { bytes: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n', close: true },
      '/unasked-101': { bytes: 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: foo\r\nConnection: upgrade\r\n\r\n', close: true },
      '/stream': { bytes: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n', stream: true },
    });
    proxy = new ProxyServer({ httpPort: 0, httpsPort: 0, bindAddress: '127.0.0.1' });
    await proxy.start();
    await install(proxy, [makeIngress('default', 'i', (i) => { i.spec!.rules = [rule('x.com', path('/', 'raw', 80))]; })], [backend]);
  });
  after(async () => {
    await proxy.stop();
    await backend.close();
  });

  it('answers 502 for a status HTTP/2 cannot carry, and drops connection-specific fields, in the same process', async () => {
    const s = session(proxy.httpsPort!);
    try {
      assert.deepEqual(await outcome(s, '/status-600'), { status: 502, body: '', ended: true, rstCode: undefined });
      assert.deepEqual(await outcome(s, '/h2-settings'), { status: 200, body: 'ok', ended: true, rstCode: undefined });
    } finally { s.destroy(); }
    // Still serving.
    assert.equal((await requestH2(proxy.httpsPort!, 'x.com', '/h2-settings')).status, 200);
  });

  it('resets the stream when the upstream cuts its body short, so the client never takes it for whole', async () => {
    const s = session(proxy.httpsPort!);
    try {
      for (const p of ['/cut-length', '/cut-chunked']) {
        const o = await outcome(s, p);
        assert.equal(o.ended, false, `${p} must not end cleanly (body ${JSON.stringify(o.body)})`);
        assert.equal(o.rstCode, http2.constants.NGHTTP2_INTERNAL_ERROR, p);
      }
      assert.deepEqual(await outcome(s, '/unasked-101'), { status: 502, body: '', ended: true, rstCode: undefined });
    } finally { s.destroy(); }
  });

  it('closes the upstream request when the client cancels a streaming answer', async () => {
    const s = session(proxy.httpsPort!);
    try {
      const st = s.request({ ':path': '/stream', ':authority': 'x.com' });
      st.on('error', () => {});
      await new Promise<void>((r) => st.once('data', () => r()));
      const before = backend.open();
      assert.ok(before >= 1);
      st.close(http2.constants.NGHTTP2_CANCEL);
      await until(`the backend connection of the cancelled stream is closed (open: ${backend.open()} of ${before})`, () => backend.open() < before);
    } finally { s.destroy(); }
  });
});
