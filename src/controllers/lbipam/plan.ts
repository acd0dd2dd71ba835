// What the LB IPAM controller decides for one Service, with the allocator as the only state:
// MetalLB's controller/service.go convergeBalancer for pool addresses. Pure apart from the
// allocator it is handed; the controller writes the result (status, events).
import type { Service } from 'kubernetes-types/core/v1.d.ts';
import { canonicalIp, parseIp, type Family } from '../../api/net/ip.ts';
import { quoteIps, type Claim, type LbAllocator, type Port } from './allocator.ts';

/** podgate's loadBalancerClass; Services without a class are served too. */
export const podgateLoadBalancerClass = 'podgate.io/lb';

export const annotations = {
  addressPool: 'metallb.io/address-pool',
  loadBalancerIPs: 'metallb.io/loadBalancerIPs',
  allowSharedIP: 'metallb.io/allow-shared-ip',
  ipAllocatedFromPool: 'metallb.io/ip-allocated-from-pool',
} as const;

// MetalLB still reads its pre-0.13 annotations.
const deprecated: Record<string, string> = {
  [annotations.addressPool]: 'metallb.universe.tf/address-pool',
  [annotations.loadBalancerIPs]: 'metallb.universe.tf/loadBalancerIPs',
  [annotations.allowSharedIP]: 'metallb.universe.tf/allow-shared-ip',
};

export interface LbEvent {
  readonly type: 'Normal' | 'Warning';
  readonly reason: string;
  readonly message: string;
}

export function serviceKey(svc: Service): string {
  return `${svc.metadata?.namespace ?? ''}/${svc.metadata?.name ?? ''}`;
}

/**
 * Whether this controller handles the Service: a LoadBalancer without a loadBalancerClass or with
 * podgate's. Services of another class belong to another implementation and are left alone.
 */
export function isOurClass(svc: Service): boolean {
  const cls = svc.spec?.loadBalancerClass;
  return cls === undefined || cls === null || cls === '' || cls === podgateLoadBalancerClass;
}

export function isLoadBalancer(svc: Service): boolean {
  return svc.spec?.type === 'LoadBalancer';
}

function annotation(svc: Service, name: string): string | undefined {
  const a = svc.metadata?.annotations ?? {};
  if (Object.hasOwn(a, name)) return a[name];
  const old = deprecated[name];
  return old !== undefined && Object.hasOwn(a, old) ? a[old] : undefined;
}

/** The addresses in status.loadBalancer.ingress, canonical, in order. */
export function statusIps(svc: Service): string[] {
  return (svc.status?.loadBalancer?.ingress ?? []).map((i) => (i.ip ? canonicalIp(i.ip) ?? i.ip : '')).filter((ip) => ip !== '');
}

/** The Service's primary family: spec.ipFamilies[0], else its clusterIP's (dual-stack allocation is left out). */
export function serviceFamily(svc: Service): Family {
  const first = svc.spec?.ipFamilies?.[0];
  if (first === 'IPv6') return 6;
  if (first === 'IPv4') return 4;
  const cip = svc.spec?.clusterIP;
  return cip && cip.includes(':') ? 6 : 4;
}

export function servicePorts(svc: Service): Port[] {
  return (svc.spec?.ports ?? []).map((p) => ({ proto: p.protocol ?? 'TCP', port: p.port }));
}

/**
 * MetalLB k8salloc.BackendKey: Services with externalTrafficPolicy Local may only share an
 * address when they select the same pods (the address must live where the endpoints are);
 * Cluster Services share regardless of backends. The selector is written as labels.Set.String.
 */
export function backendKey(svc: Service): string {
  if (svc.spec?.externalTrafficPolicy !== 'Local') return '';
  return Object.entries(svc.spec.selector ?? {}).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k}=${v}`).join(',');
}

export function claimFor(svc: Service, namespaceLabels: Readonly<Record<string, string>> = {}): Claim {
  return {
    key: serviceKey(svc),
    namespace: svc.metadata?.namespace ?? '',
    labels: svc.metadata?.labels ?? {},
    namespaceLabels,
    family: serviceFamily(svc),
    ports: servicePorts(svc),
    sharingKey: annotation(svc, annotations.allowSharedIP) ?? '',
    backendKey: backendKey(svc),
  };
}

/** MetalLB getDesiredLbIPs: the addresses asked for by annotation or spec.loadBalancerIP. */
export function desiredIps(svc: Service): { ips: string[]; error?: string } {
  const fromAnnotation = annotation(svc, annotations.loadBalancerIPs) ?? '';
  const fromSpec = svc.spec?.loadBalancerIP ?? '';
  if (fromAnnotation === '' && fromSpec === '') return { ips: [] };
  if (fromAnnotation !== '' && fromSpec !== '') {
    return { ips: [], error: `service can not have both ${annotations.loadBalancerIPs} and svc.Spec.LoadBalancerIP` };
  }
  if (fromAnnotation !== '') {
    const ips: string[] = [];
    for (const part of fromAnnotation.split(',')) {
      const ip = canonicalIp(part.trim());
      if (!ip) return { ips: [], error: `invalid ${annotations.loadBalancerIPs}: ${JSON.stringify(fromAnnotation)}` };
      ips.push(ip);
    }
    return { ips };
  }
  const ip = canonicalIp(fromSpec);
  if (!ip) return { ips: [], error: `invalid spec.loadBalancerIP ${JSON.stringify(fromSpec)}` };
  return { ips: [ip] };
}

export interface Convergence {
  /** The addresses the Service should show in status; [] leaves it <pending>. */
  readonly ips: readonly string[];
  readonly pool: string;
  readonly events: readonly LbEvent[];
}

const sameSet = (a: readonly string[], b: readonly string[]) => a.length === b.length && [...a].sort().every((x, i) => x === [...b].sort()[i]);

/**
 * MetalLB convergeBalancer for a LoadBalancer Service of our class while pools exist: keeps the
 * addresses it holds if the configuration still allows them (and they are still the ones asked
 * for, from the pool asked for), otherwise allocates: the requested addresses, or the first free
 * address of the requested pool, or of the best pool. One difference from MetalLB: when
 * allocation fails the status is cleared rather than left showing an address the allocator no
 * longer holds, so the address can never appear on two Services.
 */
export function convergeService(alloc: LbAllocator, svc: Service, current: readonly string[], namespaceLabels: Readonly<Record<string, string>> = {}): Convergence {
  const key = serviceKey(svc);
  const claim = claimFor(svc, namespaceLabels);
  const events: LbEvent[] = [];
  let ips: readonly string[] = current;
  const desiredPool = annotation(svc, annotations.addressPool) ?? '';
  const desired = desiredIps(svc);

  if (ips.length > 0) {
    const d = alloc.assign(claim, ips);
    if (!d.ok) {
      events.push({ type: 'Normal', reason: 'ClearAssignment', message: `current IP for ${JSON.stringify(key)} not allowed by config, will attempt for new IP assignment: ${d.reason}` });
      alloc.unassign(key);
      ips = [];
    }
    // The user asked for another pool, or other addresses, than the ones held: start again.
    if (ips.length > 0 && desiredPool !== '' && alloc.pool(key) !== desiredPool) {
      alloc.unassign(key);
      ips = [];
    }
    if (desired.error) {
      alloc.unassign(key);
      return { ips: [], pool: '', events: [{ type: 'Warning', reason: 'LoadBalancerFailed', message: `invalid requested loadbalancer IPs: ${desired.error}` }] };
    }
    if (ips.length > 0 && desired.ips.length > 0 && !sameSet(ips, desired.ips)) {
      alloc.unassign(key);
      ips = [];
    }
  }

  if (ips.length === 0) {
    const result = allocateIps(alloc, claim, desired, desiredPool);
    if (!result.ok) {
      alloc.unassign(key);
      events.push({ type: 'Warning', reason: 'AllocationFailed', message: `Failed to allocate IP for ${JSON.stringify(key)}: ${result.reason}` });
      return { ips: [], pool: '', events };
    }
    ips = result.ips;
    events.push({ type: 'Normal', reason: 'IPAllocated', message: `Assigned IP ${quoteIps(ips)}` });
  }
  return { ips: alloc.ips(key), pool: alloc.pool(key), events };
}

/** MetalLB controller allocateIPs. */
function allocateIps(alloc: LbAllocator, claim: Claim, desired: { ips: string[]; error?: string }, desiredPool: string): { ok: true; ips: readonly string[] } | { ok: false; reason: string } {
  if (desired.error) return { ok: false, reason: desired.error };
  if (desired.ips.length > 0) {
    const families = new Set(desired.ips.map((ip) => parseIp(ip)!.family));
    const family = families.size === 2 ? 'dual' : [...families][0];
    if (family !== claim.family) return { ok: false, reason: `requested loadBalancer IP(s) ${quoteIps(desired.ips)} does not match the ipFamily of the service` };
    const d = alloc.assign(claim, desired.ips);
    if (!d.ok) return d;
    if (desiredPool !== '' && d.pool !== desiredPool) {
      alloc.unassign(claim.key);
      return { ok: false, reason: `requested loadBalancer IP(s) ${quoteIps(desired.ips)} is not compatible with requested address pool ${desiredPool}` };
    }
    return { ok: true, ips: d.ips };
  }
  const d = desiredPool !== '' ? alloc.allocateFromPool(claim, desiredPool) : alloc.allocate(claim);
  return d.ok ? { ok: true, ips: d.ips } : d;
}
