// Routing tables: objects in (built with the test builders), decisions out. translate + Router
// together, since the router is only ever built from a translated table.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Ingress } from 'kubernetes-types/networking/v1.d.ts';
import { Router } from './router.ts';
import { translate, type TranslateInput } from './translate.ts';
import { makeIngress, makeIngressClass, makeService, makeSlice, path, rule } from './test-builders.ts';

const svc = (name: string, port = 80) => makeService('default', name, [{ name: 'http', port, targetPort: 8080 }]);
const ready = (name: string, ip: string) => makeSlice('default', name, [ip], [{ name: 'http', port: 8080 }]);

function world(ingresses: Ingress[], extra: Partial<TranslateInput> = {}): Router {
  const names = ['a', 'b', 'c', 'd', 'e'];
  return new Router(translate({
    ingresses, ingressClasses: [], secrets: [],
    services: names.map((n) => svc(n)),
    endpointSlices: names.map((n, i) => ready(n, `10.0.0.${i + 1}`)),
    ...extra,
  }));
}

function backendOf(r: Router, host: string, p: string): string {
  const d = r.decide(host, p);
  return d.kind === 'route' ? d.route.route.backend.name.split('/')[1]!.split(':')[0]! : '404';
}

describe('host and path matching', () => {
  const r = world([
    makeIngress('default', 'one', (i) => {
      i.spec!.rules = [
        rule('foo.bar.com', path('/foo', 'a', 80), path('/bar', 'b', 80), path('/exact', 'c', 80, 'Exact')),
        rule('*.bar.com', path('/', 'd', 80)),
        rule(undefined, path('/any', 'e', 80)),
      ];
    }),
    makeIngress('default', 'two', (i) => { i.spec!.rules = [rule('foo.bar.com', path('/foo/deeper', 'c', 'http'), path('/exact', 'e', 80, 'Prefix'))]; }),
  ]);
  const cases: [string, string, string, string][] = [
    ['prefix matches itself', 'foo.bar.com', '/foo', 'a'],
    ['prefix matches a child element', 'foo.bar.com', '/foo/x', 'a'],
    ['prefix matches with a trailing slash', 'foo.bar.com', '/foo/', 'a'],
    ['prefix does not match /foobar', 'foo.bar.com', '/foobar', '404'],
    ['longest match across Ingresses', 'foo.bar.com', '/foo/deeper/x', 'c'],
    ['exact beats prefix of the same path', 'foo.bar.com', '/exact', 'c'],
    ['exact does not match a child, prefix does', 'foo.bar.com', '/exact/x', 'e'],
    ['host is case-insensitive and the port is ignored', 'FOO.bar.com:8080', '/bar', 'b'],
    ['wildcard matches one label', 'x.bar.com', '/anything', 'd'],
    ['wildcard does not match two labels', 'y.x.bar.com', '/any', 'e'],
    ['wildcard does not match the bare domain', 'bar.com', '/any', 'e'],
    ['exact host wins over wildcard, no fallthrough', 'foo.bar.com', '/nothing', '404'],
    ['rules without host serve unknown hosts', 'other.com', '/any/thing', 'e'],
    ['unknown host, no rule, no default', 'other.com', '/', '404'],
  ];
  for (const [name, host, p, want] of cases) it(name, () => assert.equal(backendOf(r, host, p), want));
});

describe('default backends', () => {
  it('spec.defaultBackend of an Ingress with rules serves only the hosts its Ingress created; the catch-all comes from an Ingress without rules', () => {
    const r = world([
      makeIngress('default', 'old', (i) => { i.spec!.defaultBackend = { service: { name: 'a', port: { number: 80 } } }; i.spec!.rules = [rule('h.com', path('/x', 'b', 80))]; }),
      makeIngress('default', 'new', (i) => { i.spec!.defaultBackend = { service: { name: 'c', port: { number: 80 } } }; i.spec!.rules = [rule('k.com', path('/x', 'b', 80)), rule('h.com', path('/y', 'b', 80))]; }),
      makeIngress('default', 'catch-all', (i) => { i.spec!.defaultBackend = { service: { name: 'd', port: { number: 80 } } }; i.spec!.rules = []; }),
      makeIngress('default', 'catch-all-2', (i) => { i.spec!.defaultBackend = { service: { name: 'e', port: { number: 80 } } }; delete i.spec!.rules; }),
    ]);
    assert.equal(backendOf(r, 'h.com', '/x'), 'b');
    assert.equal(backendOf(r, 'h.com', '/other'), 'a', 'h.com\'s server was created by "old"');
    assert.equal(backendOf(r, 'k.com', '/other'), 'c');
    assert.equal(backendOf(r, 'unknown.com', '/'), 'd', 'the oldest Ingress without rules');
  });
});

describe('backends', () => {
  it('resolves a port by name to the slice port, keeps only ready endpoints, 503 when none', () => {
    const table = translate({
      ingresses: [makeIngress('default', 'i', (i) => { i.spec!.rules = [rule('h.com', path('/', 'web', 'http'), path('/none', 'empty', 80))]; })],
      ingressClasses: [], secrets: [],
      services: [makeService('default', 'web', [{ name: 'metrics', port: 9090 }, { name: 'http', port: 80, targetPort: 'web' }]), makeService('default', 'empty')],
      endpointSlices: [
        makeSlice('default', 'web', ['10.0.0.2', '10.0.0.1', '10.0.0.3'], [{ name: 'http', port: 8080 }, { name: 'metrics', port: 9100 }], ['10.0.0.3']),
        makeSlice('default', 'empty', ['10.0.0.9'], [{ port: 80 }], ['10.0.0.9']),
      ],
    });
    const routes = table.hosts[0]!.routes;
    assert.deepEqual(routes[0]!.backend.endpoints, [{ address: '10.0.0.1', port: 8080 }, { address: '10.0.0.2', port: 8080 }]);
    assert.deepEqual(routes[1]!.backend.endpoints, []);
  });

  it('a missing Service is a problem and an empty backend (503), not a crash', () => {
    const t = translate({ ingresses: [makeIngress('default', 'i', (i) => { i.spec!.rules = [rule('h.com', path('/', 'nope', 80))]; })], ingressClasses: [], secrets: [], services: [], endpointSlices: [] });
    assert.deepEqual(t.hosts[0]!.routes[0]!.backend.endpoints, []);
    assert.match(t.problems[0]!.message, /service default\/nope not found/);
  });

  it('rejects resource backends with a clear problem', () => {
    const t = translate({
      ingresses: [makeIngress('default', 'i', (i) => { i.spec!.rules = [rule('h.com', { path: '/', pathType: 'Prefix', backend: { resource: { apiGroup: 'k8s.example.com', kind: 'StorageBucket', name: 'static' } } })]; })],
      ingressClasses: [], secrets: [], services: [], endpointSlices: [],
    });
    assert.equal(t.hosts[0]!.routes.length, 0);
    assert.equal(t.problems[0]!.reason, 'UnsupportedBackend');
  });
});

describe('class selection', () => {
  const ing = (name: string, f: (i: { spec?: { ingressClassName?: string }; metadata: { annotations?: Record<string, string> } }) => void) =>
    makeIngress('default', name, (i) => { delete i.spec!.ingressClassName; f(i as never); i.spec!.rules = [rule(`${name}.com`, path('/', 'a', 80))]; });
  const ingresses = [
    ing('nginx-name', (i) => { i.spec!.ingressClassName = 'nginx'; }),
    ing('nginx-annotation', (i) => { i.metadata.annotations = { 'kubernetes.io/ingress.class': 'nginx' }; }),
    ing('ours', (i) => { i.spec!.ingressClassName = 'podgate'; }),
    ing('traefik', (i) => { i.spec!.ingressClassName = 'traefik'; }),
    ing('none', () => {}),
  ];
  const served = (classes = [makeIngressClass('podgate', 'podgate.io/ingress')], opts = {}) =>
    translate({ ingresses, ingressClasses: classes, secrets: [], services: [svc('a')], endpointSlices: [] }, opts).served.map((s) => s.split('/')[1]);

  it('serves nginx (name or annotation) and our IngressClass, ignores others and classless', () => {
    assert.deepEqual(served(), ['nginx-annotation', 'nginx-name', 'ours']);
  });
  it('serves classless Ingresses when our class is the default', () => {
    assert.deepEqual(served([makeIngressClass('podgate', 'podgate.io/ingress', true)]), ['nginx-annotation', 'nginx-name', 'none', 'ours']);
  });
  it('a default class of another controller does not make classless ours', () => {
    assert.deepEqual(served([makeIngressClass('podgate', 'podgate.io/ingress'), makeIngressClass('traefik', 'traefik.io/ingress-controller', true)]), ['nginx-annotation', 'nginx-name', 'ours']);
  });
  it('classes option replaces the nginx default', () => {
    assert.deepEqual(served([], { classes: [] }), []);
  });
});

describe('regex paths (use-regex / rewrite-target)', () => {
  it('switches the whole host to case-insensitive ^path regexes, longest first', () => {
    const r = world([
      makeIngress('default', 'r', (i) => {
        i.metadata!.annotations = { 'nginx.ingress.kubernetes.io/use-regex': 'true' };
        i.spec!.rules = [rule('h.com', path('/api/v[0-9]+', 'a', 80, 'ImplementationSpecific'), path('/api', 'b', 80, 'ImplementationSpecific'))];
      }),
      makeIngress('default', 'plain', (i) => { i.spec!.rules = [rule('h.com', path('/apifoo', 'c', 80))]; }),
    ]);
    assert.equal(backendOf(r, 'h.com', '/API/v2/x'), 'a');
    assert.equal(backendOf(r, 'h.com', '/apifoo'), 'c');
    assert.equal(backendOf(r, 'h.com', '/api/x'), 'b');
  });
  it('ImplementationSpecific without regex is nginx string prefix: /foo matches /foobar', () => {
    const r = world([makeIngress('default', 'i', (i) => { i.spec!.rules = [rule('h.com', path('/foo', 'a', 80, 'ImplementationSpecific'))]; })]);
    assert.equal(backendOf(r, 'h.com', '/foobar'), 'a');
  });
});

describe('round robin', () => {
  it('cycles through ready endpoints', () => {
    const t = translate({
      ingresses: [makeIngress('default', 'i', (i) => { i.spec!.rules = [rule('h.com', path('/', 'a', 80))]; })],
      ingressClasses: [], secrets: [], services: [svc('a')],
      endpointSlices: [makeSlice('default', 'a', ['10.0.0.1', '10.0.0.2'], [{ name: 'http', port: 8080 }])],
    });
    const d = new Router(t).decide('h.com', '/');
    assert.equal(d.kind, 'route');
    if (d.kind !== 'route') return;
    assert.deepEqual([d.route.pool.next(), d.route.pool.next(), d.route.pool.next()].map((e) => e!.address), ['10.0.0.1', '10.0.0.2', '10.0.0.1']);
  });
});
