// The `x-kubernetes-*` list extensions that kube-apiserver publishes for the types podgate
// serves, which the generated `kubernetes-models` files leave out. They come from the
// `patchStrategy`/`patchMergeKey` struct tags and `+listType`/`+listMapKey` markers in
// k8s.io/api (core/v1/types.go, networking/v1/types.go, discovery/v1/types.go) and
// k8s.io/apimachinery (meta/v1/types.go) as of Kubernetes 1.32.
//
// Why they matter: when a kind's schema is in the OpenAPI v3 document, `kubectl apply` computes
// its strategic merge patch from these extensions instead of its compiled-in types. A list that
// kube merges by key but lacks its merge key here would be replaced whole on every re-apply.

import type { Schema } from './models-schema-source.ts';

export interface ListExtensions {
  readonly mergeKey?: string;
  readonly strategy?: 'merge' | 'merge,retainKeys';
  readonly listType?: 'atomic' | 'map' | 'set';
  readonly mapKeys?: readonly string[];
}

const byName = (key: string, strategy: ListExtensions['strategy'] = 'merge'): ListExtensions =>
  ({ mergeKey: key, strategy, listType: 'map', mapKeys: [key] });
const atomic: ListExtensions = { listType: 'atomic' };
const set: ListExtensions = { listType: 'set' };

const containerLists: Record<string, ListExtensions> = {
  ports: { mergeKey: 'containerPort', strategy: 'merge', listType: 'map', mapKeys: ['containerPort', 'protocol'] },
  env: byName('name'),
  volumeMounts: byName('mountPath'),
  volumeDevices: byName('devicePath'),
  envFrom: atomic,
  command: atomic,
  args: atomic,
  resizePolicy: atomic,
};

/** schema name (version-free suffix after `io.k8s.api.` / `io.k8s.apimachinery.pkg.apis.`) → field → extensions */
export const kubeListExtensions: Readonly<Record<string, Readonly<Record<string, ListExtensions>>>> = {
  'meta.v1.ObjectMeta': {
    finalizers: { strategy: 'merge', listType: 'set' },
    ownerReferences: { mergeKey: 'uid', strategy: 'merge', listType: 'map', mapKeys: ['uid'] },
    managedFields: atomic,
  },
  'meta.v1.LabelSelector': { matchExpressions: atomic },
  'meta.v1.LabelSelectorRequirement': { values: atomic },
  'core.v1.PodSpec': {
    volumes: byName('name', 'merge,retainKeys'),
    initContainers: byName('name'),
    containers: byName('name'),
    ephemeralContainers: byName('name'),
    imagePullSecrets: byName('name'),
    hostAliases: byName('ip'),
    topologySpreadConstraints: { mergeKey: 'topologyKey', strategy: 'merge', listType: 'map', mapKeys: ['topologyKey', 'whenUnsatisfiable'] },
    resourceClaims: byName('name', 'merge,retainKeys'),
    schedulingGates: byName('name'),
    readinessGates: atomic,
    tolerations: atomic,
  },
  'core.v1.PodStatus': {
    conditions: byName('type'),
    podIPs: byName('ip'),
    hostIPs: { mergeKey: 'ip', strategy: 'merge', listType: 'atomic' },
    initContainerStatuses: atomic,
    containerStatuses: atomic,
    ephemeralContainerStatuses: atomic,
    resourceClaimStatuses: byName('name', 'merge,retainKeys'),
  },
  'core.v1.Container': containerLists,
  'core.v1.EphemeralContainer': containerLists,
  'core.v1.ServiceSpec': {
    ports: { mergeKey: 'port', strategy: 'merge', listType: 'map', mapKeys: ['port', 'protocol'] },
    clusterIPs: atomic,
    externalIPs: atomic,
    ipFamilies: atomic,
    loadBalancerSourceRanges: atomic,
  },
  'core.v1.ServiceStatus': { conditions: byName('type') },
  'core.v1.LoadBalancerStatus': { ingress: atomic },
  'core.v1.LoadBalancerIngress': { ports: atomic },
  'core.v1.NodeSpec': { podCIDRs: { strategy: 'merge', listType: 'set' }, taints: atomic },
  'core.v1.NodeStatus': { conditions: byName('type'), addresses: byName('type'), volumesInUse: atomic, volumesAttached: atomic, images: atomic },
  'core.v1.NamespaceSpec': { finalizers: atomic },
  'core.v1.NamespaceStatus': { conditions: byName('type') },
  'core.v1.ServiceAccount': { secrets: byName('name'), imagePullSecrets: atomic },
  'core.v1.Endpoints': { subsets: atomic },
  'core.v1.EndpointSubset': { addresses: atomic, notReadyAddresses: atomic, ports: atomic },
  'discovery.v1.EndpointSlice': { endpoints: atomic, ports: atomic },
  'discovery.v1.Endpoint': { addresses: set },
  'networking.v1.IngressSpec': { rules: atomic, tls: atomic },
  'networking.v1.IngressTLS': { hosts: atomic },
  'networking.v1.HTTPIngressRuleValue': { paths: atomic },
  'networking.v1.IngressLoadBalancerStatus': { ingress: atomic },
  'networking.v1.IngressLoadBalancerIngress': { ports: atomic },
  'apps.v1.DeploymentStatus': { conditions: byName('type') },
  'apps.v1.ReplicaSetStatus': { conditions: byName('type') },
  'certificates.v1.CertificateSigningRequestSpec': { usages: atomic, groups: atomic },
  'certificates.v1.CertificateSigningRequestStatus': { conditions: { listType: 'map', mapKeys: ['type'] } },
};

function tableKey(schemaName: string): string {
  return schemaName.replace(/^io\.k8s\.api\./, '').replace(/^io\.k8s\.apimachinery\.pkg\.apis\./, '');
}

/**
 * Struct fields tagged `patchStrategy:"retainKeys"` (not lists): kubectl's patch then carries
 * `$retainKeys`, so switching a Deployment to `Recreate` drops the old `rollingUpdate`.
 */
const retainKeysFields: Readonly<Record<string, readonly string[]>> = {
  'apps.v1.DeploymentSpec': ['strategy'],
};

/** Adds kube's list extensions to the schemas in place (only to array fields that exist), and the retainKeys struct fields. */
export function addListExtensions(schemas: Map<string, Schema>): void {
  for (const [name, schema] of schemas) {
    for (const field of retainKeysFields[tableKey(name)] ?? []) {
      const prop = schema.properties?.[field];
      if (prop) prop['x-kubernetes-patch-strategy'] = 'retainKeys';
    }
    const fields = kubeListExtensions[tableKey(name)];
    if (!fields) continue;
    for (const [field, ext] of Object.entries(fields)) {
      const prop = schema.properties?.[field];
      if (!prop || prop.type !== 'array') continue;
      if (ext.mergeKey) prop['x-kubernetes-patch-merge-key'] = ext.mergeKey;
      if (ext.strategy) prop['x-kubernetes-patch-strategy'] = ext.strategy;
      if (ext.listType) prop['x-kubernetes-list-type'] = ext.listType;
      if (ext.mapKeys) prop['x-kubernetes-list-map-keys'] = [...ext.mapKeys];
    }
  }
}

/** The merge key and strategy for a field, for tests and for the server's own patch code. */
export function listExtensionsFor(schemaName: string, field: string): ListExtensions | undefined {
  return kubeListExtensions[tableKey(schemaName)]?.[field];
}
