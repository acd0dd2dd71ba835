// The taint eviction controller's decisions as pure functions (kube 1.32's
// pkg/controller/tainteviction/taint_eviction.go, processPodOnNode and its helpers): a pod's
// tolerations, its node's NoExecute taints, what is already scheduled and the time in; whether to
// evict the pod now, later, or not at all out.
import type { Taint, Toleration } from 'kubernetes-types/core/v1.d.ts';
import { toleratesTaint } from '../nodelifecycle/taints.ts';

/** An eviction waiting on its timer (kube's TimedWorker): when it was decided and when it fires. */
export interface ScheduledEviction {
  createdAt: number;
  fireAt: number;
}

export type EvictionDecision =
  /** Leave whatever is scheduled as it is. */
  | { action: 'keep' }
  /** Cancel a scheduled eviction, if there is one (the taints are tolerated forever). */
  | { action: 'cancel' }
  /** Cancel what is scheduled and evict at fireAt (at once when fireAt is not after now). */
  | { action: 'evict'; createdAt: number; fireAt: number; why: 'untolerated' | 'tolerationSeconds' };

/** getNoExecuteTaints. */
export function noExecuteTaints(taints: readonly Taint[] | undefined): Taint[] {
  return (taints ?? []).filter((t) => t.effect === 'NoExecute');
}

/**
 * v1helper.GetMatchingTolerations: for each taint the first toleration that tolerates it; not
 * all tolerated (and no tolerations returned) when one taint has none.
 */
export function matchingTolerations(taints: readonly Taint[], tolerations: readonly Toleration[] | undefined): { allTolerated: boolean; used: Toleration[] } {
  const used: Toleration[] = [];
  for (const taint of taints) {
    const t = (tolerations ?? []).find((x) => toleratesTaint(x, taint));
    if (!t) return { allTolerated: false, used: [] };
    used.push(t);
  }
  return { allTolerated: true, used };
}

/**
 * getMinTolerationTime in ms: -1 when every toleration lasts forever (no tolerationSeconds), 0
 * when there are none or one has tolerationSeconds of zero or less, else the shortest.
 */
export function minTolerationMs(used: readonly Toleration[]): number {
  if (used.length === 0) return 0;
  let min = Infinity;
  for (const t of used) {
    const s = t.tolerationSeconds;
    if (s === undefined || s === null) continue;
    if (s <= 0) return 0;
    min = Math.min(min, s);
  }
  return min === Infinity ? -1 : min * 1000;
}

/**
 * processPodOnNode for a node with NoExecute taints (`taints` not empty): an untolerated taint
 * evicts at once; tolerated ones evict when the shortest tolerationSeconds has passed since the
 * controller saw them, which is not the taint's timeAdded (kube counts from `now`, so a restarted
 * controller gives the pod its full toleration again). An eviction already scheduled is kept,
 * whatever the tolerations say now, unless it was decided at this very time.
 */
export function decideEviction(
  taints: readonly Taint[], tolerations: readonly Toleration[] | undefined, scheduled: ScheduledEviction | undefined, now: number,
): EvictionDecision {
  const { allTolerated, used } = matchingTolerations(taints, tolerations);
  if (!allTolerated) return { action: 'evict', createdAt: now, fireAt: now, why: 'untolerated' };
  const min = minTolerationMs(used);
  if (min < 0) return { action: 'cancel' };
  const fireAt = now + min;
  if (scheduled && scheduled.createdAt + min < fireAt) return { action: 'keep' };
  return { action: 'evict', createdAt: scheduled?.createdAt ?? now, fireAt, why: 'tolerationSeconds' };
}
