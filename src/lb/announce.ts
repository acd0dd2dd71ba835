// Which node announces each LoadBalancer address on the link, as MetalLB's speaker decides it in
// layer-2 mode (speaker/layer2_controller.go ShouldAnnounce): among the nodes allowed to announce
// the address's pool, sort by sha256(nodeName + "#" + ip) and the first one wins. Every node
// computes the same answer from the same objects, so they agree without talking. Pure.
import { createHash } from 'node:crypto';
import type { Node, Service } from 'kubernetes-types/core/v1.d.ts';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.d.ts';
import { canonicalIp } from '../api/net/ip.ts';
import { l2SelectsNode, l2SelectsPool, poolFor, type L2Config, type PoolConfig } from '../api/net/metallb-pools.ts';

/** '' means announce; anything else says why not (MetalLB's "notOwner" among them). */
export type AnnounceReason =
  | ''
  | 'notLoadBalancer'
  | 'otherClass'
  | 'noIPAllocated'
  | 'notFromPool'
  | 'noL2Advertisement'
  | 'noAvailableNodes'
  | 'notOwner';

export interface AnnounceWorld {
  readonly pools: readonly PoolConfig[];
  readonly l2s: readonly L2Config[];
  readonly nodes: readonly Node[];
  readonly slices: readonly EndpointSlice[];
}

export interface AnnounceDecision {
  readonly reason: AnnounceReason;
  /** The node that wins the address (when one can). */
  readonly winner?: string;
  /** Interfaces this node may announce from ([] = any), from the matching L2Advertisements. */
  readonly interfaces: readonly string[];
  /** The nodes eligible to announce the address (the election's candidates), when any is. */
  readonly candidates?: readonly string[];
}

const excludeLbLabel = 'node.kubernetes.io/exclude-from-external-load-balancers';

/** MetalLB IsNodeAvailable + exclusion label: Ready not bad, network available, not excluded. */
export function isNodeAvailable(node: Node): boolean {
  const cond = (t: string) => node.status?.conditions?.find((c) => c.type === t);
  const ready = cond('Ready');
  if (ready && ready.status !== 'True') return false;
  if (cond('NetworkUnavailable')?.status === 'True') return false;
  return !Object.hasOwn(node.metadata?.labels ?? {}, excludeLbLabel);
}

/** The address's announcing order: nodes sorted by sha256(node + "#" + ip), as MetalLB sorts them. */
export function electionOrder(nodes: readonly string[], ip: string): string[] {
  const h = (n: string) => createHash('sha256').update(`${n}#${ip}`).digest('hex');
  return [...nodes].map((n) => [h(n), n] as const).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1].localeCompare(b[1]))).map(([, n]) => n);
}

function isOurClass(svc: Service): boolean {
  const cls = svc.spec?.loadBalancerClass;
  return cls === undefined || cls === null || cls === '' || cls === 'podgate.io/lb';
}

/**
 * Whether `myNode` announces the Service's first LB address (the first one serves single and
 * dual stack alike in MetalLB), with the reason when not. Addresses that come from no pool (the
 * node-address mode) are never announced: they already belong to a node.
 */
export function shouldAnnounce(myNode: string, svc: Service, world: AnnounceWorld): AnnounceDecision {
  const none = (reason: AnnounceReason, winner?: string): AnnounceDecision => ({ reason, interfaces: [], ...(winner ? { winner } : {}) });
  if (svc.spec?.type !== 'LoadBalancer') return none('notLoadBalancer');
  if (!isOurClass(svc)) return none('otherClass');
  const ips = (svc.status?.loadBalancer?.ingress ?? []).map((i) => (i.ip ? canonicalIp(i.ip) : undefined)).filter((x): x is string => !!x);
  if (ips.length === 0) return none('noIPAllocated');
  const pool = poolFor(world.pools, ips);
  if (!pool) return none('notFromPool');
  const advs = world.l2s.filter((l) => l2SelectsPool(l, pool));
  if (advs.length === 0) return none('noL2Advertisement');
  let eligible = world.nodes.filter((n) => isNodeAvailable(n) && advs.some((l) => l2SelectsNode(l, n.metadata?.labels)))
    .map((n) => n.metadata?.name ?? '').filter((n) => n !== '');
  // externalTrafficPolicy Local keeps the client's address, so only a node with a ready endpoint
  // may take the traffic (MetalLB usableNodes).
  if (svc.spec?.externalTrafficPolicy === 'Local') {
    const withEndpoints = new Set<string>();
    for (const s of world.slices) {
      if (s.metadata?.namespace !== svc.metadata?.namespace || s.metadata?.labels?.['kubernetes.io/service-name'] !== svc.metadata?.name) continue;
      for (const e of s.endpoints ?? []) if (e.conditions?.ready !== false && e.nodeName) withEndpoints.add(e.nodeName);
    }
    eligible = eligible.filter((n) => withEndpoints.has(n));
  }
  if (eligible.length === 0) return none('noAvailableNodes');
  const winner = electionOrder(eligible, ips[0]!)[0]!;
  if (winner !== myNode) return { ...none('notOwner', winner), candidates: eligible };
  const me = world.nodes.find((n) => n.metadata?.name === myNode);
  const mine = advs.filter((l) => l2SelectsNode(l, me?.metadata?.labels));
  // An advertisement without interfaces allows every interface (MetalLB AllInterfaces).
  const interfaces = mine.some((l) => l.interfaces.length === 0) ? [] : [...new Set(mine.flatMap((l) => l.interfaces))].sort();
  return { reason: '', winner, interfaces, candidates: eligible };
}

/**
 * Every address this node should hold: ip → interfaces allowed ([] = any), sorted by address
 * text; and `sole`, those of them no other node is eligible to announce (every Service holding
 * the address has this node as its only candidate): nobody could take such an address over, so
 * it is held without a lifetime.
 */
export function announcements(myNode: string, services: readonly Service[], world: AnnounceWorld): { addresses: Map<string, readonly string[]>; sole: Set<string> } {
  const out = new Map<string, readonly string[]>();
  const sole = new Set<string>();
  const shared = new Set<string>();
  for (const svc of services) {
    const d = shouldAnnounce(myNode, svc, world);
    // Another node eligible for the address (a Service sharing it may have other candidates).
    const others = d.candidates?.some((n) => n !== myNode) ?? false;
    for (const i of svc.status?.loadBalancer?.ingress ?? []) {
      const ip = i.ip ? canonicalIp(i.ip) : undefined;
      if (!ip) continue;
      if (others) shared.add(ip);
      if (d.reason !== '') continue;
      sole.add(ip);
      const prior = out.get(ip);
      // Services sharing an address: any interface allowed by one of them will do.
      out.set(ip, prior === undefined ? d.interfaces : prior.length === 0 || d.interfaces.length === 0 ? [] : [...new Set([...prior, ...d.interfaces])].sort());
    }
  }
  for (const ip of shared) sole.delete(ip);
  return { addresses: new Map([...out].sort(([a], [b]) => a.localeCompare(b))), sole };
}

/** Every address this node should hold: ip → interfaces allowed ([] = any). Sorted by address text. */
export function desiredAddresses(myNode: string, services: readonly Service[], world: AnnounceWorld): Map<string, readonly string[]> {
  return announcements(myNode, services, world).addresses;
}
