// The kind-specific rules of the served resources, as kube-apiserver's REST strategies have them.
import type { Service } from 'kubernetes-types/core/v1.d.ts';
import { errors } from '../../api/errors.ts';
import { cloneJson, isRecord, type KObject } from '../../api/object.ts';
import type { ServiceAllocator } from './service-allocator.ts';
import type { Reservation, Strategy } from './strategy.ts';

/** Main-resource writes keep the stored status; /status writes are handled by the registry. */
function keepStatus(obj: KObject, old: KObject): void {
  if ('status' in old) obj.status = cloneJson(old.status); else delete obj.status;
}

const namespaceStrategy: Strategy = {
  prepareForCreate(obj) {
    obj.status = { phase: 'Active' };
    const spec = isRecord(obj.spec) ? obj.spec : (obj.spec = {});
    if (!Array.isArray((spec as { finalizers?: unknown }).finalizers)) (spec as { finalizers?: string[] }).finalizers = ['kubernetes'];
    obj.metadata.labels = { ...obj.metadata.labels, 'kubernetes.io/metadata.name': obj.metadata.name ?? '' };
  },
  prepareForUpdate(obj, old) {
    keepStatus(obj, old);
    // spec.finalizers change only through /finalize.
    obj.spec = cloneJson(old.spec);
    obj.metadata.labels = { ...obj.metadata.labels, 'kubernetes.io/metadata.name': old.metadata.name ?? '' };
  },
  pendingFinalizers(obj) {
    return (obj.spec as { finalizers?: string[] } | undefined)?.finalizers ?? [];
  },
  markDeleting(obj) {
    obj.status = { ...(isRecord(obj.status) ? obj.status : {}), phase: 'Terminating' };
  },
};

const podStrategy: Strategy = {
  prepareForCreate(obj) {
    obj.status = { phase: 'Pending', qosClass: 'BestEffort' };
  },
  prepareForUpdate: keepStatus,
  gracePeriodSeconds(obj, requested) {
    const spec = obj.spec as { nodeName?: string; terminationGracePeriodSeconds?: number } | undefined;
    const phase = (obj.status as { phase?: string } | undefined)?.phase;
    // An unscheduled or finished pod has no kubelet to wait for (kube: pod strategy CheckGracefulDelete).
    if (!spec?.nodeName || phase === 'Succeeded' || phase === 'Failed') return 0;
    return Math.max(0, requested ?? spec.terminationGracePeriodSeconds ?? 30);
  },
};

function serviceStrategy(allocator: ServiceAllocator): Strategy {
  const reserve = (obj: KObject, old: KObject | undefined): Reservation => {
    const result = old
      ? allocator.planUpdate(old as unknown as Service, obj as unknown as Service)
      : allocator.planCreate(obj as unknown as Service);
    if (result.internalError) throw errors.internal(result.internalError);
    let held: ReturnType<ServiceAllocator['hold']> | undefined;
    return {
      errors: result.errors,
      object: result.service as unknown as KObject,
      commit() { held = allocator.hold(result.plan); },
      abort() { if (held) allocator.unhold(held); held = undefined; },
      finish() { allocator.finishRelease(result.plan); },
    };
  };
  return {
    prepareForCreate(obj) {
      obj.status = { loadBalancer: {} };
    },
    prepareForUpdate: keepStatus,
    reserve,
    released(obj) {
      allocator.release(obj as unknown as Service);
    },
  };
}

const ingressStrategy: Strategy = {
  prepareForCreate(obj) { obj.status = { loadBalancer: {} }; },
  prepareForUpdate: keepStatus,
  tracksGeneration: true,
};

// apps/v1 (pkg/registry/apps/deployment and replicaset strategy.go): status starts empty and is
// written only through /status; spec changes bump the generation the controllers report back as
// status.observedGeneration (what `kubectl rollout status` waits for).
const deploymentStrategy: Strategy = {
  prepareForCreate(obj) { obj.status = {}; },
  prepareForUpdate: keepStatus,
  tracksGeneration: true,
  annotationsBumpGeneration: true,
  statusUpdatesAnnotations: true,
};

const replicaSetStrategy: Strategy = {
  prepareForCreate(obj) { obj.status = { replicas: 0 }; },
  prepareForUpdate: keepStatus,
  tracksGeneration: true,
  statusUpdatesAnnotations: true,
};

// Gateway API kinds, CRDs with the status subresource (apiextensions' customResourceStrategy):
// status is dropped on create and kept by main-resource writes; every spec change bumps the
// generation the controller reports as observedGeneration in its conditions.
const gatewayApiStrategy: Strategy = {
  prepareForCreate(obj) { delete obj.status; },
  prepareForUpdate: keepStatus,
  tracksGeneration: true,
};

// certificates.k8s.io/v1 CertificateSigningRequest (pkg/registry/certificates/certificates/strategy.go).
interface CsrCondition { type?: string; status?: string; lastUpdateTime?: string; lastTransitionTime?: string }
const csrConditions = (obj: KObject): CsrCondition[] => {
  const st = isRecord(obj.status) ? obj.status : undefined;
  return Array.isArray(st?.conditions) ? st.conditions as CsrCondition[] : [];
};

/** populateConditionTimestamps: lastUpdateTime now when missing, lastTransitionTime kept from an old condition of the same type and status. */
function populateConditionTimestamps(obj: KObject, old: KObject, now: string): void {
  const before = csrConditions(old);
  for (const c of csrConditions(obj)) {
    if (!isRecord(c)) continue;
    if (!c.lastUpdateTime) c.lastUpdateTime = now;
    if (!c.lastTransitionTime) {
      c.lastTransitionTime = before.find((o) => o?.type === c.type && o?.status === c.status && o?.lastTransitionTime)?.lastTransitionTime ?? now;
    }
  }
}

/** preserveConditionInstances: the stored instances of `type`, unless the write added or removed some (validation refuses that). */
function preserveConditionInstances(obj: KObject, old: KObject, type: string): void {
  const before = csrConditions(old).filter((c) => c?.type === type);
  const after = csrConditions(obj);
  const at = after.flatMap((c, i) => (c?.type === type ? [i] : []));
  if (at.length !== before.length) return;
  at.forEach((i, n) => { after[i] = cloneJson(before[n]!); });
}

/** The group allowed everything (kube's system:masters), standing in for RBAC grants podgate has none of. */
const MASTERS_GROUP = 'system:masters';

function csrStrategy(now: () => Date): Strategy {
  const time = () => now().toISOString().replace(/\.\d{3}Z$/, 'Z');
  return {
    prepareForCreate(obj, ctx) {
      // Who asked is the API server's to say: whatever the client sent is replaced. A write without
      // an authenticated requester (an in-process server without an authenticator) records nobody.
      const spec = isRecord(obj.spec) ? obj.spec : (obj.spec = {});
      delete spec.username; delete spec.uid; delete spec.groups; delete spec.extra;
      const who = ctx.requester;
      if (who) {
        spec.username = who.user;
        if (who.uid) spec.uid = who.uid;
        spec.groups = [...who.groups];
        if (who.extra && Object.keys(who.extra).length) spec.extra = Object.fromEntries(Object.entries(who.extra).map(([k, v]) => [k, [...v]]));
      }
      // "Be explicit that users cannot create pre-approved certificate requests."
      obj.status = {};
    },
    prepareForUpdate(obj, old, subresource, ctx) {
      obj.spec = cloneJson(old.spec);
      if (subresource === 'approval') {
        // kube's CertificateApproval admission plugin: approving or denying needs the `approve`
        // verb on the CSR's signer (`signers` in certificates.k8s.io). podgate has no RBAC, so
        // system:masters stands in for it. A write without an authenticated requester (an
        // in-process server without an authenticator) is not checked.
        if (ctx.requester && !ctx.requester.groups.includes(MASTERS_GROUP)) {
          const signerName = isRecord(old.spec) && typeof old.spec.signerName === 'string' ? old.spec.signerName : '';
          throw errors.forbidden({ group: 'certificates.k8s.io', resource: 'certificatesigningrequests' }, old.metadata.name ?? '',
            `user not permitted to approve requests with signerName ${JSON.stringify(signerName)}`);
        }
        // Only the conditions change through /approval; the certificate stays.
        populateConditionTimestamps(obj, old, time());
        const conditions = isRecord(obj.status) ? obj.status.conditions : undefined;
        const status: Record<string, unknown> = isRecord(old.status) ? cloneJson(old.status) : {};
        if (conditions === undefined) delete status.conditions; else status.conditions = conditions;
        obj.status = status;
        return;
      }
      keepStatus(obj, old);
    },
    prepareForStatusUpdate(obj, old) {
      // Approved and Denied are /approval's: the stored ones stand (adding or removing is refused by validation).
      preserveConditionInstances(obj, old, 'Approved');
      preserveConditionInstances(obj, old, 'Denied');
      populateConditionTimestamps(obj, old, time());
    },
  };
}

const nodeStrategy: Strategy = {
  // The kubelet registers a Node with its status; only later writes go through /status.
  prepareForUpdate: keepStatus,
};

export function defaultStrategies(opts: { serviceAllocator: ServiceAllocator; now?: () => Date }): Record<string, Strategy> {
  return {
    namespaces: namespaceStrategy,
    pods: podStrategy,
    services: serviceStrategy(opts.serviceAllocator),
    ingresses: ingressStrategy,
    ingressclasses: { tracksGeneration: true },
    gatewayclasses: gatewayApiStrategy,
    gateways: gatewayApiStrategy,
    httproutes: gatewayApiStrategy,
    referencegrants: { allowUnconditionalUpdate: false, tracksGeneration: true }, // a CRD without status (as MetalLB's below)
    deployments: deploymentStrategy,
    replicasets: replicaSetStrategy,
    nodes: nodeStrategy,
    certificatesigningrequests: csrStrategy(opts.now ?? (() => new Date())),
    endpoints: { allowCreateOnUpdate: true },
    events: { allowCreateOnUpdate: true },
    // MetalLB's kinds are custom resources on a real cluster: kube's CRD strategy wants the resourceVersion.
    ipaddresspools: { allowUnconditionalUpdate: false, tracksGeneration: true },
    l2advertisements: { allowUnconditionalUpdate: false, tracksGeneration: true },
  };
}
