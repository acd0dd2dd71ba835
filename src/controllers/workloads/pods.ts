// Pod and ownership helpers the workload controllers share, as kube's pkg/api/v1/pod (IsPodReady,
// IsPodAvailable), pkg/controller (IsPodActive, FilterActivePods) and metav1 (GetControllerOf,
// NewControllerRef) define them. Pure.
import type { Pod } from 'kubernetes-types/core/v1.d.ts';
import type { LabelSelector, OwnerReference } from 'kubernetes-types/meta/v1.d.ts';
import { fromLabelSelectorObject, matchesLabels } from '../../api/selectors.ts';

interface Owned {
  metadata?: { name?: string; uid?: string; ownerReferences?: readonly OwnerReference[]; deletionTimestamp?: string } | undefined;
}

/** The owner reference with `controller: true`, if any (metav1.GetControllerOf). */
export function controllerRefOf(obj: Owned): OwnerReference | undefined {
  return obj.metadata?.ownerReferences?.find((r) => r.controller === true);
}

/** metav1.NewControllerRef: the reference a controller puts on what it creates or adopts. */
export function newControllerRef(owner: { metadata?: { name?: string; uid?: string } }, apiVersion: string, kind: string): OwnerReference {
  return { apiVersion, kind, name: owner.metadata?.name ?? '', uid: owner.metadata?.uid ?? '', controller: true, blockOwnerDeletion: true };
}

/** Whether a (non-empty) metav1.LabelSelector selects the labels; an empty or missing selector selects nothing here. */
export function selectorMatches(selector: LabelSelector | undefined, labels: Readonly<Record<string, string>> | undefined): boolean {
  if (!selector) return false;
  if (Object.keys(selector.matchLabels ?? {}).length + (selector.matchExpressions ?? []).length === 0) return false;
  return matchesLabels(fromLabelSelectorObject(selector), labels ?? {});
}

/** controller.IsPodActive: not finished and not being deleted. */
export function isPodActive(pod: Pod): boolean {
  const phase = pod.status?.phase;
  return phase !== 'Succeeded' && phase !== 'Failed' && !pod.metadata?.deletionTimestamp;
}

function readyCondition(pod: Pod) {
  return pod.status?.conditions?.find((c) => c.type === 'Ready');
}

/** podutil.IsPodReady: the Ready condition is True. */
export function isPodReady(pod: Pod): boolean {
  return readyCondition(pod)?.status === 'True';
}

/** When the pod last became Ready (ms since epoch), or undefined. */
export function podReadySince(pod: Pod): number | undefined {
  const c = readyCondition(pod);
  if (c?.status !== 'True' || !c.lastTransitionTime) return undefined;
  const t = Date.parse(c.lastTransitionTime);
  return Number.isNaN(t) ? undefined : t;
}

/**
 * podutil.IsPodAvailable: ready, and for at least minReadySeconds (lastTransitionTime plus
 * minReadySeconds strictly before now).
 */
export function isPodAvailable(pod: Pod, minReadySeconds: number, now: Date): boolean {
  if (!isPodReady(pod)) return false;
  if (minReadySeconds === 0) return true;
  const since = podReadySince(pod);
  return since !== undefined && since + minReadySeconds * 1000 < now.getTime();
}

/** When a ready pod becomes available (ms since epoch); undefined if it is not ready. */
export function podAvailableAt(pod: Pod, minReadySeconds: number): number | undefined {
  const since = podReadySince(pod);
  return since === undefined ? undefined : since + minReadySeconds * 1000 + 1;
}
