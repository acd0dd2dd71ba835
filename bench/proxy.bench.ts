// The service proxy's programming cost against the layout of upstream kube-proxy's nftables mode
// (pkg/proxy/nftables/proxier.go), side by side in one throwaway network namespace: the time to
// program 1,000 and 10,000 services from scratch (compute + render + `nft -f`), and the time for
// one service change at 10,000 (an endpoint replaced). Both scripts go through the same nft binary;
// the kube-proxy layout is generated here, rule for rule as proxier.go writes it (service chain,
// external chain, one chain per endpoint, the no-endpoint and cluster-ip filter maps).
import { execFileSync, spawn } from 'node:child_process';
import type { Service } from 'kubernetes-types/core/v1.d.ts';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.d.ts';
import { computeRuleset, computeServiceFragment, updateRuleset } from '../src/proxy/ruleset.ts';
import { renderDiff, renderNft } from '../src/proxy/render-nft.ts';
import { NftSession } from '../src/proxy/nft-session.ts';
import { TABLE_FAMILY, TABLE_NAME } from '../src/proxy/ruleset.ts';
import { servicePortsOf } from '../src/proxy/service-ports.ts';
import type { BenchModule } from './bench-module.ts';
import { withRatios } from './report.ts';

const NODE = { name: 'n1', addresses: ['192.168.77.10'] };
const CLUSTER_CIDR = '10.244.0.0/16';
const EPS = 3;
const NODEPORTS = 2000;

const ipOf = (k: number, base: string) => `${base}.${(k >> 8) & 255}.${k & 255}`;
const clusterIP = (i: number) => ipOf(i + 256, '10.96');
const epIP = (i: number, j: number) => ipOf(i * EPS + j + 256, '10.244');

function makeServices(n: number): { services: Service[]; slices: EndpointSlice[] } {
  const services: Service[] = [];
  const slices: EndpointSlice[] = [];
  for (let i = 0; i < n; i++) {
    const nodePort = i < NODEPORTS ? 30000 + i : undefined;
    services.push({ metadata: { namespace: 'bench', name: `svc${i}` }, spec: { type: nodePort ? 'NodePort' : 'ClusterIP', clusterIP: clusterIP(i), ports: [{ name: 'http', port: 80, protocol: 'TCP', ...(nodePort ? { nodePort } : {}) }] } });
    slices.push(makeSlice(i, Array.from({ length: EPS }, (_, j) => epIP(i, j))));
  }
  return { services, slices };
}

function makeSlice(i: number, ips: string[]): EndpointSlice {
  return {
    addressType: 'IPv4', metadata: { namespace: 'bench', name: `svc${i}-x`, labels: { 'kubernetes.io/service-name': `svc${i}` } },
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    endpoints: ips.map((ip) => ({ addresses: [ip], conditions: { ready: true }, nodeName: 'n1' })),
  };
}

// ---- kube-proxy nftables mode layout ----------------------------------------------------------

const KP = 'ip kube-proxy';

function kpHash(s: string): string {
  // proxier.go hashes the name into a base32 prefix; any stable 8 characters do for the layout.
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619) >>> 0;
  return h.toString(36).toUpperCase().padStart(8, '0').slice(0, 8);
}

interface KpService { i: number; name: string; cip: string; nodePort?: number; eps: string[] }

const svcChain = (s: KpService) => `service-${kpHash(s.name)}-${s.name}`;
const extChain = (s: KpService) => `external-${kpHash(s.name)}-${s.name}`;
const epChain = (s: KpService, ip: string) => `endpoint-${kpHash(`${s.name}${ip}`)}-${s.name}__${ip}/8080`;

function kpServiceChains(s: KpService): [string, string[]][] {
  const chains: [string, string[]][] = [];
  chains.push([svcChain(s), [
    `ip daddr ${s.cip} tcp dport 80 ip saddr != ${CLUSTER_CIDR} jump mark-for-masquerade`,
    `numgen random mod ${s.eps.length} vmap { ${s.eps.map((ip, j) => `${j} : goto ${epChain(s, ip)}`).join(' , ')} }`,
  ]]);
  if (s.nodePort) chains.push([extChain(s), ['jump mark-for-masquerade', `goto ${svcChain(s)}`]]);
  for (const ip of s.eps) chains.push([epChain(s, ip), [`ip saddr ${ip} jump mark-for-masquerade`, `meta l4proto tcp dnat to ${ip}:8080`]]);
  return chains;
}

function kpFullScript(svcs: KpService[]): string {
  const out: string[] = [`add table ${KP}`, `delete table ${KP}`, `add table ${KP}`];
  const chain = (name: string, hook?: string) => out.push(hook ? `add chain ${KP} ${name} { ${hook} }` : `add chain ${KP} ${name}`);
  const rule = (c: string, r: string) => out.push(`add rule ${KP} ${c} ${r}`);
  out.push(`add set ${KP} cluster-ips { type ipv4_addr ; }`);
  out.push(`add set ${KP} nodeport-ips { type ipv4_addr ; }`);
  out.push(`add map ${KP} service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; }`);
  out.push(`add map ${KP} service-nodeports { type inet_proto . inet_service : verdict ; }`);
  out.push(`add map ${KP} no-endpoint-services { type ipv4_addr . inet_proto . inet_service : verdict ; }`);
  out.push(`add map ${KP} no-endpoint-nodeports { type inet_proto . inet_service : verdict ; }`);
  out.push(`add map ${KP} firewall-ips { type ipv4_addr . inet_proto . inet_service : verdict ; }`);
  chain('filter-prerouting', 'type filter hook prerouting priority -110 ;');
  chain('filter-input', 'type filter hook input priority -110 ;');
  chain('filter-forward', 'type filter hook forward priority -110 ;');
  chain('filter-output', 'type filter hook output priority -110 ;');
  chain('filter-output-post-dnat', 'type filter hook output priority -90 ;');
  chain('nat-prerouting', 'type nat hook prerouting priority -100 ;');
  chain('nat-output', 'type nat hook output priority -100 ;');
  chain('nat-postrouting', 'type nat hook postrouting priority 100 ;');
  for (const c of ['firewall-check', 'service-endpoints-check', 'nodeport-endpoints-check', 'cluster-ips-check', 'reject-chain', 'mark-for-masquerade', 'masquerading', 'services']) chain(c);
  rule('filter-prerouting', 'ct state new jump firewall-check');
  rule('filter-input', 'ct state new jump nodeport-endpoints-check');
  rule('filter-input', 'ct state new jump service-endpoints-check');
  rule('filter-forward', 'ct state new jump service-endpoints-check');
  rule('filter-forward', 'ct state new jump cluster-ips-check');
  rule('filter-output', 'ct state new jump service-endpoints-check');
  rule('filter-output', 'ct state new jump firewall-check');
  rule('filter-output-post-dnat', 'ct state new jump cluster-ips-check');
  rule('nat-prerouting', 'jump services');
  rule('nat-output', 'jump services');
  rule('nat-postrouting', 'jump masquerading');
  rule('firewall-check', 'ip daddr . meta l4proto . th dport vmap @firewall-ips');
  rule('service-endpoints-check', 'ip daddr . meta l4proto . th dport vmap @no-endpoint-services');
  rule('nodeport-endpoints-check', 'ip daddr @nodeport-ips meta l4proto . th dport vmap @no-endpoint-nodeports');
  rule('cluster-ips-check', 'ip daddr @cluster-ips reject');
  rule('cluster-ips-check', 'ip daddr 10.96.0.0/12 drop');
  rule('reject-chain', 'reject');
  rule('mark-for-masquerade', 'meta mark set meta mark or 0x4000');
  rule('masquerading', 'meta mark & 0x4000 == 0 return');
  rule('masquerading', 'meta mark set meta mark xor 0x4000');
  rule('masquerading', 'masquerade fully-random');
  rule('services', 'ip daddr . meta l4proto . th dport vmap @service-ips');
  rule('services', 'ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports');
  out.push(`add element ${KP} nodeport-ips { ${NODE.addresses[0]} }`);
  for (const s of svcs) {
    const chains = kpServiceChains(s);
    for (const [c] of chains) chain(c);
    for (const [c, rules] of chains) for (const r of rules) rule(c, r);
    out.push(`add element ${KP} cluster-ips { ${s.cip} }`);
    out.push(`add element ${KP} service-ips { ${s.cip} . tcp . 80 : goto ${svcChain(s)} }`);
    if (s.nodePort) out.push(`add element ${KP} service-nodeports { tcp . ${s.nodePort} : goto ${extChain(s)} }`);
  }
  return `${out.join('\n')}\n`;
}

/** kube-proxy's partial sync of one changed service: its chains rewritten, the new endpoint chain added, the stale one deleted. */
function kpChangeScript(prev: KpService, next: KpService): string {
  const out: string[] = [];
  const oldChains = new Set(kpServiceChains(prev).map(([c]) => c));
  const nextChains = kpServiceChains(next);
  for (const [c] of nextChains) if (!oldChains.has(c)) out.push(`add chain ${KP} ${c}`);
  for (const [c, rules] of nextChains) {
    out.push(`flush chain ${KP} ${c}`);
    for (const r of rules) out.push(`add rule ${KP} ${c} ${r}`);
  }
  const keep = new Set(nextChains.map(([c]) => c));
  for (const c of oldChains) if (!keep.has(c)) out.push(`flush chain ${KP} ${c}`, `delete chain ${KP} ${c}`);
  return `${out.join('\n')}\n`;
}

// ---- running nft in a throwaway netns ------------------------------------------------------------

function nft(netns: string, script: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn('nsenter', [`--net=/run/netns/${netns}`, '--', 'nft', '-f', '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    p.once('error', reject);
    p.once('close', (code) => (code === 0 ? resolve() : reject(new Error(`nft -f: exit ${code}: ${err.slice(0, 2000)}`))));
    p.stdin.end(script);
  });
}

async function timed(f: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  await f();
  return performance.now() - t0;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

export const proxyBench: BenchModule = {
  name: 'proxy',
  description: 'service proxy nftables programming: podgate layout vs kube-proxy nftables-mode layout, same nft, throwaway netns',
  async run(ctx) {
    const { out, log } = ctx;
    if (process.getuid?.() !== 0) throw new Error('the proxy benchmark needs root (network namespace, nft)');
    for (const tool of ['nft', 'nsenter', 'ip']) {
      try { execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }); } catch { throw new Error(`${tool} is missing (apt-get install -y nftables util-linux iproute2)`); }
    }
    out.peers['kube-proxy-layout'] = `the ruleset kube-proxy's nftables mode (v1.31 proxier.go) writes for the same services: service + external + one chain per endpoint, no-endpoint/cluster-ip filter maps; generated here and loaded with the same nft ${execFileSync('nft', ['--version'], { encoding: 'utf8' }).trim()}`;
    out.notes.push(`Each service: one TCP port, ${EPS} ready endpoints; the first ${NODEPORTS} are NodePorts (the port range holds 2768). Times include computing and rendering the script in this process and nft -f reading it; podgate's table is one inet table, kube-proxy's one ip table, each loaded into an empty namespace.`);
    // One namespace per layout: nft loads every table of the namespace into its cache on each
    // run, so a neighbour's 40,000 chains would slow the other layout's changes down.
    const netns = `pgb-${process.pid}-proxy`;
    const kpNetns = `pgb-${process.pid}-kproxy`;
    execFileSync('ip', ['netns', 'add', netns]);
    execFileSync('ip', ['netns', 'add', kpNetns]);
    try {
      for (const n of [1000, 10000]) {
        const { services, slices } = makeServices(n);
        const kp: KpService[] = services.map((s, i) => ({ i, name: `bench/svc${i}/tcp/http`, cip: clusterIP(i), ...(i < NODEPORTS ? { nodePort: 30000 + i } : {}), eps: Array.from({ length: EPS }, (_, j) => epIP(i, j)) }));
        const runs = n >= 10000 ? 1 : 3;
        const pg: number[] = [];
        const kq: number[] = [];
        let ruleset = computeRuleset(services, slices, NODE, { clusterCIDR: CLUSTER_CIDR });
        let kpScript = '';
        for (let k = 0; k < runs; k++) {
          pg.push(await timed(async () => {
            ruleset = computeRuleset(services, slices, NODE, { clusterCIDR: CLUSTER_CIDR });
            await nft(netns, renderNft(ruleset));
          }));
          kq.push(await timed(async () => {
            kpScript = kpFullScript(kp);
            await nft(kpNetns, kpScript);
          }));
        }
        const pgScript = renderNft(ruleset);
        log(`${n} services: podgate ${median(pg).toFixed(0)} ms (${pgScript.length} bytes), kube-proxy layout ${median(kq).toFixed(0)} ms (${kpScript.length} bytes)`);
        out.rows.push(withRatios({ name: `program ${n.toLocaleString('en')} services from scratch`, value: median(pg), unit: 'ms', better: 'lower', peer: median(kq), peerName: 'kube-proxy-layout', note: `${runs > 1 ? `median of ${runs}` : 'one run'}; chains ${countChains(pgScript)} vs ${countChains(kpScript)}` }));
        if (n < 10000) continue;
        // One change at 10,000: svc5's last endpoint replaced by a new address, as after a pod restart.
        const changes: number[] = [];
        const session = new NftSession({ argv: ['nsenter', `--net=/run/netns/${netns}`, '--', 'nft', '-i'] });
        await session.run(`add table ${TABLE_FAMILY} ${TABLE_NAME}\n`);
        const kpChanges: number[] = [];
        for (let k = 0; k < 5; k++) {
          const i = 5 + k;
          const moved = Array.from({ length: EPS }, (_, j) => (j === EPS - 1 ? `10.245.${k}.${i}` : epIP(i, j)));
          changes.push(await timed(async () => {
            const ports = servicePortsOf(services[i]!, [makeSlice(i, moved)], NODE.name);
            const next = updateRuleset(ruleset, new Map([[`bench/svc${i}`, { ports, fragment: computeServiceFragment(ports, { clusterCIDR: CLUSTER_CIDR }) }]]));
            // As ServiceProxy applies incremental syncs: through its long-running nft -i.
            await session.run(renderDiff(ruleset, next));
            ruleset = next;
          }));
          kpChanges.push(await timed(async () => {
            const prev = kp[i]!;
            const next = { ...prev, eps: moved };
            await nft(kpNetns, kpChangeScript(prev, next));
            kp[i] = next;
          }));
        }
        session.close();
        // The same change through a one-shot nft -f (ServiceProxy's fallback): services 15-19.
        const oneShot: number[] = [];
        for (let k = 0; k < 5; k++) {
          const i = 15 + k;
          const moved = Array.from({ length: EPS }, (_, j) => (j === EPS - 1 ? `10.245.${k}.${i}` : epIP(i, j)));
          oneShot.push(await timed(async () => {
            const ports = servicePortsOf(services[i]!, [makeSlice(i, moved)], NODE.name);
            const next = updateRuleset(ruleset, new Map([[`bench/svc${i}`, { ports, fragment: computeServiceFragment(ports, { clusterCIDR: CLUSTER_CIDR }) }]]));
            await nft(netns, renderDiff(ruleset, next));
            ruleset = next;
          }));
        }
        out.rows.push(withRatios({ name: 'one service change at 10,000 services, one-shot nft -f (the fallback)', value: median(oneShot), unit: 'ms', better: 'lower', note: 'median of 5' }));
        log(`one change at 10,000: podgate ${median(changes).toFixed(1)} ms, kube-proxy layout ${median(kpChanges).toFixed(1)} ms`);
        out.rows.push(withRatios({ name: 'one service change at 10,000 services (compute + nft)', value: median(changes), unit: 'ms', better: 'lower', peer: median(kpChanges), peerName: 'kube-proxy-layout', target: 50, note: 'median of 5; podgate through its running nft -i, kube-proxy layout one nft -f; excludes the watch delivery from the API server' }));
      }
    } finally {
      for (const ns of [netns, kpNetns]) try { execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' }); } catch { /* already gone */ }
    }
  },
};

function countChains(script: string): number {
  return (script.match(/^\s*(?:add )?chain /gm) ?? []).length;
}
