// From API objects to what the proxy programs: one ServicePortInfo per Service port, with the
// endpoints it may use already chosen by kube-proxy's rules (pkg/proxy/topology.go
// CategorizeEndpoints). Pure: objects in, sorted plain values out.
import type { Service } from 'kubernetes-types/core/v1.d.ts';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.d.ts';
import { parseCidr } from '../api/net/cidr.ts';

export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

export type Protocol = 'tcp' | 'udp' | 'sctp';

export interface ProxyEndpoint {
  readonly ip: string;
  readonly port: number;
  /** nodeName equals ours; an endpoint without nodeName is never local (as in kube-proxy). */
  readonly isLocal: boolean;
  readonly ready: boolean;
  readonly serving: boolean;
  readonly terminating: boolean;
}

export interface ServicePortInfo {
  /** `namespace/name` of the Service. */
  readonly service: string;
  /** `namespace/name/protocol/portName-or-number`: unique per service port, the suffix of its chain names. */
  readonly id: string;
  readonly protocol: Protocol;
  readonly clusterIP: string;
  readonly port: number;
  /** 0 when the port has none (type ClusterIP, or allocateLoadBalancerNodePorts false). */
  readonly nodePort: number;
  /** spec.externalIPs and status.loadBalancer.ingress[].ip, IPv4 only, sorted, deduplicated. */
  readonly externalAddresses: readonly string[];
  /** status.loadBalancer.ingress[].ip alone (IPv4, sorted): the addresses loadBalancerSourceRanges guards. */
  readonly loadBalancerIPs: readonly string[];
  /**
   * spec.loadBalancerSourceRanges as IPv4 networks (host bits cleared, sorted, deduplicated);
   * empty means every source. Entries of another family or unparsable ones are left out.
   */
  readonly loadBalancerSourceRanges: readonly string[];
  readonly internalPolicyLocal: boolean;
  readonly externalPolicyLocal: boolean;
  /** Seconds of ClientIP affinity; 0 without affinity. */
  readonly affinitySeconds: number;
  /** Every endpoint the slices list for this port, sorted by address then port. */
  readonly endpoints: readonly ProxyEndpoint[];
  /** Where cluster-IP traffic may go (internalTrafficPolicy applied). */
  readonly internalEndpoints: readonly ProxyEndpoint[];
  /** Where NodePort / external / LB traffic may go (externalTrafficPolicy applied). */
  readonly externalEndpoints: readonly ProxyEndpoint[];
  /**
   * Every usable endpoint, whatever the policies (kube-proxy's clusterEndpoints): where the node
   * and pods go when they reach an external address of an externalTrafficPolicy Local service.
   */
  readonly clusterEndpoints: readonly ProxyEndpoint[];
  /** True when some endpoint is usable at all; false means "reject", not "drop". */
  readonly hasEndpoints: boolean;
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

export function isIPv4(s: string | undefined): s is string {
  const m = s === undefined ? null : IPV4.exec(s);
  return !!m && m.slice(1).every((o) => Number(o) <= 255);
}

/** Numeric order of dotted IPv4 addresses, so rulesets sort the way humans read them. */
export function compareIPv4(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < 4; i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d) return d;
  }
  return 0;
}

/**
 * `a.b.c.d/n` (or a bare address, as /32) as its network `w.x.y.z/n`; undefined for anything
 * else (IPv6 included). kube-apiserver accepts host bits in loadBalancerSourceRanges.
 */
export function normalizeCIDR(text: string): string | undefined {
  const t = text.trim();
  try {
    return parseCidr(t.includes('/') ? t : `${t}/32`).text;
  } catch {
    return undefined;
  }
}

function compareEndpoints(a: ProxyEndpoint, b: ProxyEndpoint): number {
  return compareIPv4(a.ip, b.ip) || a.port - b.port;
}

/**
 * kube-proxy's ShouldSkipService: headless and ExternalName services, and services without an
 * IPv4 cluster IP, are not proxied.
 */
export function shouldSkipService(svc: Service): boolean {
  const spec = svc.spec;
  if (!spec || spec.type === 'ExternalName') return true;
  return !isIPv4(spec.clusterIP);
}

function toProtocol(p: string | undefined): Protocol | undefined {
  const v = (p ?? 'TCP').toLowerCase();
  return v === 'tcp' || v === 'udp' || v === 'sctp' ? v : undefined;
}

/**
 * The service's ports with their endpoints. `slices` are the EndpointSlices labelled with this
 * service's name (others are ignored). `sctp` false drops SCTP ports (a kernel without SCTP
 * conntrack would reject the whole transaction).
 */
export function servicePortsOf(svc: Service, slices: readonly EndpointSlice[], nodeName: string, opts: { sctp?: boolean } = {}): ServicePortInfo[] {
  if (shouldSkipService(svc)) return [];
  const spec = svc.spec!;
  const ns = svc.metadata?.namespace ?? 'default';
  const name = svc.metadata?.name ?? '';
  const service = `${ns}/${name}`;
  const ext = new Set<string>();
  for (const ip of spec.externalIPs ?? []) if (isIPv4(ip)) ext.add(ip);
  for (const ing of svc.status?.loadBalancer?.ingress ?? []) if (isIPv4(ing.ip)) ext.add(ing.ip);
  const externalAddresses = [...ext].sort(compareIPv4);
  const loadBalancerIPs = [...new Set((svc.status?.loadBalancer?.ingress ?? []).map((i) => i.ip).filter(isIPv4))].sort(compareIPv4);
  const ranges = new Set<string>();
  for (const r of spec.loadBalancerSourceRanges ?? []) {
    const c = normalizeCIDR(r);
    if (c) ranges.add(c);
  }
  const loadBalancerSourceRanges = [...ranges].sort((a, b) => compareIPv4(a.split('/')[0]!, b.split('/')[0]!) || Number(a.split('/')[1]) - Number(b.split('/')[1]));
  const externalPolicyLocal = spec.externalTrafficPolicy === 'Local' && (spec.type === 'NodePort' || spec.type === 'LoadBalancer' || externalAddresses.length > 0);
  const internalPolicyLocal = spec.internalTrafficPolicy === 'Local';
  const affinitySeconds = spec.sessionAffinity === 'ClientIP' ? (spec.sessionAffinityConfig?.clientIP?.timeoutSeconds ?? 10800) : 0;
  const out: ServicePortInfo[] = [];
  for (const p of spec.ports ?? []) {
    const protocol = toProtocol(p.protocol);
    if (!protocol || (protocol === 'sctp' && opts.sctp === false)) continue;
    const portName = p.name ?? '';
    const endpoints = endpointsFor(slices, service, name, portName, protocol, nodeName);
    const { internal, external, all, any } = categorize(endpoints, internalPolicyLocal, externalPolicyLocal);
    out.push({
      service,
      id: `${service}/${protocol}/${portName || p.port}`,
      protocol,
      clusterIP: spec.clusterIP!,
      port: p.port,
      nodePort: spec.type === 'NodePort' || spec.type === 'LoadBalancer' ? (p.nodePort ?? 0) : 0,
      externalAddresses,
      loadBalancerIPs,
      loadBalancerSourceRanges,
      internalPolicyLocal,
      externalPolicyLocal,
      affinitySeconds,
      endpoints,
      internalEndpoints: internal,
      externalEndpoints: external,
      clusterEndpoints: all,
      hasEndpoints: any,
    });
  }
  return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

function endpointsFor(slices: readonly EndpointSlice[], service: string, name: string, portName: string, protocol: Protocol, nodeName: string): ProxyEndpoint[] {
  const byKey = new Map<string, ProxyEndpoint>();
  for (const slice of slices) {
    if (slice.addressType !== 'IPv4') continue;
    if (slice.metadata?.labels?.[SERVICE_NAME_LABEL] !== name || `${slice.metadata.namespace ?? 'default'}/${name}` !== service) continue;
    const sp = (slice.ports ?? []).find((x) => (x.name ?? '') === portName && toProtocol(x.protocol) === protocol);
    if (!sp?.port) continue;
    for (const ep of slice.endpoints ?? []) {
      const ip = ep.addresses?.[0];
      if (!isIPv4(ip)) continue;
      // EndpointSlice API: a nil ready means "unknown" and consumers treat it as ready; serving
      // defaults to ready; terminating to false.
      const ready = ep.conditions?.ready ?? true;
      const e: ProxyEndpoint = {
        ip, port: sp.port,
        isLocal: !!ep.nodeName && ep.nodeName === nodeName,
        ready,
        serving: ep.conditions?.serving ?? ready,
        terminating: ep.conditions?.terminating ?? false,
      };
      // The same address in two slices (a slice being replaced): the ready copy wins.
      const k = `${ip}:${sp.port}`;
      const prev = byKey.get(k);
      if (!prev || (!prev.ready && e.ready)) byKey.set(k, e);
    }
  }
  return [...byKey.values()].sort(compareEndpoints);
}

/**
 * kube-proxy's CategorizeEndpoints: ready endpoints; when none is ready, those serving while
 * terminating (so a rolling update's last pods keep answering); the same per-node for the Local
 * policies.
 */
function categorize(eps: readonly ProxyEndpoint[], internalLocal: boolean, externalLocal: boolean): { internal: ProxyEndpoint[]; external: ProxyEndpoint[]; all: ProxyEndpoint[]; any: boolean } {
  const usable = (list: readonly ProxyEndpoint[]) => {
    const ready = list.filter((e) => e.ready);
    return ready.length ? ready : list.filter((e) => e.serving && e.terminating);
  };
  const all = usable(eps);
  const local = usable(eps.filter((e) => e.isLocal));
  return { internal: internalLocal ? local : all, external: externalLocal ? local : all, all, any: all.length > 0 || local.length > 0 };
}
