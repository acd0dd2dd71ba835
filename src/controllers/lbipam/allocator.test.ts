import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Node, Pod, Service } from 'kubernetes-types/core/v1.d.ts';
import type { KObject } from '../../api/object.ts';
import { formatIp, parseIp, parseRange } from '../../api/net/ip.ts';
import { readPools, type IPAddressPoolSpec } from '../../api/net/metallb-pools.ts';
import { LbAllocator } from './allocator.ts';
import { candidateNodes, hostPortsByNode, NodeAddressAllocator, nodeAddresses } from './node-addresses.ts';
import { claimFor, convergeService, isOurClass, servicePorts } from './plan.ts';

const poolObj = (name: string, spec: IPAddressPoolSpec, labels: Record<string, string> = {}): KObject =>
  ({ apiVersion: 'metallb.io/v1beta1', kind: 'IPAddressPool', metadata: { name, namespace: 'metallb-system', labels }, spec });

function allocator(...pools: KObject[]): LbAllocator {
  const a = new LbAllocator();
  const { pools: ps, errors } = readPools(pools);
  assert.deepEqual(errors, []);
  a.setPools(ps);
  return a;
}

const makeService = (name: string, f: (s: Service) => void = () => {}, ns = 'default'): Service => {
  const s: Service = {
    metadata: { name, namespace: ns, uid: `${name}-uid`, annotations: {} },
    spec: { type: 'LoadBalancer', clusterIP: '10.96.0.10', ports: [{ port: 80, protocol: 'TCP' }], selector: { app: name } },
  };
  f(s);
  return s;
};
const shared = (key: string, ports: number[]) => (s: Service) => {
  s.metadata!.annotations!['metallb.io/allow-shared-ip'] = key;
  s.spec!.ports = ports.map((port) => ({ port, protocol: 'TCP' as const }));
};
const converge = (a: LbAllocator, s: Service, current: string[] = []) => convergeService(a, s, current);

describe('addresses and ranges', () => {
  it('parses and prints IPv4 and IPv6 as Go does', () => {
    assert.equal(formatIp(6, parseIp('2001:db8:0:0:1:0:0:1')!.value), '2001:db8::1:0:0:1');
    assert.equal(formatIp(6, parseIp('::ffff:1.2.3.4')!.value), '::ffff:102:304');
    assert.equal(formatIp(4, parseIp('10.0.0.255')!.value + 1n), '10.0.1.0');
    const r = parseRange('192.168.1.240 - 192.168.1.250');
    assert.equal(r.last - r.first, 10n);
    assert.throws(() => parseRange('10.0.0.0/33'), /invalid CIDR "10.0.0.0\/33"/);
    assert.throws(() => parseRange('10.0.0.9-10.0.0.1'), /is after the end IP/);
  });
});

describe('pool allocator', () => {
  it('hands out the first free address of the first pool, network address included (as MetalLB)', () => {
    const a = allocator(poolObj('a', { addresses: ['10.0.0.0/30'] }), poolObj('b', { addresses: ['10.0.1.5-10.0.1.6'] }));
    const got = ['s1', 's2', 's3', 's4', 's5', 's6'].map((n) => converge(a, makeService(n)).ips.join());
    assert.deepEqual(got, ['10.0.0.0', '10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.1.5', '10.0.1.6']);
    const full = converge(a, makeService('s7'));
    assert.deepEqual(full.ips, []);
    assert.deepEqual(full.events, [{ type: 'Warning', reason: 'AllocationFailed', message: 'Failed to allocate IP for "default/s7": no available IPs' }]);
    assert.equal(a.counters('a').available, 0);
  });

  it('skips .0 and .255 in avoidBuggyIPs pools', () => {
    const a = allocator(poolObj('p', { addresses: ['10.0.0.255-10.0.1.1'], avoidBuggyIPs: true }));
    assert.deepEqual(converge(a, makeService('x')).ips, ['10.0.1.1']);
    assert.deepEqual(a.counters('p'), { assigned: 1, available: 0 });
  });

  it('uses autoAssign: false pools only when asked, by pool annotation or address', () => {
    const a = allocator(poolObj('manual', { addresses: ['10.0.9.0/31'], autoAssign: false }));
    assert.deepEqual(converge(a, makeService('auto')).ips, []);
    assert.deepEqual(converge(a, makeService('bypool', (s) => { s.metadata!.annotations!['metallb.io/address-pool'] = 'manual'; })).ips, ['10.0.9.0']);
    assert.deepEqual(converge(a, makeService('byip', (s) => { s.spec!.loadBalancerIP = '10.0.9.1'; })).ips, ['10.0.9.1']);
  });

  it('gives a requested address, and says why not when it is taken or outside the pools', () => {
    const a = allocator(poolObj('p', { addresses: ['10.0.0.0/29'] }));
    const ok = converge(a, makeService('one', (s) => { s.metadata!.annotations!['metallb.io/loadBalancerIPs'] = '10.0.0.5'; }));
    assert.deepEqual(ok.ips, ['10.0.0.5']);
    assert.deepEqual(ok.events, [{ type: 'Normal', reason: 'IPAllocated', message: 'Assigned IP ["10.0.0.5"]' }]);
    const taken = converge(a, makeService('two', (s) => { s.spec!.loadBalancerIP = '10.0.0.5'; }));
    assert.deepEqual(taken.ips, []);
    assert.equal(taken.events[0]!.message, 'Failed to allocate IP for "default/two": can\'t change sharing key for "default/two", address also in use by default/one');
    const outside = converge(a, makeService('three', (s) => { s.spec!.loadBalancerIP = '192.0.2.1'; }));
    assert.equal(outside.events[0]!.message, 'Failed to allocate IP for "default/three": ["192.0.2.1"] is not allowed in config');
    const both = converge(a, makeService('four', (s) => { s.spec!.loadBalancerIP = '10.0.0.1'; s.metadata!.annotations!['metallb.io/loadBalancerIPs'] = '10.0.0.2'; }));
    assert.equal(both.events[0]!.reason, 'AllocationFailed');
    assert.match(both.events[0]!.message, /service can not have both metallb.io\/loadBalancerIPs and svc.Spec.LoadBalancerIP/);
    const wrongPool = allocator(poolObj('p', { addresses: ['10.0.0.0/29'] }), poolObj('q', { addresses: ['10.0.1.0/29'] }));
    const mismatch = converge(wrongPool, makeService('five', (s) => { s.spec!.loadBalancerIP = '10.0.0.1'; s.metadata!.annotations!['metallb.io/address-pool'] = 'q'; }));
    assert.equal(mismatch.events[0]!.message, 'Failed to allocate IP for "default/five": requested loadBalancer IP(s) ["10.0.0.1"] is not compatible with requested address pool q');
    assert.deepEqual(wrongPool.ips('default/five'), [], 'nothing kept after the mismatch');
  });

  it('picks the pool named by metallb.io/address-pool and reports an exhausted or unknown one', () => {
    const a = allocator(poolObj('a', { addresses: ['10.0.0.0/32'] }), poolObj('b', { addresses: ['10.0.1.0/32'] }));
    const inB = (n: string) => makeService(n, (s) => { s.metadata!.annotations!['metallb.io/address-pool'] = 'b'; });
    assert.deepEqual(converge(a, inB('x')).ips, ['10.0.1.0']);
    assert.equal(converge(a, inB('y')).events[0]!.message, 'Failed to allocate IP for "default/y": no available IPs in pool "b"');
    const unknown = converge(a, makeService('z', (s) => { s.metadata!.annotations!['metallb.io/address-pool'] = 'nope'; }));
    assert.equal(unknown.events[0]!.message, 'Failed to allocate IP for "default/z": unknown pool "nope"');
  });

  it('shares one address between Services with the same key and distinct ports, not otherwise', () => {
    const a = allocator(poolObj('p', { addresses: ['10.0.0.1-10.0.0.2'] }));
    const cases: [string, (s: Service) => void, string][] = [
      ['web', shared('k', [80]), '10.0.0.1'],
      ['dns', shared('k', [53]), '10.0.0.1'], // same key, other port: same address
      ['web2', shared('k', [80]), '10.0.0.2'], // port clash: next address
      ['other', shared('z', [443]), ''], // another key clashes with both
    ];
    for (const [name, f, want] of cases) assert.equal(converge(a, makeService(name, f)).ips.join(), want, name);
    const clash = converge(a, makeService('pin', (s) => { shared('k', [80])(s); s.spec!.loadBalancerIP = '10.0.0.1'; }));
    assert.equal(clash.events[0]!.message, 'Failed to allocate IP for "default/pin": port TCP/80 is already in use on "10.0.0.1"');
    const other = converge(a, makeService('pin2', (s) => { shared('z', [8080])(s); s.spec!.loadBalancerIP = '10.0.0.1'; }));
    assert.equal(other.events[0]!.message, 'Failed to allocate IP for "default/pin2": can\'t change sharing key for "default/pin2", address also in use by default/dns,default/web');
    // UDP and TCP on the same number do not clash.
    assert.equal(converge(a, makeService('udp', (s) => { shared('k', [80])(s); s.spec!.ports![0]!.protocol = 'UDP'; s.spec!.loadBalancerIP = '10.0.0.1'; })).ips.join(), '10.0.0.1');
  });

  it('shares between externalTrafficPolicy Local Services only when they select the same pods', () => {
    const a = allocator(poolObj('p', { addresses: ['10.0.0.1/32'] }));
    const local = (sel: string, port: number) => (s: Service) => { shared('k', [port])(s); s.spec!.externalTrafficPolicy = 'Local'; s.spec!.selector = { app: sel }; };
    assert.deepEqual(converge(a, makeService('a', local('x', 80))).ips, ['10.0.0.1']);
    assert.deepEqual(converge(a, makeService('b', local('x', 81))).ips, ['10.0.0.1']);
    const c = converge(a, makeService('c', local('y', 82)));
    assert.deepEqual(c.ips, []);
    assert.match(c.events[0]!.message, /no available IPs/);
    const cluster = converge(a, makeService('d', shared('k', [83])));
    assert.deepEqual(cluster.ips, [], 'Cluster and Local do not mix on one address');
  });

  it('follows serviceAllocation: priority, namespaces, service selectors', () => {
    const a = allocator(
      poolObj('general', { addresses: ['10.0.0.0/32'] }),
      poolObj('team-low', { addresses: ['10.1.0.0/32'], serviceAllocation: { priority: 50, namespaces: ['team'] } }),
      poolObj('team-high', { addresses: ['10.2.0.0/32'], serviceAllocation: { priority: 10, namespaces: ['team'] } }),
      poolObj('web-only', { addresses: ['10.3.0.0/32'], serviceAllocation: { serviceSelectors: [{ matchLabels: { tier: 'web' } }] } }),
    );
    assert.deepEqual(converge(a, makeService('t1', () => {}, 'team')).ips, ['10.2.0.0']);
    assert.deepEqual(converge(a, makeService('t2', () => {}, 'team')).ips, ['10.1.0.0']);
    assert.deepEqual(converge(a, makeService('t3', () => {}, 'team')).ips, ['10.0.0.0'], 'then the unrestricted pools');
    assert.deepEqual(converge(a, makeService('w', (s) => { s.metadata!.labels = { tier: 'web' }; })).ips, ['10.3.0.0']);
    const refused = converge(a, makeService('x', (s) => { s.spec!.loadBalancerIP = '10.2.0.0'; }));
    assert.match(refused.events[0]!.message, /pool team-high not compatible for ip assignment/);
  });

  it('leaves Services of another loadBalancerClass alone and serves podgate\'s and none', () => {
    assert.equal(isOurClass(makeService('a')), true);
    assert.equal(isOurClass(makeService('b', (s) => { s.spec!.loadBalancerClass = 'podgate.io/lb'; })), true);
    assert.equal(isOurClass(makeService('c', (s) => { s.spec!.loadBalancerClass = 'example.com/other'; })), false);
  });

  it('releases on unassign and hands the address to the next Service', () => {
    const a = allocator(poolObj('p', { addresses: ['10.0.0.7/32'] }));
    assert.deepEqual(converge(a, makeService('first')).ips, ['10.0.0.7']);
    assert.deepEqual(converge(a, makeService('second')).ips, []);
    assert.equal(a.unassign('default/first'), true);
    assert.equal(a.unassign('default/first'), false);
    assert.deepEqual(converge(a, makeService('second')).ips, ['10.0.0.7']);
  });

  it('keeps what a Service holds, and moves it when another pool or address is asked for', () => {
    const a = allocator(poolObj('a', { addresses: ['10.0.0.0/31'] }), poolObj('b', { addresses: ['10.0.1.0/31'] }));
    const s = makeService('s');
    assert.deepEqual(converge(a, s).ips, ['10.0.0.0']);
    assert.deepEqual(converge(a, s, ['10.0.0.0']), { ips: ['10.0.0.0'], pool: 'a', events: [] });
    s.metadata!.annotations!['metallb.io/address-pool'] = 'b';
    assert.deepEqual(converge(a, s, ['10.0.0.0']).ips, ['10.0.1.0']);
    s.metadata!.annotations!['metallb.io/address-pool'] = 'a';
    s.spec!.loadBalancerIP = '10.0.0.1';
    assert.deepEqual(converge(a, s, ['10.0.1.0']).ips, ['10.0.0.1']);
  });

  it('rebuilt from statuses never hands an address out twice, and drops what the pools no longer hold', () => {
    const statuses: [string, string][] = [['old1', '10.0.0.1'], ['old2', '10.0.0.3']];
    const a = allocator(poolObj('p', { addresses: ['10.0.0.1-10.0.0.4'] }));
    for (const [name, ip] of statuses) assert.equal(a.assign(claimFor(makeService(name)), [ip]).ok, true);
    const fresh = ['n1', 'n2', 'n3'].map((n) => converge(a, makeService(n)).ips.join());
    assert.deepEqual(fresh, ['10.0.0.2', '10.0.0.4', '']);
    // A second claim on a held address (a stale status) is refused.
    assert.deepEqual(a.assign(claimFor(makeService('dup')), ['10.0.0.1']), { ok: false, reason: 'can\'t change sharing key for "default/dup", address also in use by default/old1' });
    const { pools } = readPools([poolObj('p', { addresses: ['10.0.0.1-10.0.0.2'] })]);
    assert.deepEqual(a.setPools(pools), ['default/n2', 'default/old2']);
    const cleared = converge(a, makeService('old2'), ['10.0.0.3']);
    assert.deepEqual(cleared.events.map((e) => e.reason), ['ClearAssignment', 'AllocationFailed']);
    assert.equal(cleared.events[0]!.message, 'current IP for "default/old2" not allowed by config, will attempt for new IP assignment: ["10.0.0.3"] is not allowed in config');
  });
});

describe('node-address mode (no pools, as k3s ServiceLB)', () => {
  const node = (name: string, ip: string, f: (n: Node) => void = () => {}): Node => {
    const n: Node = { metadata: { name, labels: {} }, status: { addresses: [{ type: 'InternalIP', address: ip }, { type: 'Hostname', address: name }], conditions: [{ type: 'Ready', status: 'True' }] } };
    f(n);
    return n;
  };
  const nodes = [node('n1', '192.168.1.11'), node('n2', '192.168.1.12'), node('down', '192.168.1.13', (n) => { n.status!.conditions![0]!.status = 'Unknown'; })];

  it('gives every ready node\'s address and takes the ports there; a clash leaves the next Service pending', () => {
    const alloc = new NodeAddressAllocator();
    const web = makeService('web', (s) => { s.spec!.ports = [{ port: 8086, protocol: 'TCP' }]; });
    const cands = candidateNodes(web, nodes, []);
    assert.deepEqual(cands, ['n1', 'n2']);
    const d = alloc.allocate('default/web', servicePorts(web), cands);
    assert.ok(d.ok);
    assert.deepEqual(nodeAddresses(d.nodes, nodes, 4), ['192.168.1.11', '192.168.1.12']);
    const clash = alloc.allocate('default/web2', servicePorts(web), cands);
    assert.deepEqual(clash, { ok: false, reason: 'There are no available nodes for LoadBalancer', details: [
      'port TCP/8086 is already used by LoadBalancer service default/web on node n1',
      'port TCP/8086 is already used by LoadBalancer service default/web on node n2',
    ] });
    assert.ok(alloc.allocate('default/udp', [{ proto: 'UDP', port: 8086 }], cands).ok, 'UDP 8086 is another port');
    alloc.unassign('default/web');
    assert.ok(alloc.allocate('default/web2', servicePorts(web), cands).ok, 'freed ports are taken by the waiting Service');
  });

  it('counts pods\' hostPorts on the node, and rebuilds holders first', () => {
    const pod: Pod = { metadata: { name: 'hp', namespace: 'default' }, spec: { nodeName: 'n1', containers: [{ name: 'c', ports: [{ containerPort: 80, hostPort: 80 }] }] }, status: { phase: 'Running' } };
    const hp = hostPortsByNode([pod], nodes);
    // Nothing reserved: here 80 and 443 stand for any port (podgate's own are reserved by default).
    const alloc = new NodeAddressAllocator({ reservedPorts: [] });
    const d = alloc.allocate('default/a', [{ proto: 'TCP', port: 80 }], ['n1', 'n2'], hp);
    assert.deepEqual(d, { ok: true, nodes: ['n2'], details: ['port TCP/80 is already used by hostPort of pod default/hp on node n1'] });
    const rebuilt = new NodeAddressAllocator({ reservedPorts: [] });
    assert.deepEqual(rebuilt.restore('default/holder', ['n1'], [{ proto: 'TCP', port: 443 }]), ['n1']);
    assert.deepEqual(rebuilt.restore('default/late', ['n1'], [{ proto: 'TCP', port: 443 }]), [], 'a second claim on held ports is refused');
  });

  it('lists only nodes with ready endpoints for externalTrafficPolicy Local', () => {
    const svc = makeService('loc', (s) => { s.spec!.externalTrafficPolicy = 'Local'; });
    const slice = { metadata: { namespace: 'default', labels: { 'kubernetes.io/service-name': 'loc' } }, addressType: 'IPv4', endpoints: [{ addresses: ['10.244.0.5'], nodeName: 'n2', conditions: { ready: true } }] };
    assert.deepEqual(candidateNodes(svc, nodes, [slice]), ['n2']);
    assert.deepEqual(candidateNodes(svc, nodes, []), []);
  });
});
