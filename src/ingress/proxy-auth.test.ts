// auth-url (ingress-nginx's external authentication) through the proxy with real sockets on
// 127.0.0.1: an auth service that answers by a request header, a backend that echoes what it got.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type http from 'node:http';
import net from 'node:net';
import { authRequestHeaders, checkExternalAuth, expandVariables, signinLocation, type AuthRequestInput } from './external-auth.ts';
import { BackendPool } from './router.ts';
import { ProxyServer } from './proxy-server.ts';
import { install, request, requestH2, startBackend, type Reply, type TestBackend } from './proxy-test-kit.ts';
import type { ExternalAuth } from './route-table.ts';
import { makeIngress, path, rule } from './test-builders.ts';

const P = 'nginx.ingress.kubernetes.io/';
const json = (r: Reply) => JSON.parse(r.body) as { url: string; method: string; headers: Record<string, string>; body?: string };

describe('auth-url', () => {
  let proxy: ProxyServer;
  const backends: TestBackend[] = [];
  const seen: { method: string; url: string; headers: http.IncomingHttpHeaders; bodyBytes: number }[] = [];
  let deadPort: number;
  /** What an auth answer for `x-test-auth: gated` waits for. */
  let gate: Promise<void> = Promise.resolve();

  before(async () => {
    backends.push(await startBackend('auth', (req, res) => {
      let n = 0;
      req.on('data', (c: Buffer) => (n += c.length));
      req.on('end', () => {
        seen.push({ method: req.method!, url: req.url!, headers: req.headers, bodyBytes: n });
        if (req.headers['x-test-auth'] === 'gated') { void gate.then(() => { res.writeHead(200, { 'X-User': 'alice' }); res.end(); }); return; }
        switch (req.headers['x-test-auth']) {
          case 'ok': res.writeHead(200, { 'X-User': 'alice', 'X-Groups': 'admins', 'Set-Cookie': 'authsession=1; Path=/' }); break;
          case 'ok-anonymous': res.writeHead(204); break;
          case 'forbid': res.writeHead(403); break;
          case 'broken': res.writeHead(502); break;
          default: res.writeHead(401, { 'WWW-Authenticate': 'Bearer realm="test"', 'Set-Cookie': 'authstate=x; Path=/' });
        }
        res.end('auth body is not used');
      });
    }));
    backends.push(await startBackend('web', (req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c));
      req.on('end', () => { res.setHeader('content-type', 'application/json'); res.end(JSON.stringify({ url: req.url, method: req.method, headers: req.headers, body })); });
    }));
    const s = net.createServer();
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    deadPort = (s.address() as net.AddressInfo).port;
    await new Promise<void>((r) => s.close(() => r()));
    proxy = new ProxyServer({ httpPort: 0, httpsPort: 0, bindAddress: '127.0.0.1' });
    await proxy.start();
    const authPort = backends[0]!.port;
    const ing = (name: string, host: string, annotations: Record<string, string>) => makeIngress('default', name, (i) => {
      i.metadata!.annotations = { [`${P}ssl-redirect`]: 'false', ...Object.fromEntries(Object.entries(annotations).map(([k, v]) => [P + k, v])) };
      i.spec!.rules = [rule(host, path('/', 'web', 80))];
    });
    const t = await install(proxy, [
      // By Service DNS name: podgate sends it to the Service's endpoints.
      ing('svc', 'svc.example.com', { 'auth-url': 'http://auth.default.svc.cluster.local/check?from=$host', 'auth-response-headers': 'X-User, X-Groups' }),
      ing('direct', 'direct.example.com', { 'auth-url': `http://127.0.0.1:${authPort}/check`, 'auth-method': 'POST', 'auth-request-redirect': 'https://$host/back' }),
      ing('signin', 'signin.example.com', { 'auth-url': `http://127.0.0.1:${authPort}/check`, 'auth-signin': 'https://login.example.com/start' }),
      ing('dead', 'dead.example.com', { 'auth-url': `http://127.0.0.1:${deadPort}/check` }),
      ing('invalid', 'invalid.example.com', { 'auth-url': 'auth.default.svc/check' }),
      ing('open', 'open.example.com', {}),
    ], backends);
    assert.deepEqual(t.problems.map((p) => [p.object.name, p.reason]), [['invalid', 'InvalidAnnotation']]);
    assert.match(t.problems[0]!.message, /auth-url.*url scheme is empty; the location is denied/);
  });

  after(async () => {
    await proxy.stop();
    for (const b of backends) await b.close();
  });

  it('2xx lets the request through with auth-response-headers replacing the client\'s, and the auth cookie on the response', async () => {
    seen.length = 0;
    const r = await request(proxy.httpPort!, 'svc.example.com', '/app/x?y=1', { method: 'POST', body: 'payload', headers: { 'x-test-auth': 'ok', 'x-user': 'mallory', 'x-request-id': 'rid-1', 'content-type': 'text/plain' } });
    assert.equal(r.status, 200);
    const up = json(r);
    assert.equal(up.body, 'payload');
    assert.equal(up.headers['x-user'], 'alice');
    assert.equal(up.headers['x-groups'], 'admins');
    assert.equal(up.headers['x-request-id'], 'rid-1');
    assert.deepEqual(r.headers['set-cookie'], ['authsession=1; Path=/']);
    // The subrequest, as ingress-nginx's auth location sends it.
    assert.equal(seen.length, 1);
    const a = seen[0]!;
    assert.equal(a.method, 'GET');
    assert.equal(a.url, '/check?from=svc.example.com');
    assert.equal(a.bodyBytes, 0);
    assert.equal(a.headers.host, 'auth.default.svc.cluster.local');
    assert.equal(a.headers['x-original-url'], 'http://svc.example.com/app/x?y=1');
    assert.equal(a.headers['x-original-method'], 'POST');
    assert.equal(a.headers['x-auth-request-redirect'], '/app/x?y=1');
    assert.equal(a.headers['x-sent-from'], 'nginx-ingress-controller');
    assert.equal(a.headers['x-real-ip'], '127.0.0.1');
    assert.equal(a.headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(a.headers['x-request-id'], 'rid-1');
    assert.equal(a.headers['x-test-auth'], 'ok');
    assert.equal(a.headers['content-type'], 'text/plain');
    assert.equal(a.headers['content-length'], undefined);
    assert.equal(a.headers['x-forwarded-proto'], undefined);
  });

  it('a request waiting for its auth answer keeps its own head while other clients are read meanwhile', { timeout: 5000 }, async () => {
    // Client reads land in one buffer per thread: a head kept across the subrequest must own its bytes.
    let open!: () => void;
    gate = new Promise<void>((r) => (open = r));
    seen.length = 0;
    const first = request(proxy.httpPort!, 'svc.example.com', '/first?a=1', { headers: { 'x-test-auth': 'gated', 'x-marker': 'first-client' } });
    while (seen.length === 0) await new Promise((r) => setTimeout(r, 5));
    const other = await request(proxy.httpPort!, 'open.example.com', `/${'o'.repeat(300)}`, { headers: { 'x-marker': `second-client-${'z'.repeat(500)}` } });
    assert.equal(other.status, 200);
    open();
    const r = await first;
    assert.equal(r.status, 200);
    const up = json(r);
    assert.deepEqual([up.url, up.headers['x-marker'], up.headers['x-user'], up.headers.host], ['/first?a=1', 'first-client', 'alice', 'svc.example.com']);
  });

  it('a 2xx without a listed header still removes the client\'s copy', async () => {
    const r = await request(proxy.httpPort!, 'svc.example.com', '/', { headers: { 'x-test-auth': 'ok-anonymous', 'x-user': 'mallory' } });
    assert.equal(r.status, 200);
    assert.equal(json(r).headers['x-user'], undefined);
    assert.equal(r.headers['set-cookie'], undefined);
  });

  it('401 and 403 are answered to the client, with the auth service\'s WWW-Authenticate; other statuses are 500', async () => {
    const u = await request(proxy.httpPort!, 'svc.example.com', '/');
    assert.equal(u.status, 401);
    assert.equal(u.headers['www-authenticate'], 'Bearer realm="test"');
    assert.equal(u.headers['set-cookie'], undefined);
    assert.equal((await request(proxy.httpPort!, 'svc.example.com', '/', { headers: { 'x-test-auth': 'forbid' } })).status, 403);
    assert.equal((await request(proxy.httpPort!, 'svc.example.com', '/', { headers: { 'x-test-auth': 'broken' } })).status, 500);
    // A body sent with a refused request does not confuse the connection.
    assert.equal((await request(proxy.httpPort!, 'svc.example.com', '/', { method: 'PUT', body: 'x'.repeat(100_000) })).status, 401);
  });

  it('auth-method, auth-request-redirect and X-Original-URI/X-Scheme', async () => {
    seen.length = 0;
    const r = await request(proxy.httpPort!, 'direct.example.com', '/p?q=1', { headers: { 'x-test-auth': 'ok' } });
    assert.equal(r.status, 200);
    const a = seen[0]!;
    assert.equal(a.method, 'POST');
    assert.equal(a.headers.host, '127.0.0.1');
    assert.equal(a.headers['x-auth-request-redirect'], 'https://direct.example.com/back');
    assert.equal(a.headers['x-original-uri'], '/p?q=1');
    assert.equal(a.headers['x-scheme'], 'http');
    // Not in auth-response-headers: the auth service's X-User does not reach the backend.
    assert.equal(json(r).headers['x-user'], undefined);
  });

  it('auth-signin: a 401 becomes a 302 to the sign-in URL with rd= and the auth cookie', async () => {
    const r = await request(proxy.httpPort!, 'signin.example.com', '/private/page?a=1&b=2');
    assert.equal(r.status, 302);
    assert.equal(r.headers.location, 'https://login.example.com/start?rd=http://signin.example.com%2Fprivate%2Fpage%3Fa%3D1%26b%3D2');
    assert.deepEqual(r.headers['set-cookie'], ['authstate=x; Path=/']);
    // 403 stays 403.
    assert.equal((await request(proxy.httpPort!, 'signin.example.com', '/', { headers: { 'x-test-auth': 'forbid' } })).status, 403);
  });

  it('an unreachable auth service is a 500; an invalid auth-url denies only its own route (503)', async () => {
    assert.equal((await request(proxy.httpPort!, 'dead.example.com', '/')).status, 500);
    assert.equal((await request(proxy.httpPort!, 'invalid.example.com', '/', { headers: { 'x-test-auth': 'ok' } })).status, 503);
    assert.equal((await request(proxy.httpPort!, 'open.example.com', '/')).status, 200);
  });

  it('a header value node:http would refuse (a control character) is left out of the subrequest, and the proxy lives on', async () => {
    const raw = await new Promise<string>((resolve, reject) => {
      const c = net.connect(proxy.httpPort!, '127.0.0.1', () => c.write('GET /odd HTTP/1.1\r\nHost: svc.example.com\r\nX-Test-Auth: ok\r\nX-Odd: a\x7fb\r\nConnection: close\r\n\r\n'));
      let got = '';
      c.on('data', (d: Buffer) => { got += d.toString('latin1'); });
      c.on('close', () => resolve(got));
      c.on('error', reject);
    });
    // The auth service allowed it without the odd header; the Node test backend itself answers 400 to such a value.
    assert.match(raw, /^HTTP\/1\.1 400 /);
    assert.equal(seen.at(-1)!.url, '/check?from=svc.example.com');
    assert.equal(seen.at(-1)!.headers['x-test-auth'], 'ok');
    assert.equal(seen.at(-1)!.headers['x-odd'], undefined);
    assert.equal((await request(proxy.httpPort!, 'open.example.com', '/')).status, 200);
  });

  it('HTTP/2: the same decisions', async () => {
    const ok = await requestH2(proxy.httpsPort!, 'svc.example.com', '/h2', { method: 'POST', body: 'h2 payload', headers: { 'x-test-auth': 'ok', 'x-user': 'mallory' } });
    assert.equal(ok.status, 200);
    assert.equal(json(ok).headers['x-user'], 'alice');
    assert.equal(json(ok).body, 'h2 payload');
    assert.deepEqual(ok.headers['set-cookie'], ['authsession=1; Path=/']);
    const denied = await requestH2(proxy.httpsPort!, 'svc.example.com', '/h2');
    assert.equal(denied.status, 401);
    assert.equal(denied.headers['www-authenticate'], 'Bearer realm="test"');
    const signin = await requestH2(proxy.httpsPort!, 'signin.example.com', '/x');
    assert.equal(signin.status, 302);
    assert.equal(signin.headers.location, 'https://login.example.com/start?rd=https://signin.example.com%2Fx');
    assert.equal((await requestH2(proxy.httpsPort!, 'dead.example.com', '/')).status, 500);
  });
});

describe('auth-url subrequest timeouts', () => {
  it('an auth service that accepts and never answers is a 500 once the read timeout passes', async () => {
    const held: net.Socket[] = [];
    const hung = net.createServer((c) => { held.push(c); });
    await new Promise<void>((r) => hung.listen(0, '127.0.0.1', r));
    try {
      const port = (hung.address() as net.AddressInfo).port;
      const spec = { url: `http://127.0.0.1:${port}/check`, protocol: 'HTTP', host: '127.0.0.1', target: '/check', responseHeaders: [], signinRedirectParam: 'rd', alwaysSetCookie: false,
        backend: { name: `127.0.0.1:${port}`, endpoints: [{ address: '127.0.0.1', port }] } } as unknown as ExternalAuth;
      const input: AuthRequestInput = { method: 'GET', requestUri: '/', host: 'h', secure: false, remoteAddress: '127.0.0.1', requestId: 'r', headers: [] };
      const outcome = await checkExternalAuth(spec, new BackendPool(spec.backend), input, (ep) => net.connect(ep.port, ep.address), { connectMs: 1000, readMs: 200 });
      assert.equal(outcome.kind, 'deny');
      assert.equal(outcome.kind === 'deny' && outcome.action.status, 500);
    } finally {
      for (const c of held) c.destroy();
      await new Promise<void>((r) => hung.close(() => r()));
    }
  });
});

describe('auth-url pure parts', () => {
  const spec: ExternalAuth = {
    url: 'http://a/check', protocol: 'HTTP', host: 'a', target: '/check', backend: { name: 'a:80', endpoints: [] },
    responseHeaders: [], signinRedirectParam: 'rd', alwaysSetCookie: false,
  };
  const input: AuthRequestInput = { method: 'GET', requestUri: '/a b/c?x=1&y=(2)', host: 'Shop.Example.com:8080', secure: true, remoteAddress: '10.0.0.1', requestId: 'r', headers: [['Cookie', 'a=1'], ['cookie', 'b=2'], ['Connection', 'keep-alive']] };

  it('expands the nginx variables ingress-nginx users write', () => {
    assert.equal(expandVariables('$scheme://$host$request_uri|$escaped_request_uri|$http_host|$args|$unknown', input),
      'https://shop.example.com/a b/c?x=1&y=(2)|%2Fa%20b%2Fc%3Fx%3D1%26y%3D%282%29|Shop.Example.com:8080|x=1&y=(2)|$unknown');
    assert.equal(expandVariables('$Scheme://$HTTP_HOST$Request_URI', input), 'https://Shop.Example.com:8080/a b/c?x=1&y=(2)', 'names are case-insensitive, as in nginx');
  });

  it('keeps an rd= the sign-in URL already has, adds it with & after another query', () => {
    assert.equal(signinLocation({ ...spec, signinUrl: 'https://l/start?rd=$escaped_request_uri' }, input), 'https://l/start?rd=%2Fa%20b%2Fc%3Fx%3D1%26y%3D%282%29');
    assert.equal(signinLocation({ ...spec, signinUrl: 'https://l/start?x=1', signinRedirectParam: 'next' }, input), 'https://l/start?x=1&next=https://Shop.Example.com:8080%2Fa%20b%2Fc%3Fx%3D1%26y%3D%282%29');
  });

  it('joins cookies and drops hop-by-hop fields in the subrequest', () => {
    const h = authRequestHeaders(spec, input);
    assert.equal(h.cookie, 'a=1; b=2');
    assert.equal(h.connection, undefined);
    assert.equal(h.host, 'a');
  });
});
