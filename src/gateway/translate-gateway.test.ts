// Table tests for the pure Gateway API translation: listener validation, route attachment and
// its status reasons, hostname intersection and match precedence, each citing the spec
// (https://gateway-api.sigs.k8s.io/reference/spec/).
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createCertificateAuthority, issueCertificate } from '../pki/certificates.ts';
import { makeService, makeSlice, makeTlsSecret } from '../ingress/test-builders.ts';
import { comparePrecedence, intersectHostnames, translateGateway, type GatewayInput, type HTTPRoute } from './translate-gateway.ts';
import { makeGateway, makeGatewayClass, makeRoute } from './test-builders.ts';
import type { GatewayRule } from '../ingress/route-table.ts';

const opts = { httpPort: 80, httpsPort: 443, addresses: ['10.0.0.5'], now: '2026-02-01T00:00:00Z' };
const services = [makeService('default', 'a'), makeService('default', 'b'), makeService('other', 'c')];
const slices = [makeSlice('default', 'a', ['10.1.0.1'], [{ port: 8080 }]), makeSlice('default', 'b', ['10.1.0.2'], [{ port: 8080 }])];
const input = (over: Partial<GatewayInput>): GatewayInput => ({
  gatewayClasses: [makeGatewayClass('podgate')], gateways: [makeGateway('default', 'gw', [{ name: 'http', protocol: 'HTTP', port: 80 }])],
  httpRoutes: [], services, endpointSlices: slices, secrets: [], ...over,
});
const cond = (conds: unknown, type: string) => (conds as { type: string; status: string; reason: string }[]).find((c) => c.type === type);
const routeCond = (plan: ReturnType<typeof translateGateway>, key: string, type: string) => cond((plan.routeParents.get(key)?.[0] as { conditions: unknown }).conditions, type);
const backendsTo = (name: string, port = 80) => [{ name, port }];

describe('translateGateway: GatewayClass and Gateway status', () => {
  it('accepts only classes naming podgate.io/gateway-controller (GatewayClassConditionReason Accepted)', () => {
    const plan = translateGateway(input({ gatewayClasses: [makeGatewayClass('podgate'), makeGatewayClass('theirs', 'example.com/other')] }), opts);
    assert.deepEqual([...plan.classStatus.keys()], ['podgate']);
    assert.deepEqual(cond(plan.classStatus.get('podgate')!.conditions, 'Accepted'), { type: 'Accepted', status: 'True', reason: 'Accepted', message: 'Handled by podgate.io/gateway-controller', observedGeneration: 1, lastTransitionTime: opts.now });
  });

  it('programs listeners on the proxy ports; another port is PortUnavailable, another protocol UnsupportedProtocol (ListenerConditionReason)', () => {
    const gw = makeGateway('default', 'gw', [
      { name: 'http', protocol: 'HTTP', port: 80 }, { name: 'alt', protocol: 'HTTP', port: 8080 }, { name: 'tcp', protocol: 'TCP', port: 80 },
    ]);
    const st = translateGateway(input({ gateways: [gw] }), opts).gatewayStatus.get('default/gw') as { addresses: unknown; conditions: unknown; listeners: { name: string; conditions: unknown; supportedKinds: unknown[] }[] };
    assert.deepEqual(st.addresses, [{ type: 'IPAddress', value: '10.0.0.5' }]);
    const l = (n: string) => st.listeners.find((x) => x.name === n)!;
    assert.equal(cond(l('http').conditions, 'Programmed')!.status, 'True');
    assert.deepEqual([cond(l('alt').conditions, 'Accepted')!.status, cond(l('alt').conditions, 'Accepted')!.reason], ['False', 'PortUnavailable']);
    assert.deepEqual([cond(l('tcp').conditions, 'Accepted')!.status, cond(l('tcp').conditions, 'Accepted')!.reason], ['False', 'UnsupportedProtocol']);
    assert.deepEqual(l('tcp').supportedKinds, []);
    // GatewayConditionReason ListenersNotValid: accepted (one listener works), programmed.
    assert.deepEqual([cond(st.conditions, 'Accepted')!.status, cond(st.conditions, 'Accepted')!.reason], ['True', 'ListenersNotValid']);
    assert.equal(cond(st.conditions, 'Programmed')!.status, 'True');
  });

  it('keeps lastTransitionTime when a condition keeps its status (metav1.Condition)', () => {
    const gc = makeGatewayClass('podgate');
    gc.status = { conditions: [{ type: 'Accepted', status: 'True', reason: 'Accepted', message: 'x', lastTransitionTime: '2025-01-01T00:00:00Z' }] };
    const plan = translateGateway(input({ gatewayClasses: [gc] }), opts);
    assert.equal(plan.classStatus.get('podgate')!.conditions[0]!.lastTransitionTime, '2025-01-01T00:00:00Z');
  });
});

describe('translateGateway: HTTPRoute attachment (RouteConditionReason)', () => {
  const cases: { name: string; route: HTTPRoute; gateways?: GatewayInput['gateways']; accepted: [string, string]; resolved?: [string, string]; attached?: number }[] = [
    { name: 'a route in the Gateway\'s namespace is Accepted (From: Same by default)', route: makeRoute('default', 'r', { parentRefs: [{ name: 'gw' }], rules: [{ backendRefs: backendsTo('a') }] }), accepted: ['True', 'Accepted'], resolved: ['True', 'ResolvedRefs'], attached: 1 },
    { name: 'another namespace under From: Same is NotAllowedByListeners', route: makeRoute('other', 'r', { parentRefs: [{ name: 'gw', namespace: 'default' }], rules: [{ backendRefs: backendsTo('c') }] }), accepted: ['False', 'NotAllowedByListeners'], attached: 0 },
    { name: 'another namespace under From: All is Accepted', route: makeRoute('other', 'r', { parentRefs: [{ name: 'gw', namespace: 'default' }], rules: [{ backendRefs: backendsTo('c') }] }), gateways: [makeGateway('default', 'gw', [{ name: 'http', protocol: 'HTTP', port: 80, allowedRoutes: { namespaces: { from: 'All' } } }])], accepted: ['True', 'Accepted'], attached: 1 },
    { name: 'a sectionName no listener has is NoMatchingParent', route: makeRoute('default', 'r', { parentRefs: [{ name: 'gw', sectionName: 'nope' }] }), accepted: ['False', 'NoMatchingParent'] },
    { name: 'hostnames no listener hostname admits are NoMatchingListenerHostname', route: makeRoute('default', 'r', { parentRefs: [{ name: 'gw' }], hostnames: ['b.example.org'] }), gateways: [makeGateway('default', 'gw', [{ name: 'http', protocol: 'HTTP', port: 80, hostname: '*.example.com' }])], accepted: ['False', 'NoMatchingListenerHostname'] },
    { name: 'a missing Service is BackendNotFound, still Accepted', route: makeRoute('default', 'r', { parentRefs: [{ name: 'gw' }], rules: [{ backendRefs: backendsTo('missing') }] }), accepted: ['True', 'Accepted'], resolved: ['False', 'BackendNotFound'] },
    { name: 'a backendRef to another namespace without a ReferenceGrant is RefNotPermitted', route: makeRoute('default', 'r', { parentRefs: [{ name: 'gw' }], rules: [{ backendRefs: [{ name: 'c', namespace: 'other', port: 80 }] }] }), accepted: ['True', 'Accepted'], resolved: ['False', 'RefNotPermitted'] },
    { name: 'a backendRef of another kind is InvalidKind', route: makeRoute('default', 'r', { parentRefs: [{ name: 'gw' }], rules: [{ backendRefs: [{ name: 'x', kind: 'Bucket', group: 'example.com', port: 80 }] }] }), accepted: ['True', 'Accepted'], resolved: ['False', 'InvalidKind'] },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const plan = translateGateway(input({ httpRoutes: [c.route], ...(c.gateways ? { gateways: c.gateways } : {}) }), opts);
      const key = `${c.route.metadata!.namespace}/${c.route.metadata!.name}`;
      const a = routeCond(plan, key, 'Accepted')!;
      assert.deepEqual([a.status, a.reason], c.accepted);
      if (c.resolved) { const r = routeCond(plan, key, 'ResolvedRefs')!; assert.deepEqual([r.status, r.reason], c.resolved); }
      if (c.attached !== undefined) {
        const st = plan.gatewayStatus.get('default/gw') as { listeners: { attachedRoutes: number }[] };
        assert.equal(st.listeners[0]!.attachedRoutes, c.attached);
      }
    });
  }

  it('writes no parent status for a Gateway of another controller', () => {
    const plan = translateGateway(input({ gateways: [makeGateway('default', 'gw', [{ name: 'http', protocol: 'HTTP', port: 80 }], 'theirs')], httpRoutes: [makeRoute('default', 'r', { parentRefs: [{ name: 'gw' }] })] }), opts);
    assert.equal(plan.routeParents.size, 0);
    assert.equal(plan.hosts.length, 0);
  });

  it('gives a rule with an invalid backend a backend without endpoints list entry (500 at request time)', () => {
    const plan = translateGateway(input({ httpRoutes: [makeRoute('default', 'r', { parentRefs: [{ name: 'gw' }], rules: [{ backendRefs: [...backendsTo('missing'), { name: 'a', port: 80, weight: 3 }] }] })] }), opts);
    const rule = plan.hosts[0]!.rules[0]!;
    assert.deepEqual(rule.backends.map((b) => [b.weight, b.backend?.name]), [[1, undefined], [3, 'default/a:80']]);
  });
});

describe('intersectHostnames (HTTPRoute spec.hostnames and Listener hostname)', () => {
  const cases: [string | undefined, string[], string[]][] = [
    [undefined, [], ['']],
    [undefined, ['a.example.com'], ['a.example.com']],
    ['a.example.com', [], ['a.example.com']],
    ['*.example.com', ['a.example.com', 'a.b.example.com', 'example.com'], ['a.b.example.com', 'a.example.com']],
    ['a.example.com', ['*.example.com'], ['a.example.com']],
    ['*.example.com', ['*.a.example.com'], ['*.a.example.com']],
    ['a.example.com', ['b.example.com'], []],
  ];
  for (const [l, r, want] of cases) it(`${l ?? '(none)'} ∩ ${JSON.stringify(r)} = ${JSON.stringify(want)}`, () => assert.deepEqual(intersectHostnames(l, r), want));
});

describe('match precedence (HTTPRouteRule: "continuing on ties")', () => {
  it('orders Exact > RegularExpression > longest PathPrefix > method > most headers > most query params > oldest route > rule order', () => {
    const t1 = '2026-01-01T00:00:00Z', t2 = '2026-01-02T00:00:00Z';
    const routes = [
      makeRoute('default', 'young', { parentRefs: [{ name: 'gw' }], rules: [{ matches: [{ path: { type: 'PathPrefix', value: '/' } }], backendRefs: backendsTo('a') }] }, t2),
      makeRoute('default', 'old', {
        parentRefs: [{ name: 'gw' }],
        rules: [
          { matches: [{ path: { type: 'PathPrefix', value: '/' } }], backendRefs: backendsTo('a') },
          { matches: [{ path: { type: 'PathPrefix', value: '/' }, queryParams: [{ name: 'q', value: '1' }] }], backendRefs: backendsTo('a') },
          { matches: [{ path: { type: 'PathPrefix', value: '/' }, headers: [{ name: 'X-A', value: '1' }] }], backendRefs: backendsTo('a') },
          { matches: [{ path: { type: 'PathPrefix', value: '/' }, headers: [{ name: 'X-A', value: '1' }, { name: 'X-B', value: '1' }] }], backendRefs: backendsTo('a') },
          { matches: [{ path: { type: 'PathPrefix', value: '/' }, method: 'POST' }], backendRefs: backendsTo('a') },
          { matches: [{ path: { type: 'PathPrefix', value: '/api' } }], backendRefs: backendsTo('a') },
          { matches: [{ path: { type: 'RegularExpression', value: '/r.*' } }], backendRefs: backendsTo('a') },
          { matches: [{ path: { type: 'Exact', value: '/x' } }], backendRefs: backendsTo('a') },
        ],
      }, t1),
    ];
    const plan = translateGateway(input({ httpRoutes: routes }), opts);
    assert.deepEqual(plan.hosts[0]!.rules.map((r) => r.id.replace(/\|http$/, '')), [
      'default/old|7|0', 'default/old|6|0', 'default/old|5|0', 'default/old|4|0', 'default/old|3|0', 'default/old|2|0', 'default/old|1|0', 'default/old|0|0', 'default/young|0|0',
    ]);
  });

  it('breaks a tie between routes of the same age by namespace/name', () => {
    const r = (id: string): GatewayRule => ({ id, route: id, match: { path: { type: 'PathPrefix', value: '/' }, headers: [], queryParams: [] }, backends: [], filters: {}, options: {} as never, secure: false });
    // `age` is the index in creation-time then namespace/name order (translateGateway sorts routes so).
    assert.ok(comparePrecedence({ rule: r('a/x'), age: 0, ri: 0, mi: 0 }, { rule: r('b/x'), age: 1, ri: 0, mi: 0 }) < 0);
    const same = '2026-01-01T00:00:00Z';
    const plan = translateGateway(input({ httpRoutes: [makeRoute('default', 'zz', { parentRefs: [{ name: 'gw' }], rules: [{ backendRefs: backendsTo('a') }] }, same), makeRoute('default', 'aa', { parentRefs: [{ name: 'gw' }], rules: [{ backendRefs: backendsTo('b') }] }, same)] }), opts);
    assert.deepEqual(plan.hosts[0]!.rules.map((x) => x.route), ['default/aa', 'default/zz']);
  });

  it('fills in the CRD defaults of a rule without matches: PathPrefix "/"', () => {
    const plan = translateGateway(input({ httpRoutes: [makeRoute('default', 'r', { parentRefs: [{ name: 'gw' }], rules: [{ backendRefs: backendsTo('a') }] })] }), opts);
    assert.deepEqual(plan.hosts[0]!.rules[0]!.match, { path: { type: 'PathPrefix', value: '/' }, headers: [], queryParams: [] });
  });
});

type Plan = ReturnType<typeof translateGateway>;
type ListenerStatus = { name: string; supportedKinds: unknown[]; attachedRoutes: number; conditions: unknown };
const listenerOf = (plan: Plan, name: string, gw = 'default/gw') => (plan.gatewayStatus.get(gw) as { listeners: ListenerStatus[] }).listeners.find((l) => l.name === name)!;
const pair = (c: { status: string; reason: string } | undefined) => [c?.status, c?.reason];
const acceptedOf = (plan: Plan, key = 'default/r') => routeCond(plan, key, 'Accepted') as unknown as { status: string; reason: string; message: string };

// Finding 1: header modifiers that could desynchronise a kept-alive upstream connection (or split
// headers with CR/LF) are refused at translation; the route is not Accepted and nothing of it is
// programmed. HTTPHeaderFilter; HeaderName pattern ^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$ (shared_types.go).
describe('translateGateway: header modifiers that would reach the wire unsafely (HTTPHeaderFilter)', () => {
  type Mod = { set?: { name: string; value: string }[]; add?: { name: string; value: string }[]; remove?: string[] };
  const req = (m: Mod) => [{ type: 'RequestHeaderModifier' as const, requestHeaderModifier: m }];
  const resp = (m: Mod) => [{ type: 'ResponseHeaderModifier' as const, responseHeaderModifier: m }];
  const cases: { name: string; filters: NonNullable<NonNullable<HTTPRoute['spec']>['rules']>[number]['filters']; header?: string }[] = [
    { name: 'request set Content-Length: 0 (a POST body read as a second request)', filters: req({ set: [{ name: 'Content-Length', value: '0' }] }), header: 'Content-Length' },
    { name: 'request add Transfer-Encoding', filters: req({ add: [{ name: 'Transfer-Encoding', value: 'chunked' }] }), header: 'Transfer-Encoding' },
    { name: 'request remove CONNECTION (names case-insensitive)', filters: req({ remove: ['CONNECTION'] }), header: 'CONNECTION' },
    { name: 'request set keep-alive', filters: req({ set: [{ name: 'keep-alive', value: 'timeout=5' }] }), header: 'keep-alive' },
    { name: 'request set TE', filters: req({ set: [{ name: 'TE', value: 'trailers' }] }), header: 'TE' },
    { name: 'request add Trailer', filters: req({ add: [{ name: 'Trailer', value: 'X' }] }), header: 'Trailer' },
    { name: 'request set Upgrade', filters: req({ set: [{ name: 'Upgrade', value: 'websocket' }] }), header: 'Upgrade' },
    { name: 'request set Proxy-Connection', filters: req({ set: [{ name: 'Proxy-Connection', value: 'close' }] }), header: 'Proxy-Connection' },
    { name: 'request set Host (URLRewrite hostname is the way)', filters: req({ set: [{ name: 'Host', value: 'evil.example.com' }] }), header: 'Host' },
    { name: 'response set content-length', filters: resp({ set: [{ name: 'content-length', value: '1' }] }), header: 'content-length' },
    { name: 'response remove Transfer-Encoding', filters: resp({ remove: ['Transfer-Encoding'] }), header: 'Transfer-Encoding' },
    { name: 'a name with CR LF (header splitting)', filters: req({ set: [{ name: 'X-A\r\nContent-Length', value: '0' }] }), header: 'X-A' },
    { name: 'a name with a space', filters: req({ add: [{ name: 'X A', value: '1' }] }), header: 'X A' },
    { name: 'a value with CR LF', filters: req({ set: [{ name: 'X-A', value: 'ok\r\nContent-Length: 0' }] }), header: 'X-A' },
    { name: 'a value with NUL', filters: resp({ add: [{ name: 'X-A', value: 'a\u0000b' }] }), header: 'X-A' },
    { name: 'a value with DEL', filters: req({ set: [{ name: 'X-A', value: 'a\u007fb' }] }), header: 'X-A' },
    { name: 'a value with a tab is fine', filters: req({ set: [{ name: 'X-A', value: 'a\tb' }], add: [{ name: "X-!#$%&'*+-.^_`|~", value: 'v' }], remove: ['X-Old'] }) },
  ];
  for (const c of cases) {
    it(`${c.header ? 'refuses' : 'accepts'} ${c.name}`, () => {
      const route = makeRoute('default', 'r', { parentRefs: [{ name: 'gw' }], rules: [{ backendRefs: backendsTo('a') }, { matches: [{ path: { type: 'PathPrefix', value: '/x' } }], filters: c.filters, backendRefs: backendsTo('a') }] });
      const plan = translateGateway(input({ httpRoutes: [route] }), opts);
      const a = acceptedOf(plan);
      if (!c.header) { assert.deepEqual(pair(a), ['True', 'Accepted']); assert.equal(plan.hosts[0]!.rules.length, 2); return; }
      assert.deepEqual(pair(a), ['False', 'UnsupportedValue']);
      assert.ok(a.message.startsWith('spec.rules[1]: '), a.message);
      assert.ok(a.message.includes(JSON.stringify(c.header).slice(1, -1)) || a.message.includes(c.header), a.message);
      // The route as a whole is not Accepted: neither the bad rule nor the good one is programmed.
      assert.deepEqual(plan.hosts, []);
      assert.equal(listenerOf(plan, 'http').attachedRoutes, 0);
    });
  }
});

// Finding 2: attachment comes from parentRefs and allowedRoutes only; listener status does not
// impact it (ListenerStatus.attachedRoutes, gateway_types.go; conformance GatewayWithAttachedRoutes
// "unresolved-gateway-with-one-attached-unresolved-route", GatewayInvalidRouteKind).
describe('translateGateway: attachment regardless of listener validity, supportedKinds', () => {
  it('counts a route on an HTTPS listener whose certificate does not resolve, without programming it', () => {
    const gw = makeGateway('default', 'gw', [{ name: 'tls', protocol: 'HTTPS', port: 443, tls: { mode: 'Terminate', certificateRefs: [{ group: '', kind: 'Secret', name: 'does-not-exist' }] } }]);
    const plan = translateGateway(input({ gateways: [gw], httpRoutes: [makeRoute('default', 'r', { parentRefs: [{ name: 'gw', sectionName: 'tls' }], rules: [{ backendRefs: backendsTo('does-not-exist', 8080) }] })] }), opts);
    const l = listenerOf(plan, 'tls');
    assert.equal(l.attachedRoutes, 1);
    assert.deepEqual(l.supportedKinds, [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute' }]);
    assert.deepEqual(pair(cond(l.conditions, 'Programmed')), ['False', 'Invalid']);
    assert.deepEqual(pair(cond(l.conditions, 'ResolvedRefs')), ['False', 'InvalidCertificateRef']);
    assert.deepEqual(pair(acceptedOf(plan)), ['True', 'Accepted']);
    assert.deepEqual(pair(routeCond(plan, 'default/r', 'ResolvedRefs')), ['False', 'BackendNotFound']);
    assert.deepEqual(plan.hosts, []);
  });

  it('counts a route on a listener that is not Accepted (PortUnavailable), without programming it', () => {
    const gw = makeGateway('default', 'gw', [{ name: 'http', protocol: 'HTTP', port: 80 }, { name: 'alt', protocol: 'HTTP', port: 8080 }]);
    const plan = translateGateway(input({ gateways: [gw], httpRoutes: [makeRoute('default', 'r', { parentRefs: [{ name: 'gw', port: 8080 }], rules: [{ backendRefs: backendsTo('a') }] })] }), opts);
    assert.equal(listenerOf(plan, 'alt').attachedRoutes, 1);
    assert.equal(listenerOf(plan, 'http').attachedRoutes, 0);
    assert.deepEqual(pair(acceptedOf(plan)), ['True', 'Accepted']);
    assert.deepEqual(plan.hosts, []);
  });

  it('lists no supportedKinds when only invalid kinds are allowed (InvalidRouteKinds); routes are NotAllowedByListeners', () => {
    const gw = makeGateway('default', 'gw', [{ name: 'http', protocol: 'HTTP', port: 80, allowedRoutes: { namespaces: { from: 'All' }, kinds: [{ kind: 'InvalidRoute' }] } }]);
    const plan = translateGateway(input({ gateways: [gw], httpRoutes: [makeRoute('default', 'r', { parentRefs: [{ name: 'gw' }], rules: [{ backendRefs: backendsTo('a') }] })] }), opts);
    const l = listenerOf(plan, 'http');
    assert.deepEqual(l.supportedKinds, []);
    assert.deepEqual(pair(cond(l.conditions, 'ResolvedRefs')), ['False', 'InvalidRouteKinds']);
    assert.equal(l.attachedRoutes, 0);
    assert.deepEqual(pair(acceptedOf(plan)), ['False', 'NotAllowedByListeners']);
  });

  it('keeps serving HTTPRoute on a listener allowing [InvalidRoute, HTTPRoute], with ResolvedRefs False InvalidRouteKinds', () => {
    const gw = makeGateway('default', 'gw', [{ name: 'http', protocol: 'HTTP', port: 80, allowedRoutes: { namespaces: { from: 'All' }, kinds: [{ kind: 'InvalidRoute' }, { kind: 'HTTPRoute' }] } }]);
    const plan = translateGateway(input({ gateways: [gw], httpRoutes: [makeRoute('default', 'r', { parentRefs: [{ name: 'gw' }], rules: [{ backendRefs: backendsTo('a') }] })] }), opts);
    const l = listenerOf(plan, 'http');
    assert.deepEqual(l.supportedKinds, [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute' }]);
    assert.deepEqual(pair(cond(l.conditions, 'ResolvedRefs')), ['False', 'InvalidRouteKinds']);
    assert.deepEqual(pair(cond(l.conditions, 'Programmed')), ['True', 'Programmed']);
    assert.equal(l.attachedRoutes, 1);
    assert.equal(plan.hosts[0]!.rules.length, 1);
  });

  it('counts a route whose two parentRefs pick the same listener once', () => {
    const plan = translateGateway(input({ httpRoutes: [makeRoute('default', 'r', { parentRefs: [{ name: 'gw' }, { name: 'gw', sectionName: 'http' }], rules: [{ backendRefs: backendsTo('a') }] })] }), opts);
    assert.equal(listenerOf(plan, 'http').attachedRoutes, 1);
    assert.equal(plan.routeParents.get('default/r')!.length, 2);
  });
});

// Finding 3: an HTTPS listener without a hostname serves its certificate for the hostnames of the
// routes attached to it (conformance HTTPRouteHTTPSListener: listener `https` without hostname,
// route hostname example.org).
describe('translateGateway: certificates of HTTPS listeners without a hostname', () => {
  const secrets: GatewayInput['secrets'][number][] = [];
  before(async () => {
    const d = new Date('2026-01-01T00:00:00Z');
    const ca = await createCertificateAuthority({ commonName: 'test ca', now: d });
    for (const n of ['one', 'two']) {
      const c = await issueCertificate(ca, { commonName: `${n}.example.org`, usage: 'server', hosts: { dnsNames: [`${n}.example.org`], ips: [] }, now: d });
      secrets.push(makeTlsSecret('default', `${n}-tls`, c.certPem, c.keyPem));
    }
  });
  const https = (name: string, secret: string, hostname?: string) => ({ name, protocol: 'HTTPS' as const, port: 443, ...(hostname ? { hostname } : {}), tls: { mode: 'Terminate' as const, certificateRefs: [{ name: secret }] } });
  const certs = (plan: Plan) => plan.certificates.map((c) => [c.secret, [...c.hosts]]);

  it('registers the listener certificate for the attached routes\' hostnames', () => {
    const gw = makeGateway('default', 'gw', [https('https', 'one-tls')]);
    const plan = translateGateway(input({ gateways: [gw], secrets, httpRoutes: [makeRoute('default', 'r', { parentRefs: [{ name: 'gw' }], hostnames: ['example.org', '*.wild.example.org'], rules: [{ backendRefs: backendsTo('a') }] })] }), opts);
    assert.deepEqual(certs(plan), [['default/one-tls', ['*.wild.example.org', 'example.org']]]);
  });

  it('registers it for any name (\'\') for a route without hostnames', () => {
    const gw = makeGateway('default', 'gw', [https('https', 'one-tls')]);
    const plan = translateGateway(input({ gateways: [gw], secrets, httpRoutes: [makeRoute('default', 'r', { parentRefs: [{ name: 'gw' }], rules: [{ backendRefs: backendsTo('a') }] })] }), opts);
    assert.deepEqual(certs(plan), [['default/one-tls', ['']]]);
  });

  it('lets a listener that names the host keep it, and registers nothing without Accepted routes', () => {
    const gw = makeGateway('default', 'gw', [https('any', 'one-tls'), https('named', 'two-tls', 'shop.example.org')]);
    const route = makeRoute('default', 'r', { parentRefs: [{ name: 'gw' }], hostnames: ['shop.example.org', 'a.example.org'], rules: [{ backendRefs: backendsTo('a') }] });
    assert.deepEqual(certs(translateGateway(input({ gateways: [gw], secrets, httpRoutes: [route] }), opts)), [['default/one-tls', ['a.example.org']], ['default/two-tls', ['shop.example.org']]]);
    const bad = makeRoute('default', 'r', { parentRefs: [{ name: 'gw', sectionName: 'any' }], hostnames: ['a.example.org'], rules: [{ matches: [{ path: { type: 'RegularExpression', value: '(a)\\1' } }], backendRefs: backendsTo('a') }] });
    assert.deepEqual(certs(translateGateway(input({ gateways: [gw], secrets, httpRoutes: [bad] }), opts)), [['default/two-tls', ['shop.example.org']]]);
  });
});

// Finding 4: regular expressions V8's linear-time fallback cannot run are refused (Envoy-based
// implementations accept RE2 only: RegexMatcher google_re2, "designed to complete execution in
// linear time"). PathMatchRegularExpression / HeaderMatchRegularExpression are implementation-specific.
describe('translateGateway: RegularExpression matches must run in linear time', () => {
  const cases: { name: string; match: NonNullable<NonNullable<NonNullable<HTTPRoute['spec']>['rules']>[number]['matches']>[number]; ok: boolean }[] = [
    { name: 'a path with a backreference (a|a)*\\1b', match: { path: { type: 'RegularExpression', value: '/(a|a)*\\1b' } }, ok: false },
    { name: 'a path with a named backreference', match: { path: { type: 'RegularExpression', value: '/(?<x>a)\\k<x>' } }, ok: false },
    { name: 'a header with a lookahead', match: { headers: [{ name: 'X-A', type: 'RegularExpression', value: 'a(?=b)b' }] }, ok: false },
    { name: 'a header with a negative lookahead', match: { headers: [{ name: 'X-A', type: 'RegularExpression', value: '(?!x).*' }] }, ok: false },
    { name: 'a query param with a backreference', match: { queryParams: [{ name: 'q', type: 'RegularExpression', value: '(a+)+\\1' }] }, ok: false },
    { name: 'a counted repetition the linear engine cannot unroll', match: { path: { type: 'RegularExpression', value: '/(a|aa){1,1000}' } }, ok: false },
    { name: 'an invalid expression', match: { path: { type: 'RegularExpression', value: '/(' } }, ok: false },
    { name: 'nested quantifiers (linear engine takes them over)', match: { path: { type: 'RegularExpression', value: '/(a+)+b' }, headers: [{ name: 'X-V', type: 'RegularExpression', value: 'v[0-9]{1,3}' }] }, ok: true },
  ];
  for (const c of cases) {
    it(`${c.ok ? 'accepts' : 'refuses'} ${c.name}`, () => {
      const plan = translateGateway(input({ httpRoutes: [makeRoute('default', 'r', { parentRefs: [{ name: 'gw' }], rules: [{ matches: [c.match], backendRefs: backendsTo('a') }] })] }), opts);
      assert.deepEqual(pair(acceptedOf(plan)), c.ok ? ['True', 'Accepted'] : ['False', 'UnsupportedValue']);
      assert.equal(plan.hosts.length, c.ok ? 1 : 0);
    });
  }
});

// Finding 5: the CRD's CEL rules the served schema does not enforce, and the "MUST be ignored"
// duplicates of HTTPHeaderMatch / HTTPQueryParamMatch names (httproute_types.go).
describe('translateGateway: the CRD\'s CEL rules and duplicate match names', () => {
  type RuleSpec = NonNullable<NonNullable<HTTPRoute['spec']>['rules']>[number];
  const rewritePrefix = { type: 'URLRewrite' as const, urlRewrite: { path: { type: 'ReplacePrefixMatch' as const, replacePrefixMatch: '/new' } } };
  const redirectPrefix = { type: 'RequestRedirect' as const, requestRedirect: { path: { type: 'ReplacePrefixMatch' as const, replacePrefixMatch: '/new' } } };
  const cases: { name: string; rule: RuleSpec; accepted: [string, string] }[] = [
    { name: 'URLRewrite ReplacePrefixMatch with a RegularExpression match', rule: { matches: [{ path: { type: 'RegularExpression', value: '/old.*' } }], filters: [rewritePrefix], backendRefs: backendsTo('a') }, accepted: ['False', 'UnsupportedValue'] },
    { name: 'URLRewrite ReplacePrefixMatch with an Exact match', rule: { matches: [{ path: { type: 'Exact', value: '/old' } }], filters: [rewritePrefix], backendRefs: backendsTo('a') }, accepted: ['False', 'UnsupportedValue'] },
    { name: 'RequestRedirect ReplacePrefixMatch with two PathPrefix matches (CEL: exactly one)', rule: { matches: [{ path: { type: 'PathPrefix', value: '/a' } }, { path: { type: 'PathPrefix', value: '/b' } }], filters: [redirectPrefix] }, accepted: ['False', 'UnsupportedValue'] },
    { name: 'URLRewrite ReplacePrefixMatch with one PathPrefix match', rule: { matches: [{ path: { type: 'PathPrefix', value: '/old' } }], filters: [rewritePrefix], backendRefs: backendsTo('a') }, accepted: ['True', 'Accepted'] },
    { name: 'RequestRedirect ReplacePrefixMatch with the default match (PathPrefix /)', rule: { filters: [redirectPrefix] }, accepted: ['True', 'Accepted'] },
    { name: 'RequestRedirect and URLRewrite in one rule (IncompatibleFilters)', rule: { filters: [{ type: 'RequestRedirect', requestRedirect: { hostname: 'x.example.com' } }, { type: 'URLRewrite', urlRewrite: { hostname: 'y.example.com' } }] }, accepted: ['False', 'IncompatibleFilters'] },
    { name: 'RequestRedirect with backendRefs', rule: { filters: [{ type: 'RequestRedirect', requestRedirect: { hostname: 'x.example.com' } }], backendRefs: backendsTo('a') }, accepted: ['False', 'IncompatibleFilters'] },
    { name: 'a repeated RequestHeaderModifier', rule: { filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'X-A', value: '1' }] } }, { type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'X-B', value: '1' }] } }], backendRefs: backendsTo('a') }, accepted: ['False', 'UnsupportedValue'] },
  ];
  for (const c of cases) {
    it(`${c.accepted[0] === 'True' ? 'accepts' : 'refuses'} ${c.name}`, () => {
      const plan = translateGateway(input({ httpRoutes: [makeRoute('default', 'r', { parentRefs: [{ name: 'gw' }], rules: [c.rule] })] }), opts);
      assert.deepEqual(pair(acceptedOf(plan)), c.accepted);
      assert.equal(plan.hosts.length, c.accepted[0] === 'True' ? 1 : 0);
    });
  }

  it('ignores later header matches with an equivalent name (case-insensitive) and later query params of the same name', () => {
    const plan = translateGateway(input({ httpRoutes: [makeRoute('default', 'r', { parentRefs: [{ name: 'gw' }], rules: [{ matches: [{
      headers: [{ name: 'X-Env', value: 'one' }, { name: 'x-env', value: 'two' }, { name: 'X-ENV', type: 'RegularExpression', value: '.*' }, { name: 'X-Other', value: '3' }],
      queryParams: [{ name: 'q', value: '1' }, { name: 'q', value: '2' }, { name: 'Q', value: '3' }],
    }], backendRefs: backendsTo('a') }] })] }), opts);
    const m = plan.hosts[0]!.rules[0]!.match;
    assert.deepEqual(m.headers, [{ type: 'Exact', name: 'x-env', value: 'one' }, { type: 'Exact', name: 'x-other', value: '3' }]);
    // HTTPQueryParamMatch.name "must be an exact string match": q and Q are different parameters.
    assert.deepEqual(m.queryParams, [{ type: 'Exact', name: 'q', value: '1' }, { type: 'Exact', name: 'Q', value: '3' }]);
  });
});

// ReferenceGrant (referencegrant_types.go): a backendRef or certificateRef into another namespace is
// permitted only by a grant in the referent's namespace whose `from` names the referring kind and
// namespace and whose `to` names the referent's kind (and its name, or none: all of that kind).
// Conformance HTTPRouteReferenceGrant, HTTPRouteInvalidReferenceGrant,
// HTTPRoutePartiallyInvalidViaInvalidReferenceGrant, GatewaySecretReferenceGrantSpecific /
// AllInNamespace / InvalidReferenceGrant / MissingReferenceGrant.
type Grant = NonNullable<GatewayInput['referenceGrants']>[number];
type GrantFrom = NonNullable<Grant['spec']>['from'][number];
type GrantTo = NonNullable<Grant['spec']>['to'][number];
const grant = (ns: string, name: string, from: GrantFrom[], to: GrantTo[]): Grant =>
  ({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'ReferenceGrant', metadata: { namespace: ns, name }, spec: { from, to } });
const GW = 'gateway.networking.k8s.io';

describe('translateGateway: ReferenceGrant permits HTTPRoute backendRefs across namespaces', () => {
  const fromRoutes: GrantFrom = { group: GW, kind: 'HTTPRoute', namespace: 'default' };
  const toC: GrantTo = { group: '', kind: 'Service', name: 'c' };
  const crossRoute = () => makeRoute('default', 'r', { parentRefs: [{ name: 'gw' }], rules: [{ backendRefs: [{ name: 'c', namespace: 'other', port: 80 }] }] });
  const cases: { name: string; grants: Grant[]; ok: boolean }[] = [
    { name: 'no grant', grants: [], ok: false },
    { name: 'a grant naming the Service', grants: [grant('other', 'g', [fromRoutes], [toC])], ok: true },
    { name: 'a grant without a name in `to` (every Service of the namespace)', grants: [grant('other', 'g', [fromRoutes], [{ group: '', kind: 'Service' }])], ok: true },
    { name: 'a grant naming another Service', grants: [grant('other', 'g', [fromRoutes], [{ group: '', kind: 'Service', name: 'not-c' }])], ok: false },
    { name: 'a grant from another namespace', grants: [grant('other', 'g', [{ ...fromRoutes, namespace: 'elsewhere' }], [toC])], ok: false },
    { name: 'a grant from another kind (Gateway)', grants: [grant('other', 'g', [{ ...fromRoutes, kind: 'Gateway' }], [toC])], ok: false },
    { name: 'a grant from another group', grants: [grant('other', 'g', [{ ...fromRoutes, group: 'example.com' }], [toC])], ok: false },
    { name: 'a grant to another kind (Secret)', grants: [grant('other', 'g', [fromRoutes], [{ group: '', kind: 'Secret', name: 'c' }])], ok: false },
    { name: 'a grant to another group', grants: [grant('other', 'g', [fromRoutes], [{ ...toC, group: 'example.com' }])], ok: false },
    { name: 'a matching grant in the route\'s namespace, not the Service\'s', grants: [grant('default', 'g', [fromRoutes], [toC])], ok: false },
    { name: 'one matching entry among others (from and to entries are ORed)', grants: [grant('other', 'g', [{ ...fromRoutes, namespace: 'x' }, fromRoutes], [{ group: '', kind: 'Secret' }, toC])], ok: true },
    { name: 'the full set of conformance HTTPRouteInvalidReferenceGrant near misses', grants: [
      grant('default', 'wrong-namespace', [fromRoutes], [toC]),
      grant('other', 'wrong-from-group', [{ ...fromRoutes, group: 'not-the-group-youre-looking-for' }], [toC]),
      grant('other', 'wrong-from-kind', [{ ...fromRoutes, kind: 'Gateway' }], [toC]),
      grant('other', 'wrong-from-namespace', [{ ...fromRoutes, namespace: 'not-the-namespace-youre-looking-for' }], [toC]),
      grant('other', 'wrong-to-group', [fromRoutes], [{ ...toC, group: 'not-the-group-youre-looking-for' }]),
      grant('other', 'wrong-to-kind', [fromRoutes], [{ group: '', kind: 'Secret', name: 'c' }]),
      grant('other', 'wrong-to-name', [fromRoutes], [{ group: '', kind: 'Secret', name: 'not-the-service-youre-looking-for' }]),
    ], ok: false },
  ];
  for (const c of cases) {
    it(`${c.ok ? 'permits' : 'refuses (RefNotPermitted)'} with ${c.name}`, () => {
      const plan = translateGateway(input({ httpRoutes: [crossRoute()], referenceGrants: c.grants }), opts);
      // The route is Accepted either way; only ResolvedRefs and the backend differ.
      assert.deepEqual(pair(acceptedOf(plan)), ['True', 'Accepted']);
      assert.deepEqual(pair(routeCond(plan, 'default/r', 'ResolvedRefs')), c.ok ? ['True', 'ResolvedRefs'] : ['False', 'RefNotPermitted']);
      // A refused backend keeps its weight with no backend: the proxy answers 500 for its share.
      assert.deepEqual(plan.hosts[0]!.rules[0]!.backends.map((b) => [b.weight, b.backend?.name]), [[1, c.ok ? 'other/c:80' : undefined]]);
    });
  }

  it('refuses only the backend the grant does not cover (HTTPRoutePartiallyInvalidViaInvalidReferenceGrant)', () => {
    const route = makeRoute('default', 'r', { parentRefs: [{ name: 'gw' }], rules: [
      { matches: [{ path: { type: 'PathPrefix', value: '/v2' } }], backendRefs: [{ name: 'd', namespace: 'other', port: 80 }] },
      { backendRefs: [{ name: 'c', namespace: 'other', port: 80 }] },
    ] });
    const plan = translateGateway(input({ services: [...services, makeService('other', 'd')], httpRoutes: [route], referenceGrants: [grant('other', 'g', [fromRoutes], [toC])] }), opts);
    assert.deepEqual(pair(acceptedOf(plan)), ['True', 'Accepted']);
    const rr = routeCond(plan, 'default/r', 'ResolvedRefs') as unknown as { status: string; reason: string; message: string };
    assert.deepEqual(pair(rr), ['False', 'RefNotPermitted']);
    assert.match(rr.message, /other\/d/);
    const byPath = new Map(plan.hosts[0]!.rules.map((r) => [r.match.path.value, r.backends.map((b) => b.backend?.name)]));
    assert.deepEqual(byPath.get('/v2'), [undefined]); // 500
    assert.deepEqual(byPath.get('/'), ['other/c:80']); // the permitted sibling is served
  });

  it('revokes the access when the grant is deleted (HTTPRouteReferenceGrant: 500 after the delete)', () => {
    const route = crossRoute();
    const withGrant = translateGateway(input({ httpRoutes: [route], referenceGrants: [grant('other', 'g', [fromRoutes], [toC])] }), opts);
    assert.equal(withGrant.hosts[0]!.rules[0]!.backends[0]!.backend?.name, 'other/c:80');
    // The controller wrote the status; the grant goes away.
    route.status = { parents: withGrant.routeParents.get('default/r') as never };
    const later = { ...opts, now: '2026-02-01T00:05:00Z' };
    const without = translateGateway(input({ httpRoutes: [route], referenceGrants: [] }), later);
    assert.equal(without.hosts[0]!.rules[0]!.backends[0]!.backend, undefined);
    const rr = routeCond(without, 'default/r', 'ResolvedRefs') as unknown as { status: string; reason: string; lastTransitionTime: string };
    assert.deepEqual([rr.status, rr.reason, rr.lastTransitionTime], ['False', 'RefNotPermitted', later.now]);
    // Accepted did not change: its transition time stays.
    assert.equal((acceptedOf(without) as unknown as { lastTransitionTime: string }).lastTransitionTime, opts.now);
  });

  it('needs no grant within one namespace', () => {
    const plan = translateGateway(input({ httpRoutes: [makeRoute('default', 'r', { parentRefs: [{ name: 'gw' }], rules: [{ backendRefs: [{ name: 'a', namespace: 'default', port: 80 }] }] })] }), opts);
    assert.deepEqual(pair(routeCond(plan, 'default/r', 'ResolvedRefs')), ['True', 'ResolvedRefs']);
  });
});

describe('translateGateway: ReferenceGrant permits Gateway certificateRefs across namespaces', () => {
  const secrets: GatewayInput['secrets'][number][] = [];
  before(async () => {
    const d = new Date('2026-01-01T00:00:00Z');
    const ca = await createCertificateAuthority({ commonName: 'test ca', now: d });
    const c = await issueCertificate(ca, { commonName: 'secure.example.org', usage: 'server', hosts: { dnsNames: ['secure.example.org'], ips: [] }, now: d });
    secrets.push(makeTlsSecret('web', 'certificate', c.certPem, c.keyPem));
  });
  const fromGateways: GrantFrom = { group: GW, kind: 'Gateway', namespace: 'default' };
  const toCert: GrantTo = { group: '', kind: 'Secret', name: 'certificate' };
  const gw = () => makeGateway('default', 'gw', [{ name: 'https', protocol: 'HTTPS', port: 443, allowedRoutes: { namespaces: { from: 'All' } }, tls: { certificateRefs: [{ group: '', kind: 'Secret', name: 'certificate', namespace: 'web' }] } }]);
  const cases: { name: string; grants: Grant[]; ok: boolean }[] = [
    { name: 'no grant (GatewaySecretMissingReferenceGrant)', grants: [], ok: false },
    { name: 'a grant naming the Secret (GatewaySecretReferenceGrantSpecific)', grants: [grant('web', 'g', [fromGateways], [toCert])], ok: true },
    { name: 'a grant for every Secret of the namespace (GatewaySecretReferenceGrantAllInNamespace)', grants: [grant('web', 'g', [fromGateways], [{ group: '', kind: 'Secret' }])], ok: true },
    { name: 'a grant naming another Secret', grants: [grant('web', 'g', [fromGateways], [{ ...toCert, name: 'other-cert' }])], ok: false },
    { name: 'a grant from another namespace', grants: [grant('web', 'g', [{ ...fromGateways, namespace: 'elsewhere' }], [toCert])], ok: false },
    { name: 'a grant from HTTPRoutes, not Gateways', grants: [grant('web', 'g', [{ ...fromGateways, kind: 'HTTPRoute' }], [toCert])], ok: false },
    { name: 'a grant to Services, not Secrets', grants: [grant('web', 'g', [fromGateways], [{ group: '', kind: 'Service', name: 'certificate' }])], ok: false },
    { name: 'the conformance GatewaySecretInvalidReferenceGrant near misses', grants: [
      grant('other', 'wrong-namespace', [fromGateways], [toCert]),
      grant('web', 'wrong-from-group', [{ ...fromGateways, group: 'not-the-group-youre-looking-for' }], [toCert]),
      grant('web', 'wrong-from-kind', [{ ...fromGateways, kind: 'HTTPRoute' }], [toCert]),
      grant('web', 'wrong-from-namespace', [{ ...fromGateways, namespace: 'not-the-namespace-youre-looking-for' }], [toCert]),
      grant('web', 'wrong-to-group', [fromGateways], [{ group: 'not-the-group-youre-looking-for', kind: 'Secret', name: 'not-the-certificate-youre-looking-for' }]),
      grant('web', 'wrong-to-kind', [fromGateways], [{ group: '', kind: 'Service', name: 'certificate' }]),
      grant('web', 'wrong-to-name', [fromGateways], [{ group: '', kind: 'Secret', name: 'not-the-certificate-youre-looking-for' }]),
    ], ok: false },
  ];
  for (const c of cases) {
    it(`${c.ok ? 'programs the listener' : 'refuses the certificate (ResolvedRefs False RefNotPermitted)'} with ${c.name}`, () => {
      const plan = translateGateway(input({ gateways: [gw()], secrets, referenceGrants: c.grants }), opts);
      const l = listenerOf(plan, 'https');
      assert.deepEqual(l.supportedKinds, [{ group: GW, kind: 'HTTPRoute' }]);
      assert.equal(l.attachedRoutes, 0);
      assert.deepEqual(pair(cond(l.conditions, 'ResolvedRefs')), c.ok ? ['True', 'ResolvedRefs'] : ['False', 'RefNotPermitted']);
      assert.deepEqual(pair(cond(l.conditions, 'Programmed')), c.ok ? ['True', 'Programmed'] : ['False', 'Invalid']);
      assert.deepEqual(plan.certificates.map((x) => x.secret), []); // no hostname, no routes: nothing to serve yet
    });
  }

  it('serves the other namespace\'s certificate for attached routes, and stops when the grant is deleted', () => {
    const route = makeRoute('default', 'r', { parentRefs: [{ name: 'gw' }], hostnames: ['secure.example.org'], rules: [{ backendRefs: backendsTo('a') }] });
    const withGrant = translateGateway(input({ gateways: [gw()], secrets, httpRoutes: [route], referenceGrants: [grant('web', 'g', [fromGateways], [toCert])] }), opts);
    assert.deepEqual(withGrant.certificates.map((x) => [x.secret, [...x.hosts]]), [['web/certificate', ['secure.example.org']]]);
    assert.equal(withGrant.hosts.length, 1);
    const without = translateGateway(input({ gateways: [gw()], secrets, httpRoutes: [route], referenceGrants: [] }), opts);
    assert.deepEqual(pair(cond(listenerOf(without, 'https').conditions, 'ResolvedRefs')), ['False', 'RefNotPermitted']);
    assert.deepEqual(without.certificates, []);
    assert.deepEqual(without.hosts, []); // the only listener is not programmed
  });
});
