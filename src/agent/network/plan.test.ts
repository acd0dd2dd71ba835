import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { formatIPv4 } from './cidr.ts';
import { hostVethName, netnsMountWarning, netnsPrefix, planBridge, planNode, planPodWiring, podNetnsName } from './plan.ts';

const base = { nodeName: 'n1', podCIDR: '10.244.3.0/24', clusterCIDR: '10.244.0.0/16' };

describe('planNode', () => {
  const cases: { podCIDR: string; gateway: string; first: string; last: string }[] = [
    { podCIDR: '10.244.3.0/24', gateway: '10.244.3.1', first: '10.244.3.2', last: '10.244.3.254' },
    { podCIDR: '10.244.8.0/22', gateway: '10.244.8.1', first: '10.244.8.2', last: '10.244.11.254' },
    { podCIDR: '10.244.0.4/30', gateway: '10.244.0.5', first: '10.244.0.6', last: '10.244.0.6' },
  ];
  for (const c of cases) {
    it(`derives addresses of ${c.podCIDR}`, () => {
      const p = planNode({ ...base, podCIDR: c.podCIDR });
      assert.deepEqual([p.gateway, formatIPv4(p.firstPod), formatIPv4(p.lastPod)], [c.gateway, c.first, c.last]);
    });
  }

  it('rejects ranges that cannot work', () => {
    assert.throws(() => planNode({ ...base, podCIDR: '10.245.0.0/24' }), /not inside the cluster CIDR 10\.244\.0\.0\/16/);
    assert.throws(() => planNode({ ...base, podCIDR: '10.244.0.0/31' }), /too small/);
    assert.throws(() => planNode({ ...base, podCIDR: '10.244.0.1/24' }), /host bits set/);
    assert.throws(() => planNode({ ...base, nodeName: '' }), /nodeName is required/);
  });

  it('gives the bridge a stable, locally administered MAC per node', () => {
    const a = planNode(base).bridgeMac;
    assert.match(a, /^02(:[0-9a-f]{2}){5}$/);
    assert.equal(planNode(base).bridgeMac, a);
    assert.notEqual(planNode({ ...base, nodeName: 'n2' }).bridgeMac, a);
  });
});

describe('names', () => {
  it('are node-unique for netns and fit Linux interface names', () => {
    assert.match(podNetnsName('n1', 'uid'), /^pg-[0-9a-f]{8}-[0-9a-f]{8}$/);
    assert.ok(podNetnsName('n1', 'uid').startsWith(netnsPrefix('n1')));
    assert.notEqual(podNetnsName('n1', 'uid'), podNetnsName('n2', 'uid'));
    assert.equal(podNetnsName('n1', 'uid'), podNetnsName('n1', 'uid'));
    assert.match(hostVethName('6f1c2b1e-0000-4000-8000-000000000000'), /^veth[0-9a-f]{8}$/);
    assert.ok(hostVethName('x').length <= 15);
  });
});

describe('planBridge', () => {
  const plan = planNode(base);
  it('removes stale addresses and sets the wanted one', () => {
    assert.deepEqual(planBridge(plan, ['10.244.9.1/24', '10.244.3.1/24']), [
      'address del 10.244.9.1/24 dev podgate0',
      `link set dev podgate0 address ${plan.bridgeMac}`,
      'address replace 10.244.3.1/24 dev podgate0',
      'link set dev podgate0 up',
    ]);
  });
});

describe('planPodWiring', () => {
  it('creates the peer in the pod netns as eth0 and routes via the bridge', () => {
    const w = planPodWiring(planNode(base), { netns: 'pg-x-y', veth: 'veth12345678', ip: '10.244.3.7' });
    assert.deepEqual(w.createVeth, ['ip', 'link', 'add', 'veth12345678', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', 'pg-x-y']);
    assert.deepEqual(w.node, ['link set dev veth12345678 master podgate0 up', 'link set dev veth12345678 type bridge_slave hairpin on']);
    assert.deepEqual(w.pod, ['link set dev lo up', 'address replace 10.244.3.7/24 dev eth0', 'link set dev eth0 up', 'route replace default via 10.244.3.1 dev eth0']);
  });
});

describe('netnsMountWarning', () => {
  const line = (opt: string) => `42 27 254:0 /run/netns /run/netns rw,relatime ${opt} - ext4 /dev/vda rw`;
  const cases: { name: string; mountinfo: string; warns: boolean }[] = [
    { name: 'shared mount (normal)', mountinfo: line('shared:1'), warns: false },
    { name: 'slave under ip netns exec', mountinfo: line('master:1'), warns: true },
    { name: 'shared and slave', mountinfo: line('shared:5 master:1'), warns: false },
    { name: 'no /run/netns yet', mountinfo: '25 1 254:0 / / rw shared:1 - ext4 /dev/vda rw', warns: false },
  ];
  for (const c of cases) it(c.name, () => assert.equal(netnsMountWarning(c.mountinfo) !== undefined, c.warns));
});
