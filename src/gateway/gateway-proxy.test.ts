// The proxy serving HTTPRoute rules, with real sockets on 127.0.0.1: header, query and method
// matches, weighted backendRefs (counted over many requests, wide bounds), RequestRedirect,
// URLRewrite, header modifiers, 500 for invalid backends and 503 without endpoints, and an
// Ingress path on the same host winning over an HTTPRoute rule.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ProxyServer } from '../ingress/proxy-server.ts';
import { request, startBackend, tableFor, type TestBackend } from '../ingress/proxy-test-kit.ts';
import { makeIngress, makeService, makeSlice, path, rule } from '../ingress/test-builders.ts';
import { mergeGatewayRoutes } from './merge-routes.ts';
import { translateGateway, type HTTPRoute } from './translate-gateway.ts';
import { makeGateway, makeGatewayClass, makeRoute } from './test-builders.ts';

describe('the ingress proxy serving HTTPRoutes', () => {
  let proxy: ProxyServer;
  let a: TestBackend, b: TestBackend;
  const json = (body: string) => JSON.parse(body) as { backend: string; url: string; headers: Record<string, string> };

  before(async () => {
    a = await startBackend('a');
    b = await startBackend('b');
    proxy = new ProxyServer({ httpPort: 0, httpsPort: 0, bindAddress: '127.0.0.1' });
    await proxy.start();
    const spec: HTTPRoute['spec'] = {
      parentRefs: [{ name: 'gw' }], hostnames: ['gw.example.com'],
      rules: [
        { matches: [{ headers: [{ name: 'X-Env', value: 'canary' }] }], backendRefs: [{ name: 'b', port: 80 }] },
        { matches: [{ headers: [{ name: 'X-Ver', type: 'RegularExpression', value: 'v[0-9]+' }] }], backendRefs: [{ name: 'b', port: 80 }] },
        { matches: [{ queryParams: [{ name: 'debug', value: 'on' }] }], backendRefs: [{ name: 'b', port: 80 }] },
        { matches: [{ method: 'DELETE' }], backendRefs: [{ name: 'b', port: 80 }] },
        { matches: [{ path: { type: 'PathPrefix', value: '/split' } }], backendRefs: [{ name: 'a', port: 80, weight: 1 }, { name: 'b', port: 80, weight: 3 }] },
        { matches: [{ path: { type: 'Exact', value: '/moved' } }], filters: [{ type: 'RequestRedirect', requestRedirect: { scheme: 'https', hostname: 'new.example.com', statusCode: 301 } }] },
        { matches: [{ path: { type: 'PathPrefix', value: '/docs' } }], filters: [{ type: 'RequestRedirect', requestRedirect: { port: 8443, path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/manual' } } }] },
        {
          matches: [{ path: { type: 'PathPrefix', value: '/v1' } }],
          filters: [
            { type: 'URLRewrite', urlRewrite: { hostname: 'internal.example.com', path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/v2' } } },
            { type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'X-Set', value: 'new' }], add: [{ name: 'X-Add', value: 'added' }], remove: ['X-Drop'] } },
            { type: 'ResponseHeaderModifier', responseHeaderModifier: { set: [{ name: 'Content-Type', value: 'text/x-replaced' }], add: [{ name: 'X-Resp', value: 'yes' }] } },
          ],
          backendRefs: [{ name: 'a', port: 80 }],
        },
        { matches: [{ path: { type: 'PathPrefix', value: '/full' } }], filters: [{ type: 'URLRewrite', urlRewrite: { path: { type: 'ReplaceFullPath', replaceFullPath: '/fixed' } } }], backendRefs: [{ name: 'a', port: 80 }] },
        { matches: [{ path: { type: 'PathPrefix', value: '/invalid' } }], backendRefs: [{ name: 'missing', port: 80 }] },
        { matches: [{ path: { type: 'PathPrefix', value: '/empty' } }], backendRefs: [{ name: 'idle', port: 80 }] },
        { backendRefs: [{ name: 'a', port: 80 }] },
      ],
    };
    const backends = [a, b];
    const services = [...backends.map((x) => makeService('default', x.name, [{ name: 'http', port: 80, targetPort: 'http' }])), makeService('default', 'idle', [{ name: 'http', port: 80 }])];
    const slices = backends.map((x) => makeSlice('default', x.name, ['127.0.0.1'], [{ name: 'http', port: x.port }]));
    // An Ingress on the same host: its paths are tried first.
    const ingressTable = tableFor([
      makeIngress('default', 'ing', (i) => { i.spec!.rules = [rule('gw.example.com', path('/ingress', 'b', 80, 'Exact'))]; }),
      makeIngress('default', 'wild-ing', (i) => { i.spec!.rules = [rule('*.ing.example.com', path('/', 'b', 80))]; }),
    ], backends);
    const plan = translateGateway({
      gatewayClasses: [makeGatewayClass('podgate')], gateways: [makeGateway('default', 'gw', [{ name: 'http', protocol: 'HTTP', port: proxy.httpPort! }])],
      httpRoutes: [makeRoute('default', 'r', spec), makeRoute('default', 'wild', { parentRefs: [{ name: 'gw' }], hostnames: ['*.wild.example.com'], rules: [{ backendRefs: [{ name: 'b', port: 80 }] }] })],
      services, endpointSlices: slices, secrets: [],
    }, { httpPort: proxy.httpPort!, httpsPort: proxy.httpsPort!, addresses: [], now: '2026-01-01T00:00:00Z' });
    await proxy.setRoutes(mergeGatewayRoutes(ingressTable, plan));
  });
  after(async () => { await proxy.stop(); await a.close(); await b.close(); });

  const get = (p: string, headers: Record<string, string> = {}, method = 'GET') => request(proxy.httpPort!, 'gw.example.com', p, { headers, method });

  it('matches headers exactly and by regular expression (HTTPHeaderMatch)', async () => {
    assert.equal(json((await get('/')).body).backend, 'a');
    assert.equal(json((await get('/', { 'x-env': 'canary' })).body).backend, 'b');
    assert.equal(json((await get('/', { 'x-env': 'canaryx' })).body).backend, 'a');
    assert.equal(json((await get('/', { 'x-ver': 'v12' })).body).backend, 'b');
    assert.equal(json((await get('/', { 'x-ver': 'v12-beta' })).body).backend, 'a', 'the whole value must match');
  });

  it('matches query parameters and methods (HTTPQueryParamMatch, HTTPMethod)', async () => {
    assert.equal(json((await get('/x?a=1&debug=on')).body).backend, 'b');
    assert.equal(json((await get('/x?debug=off')).body).backend, 'a');
    assert.equal(json((await get('/x', {}, 'DELETE')).body).backend, 'b');
  });

  it('splits traffic by backendRef weight (1:3, counted over 400 requests)', async () => {
    let toB = 0;
    for (let i = 0; i < 400; i++) if (json((await get('/split')).body).backend === 'b') toB++;
    // Expected 300; binomial sd ≈ 8.7: ±60 is about 7 sd.
    assert.ok(toB > 240 && toB < 360, `b got ${toB} of 400`);
  });

  it('redirects (HTTPRequestRedirectFilter): scheme and hostname, default port dropped; port and prefix replaced', async () => {
    const r1 = await get('/moved?x=1');
    assert.equal(r1.status, 301);
    assert.equal(r1.headers.location, 'https://new.example.com/moved?x=1');
    const r2 = await get('/docs/intro');
    assert.equal(r2.status, 302);
    assert.equal(r2.headers.location, 'http://gw.example.com:8443/manual/intro');
  });

  it('rewrites the path and Host (HTTPURLRewriteFilter) and edits request and response headers', async () => {
    const r = await get('/v1/items?q=2', { 'x-set': 'old', 'x-drop': 'gone', 'x-add': 'first' });
    const body = json(r.body);
    assert.equal(body.url, '/v2/items?q=2');
    assert.equal(body.headers.host, 'internal.example.com');
    assert.equal(body.headers['x-set'], 'new');
    assert.equal(body.headers['x-drop'], undefined);
    assert.equal(body.headers['x-add'], 'first, added');
    assert.equal(r.headers['content-type'], 'text/x-replaced');
    assert.equal(r.headers['x-resp'], 'yes');
    assert.equal(json((await get('/full/a/b')).body).url, '/fixed');
    // The prefix is matched on the normalised path, and cut from it: never by length off the raw one.
    assert.equal(json((await get('/v%31/items')).body).url, '/v2/items');
    assert.equal(json((await get('/x/../v1/a%20b')).body).url, '/v2/a%20b');
  });

  it('answers 500 for a rule whose backendRefs are all invalid and 503 for a Service without ready endpoints', async () => {
    assert.equal((await get('/invalid')).status, 500);
    assert.equal((await get('/empty')).status, 503);
  });

  it('takes bodies larger than ingress-nginx\'s 1 MiB default (the Gateway API sets no limit), by length and chunked', async () => {
    const big = 'x'.repeat(1536 * 1024);
    assert.equal((await request(proxy.httpPort!, 'gw.example.com', '/', { method: 'POST', body: big })).status, 200);
    assert.equal((await request(proxy.httpPort!, 'gw.example.com', '/', { method: 'POST', body: big, headers: { 'transfer-encoding': 'chunked' } })).status, 200);
  });

  it('matches a wildcard hostname over any number of labels, as Gateway API does (an Ingress wildcard: one label)', async () => {
    for (const host of ['a.wild.example.com', 'a.b.wild.example.com', 'x.y.z.wild.example.com']) {
      const r = await request(proxy.httpPort!, host, '/');
      assert.equal(r.status, 200, host);
      assert.equal(json(r.body).backend, 'b');
    }
    assert.equal((await request(proxy.httpPort!, 'wild.example.com', '/')).status, 404, 'the wildcard is not its own suffix');
    assert.equal((await request(proxy.httpPort!, 'a.ing.example.com', '/')).status, 200);
    assert.equal((await request(proxy.httpPort!, 'a.b.ing.example.com', '/')).status, 404, 'Ingress: one label');
  });

  it('lets an Ingress path on the same host win, and serves only the listener\'s port (not HTTPS)', async () => {
    assert.equal(json((await get('/ingress')).body).backend, 'b');
    assert.equal((await request(proxy.httpPort!, 'other.example.com', '/')).status, 404);
  });
});
