// The cross-node route planner, the diff against the main table and one sync pass through a
// recording Exec. No root needed.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Node } from 'kubernetes-types/core/v1.d.ts';
import { CommandError, type Exec } from '../../util/exec.ts';
import {
  type DesiredRoute, type InstalledRoute, type LocalLink, ROUTE_PROTOCOL, diffRoutes, parseLinks, parseRoutes, planNodeRoutes, removeNodeRoutes, syncNodeRoutes,
} from './node-routes.ts';

function node(name: string, podCIDR?: string | string[], ...internalIPs: string[]): Node {
  const cidrs = podCIDR === undefined ? [] : Array.isArray(podCIDR) ? podCIDR : [podCIDR];
  return {
    apiVersion: 'v1', kind: 'Node', metadata: { name },
    spec: cidrs.length ? { podCIDR: cidrs[0], podCIDRs: cidrs } : {},
    status: { addresses: [{ type: 'Hostname', address: name }, ...internalIPs.map((address) => ({ type: 'InternalIP', address }))] },
  };
}

/** A node on the LAN 192.168.1.0/24 with its pod bridge. */
const lanLinks = (ip = '192.168.1.10', bridge = '10.244.1.1/24'): LocalLink[] => [
  { name: 'lo', addresses: [{ ip: '127.0.0.1', prefixLen: 8 }] },
  { name: 'eth0', addresses: [{ ip, prefixLen: 24 }, { ip: '192.168.1.200', prefixLen: 32 }] },
  { name: 'podgate0', addresses: [{ ip: bridge.split('/')[0]!, prefixLen: Number(bridge.split('/')[1]) }] },
];

const route = (dst: string, gateway: string, node: string, dev = 'eth0'): DesiredRoute => ({ dst, gateway, dev, node });

describe('planNodeRoutes', () => {
  const cases: { name: string; nodeName?: string; nodes: Node[]; links?: LocalLink[]; routes: DesiredRoute[]; skipped?: { node: string; reason: RegExp }[] }[] = [
    {
      name: 'two nodes: a route to the other, none to itself',
      nodes: [node('a', '10.244.1.0/24', '192.168.1.10'), node('b', '10.244.2.0/24', '192.168.1.11')],
      routes: [route('10.244.2.0/24', '192.168.1.11', 'b')],
    },
    {
      name: 'three nodes, listed in any order: sorted by destination',
      nodes: [node('c', '10.244.10.0/24', '192.168.1.12'), node('a', '10.244.1.0/24', '192.168.1.10'), node('b', '10.244.2.0/24', '192.168.1.11')],
      routes: [route('10.244.2.0/24', '192.168.1.11', 'b'), route('10.244.10.0/24', '192.168.1.12', 'c')],
    },
    {
      name: 'a node without podCIDR yet is skipped with a reason',
      nodes: [node('a', '10.244.1.0/24', '192.168.1.10'), node('b', undefined, '192.168.1.11'), node('c', '10.244.3.0/24', '192.168.1.12')],
      routes: [route('10.244.3.0/24', '192.168.1.12', 'c')],
      skipped: [{ node: 'b', reason: /no podCIDR/ }],
    },
    {
      name: 'a node without InternalIP (only an IPv6 one) is skipped',
      nodes: [node('a', '10.244.1.0/24', '192.168.1.10'), node('b', '10.244.2.0/24'), node('c', '10.244.3.0/24', 'fd00::3')],
      routes: [],
      skipped: [{ node: 'b', reason: /no IPv4 InternalIP/ }, { node: 'c', reason: /no IPv4 InternalIP/ }],
    },
    {
      name: 'a node not on a directly connected subnet gets no route (host-gw needs one L2 segment)',
      nodes: [node('a', '10.244.1.0/24', '192.168.1.10'), node('b', '10.244.2.0/24', '192.168.2.11'), node('c', '10.244.3.0/24', '192.168.1.12')],
      routes: [route('10.244.3.0/24', '192.168.1.12', 'c')],
      skipped: [{ node: 'b', reason: /192\.168\.2\.11 is not on a subnet this node is directly connected to/ }],
    },
    {
      name: 'a /32 address (a LoadBalancer IP) does not make its "subnet" connected',
      nodes: [node('b', '10.244.2.0/24', '192.168.1.200')],
      links: lanLinks(),
      routes: [],
      skipped: [{ node: 'b', reason: /is an address of this node/ }],
    },
    {
      name: 'the own Node object missing (not registered yet) changes nothing for the others',
      nodes: [node('b', '10.244.2.0/24', '192.168.1.11')],
      routes: [route('10.244.2.0/24', '192.168.1.11', 'b')],
    },
    {
      name: 'a podCIDR overlapping this node\'s own is refused',
      nodes: [node('a', '10.244.1.0/24', '192.168.1.10'), node('b', '10.244.0.0/16', '192.168.1.11')],
      links: lanLinks('192.168.1.10', '10.244.9.1/24').slice(0, 2),
      routes: [],
      skipped: [{ node: 'b', reason: /overlaps this node's podCIDR 10\.244\.1\.0\/24/ }],
    },
    {
      name: 'a podCIDR overlapping a connected subnet (the LAN, the bridge) is refused',
      nodes: [node('b', '192.168.1.0/25', '192.168.1.11'), node('c', '10.244.1.0/24', '192.168.1.12')],
      routes: [],
      skipped: [{ node: 'b', reason: /overlaps the connected subnet 192\.168\.1\.0\/24 on eth0/ }, { node: 'c', reason: /overlaps the connected subnet 10\.244\.1\.0\/24 on podgate0/ }],
    },
    {
      name: 'two nodes claiming one podCIDR: the first by name wins',
      nodes: [node('c', '10.244.2.0/24', '192.168.1.12'), node('b', '10.244.2.0/24', '192.168.1.11')],
      routes: [route('10.244.2.0/24', '192.168.1.11', 'b')],
      skipped: [{ node: 'c', reason: /overlaps node b's/ }],
    },
    {
      name: 'dual-stack podCIDRs: the IPv4 one is routed, the IPv6 one reported',
      nodes: [node('b', ['10.244.2.0/24', 'fd00:10:244:2::/64'], '192.168.1.11', 'fd00::11')],
      routes: [route('10.244.2.0/24', '192.168.1.11', 'b')],
      skipped: [{ node: 'b', reason: /IPv6/ }],
    },
    {
      name: 'the gateway is reached over the link with the longest matching prefix',
      nodes: [node('b', '10.244.2.0/24', '10.1.2.3')],
      links: [{ name: 'eth0', addresses: [{ ip: '10.1.0.1', prefixLen: 16 }] }, { name: 'eth1', addresses: [{ ip: '10.1.2.1', prefixLen: 24 }] }],
      routes: [route('10.244.2.0/24', '10.1.2.3', 'b', 'eth1')],
    },
    {
      name: 'an invalid podCIDR is reported, not thrown',
      nodes: [node('b', '10.244.2.1/24', '192.168.1.11')],
      routes: [],
      skipped: [{ node: 'b', reason: /not a valid IPv4 CIDR/ }],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const plan = planNodeRoutes({ nodeName: c.nodeName ?? 'a', nodes: c.nodes, links: c.links ?? lanLinks() });
      assert.deepEqual(plan.routes, c.routes);
      assert.equal(plan.skipped.length, (c.skipped ?? []).length, JSON.stringify(plan.skipped));
      (c.skipped ?? []).forEach((s, i) => {
        assert.equal(plan.skipped[i]!.node, s.node);
        assert.match(plan.skipped[i]!.reason, s.reason);
      });
    });
  }

  it('a deleted node: its route is no longer planned, and the diff removes it', () => {
    const nodes = [node('a', '10.244.1.0/24', '192.168.1.10'), node('b', '10.244.2.0/24', '192.168.1.11'), node('c', '10.244.3.0/24', '192.168.1.12')];
    const before = planNodeRoutes({ nodeName: 'a', nodes, links: lanLinks() });
    const installed: InstalledRoute[] = before.routes.map((r) => ({ dst: r.dst, gateway: r.gateway, dev: r.dev, protocol: String(ROUTE_PROTOCOL) }));
    const after = planNodeRoutes({ nodeName: 'a', nodes: nodes.filter((n) => n.metadata!.name !== 'c'), links: lanLinks() });
    assert.deepEqual(after.routes, [route('10.244.2.0/24', '192.168.1.11', 'b')]);
    const d = diffRoutes(after.routes, installed);
    assert.deepEqual(d.replace, []);
    assert.deepEqual(d.remove, [installed[1]]);
  });

  it('is the same whatever the order of links', () => {
    const nodes = [node('b', '10.244.2.0/24', '10.1.2.3')];
    const links: LocalLink[] = [{ name: 'eth1', addresses: [{ ip: '10.1.2.1', prefixLen: 24 }] }, { name: 'eth0', addresses: [{ ip: '10.1.2.9', prefixLen: 24 }] }];
    const a = planNodeRoutes({ nodeName: 'a', nodes, links });
    const b = planNodeRoutes({ nodeName: 'a', nodes, links: [...links].reverse() });
    assert.deepEqual(a, b);
    assert.equal(a.routes[0]!.dev, 'eth0');
  });
});

describe('diffRoutes', () => {
  const want = [route('10.244.2.0/24', '192.168.1.11', 'b'), route('10.244.3.0/24', '192.168.1.12', 'c')];
  const ours = (dst: string, gateway: string, dev = 'eth0'): InstalledRoute => ({ dst, gateway, dev, protocol: '147' });

  it('adds what is missing, keeps what is right, removes only its own stale routes', () => {
    const installed: InstalledRoute[] = [
      { dst: '192.168.1.0/24', dev: 'eth0', protocol: '2' },
      ours('10.244.2.0/24', '192.168.1.11'),
      ours('10.244.9.0/24', '192.168.1.19'),
      { dst: '10.99.0.0/16', gateway: '192.168.1.1', dev: 'eth0', protocol: '4' },
    ];
    const d = diffRoutes(want, installed);
    assert.deepEqual(d.replace, [want[1]]);
    assert.deepEqual(d.remove, [installed[2]]);
    assert.deepEqual(d.blocked, []);
  });

  it('a changed gateway is replaced, and the old entry is removed (a no-op when the replace overwrote it)', () => {
    const old = ours('10.244.2.0/24', '192.168.1.99');
    const d = diffRoutes([want[0]!], [old]);
    assert.deepEqual(d.replace, [want[0]]);
    assert.deepEqual(d.remove, [old]);
  });

  it('never replaces a route to the same destination that podgate did not make', () => {
    const foreign: InstalledRoute = { dst: '10.244.2.0/24', gateway: '192.168.1.1', dev: 'eth0', protocol: '4' };
    const d = diffRoutes(want, [foreign, ours('10.244.2.0/24', '192.168.1.11')]);
    assert.deepEqual(d.blocked, [{ route: want[0], by: foreign }]);
    assert.deepEqual(d.replace, [want[1]]);
    assert.equal(d.remove.length, 1, 'its own route beside the foreign one goes');
  });
});

describe('parsing ip -j output', () => {
  it('routes: numeric protocol, /32 and default destinations', () => {
    const text = JSON.stringify([
      { dst: 'default', gateway: '192.168.1.1', dev: 'eth0', protocol: '4', flags: [] },
      { dst: '10.244.2.0/24', gateway: '192.168.1.11', dev: 'eth0', protocol: '147', flags: [] },
      { dst: '10.0.0.7', dev: 'eth0', protocol: '2', scope: '253', metric: 5, flags: [] },
    ]);
    assert.deepEqual(parseRoutes(text), [
      { dst: '0.0.0.0/0', gateway: '192.168.1.1', dev: 'eth0', protocol: '4' },
      { dst: '10.244.2.0/24', gateway: '192.168.1.11', dev: 'eth0', protocol: '147' },
      { dst: '10.0.0.7/32', dev: 'eth0', protocol: '2', metric: 5 },
    ]);
  });

  it('links: IPv4 addresses only', () => {
    const text = JSON.stringify([{ ifname: 'eth0', addr_info: [{ family: 'inet', local: '192.168.1.10', prefixlen: 24 }, { family: 'inet6', local: 'fe80::1', prefixlen: 64 }] }]);
    assert.deepEqual(parseLinks(text), [{ name: 'eth0', addresses: [{ ip: '192.168.1.10', prefixLen: 24 }] }]);
  });
});

/** A fake `ip` over an in-memory main table: enough of `addr show`, `route show/replace/del`. */
function fakeIp(links: LocalLink[], table: InstalledRoute[]): { exec: Exec; calls: string[]; table: InstalledRoute[] } {
  const calls: string[] = [];
  const exec: Exec = async (argv) => {
    calls.push(argv.join(' '));
    const a = [...argv];
    if (a.join(' ') === 'ip -j -4 addr show up') {
      return { stdout: JSON.stringify(links.map((l) => ({ ifname: l.name, addr_info: l.addresses.map((x) => ({ family: 'inet', local: x.ip, prefixlen: x.prefixLen })) }))), stderr: '' };
    }
    if (a.join(' ') === 'ip -N -j -4 route show table main') return { stdout: JSON.stringify(table), stderr: '' };
    const opt = (k: string) => { const i = a.indexOf(k); return i < 0 ? undefined : a[i + 1]; };
    if (a[0] === 'ip' && a[1] === 'route' && a[2] === 'replace') {
      const r: InstalledRoute = { dst: a[3]!, gateway: opt('via')!, dev: opt('dev')!, protocol: opt('proto')! };
      const i = table.findIndex((x) => x.dst === r.dst && !x.metric);
      if (i >= 0) table[i] = r; else table.push(r);
      return { stdout: '', stderr: '' };
    }
    if (a[0] === 'ip' && a[1] === 'route' && a[2] === 'del') {
      const i = table.findIndex((x) => x.dst === a[3] && x.protocol === opt('proto') && (!opt('via') || x.gateway === opt('via')));
      if (i < 0) throw new CommandError(argv, 2, 'RTNETLINK answers: No such process');
      table.splice(i, 1);
      return { stdout: '', stderr: '' };
    }
    throw new CommandError(argv, 1, `unexpected command ${a.join(' ')}`);
  };
  return { exec, calls, table };
}

describe('syncNodeRoutes through an Exec', () => {
  it('replaces, removes stale podgate routes, leaves the others, and is a no-op the second time', async () => {
    const f = fakeIp(lanLinks(), [
      { dst: '192.168.1.0/24', dev: 'eth0', protocol: '2' },
      { dst: '10.244.7.0/24', gateway: '192.168.1.17', dev: 'eth0', protocol: '147' },
      { dst: '10.244.8.0/24', gateway: '192.168.1.18', dev: 'eth0', protocol: '4' },
    ]);
    const nodes = [node('a', '10.244.1.0/24', '192.168.1.10'), node('b', '10.244.2.0/24', '192.168.1.11'), node('h', '10.244.8.0/24', '192.168.1.18')];
    const r = await syncNodeRoutes({ exec: f.exec, nodeName: 'a', nodes });
    assert.deepEqual(r.added, ['10.244.2.0/24 via 192.168.1.11 dev eth0']);
    assert.deepEqual(r.removed, ['10.244.7.0/24']);
    assert.equal(r.diff.blocked.length, 1, 'node h\'s podCIDR has a static route podgate did not make');
    assert.ok(f.calls.includes('ip route replace 10.244.2.0/24 via 192.168.1.11 dev eth0 proto 147'));
    assert.ok(f.calls.includes('ip route del 10.244.7.0/24 via 192.168.1.17 dev eth0 proto 147'));
    assert.deepEqual(f.table.map((x) => `${x.dst} ${x.protocol}`), ['192.168.1.0/24 2', '10.244.8.0/24 4', '10.244.2.0/24 147']);
    f.calls.length = 0;
    const again = await syncNodeRoutes({ exec: f.exec, nodeName: 'a', nodes });
    assert.deepEqual([again.added, again.removed], [[], []]);
    assert.deepEqual(f.calls, ['ip -j -4 addr show up', 'ip -N -j -4 route show table main']);
    assert.deepEqual(await removeNodeRoutes(f.exec), ['10.244.2.0/24']);
    assert.deepEqual(f.table.map((x) => x.dst), ['192.168.1.0/24', '10.244.8.0/24']);
  });

  it('tries every route and throws the failures together (the caller retries)', async () => {
    const f = fakeIp(lanLinks(), []);
    const failing: Exec = async (argv, o) => {
      if (argv.includes('10.244.2.0/24') && argv[2] === 'replace') throw new CommandError(argv, 2, 'Error: Nexthop has invalid gateway.');
      return f.exec(argv, o);
    };
    const nodes = [node('b', '10.244.2.0/24', '192.168.1.11'), node('c', '10.244.3.0/24', '192.168.1.12')];
    await assert.rejects(syncNodeRoutes({ exec: failing, nodeName: 'a', nodes }), /10\.244\.2\.0\/24 via 192\.168\.1\.11 \(node b\).*invalid gateway/);
    assert.deepEqual(f.table.map((x) => x.dst), ['10.244.3.0/24']);
  });
});
