import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type HostPortMapping, findHostPortConflicts, renderDeleteRuleset, renderHostPortRules, renderNodeRuleset, validateHostPorts } from './node-ruleset.ts';
import { planNode } from './plan.ts';

const plan = planNode({ nodeName: 'n', podCIDR: '10.244.1.0/24', clusterCIDR: '10.244.0.0/16' });
const m = (o: Partial<HostPortMapping>): HostPortMapping => ({ hostPort: 8080, protocol: 'TCP', podIP: '10.244.1.2', containerPort: 80, ...o });

describe('validateHostPorts', () => {
  it('sorts specific hostIPs first, then port and protocol, and normalises the wildcard', () => {
    const out = validateHostPorts([
      m({ hostPort: 9000 }), m({ hostPort: 53, protocol: 'UDP' }), m({ hostPort: 53, protocol: 'TCP' }),
      m({ hostIP: '0.0.0.0', hostPort: 1 }), m({ hostIP: '10.0.0.9', hostPort: 9999 }), m({ hostIP: '10.0.0.2', hostPort: 9999 }),
      m({ hostIP: 'fd00::1' }),
    ]);
    assert.deepEqual(out.map((x) => `${x.hostIP || '*'}:${x.hostPort}/${x.protocol}`), [
      '10.0.0.2:9999/TCP', '10.0.0.9:9999/TCP', '*:1/TCP', '*:53/TCP', '*:53/UDP', '*:9000/TCP',
    ]);
  });

  const bad: { name: string; mapping: HostPortMapping; error: RegExp }[] = [
    { name: 'port 0', mapping: m({ hostPort: 0 }), error: /hostPort must be 1-65535/ },
    { name: 'port too big', mapping: m({ containerPort: 70000 }), error: /containerPort must be 1-65535/ },
    { name: 'protocol', mapping: m({ protocol: 'ICMP' as 'TCP' }), error: /protocol must be TCP, UDP or SCTP/ },
    { name: 'pod IP', mapping: m({ podIP: 'x' }), error: /invalid IPv4/ },
    { name: 'host IP', mapping: m({ hostIP: '1.2.3' }), error: /invalid IPv4/ },
  ];
  for (const b of bad) it(`rejects ${b.name}`, () => assert.throws(() => validateHostPorts([b.mapping]), b.error));

  it('finds conflicts: same address, port and protocol', () => {
    const sorted = validateHostPorts([m({}), m({ podIP: '10.244.1.3' }), m({ protocol: 'UDP' }), m({ hostIP: '10.0.0.1' })]);
    assert.deepEqual(findHostPortConflicts(sorted), [m({ hostIP: '', podIP: '10.244.1.3' })]);
  });
});

describe('renderHostPortRules', () => {
  it('marks localhost and pod sources for masquerade before each DNAT', () => {
    assert.deepEqual(renderHostPortRules(plan, validateHostPorts([m({ hostIP: '10.0.0.5', protocol: 'UDP', hostPort: 53, containerPort: 5353 }), m({ protocol: 'SCTP' })])), [
      'ip daddr 10.0.0.5 udp dport 53 ip saddr { 10.244.1.0/24, 127.0.0.0/8 } meta mark set meta mark | 0x00002000',
      'ip daddr 10.0.0.5 udp dport 53 dnat ip to 10.244.1.2:5353',
      'sctp dport 8080 ip saddr { 10.244.1.0/24, 127.0.0.0/8 } meta mark set meta mark | 0x00002000',
      'sctp dport 8080 dnat ip to 10.244.1.2:80',
    ]);
  });
});

describe('renderNodeRuleset', () => {
  it('replaces the whole table in one script (golden)', () => {
    assert.equal(renderNodeRuleset(plan, [m({})]), `table inet podgate_node
delete table inet podgate_node
table inet podgate_node {
	chain prerouting {
		type nat hook prerouting priority -100; policy accept;
		fib daddr type local jump hostports
	}
	chain output {
		type nat hook output priority -100; policy accept;
		fib daddr type local jump hostports
	}
	chain hostports {
		tcp dport 8080 ip saddr { 10.244.1.0/24, 127.0.0.0/8 } meta mark set meta mark | 0x00002000
		tcp dport 8080 dnat ip to 10.244.1.2:80
	}
	chain postrouting {
		type nat hook postrouting priority 100; policy accept;
		meta mark & 0x00002000 == 0x00002000 masquerade
		ip saddr 10.244.1.0/24 ip daddr != 10.244.0.0/16 masquerade
	}
	chain forward {
		type filter hook forward priority 0; policy accept;
		iifname "podgate0" accept
		oifname "podgate0" accept
	}
	chain input {
		type filter hook input priority 0; policy accept;
		iifname "podgate0" ip daddr 127.0.0.0/8 ct state new drop
		ip daddr 10.244.1.1 meta l4proto { tcp, udp } th dport 53 ip saddr != 10.244.0.0/16 fib saddr type != local drop
	}
}
`);
  });

  it('is deterministic whatever the input order', () => {
    const ms = [m({ hostPort: 1 }), m({ hostPort: 2, protocol: 'UDP' }), m({ hostIP: '10.0.0.1', hostPort: 3 })];
    assert.equal(renderNodeRuleset(plan, ms), renderNodeRuleset(plan, [...ms].reverse()));
  });

  it('deletes idempotently', () => {
    assert.equal(renderDeleteRuleset(), 'table inet podgate_node\ndelete table inet podgate_node\n');
  });
});
