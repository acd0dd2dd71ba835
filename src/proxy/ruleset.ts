// The proxy's desired nftables state as a plain value, computed by small emitters per concern.
// Pure: Services, EndpointSlices and the node in; a Ruleset out. Rendering is render-nft.ts.
//
// Layout (table `inet podgate_proxy`), compared with kube-proxy's nftables mode
// (pkg/proxy/nftables/proxier.go):
//
//   nat-prerouting / nat-output ─ jump services
//   services:  ip daddr . meta l4proto . th dport vmap @service-ips        (cluster, external, LB IPs)
//              ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports
//              ip daddr @cluster-ips goto reject-service                    (a port the Service lacks)
//              ip daddr <service CIDR> drop                                  (an unallocated cluster IP)
//   svc-<ns/name/proto/port>:  [mark rules]  numgen random mod N-i == 0 dnat ip to ip:port (one rule per endpoint)
//   ext-<…>:   only when external traffic needs other endpoints than cluster traffic (a Local policy)
//   clu-<…>:   all endpoints, when the node or a pod reaches a service with both policies Local
//   fw-<…>:    loadBalancerSourceRanges: LB IP:port elements go here first (drop other sources)
//   aep-<…>/<ip>/<port>: only with ClientIP affinity (update the per-endpoint affinity set, DNAT)
//   nat-postrouting: masquerade marked packets; masquerade hairpin (ip saddr . ip daddr @hairpin);
//                    source ports kept where free (kube-proxy: fully-random, see emitMasquerade)
//
// kube-proxy creates per service port a service chain, an external chain and one chain per
// endpoint (mark-for-hairpin + DNAT), and rejects through separate filter-hook maps. Here a
// service port without affinity is one chain: the mark rules, then one DNAT rule per endpoint
// picked by a numgen cascade (no per-endpoint chains, no anonymous sets), hairpin is one set
// lookup in postrouting instead of a rule per endpoint, and "no endpoints" is a verdict in the
// same service-ips map (goto reject-service), so a sync programs several times fewer objects and a
// change rewrites one short chain. kube-proxy's firewall-ips map (a filter chain before DNAT) is
// here the LB IP's own service-ips verdict: `goto fw-…`, which drops other sources and then
// continues with the verdict the element would have had. Everything runs in the nat hooks, so
// only a connection's first packet is judged (kube-proxy's `ct state new`).
import type { Service } from 'kubernetes-types/core/v1.d.ts';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.d.ts';
import { cidrContains } from '../api/net/ip.ts';
import { type ProxyEndpoint, type ServicePortInfo, SERVICE_NAME_LABEL, compareIPv4, isIPv4, normalizeCIDR, servicePortsOf } from './service-ports.ts';

export const TABLE_FAMILY = 'inet';
export const TABLE_NAME = 'podgate_proxy';
/** kube-proxy's masquerade bit (--masquerade-bit 14); podgate's node table uses 0x2000 for hostPort. */
export const MASQ_MARK = 0x4000;
const MARK = `0x${MASQ_MARK.toString(16)}`;
const SET_MARK = `meta mark set meta mark | ${MARK}`;

export const SERVICE_IPS = 'service-ips';
export const SERVICE_NODEPORTS = 'service-nodeports';
export const NODEPORT_IPS = 'nodeport-ips';
export const HAIRPIN = 'hairpin';
export const CLUSTER_IPS = 'cluster-ips';
export const REJECT_CHAIN = 'reject-service';

export interface ProxyNode {
  readonly name: string;
  /** The node's IPv4 addresses: NodePorts answer on these (loopback addresses are ignored). */
  readonly addresses: readonly string[];
  /** `--nodeport-addresses`: CIDRs narrowing (or widening) where NodePorts answer, instead of `addresses`. */
  readonly nodePortAddresses?: readonly string[];
}

export interface RulesetOptions {
  /**
   * The pods' range (kube-proxy's --cluster-cidr). Cluster-IP traffic from outside it (the node
   * itself, other hosts) is masqueraded so replies come back through this node; pods reaching an
   * external address of a Local-policy service take the cluster path.
   */
  readonly clusterCIDR?: string;
  /** False when the kernel lacks SCTP conntrack: SCTP ports are left out. */
  readonly sctp?: boolean;
  /**
   * The Service range(s) (kube-apiserver's --service-cluster-ip-range; kube-proxy learns them
   * from ServiceCIDR objects). Traffic to an address in them that is no Service's cluster IP is
   * dropped at once instead of being routed nowhere. IPv4 CIDRs; others are ignored.
   */
  readonly serviceCIDRs?: readonly string[];
}

export interface SetDecl {
  readonly name: string;
  readonly kind: 'set' | 'map';
  /** Body lines: `type …`, `flags …`, `timeout …`. Part of the identity: a change means a new name. */
  readonly spec: readonly string[];
}

export interface Chain {
  readonly name: string;
  /** `type nat hook prerouting priority -100; policy accept;` for base chains. */
  readonly hook?: string;
  readonly rules: readonly string[];
}

export interface Element {
  readonly set: string;
  readonly key: string;
  /** The map value (a verdict); '' for sets. */
  readonly value: string;
}

/** What one owner (a Service, or the base) contributes. */
export interface Fragment {
  readonly sets: readonly SetDecl[];
  readonly chains: readonly Chain[];
  readonly elements: readonly Element[];
  /** Equal signatures mean equal fragments: a change that alters nothing touches nothing. */
  readonly signature: string;
}

/** An element key claimed by several owners (two Services with one externalIP:port): the first owner in name order wins. */
export interface Claim {
  readonly owner: string;
  readonly value: string;
}

export interface Ruleset {
  readonly base: Fragment;
  /** By Service `namespace/name`. */
  readonly services: ReadonlyMap<string, Fragment>;
  readonly ports: ReadonlyMap<string, readonly ServicePortInfo[]>;
  /** Set name → key → claims sorted by owner ('' is the base). */
  readonly elements: ReadonlyMap<string, ReadonlyMap<string, readonly Claim[]>>;
}

class FragmentBuilder {
  readonly #sets = new Map<string, SetDecl>();
  readonly #chains = new Map<string, Chain>();
  readonly #elements = new Map<string, Element>();

  set(d: SetDecl): void {
    this.#sets.set(d.name, d);
  }

  chain(name: string, rules: readonly string[], hook?: string): void {
    this.#chains.set(name, hook ? { name, hook, rules } : { name, rules });
  }

  hasChain(name: string): boolean {
    return this.#chains.has(name);
  }

  element(set: string, key: string, value = ''): void {
    const k = `${set}\0${key}`;
    if (!this.#elements.has(k)) this.#elements.set(k, { set, key, value });
  }

  build(): Fragment {
    const byName = <T extends { name: string }>(a: T, b: T) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
    const sets = [...this.#sets.values()].sort(byName);
    const chains = [...this.#chains.values()].sort(byName);
    const elements = [...this.#elements.values()].sort((a, b) => (a.set !== b.set ? (a.set < b.set ? -1 : 1) : a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return { sets, chains, elements, signature: JSON.stringify([sets, chains, elements]) };
  }
}

// ---- base: hooks, dispatch maps, masquerade, reject ------------------------------------------

/** The table's fixed part: hook chains, dispatch maps and where NodePorts answer. */
export function computeBase(node: ProxyNode, options: RulesetOptions = {}): Fragment {
  const f = new FragmentBuilder();
  f.set({ name: SERVICE_IPS, kind: 'map', spec: ['type ipv4_addr . inet_proto . inet_service : verdict'] });
  f.set({ name: SERVICE_NODEPORTS, kind: 'map', spec: ['type inet_proto . inet_service : verdict'] });
  f.set({ name: NODEPORT_IPS, kind: 'set', spec: ['type ipv4_addr', 'flags interval'] });
  f.set({ name: HAIRPIN, kind: 'set', spec: ['type ipv4_addr . ipv4_addr'] });
  f.set({ name: CLUSTER_IPS, kind: 'set', spec: ['type ipv4_addr'] });
  emitHooks(f);
  emitDispatch(f, node, options);
  emitMasquerade(f);
  emitReject(f);
  return f.build();
}

function emitHooks(f: FragmentBuilder): void {
  // Numeric priorities: nft 1.0.6 rejects `dstnat` on the output hook. -100 is dstnat, 100 srcnat.
  f.chain('nat-prerouting', ['jump services'], 'type nat hook prerouting priority -100; policy accept;');
  f.chain('nat-output', ['jump services'], 'type nat hook output priority -100; policy accept;');
  f.chain('nat-postrouting', ['jump masquerading'], 'type nat hook postrouting priority 100; policy accept;');
}

function emitDispatch(f: FragmentBuilder, node: ProxyNode, o: RulesetOptions): void {
  // NodePorts never answer on 127.0.0.0/8: like kube-proxy's nftables mode (which documents
  // that it does not support localhost NodePorts), since DNAT of a loopback source needs
  // route_localnet, which exposes the node's localhost-only services (CVE-2020-8558).
  const cidrs = node.nodePortAddresses?.filter((c) => isIPv4(c.split('/')[0]) && !c.startsWith('127.'));
  const addrs = cidrs?.length ? cidrs : node.addresses.filter((a) => isIPv4(a) && !a.startsWith('127.'));
  for (const a of [...new Set(addrs)].sort((x, y) => compareIPv4(x.split('/')[0]!, y.split('/')[0]!))) f.element(NODEPORT_IPS, a);
  // With CIDRs the set may cover addresses that are not the node's (0.0.0.0/0 is kube-proxy's
  // "all"): only local destinations are NodePorts.
  const local = cidrs?.length ? 'fib daddr type local ' : '';
  const serviceCIDRs = [...new Set((o.serviceCIDRs ?? []).map(normalizeCIDR).filter((c) => c !== undefined))].sort();
  f.chain('services', [
    `ip daddr . meta l4proto . th dport vmap @${SERVICE_IPS}`,
    `ip daddr != 127.0.0.0/8 ip daddr @${NODEPORT_IPS} ${local}meta l4proto . th dport vmap @${SERVICE_NODEPORTS}`,
    // kube-proxy's cluster-ips-check: a cluster IP on a port (or protocol) its Service does not
    // define is refused at once, and an unallocated address of the range is dropped, instead of
    // being routed to wherever the Service range leads and left to time out.
    `ip daddr @${CLUSTER_IPS} goto ${REJECT_CHAIN}`,
    ...serviceCIDRs.map((c) => `ip daddr ${c} drop`),
  ]);
}

/**
 * Plain `masquerade` (keep the client's source port when it is free, a random one only when it is
 * taken), not kube-proxy's `masquerade fully-random` (a random port for every connection).
 * Masqueraded connections to one endpoint all come from the node address, so the pod tells them
 * apart by source port alone, and it holds a TIME_WAIT socket per closed connection for 60 s,
 * while conntrack frees a port as soon as the client reuses its own source port. With
 * fully-random, ports soon land on other connections' TIME_WAIT sockets in the pod; the client's
 * kernel gives every connection its own timestamp offset and initial sequence number (Linux 6.18
 * does, per address and port pair), so about half of those SYNs look older than the TIME_WAIT and
 * are refused (PAWS) until the client retransmits a second later: NodePort made 0.4 × the
 * connections/s of the same client going straight to the pod. A kept port carries the client's
 * own reuse through, and a reused connection (same addresses and ports) has a later timestamp and
 * sequence number, which TIME_WAIT accepts.
 */
function emitMasquerade(f: FragmentBuilder): void {
  f.chain('masquerading', [
    // The mark is cleared before masquerading so a packet re-entering the stack is not masqueraded twice (kube-proxy does the same).
    `meta mark & ${MARK} == ${MARK} meta mark set meta mark ^ ${MARK} masquerade`,
    // Hairpin: a pod sent to itself through a service would answer itself directly; one lookup
    // of the (source, destination) pair instead of kube-proxy's rule in every endpoint chain.
    `ct status dnat ip saddr . ip daddr @${HAIRPIN} masquerade`,
  ]);
}

function emitReject(f: FragmentBuilder): void {
  // Reached from the nat hooks, so only a connection's first packet is rejected: at once, with a
  // TCP reset or ICMP port unreachable, never a silent drop that makes clients wait.
  f.chain(REJECT_CHAIN, ['meta l4proto tcp reject with tcp reset', 'reject with icmp type port-unreachable']);
}

// ---- per service --------------------------------------------------------------------------------

/**
 * The Service's contribution: its chains, affinity sets and map elements. `node` decides whether
 * loadBalancerSourceRanges admit the node itself (kube-proxy's allowFromNode); without it they do not.
 */
export function computeServiceFragment(ports: readonly ServicePortInfo[], options: RulesetOptions = {}, node?: ProxyNode): Fragment {
  const f = new FragmentBuilder();
  for (const sp of ports) emitServicePort(f, sp, options, node);
  return f.build();
}

function emitServicePort(f: FragmentBuilder, sp: ServicePortInfo, o: RulesetOptions, node: ProxyNode | undefined): void {
  const svc = `svc-${sp.id}`;
  const ext = `ext-${sp.id}`;
  const hasExternal = sp.nodePort > 0 || sp.externalAddresses.length > 0;
  // One chain serves both kinds of traffic when both policies pick the same endpoints.
  const shared = !sp.internalPolicyLocal && !sp.externalPolicyLocal;
  const internalTarget = sp.internalEndpoints.length ? `goto ${svc}` : 'drop';
  f.element(CLUSTER_IPS, sp.clusterIP);
  emitClusterIP(f, sp, sp.hasEndpoints ? internalTarget : `goto ${REJECT_CHAIN}`);
  if (hasExternal) {
    // With endpoints somewhere, external traffic always enters the ext chain (unless shared):
    // even with no local endpoint for a Local policy, the node and pods are let through there.
    const verdict = sp.hasEndpoints ? `goto ${shared ? svc : ext}` : `goto ${REJECT_CHAIN}`;
    emitExternalIPs(f, sp, verdict, emitFirewall(f, sp, verdict, node));
    emitNodePort(f, sp, verdict);
  }
  if (sp.internalEndpoints.length) {
    const rules: string[] = [];
    // Traffic reaching the shared chain by any address but the cluster IP is external.
    if (shared && hasExternal) rules.push(`ip daddr != ${sp.clusterIP} ${SET_MARK}`);
    if (o.clusterCIDR) rules.push(`ip saddr != ${o.clusterCIDR} ${SET_MARK}`);
    f.chain(svc, [...rules, ...emitEndpointSelection(f, sp, sp.internalEndpoints)]);
  }
  const hairpin = [...sp.internalEndpoints, ...sp.externalEndpoints];
  if (!shared && hasExternal && sp.hasEndpoints) {
    const rules: string[] = [];
    if (sp.externalPolicyLocal) {
      // kube-proxy's short-circuit: the node itself (masqueraded) and pods reaching an external
      // address take the cluster path, all endpoints, as if they had gone out to a load balancer
      // and come back; so a node without local endpoints drops only traffic from outside.
      const cluster = sp.internalPolicyLocal ? `clu-${sp.id}` : svc;
      if (cluster !== svc) {
        // Reached only by the short-circuit: the node's traffic is marked already, pods' is not masqueraded.
        f.chain(cluster, emitEndpointSelection(f, sp, sp.clusterEndpoints));
        hairpin.push(...sp.clusterEndpoints);
      }
      rules.push(`fib saddr type local ${SET_MARK} goto ${cluster}`);
      if (o.clusterCIDR) rules.push(`ip saddr ${o.clusterCIDR} goto ${cluster}`);
    } else {
      rules.push(SET_MARK);
    }
    f.chain(ext, [...rules, ...(sp.externalEndpoints.length ? emitEndpointSelection(f, sp, sp.externalEndpoints) : ['drop'])]);
  }
  for (const e of hairpin) f.element(HAIRPIN, `${e.ip} . ${e.ip}`);
}

function emitClusterIP(f: FragmentBuilder, sp: ServicePortInfo, verdict: string): void {
  f.element(SERVICE_IPS, `${sp.clusterIP} . ${sp.protocol} . ${sp.port}`, verdict);
}

/**
 * loadBalancerSourceRanges (kube-proxy's firewall chain): LoadBalancer ingress IPs on the
 * service's port only accept the listed sources; externalIPs and NodePorts are not guarded
 * (kube-proxy: "nodeports are not subject to loadBalancerSourceRanges"). Returns the verdict the
 * LB IPs' elements get: `goto fw-…`, or `verdict` itself without ranges. When a range holds a
 * node address the LB IPs are admitted too: the node reaching a VIP it holds uses the VIP as source.
 */
function emitFirewall(f: FragmentBuilder, sp: ServicePortInfo, verdict: string, node: ProxyNode | undefined): string {
  if (!sp.loadBalancerSourceRanges.length || !sp.loadBalancerIPs.length) return verdict;
  const chain = `fw-${sp.id}`;
  const sources = [...sp.loadBalancerSourceRanges];
  const nodeAddrs = (node?.addresses ?? []).filter((a) => isIPv4(a) && !a.startsWith('127.'));
  if (sources.some((c) => nodeAddrs.some((a) => cidrContains(c, a)))) sources.push(...sp.loadBalancerIPs);
  f.chain(chain, [`ip saddr != { ${sources.join(', ')} } drop`, verdict]);
  return `goto ${chain}`;
}

function emitExternalIPs(f: FragmentBuilder, sp: ServicePortInfo, verdict: string, lbVerdict: string): void {
  for (const ip of sp.externalAddresses) {
    f.element(SERVICE_IPS, `${ip} . ${sp.protocol} . ${sp.port}`, sp.loadBalancerIPs.includes(ip) ? lbVerdict : verdict);
  }
}

function emitNodePort(f: FragmentBuilder, sp: ServicePortInfo, verdict: string): void {
  if (sp.nodePort > 0) f.element(SERVICE_NODEPORTS, `${sp.protocol} . ${sp.nodePort}`, verdict);
}

/** Rules that send a new connection to one of `eps` (non-empty) at random. */
function emitEndpointSelection(f: FragmentBuilder, sp: ServicePortInfo, eps: readonly ProxyEndpoint[]): string[] {
  if (sp.affinitySeconds > 0) return emitAffinity(f, sp, eps);
  const l4 = `meta l4proto ${sp.protocol}`;
  if (eps.length === 1) return [`${l4} dnat ip to ${eps[0]!.ip}:${eps[0]!.port}`];
  return cascade(eps.map((e) => `${l4} dnat ip to ${e.ip}:${e.port}`));
}

/**
 * Picks one of `tails` uniformly: rule i matches with probability 1/(n-i) given that the earlier
 * ones did not (iptables' statistic cascade). No anonymous set or map: each one is a kernel set,
 * and 10,000 of them make the kernel's set-name allocation quadratic on a full load and every
 * `nft` invocation dump them all into its cache (40 s and ~100 ms per change at 10,000 services,
 * against 1 s and ~20 ms without). Only a connection's first packet walks these rules.
 */
function cascade(tails: readonly string[]): string[] {
  return tails.map((t, i) => (i < tails.length - 1 ? `numgen random mod ${tails.length - i} == 0 ${t}` : t));
}

/**
 * ClientIP affinity as kube-proxy does it: one dynamic set per endpoint remembering clients for
 * timeoutSeconds; a known client goes back to its endpoint (refreshing the entry), others are
 * spread at random and remembered.
 */
function emitAffinity(f: FragmentBuilder, sp: ServicePortInfo, eps: readonly ProxyEndpoint[]): string[] {
  const rules: string[] = [];
  const targets: string[] = [];
  for (const e of eps) {
    const chain = `aep-${sp.id}/${e.ip}/${e.port}`;
    // The timeout is part of the name: a set's declaration cannot change in place.
    const set = `aff-${sp.id}/${e.ip}/${e.port}/${sp.affinitySeconds}`;
    if (!f.hasChain(chain)) {
      f.set({ name: set, kind: 'set', spec: ['type ipv4_addr', 'flags dynamic,timeout', `timeout ${sp.affinitySeconds}s`] });
      f.chain(chain, [`update @${set} { ip saddr } meta l4proto ${sp.protocol} dnat ip to ${e.ip}:${e.port}`]);
    }
    rules.push(`ip saddr @${set} goto ${chain}`);
    targets.push(chain);
  }
  rules.push(...cascade(targets.map((t) => `goto ${t}`)));
  return rules;
}

// ---- the whole ruleset ----------------------------------------------------------------------------

/** Groups slices by the `namespace/name` of the Service they belong to. */
export function groupSlices(slices: readonly EndpointSlice[]): Map<string, EndpointSlice[]> {
  const out = new Map<string, EndpointSlice[]>();
  for (const s of slices) {
    const name = s.metadata?.labels?.[SERVICE_NAME_LABEL];
    if (!name) continue;
    const k = `${s.metadata?.namespace ?? 'default'}/${name}`;
    const list = out.get(k);
    if (list) list.push(s); else out.set(k, [s]);
  }
  return out;
}

export function serviceKey(svc: Service): string {
  return `${svc.metadata?.namespace ?? 'default'}/${svc.metadata?.name ?? ''}`;
}

/** The complete desired state for this node. Never throws on odd objects: they are skipped. */
export function computeRuleset(services: readonly Service[], endpointSlices: readonly EndpointSlice[], node: ProxyNode, options: RulesetOptions = {}): Ruleset {
  const slices = groupSlices(endpointSlices);
  const changes = new Map<string, ServiceUpdate>();
  for (const svc of services) {
    const key = serviceKey(svc);
    const ports = servicePortsOf(svc, slices.get(key) ?? [], node.name, options);
    if (ports.length) changes.set(key, { ports, fragment: computeServiceFragment(ports, options, node) });
  }
  return updateRuleset(emptyRuleset(computeBase(node, options)), changes);
}

export function emptyRuleset(base: Fragment): Ruleset {
  const r: Ruleset = { base, services: new Map(), ports: new Map(), elements: new Map() };
  return updateRuleset(r, new Map(), base, true);
}

/** A Service's new state; undefined removes it. */
export type ServiceUpdate = { readonly ports: readonly ServicePortInfo[]; readonly fragment: Fragment } | undefined;

const GONE: unique symbol = Symbol('gone');

/**
 * A copy-on-write map: a shared, never-mutated base plus this version's own changes, so deriving
 * the next version costs the changes, not the size (10,000 services: ~0.1 ms instead of ~20 ms
 * of map copies per sync). The changes are folded into a new base once they outgrow an eighth of it.
 */
class CowMap<K, V> implements ReadonlyMap<K, V> {
  readonly #base: ReadonlyMap<K, V>;
  readonly #delta: Map<K, V | typeof GONE>;
  #size: number;

  private constructor(base: ReadonlyMap<K, V>, delta: Map<K, V | typeof GONE>, size: number) {
    this.#base = base;
    this.#delta = delta;
    this.#size = size;
  }

  /** A mutable next version of `prev`, which stays as it is. */
  static derive<K, V>(prev: ReadonlyMap<K, V> | undefined): CowMap<K, V> {
    if (!(prev instanceof CowMap)) return new CowMap(new Map(prev ?? []), new Map(), prev?.size ?? 0);
    const p = (prev as CowMap<K, V>).settled();
    return new CowMap(p.#base, new Map(p.#delta), p.#size);
  }

  /** This version, or an equal one with its changes folded into a new base when they outgrew it. */
  settled(): CowMap<K, V> {
    return this.#delta.size > 64 + this.#base.size / 8 ? new CowMap(new Map(this), new Map(), this.#size) : this;
  }

  get size(): number {
    return this.#size;
  }

  /** Keys whose values may differ between `a` and `b`: their own changes when they share a base, else every key. */
  static candidates<K, V>(a: ReadonlyMap<K, V>, b: ReadonlyMap<K, V>): Set<K> {
    if (a instanceof CowMap && b instanceof CowMap && a.#base === b.#base) return new Set([...a.#delta.keys(), ...b.#delta.keys()]);
    return new Set([...a.keys(), ...b.keys()]);
  }

  has(k: K): boolean {
    const d = this.#delta.get(k);
    if (d !== undefined || this.#delta.has(k)) return d !== GONE;
    return this.#base.has(k);
  }

  get(k: K): V | undefined {
    const d = this.#delta.get(k);
    if (d !== undefined || this.#delta.has(k)) return d === GONE ? undefined : d;
    return this.#base.get(k);
  }

  set(k: K, v: V): this {
    if (!this.has(k)) this.#size++;
    this.#delta.set(k, v);
    return this;
  }

  delete(k: K): boolean {
    if (!this.has(k)) return false;
    this.#size--;
    if (this.#base.has(k)) this.#delta.set(k, GONE); else this.#delta.delete(k);
    return true;
  }

  *#entries(): Generator<[K, V]> {
    for (const [k, v] of this.#base) {
      const d = this.#delta.get(k);
      if (d === undefined && !this.#delta.has(k)) yield [k, v];
      else if (d !== GONE) yield [k, d as V];
    }
    for (const [k, d] of this.#delta) if (d !== GONE && !this.#base.has(k)) yield [k, d];
  }

  entries(): MapIterator<[K, V]> {
    return this.#entries() as unknown as MapIterator<[K, V]>;
  }

  keys(): MapIterator<K> {
    const it = this.#entries();
    return (function* () { for (const [k] of it) yield k; })() as unknown as MapIterator<K>;
  }

  values(): MapIterator<V> {
    const it = this.#entries();
    return (function* () { for (const [, v] of it) yield v; })() as unknown as MapIterator<V>;
  }

  [Symbol.iterator](): MapIterator<[K, V]> {
    return this.entries();
  }

  forEach(cb: (value: V, key: K, map: ReadonlyMap<K, V>) => void, thisArg?: unknown): void {
    for (const [k, v] of this.#entries()) cb.call(thisArg, v, k, this);
  }
}

/**
 * `prev` with some Services replaced (and optionally a new base), sharing everything unchanged
 * with `prev` (copy-on-write maps): the cost is proportional to the change.
 */
export function updateRuleset(prev: Ruleset, changes: ReadonlyMap<string, ServiceUpdate>, base: Fragment = prev.base, forceBase = false): Ruleset {
  const services = CowMap.derive(prev.services);
  const ports = CowMap.derive(prev.ports);
  const elements = CowMap.derive(prev.elements);
  const copied = new Set<string>();
  const table = (set: string): CowMap<string, readonly Claim[]> => {
    let t = elements.get(set) as CowMap<string, readonly Claim[]> | undefined;
    if (!copied.has(set)) {
      t = CowMap.derive(t);
      elements.set(set, t);
      copied.add(set);
    }
    return t!;
  };
  const release = (owner: string, frag: Fragment | undefined) => {
    for (const e of frag?.elements ?? []) {
      const t = table(e.set);
      const claims = (t.get(e.key) ?? []).filter((c) => c.owner !== owner);
      if (claims.length) t.set(e.key, claims); else t.delete(e.key);
    }
  };
  const claim = (owner: string, frag: Fragment) => {
    for (const e of frag.elements) {
      const t = table(e.set);
      const claims = [...(t.get(e.key) ?? []), { owner, value: e.value }].sort((a, b) => (a.owner < b.owner ? -1 : a.owner > b.owner ? 1 : 0));
      t.set(e.key, claims);
    }
  };
  if (forceBase || base !== prev.base) {
    release('', prev.base);
    claim('', base);
  }
  for (const [key, u] of [...changes].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    release(key, prev.services.get(key));
    if (u && u.fragment.sets.length + u.fragment.chains.length + u.fragment.elements.length > 0) {
      claim(key, u.fragment);
      services.set(key, u.fragment);
      ports.set(key, u.ports);
    } else {
      services.delete(key);
      ports.delete(key);
    }
  }
  // A bulk change (a full computation) folds here, so the next small update shares the result.
  for (const set of copied) elements.set(set, (elements.get(set) as CowMap<string, readonly Claim[]>).settled());
  return { base, services: services.settled(), ports: ports.settled(), elements: elements.settled() };
}

/** Services whose fragments may differ between two versions (a superset; cheap for versions derived from one another). */
export function changedServiceCandidates(prev: Ruleset, next: Ruleset): Set<string> {
  return CowMap.candidates(prev.services, next.services);
}

/** Every set and chain of the ruleset, sorted by name (base first). */
export function allSets(r: Ruleset): SetDecl[] {
  return [...r.base.sets, ...sortedFragments(r).flatMap((f) => f.sets)];
}

export function allChains(r: Ruleset): Chain[] {
  return [...r.base.chains, ...sortedFragments(r).flatMap((f) => f.chains)];
}

function sortedFragments(r: Ruleset): Fragment[] {
  return [...r.services.keys()].sort().map((k) => r.services.get(k)!);
}

/** The element in effect for a key: the first claim by owner name. */
export function effectiveValue(r: Ruleset, set: string, key: string): string | undefined {
  return r.elements.get(set)?.get(key)?.[0]?.value;
}
