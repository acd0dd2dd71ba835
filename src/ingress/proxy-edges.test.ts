// Edges of the proxy's connection handling found in review: buffers shared between clients,
// names as endpoints, how TLS connections end, and clients that pipeline without reading.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import net from 'node:net';
import tls from 'node:tls';
import { ProxyServer } from './proxy-server.ts';
import { install, request, requestH2, startBackend, type TestBackend } from './proxy-test-kit.ts';
import { makeIngress, makeService, path, rule } from './test-builders.ts';
import { translate } from './translate.ts';

const BODY = 10_000;
/** Each response body repeats its request's number, so a body that went to the wrong client shows. */
const tagged = (n: string) => Buffer.alloc(BODY, `${n},`.padStart(8, '0'));
const BIG = Buffer.alloc(4_000_000, 'abcdefghijklmnopqrstuvwxyz');

describe('proxy connection edges', () => {
  let proxy: ProxyServer;
  let backend: TestBackend;
  const open: { close(): Promise<void> }[] = [];

  before(async () => {
    backend = await startBackend('be', (req, res) => {
      if (req.url === '/big-until-close') {
        res.socket!.write('HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n');
        res.socket!.end(BIG);
        return;
      }
      if (req.url === '/upstream-close') {
        res.setHeader('connection', 'close');
        res.end('bye');
        return;
      }
      if (req.url === '/slow') {
        setTimeout(() => { res.setHeader('content-length', BODY); res.end(tagged('slow')); }, 100);
        return;
      }
      if (req.url === '/echo') {
        let body = '';
        req.on('data', (c: Buffer) => { body += c; });
        req.on('end', () => res.end(`echo:${body}`));
        return;
      }
      if (req.url === '/until-close') {
        // No length, no chunks: the body ends with the connection.
        res.socket!.end('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nbody until close\n');
        return;
      }
      res.setHeader('content-length', BODY);
      res.end(tagged(req.url!.slice(1)));
    });
    proxy = new ProxyServer({ httpPort: 0, httpsPort: 0, bindAddress: '127.0.0.1' });
    await proxy.start();
    await defaultRoutes();
  });

  /** The table every test starts from: x.com → be (tests that install others put it back). */
  const defaultRoutes = () => install(proxy, [makeIngress('default', 'i', (i) => { i.spec!.rules = [rule('x.com', path('/', 'be', 80))]; })], [backend]);

  after(async () => {
    await proxy.stop();
    await backend.close();
    for (const o of open) await o.close();
  });

  it('keeps a slow client\'s answers intact when another client reuses the upstream connection meanwhile', async () => {
    // A pipelines N requests and reads nothing: the proxy's writes to A queue, and the upstream
    // connection goes back to the pool after each answer. B then reuses it; its answer is read
    // while A's last write may still point into that connection's read buffer.
    const N = 600;
    const a = net.connect(proxy.httpPort!, '127.0.0.1');
    await new Promise<void>((r) => a.once('connect', () => r()));
    let reqs = '';
    for (let i = 0; i < N; i++) reqs += `GET /${i} HTTP/1.1\r\nHost: x.com\r\n\r\n`;
    a.pause();
    a.write(reqs);
    await new Promise((r) => setTimeout(r, 500));
    for (let k = 0; k < 3; k++) {
      const b = await request(proxy.httpPort!, 'x.com', `/9999${k}`);
      assert.equal(b.body, tagged(`9999${k}`).toString());
    }
    const chunks: Buffer[] = [];
    a.on('data', (c: Buffer) => chunks.push(c));
    a.resume();
    const want = (i: number) => tagged(String(i)).toString('latin1');
    let got = '';
    for (let t = 0; t < 100; t++) {
      await new Promise((r) => setTimeout(r, 50));
      got = Buffer.concat(chunks).toString('latin1');
      if (got.split('\r\n\r\n').length > N) break;
    }
    a.destroy();
    const bodies = got.split(/HTTP\/1\.1 200 OK\r\n[^]*?\r\n\r\n/).slice(1);
    assert.equal(bodies.length, N);
    const wrong = bodies.map((b, i) => (b === want(i) ? -1 : i)).filter((i) => i >= 0);
    assert.deepEqual(wrong, [], `answers ${wrong.slice(0, 5).join(', ')} carry another request's body, e.g. ${JSON.stringify(bodies[wrong[0]!]?.slice(0, 16))}`);
  });

  it('routes on the normalised path (%XX, //, . and ..) as nginx does, so a guarded path cannot be reached around its guard; the raw target goes upstream', async () => {
    await install(proxy, [
      makeIngress('default', 'site', (i) => { i.spec!.rules = [rule('sec.com', path('/', 'be', 80))]; }),
      makeIngress('default', 'admin', (i) => {
        i.metadata!.annotations = { 'nginx.ingress.kubernetes.io/whitelist-source-range': '10.0.0.0/8' };
        i.spec!.rules = [rule('sec.com', path('/admin', 'be', 80))];
      }),
    ], [backend]);
    try {
      for (const p of ['/admin', '/x/../admin', '//admin', '/%61dmin', '/./admin/', '/a%2F..%2Fadmin']) {
        assert.equal((await request(proxy.httpPort!, 'sec.com', p)).status, 403, p);
      }
      for (const p of ['/%zz', '/..', '/%00']) assert.equal((await request(proxy.httpPort!, 'sec.com', p)).status, 400, p);
      // The same over HTTP/2.
      assert.equal((await requestH2(proxy.httpsPort!, 'sec.com', '/x/../admin')).status, 403);
      assert.equal((await requestH2(proxy.httpsPort!, 'sec.com', '/%zz')).status, 400);
      // Not guarded: served, and the backend gets the path as the client sent it.
      const raw = await request(proxy.httpPort!, 'sec.com', '/a//b');
      assert.equal(raw.status, 200);
      assert.equal(raw.body, tagged('a//b').toString());
    } finally {
      await defaultRoutes();
    }
  });

  it('answers a CORS preflight with a 204 that says no Content-Length, as nginx does', async () => {
    await install(proxy, [makeIngress('default', 'cors', (i) => {
      i.metadata!.annotations = { 'nginx.ingress.kubernetes.io/enable-cors': 'true' };
      i.spec!.rules = [rule('cors.com', path('/', 'be', 80))];
    })], [backend]);
    try {
      const r = await request(proxy.httpPort!, 'cors.com', '/', { method: 'OPTIONS', headers: { origin: 'https://app.example' } });
      assert.equal(r.status, 204);
      assert.equal(r.headers['content-length'], undefined);
    } finally {
      await defaultRoutes();
    }
  });

  it('reaches an ExternalName Service by its DNS name', async () => {
    const svc = makeService('default', 'ext', [{ port: backend.port }], (s) => { s.spec!.type = 'ExternalName'; s.spec!.externalName = 'localhost'; });
    const t = translate({
      ingresses: [makeIngress('default', 'ext', (i) => { i.spec!.rules = [rule('ext.com', path('/', 'ext', backend.port))]; })],
      ingressClasses: [], services: [svc], endpointSlices: [], secrets: [],
    });
    await proxy.setRoutes(t);
    try {
      const r = await request(proxy.httpPort!, 'ext.com', '/7');
      assert.equal(r.status, 200);
      assert.equal(r.body, tagged('7').toString());
    } finally {
      await defaultRoutes();
    }
  });

  it('ends an HTTPS answer delimited by the close with TLS close_notify', async () => {
    // openssl prints each TLS message it receives (-msg); a close without close_notify shows as
    // "unexpected eof", and the client could not tell the body was whole.
    const out = await new Promise<string>((resolve, reject) => {
      const p = execFile('openssl', ['s_client', '-connect', `127.0.0.1:${proxy.httpsPort}`, '-servername', 'x.com', '-alpn', 'http/1.1', '-msg', '-quiet'], { timeout: 10_000 }, (err, stdout, stderr) => {
        if (err && (err as NodeJS.ErrnoException).code === 'ENOENT') reject(new Error('openssl is needed for this test: apt-get install openssl'));
        else resolve(stdout + stderr);
      });
      p.stdin!.write('GET /until-close HTTP/1.1\r\nHost: x.com\r\n\r\n');
      setTimeout(() => p.stdin!.end(), 1500);
    });
    assert.match(out, /body until close/);
    assert.match(out, /<<< TLS [\d.]+, Alert \[length 0002\], warning close_notify/, `no close_notify from the proxy:\n${out.split('\n').filter((l) => /Alert|eof|error/i.test(l)).join('\n')}`);
    assert.doesNotMatch(out, /unexpected eof/i);
  });

  it('reads the body of a pipelined POST that waited behind another request, on a pooled upstream connection', async () => {
    await request(proxy.httpPort!, 'x.com', '/warm'); // one idle upstream connection in the pool
    const s = net.connect(proxy.httpPort!, '127.0.0.1');
    await new Promise<void>((r) => s.once('connect', () => r()));
    let got = '';
    s.setEncoding('latin1');
    s.on('data', (c: string) => { got += c; });
    try {
      // A GET and the head of a POST in one write; the POST body only once the GET is answered.
      s.write('GET /1 HTTP/1.1\r\nHost: x.com\r\n\r\nPOST /echo HTTP/1.1\r\nHost: x.com\r\nContent-Length: 5\r\n\r\n');
      while (!got.includes(tagged('1').toString())) await new Promise((r) => setTimeout(r, 10));
      await new Promise((r) => setTimeout(r, 50));
      s.write('hello');
      const t0 = Date.now();
      while (!got.includes('echo:hello') && Date.now() - t0 < 3000) await new Promise((r) => setTimeout(r, 10));
      assert.match(got, /echo:hello/, 'the POST body was never read (the answer would be a 504 after proxy-read-timeout)');
    } finally { s.destroy(); }
  });

  it('answers every request a client sent before its FIN (half-close), over HTTP and HTTPS', async () => {
    const reqs = ['/1', '/2', '/3'].map((p) => `GET ${p} HTTP/1.1\r\nHost: x.com\r\n\r\n`).join('');
    for (const secure of [false, true]) {
      const s = secure
        ? tls.connect({ host: '127.0.0.1', port: proxy.httpsPort!, servername: 'x.com', rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] })
        : net.connect(proxy.httpPort!, '127.0.0.1');
      await new Promise<void>((r) => s.once(secure ? 'secureConnect' : 'connect', () => r()));
      let got = '';
      s.setEncoding('latin1');
      s.on('data', (c: string) => { got += c; });
      const ended = new Promise<void>((r) => s.on('end', () => r()));
      s.end(reqs);
      await ended;
      s.destroy();
      for (const n of ['1', '2', '3']) assert.ok(got.includes(tagged(n).toString()), `${secure ? 'https' : 'http'}: no answer to /${n}`);
    }
  });

  it('lingers instead of resetting when a client has unread pipelined requests after a Connection: close one', async () => {
    // The proxy stops reading while /1 is served and answers /slow (Connection: close) from what it
    // read; the later requests stay in the kernel. A plain close would make the kernel reset the
    // connection, and a client still reading /2 would lose its tail.
    for (let k = 0; k < 5; k++) {
      const s = net.connect(proxy.httpPort!, '127.0.0.1');
      await new Promise<void>((r) => s.once('connect', () => r()));
      let err = '';
      s.on('error', (e: NodeJS.ErrnoException) => { err = e.code ?? String(e); });
      s.pause();
      s.write('GET /1 HTTP/1.1\r\nHost: x.com\r\n\r\nGET /slow HTTP/1.1\r\nHost: x.com\r\nConnection: close\r\n\r\n');
      await new Promise((r) => setTimeout(r, 30)); // while /slow is in flight
      let more = '';
      for (let j = 10; j < 40; j++) more += `GET /${j} HTTP/1.1\r\nHost: x.com\r\n\r\n`;
      s.write(more);
      await new Promise((r) => setTimeout(r, 300)); // a slow reader: /slow is answered and closed meanwhile
      const chunks: Buffer[] = [];
      s.on('data', (c: Buffer) => chunks.push(c));
      const closed = new Promise<boolean>((r) => { s.once('close', () => r(true)); setTimeout(() => r(false), 3000); });
      s.resume();
      const wasClosed = await closed;
      s.destroy();
      const got = Buffer.concat(chunks).toString('latin1');
      assert.equal(err, '', `round ${k}: ${err}`);
      assert.ok(wasClosed, `round ${k}: the connection did not end within 3 s`);
      assert.ok(got.includes(tagged('slow').toString()), `round ${k}: the answer to the Connection: close request is cut short (${got.length} bytes)`);
    }
  });

  it('lets an HTTPS client go after the lingering timeout when it neither ends nor speaks after its Connection: close answer', async () => {
    // allowHalfOpen: the proxy's close_notify and FIN are not answered with the client's own.
    const s = tls.connect({ host: '127.0.0.1', port: proxy.httpsPort!, servername: 'x.com', rejectUnauthorized: false, ALPNProtocols: ['http/1.1'], allowHalfOpen: true } as tls.ConnectionOptions);
    s.on('error', () => {});
    await new Promise<void>((r) => s.once('secureConnect', () => r()));
    let got = '';
    s.on('data', (c: Buffer) => { got += c.toString('latin1'); });
    s.write('GET /lingering HTTP/1.1\r\nHost: x.com\r\nConnection: close\r\n\r\n');
    while (!got.includes(tagged('lingering').toString())) await new Promise((r) => setTimeout(r, 5));
    // Silent for longer than nginx's lingering_timeout (5 s), far less than the 75 s keep-alive
    // timeout: the proxy has closed by now, so a byte sent is answered with a reset, and the next write fails. (Its FIN came
    // with the answer, so only a write can tell a closed proxy from one still reading.)
    await new Promise((r) => setTimeout(r, 6000));
    const closed = new Promise<boolean>((r) => { s.once('close', () => r(true)); setTimeout(() => r(false), 3000); });
    s.write('x'); // answered with a reset, which the next write reports
    await new Promise((r) => setTimeout(r, 200));
    s.write('y');
    const wasClosed = await closed;
    s.destroy();
    assert.ok(wasClosed, 'the proxy still read from the connection 6 s after its answer');
  });

  it('delivers a whole 4 MB answer to an HTTPS client that half-closes and reads slowly (its close_notify is read, not reset)', async () => {
    for (const [p, extra] of [['/big-until-close', ''], ['/big-until-close', 'Connection: close\r\n']] as const) {
      const s = tls.connect({ host: '127.0.0.1', port: proxy.httpsPort!, servername: 'x.com', rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] });
      let err = '';
      s.on('error', (e: NodeJS.ErrnoException) => { err = e.code ?? String(e); });
      await new Promise<void>((r) => s.once('secureConnect', () => r()));
      s.write(`GET ${p} HTTP/1.1\r\nHost: x.com\r\n${extra}\r\n`);
      await new Promise((r) => setTimeout(r, 20));
      s.end(); // close_notify + FIN
      await new Promise((r) => setTimeout(r, 300)); // the answer waits in the proxy meanwhile
      const chunks: Buffer[] = [];
      s.on('data', (c: Buffer) => chunks.push(c));
      await new Promise<void>((r) => { s.once('close', () => r()); setTimeout(r, 10_000); });
      const all = Buffer.concat(chunks);
      const body = all.subarray(all.indexOf('\r\n\r\n') + 4);
      assert.equal(err, '', `${extra || 'close-delimited'}: ${err}`);
      assert.equal(body.length, BIG.length, `${extra || 'close-delimited'}: ${body.length} of ${BIG.length} bytes`);
    }
  });

  it('says its own Connection to the client, not the upstream\'s, when they differ (as nginx does)', async () => {
    const s = net.connect(proxy.httpPort!, '127.0.0.1');
    await new Promise<void>((r) => s.once('connect', () => r()));
    let got = '';
    s.setEncoding('latin1');
    s.on('data', (c: string) => { got += c; });
    const ended = new Promise<void>((r) => s.on('end', () => r()));
    // The upstream closes its connection; the client's stays open and takes a second request on it.
    s.write('GET /upstream-close HTTP/1.1\r\nHost: x.com\r\n\r\n');
    while (!got.includes('bye')) await new Promise((r) => setTimeout(r, 10));
    const first = got;
    got = '';
    // The client asks to close; the upstream (Node) says keep-alive and Keep-Alive: timeout=5.
    s.write('GET /5 HTTP/1.1\r\nHost: x.com\r\nConnection: close\r\n\r\n');
    await ended;
    s.destroy();
    const headOf = (r: string) => r.slice(0, r.indexOf('\r\n\r\n')).toLowerCase().split('\r\n');
    assert.deepEqual(headOf(first).filter((l) => l.startsWith('connection:') || l.startsWith('keep-alive:')), [], first);
    assert.deepEqual(headOf(got).filter((l) => l.startsWith('connection:') || l.startsWith('keep-alive:')), ['connection: close'], got);
    assert.ok(got.includes(tagged('5').toString()));
  });

  /**
   * A raw upstream answering each request with the bytes its path names (the head, then `ok`
   * unless the bytes are whole), then closing; routed as raw.com. Counts the connections it has open.
   */
  const rawUpstream = async (answers: Record<string, string>): Promise<{ open(): number }> => {
    const sockets = new Set<net.Socket>();
    const raw = net.createServer((c) => {
      sockets.add(c);
      c.on('close', () => sockets.delete(c));
      let req = '';
      c.setEncoding('latin1');
      c.on('data', (d: string) => {
        req += d;
        if (!req.includes('\r\n\r\n')) return;
        const a = answers[req.split(' ')[1]!];
        if (a === undefined) return; // never answered
        c.end(a.endsWith('\r\n\r\n') ? `${a}ok` : a);
      });
      c.on('error', () => {});
    });
    await new Promise<void>((r) => raw.listen(0, '127.0.0.1', r));
    const port = (raw.address() as net.AddressInfo).port;
    open.push({ close: () => new Promise((r) => { for (const c of sockets) c.destroy(); raw.close(() => r()); }) });
    await install(proxy, [
      makeIngress('default', 'i', (i) => { i.spec!.rules = [rule('x.com', path('/', 'be', 80))]; }),
      makeIngress('default', 'raw', (i) => { i.spec!.rules = [rule('raw.com', path('/', 'raw', 80))]; }),
    ], [backend, { name: 'raw', port, close: async () => {} }]);
    return { open: () => sockets.size };
  };
  /** Sends `request` on a new connection; resolves with all the proxy sent until it closed. */
  const untilClosed = (request: string, after?: (s: net.Socket) => void): Promise<string> => new Promise((resolve) => {
    const s = net.connect(proxy.httpPort!, '127.0.0.1', () => { s.write(request); after?.(s); });
    let got = '';
    s.setEncoding('latin1');
    s.on('data', (c: string) => { got += c; });
    s.on('error', () => {});
    s.on('close', () => resolve(got));
  });

  it('rewrites the upstream\'s Connection lines byte for byte: in place for one run of lines, rebuilt for lines apart; Keep-Alive never passes', async () => {
    await rawUpstream({
      '/ka-middle': 'HTTP/1.1 200 OK\r\nServer: t\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\n',
      '/ka-first': 'HTTP/1.1 200 OK\r\nConnection: Keep-Alive\r\nServer: t\r\nContent-Length: 2\r\n\r\n',
      '/ka-two-lines': 'HTTP/1.1 200 OK\r\nServer: t\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nContent-Length: 2\r\n\r\n',
      '/ka-apart': 'HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nServer: t\r\nKeep-Alive: timeout=5\r\nContent-Length: 2\r\n\r\n',
      '/close': 'HTTP/1.1 200 OK\r\nServer: t\r\nConnection: close\r\nContent-Length: 2\r\n\r\n',
      '/http10': 'HTTP/1.0 200 OK\r\nServer: t\r\nContent-Length: 2\r\n\r\n',
    });
    const exchange = async (target: string, close: boolean): Promise<string> => {
      const s = net.connect(proxy.httpPort!, '127.0.0.1');
      let got = '';
      s.setEncoding('latin1');
      s.on('data', (c: string) => { got += c; });
      s.write(`GET ${target} HTTP/1.1\r\nHost: raw.com\r\n${close ? 'Connection: close\r\n' : ''}\r\n`);
      while (!got.endsWith('\r\n\r\nok')) await new Promise((r) => setTimeout(r, 5));
      s.destroy();
      return got;
    };
    assert.equal(await exchange('/ka-middle', true), 'HTTP/1.1 200 OK\r\nServer: t\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok');
    assert.equal(await exchange('/ka-first', true), 'HTTP/1.1 200 OK\r\nConnection: close\r\nServer: t\r\nContent-Length: 2\r\n\r\nok');
    // Node's two adjacent lines are one run: rewritten in place; lines apart: the head is rebuilt.
    assert.equal(await exchange('/ka-two-lines', true), 'HTTP/1.1 200 OK\r\nServer: t\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok');
    assert.equal(await exchange('/ka-apart', true), 'HTTP/1.1 200 OK\r\nServer: t\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok');
    assert.equal(await exchange('/close', false), 'HTTP/1.1 200 OK\r\nServer: t\r\nContent-Length: 2\r\n\r\nok');
    assert.equal(await exchange('/close', true), 'HTTP/1.1 200 OK\r\nServer: t\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok');
    // The upstream's Keep-Alive states its own timeout, not the proxy's: dropped, as nginx drops it.
    assert.equal(await exchange('/ka-two-lines', false), 'HTTP/1.1 200 OK\r\nServer: t\r\nContent-Length: 2\r\n\r\nok');
    // An HTTP/1.0 upstream's answer reaches an HTTP/1.1 client as HTTP/1.1, as nginx writes it.
    assert.equal(await exchange('/http10', false), 'HTTP/1.1 200 OK\r\nServer: t\r\nContent-Length: 2\r\n\r\nok');
  });

  it('gives an HTTP/1.0 client a chunked answer decoded (ended by the close) and no interim responses', async () => {
    await rawUpstream({
      '/chunked': 'HTTP/1.1 200 OK\r\nServer: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n',
      '/hints': 'HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok',
    });
    assert.equal(await untilClosed('GET /chunked HTTP/1.0\r\nHost: raw.com\r\n\r\n'), 'HTTP/1.1 200 OK\r\nServer: t\r\nConnection: close\r\n\r\nhello world');
    assert.equal(await untilClosed('GET /chunked HTTP/1.0\r\nHost: raw.com\r\nConnection: keep-alive\r\n\r\n'), 'HTTP/1.1 200 OK\r\nServer: t\r\nConnection: close\r\n\r\nhello world');
    assert.equal(await untilClosed('GET /hints HTTP/1.0\r\nHost: raw.com\r\n\r\n'), 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok');
    // An HTTP/1.1 client gets both, as they came.
    const h11 = await untilClosed('GET /hints HTTP/1.1\r\nHost: raw.com\r\nConnection: close\r\n\r\n');
    assert.match(h11, /^HTTP\/1\.1 103 Early Hints\r\nLink: <\/a\.css>; rel=preload\r\n\r\nHTTP\/1\.1 200 OK\r\n/);
  });

  it('refuses TRACE and CONNECT with 405 itself, as nginx does', async () => {
    for (const line of ['TRACE / HTTP/1.1', 'CONNECT x.com:443 HTTP/1.1']) {
      assert.match(await untilClosed(`${line}\r\nHost: x.com\r\nConnection: close\r\n\r\n`), /^HTTP\/1\.1 405 Not Allowed\r\n/, line);
    }
  });

  it('answers a head it cannot parse with nginx\'s 400 page, as on the HTTPS port', async () => {
    const got = await new Promise<string>((resolve, reject) => {
      const s = net.connect(proxy.httpPort!, '127.0.0.1', () => s.write('GET / HTTP/1.1\r\nHost: a.com\r\nNo colon here\r\n\r\n'));
      let out = '';
      s.on('data', (c: Buffer) => { out += c.toString('latin1'); });
      s.on('error', reject);
      s.on('close', () => resolve(out));
    });
    assert.match(got, /^HTTP\/1\.1 400 Bad Request\r\n[^]*Content-Type: text\/html\r\n[^]*Connection: close\r\n\r\n<html>\r\n<head><title>400 Bad Request<\/title><\/head>\r\n/);
  });

  it('answers 400 and lets the upstream go at once when a client ends before its body is whole', async () => {
    const upstream = await rawUpstream({});
    const got = await untilClosed('POST /never HTTP/1.1\r\nHost: raw.com\r\nContent-Length: 100000\r\n\r\n', (s) => {
      s.write(Buffer.alloc(1000, 0x61));
      // The upstream has the request before the client ends.
      const wait = () => { if (upstream.open() > 0) s.end(); else setTimeout(wait, 5); };
      wait();
    });
    assert.match(got, /^HTTP\/1\.1 400 Bad Request\r\n/);
    for (let i = 0; i < 200 && upstream.open() > 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(upstream.open(), 0, 'the upstream connection of the cut request is closed');
  });

  it('answers thousands of pipelined requests one after another, without recursion, and stops reading while answers queue', async () => {
    const N = 3000;
    const s = net.connect(proxy.httpPort!, '127.0.0.1');
    await new Promise<void>((r) => s.once('connect', () => r()));
    let reqs = '';
    for (let i = 0; i < N; i++) reqs += `GET /p HTTP/1.1\r\nHost: nowhere-${i}.example\r\n\r\n`;
    const uncaught: Error[] = [];
    const onUncaught = (e: Error) => uncaught.push(e);
    process.on('uncaughtException', onUncaught);
    let got = '';
    s.setEncoding('latin1');
    s.on('data', (c: string) => { got += c; });
    s.write(reqs);
    for (let t = 0; t < 200 && (got.match(/HTTP\/1\.1 404 /g)?.length ?? 0) < N; t++) await new Promise((r) => setTimeout(r, 25));
    process.off('uncaughtException', onUncaught);
    s.destroy();
    assert.deepEqual(uncaught, []);
    assert.equal(got.match(/HTTP\/1\.1 404 /g)?.length, N);
    // And the proxy is still there.
    assert.equal((await request(proxy.httpPort!, 'x.com', '/1')).status, 200);
  });

  /** Sends `bytes` in the clear to the HTTPS port (then FIN if `end`); what came back until the proxy closed, its Date made '-'. */
  const plainToHttps = (bytes: string | Buffer, end = false): Promise<string> => new Promise((resolve) => {
    const s = net.connect(proxy.httpsPort!, '127.0.0.1', () => (end ? s.end(bytes) : s.write(bytes)));
    let got = '';
    s.setEncoding('latin1');
    s.on('data', (c: string) => { got += c; });
    s.on('error', () => {});
    s.on('close', () => resolve(got.replace(/\r\nDate: [^\r]*\r\n/, '\r\nDate: -\r\n')));
    setTimeout(() => s.destroy(), 5000);
  });

  // What nginx 1.22 sends (its name in the footer where podgate's is): the page of its status 497.
  const PLAIN_PAGE = '<html>\r\n<head><title>400 The plain HTTP request was sent to HTTPS port</title></head>\r\n<body>\r\n' +
    '<center><h1>400 Bad Request</h1></center>\r\n<center>The plain HTTP request was sent to HTTPS port</center>\r\n' +
    '<hr><center>podgate</center>\r\n</body>\r\n</html>\r\n';
  const plainHead = (length: number) => `HTTP/1.1 400 Bad Request\r\nServer: podgate\r\nDate: -\r\nContent-Type: text/html\r\nContent-Length: ${length}\r\nConnection: close\r\n\r\n`;

  it('answers a plain HTTP request on the HTTPS port with nginx\'s 400 "The plain HTTP request was sent to HTTPS port" and closes, with or without ssl-passthrough', async () => {
    const before = (await proxy.metrics()).reduce((n, s) => n + s.count, 0);
    for (const passthrough of [false, true]) {
      if (passthrough) {
        await install(proxy, [
          makeIngress('default', 'i', (i) => { i.spec!.rules = [rule('x.com', path('/', 'be', 80))]; }),
          makeIngress('default', 'pt', (i) => { i.metadata!.annotations = { 'nginx.ingress.kubernetes.io/ssl-passthrough': 'true' }; i.spec!.rules = [rule('pass.example.com', path('/', 'be', 80))]; }),
        ], [backend]);
        assert.ok(proxy.router.hasPassthrough);
      }
      try {
        const what = passthrough ? 'with ssl-passthrough' : 'without ssl-passthrough';
        assert.equal(await plainToHttps('GET / HTTP/1.1\r\nHost: x.com\r\n\r\n'), plainHead(PLAIN_PAGE.length) + PLAIN_PAGE, what);
        // A head in pieces is read whole first (a client that ends before is let go without a word);
        // a HEAD gets no body; a POST's body is read and dropped.
        assert.equal(await plainToHttps('GET / HTTP/1.1\r\n', true), '', what);
        const pieces = await new Promise<string>((resolve) => {
          const s = net.connect(proxy.httpsPort!, '127.0.0.1', () => { s.write('G'); setTimeout(() => s.write('ET /a HTTP/1.0\r\n'), 50); setTimeout(() => s.write('\r\n'), 100); });
          let got = '';
          s.on('data', (c: Buffer) => { got += c.toString('latin1'); });
          s.on('close', () => resolve(got));
          s.on('error', () => {});
        });
        assert.ok(pieces.endsWith(PLAIN_PAGE), `${what}: ${pieces}`);
        assert.equal(await plainToHttps('HEAD / HTTP/1.1\r\nHost: x.com\r\n\r\n'), plainHead(PLAIN_PAGE.length), what);
        assert.equal(await plainToHttps(`POST /echo HTTP/1.1\r\nHost: x.com\r\nContent-Length: 100000\r\n\r\n${'a'.repeat(100_000)}`), plainHead(PLAIN_PAGE.length) + PLAIN_PAGE, what);
        // And TLS on the same port is served as before, HTTP/1.1 and HTTP/2.
        const s = tls.connect({ host: '127.0.0.1', port: proxy.httpsPort!, servername: 'x.com', rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] });
        const got = await new Promise<string>((resolve, reject) => {
          let text = '';
          s.on('secureConnect', () => s.write('GET /tls HTTP/1.1\r\nHost: x.com\r\nConnection: close\r\n\r\n'));
          s.on('data', (c: Buffer) => { text += c.toString('latin1'); });
          s.on('end', () => resolve(text));
          s.on('error', reject);
        });
        s.destroy();
        assert.match(got, /^HTTP\/1\.1 200 OK\r\n/, what);
        assert.equal((await requestH2(proxy.httpsPort!, 'x.com', '/h2')).status, 200, what);
      } finally {
        if (passthrough) await defaultRoutes();
      }
    }
    // nginx answers before it looks for a location, where ingress-nginx counts requests.
    assert.equal((await proxy.metrics()).reduce((n, s) => n + s.count, 0), before + 4, 'only the four TLS requests are counted');
  });

  it('closes a client whose head is not whole by client-header-timeout, even while its bytes trickle in (slow loris)', async () => {
    const p = new ProxyServer({ httpPort: 0, httpsPort: 0, bindAddress: '127.0.0.1', clientHeaderTimeoutMs: 300 });
    await p.start();
    try {
      await install(p, [makeIngress('default', 'i', (i) => { i.spec!.rules = [rule('loris.com', path('/', 'be', 80))]; })], [backend]);
      // The plain HTTP request on the HTTPS port, answered with nginx's 400, has the same deadline.
      for (const port of [p.httpPort!, p.httpsPort!]) await trickleUntilClosed(port);
      // A head that comes whole in time is served as ever.
      assert.equal((await request(p.httpPort!, 'loris.com', '/')).status, 200);
    } finally {
      await p.stop();
    }
  });

  /** Sends a request head one byte every 50 ms (about 4 s in all) and expects the proxy to close first. */
  async function trickleUntilClosed(port: number): Promise<void> {
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => {});
    const closed = new Promise<void>((r) => s.on('close', () => r()));
    await new Promise<void>((r) => s.once('connect', () => r()));
    const head = `GET / HTTP/1.1\r\nHost: loris.com\r\nX-Slow: ${'a'.repeat(40)}`;
    let sent = 0;
    const drip = setInterval(() => { if (sent < head.length) s.write(head[sent++]!); }, 50);
    await closed;
    clearInterval(drip);
    assert.ok(sent < head.length, `port ${port}: the connection stayed open for the whole head (${sent} bytes)`);
  }

  it('lets a client that leaves the HTTPS port before its first byte go at once (a TCP health check), not at the peek timeout', async () => {
    const s = net.connect(proxy.httpsPort!, '127.0.0.1');
    s.on('error', () => {});
    await new Promise<void>((r) => s.once('connect', () => r()));
    s.end();
    // The peek waits 10 s for a first byte; the server's close must come long before that.
    const closedFirst = await Promise.race([
      new Promise<boolean>((r) => s.once('close', () => r(true))),
      new Promise<boolean>((r) => setTimeout(() => r(false), 3000).unref()),
    ]);
    s.destroy();
    assert.ok(closedFirst, 'the server held the connection after the client\'s FIN');
  });

  it('reads other bytes on the HTTPS port by their first one as nginx does: below 0x80 and not 0x16, HTTP (a bad head gets 400 Bad Request); otherwise TLS, closed without a word when it is not', async () => {
    const badRequest = '<html>\r\n<head><title>400 Bad Request</title></head>\r\n<body>\r\n<center><h1>400 Bad Request</h1></center>\r\n<hr><center>podgate</center>\r\n</body>\r\n</html>\r\n';
    for (const bytes of ['\x01\x02\x03\x04\x05\r\n\r\n', 'hello world\r\n\r\n', 'GET / HTTP/1.1\r\n\r\n']) {
      assert.equal(await plainToHttps(Buffer.from(bytes, 'latin1')), plainHead(badRequest.length) + badRequest, JSON.stringify(bytes));
    }
    for (const bytes of ['\x81\x02\x03\x04\x05\r\n\r\n', '\xff GET / HTTP/1.1\r\nHost: x.com\r\n\r\n', '\x16\x09\x09\x00\x02\x99\x99']) {
      assert.equal(await plainToHttps(Buffer.from(bytes, 'latin1')), '', JSON.stringify(bytes));
    }
  });
});
