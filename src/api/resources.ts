// The group/version/resource table: what the API server serves, and what discovery,
// OpenAPI, printers and validation look up by kind or by resource.

export type Verb = 'create' | 'delete' | 'deletecollection' | 'get' | 'list' | 'patch' | 'update' | 'watch';

export interface SubresourceInfo {
  readonly name: string; // 'status', 'log', 'proxy', 'portforward', 'exec', 'attach', 'binding', 'scale'
  readonly kind: string; // response kind, e.g. 'Service', 'ServiceProxyOptions', 'Scale'
  /** The response kind's group and version when they are not the resource's own (`scale`: autoscaling/v1). */
  readonly responseGroupVersion?: { readonly group: string; readonly version: string };
  readonly verbs: readonly string[];
}

export interface ResourceInfo {
  readonly group: string; // '' for core
  /** The storage version; objects are stored and handed to components in this version. */
  readonly version: string;
  /** Extra served versions (older Ingress versions); objects are converted to/from `version`. */
  readonly alsoServedAs?: readonly { group: string; version: string }[];
  readonly kind: string;
  readonly listKind: string;
  readonly resource: string; // plural
  readonly singular: string;
  readonly namespaced: boolean;
  readonly shortNames: readonly string[];
  readonly categories: readonly string[];
  readonly verbs: readonly Verb[];
  readonly subresources: readonly SubresourceInfo[];
  /** Has a spec/status split: writes to the main resource ignore status and vice versa. */
  readonly hasStatus: boolean;
}

const allVerbs: readonly Verb[] = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];
const statusSub = (kind: string): SubresourceInfo => ({ name: 'status', kind, verbs: ['get', 'patch', 'update'] });
const proxyVerbs = ['create', 'delete', 'get', 'patch', 'update'] as const;
/** The `scale` subresource answers autoscaling/v1 Scale objects (kube's ScaleREST). */
const scaleSub: SubresourceInfo = { name: 'scale', kind: 'Scale', responseGroupVersion: { group: 'autoscaling', version: 'v1' }, verbs: ['get', 'patch', 'update'] };

function res(r: Omit<ResourceInfo, 'listKind' | 'singular' | 'verbs' | 'categories' | 'shortNames' | 'subresources' | 'hasStatus'> &
  Partial<Pick<ResourceInfo, 'verbs' | 'categories' | 'shortNames' | 'subresources' | 'singular'>>): ResourceInfo {
  const subresources = r.subresources ?? [];
  return {
    ...r,
    listKind: `${r.kind}List`,
    singular: r.singular ?? r.kind.toLowerCase(),
    verbs: r.verbs ?? allVerbs,
    categories: r.categories ?? [],
    shortNames: r.shortNames ?? [],
    subresources,
    hasStatus: subresources.some((s) => s.name === 'status'),
  };
}

export const resources: readonly ResourceInfo[] = [
  res({ group: '', version: 'v1', kind: 'Namespace', resource: 'namespaces', namespaced: false, shortNames: ['ns'],
    verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'],
    subresources: [statusSub('Namespace'), { name: 'finalize', kind: 'Namespace', verbs: ['update'] }] }),
  res({ group: '', version: 'v1', kind: 'Pod', resource: 'pods', namespaced: true, shortNames: ['po'], categories: ['all'],
    subresources: [
      { name: 'attach', kind: 'PodAttachOptions', verbs: ['create', 'get'] },
      { name: 'binding', kind: 'Binding', verbs: ['create'] },
      { name: 'exec', kind: 'PodExecOptions', verbs: ['create', 'get'] },
      { name: 'log', kind: 'Pod', verbs: ['get'] },
      { name: 'portforward', kind: 'PodPortForwardOptions', verbs: ['create', 'get'] },
      { name: 'proxy', kind: 'PodProxyOptions', verbs: proxyVerbs },
      statusSub('Pod'),
    ] }),
  res({ group: '', version: 'v1', kind: 'Service', resource: 'services', namespaced: true, shortNames: ['svc'], categories: ['all'],
    verbs: ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'],
    subresources: [{ name: 'proxy', kind: 'ServiceProxyOptions', verbs: proxyVerbs }, statusSub('Service')] }),
  res({ group: '', version: 'v1', kind: 'Endpoints', resource: 'endpoints', namespaced: true, shortNames: ['ep'], singular: 'endpoints' }),
  res({ group: '', version: 'v1', kind: 'Node', resource: 'nodes', namespaced: false, shortNames: ['no'],
    subresources: [{ name: 'proxy', kind: 'NodeProxyOptions', verbs: proxyVerbs }, statusSub('Node')] }),
  res({ group: '', version: 'v1', kind: 'Secret', resource: 'secrets', namespaced: true }),
  res({ group: '', version: 'v1', kind: 'ConfigMap', resource: 'configmaps', namespaced: true, shortNames: ['cm'] }),
  res({ group: '', version: 'v1', kind: 'Event', resource: 'events', namespaced: true, shortNames: ['ev'] }),
  res({ group: '', version: 'v1', kind: 'ServiceAccount', resource: 'serviceaccounts', namespaced: true, shortNames: ['sa'] }),
  res({ group: 'discovery.k8s.io', version: 'v1', kind: 'EndpointSlice', resource: 'endpointslices', namespaced: true }),
  res({ group: 'networking.k8s.io', version: 'v1', kind: 'Ingress', resource: 'ingresses', namespaced: true, shortNames: ['ing'],
    alsoServedAs: [{ group: 'networking.k8s.io', version: 'v1beta1' }, { group: 'extensions', version: 'v1beta1' }],
    subresources: [statusSub('Ingress')] }),
  res({ group: 'networking.k8s.io', version: 'v1', kind: 'IngressClass', resource: 'ingressclasses', namespaced: false }),
  res({ group: 'apps', version: 'v1', kind: 'Deployment', resource: 'deployments', namespaced: true, shortNames: ['deploy'], categories: ['all'],
    subresources: [scaleSub, statusSub('Deployment')] }),
  res({ group: 'apps', version: 'v1', kind: 'ReplicaSet', resource: 'replicasets', namespaced: true, shortNames: ['rs'], categories: ['all'],
    subresources: [scaleSub, statusSub('ReplicaSet')] }),
  // certificates.k8s.io/v1: how a joining node gets its client and serving certificates (TLS
  // bootstrap). `approval` writes only the Approved/Denied conditions, `status` the certificate.
  res({ group: 'certificates.k8s.io', version: 'v1', kind: 'CertificateSigningRequest', resource: 'certificatesigningrequests', namespaced: false,
    shortNames: ['csr'],
    subresources: [{ name: 'approval', kind: 'CertificateSigningRequest', verbs: ['get', 'patch', 'update'] }, statusSub('CertificateSigningRequest')] }),
  // MetalLB's own configuration kinds, so existing MetalLB address pools apply unchanged.
  res({ group: 'metallb.io', version: 'v1beta1', kind: 'IPAddressPool', resource: 'ipaddresspools', namespaced: true,
    subresources: [statusSub('IPAddressPool')] }),
  res({ group: 'metallb.io', version: 'v1beta1', kind: 'L2Advertisement', resource: 'l2advertisements', namespaced: true }),
  // The Gateway API (gateway.networking.k8s.io), standard channel. v1beta1 has the same schema
  // for these three kinds (the CRDs serve both with no conversion webhook), so it is served as
  // another name for v1. Short names and categories are the CRDs' own.
  res({ group: 'gateway.networking.k8s.io', version: 'v1', kind: 'GatewayClass', resource: 'gatewayclasses', namespaced: false, shortNames: ['gc'],
    categories: ['gateway-api'], alsoServedAs: [{ group: 'gateway.networking.k8s.io', version: 'v1beta1' }], subresources: [statusSub('GatewayClass')] }),
  res({ group: 'gateway.networking.k8s.io', version: 'v1', kind: 'Gateway', resource: 'gateways', namespaced: true, shortNames: ['gtw'],
    categories: ['gateway-api'], alsoServedAs: [{ group: 'gateway.networking.k8s.io', version: 'v1beta1' }], subresources: [statusSub('Gateway')] }),
  res({ group: 'gateway.networking.k8s.io', version: 'v1', kind: 'HTTPRoute', resource: 'httproutes', namespaced: true,
    categories: ['gateway-api'], alsoServedAs: [{ group: 'gateway.networking.k8s.io', version: 'v1beta1' }], subresources: [statusSub('HTTPRoute')] }),
  // ReferenceGrant: no status (the CRD has no subresources). The CRD stores v1beta1 and serves v1
  // too, with one schema; v1 is the one discovery prefers (kube's version priority), as here.
  res({ group: 'gateway.networking.k8s.io', version: 'v1', kind: 'ReferenceGrant', resource: 'referencegrants', namespaced: true, shortNames: ['refgrant'],
    categories: ['gateway-api'], alsoServedAs: [{ group: 'gateway.networking.k8s.io', version: 'v1beta1' }] }),
];

export function apiVersionOf(group: string, version: string): string {
  return group ? `${group}/${version}` : version;
}

/** Finds the resource served at group/version under its plural name, or undefined. */
export function lookupResource(group: string, version: string, plural: string): ResourceInfo | undefined {
  return resources.find((r) => r.resource === plural &&
    ((r.group === group && r.version === version) || (r.alsoServedAs ?? []).some((v) => v.group === group && v.version === version)));
}

/** Finds the resource for an apiVersion + kind as written in an object. */
export function lookupKind(apiVersion: string, kind: string): ResourceInfo | undefined {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/', 2) as [string, string] : ['', apiVersion];
  return resources.find((r) => r.kind === kind &&
    ((r.group === group && r.version === version) || (r.alsoServedAs ?? []).some((v) => v.group === group && v.version === version)));
}

/** Every group/version served, with the resources it holds (storage and converted ones). */
export function servedGroupVersions(): { group: string; version: string; resources: ResourceInfo[] }[] {
  const out = new Map<string, { group: string; version: string; resources: ResourceInfo[] }>();
  const add = (group: string, version: string, r: ResourceInfo) => {
    const k = `${group}/${version}`;
    let e = out.get(k);
    if (!e) out.set(k, (e = { group, version, resources: [] }));
    e.resources.push(r);
  };
  for (const r of resources) {
    add(r.group, r.version, r);
    for (const v of r.alsoServedAs ?? []) add(v.group, v.version, r);
  }
  return [...out.values()];
}
