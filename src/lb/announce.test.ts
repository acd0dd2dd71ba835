import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Node, Service } from 'kubernetes-types/core/v1.d.ts';
import type { KObject } from '../api/object.ts';
import { announcements, desiredAddresses, electionOrder, shouldAnnounce, type AnnounceWorld } from './announce.ts';
import { planLinks, type Link } from './link-plan.ts';
import { l2FromObject, readPools, type L2AdvertisementSpec } from '../api/net/metallb-pools.ts';

const node = (name: string, labels: Record<string, string> = {}, ready = 'True'): Node =>
  ({ metadata: { name, labels }, status: { conditions: [{ type: 'Ready', status: ready }] } });
const svc = (name: string, ip: string | undefined, f: (s: Service) => void = () => {}): Service => {
  const s: Service = { metadata: { name, namespace: 'default' }, spec: { type: 'LoadBalancer', ports: [{ port: 80 }] }, status: { loadBalancer: { ingress: ip ? [{ ip }] : [] } } };
  f(s);
  return s;
};
const pools = readPools([
  { apiVersion: 'metallb.io/v1beta1', kind: 'IPAddressPool', metadata: { name: 'lan', namespace: 'metallb-system', labels: { zone: 'a' } }, spec: { addresses: ['10.0.0.100-10.0.0.120'] } } as KObject,
  { apiVersion: 'metallb.io/v1beta1', kind: 'IPAddressPool', metadata: { name: 'quiet', namespace: 'metallb-system' }, spec: { addresses: ['10.0.5.0/24'] } } as KObject,
]).pools;
const l2 = (name: string, spec: L2AdvertisementSpec) => l2FromObject({ apiVersion: 'metallb.io/v1beta1', kind: 'L2Advertisement', metadata: { name }, spec } as KObject);
const world = (over: Partial<AnnounceWorld> = {}): AnnounceWorld => ({
  pools, l2s: [l2('lan', { ipAddressPools: ['lan'] })], nodes: [node('n1'), node('n2'), node('n3')], slices: [], ...over,
});

describe('which node announces', () => {
  it('is the first node by sha256(node#ip), the same answer on every node, spreading addresses', () => {
    const owners = new Map<string, number>();
    for (let i = 100; i <= 120; i++) {
      const s = svc(`s${i}`, `10.0.0.${i}`);
      const answers = ['n1', 'n2', 'n3'].map((me) => shouldAnnounce(me, s, world()));
      const winners = answers.filter((a) => a.reason === '');
      assert.equal(winners.length, 1, `exactly one node announces 10.0.0.${i}`);
      assert.ok(answers.every((a) => a.winner === winners[0]!.winner));
      assert.equal(winners[0]!.winner, electionOrder(['n3', 'n1', 'n2'], `10.0.0.${i}`)[0]);
      assert.ok(answers.filter((a) => a.reason !== '').every((a) => a.reason === 'notOwner'));
      owners.set(winners[0]!.winner!, (owners.get(winners[0]!.winner!) ?? 0) + 1);
    }
    assert.equal(owners.size, 3, `21 addresses spread over all three nodes: ${JSON.stringify([...owners])}`);
  });

  it('moves the address when its node is not ready, and honours nodeSelectors', () => {
    const s = svc('web', '10.0.0.100');
    const first = shouldAnnounce('n1', s, world()).winner!;
    const nodes = [node('n1'), node('n2'), node('n3')].map((n) => (n.metadata!.name === first ? node(first, {}, 'Unknown') : n));
    const second = shouldAnnounce('n1', s, world({ nodes })).winner!;
    assert.notEqual(second, first);
    const only = world({ l2s: [l2('lan', { ipAddressPools: ['lan'], nodeSelectors: [{ matchLabels: { edge: 'yes' } }] })], nodes: [node('n1'), node('n2', { edge: 'yes' })] });
    assert.equal(shouldAnnounce('n2', s, only).reason, '');
    assert.equal(shouldAnnounce('n1', s, only).reason, 'notOwner');
  });

  it('gives reasons: no address, no pool (node-address mode), no advertisement, other class, Local without endpoints', () => {
    assert.equal(shouldAnnounce('n1', svc('a', undefined), world()).reason, 'noIPAllocated');
    assert.equal(shouldAnnounce('n1', svc('b', '192.168.1.11'), world()).reason, 'notFromPool');
    assert.equal(shouldAnnounce('n1', svc('c', '10.0.5.1'), world()).reason, 'noL2Advertisement');
    assert.equal(shouldAnnounce('n1', svc('c', '10.0.5.1'), world({ l2s: [l2('all', {})] })).winner !== undefined, true, 'an advertisement naming no pool covers all');
    assert.equal(shouldAnnounce('n1', svc('d', '10.0.0.101', (s) => { s.spec!.loadBalancerClass = 'x/y'; }), world()).reason, 'otherClass');
    assert.equal(shouldAnnounce('n1', svc('e', '10.0.0.101', (s) => { s.spec!.type = 'ClusterIP'; }), world()).reason, 'notLoadBalancer');
    const local = svc('loc', '10.0.0.102', (s) => { s.spec!.externalTrafficPolicy = 'Local'; });
    assert.equal(shouldAnnounce('n1', local, world()).reason, 'noAvailableNodes');
    const slices = [{ metadata: { namespace: 'default', labels: { 'kubernetes.io/service-name': 'loc' } }, addressType: 'IPv4', endpoints: [{ addresses: ['10.244.0.9'], nodeName: 'n3', conditions: { ready: true } }] }];
    assert.equal(shouldAnnounce('n3', local, world({ slices })).reason, '', 'the node with the endpoint announces');
  });

  it('collects this node\'s addresses with their interfaces', () => {
    const w = world({ nodes: [node('solo')], l2s: [l2('lan', { ipAddressPools: ['lan'], interfaces: ['eth1'] })] });
    const want = desiredAddresses('solo', [svc('a', '10.0.0.101'), svc('b', '10.0.0.101'), svc('c', '192.168.1.11')], w);
    assert.deepEqual([...want], [['10.0.0.101', ['eth1']]]);
  });
});

describe('addresses held forever: this node is the only candidate', () => {
  const ip = '10.0.0.101';
  const winnerOf = (nodes: string[]) => electionOrder(nodes, ip)[0]!;
  const mine = winnerOf(['n1', 'n2']);
  const other = mine === 'n1' ? 'n2' : 'n1';
  const local = (s: Service) => { s.spec!.externalTrafficPolicy = 'Local'; };
  const slice = (svcName: string, ...nodes: string[]) => ({ metadata: { namespace: 'default', labels: { 'kubernetes.io/service-name': svcName } }, addressType: 'IPv4', endpoints: nodes.map((n) => ({ addresses: ['10.244.0.9'], nodeName: n, conditions: { ready: true } })) });
  const shared = (s: Service) => { s.metadata!.annotations = { 'metallb.io/allow-shared-ip': 'k' }; };
  const table: [why: string, services: Service[], over: Partial<AnnounceWorld>, sole: boolean][] = [
    ['a single node', [svc('a', ip)], { nodes: [node(mine)] }, true],
    ['another node could take it over', [svc('a', ip)], { nodes: [node(mine), node(other)] }, false],
    ['the other node is not Ready', [svc('a', ip)], { nodes: [node(mine), node(other, {}, 'False')] }, true],
    ['the other node is excluded from load balancers', [svc('a', ip)], { nodes: [node(mine), node(other, { 'node.kubernetes.io/exclude-from-external-load-balancers': '' })] }, true],
    ['the L2Advertisement selects only this node', [svc('a', ip)], { nodes: [node(mine, { lb: 'yes' }), node(other)], l2s: [l2('lan', { ipAddressPools: ['lan'], nodeSelectors: [{ matchLabels: { lb: 'yes' } }] })] }, true],
    ['externalTrafficPolicy Local, endpoints only here', [svc('a', ip, local)], { nodes: [node(mine), node(other)], slices: [slice('a', mine)] }, true],
    ['externalTrafficPolicy Local, endpoints on both', [svc('a', ip, local)], { nodes: [node(mine), node(other)], slices: [slice('a', mine, other)] }, false],
    ['shared with a Service another node could announce', [svc('a', ip, (s) => { local(s); shared(s); }), svc('b', ip, shared)], { nodes: [node(mine), node(other)], slices: [slice('a', mine)] }, false],
  ];
  for (const [why, services, over, sole] of table) {
    it(`${sole ? 'forever' : 'with a lifetime'}: ${why}`, () => {
      const got = announcements(mine, services, world(over));
      assert.deepEqual([...got.addresses.keys()], [ip], 'this node announces it');
      assert.deepEqual([...got.sole], sole ? [ip] : []);
    });
  }
});

describe('link planning', () => {
  const links: Link[] = [
    { name: 'lo', addresses: [{ ip: '127.0.0.1', prefixLen: 8 }] },
    { name: 'eth0', addresses: [{ ip: '10.0.0.10', prefixLen: 24 }, { ip: '10.0.0.100', prefixLen: 32 }, { ip: '10.0.0.50', prefixLen: 32 }] },
    { name: 'eth1', addresses: [{ ip: '172.16.0.10', prefixLen: 16 }] },
  ];
  it('adds to the interface whose subnet holds the address, removes only what it added, never touches others', () => {
    const desired = new Map<string, readonly string[]>([['10.0.0.100', []], ['10.0.0.101', []], ['172.16.5.5', []], ['10.0.0.50', []], ['192.0.2.9', []]]);
    const plan = planLinks(desired, links, [{ ip: '10.0.0.100', iface: 'eth0' }, { ip: '10.0.0.77', iface: 'eth0' }, { ip: '10.0.0.10', iface: 'eth9' }]);
    assert.deepEqual(plan.add, [{ ip: '10.0.0.101', iface: 'eth0' }, { ip: '172.16.5.5', iface: 'eth1' }]);
    assert.deepEqual(plan.keep, [{ ip: '10.0.0.100', iface: 'eth0' }], 'ours and in place: renewed');
    assert.deepEqual(plan.remove, [], '10.0.0.77 is gone already; 10.0.0.10 is the node\'s own address on eth0, not the one we added on eth9');
    assert.deepEqual(plan.owned.map((p) => p.ip), ['10.0.0.100', '10.0.0.101', '172.16.5.5']);
    assert.deepEqual(plan.skipped, [{ ip: '10.0.0.50', reason: 'already on eth0 (not added by podgate)' }, { ip: '192.0.2.9', reason: 'no interface has a subnet holding it' }]);
    const gone = planLinks(new Map(), links, [{ ip: '10.0.0.100', iface: 'eth0' }]);
    assert.deepEqual(gone.remove, [{ ip: '10.0.0.100', iface: 'eth0' }]);
    assert.deepEqual(gone.owned, []);
  });
  it('uses the L2Advertisement\'s interfaces', () => {
    const plan = planLinks(new Map([['10.0.0.101', ['eth1']], ['10.0.0.102', ['eth0', 'eth1']]]), links, []);
    assert.deepEqual(plan.add, [{ ip: '10.0.0.101', iface: 'eth1' }, { ip: '10.0.0.102', iface: 'eth0' }]);
  });
});
