// Behaviour that must match ingress-nginx (and the nginx its template generates), one case per
// difference found by comparing the two side by side. Pure layers: translate → Router →
// decideAction, with the request facts and limits as plain values.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import type { Ingress } from 'kubernetes-types/networking/v1.d.ts';
import { Router, type Decision } from './router.ts';
import { compileExpression, decideAction, errorBody, evaluateExpression, expandRedirectVariables, reasonPhrase, unknownVariables, upstreamTarget, type Action, type RequestFacts } from './request-policy.ts';
import { SharedLimits } from './shared-limits.ts';
import { translate } from './translate.ts';
import type { RouteTable } from './route-table.ts';
import { makeIngress, makeService, makeSlice, path, rule } from './test-builders.ts';
import { normalizePath } from './normalize-path.ts';

const A = 'nginx.ingress.kubernetes.io/';
const names = ['a', 'b', 'c'];

function table(ingresses: Ingress[]): RouteTable {
  return translate({
    ingresses, ingressClasses: [], secrets: [],
    services: names.map((n) => makeService('default', n, [{ name: 'http', port: 80, targetPort: 8080 }])),
    endpointSlices: names.map((n, i) => makeSlice('default', n, [`10.0.0.${i + 1}`], [{ name: 'http', port: 8080 }])),
  });
}

function ann(o: Record<string, string>): (i: { metadata?: { annotations?: Record<string, string> } }) => void {
  return (i) => { i.metadata!.annotations = { ...i.metadata!.annotations, ...Object.fromEntries(Object.entries(o).map(([k, v]) => [A + k, v])) }; };
}

function backendOf(d: Decision): string {
  return d.kind === 'route' ? d.route.route.backend.name.split('/')[1]!.split(':')[0]! : '404';
}

interface Req { method?: string; path: string; query?: string; host: string; secure?: boolean; port?: string; remote?: string; headers?: Record<string, string> }

function facts(r: Req): RequestFacts {
  const h = Object.fromEntries(Object.entries(r.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
  return {
    method: r.method ?? 'GET', path: r.path, uri: normalizePath(r.path) ?? r.path, query: r.query ?? '', host: r.host, secure: r.secure ?? false, port: r.port ?? (r.secure ? '443' : '80'),
    remoteAddress: r.remote ?? '10.1.0.1', contentLength: -1, header: (n) => h[n],
  };
}

/** Routes and decides one request as the proxy does (router on the path, policy on the facts). */
function act(router: Router, r: Req, limits = new SharedLimits({ now: () => 0 })): Action {
  return decideAction(router.decide(r.host, r.path), facts(r), limits, 443);
}

function header(a: Action, name: string): string | undefined {
  const list = a.kind === 'respond' ? a.headers : a.responseHeaders;
  return list.find(([k]) => k.toLowerCase() === name.toLowerCase())?.[1];
}

function proxied(a: Action): { backend: string; target: string } {
  assert.equal(a.kind, 'proxy', `proxied, not ${a.kind === 'respond' ? a.status : a.kind}`);
  const p = a as Extract<Action, { kind: 'proxy' }>;
  return { backend: p.route.route.backend.name.split('/')[1]!.split(':')[0]!, target: p.target };
}

describe('A. rewrite-target equal to the path', () => {
  const router = new Router(table([
    makeIngress('default', 'influx', (i) => { ann({ 'rewrite-target': '/' })(i); i.spec!.rules = [rule('influxdb.example.com', path('/', 'a', 80))]; }),
    makeIngress('default', 'other', (i) => { i.spec!.rules = [rule('influxdb.example.com', path('/api', 'b', 80))]; }),
  ]));

  it('rewrites nothing: /ping?x=1 goes upstream as it came', () => {
    assert.deepEqual(proxied(act(router, { host: 'influxdb.example.com', path: '/ping', query: '?x=1' })), { backend: 'a', target: '/ping?x=1' });
  });

  it('does not switch the host to regex mode (/apiv2 and /API stay off the /api Prefix)', () => {
    assert.equal(backendOf(router.decide('influxdb.example.com', '/apiv2')), 'a');
    assert.equal(backendOf(router.decide('influxdb.example.com', '/API')), 'a');
    assert.equal(backendOf(router.decide('influxdb.example.com', '/api/x')), 'b');
  });

  it('a target other than the path still rewrites and makes the host regex', () => {
    const r = new Router(table([makeIngress('default', 'rw', (i) => { ann({ 'rewrite-target': '/' })(i); i.spec!.rules = [rule('rw.com', path('/foo', 'a', 80))]; })]));
    const d = r.decide('rw.com', '/FOObar');
    assert.equal(backendOf(d), 'a');
    assert.equal(upstreamTarget((d as Extract<Decision, { kind: 'route' }>).route, undefined, '/FOObar', '?q'), '/?q');
  });
});

describe('B. Ingresses created in the same second', () => {
  it('the one whose namespace/name sorts last is the older (sortIngressSlice: in > jn)', () => {
    const alpha = makeIngress('default', 'alpha', (i) => { i.spec!.rules = [rule('tie.com', path('/', 'a', 80))]; });
    const zeta = makeIngress('default', 'zeta', (i) => { (i.metadata as { creationTimestamp?: string }).creationTimestamp = alpha.metadata!.creationTimestamp; i.spec!.rules = [rule('tie.com', path('/', 'b', 80))]; });
    const t = table([alpha, zeta]);
    assert.equal(backendOf(new Router(t).decide('tie.com', '/')), 'b');
    assert.match(t.problems.find((p) => p.reason === 'DuplicatePath')!.object.name, /^alpha$/);
  });
});

describe('C. ingressClassName and the kubernetes.io/ingress.class annotation', () => {
  it('spec.ingressClassName wins when both are set', () => {
    const t = table([
      makeIngress('default', 'mine', (i) => { i.metadata!.annotations = { 'kubernetes.io/ingress.class': 'traefik' }; i.spec!.ingressClassName = 'nginx'; }),
      makeIngress('default', 'theirs', (i) => { i.metadata!.annotations = { 'kubernetes.io/ingress.class': 'nginx' }; i.spec!.ingressClassName = 'traefik'; }),
    ]);
    assert.deepEqual(t.served, ['default/mine']);
  });
});

describe('D. spec.defaultBackend of an Ingress with rules', () => {
  const router = new Router(table([
    makeIngress('default', 'old', (i) => { i.spec!.rules = [rule('h2.com', path('/x', 'a', 80))]; }),
    makeIngress('default', 'withrules', (i) => { i.spec!.defaultBackend = { service: { name: 'c', port: { number: 80 } } }; i.spec!.rules = [rule('h.com', path('/x', 'b', 80)), rule('h2.com', path('/y', 'b', 80)), rule(undefined, path('/z', 'b', 80))]; }),
  ]));
  it('is not the catch-all for hosts no rule names', () => assert.equal(backendOf(router.decide('unknown.com', '/')), '404'));
  it('serves the unmatched paths of hosts its Ingress created', () => assert.equal(backendOf(router.decide('h.com', '/other')), 'c'));
  it('not those of a host an older Ingress created', () => assert.equal(backendOf(router.decide('h2.com', '/other')), '404'));
  it('not those of rules without a host (the catch-all server)', () => assert.equal(backendOf(router.decide('h3.com', '/other')), '404'));
});

describe('E. Exact paths on a regex host', () => {
  const router = new Router(table([
    makeIngress('default', 'rx', (i) => { ann({ 'use-regex': 'true' })(i); i.spec!.rules = [rule('rx.com', path('/v[0-9]+', 'a', 80, 'ImplementationSpecific'), path('/exact', 'b', 80, 'Exact'))]; }),
  ]));
  it('are case-insensitive ^path prefixes like every location there', () => {
    assert.equal(backendOf(router.decide('rx.com', '/exact')), 'b');
    assert.equal(backendOf(router.decide('rx.com', '/exact/x')), 'b');
    assert.equal(backendOf(router.decide('rx.com', '/EXACT')), 'b');
  });
});

describe('F. redirect annotations', () => {
  const t = table([
    makeIngress('default', 'mv', (i) => { ann({ 'permanent-redirect': 'https://new.example.com$request_uri' })(i); i.spec!.rules = [rule('old.com', path('/', 'a', 80))]; }),
    makeIngress('default', 'vars', (i) => { ann({ 'temporal-redirect': 'https://x.example.com/$host/$http_host/$scheme$uri?$args' })(i); i.spec!.rules = [rule('vars.com', path('/', 'a', 80))]; }),
    makeIngress('default', 'both', (i) => { ann({ 'permanent-redirect': 'https://perm.example.com', 'temporal-redirect': 'https://temp.example.com' })(i); i.spec!.rules = [rule('both.com', path('/', 'a', 80))]; }),
    makeIngress('default', 'code', (i) => { ann({ 'temporal-redirect': 'https://temp.example.com', 'temporal-redirect-code': '308' })(i); i.spec!.rules = [rule('code.com', path('/', 'a', 80))]; }),
    makeIngress('default', 'tlsperm', (i) => { ann({ 'permanent-redirect': 'https://perm.example.com/' })(i); i.spec!.tls = [{ hosts: ['tp.com'] }]; i.spec!.rules = [rule('tp.com', path('/', 'a', 80))]; }),
  ]);
  const router = new Router(t);
  const redirect = (r: Req) => { const a = act(router, r); return a.kind === 'respond' ? `${a.status} ${header(a, 'location')}` : a.kind; };

  it('expand nginx variables per request', () => {
    assert.equal(redirect({ host: 'old.com', path: '/a/b', query: '?c=d' }), '301 https://new.example.com/a/b?c=d');
    assert.equal(redirect({ host: 'Vars.com:8080', path: '/p', query: '?q=1' }), '302 https://x.example.com/vars.com/Vars.com:8080/http/p?q=1');
    // $uri is the normalised path, as nginx's.
    assert.equal(redirect({ host: 'vars.com', path: '/a//b/../p', query: '' }), '302 https://x.example.com/vars.com/vars.com/http/a/p?');
  });
  it('temporal-redirect wins over permanent-redirect', () => assert.equal(redirect({ host: 'both.com', path: '/' }), '302 https://temp.example.com'));
  it('temporal-redirect-code accepts 300–307 only (else 302, reported)', () => {
    assert.equal(redirect({ host: 'code.com', path: '/' }), '302 https://temp.example.com');
    assert.ok(t.problems.some((p) => p.object.name === 'code' && /temporal-redirect-code/.test(p.message)));
  });
  it('comes before the SSL redirect of a TLS host', () => assert.equal(redirect({ host: 'tp.com', path: '/' }), '301 https://perm.example.com/'));
});

describe('G. app-root', () => {
  const router = new Router(table([
    makeIngress('default', 'dash', (i) => { ann({ 'app-root': '/dashboard' })(i); i.spec!.rules = [rule('dash.com', path('/dashboard', 'a', 80))]; }),
  ]));
  it('redirects / of the whole host, even without a "/" path', () => {
    const a = act(router, { host: 'dash.com', path: '/' });
    assert.equal(a.kind === 'respond' && `${a.status} ${header(a, 'location')}`, '302 http://dash.com/dashboard');
  });
  it('leaves other paths alone', () => assert.equal(proxied(act(router, { host: 'dash.com', path: '/dashboard/x' })).backend, 'a'));
});

describe('H. CORS', () => {
  const router = new Router(table([
    makeIngress('default', 'cors', (i) => { ann({ 'enable-cors': 'true', 'cors-allow-origin': 'https://*.example.com, https://app.test', 'cors-max-age': '600' })(i); i.spec!.rules = [rule('cors.com', path('/', 'a', 80))]; }),
  ]));
  it('a `*` in an origin stands for one DNS label', () => {
    assert.equal(header(act(router, { host: 'cors.com', path: '/', headers: { origin: 'https://a.example.com' } }), 'access-control-allow-origin'), 'https://a.example.com');
    assert.equal(header(act(router, { host: 'cors.com', path: '/', headers: { origin: 'https://a.b.example.com' } }), 'access-control-allow-origin'), undefined);
  });
  it('origins match case-insensitively and are echoed as sent', () => {
    assert.equal(header(act(router, { host: 'cors.com', path: '/', headers: { origin: 'https://APP.test' } }), 'access-control-allow-origin'), 'https://APP.test');
  });
  it('OPTIONS from an origin not allowed is proxied, not answered', () => {
    const a = act(router, { method: 'OPTIONS', host: 'cors.com', path: '/', headers: { origin: 'https://evil.com', 'access-control-request-method': 'GET' } });
    assert.equal(proxied(a).backend, 'a');
    assert.equal(header(a, 'access-control-allow-origin'), undefined);
  });
  it('an allowed preflight is 204 with the template\'s headers', () => {
    const a = act(router, { method: 'OPTIONS', host: 'cors.com', path: '/', headers: { origin: 'https://app.test' } });
    assert.equal(a.kind === 'respond' && a.status, 204);
    assert.deepEqual((a as Extract<Action, { kind: 'respond' }>).headers.map(([k]) => k), [
      'Access-Control-Allow-Origin', 'Access-Control-Allow-Credentials', 'Access-Control-Allow-Methods', 'Access-Control-Allow-Headers', 'Access-Control-Max-Age', 'Content-Type',
    ]);
  });
  it('Access-Control-Max-Age is on ordinary responses too', () => {
    assert.equal(header(act(router, { host: 'cors.com', path: '/', headers: { origin: 'https://app.test' } }), 'access-control-max-age'), '600');
  });
});

describe('I. canary Ingresses (ingress-nginx\'s alternative backends)', () => {
  const primary = (name: string, host: string, extra: Record<string, string> = {}) =>
    makeIngress('default', name, (i) => { ann(extra)(i); i.spec!.rules = [rule(host, path('/', 'a', 80))]; });
  const canary = (name: string, host: string, policy: Record<string, string>, p = path('/', 'c', 80)) =>
    makeIngress('default', name, (i) => { ann({ canary: 'true', ...policy })(i); i.spec!.rules = [rule(host, p)]; });
  const limits = new SharedLimits({ now: () => 0 });
  const to = (router: Router, r: Req) => proxied(act(router, r, limits)).backend;

  it('is never routed as a primary, even when older; a canary path without a primary is reported and not served, and (unlike ingress-nginx) its other paths still split', () => {
    const t = table([
      makeIngress('default', 'web-canary', (i) => { ann({ canary: 'true', 'canary-weight': '100' })(i); i.spec!.rules = [rule('cn.com', path('/', 'c', 80), path('/new', 'c', 80))]; }),
      primary('web', 'cn.com'),
    ]);
    const router = new Router(t);
    assert.equal(to(router, { host: 'cn.com', path: '/' }), 'c', 'weight 100 sends everything on / to the canary');
    // /new has no primary: the request takes the primary's "/" route, whose canary is the same Ingress's "/".
    assert.equal(backendOf(router.decide('cn.com', '/new')), 'a');
    assert.deepEqual(t.problems.map((p) => [p.object.name, p.reason]), [['web-canary', 'CanaryWithoutPrimary']]);
    assert.ok(!t.problems.some((x) => x.reason === 'DuplicatePath'));
  });

  it('canary-by-header: always and never decide; other values fall through to the cookie and the weight', () => {
    const router = new Router(table([primary('web', 'h.com'), canary('c', 'h.com', { 'canary-by-header': 'X-Canary', 'canary-by-cookie': 'beta', 'canary-weight': '0' })]));
    assert.equal(to(router, { host: 'h.com', path: '/', headers: { 'X-Canary': 'always' } }), 'c');
    assert.equal(to(router, { host: 'h.com', path: '/', headers: { 'X-Canary': 'never', cookie: 'beta=always' } }), 'a');
    assert.equal(to(router, { host: 'h.com', path: '/', headers: { 'X-Canary': 'maybe', cookie: 'beta=always' } }), 'c');
    assert.equal(to(router, { host: 'h.com', path: '/', headers: { cookie: 'x=1; beta=always' } }), 'c');
    assert.equal(to(router, { host: 'h.com', path: '/', headers: { cookie: 'beta=never' } }), 'a');
    assert.equal(to(router, { host: 'h.com', path: '/' }), 'a');
  });

  it('canary-by-header-value replaces always; canary-by-header-pattern matches unanchored', () => {
    const router = new Router(table([
      primary('v', 'v.com'), canary('cv', 'v.com', { 'canary-by-header': 'X-Region', 'canary-by-header-value': 'us-east' }),
      primary('p', 'p.com'), canary('cp', 'p.com', { 'canary-by-header': 'X-User', 'canary-by-header-pattern': '^(alice|bob)$' }),
    ]));
    assert.equal(to(router, { host: 'v.com', path: '/', headers: { 'X-Region': 'us-east' } }), 'c');
    assert.equal(to(router, { host: 'v.com', path: '/', headers: { 'X-Region': 'always' } }), 'a');
    assert.equal(to(router, { host: 'p.com', path: '/', headers: { 'X-User': 'bob' } }), 'c');
    assert.equal(to(router, { host: 'p.com', path: '/', headers: { 'X-User': 'bobby' } }), 'a');
  });

  it('canary-weight sends about weight/total of the requests; a total under 100 counts as 100', () => {
    const router = new Router(table([
      primary('w', 'w.com'), canary('cw', 'w.com', { 'canary-weight': '30' }),
      primary('t', 't.com'), canary('ct', 't.com', { 'canary-weight': '1', 'canary-weight-total': '4' }),
      primary('all', 'all.com'), canary('call', 'all.com', { 'canary-weight': '1000', 'canary-weight-total': '1000' }),
    ]));
    const share = (host: string) => { let n = 0; for (let i = 0; i < 4000; i++) if (to(router, { host, path: '/' }) === 'c') n++; return n / 4000; };
    const w = share('w.com');
    assert.ok(w > 0.25 && w < 0.35, `30% expected, got ${w}`);
    const t = share('t.com');
    assert.ok(t > 0 && t < 0.03, `1 in 100 expected (a total of 4 counts as 100), got ${t}`);
    assert.equal(share('all.com'), 1);
  });

  it('takes the primary\'s options (rewrite-target, auth) and counts against the primary\'s limits', () => {
    const router = new Router(table([
      makeIngress('default', 'web', (i) => { ann({ 'rewrite-target': '/v1/$1', 'use-regex': 'true', 'limit-rps': '1', 'limit-burst-multiplier': '1' })(i); i.spec!.rules = [rule('o.com', path('/api/(.*)', 'a', 80))]; }),
      makeIngress('default', 'web-canary', (i) => { ann({ canary: 'true', 'canary-by-header': 'canary', 'rewrite-target': '/other' })(i); i.spec!.rules = [rule('o.com', path('/api/(.*)', 'c', 80))]; }),
    ]));
    const limits = new SharedLimits({ now: () => 0 });
    const first = act(router, { host: 'o.com', path: '/api/x', headers: { canary: 'always' } }, limits);
    assert.deepEqual(proxied(first), { backend: 'c', target: '/v1/x' });
    // limit-rps 1 with a burst of 1: two requests pass at once, the third is refused, whichever backend each would go to.
    assert.equal(proxied(act(router, { host: 'o.com', path: '/api/x' }, limits)).backend, 'a');
    const third = act(router, { host: 'o.com', path: '/api/x', headers: { canary: 'always' } }, limits);
    assert.equal(third.kind === 'respond' ? third.status : third.kind, 503, 'limit-rps counts canary and primary requests together');
  });

  it('sticky sessions: a request pinned to either backend stays there, whatever the policy says', () => {
    const t = table([
      primary('s', 's.com', { affinity: 'cookie', 'session-cookie-name': 'route' }),
      canary('cs', 's.com', { 'canary-by-header': 'X-Canary', 'canary-weight': '0' }),
    ]);
    const router = new Router(t);
    const d = router.decide('s.com', '/');
    assert.equal(d.kind, 'route');
    const r = (d as Extract<Decision, { kind: 'route' }>).route;
    const primaryCookie = `route=${r.pool.cookieFor(r.pool.endpoints[0]!)}`;
    const canaryCookie = `route=${r.canary!.route.pool.cookieFor(r.canary!.route.pool.endpoints[0]!)}`;
    assert.match(primaryCookie, /^route=[0-9a-f]{32}\|[0-9a-f]{32}$/);
    assert.equal(r.canary!.route.route.options.affinity?.name, 'route', 'the canary takes the primary\'s affinity');
    assert.equal(to(router, { host: 's.com', path: '/', headers: { 'X-Canary': 'always', cookie: primaryCookie } }), 'a');
    assert.equal(to(router, { host: 's.com', path: '/', headers: { 'X-Canary': 'never', cookie: canaryCookie } }), 'c');
    const pinned = act(router, { host: 's.com', path: '/', headers: { cookie: canaryCookie } }) as Extract<Action, { kind: 'proxy' }>;
    assert.equal(pinned.sticky?.address, '10.0.0.3', 'and on the endpoint its cookie names');
  });

  it('the oldest canary of a path wins; a canary naming the primary\'s own backend splits nothing', () => {
    const t = table([
      primary('web', 'two.com'),
      canary('first', 'two.com', { 'canary-weight': '100' }),
      canary('second', 'two.com', { 'canary-weight': '100' }, path('/', 'b', 80)),
      primary('self', 'self.com'),
      canary('self-canary', 'self.com', { 'canary-weight': '100' }, path('/', 'a', 80)),
    ]);
    const router = new Router(t);
    assert.equal(to(router, { host: 'two.com', path: '/' }), 'c');
    assert.equal(to(router, { host: 'self.com', path: '/' }), 'a');
    assert.deepEqual(t.problems.map((p) => [p.object.name, p.reason]), [['second', 'CanaryIgnored'], ['self-canary', 'CanaryIsPrimary']]);
  });

  it('a canary defaultBackend splits the catch-all server; path type must match too', () => {
    const t = table([
      makeIngress('default', 'catch', (i) => { i.spec!.defaultBackend = { service: { name: 'a', port: { number: 80 } } }; }),
      makeIngress('default', 'catch-canary', (i) => { ann({ canary: 'true', 'canary-weight': '100' })(i); i.spec!.defaultBackend = { service: { name: 'c', port: { number: 80 } } }; }),
      makeIngress('default', 'exact', (i) => { i.spec!.rules = [rule('e.com', { ...path('/x', 'a', 80), pathType: 'Exact' })]; }),
      canary('exact-canary', 'e.com', { 'canary-weight': '100' }, { ...path('/x', 'c', 80), pathType: 'Prefix' }),
    ]);
    const router = new Router(t);
    assert.equal(to(router, { host: 'anything.com', path: '/' }), 'c');
    assert.equal(to(router, { host: 'e.com', path: '/x' }), 'a');
    assert.deepEqual(t.problems.map((p) => [p.object.name, p.reason]), [['exact-canary', 'CanaryWithoutPrimary']]);
  });

  it('a canary without endpoints (or Service) takes nothing, a pinned client included; a primary without endpoints is 503 whatever the canary says', () => {
    const t = translate({
      ingresses: [
        primary('web', 'x.com', { affinity: 'cookie', 'session-cookie-name': 'route' }), canary('down', 'x.com', { 'canary-weight': '100', 'canary-by-header': 'X-Canary' }, path('/', 'gone', 80)),
        primary('y', 'y.com'), canary('ghost', 'y.com', { 'canary-weight': '100' }, path('/', 'missing', 80)),
        makeIngress('default', 'z', (i) => { i.spec!.rules = [rule('z.com', path('/', 'gone', 80))]; }), canary('cz', 'z.com', { 'canary-by-header': 'X-Canary' }),
      ],
      ingressClasses: [], secrets: [],
      services: ['a', 'c', 'gone'].map((n) => makeService('default', n, [{ name: 'http', port: 80, targetPort: 8080 }])),
      endpointSlices: ['a', 'c'].map((n, i) => makeSlice('default', n, [`10.0.0.${i + 1}`], [{ name: 'http', port: 8080 }])),
    });
    const router = new Router(t);
    const d = router.decide('x.com', '/') as Extract<Decision, { kind: 'route' }>;
    const pinned = `route=${d.route.pool.cookieFor(d.route.pool.endpoints[0]!).replace(/\|.*/, '')}|${d.route.canary!.route.pool.key}`;
    assert.equal(to(router, { host: 'x.com', path: '/', headers: { 'X-Canary': 'always', cookie: pinned } }), 'a');
    assert.equal(to(router, { host: 'y.com', path: '/' }), 'a');
    const z = act(router, { host: 'z.com', path: '/', headers: { 'X-Canary': 'always' } });
    assert.equal(z.kind === 'respond' ? z.status : z.kind, 503);
  });

  it('a pattern that cannot run keeps a request with the header on the primary; PCRE\'s (?i) is case-insensitive', () => {
    const t = table([
      primary('bad', 'bad.com'), canary('cbad', 'bad.com', { 'canary-by-header': 'X-User', 'canary-by-header-pattern': '[][**da?$&*', 'canary-by-cookie': 'beta' }),
      primary('ci', 'ci.com'), canary('cci', 'ci.com', { 'canary-by-header': 'X-User', 'canary-by-header-pattern': '(?i)^alice$' }),
    ]);
    const router = new Router(t);
    assert.equal(to(router, { host: 'bad.com', path: '/', headers: { 'X-User': 'x', cookie: 'beta=always' } }), 'a', 'ingress-nginx\'s own e2e case');
    assert.equal(to(router, { host: 'bad.com', path: '/', headers: { cookie: 'beta=always' } }), 'c', 'without the header the cookie decides');
    assert.equal(to(router, { host: 'ci.com', path: '/', headers: { 'X-User': 'ALICE' } }), 'c');
    assert.ok(t.problems.some((p) => p.object.name === 'cbad' && /canary-by-header-pattern/.test(p.message)));
  });

  it('affinity-canary-behavior: legacy leaves the canary without affinity; canary: "True" counts (Go\'s ParseBool)', () => {
    const router = new Router(table([
      primary('l', 'l.com', { affinity: 'cookie', 'session-cookie-name': 'route' }),
      canary('cl', 'l.com', { canary: 'True', 'canary-by-header': 'X-Canary', 'affinity-canary-behavior': 'legacy', affinity: 'cookie', 'session-cookie-name': 'cc' }),
    ]));
    const d = router.decide('l.com', '/') as Extract<Decision, { kind: 'route' }>;
    assert.equal(d.route.canary?.route.route.options.affinity, undefined);
    const toCanary = act(router, { host: 'l.com', path: '/', headers: { 'X-Canary': 'always' } }) as Extract<Action, { kind: 'proxy' }>;
    assert.equal(toCanary.route.route.options.affinity, undefined, 'so no cookie is set for it');
  });

  it('an affinity cookie of the older form (endpoint only) still pins its endpoint and is written again', () => {
    const router = new Router(table([primary('o', 'old.com', { affinity: 'cookie', 'session-cookie-name': 'route' })]));
    const d = router.decide('old.com', '/') as Extract<Decision, { kind: 'route' }>;
    const current = d.route.pool.cookieFor(d.route.pool.endpoints[0]!);
    const old = act(router, { host: 'old.com', path: '/', headers: { cookie: `route=${current.split('|')[0]}` } }) as Extract<Action, { kind: 'proxy' }>;
    assert.equal(old.sticky?.address, '10.0.0.1');
    assert.equal(old.renewCookie, true);
    const fresh = act(router, { host: 'old.com', path: '/', headers: { cookie: `route=${current}` } }) as Extract<Action, { kind: 'proxy' }>;
    assert.equal(fresh.renewCookie, false);
  });

  it('merges into a host\'s root from its Ingress defaultBackend, and into the catch-all root for rules without a host', () => {
    const t = table([
      makeIngress('default', 'root', (i) => { i.spec!.defaultBackend = { service: { name: 'a', port: { number: 80 } } }; i.spec!.rules = [rule('r.com', path('/api', 'b', 80))]; }),
      canary('croot', 'r.com', { 'canary-weight': '100' }),
      makeIngress('default', 'catch', (i) => { i.spec!.defaultBackend = { service: { name: 'a', port: { number: 80 } } }; }),
      canary('cnohost', '', { 'canary-weight': '100' }),
    ]);
    const router = new Router(t);
    assert.equal(to(router, { host: 'r.com', path: '/other' }), 'c');
    assert.equal(to(router, { host: 'r.com', path: '/api' }), 'b');
    assert.equal(to(router, { host: 'unknown.com', path: '/' }), 'c');
    assert.deepEqual(t.problems, []);
  });

  it('reports canary values ingress-nginx refuses', () => {
    const t = table([primary('v', 'val.com'), canary('cv', 'val.com', { 'canary-by-header': 'X Canary', 'canary-weight': 'half', 'affinity-canary-behavior': 'odd' })]);
    assert.deepEqual(t.problems.map((p) => /annotation nginx\.ingress\.kubernetes\.io\/([a-z-]+)/.exec(p.message)?.[1]), ['canary-weight', 'canary-by-header', 'affinity-canary-behavior']);
    assert.equal(to(new Router(t), { host: 'val.com', path: '/', headers: { 'X Canary': 'always' } }), 'a');
  });

  it('a pattern that backtracks catastrophically still answers (V8 falls back to its linear engine)', async () => {
    // In a worker, so that without the fallback the test fails at its deadline instead of holding
    // this thread for hours (2^64 backtracking steps).
    const code = `
      const { Router } = await import(${JSON.stringify(new URL('./router.ts', import.meta.url).href)});
      const { translate } = await import(${JSON.stringify(new URL('./translate.ts', import.meta.url).href)});
      const b = await import(${JSON.stringify(new URL('./test-builders.ts', import.meta.url).href)});
      const A = 'nginx.ingress.kubernetes.io/';
      const t = translate({ ingressClasses: [], secrets: [],
        ingresses: [b.makeIngress('default', 'r', (i) => { i.spec.rules = [b.rule('redos.com', b.path('/', 'a', 80))]; }),
          b.makeIngress('default', 'cr', (i) => { i.metadata.annotations = { [A + 'canary']: 'true', [A + 'canary-by-header']: 'X-User', [A + 'canary-by-header-pattern']: '^(a|a)+$' }; i.spec.rules = [b.rule('redos.com', b.path('/', 'c', 80))]; })],
        services: ['a', 'c'].map((n) => b.makeService('default', n)), endpointSlices: ['a', 'c'].map((n) => b.makeSlice('default', n, ['10.0.0.1'], [{ port: 80 }])) });
      const d = new Router(t).decide('redos.com', '/');
      (await import('node:worker_threads')).parentPort.postMessage(d.route.canary.headerPattern.test('a'.repeat(64) + 'b'));`;
    const w = new Worker(code, { eval: true });
    try {
      const matched = await new Promise((resolve, reject) => {
        const deadline = setTimeout(() => reject(new Error('the pattern was still backtracking after 30 s')), 30_000);
        w.once('message', (m) => { clearTimeout(deadline); resolve(m); });
        w.once('error', (e) => { clearTimeout(deadline); reject(e); });
      });
      assert.equal(matched, false);
    } finally {
      await w.terminate();
    }
  });

  it('canary annotations without canary: "true" are reported and the Ingress is an ordinary one', () => {
    const t = table([makeIngress('default', 'half', (i) => { ann({ 'canary-weight': '50' })(i); i.spec!.rules = [rule('half.com', path('/', 'c', 80))]; })]);
    assert.equal(backendOf(new Router(t).decide('half.com', '/')), 'c');
    assert.match(t.problems[0]?.message ?? '', /canary.*not "true"/);
  });
});

describe('I2. redirect annotations and header injection', () => {
  it('a CR or LF that $uri decodes is %-encoded again in the Location (no header of the client\'s choosing)', () => {
    const router = new Router(table([makeIngress('default', 'r', (i) => { ann({ 'permanent-redirect': 'https://new.example.com$uri' })(i); i.spec!.rules = [rule('crlf.com', path('/', 'a', 80))]; })]));
    const a = act(router, { host: 'crlf.com', path: '/a%0d%0aSet-Cookie:x=1' });
    assert.equal(header(a, 'location'), 'https://new.example.com/a%0D%0ASet-Cookie:x=1');
  });
});

describe('I3. rate limits', () => {
  it('count every path of an Ingress together, per client (one limit_req zone per Ingress)', () => {
    const router = new Router(table([
      makeIngress('default', 'lim', (i) => { ann({ 'limit-rps': '1', 'limit-burst-multiplier': '1' })(i); i.spec!.rules = [rule('lim.com', path('/a', 'a', 80), path('/b', 'b', 80))]; }),
    ]));
    const limits = new SharedLimits({ now: () => 0 });
    const status = (p: string, remote = '10.1.0.1') => { const a = act(router, { host: 'lim.com', path: p, remote }, limits); return a.kind === 'respond' ? a.status : 200; };
    // Rate 1 with a burst of 1: two requests pass at once, the third is refused, whichever path it asks for.
    assert.deepEqual([status('/a'), status('/b'), status('/a'), status('/b')], [200, 200, 503, 503]);
    assert.equal(status('/b', '10.1.0.2'), 200, 'another client has its own count');
  });
});

describe('J. security annotations never fail open', () => {
  const t = table([
    makeIngress('default', 'deny', (i) => { ann({ 'denylist-source-range': '10.1.0.0/16, 192.0.2.7' })(i); i.spec!.rules = [rule('deny.com', path('/', 'a', 80))]; }),
    makeIngress('default', 'both', (i) => { ann({ 'denylist-source-range': '10.1.2.0/24', 'whitelist-source-range': '10.1.0.0/16' })(i); i.spec!.rules = [rule('both.com', path('/', 'a', 80))]; }),
    makeIngress('default', 'baddeny', (i) => { ann({ 'denylist-source-range': '10.1.0.0/99' })(i); i.spec!.rules = [rule('baddeny.com', path('/', 'a', 80))]; }),
    makeIngress('default', 'rpm', (i) => { ann({ 'limit-rpm': '2', 'limit-burst-multiplier': '1' })(i); i.spec!.rules = [rule('rpm.com', path('/', 'a', 80))]; }),
    makeIngress('default', 'mtls', (i) => { ann({ 'auth-tls-verify-client': 'on', 'auth-tls-secret': 'default/ca' })(i); i.spec!.rules = [rule('mtls.com', path('/', 'a', 80))]; }),
    makeIngress('default', 'verifyonly', (i) => { ann({ 'auth-tls-verify-client': 'on' })(i); i.spec!.rules = [rule('verifyonly.com', path('/', 'a', 80))]; }),
  ]);
  const router = new Router(t);
  const status = (a: Action) => (a.kind === 'respond' ? a.status : a.kind);

  it('denylist-source-range refuses the listed sources with 403', () => {
    assert.equal(status(act(router, { host: 'deny.com', path: '/', remote: '10.1.9.9' })), 403);
    assert.equal(status(act(router, { host: 'deny.com', path: '/', remote: '::ffff:192.0.2.7' })), 403);
    assert.equal(status(act(router, { host: 'deny.com', path: '/', remote: '10.2.0.1' })), 'proxy');
  });
  it('denylist comes before the allowlist', () => {
    assert.equal(status(act(router, { host: 'both.com', path: '/', remote: '10.1.2.3' })), 403);
    assert.equal(status(act(router, { host: 'both.com', path: '/', remote: '10.1.3.3' })), 'proxy');
  });
  it('an invalid denylist denies the route (503) and is reported', () => {
    assert.equal(status(act(router, { host: 'baddeny.com', path: '/', remote: '10.2.0.1' })), 503);
    assert.ok(t.problems.some((p) => p.object.name === 'baddeny' && /denylist-source-range/.test(p.message)));
  });
  it('limit-rpm counts per minute with limit-rpm × multiplier burst', () => {
    let now = 0;
    const limits = new SharedLimits({ now: () => now });
    const go = () => status(act(router, { host: 'rpm.com', path: '/' }, limits));
    assert.deepEqual([go(), go(), go(), go()], ['proxy', 'proxy', 'proxy', 503]);
    now += 30_000; // one more request's worth at 2 per minute
    assert.deepEqual([go(), go()], ['proxy', 503]);
  });
  it('client certificate authentication is refused with 503 and a reason, never served without it', () => {
    assert.equal(status(act(router, { host: 'mtls.com', path: '/', secure: true })), 503);
    assert.match(t.problems.find((p) => p.object.name === 'mtls')!.message, /client certificate/);
    // verify-client without a secret does nothing in ingress-nginx (its parser stops at the missing secret).
    assert.equal(status(act(router, { host: 'verifyonly.com', path: '/', secure: true })), 'proxy');
  });
});

describe('K. status lines', () => {
  it('use nginx\'s reason phrases', () => {
    assert.equal(reasonPhrase(204), 'No Content');
    assert.equal(reasonPhrase(303), 'See Other');
    assert.equal(reasonPhrase(429), 'Too Many Requests');
    assert.equal(reasonPhrase(401), 'Unauthorized');
    assert.equal(reasonPhrase(300), '');
  });
  it('keep nginx\'s error page titles', () => {
    assert.match(errorBody(401), /<title>401 Authorization Required<\/title>/);
    assert.match(errorBody(503), /<title>503 Service Temporarily Unavailable<\/title>/);
  });
});

/** Decides one request that must be proxied, and returns the proxy action. */
function proxyOf(router: Router, r: Req): Extract<Action, { kind: 'proxy' }> {
  const a = act(router, r);
  assert.equal(a.kind, 'proxy', `proxied, not ${a.kind === 'respond' ? a.status : a.kind}`);
  return a as Extract<Action, { kind: 'proxy' }>;
}

describe('L. upstream-vhost', () => {
  const t = table([
    makeIngress('default', 'vh', (i) => { ann({ 'upstream-vhost': 'internal.example.com' })(i); i.spec!.rules = [rule('vh.com', path('/', 'a', 80))]; }),
    makeIngress('default', 'vars', (i) => { ann({ 'upstream-vhost': '$service_name.$namespace.svc:$service_port-$host' })(i); i.spec!.rules = [rule('vars.com', path('/', 'b', 'http'))]; }),
    makeIngress('default', 'bad', (i) => { ann({ 'upstream-vhost': 'a b"c' })(i); i.spec!.rules = [rule('bad.com', path('/', 'a', 80))]; }),
    makeIngress('default', 'plain', (i) => { i.spec!.rules = [rule('plain.com', path('/', 'a', 80))]; }),
  ]);
  const router = new Router(t);
  it('is the Host sent upstream (proxy_set_header Host "<value>")', () => {
    assert.equal(proxyOf(router, { host: 'vh.com', path: '/x' }).upstreamHost, 'internal.example.com');
  });
  it('expands nginx variables, the location\'s $service_name and $namespace among them', () => {
    assert.equal(proxyOf(router, { host: 'VARS.com:8080', path: '/' }).upstreamHost, 'b.default.svc:http-vars.com');
  });
  it('an invalid server name is a Warning and the client\'s Host is kept', () => {
    assert.equal(proxyOf(router, { host: 'bad.com', path: '/' }).upstreamHost, undefined);
    assert.match(t.problems.find((p) => p.object.name === 'bad')!.message, /upstream-vhost.*not a valid server name/);
  });
  it('a route without it keeps the client\'s Host', () => assert.equal(proxyOf(router, { host: 'plain.com', path: '/' }).upstreamHost, undefined));
});

describe('M. x-forwarded-prefix', () => {
  const t = table([
    makeIngress('default', 'rw', (i) => { ann({ 'rewrite-target': '/$2', 'x-forwarded-prefix': '/app' })(i); i.spec!.rules = [rule('rw.com', path('/app(/|$)(.*)', 'a', 80, 'ImplementationSpecific'))]; }),
    makeIngress('default', 'cap', (i) => { ann({ 'rewrite-target': '/$3', 'x-forwarded-prefix': '/$1' })(i); i.spec!.rules = [rule('cap.com', path('/(shop|blog)(/|$)(.*)', 'a', 80, 'ImplementationSpecific'))]; }),
    makeIngress('default', 'norw', (i) => { ann({ 'x-forwarded-prefix': '/app' })(i); i.spec!.rules = [rule('norw.com', path('/', 'a', 80))]; }),
    makeIngress('default', 'same', (i) => { ann({ 'rewrite-target': '/', 'x-forwarded-prefix': '/app' })(i); i.spec!.rules = [rule('same.com', path('/', 'a', 80))]; }),
    makeIngress('default', 'bad', (i) => { ann({ 'rewrite-target': '/', 'x-forwarded-prefix': '/a?b' })(i); i.spec!.rules = [rule('badprefix.com', path('/x', 'a', 80))]; }),
  ]);
  const router = new Router(t);
  it('is sent where rewrite-target rewrites', () => {
    const a = proxyOf(router, { host: 'rw.com', path: '/app/page' });
    assert.deepEqual([a.target, a.forwardedPrefix], ['/page', '/app']);
  });
  it('expands the location regex\'s captures', () => assert.equal(proxyOf(router, { host: 'cap.com', path: '/blog/post/1' }).forwardedPrefix, '/blog'));
  it('without rewrite-target it is never sent (ingress-nginx writes it in the rewrite block), with a Warning', () => {
    assert.equal(proxyOf(router, { host: 'norw.com', path: '/x' }).forwardedPrefix, undefined);
    assert.match(t.problems.find((p) => p.object.name === 'norw')!.message, /no effect without rewrite-target/);
  });
  it('nor with a rewrite-target equal to the path (no rewrite is written)', () => assert.equal(proxyOf(router, { host: 'same.com', path: '/x' }).forwardedPrefix, undefined));
  it('a value outside RegexPathWithCapture is a Warning and ignored', () => {
    assert.equal(proxyOf(router, { host: 'badprefix.com', path: '/x' }).forwardedPrefix, undefined);
    assert.match(t.problems.find((p) => p.object.name === 'bad')!.message, /x-forwarded-prefix/);
  });
});

describe('N. server-alias', () => {
  const t = table([
    makeIngress('default', 'web', (i) => { ann({ 'server-alias': 'Alias.com, web.com, other.com,, *.wild.com, alias.com' })(i); i.spec!.rules = [rule('web.com', path('/', 'a', 80))]; }),
    makeIngress('default', 'other', (i) => { i.spec!.rules = [rule('other.com', path('/', 'b', 80))]; }),
    makeIngress('default', 'late', (i) => { ann({ 'server-alias': 'late.com' })(i); i.spec!.rules = [rule('web.com', path('/late', 'c', 80))]; }),
    makeIngress('default', 'second', (i) => { ann({ 'server-alias': 'alias.com, zz.com' })(i); i.spec!.rules = [rule('x.com', path('/', 'c', 80))]; }),
    makeIngress('default', 'bad', (i) => { ann({ 'server-alias': 'ok.com, no"pe.com' })(i); i.spec!.rules = [rule('bad.com', path('/', 'c', 80))]; }),
  ]);
  const router = new Router(t);
  const problems = (name: string) => t.problems.filter((p) => p.object.name === name).map((p) => p.message).join('\n');
  it('serves the host\'s routes under the alias (case-insensitive, deduplicated)', () => {
    assert.equal(backendOf(router.decide('alias.com', '/')), 'a');
    assert.equal(backendOf(router.decide('ALIAS.com:80', '/late/x')), 'c');
    assert.deepEqual(t.hosts.find((h) => h.host === 'web.com')!.aliases, ['alias.com']);
  });
  it('an alias that is the host itself is dropped; one that is another rule\'s host is ignored with a Warning', () => {
    assert.equal(backendOf(router.decide('other.com', '/')), 'b');
    assert.match(problems('web'), /"other.com".*a host of its own/);
  });
  it('wildcard and regex names are skipped with a Warning (podgate serves exact aliases only)', () => {
    assert.equal(backendOf(router.decide('x.wild.com', '/')), '404');
    assert.match(problems('web'), /\*\.wild\.com/);
  });
  it('the first Ingress naming the host with aliases gives them (createServers)', () => {
    assert.equal(backendOf(router.decide('late.com', '/')), '404');
    assert.match(problems('late'), /already has the aliases/);
  });
  it('an alias two hosts claim stays with the first host, sorted as nginx.conf', () => {
    assert.equal(backendOf(router.decide('zz.com', '/')), 'c');
    assert.match(problems('second'), /"alias.com".*alias of host "web.com"/);
  });
  it('one invalid name drops the whole annotation', () => {
    assert.equal(backendOf(router.decide('ok.com', '/')), '404');
    assert.match(problems('bad'), /invalid server names/);
  });
});

describe('O. from-to-www-redirect', () => {
  const t = table([
    makeIngress('default', 'apex', (i) => { ann({ 'from-to-www-redirect': 'true' })(i); i.spec!.rules = [rule('example.com', path('/', 'a', 80))]; }),
    makeIngress('default', 'www', (i) => { ann({ 'from-to-www-redirect': 'true' })(i); i.spec!.rules = [rule('www.shop.com', path('/', 'b', 80))]; }),
    makeIngress('default', 'taken', (i) => { ann({ 'from-to-www-redirect': 'true' })(i); i.spec!.rules = [rule('both.com', path('/', 'a', 80)), rule('www.both.com', path('/', 'b', 80))]; }),
    makeIngress('default', 'wild', (i) => { i.spec!.rules = [rule('*.example.com', path('/', 'c', 80))]; }),
    makeIngress('default', 'bad', (i) => { ann({ 'from-to-www-redirect': 'yes' })(i); i.spec!.rules = [rule('bad.com', path('/', 'a', 80))]; }),
  ]);
  const router = new Router(t);
  const redirect = (r: Req) => {
    const a = act(router, r);
    return a.kind === 'respond' ? [a.status, header(a, 'location')] : a.kind;
  };
  it('www.host answers 308 to $scheme://host:$server_port$request_uri, one trailing slash dropped', () => {
    assert.deepEqual(redirect({ host: 'www.example.com', path: '/a/', query: '?q=1' }), [308, 'http://example.com:80/a/?q=1']);
    assert.deepEqual(redirect({ host: 'www.example.com', path: '/a/' }), [308, 'http://example.com:80/a']);
    assert.deepEqual(redirect({ host: 'www.example.com', path: '/' }), [308, 'http://example.com:80']);
    assert.deepEqual(redirect({ host: 'www.example.com', path: '/x', secure: true, port: '8443' }), [308, 'https://example.com:8443/x']);
  });
  it('goes from the bare name to a www host', () => assert.deepEqual(redirect({ host: 'shop.com', path: '/x' }), [308, 'http://www.shop.com:80/x']));
  it('is an exact name: it wins over a wildcard host', () => assert.equal(backendOf(router.decide('other.example.com', '/')), 'c'));
  it('a name a rule already serves is not redirected, with a Warning', () => {
    assert.equal(act(router, { host: 'www.both.com', path: '/' }).kind, 'proxy');
    assert.equal(act(router, { host: 'both.com', path: '/' }).kind, 'proxy');
    assert.match(t.problems.find((p) => p.object.name === 'taken')!.message, /already serves host/);
  });
  it('an invalid value is a Warning and no redirect', () => {
    assert.equal(backendOf(router.decide('www.bad.com', '/')), '404');
    assert.match(t.problems.find((p) => p.object.name === 'bad')!.message, /from-to-www-redirect/);
  });
});

describe('Q. review findings on L–P', () => {
  it('an auth-url to the same Service port as a service-upstream route keeps its own endpoints (pools keyed by endpoints too)', () => {
    const t = translate({
      ingresses: [
        makeIngress('default', 'su', (i) => { ann({ 'service-upstream': 'true' })(i); i.spec!.rules = [rule('z.com', path('/', 'a', 80))]; }),
        makeIngress('default', 'authed', (i) => { ann({ 'auth-url': 'http://a.default.svc.cluster.local/auth' })(i); i.spec!.rules = [rule('b.com', path('/', 'b', 80))]; }),
      ],
      ingressClasses: [], secrets: [],
      services: [makeService('default', 'a', [{ name: 'http', port: 80, targetPort: 8080 }], (s) => { s.spec!.clusterIP = '10.96.0.50'; }), makeService('default', 'b')],
      endpointSlices: [makeSlice('default', 'a', ['10.0.0.7'], [{ name: 'http', port: 8080 }]), makeSlice('default', 'b', ['10.0.0.8'], [{ port: 80 }])],
    });
    const router = new Router(t);
    const z = router.decide('z.com', '/') as Extract<Decision, { kind: 'route' }>;
    const b = router.decide('b.com', '/') as Extract<Decision, { kind: 'route' }>;
    assert.deepEqual(z.route.pool.endpoints, [{ address: '10.96.0.50', port: 80 }]);
    assert.deepEqual(b.route.auth!.pool.endpoints, [{ address: '10.0.0.7', port: 8080 }]);
  });

  it('$1 is the location regex\'s capture in a redirect, and empty where the location has none', () => {
    const router = new Router(table([
      makeIngress('default', 'rx', (i) => { ann({ 'use-regex': 'true', 'permanent-redirect': 'https://new.com/$1' })(i); i.spec!.rules = [rule('rx.com', path('/old/(.*)', 'a', 80, 'ImplementationSpecific'))]; }),
      makeIngress('default', 'vh', (i) => { ann({ 'upstream-vhost': '$1.svc' })(i); i.spec!.rules = [rule('vh1.com', path('/', 'a', 80))]; }),
    ]));
    assert.equal(header(act(router, { host: 'rx.com', path: '/old/page' }), 'location'), 'https://new.com/page');
    assert.equal((act(router, { host: 'vh1.com', path: '/' }) as Extract<Action, { kind: 'proxy' }>).upstreamHost, '.svc');
  });

  it('x-forwarded-prefix on a canary request takes the primary location\'s variables', () => {
    const router = new Router(table([
      makeIngress('default', 'web', (i) => { ann({ 'rewrite-target': '/', 'x-forwarded-prefix': '/$service_name' })(i); i.spec!.rules = [rule('pf.com', path('/x', 'a', 80))]; }),
      makeIngress('default', 'web-canary', (i) => { ann({ canary: 'true', 'canary-weight': '100' })(i); i.spec!.rules = [rule('pf.com', path('/x', 'c', 80))]; }),
    ]));
    const a = act(router, { host: 'pf.com', path: '/x' }) as Extract<Action, { kind: 'proxy' }>;
    assert.deepEqual([proxied(a).backend, a.forwardedPrefix], ['c', '/a']);
  });

  it('from-to-www-redirect turns on only with a location the Ingress adds (not a duplicate path)', () => {
    const t = table([
      makeIngress('default', 'dup1', (i) => { i.spec!.rules = [rule('dup.com', path('/x', 'a', 80))]; }),
      makeIngress('default', 'dup2', (i) => { ann({ 'from-to-www-redirect': 'true' })(i); i.spec!.rules = [rule('dup.com', path('/x', 'b', 80))]; }),
    ]);
    assert.equal(new Router(t).decide('www.dup.com', '/x').kind, 'not-found');
  });
});

describe('P. service-upstream', () => {
  const services = [
    makeService('default', 'a', [{ name: 'http', port: 80, targetPort: 8080 }], (s) => { s.spec!.clusterIP = '10.96.0.10'; }),
    makeService('default', 'b', [{ name: 'http', port: 80, targetPort: 8080 }], (s) => { s.spec!.clusterIP = 'None'; }),
    makeService('default', 'c', [{ name: 'http', port: 80, targetPort: 8080 }], (s) => { s.spec!.clusterIP = '10.96.0.12'; }),
  ];
  const slices = [makeSlice('default', 'a', ['10.0.0.1', '10.0.0.2'], [{ name: 'http', port: 8080 }]), makeSlice('default', 'b', ['10.0.0.3'], [{ name: 'http', port: 8080 }]), makeSlice('default', 'c', [], [{ name: 'http', port: 8080 }])];
  const build = (ingresses: Ingress[]) => translate({ ingresses, ingressClasses: [], secrets: [], services, endpointSlices: slices });
  const endpoints = (t: RouteTable, host: string) => t.hosts.find((h) => h.host === host)!.routes.map((r) => r.backend.endpoints.map((e) => `${e.address}:${e.port}`).join(','));
  it('proxies to the Service\'s cluster IP and port (numbered or named) instead of its endpoints', () => {
    const t = build([makeIngress('default', 'su', (i) => { ann({ 'service-upstream': 'true' })(i); i.spec!.rules = [rule('su.com', path('/n', 'a', 80), path('/named', 'a', 'http'))]; })]);
    assert.deepEqual(endpoints(t, 'su.com'), ['10.96.0.10:80', '10.96.0.10:80']);
  });
  it('a Service without endpoints is still proxied (to its cluster IP), not 503', () => {
    const t = build([makeIngress('default', 'su', (i) => { ann({ 'service-upstream': 'true' })(i); i.spec!.rules = [rule('su.com', path('/', 'c', 80))]; })]);
    assert.equal(act(new Router(t), { host: 'su.com', path: '/' }).kind, 'proxy');
  });
  it('a headless Service is a Warning and its endpoints are used', () => {
    const t = build([makeIngress('default', 'su', (i) => { ann({ 'service-upstream': 'true' })(i); i.spec!.rules = [rule('su.com', path('/', 'b', 80))]; })]);
    assert.deepEqual(endpoints(t, 'su.com'), ['10.0.0.3:8080']);
    assert.match(t.problems[0]!.message, /service-upstream: no ClusterIP/);
  });
  it('the oldest Ingress naming a Service port decides for all (one upstream per Service port)', () => {
    const t = build([
      makeIngress('default', 'old', (i) => { i.spec!.rules = [rule('old.com', path('/', 'a', 80))]; }),
      makeIngress('default', 'new', (i) => { ann({ 'service-upstream': 'true' })(i); i.spec!.rules = [rule('new.com', path('/', 'a', 80), path('/c', 'c', 80))]; }),
    ]);
    assert.deepEqual(endpoints(t, 'new.com'), ['10.0.0.1:8080,10.0.0.2:8080', '10.96.0.12:80']);
  });
  it('an invalid value is a Warning and the endpoints are used', () => {
    const t = build([makeIngress('default', 'su', (i) => { ann({ 'service-upstream': 'ya' })(i); i.spec!.rules = [rule('su.com', path('/', 'a', 80))]; })]);
    assert.deepEqual(endpoints(t, 'su.com'), ['10.0.0.1:8080,10.0.0.2:8080']);
    assert.match(t.problems[0]!.message, /service-upstream/);
  });
});

describe('U. upstream-hash-by (consistent hashing, balancer/chash.lua)', () => {
  const addrs = (n: number) => Array.from({ length: n }, (_, i) => `10.0.1.${i + 1}`);
  const build = (ingresses: Ingress[], endpoints = addrs(5)) => translate({
    ingresses, ingressClasses: [], secrets: [],
    services: ['m', 'c'].map((n) => makeService('default', n, [{ name: 'http', port: 80, targetPort: 8080 }])),
    endpointSlices: [makeSlice('default', 'm', endpoints, [{ name: 'http', port: 8080 }]), makeSlice('default', 'c', ['10.0.2.1', '10.0.2.2', '10.0.2.3'], [{ name: 'http', port: 8080 }])],
  });
  const hashed = (value: string, extra: Record<string, string> = {}) =>
    makeIngress('default', 'h', (i) => { ann({ 'upstream-hash-by': value, ...extra })(i); i.spec!.rules = [rule('h.com', path('/', 'm', 80))]; });
  /** The endpoint the request is sent to first (as http1-connection and h2-handler pick it). */
  const limits = new SharedLimits({ now: () => 0 });
  const endpointOf = (router: Router, r: Req) => {
    const a = act(router, r, limits);
    assert.equal(a.kind, 'proxy');
    if (a.kind !== 'proxy') throw new Error('not proxied');
    const e = a.sticky ?? a.hashed ?? a.route.pool.next()!;
    return `${e.address}:${e.port}`;
  };
  const user = (u: string): Req => ({ host: 'h.com', path: '/', headers: { 'X-User': u } });

  it('reuses the ring in the next table while its Service\'s endpoints stay, and builds a new one when they change', () => {
    const other = (n: string) => makeIngress('default', n, (i) => { i.spec!.rules = [rule(`${n}.com`, path('/', 'c', 80))]; });
    const ringOf = (router: Router) => (router.decide('h.com', '/') as Extract<Decision, { kind: 'route' }>).route.pool.hash;
    const first = ringOf(new Router(build([hashed('$http_x_user'), other('x')])));
    assert.ok(first);
    assert.equal(ringOf(new Router(build([hashed('$http_x_user'), other('y')]))), first, 'another Ingress changed: same ring');
    assert.notEqual(ringOf(new Router(build([hashed('$http_x_user')], addrs(6)))), first, 'an endpoint came: a new ring');
  });

  it('sends every request with the same key to the same endpoint', () => {
    const router = new Router(build([hashed('$http_x_user')]));
    for (const u of ['alice', 'bob', 'carol']) {
      const seen = new Set(Array.from({ length: 50 }, () => endpointOf(router, user(u))));
      assert.equal(seen.size, 1, `${u} went to ${[...seen].join(', ')}`);
    }
    // A route without it stays round robin.
    const plain = new Router(build([makeIngress('default', 'p', (i) => { i.spec!.rules = [rule('h.com', path('/', 'm', 80))]; })]));
    assert.equal(new Set(Array.from({ length: 5 }, () => endpointOf(plain, user('alice')))).size, 5);
  });

  it('spreads different keys over the endpoints', () => {
    const router = new Router(build([hashed('$http_x_user')]));
    const count = new Map<string, number>();
    for (let i = 0; i < 2000; i++) {
      const e = endpointOf(router, user(`user-${i}`));
      assert.equal(endpointOf(router, user(`user-${i}`)), e);
      count.set(e, (count.get(e) ?? 0) + 1);
    }
    assert.equal(count.size, 5);
    // 400 each when even; 160 points per endpoint keep every share well within a factor of two.
    for (const [e, n] of count) assert.ok(n > 200 && n < 800, `${e} got ${n} of 2000`);
  });

  it('removing an endpoint moves only the keys that were on it', () => {
    const before = new Router(build([hashed('$http_x_user')]));
    const after = new Router(build([hashed('$http_x_user')], addrs(5).filter((a) => a !== '10.0.1.3')));
    let moved = 0;
    for (let i = 0; i < 2000; i++) {
      const was = endpointOf(before, user(`user-${i}`));
      const now = endpointOf(after, user(`user-${i}`));
      if (was === '10.0.1.3:8080') { moved++; assert.notEqual(now, was); } else assert.equal(now, was, `user-${i} moved from ${was} to ${now}`);
    }
    assert.ok(moved > 200 && moved < 800, `${moved} of 2000 keys were on the removed endpoint`);
  });

  it('adding an endpoint takes only keys for itself', () => {
    const before = new Router(build([hashed('$remote_addr')], addrs(4)));
    const after = new Router(build([hashed('$remote_addr')], addrs(5)));
    let moved = 0;
    for (let i = 0; i < 1000; i++) {
      const r: Req = { host: 'h.com', path: '/', remote: `192.168.${i >> 8}.${i & 255}` };
      const now = endpointOf(after, r);
      if (endpointOf(before, r) !== now) { moved++; assert.equal(now, '10.0.1.5:8080'); }
    }
    assert.ok(moved > 100 && moved < 400, `${moved} of 1000 keys moved`);
  });

  it('expands the key as ingress-nginx\'s parse_complex_value: variables, ${braced}, text; unknown variables are empty', () => {
    const r = facts({ host: 'H.com:8080', path: '/p', query: '?a=1&ID=7&id=8', remote: '10.9.9.9', headers: { 'X-User': 'alice', cookie: 'x=1; SID=s1; sid=s2' } });
    const route = build([hashed('$request_uri')]).hosts[0]!.routes[0]!;
    const ev = (text: string) => evaluateExpression(compileExpression(text), r, undefined, route);
    assert.equal(ev('$host$request_uri'), 'h.com/p?a=1&ID=7&id=8');
    assert.equal(ev('${arg_id}-text-$http_x_user'), '7-text-alice');
    assert.equal(ev('$cookie_sid|$remote_addr'), 's1|10.9.9.9');
    assert.equal(ev('$service_name$nosuch$arg_none$http_none$'), 'm$');
    assert.equal(ev('$1'), '');
    // Variable names are case-insensitive in nginx and in ngx.var.
    assert.equal(ev('$HTTP_X_USER|${Arg_Id}|$Remote_Addr|$Cookie_SID'), 'alice|7|10.9.9.9|s1');
    assert.equal(expandRedirectVariables('https://x.com$REQUEST_URI?u=${HTTP_X_USER}', r), 'https://x.com/p?a=1&ID=7&id=8?u=alice');
    assert.deepEqual(unknownVariables(compileExpression('$nosuch$host${request_id}')), ['$nosuch', '$request_id']);
  });

  it('hashes by the expanded expression: the same value is the same endpoint whatever else differs', () => {
    const router = new Router(build([hashed('$arg_id')]));
    const seen = new Set<string>();
    for (let id = 0; id < 50; id++) {
      const a = endpointOf(router, { host: 'h.com', path: '/a', query: `?id=${id}&x=1` });
      assert.equal(endpointOf(router, { host: 'h.com', path: '/b', query: `?y=2&id=${id}`, remote: '10.7.7.7' }), a);
      seen.add(a);
    }
    assert.ok(seen.size >= 4, `50 ids over ${seen.size} endpoints`);
    const combined = new Router(build([hashed('$host$request_uri')]));
    assert.equal(endpointOf(combined, { host: 'h.com', path: '/x', query: '?1' }), endpointOf(combined, { host: 'H.COM', path: '/x', query: '?1', remote: '10.3.3.3' }));
  });

  it('an invalid value is a Warning and the endpoints are balanced round robin', () => {
    const t = build([hashed('$request_uri;rm')]);
    assert.match(t.problems.find((p) => p.object.name === 'h')!.message, /upstream-hash-by.*does not allow.*round robin/);
    const router = new Router(t);
    assert.equal(proxyOf(router, user('alice')).hashed, undefined);
    assert.equal(new Set(Array.from({ length: 5 }, () => endpointOf(router, user('alice')))).size, 5);
  });

  it('an unknown variable is a Warning (it expands to nothing, as ngx.var gives nil)', () => {
    const t = build([hashed('$request_id')]);
    assert.match(t.problems.find((p) => p.object.name === 'h')!.message, /upstream-hash-by.*\$request_id/);
  });

  it('affinity: cookie wins (get_implementation picks the sticky balancer), with an IgnoredAnnotation event', () => {
    const t = build([hashed('$http_x_user', { affinity: 'cookie' })]);
    assert.ok(t.problems.some((p) => p.reason === 'IgnoredAnnotation' && /upstream-hash-by.*affinity/.test(p.message)));
    assert.equal(proxyOf(new Router(t), user('alice')).hashed, undefined);
  });

  it('belongs to the Service port: the oldest Ingress naming it decides for every path', () => {
    const t = build([
      makeIngress('default', 'old', (i) => { i.spec!.rules = [rule('old.com', path('/', 'm', 80))]; }),
      makeIngress('default', 'new', (i) => { ann({ 'upstream-hash-by': '$http_x_user' })(i); i.spec!.rules = [rule('new.com', path('/', 'm', 80), path('/c', 'c', 80))]; }),
    ]);
    const router = new Router(t);
    assert.equal(proxyOf(router, { host: 'new.com', path: '/', headers: { 'X-User': 'a' } }).hashed, undefined);
    assert.notEqual(proxyOf(router, { host: 'new.com', path: '/c', headers: { 'X-User': 'a' } }).hashed, undefined);
    assert.equal(proxyOf(router, { host: 'old.com', path: '/', headers: { 'X-User': 'a' } }).hashed, undefined);
  });

  it('a canary backend hashes by its own Ingress\'s upstream-hash-by', () => {
    const t = build([
      makeIngress('default', 'prim', (i) => { i.spec!.rules = [rule('h.com', path('/', 'm', 80))]; }),
      makeIngress('default', 'can', (i) => { ann({ canary: 'true', 'canary-by-header': 'X-Canary', 'upstream-hash-by': '$http_x_user' })(i); i.spec!.rules = [rule('h.com', path('/', 'c', 80))]; }),
    ]);
    const router = new Router(t);
    const req = (u: string): Req => ({ host: 'h.com', path: '/', headers: { 'X-Canary': 'always', 'X-User': u } });
    for (const u of ['alice', 'bob']) assert.equal(new Set(Array.from({ length: 10 }, () => endpointOf(router, req(u)))).size, 1);
    assert.equal(proxyOf(router, user('alice')).hashed, undefined);
  });
});
