// Defaulting as kube-apiserver applies it on create: the v1 SetDefaults_* functions, plus the
// few values that the registry strategies and default admission plugins add before the object
// is stored (Service IP families, Namespace finalizer, Pod tolerations and priority, status).
// clusterIP and nodePort are left to the registry's allocators.
import type { Container, Pod, PodSpec, Probe, Service, Secret } from 'kubernetes-types/core/v1.d.ts';
import type { KObject } from '../object.ts';
import { isRecord } from '../object.ts';
import { defaultGateway, defaultGatewayClass, defaultHTTPRoute } from './gateway-defaults.ts';

/** kube's DefaultClientIPServiceAffinitySeconds (3 hours). */
export const defaultClientIPAffinitySeconds = 10800;
/** The DefaultTolerationSeconds admission plugin's default for not-ready/unreachable. */
export const defaultTolerationSeconds = 300;

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

function isExternallyAccessible(spec: NonNullable<Service['spec']>): boolean {
  return spec.type === 'LoadBalancer' || spec.type === 'NodePort' || (spec.type === 'ClusterIP' && (spec.externalIPs ?? []).length > 0);
}

export function defaultService(obj: KObject): void {
  const svc = obj as unknown as Service;
  const spec = (svc.spec ??= {}) as Mutable<NonNullable<Service['spec']>>;
  if (!spec.sessionAffinity) spec.sessionAffinity = 'None';
  if (spec.sessionAffinity === 'None') delete spec.sessionAffinityConfig;
  if (spec.sessionAffinity === 'ClientIP') {
    const t = spec.sessionAffinityConfig?.clientIP?.timeoutSeconds;
    if (t === undefined || t === null) spec.sessionAffinityConfig = { clientIP: { timeoutSeconds: defaultClientIPAffinitySeconds } };
  }
  if (!spec.type) spec.type = 'ClusterIP';
  for (const p of spec.ports ?? []) {
    if (!p.protocol) p.protocol = 'TCP';
    if (p.targetPort === undefined || p.targetPort === null || p.targetPort === 0 || p.targetPort === '') p.targetPort = p.port ?? 0;
  }
  if (isExternallyAccessible(spec) && !spec.externalTrafficPolicy) spec.externalTrafficPolicy = 'Cluster';
  if ((spec.internalTrafficPolicy === undefined || spec.internalTrafficPolicy === null) &&
    (spec.type === 'NodePort' || spec.type === 'LoadBalancer' || spec.type === 'ClusterIP')) {
    spec.internalTrafficPolicy = 'Cluster';
  }
  if (spec.type === 'LoadBalancer' && (spec.allocateLoadBalancerNodePorts === undefined || spec.allocateLoadBalancerNodePorts === null)) {
    spec.allocateLoadBalancerNodePorts = true;
  }
  if (spec.type !== 'ExternalName') {
    // The strategy keeps clusterIP and clusterIPs[0] in step (NormalizeClusterIPs on create).
    if (spec.clusterIP && (spec.clusterIPs ?? []).length === 0) spec.clusterIPs = [spec.clusterIP];
    else if (!spec.clusterIP && spec.clusterIPs?.[0]) spec.clusterIP = spec.clusterIPs[0];
    // The registry's IP-family allocation, for a single-stack IPv4 cluster.
    if (spec.ipFamilyPolicy === undefined || spec.ipFamilyPolicy === null) spec.ipFamilyPolicy = 'SingleStack';
    if ((spec.ipFamilies ?? []).length === 0) spec.ipFamilies = ['IPv4'];
  }
  if (!isRecord(obj.status)) obj.status = { loadBalancer: {} };
}

/** `image` → tag as kube's parsers.ParseImageName sees it (digests have no tag). */
function imageTag(image: string): string {
  const noDigest = image.split('@')[0] ?? '';
  const lastSlash = noDigest.lastIndexOf('/');
  const colon = noDigest.lastIndexOf(':');
  if (colon > lastSlash) return noDigest.slice(colon + 1);
  return image.includes('@') ? '' : 'latest';
}

function defaultProbe(p: Probe | undefined): void {
  if (!p) return;
  if (!p.timeoutSeconds) p.timeoutSeconds = 1;
  if (!p.periodSeconds) p.periodSeconds = 10;
  if (!p.successThreshold) p.successThreshold = 1;
  if (!p.failureThreshold) p.failureThreshold = 3;
  defaultHandler(p);
}

function defaultHandler(h: { httpGet?: { path?: string; scheme?: string } | undefined } | undefined): void {
  if (h?.httpGet) {
    if (!h.httpGet.path) h.httpGet.path = '/';
    if (!h.httpGet.scheme) h.httpGet.scheme = 'HTTP';
  }
}

/**
 * SetDefaults_Container and friends. `forPod`: the Pod-only defaults of SetDefaults_Pod (requests
 * from limits, hostPort from containerPort on the host network), which a pod template does not get.
 */
function defaultContainer(c: Container, hostNetwork: boolean, forPod = true): void {
  if (!c.imagePullPolicy) c.imagePullPolicy = imageTag(c.image ?? '') === 'latest' ? 'Always' : 'IfNotPresent';
  if (!c.terminationMessagePath) c.terminationMessagePath = '/dev/termination-log';
  if (!c.terminationMessagePolicy) c.terminationMessagePolicy = 'File';
  for (const p of c.ports ?? []) {
    if (!p.protocol) p.protocol = 'TCP';
    if (forPod && hostNetwork && !p.hostPort) p.hostPort = p.containerPort;
  }
  for (const e of c.env ?? []) {
    if (e.valueFrom?.fieldRef && !e.valueFrom.fieldRef.apiVersion) e.valueFrom.fieldRef.apiVersion = 'v1';
  }
  defaultProbe(c.livenessProbe);
  defaultProbe(c.readinessProbe);
  defaultProbe(c.startupProbe);
  defaultHandler(c.lifecycle?.postStart);
  defaultHandler(c.lifecycle?.preStop);
  const limits = c.resources?.limits;
  if (forPod && limits && c.resources) {
    const requests = (c.resources.requests ??= {});
    for (const [k, v] of Object.entries(limits)) if (!(k in requests)) requests[k] = v;
  }
}

function qosClass(spec: PodSpec): string {
  const all = [...(spec.initContainers ?? []), ...spec.containers];
  let any = false;
  let guaranteed = true;
  for (const c of all) {
    const req = c.resources?.requests ?? {};
    const lim = c.resources?.limits ?? {};
    for (const r of ['cpu', 'memory']) {
      if (req[r] !== undefined || lim[r] !== undefined) any = true;
      if (lim[r] === undefined || (req[r] !== undefined && String(req[r]) !== String(lim[r]))) guaranteed = false;
    }
  }
  if (!any) return 'BestEffort';
  return guaranteed ? 'Guaranteed' : 'Burstable';
}

/** SetDefaults_PodSpec with its containers and volumes; `forPod` adds what only SetDefaults_Pod sets. */
function defaultPodSpec(spec: Mutable<PodSpec>, forPod: boolean): void {
  spec.containers ??= [];
  if (!spec.dnsPolicy) spec.dnsPolicy = 'ClusterFirst';
  if (!spec.restartPolicy) spec.restartPolicy = 'Always';
  if (!spec.securityContext) spec.securityContext = {};
  if (spec.terminationGracePeriodSeconds === undefined || spec.terminationGracePeriodSeconds === null) spec.terminationGracePeriodSeconds = 30;
  if (!spec.schedulerName) spec.schedulerName = 'default-scheduler';
  if (forPod && (spec.enableServiceLinks === undefined || spec.enableServiceLinks === null)) spec.enableServiceLinks = true;
  const hostNetwork = spec.hostNetwork === true;
  for (const c of spec.containers) defaultContainer(c, hostNetwork, forPod);
  for (const c of spec.initContainers ?? []) defaultContainer(c, hostNetwork, forPod);
  for (const v of spec.volumes ?? []) {
    const rec = v as unknown as Record<string, unknown>;
    if (Object.keys(rec).filter((k) => k !== 'name').length === 0) rec.emptyDir = {};
    if (v.secret && v.secret.defaultMode === undefined) v.secret.defaultMode = 420;
    if (v.configMap && v.configMap.defaultMode === undefined) v.configMap.defaultMode = 420;
  }
}

/**
 * The DefaultTolerationSeconds admission plugin (plugin/pkg/admission/defaulttolerationseconds,
 * on create and update): not-ready and unreachable NoExecute tolerated for 300 s, each unless a
 * toleration already names that key (or none) with effect NoExecute (or none). The operator and
 * value are not looked at, so `{key: unreachable, operator: Equal, value: x}` counts too.
 */
export function addDefaultTolerations(spec: Mutable<PodSpec>): void {
  const tolerations = (spec.tolerations ??= []);
  const missing = ['node.kubernetes.io/not-ready', 'node.kubernetes.io/unreachable']
    .filter((key) => !tolerations.some((t) => (!t.key || t.key === key) && (!t.effect || t.effect === 'NoExecute')));
  for (const key of missing) tolerations.push({ key, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: defaultTolerationSeconds });
}

export function defaultPod(obj: KObject): void {
  const pod = obj as unknown as Pod;
  const spec = (pod.spec ??= { containers: [] }) as Mutable<PodSpec>;
  defaultPodSpec(spec, true);
  // Admission: Priority (no PriorityClass named → 0) and DefaultTolerationSeconds.
  if (spec.priority === undefined || spec.priority === null) spec.priority = 0;
  if (!spec.preemptionPolicy) spec.preemptionPolicy = 'PreemptLowerPriority';
  addDefaultTolerations(spec);
  // Strategy PrepareForCreate: a new pod starts Pending with its QoS class.
  const status = isRecord(obj.status) ? obj.status : (obj.status = {});
  if (!status.phase) status.phase = 'Pending';
  if (!status.qosClass) status.qosClass = qosClass(spec);
}

export function defaultNamespace(obj: KObject): void {
  const name = obj.metadata.name;
  if (name) obj.metadata.labels = { ...(obj.metadata.labels ?? {}), 'kubernetes.io/metadata.name': name };
  // spec.finalizers [kubernetes] is set on create by the namespace strategy, not by defaulting:
  // defaulting runs on every write, and would bring the finalizer back after /finalize removed it.
  const status = isRecord(obj.status) ? obj.status : (obj.status = {});
  if (!status.phase) status.phase = 'Active';
}

/** Secret: type Opaque; stringData is folded into data (base64) as the v1 conversion does. */
export function defaultSecret(obj: KObject): void {
  const s = obj as unknown as Secret & { stringData?: Record<string, string> };
  if (!s.type) (s as Mutable<Secret>).type = 'Opaque';
  if (s.stringData) {
    const data = { ...(s.data ?? {}) };
    for (const [k, v] of Object.entries(s.stringData)) data[k] = Buffer.from(String(v), 'utf8').toString('base64');
    (s as Mutable<Secret>).data = data;
    delete s.stringData;
  }
}

export function defaultEndpoints(obj: KObject): void {
  const subsets = Array.isArray(obj.subsets) ? (obj.subsets as { ports?: { protocol?: string }[] }[]) : [];
  for (const ss of subsets) for (const p of ss.ports ?? []) if (!p.protocol) p.protocol = 'TCP';
}

export function defaultEndpointSlice(obj: KObject): void {
  const ports = Array.isArray(obj.ports) ? (obj.ports as { name?: string | null; protocol?: string | null }[]) : [];
  for (const p of ports) {
    if (p.name === undefined || p.name === null) p.name = '';
    if (!p.protocol) p.protocol = 'TCP';
  }
}

/** Ingress v1: pathType is deliberately not defaulted (only the v1beta1 versions default it). */
export function defaultIngress(obj: KObject): void {
  if (!isRecord(obj.status)) obj.status = { loadBalancer: {} };
}

/** A workload's pod template: SetObjectDefaults_* reach its PodSpec (not the Pod-only or admission defaults). */
function defaultPodTemplate(spec: Record<string, unknown>): void {
  const template = isRecord(spec.template) ? spec.template : (spec.template = {});
  // A template's ObjectMeta always carries creationTimestamp, as the zero metav1.Time: `null`.
  const meta = isRecord(template.metadata) ? template.metadata : (template.metadata = {});
  if (meta.creationTimestamp === undefined) meta.creationTimestamp = null;
  const podSpec = (isRecord(template.spec) ? template.spec : (template.spec = { containers: [] })) as Mutable<PodSpec>;
  defaultPodSpec(podSpec, false);
}

/** apps/v1 SetDefaults_Deployment: replicas 1, RollingUpdate 25%/25%, revisionHistoryLimit 10, progressDeadlineSeconds 600. */
export function defaultDeployment(obj: KObject): void {
  const spec = isRecord(obj.spec) ? obj.spec : (obj.spec = {});
  if (spec.replicas === undefined || spec.replicas === null) spec.replicas = 1;
  const strategy = isRecord(spec.strategy) ? spec.strategy : (spec.strategy = {});
  if (!strategy.type) strategy.type = 'RollingUpdate';
  if (strategy.type === 'RollingUpdate') {
    const ru = isRecord(strategy.rollingUpdate) ? strategy.rollingUpdate : (strategy.rollingUpdate = {});
    if (ru.maxUnavailable === undefined || ru.maxUnavailable === null) ru.maxUnavailable = '25%';
    if (ru.maxSurge === undefined || ru.maxSurge === null) ru.maxSurge = '25%';
  }
  if (spec.revisionHistoryLimit === undefined || spec.revisionHistoryLimit === null) spec.revisionHistoryLimit = 10;
  if (spec.progressDeadlineSeconds === undefined || spec.progressDeadlineSeconds === null) spec.progressDeadlineSeconds = 600;
  defaultPodTemplate(spec);
  if (!isRecord(obj.status)) obj.status = {};
}

/** apps/v1 SetDefaults_ReplicaSet: replicas 1. */
export function defaultReplicaSet(obj: KObject): void {
  const spec = isRecord(obj.spec) ? obj.spec : (obj.spec = {});
  if (spec.replicas === undefined || spec.replicas === null) spec.replicas = 1;
  defaultPodTemplate(spec);
  if (!isRecord(obj.status)) obj.status = { replicas: 0 };
}

const defaulters: Record<string, (obj: KObject) => void> = {
  '/Service': defaultService,
  '/Pod': defaultPod,
  '/Namespace': defaultNamespace,
  '/Secret': defaultSecret,
  '/Endpoints': defaultEndpoints,
  'discovery.k8s.io/EndpointSlice': defaultEndpointSlice,
  'networking.k8s.io/Ingress': defaultIngress,
  'apps/Deployment': defaultDeployment,
  'apps/ReplicaSet': defaultReplicaSet,
  'gateway.networking.k8s.io/GatewayClass': defaultGatewayClass,
  'gateway.networking.k8s.io/Gateway': defaultGateway,
  'gateway.networking.k8s.io/HTTPRoute': defaultHTTPRoute,
};

/**
 * Fills in, in place, the values kube-apiserver defaults when `obj` of `kind` in API group
 * `group` is created. Kinds without defaults are left untouched; never throws on odd shapes.
 */
export function applyDefaults(kind: string, group: string, obj: KObject): void {
  defaulters[`${group}/${kind}`]?.(obj);
}
