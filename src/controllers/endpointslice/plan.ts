// What a Service's endpoints should be (pure): the EndpointSlices and the legacy Endpoints object
// kube-controller-manager keeps for Services with a selector, computed from the matching pods.
import type { EndpointPort, EndpointSlice } from 'kubernetes-types/discovery/v1.d.ts';
import type { EndpointSubset, Endpoints, Pod, Service, ServicePort } from 'kubernetes-types/core/v1.d.ts';
import { matchesLabels, type LabelRequirement } from '../../api/selectors.ts';

export const managedBy = 'endpointslice-controller.k8s.io';
export const maxEndpointsPerSlice = 100;

export interface PodEndpoint {
  pod: Pod;
  ip: string;
  ready: boolean;
  serving: boolean;
  terminating: boolean;
}

/** Whether the Service's selector picks the pod (an empty or missing selector picks nothing). */
export function selects(svc: Service, pod: Pod): boolean {
  const sel = svc.spec?.selector;
  if (!sel || Object.keys(sel).length === 0) return false;
  if (pod.metadata?.namespace !== svc.metadata?.namespace) return false;
  const reqs: LabelRequirement[] = Object.entries(sel).map(([key, value]) => ({ op: 'eq', key, value }));
  return matchesLabels(reqs, pod.metadata?.labels);
}

function podReady(pod: Pod): boolean {
  return pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

/** The pods that are endpoints, as the controller counts them: with an IP, not finished. */
export function podEndpoints(svc: Service, pods: readonly Pod[]): PodEndpoint[] {
  const out: PodEndpoint[] = [];
  const publishNotReady = svc.spec?.publishNotReadyAddresses === true;
  for (const pod of pods) {
    if (!selects(svc, pod)) continue;
    const ip = pod.status?.podIP;
    if (!ip) continue;
    const phase = pod.status?.phase;
    if (phase === 'Succeeded' || phase === 'Failed') continue;
    const terminating = Boolean(pod.metadata?.deletionTimestamp);
    // As the upstream controller (endpointslice utils podToEndpoint): serving is the pod's
    // readiness, always; publishNotReadyAddresses only forces `ready`, and a terminating pod is
    // never ready otherwise.
    const serving = podReady(pod);
    out.push({ pod, ip, terminating, serving, ready: publishNotReady || (serving && !terminating) });
  }
  out.sort((a, b) => (a.pod.metadata?.name ?? '').localeCompare(b.pod.metadata?.name ?? ''));
  return out;
}

/** A service port's target on one pod: a number, or the container port with that name; undefined if the pod has none. */
export function resolveTargetPort(sp: ServicePort, pod: Pod): number | undefined {
  const t = sp.targetPort ?? sp.port;
  if (typeof t === 'number') return t;
  if (/^\d+$/.test(t)) return Number(t);
  for (const c of pod.spec?.containers ?? []) {
    for (const p of c.ports ?? []) {
      if (p.name === t && (p.protocol ?? 'TCP') === (sp.protocol ?? 'TCP')) return p.containerPort;
    }
  }
  return undefined;
}

function endpointPorts(svc: Service, pod: Pod): EndpointPort[] {
  const out: EndpointPort[] = [];
  for (const sp of svc.spec?.ports ?? []) {
    const port = resolveTargetPort(sp, pod);
    if (port === undefined) continue;
    const ep: EndpointPort = { name: sp.name ?? '', port, protocol: sp.protocol ?? 'TCP' };
    if (sp.appProtocol) (ep as { appProtocol?: string }).appProtocol = sp.appProtocol;
    out.push(ep);
  }
  return out;
}

/**
 * kube's endpointutil.ShouldSetHostname: a pod with `hostname` whose `subdomain` names this Service
 * (in its namespace) is published under that hostname, which cluster DNS answers as
 * `HOSTNAME.SERVICE.NAMESPACE.svc.cluster.local` (a StatefulSet's `web-0.web…`).
 */
function shouldSetHostname(pod: Pod, svc: Service): boolean {
  return Boolean(pod.spec?.hostname) && pod.spec?.subdomain === svc.metadata?.name && pod.metadata?.namespace === svc.metadata?.namespace;
}

export interface DesiredSlice {
  /** Identifies slices with the same port mapping (pods whose named ports resolve alike). */
  portsKey: string;
  ports: EndpointPort[];
  endpoints: NonNullable<EndpointSlice['endpoints']>;
}

/** Endpoints grouped by port mapping, at most 100 per slice, in a stable order. */
export function desiredSlices(svc: Service, eps: readonly PodEndpoint[]): DesiredSlice[] {
  const groups = new Map<string, { ports: EndpointPort[]; endpoints: NonNullable<EndpointSlice['endpoints']> }>();
  for (const e of eps) {
    const ports = endpointPorts(svc, e.pod);
    const key = JSON.stringify(ports);
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { ports, endpoints: [] }));
    const endpoint: NonNullable<EndpointSlice['endpoints']>[number] = {
      addresses: [e.ip],
      conditions: { ready: e.ready, serving: e.serving, terminating: e.terminating },
      ...(shouldSetHostname(e.pod, svc) ? { hostname: e.pod.spec!.hostname! } : {}),
      targetRef: { kind: 'Pod', namespace: e.pod.metadata?.namespace, name: e.pod.metadata?.name, uid: e.pod.metadata?.uid },
    };
    if (e.pod.spec?.nodeName) (endpoint as { nodeName?: string }).nodeName = e.pod.spec.nodeName;
    g.endpoints.push(endpoint);
  }
  const out: DesiredSlice[] = [];
  for (const [key, g] of [...groups.entries()].sort(([a], [b]) => a.localeCompare(b))) {
    for (let i = 0; i < g.endpoints.length; i += maxEndpointsPerSlice) {
      out.push({ portsKey: key, ports: g.ports, endpoints: g.endpoints.slice(i, i + maxEndpointsPerSlice) });
    }
  }
  // A Service whose pods are all gone still has one (empty) slice, as kube keeps a placeholder.
  if (out.length === 0) out.push({ portsKey: '[]', ports: [], endpoints: [] });
  return out;
}

export interface SlicePlan {
  create: EndpointSlice[];
  update: EndpointSlice[];
  delete: EndpointSlice[];
}

function sliceLabels(svc: Service): Record<string, string> {
  return { ...(svc.metadata?.labels ?? {}), 'kubernetes.io/service-name': svc.metadata!.name!, 'endpointslice.kubernetes.io/managed-by': managedBy };
}

function ownerRef(svc: Service) {
  return [{ apiVersion: 'v1', kind: 'Service', name: svc.metadata!.name!, uid: svc.metadata!.uid!, controller: true, blockOwnerDeletion: true }];
}

/**
 * Create/update/delete lists that turn `existing` (our slices of this Service) into the desired
 * ones, reusing slices in place so names stay stable. Pure; the controller does the I/O.
 */
export function planSlices(svc: Service, eps: readonly PodEndpoint[], existing: readonly EndpointSlice[]): SlicePlan {
  const want = desiredSlices(svc, eps);
  const have = [...existing].sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''));
  const plan: SlicePlan = { create: [], update: [], delete: [] };
  const labels = sliceLabels(svc);
  const unused = new Set(have);
  for (const d of want) {
    const reuse = have.find((s) => unused.has(s) && JSON.stringify(s.ports ?? []) === JSON.stringify(d.ports)) ?? have.find((s) => unused.has(s));
    const body: EndpointSlice = {
      apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
      metadata: { namespace: svc.metadata!.namespace, labels, ownerReferences: ownerRef(svc) },
      addressType: 'IPv4', endpoints: d.endpoints, ports: d.ports,
    };
    if (reuse) {
      unused.delete(reuse);
      const next = { ...body, metadata: { ...reuse.metadata, labels, ownerReferences: ownerRef(svc) } } as EndpointSlice;
      const same = JSON.stringify(reuse.endpoints ?? []) === JSON.stringify(next.endpoints) && JSON.stringify(reuse.ports ?? []) === JSON.stringify(next.ports) &&
        JSON.stringify(reuse.metadata?.labels ?? {}) === JSON.stringify(labels);
      if (!same) plan.update.push(next);
    } else {
      (body.metadata as { generateName?: string }).generateName = `${svc.metadata!.name}-`;
      plan.create.push(body);
    }
  }
  plan.delete.push(...unused);
  return plan;
}

/** The legacy Endpoints object: ready and not-ready addresses grouped by port set (`kubectl get ep`). */
export function desiredEndpoints(svc: Service, eps: readonly PodEndpoint[]): Endpoints {
  const subsets = new Map<string, EndpointSubset>();
  for (const e of eps) {
    // Terminating pods are dropped from Endpoints unless the Service publishes not-ready addresses.
    if (e.terminating && svc.spec?.publishNotReadyAddresses !== true) continue;
    const ports = endpointPorts(svc, e.pod).map((p) => ({ name: p.name || undefined, port: p.port!, protocol: p.protocol }));
    const key = JSON.stringify(ports);
    let s = subsets.get(key);
    if (!s) subsets.set(key, (s = { ports: ports.map((p) => (p.name ? p : { port: p.port, protocol: p.protocol })) }));
    const addr: { ip: string; hostname?: string; nodeName?: string; targetRef?: object } = { ip: e.ip };
    if (shouldSetHostname(e.pod, svc)) addr.hostname = e.pod.spec!.hostname!;
    if (e.pod.spec?.nodeName) addr.nodeName = e.pod.spec.nodeName;
    addr.targetRef = { kind: 'Pod', namespace: e.pod.metadata?.namespace, name: e.pod.metadata?.name, uid: e.pod.metadata?.uid };
    const list = e.ready ? (s.addresses ??= []) : (s.notReadyAddresses ??= []);
    (list as object[]).push(addr);
  }
  const out: Endpoints = {
    apiVersion: 'v1', kind: 'Endpoints',
    metadata: { name: svc.metadata!.name, namespace: svc.metadata!.namespace, labels: { ...(svc.metadata?.labels ?? {}) } },
  };
  const list = [...subsets.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([, s]) => s).filter((s) => s.addresses?.length || s.notReadyAddresses?.length);
  if (list.length) (out as { subsets?: EndpointSubset[] }).subsets = list;
  return out;
}
