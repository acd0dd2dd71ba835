// The `kube-system/kube-dns` Service as kubeadm's CoreDNS add-on creates it, and the EndpointSlice
// through which each node's DNS server is reached behind it (pure desired objects, and the plan
// that compares them with what the API has).
//
// podgate runs no CoreDNS pods: every node agent answers DNS itself on its pod-bridge address. So
// the Service has no selector, and each node keeps one EndpointSlice of its own
// (`kube-dns-<node>`, managed-by podgate) naming that address; the service proxy DNATs
// 10.96.0.10:53 to it like any other endpoint.
//
// Unlike kubeadm's, the Service has `internalTrafficPolicy: Local`: every node runs a server, so a
// pod asks its own node's and never depends on another node. With `Cluster` a crashed node's slice,
// still ready until that node starts again, would take its share (1/N) of every node's queries.
import type { Service } from 'kubernetes-types/core/v1.d.ts';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.d.ts';
import { formatIpv4, parseCidr } from '../api/net/cidr.ts';
import { SERVICE_NAME_LABEL } from './cluster-view.ts';

export const KUBE_DNS_NAMESPACE = 'kube-system';
export const KUBE_DNS_NAME = 'kube-dns';
/** The managed-by label of the slices the node agents keep (the endpointslice controller leaves them alone). */
export const KUBE_DNS_MANAGED_BY = 'dns.podgate.io';
const MANAGED_BY_LABEL = 'endpointslice.kubernetes.io/managed-by';

/**
 * The 10th address of the Service range, where kubeadm puts the DNS Service (10.96.0.10 for
 * 10.96.0.0/12): what the kubelet's --cluster-dns defaults to here. Throws on a range that is not IPv4.
 */
export function defaultClusterDNS(serviceCIDR: string): string {
  const c = parseCidr(serviceCIDR);
  if (c.size <= 11) throw new Error(`--service-cluster-ip-range ${serviceCIDR} has no 10th address for the DNS Service: give --cluster-dns`);
  return formatIpv4(c.base + 10);
}

/**
 * The Service kubeadm's CoreDNS add-on creates (without its metrics port and selector: there are no
 * CoreDNS pods), with internalTrafficPolicy Local (every node answers for its own pods).
 */
export function kubeDnsService(clusterIP: string): Service {
  return {
    apiVersion: 'v1', kind: 'Service',
    metadata: {
      name: KUBE_DNS_NAME, namespace: KUBE_DNS_NAMESPACE,
      labels: { 'k8s-app': 'kube-dns', 'kubernetes.io/cluster-service': 'true', 'kubernetes.io/name': 'CoreDNS' },
    },
    spec: {
      type: 'ClusterIP', clusterIP, internalTrafficPolicy: 'Local',
      ports: [
        { name: 'dns', port: 53, protocol: 'UDP', targetPort: 53 },
        { name: 'dns-tcp', port: 53, protocol: 'TCP', targetPort: 53 },
      ],
    },
  };
}

export function kubeDnsSliceName(nodeName: string): string {
  return `${KUBE_DNS_NAME}-${nodeName}`.slice(0, 253).replace(/[-.]+$/, '');
}

/** This node's EndpointSlice behind kube-dns: its DNS server's address, ready, on the node. */
export function kubeDnsSlice(o: { nodeName: string; address: string; service?: Service | undefined; port?: number }): EndpointSlice {
  const port = o.port ?? 53;
  const uid = o.service?.metadata?.uid;
  return {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
    metadata: {
      name: kubeDnsSliceName(o.nodeName), namespace: KUBE_DNS_NAMESPACE,
      labels: { [SERVICE_NAME_LABEL]: KUBE_DNS_NAME, [MANAGED_BY_LABEL]: KUBE_DNS_MANAGED_BY, 'k8s-app': 'kube-dns' },
      // As the endpointslice controller sets it: the slice goes with its Service.
      ...(uid ? { ownerReferences: [{ apiVersion: 'v1', kind: 'Service', name: KUBE_DNS_NAME, uid, controller: true, blockOwnerDeletion: true }] } : {}),
    },
    addressType: 'IPv4',
    endpoints: [{ addresses: [o.address], conditions: { ready: true, serving: true, terminating: false }, nodeName: o.nodeName }],
    ports: [
      { name: 'dns', port, protocol: 'UDP' },
      { name: 'dns-tcp', port, protocol: 'TCP' },
    ],
  };
}

/** How old another node's slice must be before its node's absence means it was deleted. */
export const STALE_SLICE_AGE_MS = 60_000;

/**
 * Other nodes' kube-dns slices (ours by label) old enough to be removed if their node no longer
 * exists: the caller asks the API for each node before deleting (pure; names sorted).
 */
export function staleKubeDnsSliceCandidates(slices: readonly EndpointSlice[], nodeName: string, nowMs: number): string[] {
  const own = kubeDnsSliceName(nodeName);
  return slices
    .filter((x) => x.metadata?.namespace === KUBE_DNS_NAMESPACE && isKubeDnsSliceOurs(x) && x.metadata?.name !== own)
    .filter((x) => {
      const created = Date.parse(x.metadata?.creationTimestamp ?? '');
      return Number.isFinite(created) && nowMs - created >= STALE_SLICE_AGE_MS && Boolean(x.endpoints?.[0]?.nodeName);
    })
    .map((x) => x.metadata!.name!)
    .sort();
}

export type KubeDnsAction =
  | { readonly kind: 'create-service'; readonly service: Service }
  | { readonly kind: 'patch-service'; readonly patch: { readonly spec: { readonly internalTrafficPolicy: 'Local' } } }
  | { readonly kind: 'create-slice'; readonly slice: EndpointSlice }
  | { readonly kind: 'update-slice'; readonly slice: EndpointSlice }
  | { readonly kind: 'delete-slice'; readonly name: string; readonly uid: string | undefined }
  | { readonly kind: 'warn'; readonly message: string };

/** Whether a slice is one the node agents keep (not the endpointslice controller's or someone's own). */
export function isKubeDnsSliceOurs(slice: EndpointSlice): boolean {
  return slice.metadata?.labels?.[MANAGED_BY_LABEL] === KUBE_DNS_MANAGED_BY;
}

/**
 * What to do so that kube-dns leads to this node's DNS server (pure): create the Service when it is
 * missing, set internalTrafficPolicy Local on one without a selector (podgate's, possibly made
 * before podgate set it), create or update this node's slice when it differs. A kube-dns Service
 * with a selector belongs to its pods (real CoreDNS): this node's slice is deleted and no longer
 * kept. A cluster IP other than --cluster-dns is reported (pods would ask an address nothing answers).
 */
export function planKubeDns(have: { service: Service | undefined; slice: EndpointSlice | undefined }, want: { clusterIP: string; nodeName: string; address: string; port?: number }): KubeDnsAction[] {
  if (!have.service) return [{ kind: 'create-service', service: kubeDnsService(want.clusterIP) }];
  const actions: KubeDnsAction[] = [];
  const ip = have.service.spec?.clusterIP;
  if (ip !== want.clusterIP) {
    actions.push({ kind: 'warn', message: `Service ${KUBE_DNS_NAMESPACE}/${KUBE_DNS_NAME} has cluster IP ${ip ?? '<none>'}, but pods are told to use ${want.clusterIP} (--cluster-dns): delete the Service to have it made again, or set --cluster-dns ${ip ?? ''}` });
  }
  if (have.service.spec?.selector && Object.keys(have.service.spec.selector).length > 0) {
    actions.push({ kind: 'warn', message: `Service ${KUBE_DNS_NAMESPACE}/${KUBE_DNS_NAME} has a selector: its pods answer DNS, so this node's DNS server is not added to it` });
    if (have.slice && isKubeDnsSliceOurs(have.slice)) actions.push({ kind: 'delete-slice', name: have.slice.metadata?.name ?? kubeDnsSliceName(want.nodeName), uid: have.slice.metadata?.uid });
    return actions;
  }
  if (have.service.spec?.internalTrafficPolicy !== 'Local') actions.push({ kind: 'patch-service', patch: { spec: { internalTrafficPolicy: 'Local' } } });
  const slice = kubeDnsSlice({ nodeName: want.nodeName, address: want.address, service: have.service, ...(want.port !== undefined ? { port: want.port } : {}) });
  if (!have.slice) actions.push({ kind: 'create-slice', slice });
  else if (!sameSlice(have.slice, slice)) {
    actions.push({ kind: 'update-slice', slice: { ...slice, metadata: { ...slice.metadata, resourceVersion: have.slice.metadata?.resourceVersion } } });
  }
  return actions;
}

function sameSlice(a: EndpointSlice, b: EndpointSlice): boolean {
  const pick = (s: EndpointSlice) => JSON.stringify({
    labels: Object.entries(s.metadata?.labels ?? {}).sort(),
    owners: (s.metadata?.ownerReferences ?? []).map((r) => r.uid),
    endpoints: s.endpoints.map((e) => ({ a: e.addresses, r: e.conditions?.ready, n: e.nodeName })),
    ports: (s.ports ?? []).map((p) => [p.name, p.port, p.protocol]),
  });
  return pick(a) === pick(b);
}
