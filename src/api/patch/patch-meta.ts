// The strategic-merge-patch schema of the kinds podgate serves, as data: a field path maps to how
// that field merges. Kubernetes reads the same facts from the `patchStrategy`/`patchMergeKey` Go
// struct tags of k8s.io/api (core/v1/types.go, apps/v1/types.go) and k8s.io/apimachinery
// (meta/v1/types.go); a list not named here is atomic (the patch replaces it), as in Kubernetes.
//
// Paths are dot-joined JSON field names from the object root; `[]` steps into the items of a list:
// `spec.containers[].ports` is the `ports` list of every container.

/** How one field merges. Only lists (and the rare map with `replace`) need an entry. */
export interface FieldPatchMeta {
  /** `merge`: a list merges item by item (by `mergeKey`, or as a set of primitives); `replace`: the patch value replaces it. */
  readonly strategy: 'merge' | 'replace';
  /** The item field that identifies a list item (`name` for containers); absent for primitive lists. */
  readonly mergeKey?: string;
  /**
   * The Go tag also says `retainKeys` (Pod volumes, Deployment strategy). It only matters to the
   * client that builds the patch; the server honours any `$retainKeys` directive it receives.
   */
  readonly retainKeys?: boolean;
}

/** Field path → patch metadata, for one kind. */
export type PatchSchema = Readonly<Record<string, FieldPatchMeta>>;

export interface GroupVersionKind {
  group: string;
  version: string;
  kind: string;
}

const byKey = (mergeKey: string, retainKeys = false): FieldPatchMeta =>
  retainKeys ? { strategy: 'merge', mergeKey, retainKeys } : { strategy: 'merge', mergeKey };
const primitiveSet: FieldPatchMeta = { strategy: 'merge' };

function under(prefix: string, entries: PatchSchema): Record<string, FieldPatchMeta> {
  const out: Record<string, FieldPatchMeta> = {};
  for (const [path, meta] of Object.entries(entries)) out[prefix ? `${prefix}.${path}` : path] = meta;
  return out;
}

/** metav1.ObjectMeta. `finalizers` is a merge list of primitives (a set), `ownerReferences` keyed by uid. */
const objectMeta: PatchSchema = {
  ownerReferences: byKey('uid'),
  finalizers: primitiveSet,
};

/** core/v1 Container and EphemeralContainerCommon; envFrom, command, args, resizePolicy are atomic. */
const container: PatchSchema = {
  ports: byKey('containerPort'),
  env: byKey('name'),
  volumeMounts: byKey('mountPath'),
  volumeDevices: byKey('devicePath'),
};

/** core/v1 PodSpec; tolerations, readinessGates, os… are atomic (no tags). */
const podSpec: PatchSchema = {
  volumes: byKey('name', true),
  ...under('containers[]', container),
  containers: byKey('name'),
  ...under('initContainers[]', container),
  initContainers: byKey('name'),
  ...under('ephemeralContainers[]', container),
  ephemeralContainers: byKey('name'),
  imagePullSecrets: byKey('name'),
  hostAliases: byKey('ip'),
  topologySpreadConstraints: byKey('topologyKey'),
  schedulingGates: byKey('name'),
  resourceClaims: byKey('name', true),
};

/** core/v1 PodStatus; containerStatuses, initContainerStatuses, ephemeralContainerStatuses are atomic. */
const podStatus: PatchSchema = {
  conditions: byKey('type'),
  hostIPs: byKey('ip'),
  podIPs: byKey('ip'),
  resourceClaimStatuses: byKey('name', true),
};

/** A pod template (apps/v1 workloads): its own ObjectMeta and a PodSpec. */
const podTemplate = (prefix: string): PatchSchema => ({
  ...under(`${prefix}.metadata`, objectMeta),
  ...under(`${prefix}.spec`, podSpec),
});

const conditionsByType: PatchSchema = { conditions: byKey('type') };

const kindEntries: Record<string, PatchSchema> = {
  'core/v1/Pod': { ...under('spec', podSpec), ...under('status', podStatus) },
  // spec.ports merge by port alone, so TCP and UDP on one port number collide as in Kubernetes;
  // externalIPs, loadBalancerSourceRanges, ipFamilies, clusterIPs are atomic.
  'core/v1/Service': { 'spec.ports': byKey('port'), ...under('status', conditionsByType) },
  'core/v1/Endpoints': {}, // subsets and everything in them are atomic
  // spec.taints has no patch tags in k8s.io/api: it is atomic.
  'core/v1/Node': { 'spec.podCIDRs': primitiveSet, 'status.conditions': byKey('type'), 'status.addresses': byKey('type') },
  'core/v1/Namespace': under('status', conditionsByType),
  'core/v1/Secret': {},
  'core/v1/ConfigMap': {},
  'core/v1/Event': {},
  'core/v1/ServiceAccount': { secrets: byKey('name') },
  'core/v1/PodTemplate': podTemplate('template'),
  'core/v1/ReplicationController': { ...podTemplate('spec.template'), ...under('status', conditionsByType) },
  'discovery.k8s.io/v1/EndpointSlice': {}, // endpoints and ports are atomic
  'networking.k8s.io/v1/Ingress': {},
  'networking.k8s.io/v1/IngressClass': {},
  // Deployment spec.strategy is tagged retainKeys (a map): it merges, honouring $retainKeys when sent.
  'apps/v1/Deployment': { ...podTemplate('spec.template'), ...under('status', conditionsByType) },
  'apps/v1/ReplicaSet': { ...podTemplate('spec.template'), ...under('status', conditionsByType) },
  'apps/v1/DaemonSet': { ...podTemplate('spec.template'), ...under('status', conditionsByType) },
  'apps/v1/StatefulSet': { ...podTemplate('spec.template'), ...under('status', conditionsByType) },
  'coordination.k8s.io/v1/Lease': {},
};

function keyOf(gvk: GroupVersionKind): string {
  return `${gvk.group || 'core'}/${gvk.version}/${gvk.kind}`;
}

const schemas = new Map<string, PatchSchema>(
  Object.entries(kindEntries).map(([k, entries]) => [k, { ...under('metadata', objectMeta), ...entries }]),
);

/**
 * The patch schema of a kind, or undefined when podgate does not know it (the caller then merges
 * with JSON-merge-patch semantics: every list atomic).
 */
export function patchSchemaFor(gvk: GroupVersionKind): PatchSchema | undefined {
  return schemas.get(keyOf(gvk));
}

/** True when strategic merge patch knows the kind's list semantics. */
export function hasPatchSchema(gvk: GroupVersionKind): boolean {
  return schemas.has(keyOf(gvk));
}

/** The path of a field inside a map at `parent`. */
export function childPath(parent: string, key: string): string {
  return parent ? `${parent}.${key}` : key;
}

/** The path of the items of the list at `listPath`. */
export function itemPath(listPath: string): string {
  return `${listPath}[]`;
}
