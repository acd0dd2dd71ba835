// LoadBalancer Services when no IPAddressPool exists, as k3s's ServiceLB (klipper-lb) serves them:
// the Service's ports are taken on every eligible node (k3s runs a svclb pod with those ports as
// hostPorts there) and status.loadBalancer.ingress lists those nodes' addresses. A node where a
// port is already taken (by another such Service or a pod's hostPort) is left out, as the svclb
// pod could not be scheduled there; with no node left the Service stays <pending>. podgate's own
// listeners on the node addresses (ingress, API server, kubelet) count as taken too: a Service
// there would capture their traffic in the proxy's DNAT and make them unreachable.
// In memory, rebuilt from Service status on start like the pool allocator.
import type { Node, Pod, Service } from 'kubernetes-types/core/v1.d.ts';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.d.ts';
import { parseIp, type Family } from '../../api/net/ip.ts';
import type { Port } from './allocator.ts';

// k3s: when any node carries this label, only nodes labelled "true" run svclb pods.
export const enableLbLabel = 'svccontroller.k3s.cattle.io/enablelb';
// Kubernetes' well-known label keeping a node out of external load balancers.
export const excludeLbLabel = 'node.kubernetes.io/exclude-from-external-load-balancers';

const portText = (p: Port) => `${p.proto}/${p.port}`;

/**
 * The TCP ports podgate itself listens on at node addresses by default: the ingress (80, 443),
 * the API server (6443), the kubelet (10250) and the ingress metrics (10254).
 */
export const DEFAULT_RESERVED_PORTS: readonly number[] = [80, 443, 6443, 10250, 10254];

export interface NodeAddressAllocatorOptions {
  /** TCP ports never given to a Service on any node (podgate's own listeners). Default DEFAULT_RESERVED_PORTS. */
  readonly reservedPorts?: readonly number[];
}

export type NodeDecision =
  | { readonly ok: true; readonly nodes: readonly string[] }
  | { readonly ok: false; readonly reason: string };

export class NodeAddressAllocator {
  readonly #claims = new Map<string, Map<string, string>>(); // node -> "TCP/80" -> svc
  readonly #held = new Map<string, { nodes: string[]; ports: Port[] }>();
  readonly #reserved: ReadonlySet<string>;

  constructor(opts: NodeAddressAllocatorOptions = {}) {
    this.#reserved = new Set((opts.reservedPorts ?? DEFAULT_RESERVED_PORTS).map((port) => portText({ proto: 'TCP', port })));
  }

  /** The nodes whose addresses the service holds, sorted. */
  nodes(svc: string): readonly string[] {
    return this.#held.get(svc)?.nodes ?? [];
  }

  /** Every service holding ports on some node, sorted. */
  services(): string[] {
    return [...this.#held.keys()].sort();
  }

  unassign(svc: string): boolean {
    const h = this.#held.get(svc);
    if (!h) return false;
    this.#held.delete(svc);
    for (const n of h.nodes) {
      const m = this.#claims.get(n);
      for (const p of h.ports) if (m?.get(portText(p)) === svc) m.delete(portText(p));
      if (m && m.size === 0) this.#claims.delete(n);
    }
    return true;
  }

  /** Why the service cannot take its ports on the node ('' when it can). */
  conflict(svc: string, node: string, ports: readonly Port[], hostPorts: ReadonlyMap<string, string> = new Map()): string {
    const m = this.#claims.get(node);
    for (const p of ports) {
      if (this.#reserved.has(portText(p))) return `port ${portText(p)} is used by podgate itself on node ${node}`;
      const owner = m?.get(portText(p));
      if (owner !== undefined && owner !== svc) return `port ${portText(p)} is already used by LoadBalancer service ${owner} on node ${node}`;
      const pod = hostPorts.get(portText(p));
      if (pod !== undefined) return `port ${portText(p)} is already used by hostPort of pod ${pod} on node ${node}`;
    }
    return '';
  }

  /**
   * Takes the service's ports on every candidate node where they are free (re-evaluated on every
   * call, so a node freed by another Service is picked up). `hostPorts` maps node → "TCP/80" →
   * the pod using it. Fails with k3s's words when no node is left; `details` says why per node.
   */
  allocate(svc: string, ports: readonly Port[], candidates: readonly string[], hostPorts: ReadonlyMap<string, ReadonlyMap<string, string>> = new Map()): NodeDecision & { details: string[] } {
    this.unassign(svc);
    const nodes: string[] = [];
    const details: string[] = [];
    for (const n of [...candidates].sort()) {
      const why = this.conflict(svc, n, ports, hostPorts.get(n));
      if (why) details.push(why);
      else nodes.push(n);
    }
    if (nodes.length === 0) return { ok: false, reason: 'There are no available nodes for LoadBalancer', details };
    this.#take(svc, nodes, ports);
    return { ok: true, nodes, details };
  }

  /** Rebuild: the service keeps the nodes it holds where nobody claimed its ports first. */
  restore(svc: string, nodes: readonly string[], ports: readonly Port[]): string[] {
    this.unassign(svc);
    const ok = [...nodes].sort().filter((n) => this.conflict(svc, n, ports) === '');
    if (ok.length > 0) this.#take(svc, ok, ports);
    return ok;
  }

  #take(svc: string, nodes: string[], ports: readonly Port[]): void {
    this.#held.set(svc, { nodes, ports: [...ports] });
    for (const n of nodes) {
      let m = this.#claims.get(n);
      if (!m) this.#claims.set(n, (m = new Map()));
      for (const p of ports) m.set(portText(p), svc);
    }
  }
}

/** A node's Ready condition is not known to be bad (a node without conditions counts as ready). */
export function isNodeReady(node: Node): boolean {
  const ready = node.status?.conditions?.find((c) => c.type === 'Ready');
  return !ready || ready.status === 'True';
}

/**
 * The nodes that may serve a node-address LoadBalancer: ready, not excluded, k3s's enablelb
 * label honoured, and for externalTrafficPolicy Local only nodes with a ready endpoint (k3s
 * getStatus). Sorted.
 */
export function candidateNodes(svc: Service, nodes: readonly Node[], slices: readonly EndpointSlice[]): string[] {
  const labelled = nodes.some((n) => Object.hasOwn(n.metadata?.labels ?? {}, enableLbLabel));
  let out = nodes.filter((n) => isNodeReady(n) && !Object.hasOwn(n.metadata?.labels ?? {}, excludeLbLabel)
    && (!labelled || n.metadata?.labels?.[enableLbLabel] === 'true'));
  if (svc.spec?.externalTrafficPolicy === 'Local') {
    const ready = readyEndpointNodes(svc, slices);
    out = out.filter((n) => ready.has(n.metadata?.name ?? ''));
  }
  return out.map((n) => n.metadata?.name ?? '').filter((n) => n !== '').sort();
}

/** Nodes with a ready endpoint of the Service. */
export function readyEndpointNodes(svc: Service, slices: readonly EndpointSlice[]): Set<string> {
  const out = new Set<string>();
  for (const s of slices) {
    if (s.metadata?.namespace !== svc.metadata?.namespace || s.metadata?.labels?.['kubernetes.io/service-name'] !== svc.metadata?.name) continue;
    for (const e of s.endpoints ?? []) if (e.conditions?.ready !== false && e.nodeName) out.add(e.nodeName);
  }
  return out;
}

/**
 * The addresses of the chosen nodes for the Service's family: ExternalIPs when any of them has
 * one, InternalIPs otherwise (k3s podIPs). Sorted.
 */
export function nodeAddresses(chosen: readonly string[], nodes: readonly Node[], family: Family): string[] {
  const picked = nodes.filter((n) => chosen.includes(n.metadata?.name ?? ''));
  const of = (type: string) => [...new Set(picked.flatMap((n) => (n.status?.addresses ?? []).filter((a) => a.type === type).map((a) => a.address)))]
    .filter((a) => parseIp(a)?.family === family);
  const external = of('ExternalIP');
  return (external.length > 0 ? external : of('InternalIP')).sort();
}

/** The nodes whose addresses appear in `ips` (for rebuilding from status). */
export function nodesWithAddresses(ips: readonly string[], nodes: readonly Node[]): string[] {
  return nodes.filter((n) => (n.status?.addresses ?? []).some((a) => (a.type === 'InternalIP' || a.type === 'ExternalIP') && ips.includes(a.address)))
    .map((n) => n.metadata?.name ?? '').sort();
}

/** node → "TCP/80" → "ns/pod" for every running pod's hostPort that binds all addresses or the node's own. */
export function hostPortsByNode(pods: readonly Pod[], nodes: readonly Node[]): Map<string, Map<string, string>> {
  const out = new Map<string, Map<string, string>>();
  for (const pod of [...pods].sort((a, b) => `${a.metadata?.namespace}/${a.metadata?.name}`.localeCompare(`${b.metadata?.namespace}/${b.metadata?.name}`))) {
    const node = pod.spec?.nodeName;
    if (!node || pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') continue;
    const own = new Set((nodes.find((n) => n.metadata?.name === node)?.status?.addresses ?? []).map((a) => a.address));
    for (const c of [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])]) {
      for (const p of c.ports ?? []) {
        if (!p.hostPort) continue;
        if (p.hostIP && p.hostIP !== '0.0.0.0' && p.hostIP !== '::' && !own.has(p.hostIP)) continue;
        let m = out.get(node);
        if (!m) out.set(node, (m = new Map()));
        const k = `${p.protocol ?? 'TCP'}/${p.hostPort}`;
        if (!m.has(k)) m.set(k, `${pod.metadata?.namespace}/${pod.metadata?.name}`);
      }
    }
  }
  return out;
}
