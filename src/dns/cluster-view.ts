// What the cluster DNS answers from: Services, EndpointSlices, Namespaces (and Pods in `verified`
// mode) indexed for lookups by name and by address. Built by a pure function from the informer
// caches, so record planning is a function of plain values (CoreDNS keeps the same indexes in its
// dnsController: SvcIndex, EpIndex, SvcIndexReverse, EpIndexReverse, PodIndex).
import { isIP } from 'node:net';
import type { Namespace, Pod, Service } from 'kubernetes-types/core/v1.d.ts';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.d.ts';

export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

export interface DnsServicePort {
  readonly name: string;
  readonly protocol: string;
  readonly port: number;
}

export interface DnsService {
  readonly namespace: string;
  readonly name: string;
  readonly type: 'ClusterIP' | 'NodePort' | 'LoadBalancer' | 'ExternalName';
  readonly headless: boolean;
  /** spec.clusterIPs (or clusterIP), without `None`. */
  readonly clusterIPs: readonly string[];
  readonly ports: readonly DnsServicePort[];
  readonly externalName: string;
}

export interface DnsEndpointAddress {
  readonly ip: string;
  /** The endpoint's hostname (a pod with spec.hostname and a matching spec.subdomain). */
  readonly hostname: string;
}

/** One EndpointSlice's ready addresses and its ports (CoreDNS's Endpoints subset). */
export interface DnsEndpointSet {
  /** Port -1 stands for a slice without ports (CoreDNS's sentinel: A records, no SRV). */
  readonly ports: readonly DnsServicePort[];
  readonly addresses: readonly DnsEndpointAddress[];
}

export interface ClusterView {
  readonly namespaces: ReadonlySet<string>;
  /** `namespace/name` → Service. */
  readonly services: ReadonlyMap<string, DnsService>;
  /** `namespace/name` of the Service → its slices' ready endpoints, in slice name order. */
  readonly endpoints: ReadonlyMap<string, readonly DnsEndpointSet[]>;
  /** Cluster IP → `namespace/name` of the Services holding it, sorted. */
  readonly byClusterIP: ReadonlyMap<string, readonly string[]>;
  /** Endpoint IP → (Service key, endpoint) pairs, sorted by Service key. */
  readonly byEndpointIP: ReadonlyMap<string, readonly { service: string; address: DnsEndpointAddress }[]>;
  /** Pod IP → namespaces of pods with that IP (only filled for `pods verified`). */
  readonly podIPs: ReadonlyMap<string, ReadonlySet<string>>;
  /** SOA serial: when the view last changed, in seconds (CoreDNS uses its controller's modified time). */
  readonly serial: number;
}

/** A slice endpoint counts when `ready` is true or unknown (CoreDNS's endpointsliceReady). */
function isReady(ready: boolean | undefined): boolean {
  return ready !== false;
}

function toService(s: Service): DnsService {
  const spec = s.spec ?? {};
  const ips = (spec.clusterIPs?.length ? spec.clusterIPs : spec.clusterIP ? [spec.clusterIP] : []).filter((ip) => ip !== 'None' && ip !== '');
  return {
    namespace: s.metadata?.namespace ?? 'default',
    name: s.metadata?.name ?? '',
    type: (spec.type ?? 'ClusterIP') as DnsService['type'],
    headless: spec.clusterIP === 'None',
    clusterIPs: ips,
    ports: (spec.ports ?? []).map((p) => ({ name: p.name ?? '', protocol: p.protocol ?? 'TCP', port: p.port })),
    externalName: spec.externalName ?? '',
  };
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Builds the lookup indexes from the informer caches (pure; sorted, so answers are deterministic). */
export function buildClusterView(input: {
  services: readonly Service[];
  slices: readonly EndpointSlice[];
  namespaces: readonly Namespace[];
  pods?: readonly Pod[];
  serial: number;
}): ClusterView {
  const namespaces = new Set(input.namespaces.map((n) => n.metadata?.name ?? '').filter((n) => n !== ''));
  const services = new Map<string, DnsService>();
  const byClusterIP = new Map<string, string[]>();
  for (const s of input.services) {
    const svc = toService(s);
    const key = `${svc.namespace}/${svc.name}`;
    services.set(key, svc);
    for (const ip of svc.clusterIPs) byClusterIP.set(ip, [...(byClusterIP.get(ip) ?? []), key].sort(cmp));
  }
  const endpoints = new Map<string, DnsEndpointSet[]>();
  const byEndpointIP = new Map<string, { service: string; address: DnsEndpointAddress }[]>();
  const slices = [...input.slices].sort((a, b) => cmp(a.metadata?.name ?? '', b.metadata?.name ?? ''));
  for (const slice of slices) {
    const svcName = slice.metadata?.labels?.[SERVICE_NAME_LABEL];
    if (!svcName) continue;
    const key = `${slice.metadata?.namespace ?? 'default'}/${svcName}`;
    const ports: DnsServicePort[] = slice.ports?.length
      ? slice.ports.map((p) => ({ name: p.name ?? '', protocol: p.protocol ?? 'TCP', port: p.port ?? -1 }))
      : [{ name: '', protocol: '', port: -1 }];
    const addresses: DnsEndpointAddress[] = [];
    for (const ep of slice.endpoints ?? []) {
      if (!isReady(ep.conditions?.ready)) continue;
      for (const ip of ep.addresses ?? []) {
        if (isIP(ip) === 0) continue;
        const address = { ip, hostname: ep.hostname ?? '' };
        addresses.push(address);
        byEndpointIP.set(ip, [...(byEndpointIP.get(ip) ?? []), { service: key, address }]);
      }
    }
    endpoints.set(key, [...(endpoints.get(key) ?? []), { ports, addresses }]);
  }
  for (const list of byEndpointIP.values()) list.sort((a, b) => cmp(a.service, b.service));
  const podIPs = new Map<string, Set<string>>();
  for (const p of input.pods ?? []) {
    const ns = p.metadata?.namespace ?? 'default';
    const ips = p.status?.podIPs?.map((x) => x.ip).filter((x): x is string => !!x) ?? (p.status?.podIP ? [p.status.podIP] : []);
    for (const ip of ips) {
      if (!podIPs.has(ip)) podIPs.set(ip, new Set());
      podIPs.get(ip)!.add(ns);
    }
  }
  return { namespaces, services, endpoints, byClusterIP, byEndpointIP, podIPs, serial: input.serial };
}
