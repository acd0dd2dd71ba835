// The arithmetic and bookkeeping of kube's pkg/controller/deployment/util/deployment_util.go, as
// pure functions over apps/v1 objects: surge and unavailability fenceposts, the replica counts
// summed over ReplicaSets, revision and replica annotations, the pod-template-hash, conditions.
import type { Deployment, DeploymentCondition, DeploymentStatus, ReplicaSet } from 'kubernetes-types/apps/v1.d.ts';
import type { PodTemplateSpec } from 'kubernetes-types/core/v1.d.ts';
import { jsonEqual } from '../../api/validation/pod.ts';

export const revisionAnnotation = 'deployment.kubernetes.io/revision';
export const revisionHistoryAnnotation = 'deployment.kubernetes.io/revision-history';
export const desiredReplicasAnnotation = 'deployment.kubernetes.io/desired-replicas';
export const maxReplicasAnnotation = 'deployment.kubernetes.io/max-replicas';
/** apps.DefaultDeploymentUniqueLabelKey. */
export const podTemplateHashLabel = 'pod-template-hash';
/** maxRevHistoryLengthInChars in the deployment controller's sync.go. */
export const maxRevisionHistoryChars = 2000;

/** Annotations a Deployment does not pass on to its ReplicaSets (annotationsToSkip). */
const annotationsToSkip = new Set([
  'kubectl.kubernetes.io/last-applied-configuration', revisionAnnotation, revisionHistoryAnnotation,
  desiredReplicasAnnotation, maxReplicasAnnotation, 'deprecated.deployment.rollback.to',
]);

// ---- replica arithmetic ----

export const replicasOf = (x: { spec?: { replicas?: number } | undefined }): number => x.spec?.replicas ?? 1;

/**
 * intstr.GetScaledValueFromIntOrPercent: an int as is, a percent of `total` rounded up or down.
 * Throws on a string that is not a percent (validation refuses those).
 */
export function scaledValue(v: number | string | undefined, total: number, roundUp: boolean): number {
  if (v === undefined) return 0;
  if (typeof v === 'number') return v;
  const m = /^(\d+)%$/.exec(v);
  if (!m) throw new Error(`invalid value for IntOrString: invalid value "${v}": strconv.Atoi: parsing "${v}": invalid syntax`);
  const x = (Number(m[1]) * total) / 100;
  return roundUp ? Math.ceil(x) : Math.floor(x);
}

/**
 * ResolveFenceposts: maxSurge rounded up, maxUnavailable rounded down, and maxUnavailable 1 when
 * both come out 0 (so a rollout of a small Deployment can still move).
 */
export function resolveFenceposts(maxSurge: number | string | undefined, maxUnavailable: number | string | undefined, desired: number): [surge: number, unavailable: number] {
  const surge = scaledValue(maxSurge ?? 0, desired, true);
  let unavailable = scaledValue(maxUnavailable ?? 0, desired, false);
  if (surge === 0 && unavailable === 0) unavailable = 1;
  return [surge, unavailable];
}

export const isRollingUpdate = (d: Deployment): boolean => d.spec?.strategy?.type === 'RollingUpdate';

/** MaxUnavailable: 0 for Recreate or 0 replicas, never more than the replicas. */
export function maxUnavailable(d: Deployment): number {
  const replicas = replicasOf(d);
  if (!isRollingUpdate(d) || replicas === 0) return 0;
  const ru = d.spec?.strategy?.rollingUpdate;
  const [, unavailable] = resolveFenceposts(ru?.maxSurge, ru?.maxUnavailable, replicas);
  return Math.min(unavailable, replicas);
}

/** MaxSurge: 0 for Recreate. */
export function maxSurge(d: Deployment): number {
  if (!isRollingUpdate(d)) return 0;
  const ru = d.spec?.strategy?.rollingUpdate;
  return resolveFenceposts(ru?.maxSurge, ru?.maxUnavailable, replicasOf(d))[0];
}

const sum = (rss: readonly (ReplicaSet | undefined)[], f: (rs: ReplicaSet) => number): number =>
  rss.reduce((n, rs) => n + (rs ? f(rs) : 0), 0);

/** GetReplicaCountForReplicaSets: the sum of spec.replicas. */
export const specReplicas = (rss: readonly (ReplicaSet | undefined)[]): number => sum(rss, (rs) => replicasOf(rs));
/** GetActualReplicaCountForReplicaSets: the sum of status.replicas. */
export const actualReplicas = (rss: readonly (ReplicaSet | undefined)[]): number => sum(rss, (rs) => rs.status?.replicas ?? 0);
/** GetReadyReplicaCountForReplicaSets. */
export const readyReplicas = (rss: readonly (ReplicaSet | undefined)[]): number => sum(rss, (rs) => rs.status?.readyReplicas ?? 0);
/** GetAvailableReplicaCountForReplicaSets. */
export const availableReplicas = (rss: readonly (ReplicaSet | undefined)[]): number => sum(rss, (rs) => rs.status?.availableReplicas ?? 0);

/** FilterActiveReplicaSets: those with spec.replicas above 0. */
export const activeReplicaSets = (rss: readonly (ReplicaSet | undefined)[]): ReplicaSet[] =>
  rss.filter((rs): rs is ReplicaSet => rs !== undefined && replicasOf(rs) > 0);

// ---- ordering ----

const created = (rs: ReplicaSet): number => Date.parse(rs.metadata?.creationTimestamp ?? '') || 0;
const nameOf = (rs: ReplicaSet): string => rs.metadata?.name ?? '';

/** ReplicaSetsByCreationTimestamp: oldest first, then by name. */
export function byCreation(a: ReplicaSet, b: ReplicaSet): number {
  return created(a) - created(b) || (nameOf(a) < nameOf(b) ? -1 : nameOf(a) > nameOf(b) ? 1 : 0);
}

/** ReplicaSetsBySizeNewer: larger first; equal sizes newer first. */
export function bySizeNewer(a: ReplicaSet, b: ReplicaSet): number {
  return replicasOf(b) - replicasOf(a) || -byCreation(a, b);
}

/** ReplicaSetsBySizeOlder: larger first; equal sizes older first. */
export function bySizeOlder(a: ReplicaSet, b: ReplicaSet): number {
  return replicasOf(b) - replicasOf(a) || byCreation(a, b);
}

/** The revision annotation as a number (0 when missing or not a number). */
export function revisionOf(rs: ReplicaSet): number {
  const v = rs.metadata?.annotations?.[revisionAnnotation];
  return v && /^\d+$/.test(v) ? Number(v) : 0;
}

/** ReplicaSetsByRevision: lower revision first, then by creation. */
export function byRevision(a: ReplicaSet, b: ReplicaSet): number {
  return revisionOf(a) - revisionOf(b) || byCreation(a, b);
}

export const maxRevision = (rss: readonly ReplicaSet[]): number => Math.max(0, ...rss.map(revisionOf));

// ---- templates and the pod-template-hash ----

/**
 * A JSON copy without nulls: kube compares and hashes Go structs, where `null` and a missing field
 * are the same zero value (`kubectl rollout undo` sends a template with `creationTimestamp: null`).
 */
function withoutNulls<T>(v: T): T {
  return JSON.parse(JSON.stringify(v, (_k, val: unknown) => (val === null ? undefined : val))) as T;
}

function withoutHash(t: PodTemplateSpec | undefined): PodTemplateSpec {
  const copy = withoutNulls(t ?? {});
  if (copy.metadata?.labels) {
    delete copy.metadata.labels[podTemplateHashLabel];
    if (Object.keys(copy.metadata.labels).length === 0) delete copy.metadata.labels;
  }
  return copy;
}

/** EqualIgnoreHash: the templates are the same once pod-template-hash is taken out of both. */
export function equalIgnoreHash(a: PodTemplateSpec | undefined, b: PodTemplateSpec | undefined): boolean {
  return jsonEqual(withoutHash(a), withoutHash(b));
}

/** JSON with object keys sorted, so equal templates hash equally whatever their key order. */
function canonicalJson(v: unknown): string {
  return JSON.stringify(v, (_k, val: unknown) => {
    if (val && typeof val === 'object' && !Array.isArray(val)) {
      const o = val as Record<string, unknown>;
      return Object.fromEntries(Object.keys(o).sort().map((k) => [k, o[k]]));
    }
    return val;
  });
}

/** rand.SafeEncodeString: each character to one of 27 consonants and digits that spell no words. */
function safeEncode(s: string): string {
  const alphanums = 'bcdfghjklmnpqrstvwxz2456789';
  let out = '';
  for (const ch of s) out += alphanums[ch.codePointAt(0)! % alphanums.length];
  return out;
}

/**
 * controller.ComputeHash: FNV-32a of the template (and the collision count, as four
 * little-endian bytes in eight), written as its decimal digits safe-encoded. kube hashes the Go
 * struct as printed by spew; podgate hashes the template's canonical JSON, so the value differs
 * from a real cluster's for the same template but has the same form (`7c8776964d`).
 */
export function computeHash(template: PodTemplateSpec | undefined, collisionCount: number | undefined): string {
  const bytes = [...Buffer.from(canonicalJson(withoutNulls(template ?? {})), 'utf8')];
  if (collisionCount !== undefined) {
    const extra = Buffer.alloc(8);
    extra.writeUInt32LE(collisionCount >>> 0, 0);
    bytes.push(...extra);
  }
  let h = 0x811c9dc5;
  for (const b of bytes) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return safeEncode(String(h >>> 0));
}

/** FindNewReplicaSet: the oldest ReplicaSet whose template is the Deployment's. */
export function findNewReplicaSet(d: Deployment, rss: readonly ReplicaSet[]): ReplicaSet | undefined {
  return [...rss].sort(byCreation).find((rs) => equalIgnoreHash(rs.spec?.template, d.spec?.template));
}

// ---- annotations ----

/** copyDeploymentAnnotationsToReplicaSet; true when something changed. */
export function copyDeploymentAnnotations(d: Deployment, rs: ReplicaSet): boolean {
  const meta = (rs.metadata ??= {});
  const annotations = (meta.annotations ??= {});
  let changed = false;
  for (const [k, v] of Object.entries(d.metadata?.annotations ?? {})) {
    if (annotationsToSkip.has(k) || annotations[k] === v) continue;
    annotations[k] = v;
    changed = true;
  }
  return changed;
}

/** SetReplicasAnnotations: desired and max (desired + maxSurge) replicas; true when something changed. */
export function setReplicasAnnotations(rs: ReplicaSet, desired: number, max: number): boolean {
  const annotations = ((rs.metadata ??= {}).annotations ??= {});
  let changed = false;
  if (annotations[desiredReplicasAnnotation] !== String(desired)) { annotations[desiredReplicasAnnotation] = String(desired); changed = true; }
  if (annotations[maxReplicasAnnotation] !== String(max)) { annotations[maxReplicasAnnotation] = String(max); changed = true; }
  return changed;
}

/** ReplicasAnnotationsNeedUpdate. */
export function replicasAnnotationsNeedUpdate(rs: ReplicaSet, desired: number, max: number): boolean {
  const a = rs.metadata?.annotations ?? {};
  return a[desiredReplicasAnnotation] !== String(desired) || a[maxReplicasAnnotation] !== String(max);
}

/**
 * SetNewReplicaSetAnnotations: copy the Deployment's annotations, raise the revision to
 * `newRevision` (keeping the replaced one in revision-history, as a rollback does), and on a new
 * ReplicaSet set the replicas annotations. True when something changed.
 */
export function setNewReplicaSetAnnotations(d: Deployment, rs: ReplicaSet, newRevision: number, exists: boolean): boolean {
  let changed = copyDeploymentAnnotations(d, rs);
  const annotations = ((rs.metadata ??= {}).annotations ??= {});
  const oldText = annotations[revisionAnnotation];
  const had = oldText !== undefined;
  let old = 0;
  if (had && oldText !== '') {
    if (!/^-?\d+$/.test(oldText)) return false;
    old = Number(oldText);
  }
  if (old < newRevision) {
    annotations[revisionAnnotation] = String(newRevision);
    changed = true;
    if (had) {
      const history = annotations[revisionHistoryAnnotation] ?? '';
      let revisions = history.split(',');
      if (revisions[0] === '') {
        annotations[revisionHistoryAnnotation] = oldText;
      } else {
        let total = history.length + oldText.length + 1;
        let start = 0;
        while (total > maxRevisionHistoryChars && start < revisions.length) {
          total -= revisions[start]!.length + 1;
          start++;
        }
        if (total <= maxRevisionHistoryChars) {
          revisions = [...revisions.slice(start), oldText];
          annotations[revisionHistoryAnnotation] = revisions.join(',');
        }
      }
    }
  }
  if (!exists && setReplicasAnnotations(rs, replicasOf(d), replicasOf(d) + maxSurge(d))) changed = true;
  return changed;
}

/** SetDeploymentRevision: the Deployment's revision annotation; true when it changed. */
export function setDeploymentRevision(d: Deployment, revision: string | undefined): boolean {
  if (revision === undefined) return false;
  const annotations = ((d.metadata ??= {}).annotations ??= {});
  if (annotations[revisionAnnotation] === revision) return false;
  annotations[revisionAnnotation] = revision;
  return true;
}

// ---- conditions and progress ----

export const reasons = {
  newRSAvailable: 'NewReplicaSetAvailable',
  replicaSetUpdated: 'ReplicaSetUpdated',
  newReplicaSet: 'NewReplicaSetCreated',
  foundNewRS: 'FoundNewReplicaSet',
  failedRSCreate: 'ReplicaSetCreateError',
  timedOut: 'ProgressDeadlineExceeded',
  paused: 'DeploymentPaused',
  resumed: 'DeploymentResumed',
  minimumAvailable: 'MinimumReplicasAvailable',
  minimumUnavailable: 'MinimumReplicasUnavailable',
} as const;

/** metav1.Time as JSON: RFC 3339 in seconds. */
export function k8sTime(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function newCondition(type: string, status: string, reason: string, message: string, now: Date): DeploymentCondition {
  const t = k8sTime(now);
  return { type, status, lastUpdateTime: t, lastTransitionTime: t, reason, message };
}

export function getCondition(status: DeploymentStatus | undefined, type: string): DeploymentCondition | undefined {
  return status?.conditions?.find((c) => c.type === type);
}

/** SetDeploymentCondition: the same status and reason is left alone; the same status keeps its transition time. */
export function setCondition(status: DeploymentStatus, c: DeploymentCondition): void {
  const current = getCondition(status, c.type);
  if (current && current.status === c.status && current.reason === c.reason) return;
  const next = current && current.status === c.status ? { ...c, lastTransitionTime: current.lastTransitionTime } : c;
  (status as { conditions?: DeploymentCondition[] }).conditions = [...(status.conditions ?? []).filter((x) => x.type !== c.type), next];
}

export function removeCondition(status: DeploymentStatus, type: string): void {
  const kept = (status.conditions ?? []).filter((x) => x.type !== type);
  (status as { conditions?: DeploymentCondition[] }).conditions = kept;
}

/** HasProgressDeadline: set and not MaxInt32. */
export function hasProgressDeadline(d: Deployment): boolean {
  const p = d.spec?.progressDeadlineSeconds;
  return p !== undefined && p !== 2147483647;
}

/** DeploymentComplete: every replica updated and available, and the latest generation observed. */
export function deploymentComplete(d: Deployment, s: DeploymentStatus): boolean {
  const want = replicasOf(d);
  return (s.updatedReplicas ?? 0) === want && (s.replicas ?? 0) === want && (s.availableReplicas ?? 0) === want &&
    (s.observedGeneration ?? 0) >= (d.metadata?.generation ?? 0);
}

/** DeploymentProgressing: more updated, ready or available replicas, or fewer old ones, than last recorded. */
export function deploymentProgressing(d: Deployment, s: DeploymentStatus): boolean {
  const old = d.status ?? {};
  const oldOld = (old.replicas ?? 0) - (old.updatedReplicas ?? 0);
  const newOld = (s.replicas ?? 0) - (s.updatedReplicas ?? 0);
  return (s.updatedReplicas ?? 0) > (old.updatedReplicas ?? 0) || newOld < oldOld ||
    (s.readyReplicas ?? 0) > (old.readyReplicas ?? 0) || (s.availableReplicas ?? 0) > (old.availableReplicas ?? 0);
}

/** DeploymentTimedOut: no progress recorded for progressDeadlineSeconds. */
export function deploymentTimedOut(d: Deployment, s: DeploymentStatus, now: Date): boolean {
  if (!hasProgressDeadline(d)) return false;
  const c = getCondition(s, 'Progressing');
  if (!c) return false;
  if (c.reason === reasons.newRSAvailable) return false;
  if (c.reason === reasons.timedOut) return true;
  const from = Date.parse(c.lastUpdateTime ?? '');
  return !Number.isNaN(from) && from + (d.spec?.progressDeadlineSeconds ?? 600) * 1000 < now.getTime();
}

/** The status as the v1 JSON shows it: every field is omitempty. */
export function normalizeDeploymentStatus(s: DeploymentStatus): DeploymentStatus {
  const out: Record<string, unknown> = {};
  for (const k of ['observedGeneration', 'replicas', 'updatedReplicas', 'readyReplicas', 'availableReplicas', 'unavailableReplicas'] as const) {
    if (s[k]) out[k] = s[k];
  }
  if (s.conditions?.length) out.conditions = s.conditions;
  if (s.collisionCount !== undefined && s.collisionCount !== null) out.collisionCount = s.collisionCount;
  return out as DeploymentStatus;
}
