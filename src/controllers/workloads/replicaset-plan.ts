// What one ReplicaSet sync should do (pure), as kube's pkg/controller/replicaset syncReplicaSet:
// claim the pods its selector picks (adopt orphans, release those it no longer selects), compare the
// active ones with spec.replicas, choose which pods to create or delete, and compute the status.
import type { ReplicaSet, ReplicaSetCondition, ReplicaSetStatus } from 'kubernetes-types/apps/v1.d.ts';
import type { Pod } from 'kubernetes-types/core/v1.d.ts';
import { jsonEqual } from '../../api/validation/pod.ts';
import {
  controllerRefOf, isPodActive, isPodAvailable, isPodReady, newControllerRef, podAvailableAt, podReadySince, selectorMatches,
} from './pods.ts';

/** controller.BurstReplicas: at most this many pods created or deleted in one sync. */
export const burstReplicas = 500;

export interface ReplicaSetPlan {
  /** The active pods the ReplicaSet controls once the adoptions are done (what its status counts). */
  readonly controlled: Pod[];
  /** Orphans the selector picks: they get our controller reference. */
  readonly adopt: Pod[];
  /** Pods we control that the selector no longer picks: our reference is removed. */
  readonly release: Pod[];
  /** How many pods to create from the template. */
  readonly create: number;
  /** Pods to delete, in kube's order of preference. */
  readonly delete: Pod[];
  /** The status to write when it differs from the stored one (observedGeneration included). */
  readonly status: ReplicaSetStatus;
  readonly statusChanged: boolean;
  /** Sync again this much later: a ready pod becomes available after minReadySeconds. */
  readonly requeueAfterMs: number | undefined;
}

export interface ReplicaSetSyncInput {
  readonly rs: ReplicaSet;
  /** Every pod in the ReplicaSet's namespace, from the cache. */
  readonly pods: readonly Pod[];
  /**
   * Pods of the ReplicaSets with the same controller (a Deployment's other ReplicaSets), which rank
   * pods sharing a node with more of them first for deletion.
   */
  readonly relatedPods?: readonly Pod[];
  /** Creates or deletes sent but not yet seen (kube's expectations): no new ones until they are. */
  readonly waitingForOwnWrites: boolean;
  /** The error of the last create/delete round, for the ReplicaFailure condition. */
  readonly manageError?: string;
  readonly now: Date;
}

const phaseOrdinal: Record<string, number> = { Pending: 0, Unknown: 1, Running: 2 };

function maxRestarts(pod: Pod): number {
  return Math.max(0, ...(pod.status?.containerStatuses ?? []).map((c) => c.restartCount ?? 0));
}

/** floor(log2(ns since t)), -1 for none (logarithmicRankDiff's bucket). */
function logBucket(t: number | undefined, now: number): number {
  if (t === undefined) return -1;
  const ns = (now - t) * 1e6;
  return ns > 0 ? Math.floor(Math.log2(ns)) : -1;
}

/** afterOrZero: a missing time sorts first, then the later one. */
function afterOrZero(a: number | undefined, b: number | undefined): boolean {
  if (a === undefined || b === undefined) return a === undefined;
  return a > b;
}

/**
 * controller.ActivePodsWithRanks Less, with LogarithmicScaleDown (on by default since 1.22):
 * unassigned, then Pending < Unknown < Running, not ready, more colocated pods, ready for less
 * time (log2 buckets), more restarts, newer (log2 buckets); uid breaks ties inside a bucket.
 */
export function comparePodsForDeletion(a: Pod, rankA: number, b: Pod, rankB: number, now: Date): number {
  const na = a.spec?.nodeName ?? '';
  const nb = b.spec?.nodeName ?? '';
  if (na !== nb && (na === '' || nb === '')) return na === '' ? -1 : 1;
  const pa = phaseOrdinal[a.status?.phase ?? ''] ?? 3;
  const pb = phaseOrdinal[b.status?.phase ?? ''] ?? 3;
  if (pa !== pb) return pa - pb;
  const ra = isPodReady(a);
  const rb = isPodReady(b);
  if (ra !== rb) return ra ? 1 : -1;
  const costA = Number(a.metadata?.annotations?.['controller.kubernetes.io/pod-deletion-cost'] ?? 0) || 0;
  const costB = Number(b.metadata?.annotations?.['controller.kubernetes.io/pod-deletion-cost'] ?? 0) || 0;
  if (costA !== costB) return costA - costB;
  if (rankA !== rankB) return rankB - rankA;
  const uidOrder = (a.metadata?.uid ?? '') < (b.metadata?.uid ?? '') ? -1 : (a.metadata?.uid ?? '') > (b.metadata?.uid ?? '') ? 1 : 0;
  const t = now.getTime();
  if (ra && rb) {
    const ta = podReadySince(a);
    const tb = podReadySince(b);
    if (ta !== tb) {
      if (ta === undefined || tb === undefined) return afterOrZero(ta, tb) ? -1 : 1;
      const diff = logBucket(ta, t) - logBucket(tb, t);
      return diff !== 0 ? diff : uidOrder;
    }
  }
  const restartsA = maxRestarts(a);
  const restartsB = maxRestarts(b);
  if (restartsA !== restartsB) return restartsB - restartsA;
  const ca = a.metadata?.creationTimestamp ? Date.parse(a.metadata.creationTimestamp) : undefined;
  const cb = b.metadata?.creationTimestamp ? Date.parse(b.metadata.creationTimestamp) : undefined;
  if (ca !== cb) {
    if (ca === undefined || cb === undefined) return afterOrZero(ca, cb) ? -1 : 1;
    const diff = logBucket(ca, t) - logBucket(cb, t);
    return diff !== 0 ? diff : uidOrder;
  }
  return 0;
}

/** getPodsToDelete: the `count` pods kube deletes first, ranked by colocation with related pods. */
export function podsToDelete(pods: readonly Pod[], related: readonly Pod[], count: number, now: Date): Pod[] {
  const onNode = new Map<string, number>();
  for (const p of related) if (isPodActive(p)) onNode.set(p.spec?.nodeName ?? '', (onNode.get(p.spec?.nodeName ?? '') ?? 0) + 1);
  const ranked = pods.map((pod) => ({ pod, rank: onNode.get(pod.spec?.nodeName ?? '') ?? 0 }));
  ranked.sort((x, y) => comparePodsForDeletion(x.pod, x.rank, y.pod, y.rank, now));
  return ranked.slice(0, count).map((x) => x.pod);
}

/**
 * ClaimPods of the controller ref manager: pods we control and select stay; pods we control but no
 * longer select are released (not while we are being deleted); orphans we select are adopted
 * unless either side is being deleted. Pods controlled by someone else are never touched.
 */
export function claimPods(rs: ReplicaSet, pods: readonly Pod[]): { owned: Pod[]; adopt: Pod[]; release: Pod[] } {
  const owned: Pod[] = [];
  const adopt: Pod[] = [];
  const release: Pod[] = [];
  const uid = rs.metadata?.uid;
  const deleting = Boolean(rs.metadata?.deletionTimestamp);
  for (const pod of pods) {
    if (pod.metadata?.namespace !== rs.metadata?.namespace) continue;
    const matches = selectorMatches(rs.spec?.selector, pod.metadata?.labels);
    const ref = controllerRefOf(pod);
    if (ref) {
      if (ref.uid !== uid) continue;
      if (matches) owned.push(pod);
      else if (!deleting) release.push(pod);
      continue;
    }
    if (deleting || !matches || pod.metadata?.deletionTimestamp) continue;
    adopt.push(pod);
  }
  return { owned, adopt, release };
}

function condition(status: ReplicaSetStatus, type: string): ReplicaSetCondition | undefined {
  return status.conditions?.find((c) => c.type === type);
}

/** The status as the v1 JSON shows it: zero counts and empty lists are omitted (omitempty), replicas never. */
export function normalizeReplicaSetStatus(s: ReplicaSetStatus): ReplicaSetStatus {
  const out: Record<string, unknown> = { replicas: s.replicas ?? 0 };
  if (s.fullyLabeledReplicas) out.fullyLabeledReplicas = s.fullyLabeledReplicas;
  if (s.readyReplicas) out.readyReplicas = s.readyReplicas;
  if (s.availableReplicas) out.availableReplicas = s.availableReplicas;
  if (s.observedGeneration) out.observedGeneration = s.observedGeneration;
  if (s.conditions?.length) out.conditions = s.conditions;
  return out as unknown as ReplicaSetStatus;
}

/**
 * calculateStatus (replica_set_utils.go): counts over the active pods we control, and the
 * ReplicaFailure condition while creating or deleting pods fails.
 */
export function replicaSetStatus(rs: ReplicaSet, active: readonly Pod[], manageError: string | undefined, now: Date): ReplicaSetStatus {
  const current = rs.status ?? { replicas: 0 };
  const templateLabels = rs.spec?.template?.metadata?.labels ?? {};
  const minReady = rs.spec?.minReadySeconds ?? 0;
  let fullyLabeled = 0;
  let ready = 0;
  let available = 0;
  for (const pod of active) {
    const labels = pod.metadata?.labels ?? {};
    if (Object.entries(templateLabels).every(([k, v]) => labels[k] === v)) fullyLabeled++;
    if (isPodReady(pod)) {
      ready++;
      if (isPodAvailable(pod, minReady, now)) available++;
    }
  }
  let conditions = [...(current.conditions ?? [])];
  const failure = condition(current, 'ReplicaFailure');
  if (manageError !== undefined && !failure) {
    const diff = active.length - (rs.spec?.replicas ?? 1);
    const reason = diff < 0 ? 'FailedCreate' : diff > 0 ? 'FailedDelete' : '';
    conditions.push({ type: 'ReplicaFailure', status: 'True', lastTransitionTime: now.toISOString().replace(/\.\d{3}Z$/, 'Z'), reason, message: manageError });
  } else if (manageError === undefined && failure) {
    conditions = conditions.filter((c) => c.type !== 'ReplicaFailure');
  }
  return normalizeReplicaSetStatus({
    replicas: active.length, fullyLabeledReplicas: fullyLabeled, readyReplicas: ready, availableReplicas: available,
    observedGeneration: rs.metadata?.generation ?? current.observedGeneration, conditions,
  });
}

/** Plans one sync of a ReplicaSet from the cache; never throws. */
export function planReplicaSet(input: ReplicaSetSyncInput): ReplicaSetPlan {
  const { rs, now } = input;
  const active = input.pods.filter(isPodActive);
  const claim = claimPods(rs, active);
  const controlled = [...claim.owned, ...claim.adopt];
  const desired = rs.spec?.replicas ?? 1;
  let create = 0;
  let del: Pod[] = [];
  // A ReplicaSet being deleted keeps its pods for the garbage collector; without its own writes
  // observed yet, counting again would create or delete twice (kube: expectations not satisfied).
  if (!input.waitingForOwnWrites && !rs.metadata?.deletionTimestamp) {
    const diff = controlled.length - desired;
    if (diff < 0) create = Math.min(-diff, burstReplicas);
    else if (diff > 0) del = podsToDelete(controlled, input.relatedPods ?? [], Math.min(diff, burstReplicas), now);
  }
  const status = replicaSetStatus(rs, controlled, input.manageError, now);
  const statusChanged = !jsonEqual(normalizeReplicaSetStatus(rs.status ?? { replicas: 0 }), status);
  // Sync again when the next ready pod becomes available (minReadySeconds).
  let requeueAfterMs: number | undefined;
  const minReady = rs.spec?.minReadySeconds ?? 0;
  if (minReady > 0) {
    for (const pod of controlled) {
      if (!isPodReady(pod) || isPodAvailable(pod, minReady, now)) continue;
      const at = podAvailableAt(pod, minReady);
      if (at === undefined) continue;
      const wait = Math.max(0, at - now.getTime());
      requeueAfterMs = requeueAfterMs === undefined ? wait : Math.min(requeueAfterMs, wait);
    }
  }
  return { controlled, adopt: claim.adopt, release: claim.release, create, delete: del, status, statusChanged, requeueAfterMs };
}

/** controller.GetPodFromTemplate: a pod named `<rs>-<random>` with the template's labels, annotations, finalizers and spec. */
export function podFromTemplate(rs: ReplicaSet): Pod {
  const t = rs.spec?.template;
  const metadata: NonNullable<Pod['metadata']> = {
    generateName: `${rs.metadata?.name ?? ''}-`,
    namespace: rs.metadata?.namespace,
    ownerReferences: [newControllerRef(rs, 'apps/v1', 'ReplicaSet')],
  };
  if (t?.metadata?.labels) metadata.labels = { ...t.metadata.labels };
  if (t?.metadata?.annotations) metadata.annotations = { ...t.metadata.annotations };
  if (t?.metadata?.finalizers?.length) metadata.finalizers = [...t.metadata.finalizers];
  return { apiVersion: 'v1', kind: 'Pod', metadata, spec: structuredClone(t?.spec ?? { containers: [] }) };
}
