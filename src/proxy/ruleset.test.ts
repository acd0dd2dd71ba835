// The pure proxy: golden renderings, packets walked through the Ruleset value, and incremental
// transactions that touch only the service that changed.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Service } from 'kubernetes-types/core/v1.d.ts';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.d.ts';
import { staleConntrackCommands } from './conntrack.ts';
import { computeHealthChecks } from './health-check.ts';
import { type TracePacket, tracePacket } from './nft-tracer.ts';
import { renderDiff, renderNft } from './render-nft.ts';
import { type ProxyNode, type ServiceUpdate, computeRuleset, computeServiceFragment, updateRuleset } from './ruleset.ts';
import { servicePortsOf } from './service-ports.ts';

type Mutable<T> = { -readonly [K in keyof T]: T[K] extends object ? Mutable<T[K]> : T[K] };
type Svc = Mutable<Service> & { spec: NonNullable<Mutable<Service>['spec']> };

const NODE: ProxyNode = { name: 'n1', addresses: ['192.168.1.10', '127.0.0.1'] };
const OPTS = { clusterCIDR: '10.244.0.0/16' };

function makeService(name: string, clusterIP: string, f: (s: Svc) => void = () => {}): Service {
  const s: Svc = { apiVersion: 'v1', kind: 'Service', metadata: { namespace: 'ns', name }, spec: { type: 'ClusterIP', clusterIP, ports: [{ name: 'http', port: 80, protocol: 'TCP' }] } };
  f(s);
  return s as Service;
}

type Ep = { ip: string; node?: string; ready?: boolean; serving?: boolean; terminating?: boolean };
function makeSlice(service: string, eps: (Ep | string)[], port = 8080, protocol = 'TCP', portName = 'http'): EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', addressType: 'IPv4',
    metadata: { namespace: 'ns', name: `${service}-x`, labels: { 'kubernetes.io/service-name': service } },
    ports: [{ name: portName, port, protocol }],
    endpoints: eps.map((e) => (typeof e === 'string' ? { ip: e } : e)).map((e) => ({
      addresses: [e.ip], nodeName: e.node ?? 'n1',
      conditions: { ready: e.ready ?? true, serving: e.serving ?? e.ready ?? true, terminating: e.terminating ?? false },
    })),
  };
}

const pkt = (p: Partial<TracePacket> & Pick<TracePacket, 'dst' | 'dport'>): TracePacket => ({ src: '192.168.1.99', protocol: 'tcp', hook: 'prerouting', localAddresses: ['192.168.1.10'], ...p });

describe('renderNft', () => {
  it('renders a NodePort service with two endpoints and a service without endpoints (golden)', () => {
    const r = computeRuleset([
      makeService('web', '10.96.0.10', (s) => { s.spec.type = 'NodePort'; s.spec.ports![0]!.nodePort = 30080; }),
      makeService('empty', '10.96.0.11'),
    ], [makeSlice('web', ['10.244.0.3', '10.244.0.2'])], NODE, OPTS);
    assert.equal(renderNft(r), `add table inet podgate_proxy
delete table inet podgate_proxy
table inet podgate_proxy {
	set cluster-ips {
		type ipv4_addr
		elements = { 10.96.0.10,
			     10.96.0.11 }
	}
	set hairpin {
		type ipv4_addr . ipv4_addr
		elements = { 10.244.0.2 . 10.244.0.2,
			     10.244.0.3 . 10.244.0.3 }
	}
	set nodeport-ips {
		type ipv4_addr
		flags interval
		elements = { 192.168.1.10 }
	}
	map service-ips {
		type ipv4_addr . inet_proto . inet_service : verdict
		elements = { 10.96.0.10 . tcp . 80 : goto svc-ns/web/tcp/http,
			     10.96.0.11 . tcp . 80 : goto reject-service }
	}
	map service-nodeports {
		type inet_proto . inet_service : verdict
		elements = { tcp . 30080 : goto svc-ns/web/tcp/http }
	}
	chain masquerading {
		meta mark & 0x4000 == 0x4000 meta mark set meta mark ^ 0x4000 masquerade
		ct status dnat ip saddr . ip daddr @hairpin masquerade
	}
	chain nat-output {
		type nat hook output priority -100; policy accept;
		jump services
	}
	chain nat-postrouting {
		type nat hook postrouting priority 100; policy accept;
		jump masquerading
	}
	chain nat-prerouting {
		type nat hook prerouting priority -100; policy accept;
		jump services
	}
	chain reject-service {
		meta l4proto tcp reject with tcp reset
		reject with icmp type port-unreachable
	}
	chain services {
		ip daddr . meta l4proto . th dport vmap @service-ips
		ip daddr != 127.0.0.0/8 ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports
		ip daddr @cluster-ips goto reject-service
	}
	chain svc-ns/web/tcp/http {
		ip daddr != 10.96.0.10 meta mark set meta mark | 0x4000
		ip saddr != 10.244.0.0/16 meta mark set meta mark | 0x4000
		numgen random mod 2 == 0 meta l4proto tcp dnat ip to 10.244.0.2:8080
		meta l4proto tcp dnat ip to 10.244.0.3:8080
	}
}
`);
  });

  it('is deterministic whatever the input order', () => {
    const svcs = [makeService('a', '10.96.0.1'), makeService('b', '10.96.0.2'), makeService('c', '10.96.0.3')];
    const slices = [makeSlice('a', ['10.244.0.5', '10.244.0.4']), makeSlice('b', ['10.244.0.9']), makeSlice('c', ['10.244.1.1', '10.244.0.200'])];
    assert.equal(renderNft(computeRuleset(svcs, slices, NODE, OPTS)), renderNft(computeRuleset([...svcs].reverse(), [...slices].reverse(), NODE, OPTS)));
  });

  it('skips headless and ExternalName services', () => {
    const r = computeRuleset([makeService('h', 'None'), makeService('x', '', (s) => { s.spec.type = 'ExternalName'; s.spec.externalName = 'example.com'; })], [], NODE, OPTS);
    assert.equal(r.services.size, 0);
  });
});

describe('tracePacket', () => {
  const web = makeService('web', '10.96.0.10', (s) => {
    s.spec.type = 'LoadBalancer';
    s.spec.ports![0]!.nodePort = 30080;
    s.spec.externalIPs = ['203.0.113.7'];
    s.status = { loadBalancer: { ingress: [{ ip: '198.51.100.1' }] } };
  });
  const r = computeRuleset([web], [makeSlice('web', ['10.244.0.2', '10.244.0.3', { ip: '10.244.1.5', node: 'n2' }])], NODE, OPTS);

  it('sends cluster IP traffic from a pod to a random endpoint without masquerade, and masquerades the hairpin', () => {
    const picks = [0, 1, 2].map((i) => tracePacket(r, pkt({ src: '10.244.0.2', dst: '10.96.0.10', dport: 80 }), { pick: () => i }));
    assert.deepEqual(picks.map((t) => [t.dnat, t.masquerade]), [['10.244.0.2:8080', true], ['10.244.0.3:8080', false], ['10.244.1.5:8080', false]]);
  });

  it('masquerades cluster IP traffic from the node itself', () => {
    const t = tracePacket(r, pkt({ src: '192.168.1.10', dst: '10.96.0.10', dport: 80, hook: 'output' }));
    assert.deepEqual([t.verdict, t.masquerade], ['dnat', true]);
  });

  it('serves NodePort, externalIPs and LB ingress IPs from outside, masqueraded (policy Cluster)', () => {
    for (const [dst, dport] of [['192.168.1.10', 30080], ['203.0.113.7', 80], ['198.51.100.1', 80]] as const) {
      const t = tracePacket(r, pkt({ dst, dport }), { pick: () => 2 });
      assert.deepEqual([t.verdict, t.dnat, t.masquerade], ['dnat', '10.244.1.5:8080', true], dst);
    }
  });

  it('does not serve NodePorts on 127.0.0.1 (as kube-proxy nftables mode), nor on wrong ports or protocols', () => {
    assert.equal(tracePacket(r, pkt({ src: '127.0.0.1', dst: '127.0.0.1', dport: 30080, hook: 'output' })).verdict, 'accept');
    assert.equal(tracePacket(r, pkt({ dst: '192.168.1.10', dport: 30081 })).verdict, 'accept');
    assert.equal(tracePacket(r, pkt({ dst: '192.168.1.10', dport: 30080, protocol: 'udp' })).verdict, 'accept');
  });

  it('serves NodePorts on --nodeport-addresses CIDRs, only for local destinations', () => {
    const r2 = computeRuleset([web], [makeSlice('web', ['10.244.0.2'])], { ...NODE, nodePortAddresses: ['192.168.0.0/16'] }, OPTS);
    assert.equal(tracePacket(r2, pkt({ dst: '192.168.1.10', dport: 30080 })).verdict, 'dnat');
    assert.equal(tracePacket(r2, pkt({ dst: '192.168.1.11', dport: 30080 })).verdict, 'accept');
  });

  it('externalTrafficPolicy Local: local endpoints only, no masquerade; the node and pods take the cluster path', () => {
    const local = makeService('local', '10.96.0.20', (s) => { s.spec.type = 'NodePort'; s.spec.ports![0]!.nodePort = 30090; s.spec.externalTrafficPolicy = 'Local'; });
    const rl = computeRuleset([local], [makeSlice('local', ['10.244.0.2', { ip: '10.244.1.5', node: 'n2' }])], NODE, OPTS);
    for (const i of [0, 1]) {
      const t = tracePacket(rl, pkt({ dst: '192.168.1.10', dport: 30090 }), { pick: () => i % 1 });
      assert.deepEqual([t.dnat, t.masquerade], ['10.244.0.2:8080', false]);
    }
    const fromNode = tracePacket(rl, pkt({ src: '192.168.1.10', dst: '192.168.1.10', dport: 30090, hook: 'output' }), { pick: () => 1 });
    assert.deepEqual([fromNode.dnat, fromNode.masquerade], ['10.244.1.5:8080', true]);
    const fromPod = tracePacket(rl, pkt({ src: '10.244.0.3', dst: '192.168.1.10', dport: 30090 }), { pick: () => 1 });
    assert.deepEqual([fromPod.dnat, fromPod.masquerade], ['10.244.1.5:8080', false]);
    // No local endpoint: external traffic is dropped (kube-proxy), cluster traffic still served.
    const none = computeRuleset([local], [makeSlice('local', [{ ip: '10.244.1.5', node: 'n2' }])], NODE, OPTS);
    assert.equal(tracePacket(none, pkt({ dst: '192.168.1.10', dport: 30090 })).verdict, 'drop');
    assert.equal(tracePacket(none, pkt({ src: '10.244.0.3', dst: '10.96.0.20', dport: 80 })).dnat, '10.244.1.5:8080');
  });

  it('internalTrafficPolicy Local: cluster IP goes to local endpoints only (drop when none), NodePort to all', () => {
    const svc = makeService('itp', '10.96.0.30', (s) => { s.spec.type = 'NodePort'; s.spec.ports![0]!.nodePort = 30100; s.spec.internalTrafficPolicy = 'Local'; });
    const ri = computeRuleset([svc], [makeSlice('itp', ['10.244.0.2', { ip: '10.244.1.5', node: 'n2' }])], NODE, OPTS);
    assert.equal(tracePacket(ri, pkt({ src: '10.244.0.9', dst: '10.96.0.30', dport: 80 }), { pick: () => 0 }).dnat, '10.244.0.2:8080');
    assert.equal(tracePacket(ri, pkt({ dst: '192.168.1.10', dport: 30100 }), { pick: () => 1 }).dnat, '10.244.1.5:8080');
    const remoteOnly = computeRuleset([svc], [makeSlice('itp', [{ ip: '10.244.1.5', node: 'n2' }])], NODE, OPTS);
    assert.equal(tracePacket(remoteOnly, pkt({ src: '10.244.0.9', dst: '10.96.0.30', dport: 80 })).verdict, 'drop');
  });

  it('rejects at once when no endpoint is usable; falls back to serving+terminating endpoints when none is ready', () => {
    const svc = makeService('s', '10.96.0.40');
    const notReady = computeRuleset([svc], [makeSlice('s', [{ ip: '10.244.0.2', ready: false, serving: false }])], NODE, OPTS);
    assert.equal(tracePacket(notReady, pkt({ dst: '10.96.0.40', dport: 80 })).verdict, 'reject');
    assert.equal(tracePacket(notReady, pkt({ dst: '10.203.0.1', dport: 80 })).verdict, 'accept', 'not a cluster IP');
    const terminating = computeRuleset([svc], [makeSlice('s', [{ ip: '10.244.0.2', ready: false, serving: true, terminating: true }, { ip: '10.244.0.3', ready: false, serving: false }])], NODE, OPTS);
    assert.equal(tracePacket(terminating, pkt({ dst: '10.96.0.40', dport: 80 })).dnat, '10.244.0.2:8080');
  });

  it('ClientIP affinity: a client comes back to the endpoint it got first', () => {
    const svc = makeService('aff', '10.96.0.50', (s) => { s.spec.sessionAffinity = 'ClientIP'; s.spec.sessionAffinityConfig = { clientIP: { timeoutSeconds: 30 } }; });
    const ra = computeRuleset([svc], [makeSlice('aff', ['10.244.0.2', '10.244.0.3', '10.244.0.4'])], NODE, OPTS);
    const state = new Map<string, Set<string>>();
    const first = tracePacket(ra, pkt({ src: '10.244.5.5', dst: '10.96.0.50', dport: 80 }), { pick: () => 2, state });
    assert.equal(first.dnat, '10.244.0.4:8080');
    for (const i of [0, 1, 2]) assert.equal(tracePacket(ra, pkt({ src: '10.244.5.5', dst: '10.96.0.50', dport: 80 }), { pick: () => i, state }).dnat, '10.244.0.4:8080');
    assert.equal(tracePacket(ra, pkt({ src: '10.244.5.6', dst: '10.96.0.50', dport: 80 }), { pick: () => 0, state }).dnat, '10.244.0.2:8080');
    assert.match(renderNft(ra), /set aff-ns\/aff\/tcp\/http\/10\.244\.0\.2\/8080\/30 \{\n\t\ttype ipv4_addr\n\t\tflags dynamic,timeout\n\t\ttimeout 30s/);
  });
});

describe('regressions (L4 exposure review)', () => {
  const lb = (name: string, clusterIP: string, f: (s: Svc) => void = () => {}) => makeService(name, clusterIP, (s) => {
    s.spec.type = 'LoadBalancer';
    s.spec.ports![0]!.nodePort = 30200;
    s.status = { loadBalancer: { ingress: [{ ip: '198.51.100.1' }] } };
    f(s);
  });

  it('loadBalancerSourceRanges: the LB IP:port only accepts the listed sources; NodePorts and externalIPs stay open', () => {
    const svc = lb('fw', '10.96.0.70', (s) => { s.spec.loadBalancerSourceRanges = ['203.0.113.9/24', ' 192.0.2.7 ']; s.spec.externalIPs = ['203.0.113.50']; });
    const r = computeRuleset([svc], [makeSlice('fw', ['10.244.0.2'])], NODE, OPTS);
    const to = (src: string, dst: string, dport: number) => tracePacket(r, pkt({ src, dst, dport })).verdict;
    assert.equal(to('203.0.113.77', '198.51.100.1', 80), 'dnat', 'a source in a range');
    assert.equal(to('192.0.2.7', '198.51.100.1', 80), 'dnat', 'a bare address is a /32');
    assert.equal(to('192.168.1.99', '198.51.100.1', 80), 'drop', 'a source outside the ranges');
    assert.equal(to('10.244.0.9', '198.51.100.1', 80), 'drop', 'pods too (as kube-proxy)');
    assert.equal(to('192.168.1.99', '192.168.1.10', 30200), 'dnat', 'the NodePort is not guarded');
    assert.equal(to('192.168.1.99', '203.0.113.50', 80), 'dnat', 'externalIPs are not guarded');
    assert.match(renderNft(r), /chain fw-ns\/fw\/tcp\/http \{\n\t\tip saddr != \{ 192\.0\.2\.7\/32, 203\.0\.113\.0\/24 \} drop\n\t\tgoto svc-ns\/fw\/tcp\/http\n/);
    // Without endpoints the firewall still comes first: outsiders are dropped, listed sources refused.
    const empty = computeRuleset([svc], [], NODE, OPTS);
    assert.equal(tracePacket(empty, pkt({ src: '192.168.1.99', dst: '198.51.100.1', dport: 80 })).verdict, 'drop');
    assert.equal(tracePacket(empty, pkt({ src: '203.0.113.77', dst: '198.51.100.1', dport: 80 })).verdict, 'reject');
    // A range holding the node's address admits the node reaching the VIP it holds (source: the VIP).
    const withNode = computeRuleset([lb('fw2', '10.96.0.71', (s) => { s.spec.loadBalancerSourceRanges = ['192.168.1.0/24']; })], [makeSlice('fw2', ['10.244.0.2'])], NODE, OPTS);
    assert.equal(tracePacket(withNode, pkt({ src: '198.51.100.1', dst: '198.51.100.1', dport: 80, hook: 'output', localAddresses: ['192.168.1.10', '198.51.100.1'] })).verdict, 'dnat');
    assert.equal(tracePacket(r, pkt({ src: '198.51.100.1', dst: '198.51.100.1', dport: 80, hook: 'output', localAddresses: ['192.168.1.10', '198.51.100.1'] })).verdict, 'drop');
  });

  it('servicePortsOf normalizes loadBalancerSourceRanges and keeps LB IPs apart from externalIPs', () => {
    const svc = lb('n', '10.96.0.72', (s) => { s.spec.loadBalancerSourceRanges = ['10.1.2.3/8', '10.0.0.0/8', '2001:db8::/32', 'junk', '0.0.0.0/0']; s.spec.externalIPs = ['203.0.113.50']; });
    const [sp] = servicePortsOf(svc, [], 'n1');
    assert.deepEqual(sp!.loadBalancerSourceRanges, ['0.0.0.0/0', '10.0.0.0/8']);
    assert.deepEqual(sp!.loadBalancerIPs, ['198.51.100.1']);
    assert.deepEqual(sp!.externalAddresses, ['198.51.100.1', '203.0.113.50']);
  });

  it('externalTrafficPolicy Local without a local endpoint drops only outside traffic: the node and pods take the cluster path', () => {
    const svc = lb('etp', '10.96.0.80', (s) => { s.spec.externalTrafficPolicy = 'Local'; });
    const r = computeRuleset([svc], [makeSlice('etp', [{ ip: '10.244.1.5', node: 'n2' }])], NODE, OPTS);
    for (const dst of ['198.51.100.1', '192.168.1.10']) {
      const dport = dst === '192.168.1.10' ? 30200 : 80;
      assert.equal(tracePacket(r, pkt({ dst, dport })).verdict, 'drop', `outside → ${dst}`);
      const fromNode = tracePacket(r, pkt({ src: '192.168.1.10', dst, dport, hook: 'output' }));
      assert.deepEqual([fromNode.dnat, fromNode.masquerade], ['10.244.1.5:8080', true], `node → ${dst}`);
      const fromPod = tracePacket(r, pkt({ src: '10.244.0.3', dst, dport }));
      assert.deepEqual([fromPod.dnat, fromPod.masquerade], ['10.244.1.5:8080', false], `pod → ${dst}`);
    }
    // Both policies Local: the short-circuit needs every endpoint, not the (empty) local ones.
    const both = computeRuleset([lb('both', '10.96.0.81', (s) => { s.spec.externalTrafficPolicy = 'Local'; s.spec.internalTrafficPolicy = 'Local'; })],
      [makeSlice('both', [{ ip: '10.244.1.5', node: 'n2' }])], NODE, OPTS);
    assert.equal(tracePacket(both, pkt({ dst: '198.51.100.1', dport: 80 })).verdict, 'drop');
    assert.equal(tracePacket(both, pkt({ src: '10.244.0.3', dst: '198.51.100.1', dport: 80 })).dnat, '10.244.1.5:8080');
    assert.equal(tracePacket(both, pkt({ src: '10.244.0.3', dst: '10.96.0.81', dport: 80 })).verdict, 'drop', 'the cluster IP keeps internalTrafficPolicy Local');
  });

  it('refuses a cluster IP on a port its Service lacks, and drops unallocated addresses of the Service range', () => {
    const r = computeRuleset([makeService('web', '10.96.0.90')], [makeSlice('web', ['10.244.0.2'])], NODE, { ...OPTS, serviceCIDRs: ['10.96.0.0/12'] });
    assert.equal(tracePacket(r, pkt({ dst: '10.96.0.90', dport: 80 })).verdict, 'dnat');
    assert.equal(tracePacket(r, pkt({ dst: '10.96.0.90', dport: 81 })).verdict, 'reject');
    assert.equal(tracePacket(r, pkt({ dst: '10.96.0.90', dport: 80, protocol: 'udp', src: '10.244.0.3' })).verdict, 'reject');
    assert.equal(tracePacket(r, pkt({ src: '192.168.1.10', dst: '10.96.0.90', dport: 81, hook: 'output' })).verdict, 'reject', 'from the node');
    assert.equal(tracePacket(r, pkt({ dst: '10.96.123.123', dport: 80 })).verdict, 'drop');
    assert.equal(tracePacket(r, pkt({ dst: '10.112.0.1', dport: 80 })).verdict, 'accept', 'outside the range');
    // Without the range only cluster IPs are known: other addresses are left alone.
    const noRange = computeRuleset([makeService('web', '10.96.0.90')], [makeSlice('web', ['10.244.0.2'])], NODE, OPTS);
    assert.equal(tracePacket(noRange, pkt({ dst: '10.96.0.90', dport: 81 })).verdict, 'reject');
    assert.equal(tracePacket(noRange, pkt({ dst: '10.96.123.123', dport: 80 })).verdict, 'accept');
  });
});

describe('renderDiff', () => {
  const services = Array.from({ length: 50 }, (_, i) => makeService(`s${i}`, `10.96.1.${i}`, (s) => { s.spec.type = 'NodePort'; s.spec.ports![0]!.nodePort = 30000 + i; }));
  const slices = services.map((_, i) => makeSlice(`s${i}`, [`10.244.2.${i}`, `10.244.3.${i}`]));
  const base = computeRuleset(services, slices, NODE, OPTS);
  const change = (key: string, svc: Service | undefined, sl: EndpointSlice[]): Map<string, ServiceUpdate> => {
    if (!svc) return new Map([[key, undefined]]);
    const ports = servicePortsOf(svc, sl, NODE.name);
    return new Map([[key, { ports, fragment: computeServiceFragment(ports, OPTS) }]]);
  };

  it('many successive updates (past the copy-on-write fold) equal a full computation and leave older versions intact', () => {
    let r = base;
    let cur = slices;
    let present = services.map(() => true);
    const versions: [ReturnType<typeof updateRuleset>, string][] = [[base, renderNft(base)]];
    for (let k = 0; k < 300; k++) {
      const i = (k * 7) % 50;
      const drop = k % 11 === 0;
      const sl = makeSlice(`s${i}`, [`10.244.${4 + (k % 3)}.${i}`, `10.244.7.${k % 200}`]);
      r = updateRuleset(r, change(`ns/s${i}`, drop ? undefined : services[i], [sl]));
      present = present.map((p, j) => (j === i ? !drop : p));
      cur = cur.map((x, j) => (j === i ? sl : x));
      if (k % 50 === 0) versions.push([r, renderNft(r)]);
    }
    const full = computeRuleset(services.filter((_, j) => present[j]), cur.filter((_, j) => present[j]), NODE, OPTS);
    assert.equal(renderNft(r), renderNft(full));
    assert.equal(r.services.size, full.services.size);
    assert.deepEqual([...r.services.keys()].sort(), [...full.services.keys()].sort());
    for (const [v, text] of versions) assert.equal(renderNft(v), text);
  });

  it('a changed endpoint rewrites one chain and nothing else', () => {
    const next = updateRuleset(base, change('ns/s7', services[7], [makeSlice('s7', ['10.244.2.7', '10.244.4.7'])]));
    assert.equal(renderDiff(base, next), `flush chain inet podgate_proxy svc-ns/s7/tcp/http
add rule inet podgate_proxy svc-ns/s7/tcp/http ip daddr != 10.96.1.7 meta mark set meta mark | 0x4000
add rule inet podgate_proxy svc-ns/s7/tcp/http ip saddr != 10.244.0.0/16 meta mark set meta mark | 0x4000
add rule inet podgate_proxy svc-ns/s7/tcp/http numgen random mod 2 == 0 meta l4proto tcp dnat ip to 10.244.2.7:8080
add rule inet podgate_proxy svc-ns/s7/tcp/http meta l4proto tcp dnat ip to 10.244.4.7:8080
delete element inet podgate_proxy hairpin { 10.244.3.7 . 10.244.3.7 }
add element inet podgate_proxy hairpin { 10.244.4.7 . 10.244.4.7 }
`);
    // The incremental result equals what a full computation gives.
    const full = computeRuleset(services, slices.map((s, i) => (i === 7 ? makeSlice('s7', ['10.244.2.7', '10.244.4.7']) : s)), NODE, OPTS);
    assert.equal(renderNft(next), renderNft(full));
  });

  it('losing every endpoint swaps the verdicts to reject and removes the chain; deleting a service removes its elements', () => {
    const empty = updateRuleset(base, change('ns/s3', services[3], []));
    assert.equal(renderDiff(base, empty), `delete element inet podgate_proxy hairpin { 10.244.2.3 . 10.244.2.3 }
delete element inet podgate_proxy hairpin { 10.244.3.3 . 10.244.3.3 }
delete element inet podgate_proxy service-ips { 10.96.1.3 . tcp . 80 }
delete element inet podgate_proxy service-nodeports { tcp . 30003 }
add element inet podgate_proxy service-ips { 10.96.1.3 . tcp . 80 : goto reject-service }
add element inet podgate_proxy service-nodeports { tcp . 30003 : goto reject-service }
flush chain inet podgate_proxy svc-ns/s3/tcp/http
delete chain inet podgate_proxy svc-ns/s3/tcp/http
`);
    const gone = updateRuleset(empty, change('ns/s3', undefined, []));
    assert.equal(renderDiff(empty, gone), `delete element inet podgate_proxy cluster-ips { 10.96.1.3 }
delete element inet podgate_proxy service-ips { 10.96.1.3 . tcp . 80 }
delete element inet podgate_proxy service-nodeports { tcp . 30003 }
`);
  });

  it('an unchanged recomputation sends nothing; a shared hairpin element stays while another service uses it', () => {
    assert.equal(renderDiff(base, updateRuleset(base, change('ns/s1', services[1], [slices[1]!]))), '');
    const twin = makeService('twin', '10.96.9.9');
    const withTwin = updateRuleset(base, change('ns/twin', twin, [makeSlice('twin', ['10.244.2.1'])]));
    assert.doesNotMatch(renderDiff(base, withTwin), /hairpin/);
    const s1gone = updateRuleset(withTwin, change('ns/s1', undefined, []));
    const d = renderDiff(withTwin, s1gone);
    assert.doesNotMatch(d, /10\.244\.2\.1 \. 10\.244\.2\.1/);
    assert.match(d, /delete element inet podgate_proxy hairpin \{ 10\.244\.3\.1 \. 10\.244\.3\.1 \}/);
  });

  it('two services claiming one external IP: the first by name wins, the other takes over when it goes', () => {
    const a = makeService('a', '10.96.9.1', (s) => { s.spec.externalIPs = ['203.0.113.1']; });
    const b = makeService('b', '10.96.9.2', (s) => { s.spec.externalIPs = ['203.0.113.1']; });
    const r = computeRuleset([b, a], [makeSlice('a', ['10.244.0.1']), makeSlice('b', ['10.244.0.2'])], NODE, OPTS);
    assert.match(renderNft(r), /203\.0\.113\.1 \. tcp \. 80 : goto svc-ns\/a\/tcp\/http/);
    const next = updateRuleset(r, change('ns/a', undefined, []));
    assert.match(renderDiff(r, next), /add element inet podgate_proxy service-ips \{ 203\.0\.113\.1 \. tcp \. 80 : goto svc-ns\/b\/tcp\/http \}/);
  });
});

describe('staleConntrackCommands and computeHealthChecks', () => {
  it('deletes UDP flows to removed endpoints, and flows of a service that gets its first endpoint', () => {
    const svc = makeService('dns', '10.96.0.53', (s) => { s.spec.ports = [{ name: 'dns', port: 53, protocol: 'UDP' }]; });
    const ports = (eps: string[]) => new Map([['ns/dns', servicePortsOf(svc, [makeSlice('dns', eps, 5353, 'UDP', 'dns')], 'n1')]]);
    assert.deepEqual(staleConntrackCommands(ports(['10.244.0.2', '10.244.0.3']), ports(['10.244.0.3'])), [
      ['conntrack', '-D', '-p', 'udp', '--orig-dst', '10.96.0.53', '--orig-port-dst', '53', '--dst-nat', '10.244.0.2'],
    ]);
    assert.deepEqual(staleConntrackCommands(ports([]), ports(['10.244.0.3'])), [['conntrack', '-D', '-p', 'udp', '--orig-dst', '10.96.0.53', '--orig-port-dst', '53']]);
    assert.deepEqual(staleConntrackCommands(ports(['10.244.0.3']), ports(['10.244.0.3'])), []);
  });

  it('reports local endpoints per LoadBalancer service with externalTrafficPolicy Local', () => {
    const svc = makeService('lb', '10.96.0.60', (s) => { s.spec.type = 'LoadBalancer'; s.spec.externalTrafficPolicy = 'Local'; s.spec.healthCheckNodePort = 32000; s.spec.ports![0]!.nodePort = 31000; });
    const ports = new Map([['ns/lb', servicePortsOf(svc, [makeSlice('lb', ['10.244.0.2', { ip: '10.244.1.2', node: 'n2' }])], 'n1')]]);
    assert.deepEqual(computeHealthChecks([svc], ports), [{ port: 32000, namespace: 'ns', name: 'lb', localEndpoints: 1 }]);
  });
});
