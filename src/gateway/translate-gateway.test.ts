// Table tests for the pure Gateway API translation: listener validation, route attachment and
// its status reasons, hostname intersection and match precedence, each citing the spec
// (https://gateway-api.sigs.k8s.io/reference/spec/).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { makeService, makeSlice } from '../ingress/test-builders.ts';
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
