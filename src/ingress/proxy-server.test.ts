// The proxy on 127.0.0.1 with real backends (plain Node servers started here): routing, headers,
// keep-alive, retries, TLS by SNI, HTTP/2, WebSocket, redirects and each implemented annotation.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import type { Ingress } from 'kubernetes-types/networking/v1.d.ts';
import type { ConfigMap, Secret } from 'kubernetes-types/core/v1.d.ts';
import WebSocket, { WebSocketServer } from 'ws';
import { createCertificateAuthority, issueCertificate, type CertKeyPem } from '../pki/certificates.ts';
import type { AccessEntry } from './http1-connection.ts';
import { ProxyServer } from './proxy-server.ts';
import { translate } from './translate.ts';
import { makeIngress, makeSecret, makeService, makeSlice, makeTlsSecret, path, rule } from './test-builders.ts';
import { requestH2 } from './proxy-test-kit.ts';

const A = 'nginx.ingress.kubernetes.io/';

interface Backend { name: string; port: number; server: http.Server; connections: number; close(): Promise<void> }

async function startBackend(name: string, handler?: http.RequestListener): Promise<Backend> {
  const server = http.createServer(handler ?? ((req, res) => {
    const body = JSON.stringify({ backend: name, url: req.url, method: req.method, headers: req.headers });
    res.setHeader('content-type', 'application/json');
    res.end(body);
  }));
  const b: Backend = { name, port: 0, server, connections: 0, close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }) };
  server.on('connection', () => b.connections++);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  b.port = (server.address() as net.AddressInfo).port;
  return b;
}

interface Reply { status: number; headers: http.IncomingHttpHeaders; body: string }

function request(port: number, host: string, p: string, opts: { method?: string; headers?: Record<string, string>; body?: string; agent?: http.Agent } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: p, method: opts.method ?? 'GET', headers: { host, ...opts.headers }, agent: opts.agent ?? false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

const json = (r: Reply) => JSON.parse(r.body) as { backend: string; url: string; method: string; headers: Record<string, string> };

describe('proxy server', () => {
  const backends: Backend[] = [];
  let proxy: ProxyServer;
  let ca: Awaited<ReturnType<typeof createCertificateAuthority>>;
  let fooCert: CertKeyPem;
  let wildCert: CertKeyPem;
  let deadPort: number;
  const now = { t: 1_000_000 };

  async function routes(ingresses: Ingress[], opts: { secrets?: Secret[]; configMaps?: ConfigMap[]; dead?: string[] } = {}): Promise<void> {
    const services = backends.map((b) => makeService('default', b.name, [{ name: 'http', port: 80, targetPort: 'http' }]));
    const slices = backends.map((b) => makeSlice('default', b.name, ['127.0.0.1'], [{ name: 'http', port: b.port }]));
    services.push(makeService('default', 'mixed', [{ name: 'http', port: 80 }]));
    // "mixed": one endpoint that refuses connections, one that answers.
    slices.push(makeSlice('default', 'mixed', ['127.0.0.1'], [{ name: 'http', port: deadPort }], [], 'mixed-dead'));
    slices.push(makeSlice('default', 'mixed', ['127.0.0.1'], [{ name: 'http', port: backends[0]!.port }], [], 'mixed-live'));
    services.push(makeService('default', 'empty'));
    const t = translate({ ingresses, ingressClasses: [], services, endpointSlices: slices, secrets: opts.secrets ?? [], configMaps: opts.configMaps ?? [] }, { tcpServicesConfigMap: 'ingress/tcp-services' });
    await proxy.setRoutes(t);
  }

  before(async () => {
    for (const n of ['a', 'b']) backends.push(await startBackend(n));
    // A port nobody listens on.
    const s = net.createServer();
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    deadPort = (s.address() as net.AddressInfo).port;
    await new Promise<void>((r) => s.close(() => r()));
    const d = new Date();
    ca = await createCertificateAuthority({ commonName: 'test-ca', now: d });
    fooCert = await issueCertificate(ca, { commonName: 'foo.example.com', usage: 'server', hosts: { dnsNames: ['foo.example.com'], ips: [] }, now: d });
    wildCert = await issueCertificate(ca, { commonName: '*.wild.example.com', usage: 'server', hosts: { dnsNames: ['*.wild.example.com'], ips: [] }, now: d });
    proxy = new ProxyServer({ httpPort: 0, httpsPort: 0, bindAddress: '127.0.0.1', now: () => now.t });
    await proxy.start();
  });

  after(async () => {
    await proxy.stop();
    for (const b of backends) await b.close();
  });

  it('proxies by host and path and sets the forwarding headers', async () => {
    await routes([makeIngress('default', 'i', (i) => { i.spec!.rules = [rule('foo.com', path('/a', 'a', 80), path('/b', 'b', 'http'))]; })]);
    const r = await request(proxy.httpPort!, 'foo.com', '/b/x?q=1', { headers: { 'x-forwarded-for': '6.6.6.6', 'x-request-id': 'abc', connection: 'keep-alive, x-hop', 'x-hop': 'secret' } });
    assert.equal(r.status, 200);
    const j = json(r);
    assert.equal(j.backend, 'b');
    assert.equal(j.url, '/b/x?q=1');
    assert.equal(j.headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(j.headers['x-real-ip'], '127.0.0.1');
    assert.equal(j.headers['x-forwarded-host'], 'foo.com');
    assert.equal(j.headers['x-forwarded-proto'], 'http');
    assert.equal(j.headers['x-forwarded-port'], String(proxy.httpPort));
    assert.equal(j.headers['x-request-id'], 'abc');
    assert.equal(j.headers['x-hop'], undefined);
    const r2 = await request(proxy.httpPort!, 'foo.com', '/a');
    assert.equal(json(r2).backend, 'a');
    assert.match(json(r2).headers['x-request-id']!, /^[0-9a-f]{32}$/);
  });

  it('answers 404 when nothing matches and 503 when the backend has no endpoints', async () => {
    await routes([makeIngress('default', 'i', (i) => { i.spec!.rules = [rule('foo.com', path('/none', 'empty', 80))]; })]);
    const nf = await request(proxy.httpPort!, 'nothing.com', '/');
    assert.equal(nf.status, 404);
    assert.match(nf.body, /<title>404 Not Found<\/title>/);
    const su = await request(proxy.httpPort!, 'foo.com', '/none');
    assert.equal(su.status, 503);
    assert.match(su.body, /503 Service Temporarily Unavailable/);
  });

  it('reuses upstream connections (keep-alive on both sides)', async () => {
    await routes([makeIngress('default', 'i', (i) => { i.spec!.rules = [rule('ka.com', path('/', 'b', 80))]; })]);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    await request(proxy.httpPort!, 'ka.com', '/');
    const before = backends[1]!.connections;
    for (let i = 0; i < 20; i++) assert.equal((await request(proxy.httpPort!, 'ka.com', `/${i}`, { agent })).status, 200);
    agent.destroy();
    assert.ok(backends[1]!.connections - before <= 1, `opened ${backends[1]!.connections - before} upstream connections for 20 requests`);
  });

  it('passes request and response bodies through, chunked and by length', async () => {
    const echo = await startBackend('echo', (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => { res.write(`got ${Buffer.concat(chunks).length}:`); res.end(Buffer.concat(chunks)); });
    });
    backends.push(echo);
    await routes([makeIngress('default', 'i', (i) => { i.spec!.rules = [rule('echo.com', path('/', 'echo', 80))]; })]);
    const body = 'y'.repeat(300_000);
    const r = await request(proxy.httpPort!, 'echo.com', '/', { method: 'POST', body });
    assert.equal(r.status, 200);
    assert.equal(r.body, `got 300000:${body}`);
    // Chunked request body (no Content-Length).
    const chunked = await new Promise<string>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: proxy.httpPort, method: 'PUT', path: '/', headers: { host: 'echo.com' }, agent: false }, (res) => {
        let s = '';
        res.on('data', (c: Buffer) => (s += c));
        res.on('end', () => resolve(s));
      });
      req.on('error', reject);
      req.write('hello ');
      setTimeout(() => req.end('world'), 20);
    });
    assert.equal(chunked, 'got 11:hello world');
    backends.pop();
    await echo.close();
  });

  it('a slow client gets large responses intact over HTTP and HTTPS (reads reuse a buffer only when no write still points into it)', async () => {
    // 6 MiB of distinct bytes, by length and chunked; clients that stall so the proxy's writes to them queue up.
    const data = createHash('sha512').update('seed').digest();
    const big = Buffer.alloc(6 * 1024 * 1024);
    for (let i = 0; i < big.length; i += data.length) { data.copy(big, i); data.writeUInt32BE(i, 0); }
    const want = createHash('sha256').update(big).digest('hex');
    const server = await startBackend('big', (req, res) => {
      if (req.url === '/chunked') { res.write(big.subarray(0, 1 << 20)); res.end(big.subarray(1 << 20)); }
      else if (req.url === '/trickle') {
        // Small pieces, one per tick: many small upstream reads while the client's writes queue.
        res.setHeader('content-length', big.length);
        let at = 0;
        const next = () => { if (at >= big.length) { res.end(); return; } res.write(big.subarray(at, (at += 3000))); setImmediate(next); };
        next();
      }
      else { res.setHeader('content-length', big.length); res.end(big); }
    });
    backends.push(server);
    try {
      await routes([makeIngress('default', 'big', (i) => { i.spec!.rules = [rule('big.com', path('/', 'big', 80))]; })]);
      const slowGet = (p: string, secure = false) => new Promise<string>((resolve, reject) => {
        const opts = { host: '127.0.0.1', path: p, headers: { host: 'big.com' }, agent: false as const };
        const get = (cb: (res: http.IncomingMessage) => void) => secure
          ? https.get({ ...opts, port: proxy.httpsPort, servername: 'big.com', rejectUnauthorized: false }, cb)
          : http.get({ ...opts, port: proxy.httpPort }, cb);
        get((res) => {
          const h = createHash('sha256');
          let n = 0;
          res.on('data', (c: Buffer) => {
            h.update(c);
            // Stall now and then: the socket's receive buffer fills and the proxy's writes pend.
            if (++n % 8 === 0) { res.pause(); setTimeout(() => res.resume(), 5); }
          });
          res.on('end', () => resolve(h.digest('hex')));
          res.on('error', reject);
        }).on('error', reject);
      });
      // Plain HTTP (raw handles, writes that queue) and HTTPS (TLS copies only writes it queues).
      const got = await Promise.all(['/length', '/chunked', '/trickle', '/length', '/chunked', '/trickle'].flatMap((p) => [slowGet(p), slowGet(p, true)]));
      assert.deepEqual(got, Array(12).fill(want));
    } finally {
      backends.pop();
      await server.close();
    }
  });

  it('uploads from several clients at once reach a slow backend intact (client reads share one buffer; what goes on is copied)', async () => {
    // Distinct 3 MiB bodies, by length and chunked, sent at once; the backend stalls its reads so
    // the proxy's writes to it pend while other clients' bytes keep arriving in the same read buffer.
    const body = (k: number) => {
      const b = Buffer.alloc(3 * 1024 * 1024);
      for (let i = 0; i < b.length; i += 4) b.writeUInt32BE((i * 2654435761 + k) >>> 0, i);
      return b;
    };
    const server = await startBackend('sink', (req, res) => {
      const h = createHash('sha256');
      let n = 0;
      req.on('data', (c: Buffer) => { h.update(c); if (++n % 4 === 0) { req.pause(); setTimeout(() => req.resume(), 5); } });
      req.on('end', () => res.end(h.digest('hex')));
    });
    backends.push(server);
    try {
      await routes([makeIngress('default', 'sink', (i) => {
        i.metadata!.annotations = { 'nginx.ingress.kubernetes.io/proxy-body-size': '8m' };
        i.spec!.rules = [rule('sink.com', path('/', 'sink', 80))];
      })]);
      const bodies = [0, 1, 2, 3].map(body);
      const got = await Promise.all(bodies.map((b, k) => new Promise<string>((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port: proxy.httpPort, path: '/', method: 'POST', headers: { host: 'sink.com', ...(k % 2 ? {} : { 'content-length': String(b.length) }) }, agent: false }, (res) => {
          let s = '';
          res.on('data', (c: Buffer) => { s += c; });
          res.on('end', () => resolve(s));
        });
        req.on('error', reject);
        // Several writes, so chunked requests carry many chunks.
        for (let i = 0; i < b.length; i += 256 * 1024) req.write(b.subarray(i, i + 256 * 1024));
        req.end();
      })));
      assert.deepEqual(got, bodies.map((b) => createHash('sha256').update(b).digest('hex')));
    } finally {
      backends.pop();
      await server.close();
    }
  });

  it('logs and counts a proxied request when its response ends (nginx\'s $request_time), with the upstream status', async () => {
    const slow = await startBackend('slow', (_req, res) => {
      res.writeHead(201, { 'content-type': 'text/plain' });
      res.write('first ');
      setTimeout(() => res.end('last'), 300);
    });
    const entries: AccessEntry[] = [];
    const own = new ProxyServer({ httpPort: 0, bindAddress: '127.0.0.1', onAccess: (e) => entries.push(e) });
    await own.start();
    try {
      await own.setRoutes(translate({
        ingresses: [makeIngress('default', 'slow', (i) => { i.spec!.rules = [rule('slow.com', path('/', 'slow', 80))]; })], ingressClasses: [],
        services: [makeService('default', 'slow')], endpointSlices: [makeSlice('default', 'slow', ['127.0.0.1'], [{ port: slow.port }])], secrets: [],
      }));
      const r = await request(own.httpPort!, 'slow.com', '/');
      assert.equal(r.body, 'first last');
      assert.equal(entries.length, 1);
      assert.equal(entries[0]!.status, 201);
      assert.equal(entries[0]!.ingress, 'default/slow');
      assert.ok(entries[0]!.durationMs >= 250, `duration ${entries[0]!.durationMs} ms covers the whole response`);
      const snap = await own.metrics();
      assert.equal(snap.find((x) => x.labels[1] === 'slow')?.count, 1);
    } finally {
      await own.stop();
      await slow.close();
    }
  });

  it('tries another endpoint when a connect fails', async () => {
    await routes([makeIngress('default', 'i', (i) => { i.spec!.rules = [rule('retry.com', path('/', 'mixed', 80))]; })]);
    for (let i = 0; i < 4; i++) {
      const r = await request(proxy.httpPort!, 'retry.com', '/', { method: i % 2 ? 'POST' : 'GET', body: i % 2 ? 'x' : undefined });
      assert.equal(r.status, 200, `attempt ${i}`);
    }
  });

  it('serves TLS by SNI (exact and wildcard), the default certificate otherwise, and HTTP/2 by ALPN', async () => {
    const secrets = [makeTlsSecret('default', 'foo-tls', fooCert.certPem, fooCert.keyPem), makeTlsSecret('default', 'wild-tls', wildCert.certPem, wildCert.keyPem)];
    await routes([makeIngress('default', 'i', (i) => {
      i.spec!.tls = [{ hosts: ['foo.example.com'], secretName: 'foo-tls' }, { hosts: ['*.wild.example.com'], secretName: 'wild-tls' }];
      i.spec!.rules = [rule('foo.example.com', path('/', 'a', 80)), rule('*.wild.example.com', path('/', 'b', 80))];
    })], { secrets });
    const peer = (servername: string) => new Promise<tls.PeerCertificate>((resolve, reject) => {
      const s = tls.connect({ host: '127.0.0.1', port: proxy.httpsPort!, servername, ca: ca.certPem, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] }, () => { const c = s.getPeerCertificate(); s.destroy(); resolve(c); });
      s.on('error', reject);
    });
    assert.equal((await peer('foo.example.com')).subject.CN, 'foo.example.com');
    assert.equal((await peer('x.wild.example.com')).subject.CN, '*.wild.example.com');
    assert.equal((await peer('other.com')).subject.CN, 'Kubernetes Ingress Controller Fake Certificate');
    // HTTPS over HTTP/1.1, verified against the CA.
    const body = await new Promise<string>((resolve, reject) => {
      const req = https.request({ host: '127.0.0.1', port: proxy.httpsPort, servername: 'foo.example.com', path: '/p', headers: { host: 'foo.example.com' }, ca: ca.certPem, agent: false }, (res) => {
        let s = ''; res.on('data', (c: Buffer) => (s += c)); res.on('end', () => resolve(s));
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(JSON.parse(body).headers['x-forwarded-proto'], 'https');
    // HTTP/2.
    const session = http2.connect(`https://foo.example.com:${proxy.httpsPort}`, { ca: ca.certPem, servername: 'foo.example.com', createConnection: () => tls.connect({ host: '127.0.0.1', port: proxy.httpsPort!, servername: 'foo.example.com', ca: ca.certPem, ALPNProtocols: ['h2'] }) });
    const h2body = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const st = session.request({ ':path': '/h2?x=1', ':authority': 'x.wild.example.com' });
      let status = 0; let s = '';
      st.on('response', (h) => { status = Number(h[':status']); });
      st.on('data', (c: Buffer) => (s += c));
      st.on('end', () => resolve({ status, body: s }));
      st.on('error', reject);
      st.end();
    });
    session.close();
    assert.equal(h2body.status, 200);
    assert.equal(JSON.parse(h2body.body).backend, 'b');
    assert.equal(JSON.parse(h2body.body).url, '/h2?x=1');
  });

  it('redirects plain HTTP to HTTPS with 308 for TLS hosts unless ssl-redirect is false; force-ssl-redirect without TLS', async () => {
    await routes([
      makeIngress('default', 'tls', (i) => { i.spec!.tls = [{ hosts: ['secure.com'] }]; i.spec!.rules = [rule('secure.com', path('/', 'a', 80))]; }),
      makeIngress('default', 'off', (i) => { i.metadata!.annotations = { 'nginx.ingress.kubernetes.io/ssl-redirect': 'false' }; i.spec!.tls = [{ hosts: ['lax.com'] }]; i.spec!.rules = [rule('lax.com', path('/', 'a', 80))]; }),
      makeIngress('default', 'force', (i) => { i.metadata!.annotations = { 'nginx.ingress.kubernetes.io/force-ssl-redirect': 'true' }; i.spec!.rules = [rule('force.com', path('/', 'a', 80))]; }),
    ]);
    const r = await request(proxy.httpPort!, 'secure.com', '/x?y=1');
    assert.equal(r.status, 308);
    assert.equal(r.headers.location, `https://secure.com:${proxy.httpsPort}/x?y=1`);
    assert.equal((await request(proxy.httpPort!, 'lax.com', '/')).status, 200);
    assert.equal((await request(proxy.httpPort!, 'force.com', '/')).status, 308);
  });

  /** An echoing WebSocket server routed as ws.com (with these annotations) for the length of `use`. */
  const withEchoWebSocket = async (annotations: Record<string, string>, use: () => Promise<void>): Promise<void> => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise<void>((r) => wss.once('listening', () => r()));
    wss.on('connection', (ws) => ws.on('message', (m) => ws.send(`echo:${String(m)}`)));
    const wsPort = (wss.address() as net.AddressInfo).port;
    try {
      await proxy.setRoutes(translate({
        ingresses: [makeIngress('default', 'ws', (i) => { i.metadata!.annotations = annotations; i.spec!.rules = [rule('ws.com', path('/', 'ws', 80))]; })],
        ingressClasses: [], secrets: [], services: [makeService('default', 'ws')], endpointSlices: [makeSlice('default', 'ws', ['127.0.0.1'], [{ port: wsPort }])],
      }));
      await use();
    } finally {
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((r) => wss.close(() => r()));
    }
  };

  it('passes WebSocket upgrades through, plain and over TLS', async () => {
    await withEchoWebSocket({}, async () => {
      // Plain and over TLS (both driven on raw handles), a few messages each, then a clean close.
      for (const url of [`ws://127.0.0.1:${proxy.httpPort}/socket`, `wss://127.0.0.1:${proxy.httpsPort}/socket`]) {
        const ws = new WebSocket(url, { headers: { host: 'ws.com' }, rejectUnauthorized: false });
        const got: string[] = [];
        await new Promise<void>((resolve, reject) => {
          ws.on('open', () => { for (const m of ['hi', 'x'.repeat(100_000), 'bye']) ws.send(m); });
          ws.on('message', (m) => { got.push(String(m)); if (got.length === 3) resolve(); });
          ws.on('error', reject);
        });
        assert.deepEqual(got.map((m) => m.length > 20 ? m.length : m), ['echo:hi', 100_005, 'echo:bye'], url);
        const closed = new Promise<number>((r) => ws.on('close', (code) => r(code)));
        ws.close(1000);
        assert.equal(await closed, 1000, url);
      }
    });
  });

  it('closes a WebSocket after proxy-read-timeout without traffic either way, and not while messages flow (as ingress-nginx)', async () => {
    await withEchoWebSocket({ 'nginx.ingress.kubernetes.io/proxy-read-timeout': '1' }, async () => {
      const ws = new WebSocket(`ws://127.0.0.1:${proxy.httpPort}/socket`, { headers: { host: 'ws.com' } });
      const closed = new Promise<number>((r) => ws.on('close', (code) => r(code)));
      await new Promise<void>((resolve, reject) => { ws.on('open', () => resolve()); ws.on('error', reject); });
      // A message every 300 ms for 2.4 s: twice the timeout, and the tunnel stays.
      for (let i = 0; i < 8; i++) {
        const echoed = new Promise<string>((r) => ws.once('message', (m) => r(String(m))));
        ws.send(`m${i}`);
        assert.equal(await echoed, `echo:m${i}`);
        await new Promise((r) => setTimeout(r, 300));
      }
      // Then silence: closed (1006, no close frame: the proxy drops the connection, as nginx does).
      const silentFrom = Date.now();
      let timer: NodeJS.Timeout | undefined;
      const code = await Promise.race([closed, new Promise<string>((r) => { timer = setTimeout(() => r('still open 10 s later'), 10_000); })]);
      clearTimeout(timer);
      if (code !== 1006) ws.terminate();
      assert.equal(code, 1006);
      assert.ok(Date.now() - silentFrom >= 500, 'not before the timeout');
    });
  });

  it('rewrite-target with capture groups, app-root, permanent-redirect', async () => {
    await routes([
      makeIngress('default', 'rw', (i) => {
        i.metadata!.annotations = { 'nginx.ingress.kubernetes.io/use-regex': 'true', 'nginx.ingress.kubernetes.io/rewrite-target': '/$2' };
        i.spec!.rules = [rule('rw.com', path('/something(/|$)(.*)', 'a', 80, 'ImplementationSpecific'))];
      }),
      makeIngress('default', 'root', (i) => { i.metadata!.annotations = { 'nginx.ingress.kubernetes.io/app-root': '/app1' }; i.spec!.rules = [rule('root.com', path('/', 'a', 80))]; }),
      makeIngress('default', 'perm', (i) => { i.metadata!.annotations = { 'nginx.ingress.kubernetes.io/permanent-redirect': 'https://www.google.com' }; i.spec!.rules = [rule('perm.com', path('/', 'a', 80))]; }),
    ]);
    assert.equal(json(await request(proxy.httpPort!, 'rw.com', '/something/new?x=1')).url, '/new?x=1');
    assert.equal(json(await request(proxy.httpPort!, 'rw.com', '/something')).url, '/');
    const root = await request(proxy.httpPort!, 'root.com', '/');
    assert.equal(root.status, 302);
    assert.equal(root.headers.location, 'http://root.com/app1');
    assert.equal((await request(proxy.httpPort!, 'root.com', '/other')).status, 200);
    const perm = await request(proxy.httpPort!, 'perm.com', '/x');
    assert.equal(perm.status, 301);
    assert.equal(perm.headers.location, 'https://www.google.com');
  });

  it('sticky sessions with the affinity cookie', async () => {
    const c = await startBackend('c');
    backends.push(c);
    try {
      const t = translate({
        ingresses: [makeIngress('default', 'st', (i) => {
          i.metadata!.annotations = { 'nginx.ingress.kubernetes.io/affinity': 'cookie', 'nginx.ingress.kubernetes.io/session-cookie-name': 'route', 'nginx.ingress.kubernetes.io/session-cookie-max-age': '172800' };
          i.spec!.rules = [rule('sticky.com', path('/', 'pair', 80))];
        })],
        ingressClasses: [], secrets: [], services: [makeService('default', 'pair')],
        endpointSlices: [makeSlice('default', 'pair', ['127.0.0.1'], [{ port: backends[0]!.port }], [], 's1'), makeSlice('default', 'pair', ['127.0.0.1'], [{ port: c.port }], [], 's2')],
      });
      await proxy.setRoutes(t);
      const first = await request(proxy.httpPort!, 'sticky.com', '/');
      const setCookie = first.headers['set-cookie']?.[0] ?? '';
      assert.match(setCookie, /^route=[0-9a-f]{32}\|[0-9a-f]{32}; Path=\/; HttpOnly; Max-Age=172800$/);
      const cookie = setCookie.split(';')[0]!;
      const seen = new Set<string>();
      for (let i = 0; i < 6; i++) {
        const r = await request(proxy.httpPort!, 'sticky.com', '/', { headers: { cookie } });
        seen.add(json(r).backend);
        assert.equal(r.headers['set-cookie'], undefined);
      }
      assert.deepEqual([...seen], [json(first).backend]);
    } finally {
      backends.pop();
      await c.close();
    }
  });

  it('a canary Ingress takes requests by header and keeps the clients its cookie pins; an older-form cookie is written again', async () => {
    const A = 'nginx.ingress.kubernetes.io/';
    await routes([
      makeIngress('default', 'web', (i) => { i.metadata!.annotations = { [`${A}affinity`]: 'cookie', [`${A}session-cookie-name`]: 'route' }; i.spec!.rules = [rule('canary.com', path('/', 'a', 80))]; }),
      makeIngress('default', 'web-canary', (i) => { i.metadata!.annotations = { [`${A}canary`]: 'true', [`${A}canary-by-header`]: 'X-Canary' }; i.spec!.rules = [rule('canary.com', path('/', 'b', 80))]; }),
    ]);
    const viaCanary = await request(proxy.httpPort!, 'canary.com', '/', { headers: { 'x-canary': 'always' } });
    assert.equal(json(viaCanary).backend, 'b');
    const canaryCookie = (viaCanary.headers['set-cookie']?.[0] ?? '').split(';')[0]!;
    assert.match(canaryCookie, /^route=[0-9a-f]{32}\|[0-9a-f]{32}$/);
    // Pinned to the canary: no header needed, and `never` does not move it either.
    for (const headers of [{ cookie: canaryCookie }, { cookie: canaryCookie, 'x-canary': 'never' }] as Record<string, string>[]) {
      const r = await request(proxy.httpPort!, 'canary.com', '/', { headers });
      assert.equal(json(r).backend, 'b');
      assert.equal(r.headers['set-cookie'], undefined);
    }
    const primary = await request(proxy.httpPort!, 'canary.com', '/');
    assert.equal(json(primary).backend, 'a');
    const primaryCookie = (primary.headers['set-cookie']?.[0] ?? '').split(';')[0]!;
    assert.equal(json(await request(proxy.httpPort!, 'canary.com', '/', { headers: { cookie: primaryCookie, 'x-canary': 'always' } })).backend, 'a');
    const older = await request(proxy.httpPort!, 'canary.com', '/', { headers: { cookie: primaryCookie.replace(/\|.*/, '') } });
    assert.equal(json(older).backend, 'a');
    assert.equal((older.headers['set-cookie']?.[0] ?? '').split(';')[0], primaryCookie);
  });

  it('proxy-body-size (413), whitelist-source-range (403), enable-cors, basic auth (401)', async () => {
    const htpasswd = execFileSync('htpasswd', ['-nbm', 'foo', 'bar'], { encoding: 'utf8' }).trim() + '\n';
    await routes([
      makeIngress('default', 'size', (i) => { i.metadata!.annotations = { 'nginx.ingress.kubernetes.io/proxy-body-size': '1k' }; i.spec!.rules = [rule('size.com', path('/', 'a', 80))]; }),
      makeIngress('default', 'wl', (i) => { i.metadata!.annotations = { 'nginx.ingress.kubernetes.io/whitelist-source-range': '10.0.0.0/8' }; i.spec!.rules = [rule('wl.com', path('/', 'a', 80))]; }),
      makeIngress('default', 'wlok', (i) => { i.metadata!.annotations = { 'nginx.ingress.kubernetes.io/whitelist-source-range': '10.0.0.0/8, 127.0.0.1' }; i.spec!.rules = [rule('wlok.com', path('/', 'a', 80))]; }),
      makeIngress('default', 'cors', (i) => { i.metadata!.annotations = { 'nginx.ingress.kubernetes.io/enable-cors': 'true' }; i.spec!.rules = [rule('cors.com', path('/', 'a', 80))]; }),
      makeIngress('default', 'auth', (i) => {
        i.metadata!.annotations = { 'nginx.ingress.kubernetes.io/auth-type': 'basic', 'nginx.ingress.kubernetes.io/auth-secret': 'basic-auth', 'nginx.ingress.kubernetes.io/auth-realm': 'Authentication Required - foo' };
        i.spec!.rules = [rule('auth.com', path('/', 'a', 80))];
      }),
    ], { secrets: [makeSecret('default', 'basic-auth', { auth: htpasswd })] });
    assert.equal((await request(proxy.httpPort!, 'size.com', '/', { method: 'POST', body: 'x'.repeat(2000) })).status, 413);
    assert.equal((await request(proxy.httpPort!, 'size.com', '/', { method: 'POST', body: 'x'.repeat(500) })).status, 200);
    assert.equal((await request(proxy.httpPort!, 'wl.com', '/')).status, 403);
    assert.equal((await request(proxy.httpPort!, 'wlok.com', '/')).status, 200);
    const pre = await request(proxy.httpPort!, 'cors.com', '/', { method: 'OPTIONS', headers: { origin: 'https://x.com' } });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers['access-control-allow-origin'], '*');
    assert.equal(pre.headers['access-control-max-age'], '1728000');
    const get = await request(proxy.httpPort!, 'cors.com', '/');
    assert.equal(get.headers['access-control-allow-credentials'], 'true');
    const denied = await request(proxy.httpPort!, 'auth.com', '/');
    assert.equal(denied.status, 401);
    assert.equal(denied.headers['www-authenticate'], 'Basic realm="Authentication Required - foo"');
    const wrong = await request(proxy.httpPort!, 'auth.com', '/', { headers: { authorization: `Basic ${Buffer.from('foo:baz').toString('base64')}` } });
    assert.equal(wrong.status, 401);
    const ok = await request(proxy.httpPort!, 'auth.com', '/', { headers: { authorization: `Basic ${Buffer.from('foo:bar').toString('base64')}`, proxy: 'http://evil:1' } });
    assert.equal(ok.status, 200);
    // The credentials stay at the proxy (ingress-nginx clears Authorization), and so does Proxy (httpoxy).
    assert.equal(json(ok).headers.authorization, undefined);
    assert.equal(json(ok).headers.proxy, undefined);
  });

  it('limit-rps refuses requests past rps × burst multiplier with 503; limit-connections too', async () => {
    await routes([makeIngress('default', 'rl', (i) => { i.metadata!.annotations = { 'nginx.ingress.kubernetes.io/limit-rps': '1' }; i.spec!.rules = [rule('rl.com', path('/', 'a', 80))]; })]);
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) statuses.push((await request(proxy.httpPort!, 'rl.com', '/')).status);
    // burst = 1 × 5: the first request plus 5 of excess pass at once, the rest are refused.
    assert.deepEqual(statuses, [200, 200, 200, 200, 200, 200, 503, 503]);
    now.t += 2000; // the clock seam: two seconds drain two requests' worth
    assert.equal((await request(proxy.httpPort!, 'rl.com', '/')).status, 200);

    const slow = await startBackend('slow', (_req, res) => setTimeout(() => res.end('slow'), 150));
    backends.push(slow);
    try {
      await routes([makeIngress('default', 'lc', (i) => { i.metadata!.annotations = { 'nginx.ingress.kubernetes.io/limit-connections': '1' }; i.spec!.rules = [rule('lc.com', path('/', 'slow', 80))]; })]);
      const both = await Promise.all([request(proxy.httpPort!, 'lc.com', '/'), request(proxy.httpPort!, 'lc.com', '/')]);
      assert.deepEqual(both.map((r) => r.status).sort(), [200, 503]);
    } finally {
      backends.pop();
      await slow.close();
    }
  });

  it('ssl-passthrough hands the TLS connection to the backend by SNI', async () => {
    const tlsBackend = tls.createServer({ cert: fooCert.certPem, key: fooCert.keyPem }, (s) => { s.end('from tls backend\n'); });
    await new Promise<void>((r) => tlsBackend.listen(0, '127.0.0.1', r));
    try {
      const t = translate({
        ingresses: [makeIngress('default', 'pt', (i) => { i.metadata!.annotations = { 'nginx.ingress.kubernetes.io/ssl-passthrough': 'true' }; i.spec!.rules = [rule('pass.example.com', path('/', 'tb', 443))]; })],
        ingressClasses: [], secrets: [], services: [makeService('default', 'tb', [{ port: 443 }])],
        endpointSlices: [makeSlice('default', 'tb', ['127.0.0.1'], [{ port: (tlsBackend.address() as net.AddressInfo).port }])],
      });
      await proxy.setRoutes(t);
      const got = await new Promise<{ cn: string; data: string }>((resolve, reject) => {
        const s = tls.connect({ host: '127.0.0.1', port: proxy.httpsPort!, servername: 'pass.example.com', rejectUnauthorized: false });
        let data = '';
        s.on('data', (c: Buffer) => (data += c));
        s.on('end', () => resolve({ cn: String(s.getPeerCertificate().subject?.CN), data }));
        s.on('error', reject);
      });
      assert.deepEqual(got, { cn: 'foo.example.com', data: 'from tls backend\n' });
    } finally {
      await new Promise<void>((r) => tlsBackend.close(() => r()));
    }
  });

  it('with ssl-passthrough on, other hosts are still terminated here (the peeked ClientHello is replayed)', async () => {
    // Regression: the peeking path resumed the socket after handing it to TLS, which dropped the
    // unshifted ClientHello, so every non-passthrough HTTPS handshake hung while any passthrough host existed.
    await routes([
      makeIngress('default', 'pt', (i) => { i.metadata!.annotations = { 'nginx.ingress.kubernetes.io/ssl-passthrough': 'true' }; i.spec!.rules = [rule('pass.example.com', path('/', 'a', 80))]; }),
      makeIngress('default', 'term', (i) => { i.spec!.tls = [{ hosts: ['foo.example.com'], secretName: 'foo-tls' }]; i.spec!.rules = [rule('foo.example.com', path('/', 'b', 80))]; }),
    ], { secrets: [makeTlsSecret('default', 'foo-tls', fooCert.certPem, fooCert.keyPem)] });
    assert.ok(proxy.router.hasPassthrough);
    const get = () => new Promise<{ cn: string; body: string }>((resolve, reject) => {
      const req = https.request({ host: '127.0.0.1', port: proxy.httpsPort, servername: 'foo.example.com', path: '/t', headers: { host: 'foo.example.com' }, ca: ca.certPem, agent: false }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c));
        res.on('end', () => resolve({ cn: String((res.socket as tls.TLSSocket).getPeerCertificate().subject?.CN), body }));
      });
      req.setTimeout(3000, () => req.destroy(new Error('handshake hung')));
      req.on('error', reject);
      req.end();
    });
    const r = await get();
    assert.equal(r.cn, 'foo.example.com');
    assert.equal(json({ status: 200, headers: {}, body: r.body }).backend, 'b');
    const session = http2.connect(`https://foo.example.com:${proxy.httpsPort}`, { createConnection: () => tls.connect({ host: '127.0.0.1', port: proxy.httpsPort!, servername: 'foo.example.com', ca: ca.certPem, ALPNProtocols: ['h2'] }) });
    try {
      const body = await new Promise<string>((resolve, reject) => {
        const st = session.request({ ':path': '/h2', ':authority': 'foo.example.com' });
        let b = '';
        st.on('data', (c: Buffer) => (b += c));
        st.on('end', () => resolve(b));
        st.on('error', reject);
        session.on('error', reject);
      });
      assert.equal((JSON.parse(body) as { backend: string }).backend, 'b');
    } finally {
      session.close();
    }
  });

  it('tcp-services ConfigMap exposes a Service port as raw TCP', async () => {
    const echo = net.createServer((s) => s.pipe(s));
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    const free = net.createServer();
    await new Promise<void>((r) => free.listen(0, '127.0.0.1', r));
    const port = (free.address() as net.AddressInfo).port;
    await new Promise<void>((r) => free.close(() => r()));
    try {
      const cm: ConfigMap = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { namespace: 'ingress', name: 'tcp-services' }, data: { [String(port)]: 'default/redis:6379' } };
      const t = translate({
        ingresses: [], ingressClasses: [], secrets: [], configMaps: [cm], services: [makeService('default', 'redis', [{ port: 6379 }])],
        endpointSlices: [makeSlice('default', 'redis', ['127.0.0.1'], [{ port: (echo.address() as net.AddressInfo).port }])],
      }, { tcpServicesConfigMap: 'ingress/tcp-services' });
      await proxy.setRoutes(t);
      const reply = await new Promise<string>((resolve, reject) => {
        const s = net.connect({ host: '127.0.0.1', port }, () => s.write('PING\r\n'));
        s.on('data', (c: Buffer) => { resolve(String(c)); s.destroy(); });
        s.on('error', reject);
      });
      assert.equal(reply, 'PING\r\n');
      await proxy.setRoutes(translate({ ingresses: [], ingressClasses: [], secrets: [], services: [], endpointSlices: [] }));
    } finally {
      await new Promise<void>((r) => echo.close(() => r()));
    }
  });

  it('a swap does not fail requests in flight', async () => {
    const slow = await startBackend('slow2', (_req, res) => setTimeout(() => res.end('done'), 100));
    backends.push(slow);
    try {
      await routes([makeIngress('default', 'sw', (i) => { i.spec!.rules = [rule('swap.com', path('/', 'slow2', 80))]; })]);
      const inflight = request(proxy.httpPort!, 'swap.com', '/');
      await new Promise((r) => setTimeout(r, 20));
      await routes([]);
      assert.equal((await inflight).body, 'done');
      assert.equal((await request(proxy.httpPort!, 'swap.com', '/')).status, 404);
    } finally {
      backends.pop();
      await slow.close();
    }
  });

  /** Sends raw bytes on a new connection to the HTTP port; resolves with all that came back before the end. */
  const raw = (text: string) => new Promise<string>((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port: proxy.httpPort! }, () => s.write(text));
    let data = '';
    s.on('data', (c: Buffer) => (data += c));
    s.on('end', () => resolve(data));
    s.on('error', reject);
  });

  it('rejects smuggling-shaped heads with 400', async () => {
    await routes([makeIngress('default', 'i', (i) => { i.spec!.rules = [rule('foo.com', path('/', 'a', 80))]; })]);
    assert.match(await raw('POST / HTTP/1.1\r\nHost: foo.com\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'), /^HTTP\/1\.1 400 /);
    assert.match(await raw('GET / HTTP/1.1\r\nHost : foo.com\r\n\r\n'), /^HTTP\/1\.1 400 /);
    assert.match(await raw('GET / HTTP/1.1\r\n\r\n'), /^HTTP\/1\.1 400 /);
  });

  it('answers with nginx\'s status lines: CORS preflight 204 No Content, redirect codes 303 See Other, with $request_uri expanded', async () => {
    await routes([
      makeIngress('default', 'cors', (i) => { i.metadata!.annotations = { 'nginx.ingress.kubernetes.io/enable-cors': 'true' }; i.spec!.rules = [rule('cors.com', path('/', 'a', 80))]; }),
      makeIngress('default', 'r303', (i) => {
        i.metadata!.annotations = { 'nginx.ingress.kubernetes.io/permanent-redirect': 'https://x.example.com$request_uri', 'nginx.ingress.kubernetes.io/permanent-redirect-code': '303' };
        i.spec!.rules = [rule('r303.com', path('/', 'a', 80))];
      }),
    ]);
    const pre = await raw('OPTIONS / HTTP/1.1\r\nHost: cors.com\r\nOrigin: https://x.com\r\nConnection: close\r\n\r\n');
    assert.match(pre, /^HTTP\/1\.1 204 No Content\r\n/);
    const see = await raw('GET /a?b=c HTTP/1.1\r\nHost: r303.com\r\nConnection: close\r\n\r\n');
    assert.match(see, /^HTTP\/1\.1 303 See Other\r\n/);
    assert.match(see, /\r\nLocation: https:\/\/x\.example\.com\/a\?b=c\r\n/i);
  });

  it('upstream-vhost sets the Host sent upstream; X-Forwarded-Host stays the client\'s (HTTP/1.1 and HTTP/2)', async () => {
    await routes([makeIngress('default', 'vh', (i) => {
      i.metadata!.annotations = { [`${A}upstream-vhost`]: '$service_name.$namespace.svc' };
      i.spec!.rules = [rule('vh.com', path('/', 'a', 80))];
    })]);
    const h1 = json(await request(proxy.httpPort!, 'vh.com:8080', '/x'));
    assert.deepEqual([h1.headers.host, h1.headers['x-forwarded-host']], ['a.default.svc', 'vh.com:8080']);
    // A request line of our own (absolute-form target) must not add the client's Host back.
    const abs = await raw('GET http://vh.com/abs HTTP/1.1\r\nHost: vh.com\r\nConnection: close\r\n\r\n');
    assert.deepEqual(JSON.parse(abs.slice(abs.indexOf('\r\n\r\n') + 4)).headers.host, 'a.default.svc');
    const h2 = json(await requestH2(proxy.httpsPort!, 'vh.com', '/x'));
    assert.deepEqual([h2.headers.host, h2.headers['x-forwarded-host']], ['a.default.svc', 'vh.com']);
  });

  it('x-forwarded-prefix replaces the client\'s X-Forwarded-Prefix where rewrite-target rewrites (HTTP/1.1 and HTTP/2)', async () => {
    await routes([makeIngress('default', 'xfp', (i) => {
      i.metadata!.annotations = { [`${A}rewrite-target`]: '/$3', [`${A}x-forwarded-prefix`]: '/$1' };
      i.spec!.rules = [rule('xfp.com', path('/(app)(/|$)(.*)', 'a', 80, 'ImplementationSpecific'))];
    })]);
    const headers = { 'x-forwarded-prefix': '/spoofed' };
    const h1 = json(await request(proxy.httpPort!, 'xfp.com', '/app/page', { headers }));
    assert.deepEqual([h1.url, h1.headers['x-forwarded-prefix']], ['/page', '/app']);
    const h2 = json(await requestH2(proxy.httpsPort!, 'xfp.com', '/app/page', { headers }));
    assert.deepEqual([h2.url, h2.headers['x-forwarded-prefix']], ['/page', '/app']);
  });

  it('server-alias serves the host\'s routes under other names, with the host\'s certificate when it covers them', async () => {
    const site = await issueCertificate(ca, { commonName: 'site.example.com', usage: 'server', hosts: { dnsNames: ['site.example.com', 'alias.example.com'], ips: [] }, now: new Date() });
    await routes([makeIngress('default', 'site', (i) => {
      i.metadata!.annotations = { [`${A}server-alias`]: 'alias.example.com,bare.example.com' };
      i.spec!.tls = [{ hosts: ['site.example.com'], secretName: 'site-tls' }];
      i.spec!.rules = [rule('site.example.com', path('/', 'b', 80))];
    })], { secrets: [makeTlsSecret('default', 'site-tls', site.certPem, site.keyPem)] });
    // The host's ssl-redirect applies under the alias too, to the alias's name.
    const plain = await request(proxy.httpPort!, 'alias.example.com', '/p');
    assert.deepEqual([plain.status, plain.headers.location], [308, `https://alias.example.com:${proxy.httpsPort}/p`]);
    const h2 = await requestH2(proxy.httpsPort!, 'alias.example.com', '/p');
    assert.deepEqual([h2.status, json(h2).backend, json(h2).headers['x-forwarded-host']], [200, 'b', 'alias.example.com']);
    const cn = (servername: string) => new Promise<string>((resolve, reject) => {
      const s = tls.connect({ host: '127.0.0.1', port: proxy.httpsPort!, servername, rejectUnauthorized: false }, () => { const c = s.getPeerCertificate(); s.destroy(); resolve(String(c.subject.CN)); });
      s.on('error', reject);
    });
    assert.equal(await cn('alias.example.com'), 'site.example.com');
    assert.equal(await cn('bare.example.com'), 'Kubernetes Ingress Controller Fake Certificate');
    assert.equal((await request(proxy.httpPort!, 'unknown.example.com', '/')).status, 404);
  });

  it('from-to-www-redirect answers 308 from the other name, with the port the request came to (HTTP/1.1 and HTTP/2)', async () => {
    await routes([makeIngress('default', 'www', (i) => {
      i.metadata!.annotations = { [`${A}from-to-www-redirect`]: 'true' };
      i.spec!.rules = [rule('example.com', path('/', 'a', 80))];
    })]);
    const h1 = await request(proxy.httpPort!, 'www.example.com', '/a/?q=1');
    assert.deepEqual([h1.status, h1.headers.location], [308, `http://example.com:${proxy.httpPort}/a/?q=1`]);
    const h2 = await requestH2(proxy.httpsPort!, 'www.example.com', '/a/');
    assert.deepEqual([h2.status, h2.headers.location], [308, `https://example.com:${proxy.httpsPort}/a`]);
    assert.equal(json(await request(proxy.httpPort!, 'example.com', '/')).backend, 'a');
  });

  it('service-upstream proxies to the Service\'s cluster IP and port, not its endpoints (HTTP/1.1 and HTTP/2)', async () => {
    // The Service's cluster IP and port reach backend "a"; its only endpoint refuses connections.
    const services = [makeService('default', 'su', [{ name: 'http', port: backends[0]!.port, targetPort: 8080 }], (s) => { s.spec!.clusterIP = '127.0.0.1'; })];
    const slices = [makeSlice('default', 'su', ['127.0.0.1'], [{ name: 'http', port: deadPort }])];
    const ingresses = [makeIngress('default', 'su', (i) => {
      i.metadata!.annotations = { [`${A}service-upstream`]: 'true' };
      i.spec!.rules = [rule('su.com', path('/', 'su', 'http'))];
    })];
    await proxy.setRoutes(translate({ ingresses, ingressClasses: [], services, endpointSlices: slices, secrets: [] }));
    const h1 = await request(proxy.httpPort!, 'su.com', '/x');
    assert.deepEqual([h1.status, json(h1).backend], [200, 'a']);
    const h2 = await requestH2(proxy.httpsPort!, 'su.com', '/x');
    assert.deepEqual([h2.status, json(h2).backend], [200, 'a']);
  });

  it('upstream-hash-by keeps each $http_x_user on one endpoint; a failed one is retried, not left (HTTP/1.1 and HTTP/2)', async () => {
    // Service "ab": backends a and b. Service "mixed": one endpoint refusing connections, one answering (a).
    const services = ['ab', 'mixed'].map((n) => makeService('default', n, [{ name: 'http', port: 80 }]));
    const slices = [
      makeSlice('default', 'ab', ['127.0.0.1'], [{ name: 'http', port: backends[0]!.port }], [], 'ab-a'),
      makeSlice('default', 'ab', ['127.0.0.1'], [{ name: 'http', port: backends[1]!.port }], [], 'ab-b'),
      makeSlice('default', 'mixed', ['127.0.0.1'], [{ name: 'http', port: deadPort }], [], 'mixed-dead'),
      makeSlice('default', 'mixed', ['127.0.0.1'], [{ name: 'http', port: backends[0]!.port }], [], 'mixed-live'),
    ];
    const ingresses = [makeIngress('default', 'hash', (i) => {
      i.metadata!.annotations = { [`${A}upstream-hash-by`]: '$http_x_user' };
      i.spec!.rules = [rule('hash.com', path('/', 'ab', 80)), rule('hashdead.com', path('/', 'mixed', 80))];
    })];
    await proxy.setRoutes(translate({ ingresses, ingressClasses: [], services, endpointSlices: slices, secrets: [] }));
    const users = Array.from({ length: 20 }, (_, i) => `user-${i}`);
    const byUser = new Map<string, string>();
    for (const u of users) {
      const seen = new Set<string>();
      for (let k = 0; k < 3; k++) {
        const h1 = await request(proxy.httpPort!, 'hash.com', '/x', { headers: { 'x-user': u } });
        const h2 = await requestH2(proxy.httpsPort!, 'hash.com', '/x', { headers: { 'x-user': u } });
        assert.deepEqual([h1.status, h2.status], [200, 200]);
        seen.add(json(h1).backend).add(json(h2).backend);
      }
      assert.equal(seen.size, 1, `${u} reached ${[...seen].join(' and ')}`);
      byUser.set(u, [...seen][0]!);
    }
    assert.deepEqual(new Set(byUser.values()), new Set(['a', 'b']), 'the users are spread over both endpoints');
    // As ingress-nginx's chash balancer (the same peer on every try): a user hashed onto the dead
    // endpoint gets 502 after the retries, the others are served by the live one.
    const codes = new Map<string, number[]>();
    for (const u of users) {
      const h1 = await request(proxy.httpPort!, 'hashdead.com', '/', { headers: { 'x-user': u } });
      const h2 = await requestH2(proxy.httpsPort!, 'hashdead.com', '/', { headers: { 'x-user': u } });
      codes.set(u, [h1.status, h2.status]);
    }
    const dead = users.filter((u) => codes.get(u)![0] === 502);
    assert.ok(dead.length > 0 && dead.length < users.length, `502 for ${dead.length} of ${users.length} users`);
    for (const u of users) assert.deepEqual(codes.get(u), dead.includes(u) ? [502, 502] : [200, 200], u);
  });
});
