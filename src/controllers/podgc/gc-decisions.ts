// The pod garbage collector's decisions (kube 1.32's pkg/controller/podgc/gc_controller.go), free of
// I/O: which pods each of kube's four passes force-deletes, in which order, and the status written
// before the deletion. The controller (pod-gc-controller.ts) feeds them its caches and does the writes.
import type { Node, Pod, PodCondition, PodStatus } from 'kubernetes-types/core/v1.d.ts';

/** kube's --terminated-pod-gc-threshold default (kube-controller-manager's PodGCController config). */
export const DEFAULT_TERMINATED_POD_THRESHOLD = 12_500;
/** kube's gcCheckPeriod: how often every pass runs. */
export const DEFAULT_GC_PERIOD_MS = 20_000;
/** kube's quarantineTime: how long a missing node may take to show up in the cache before its pods go. */
export const DEFAULT_QUARANTINE_MS = 40_000;

/** v1.TaintNodeOutOfService: how an administrator says a node is gone (non-graceful node shutdown, KEP-2268). */
export const TAINT_OUT_OF_SERVICE = 'node.kubernetes.io/out-of-service';

/** The condition gcOrphaned writes, worded as kube's. */
export const ORPHANED_CONDITION = {
  type: 'DisruptionTarget', status: 'True', reason: 'DeletionByPodGC', message: 'PodGC: node no longer exists',
} as const satisfies PodCondition;

/**
 * isPodTerminated: any phase other than Pending, Running and Unknown, so a pod with no phase at all
 * counts too, as in kube.
 */
export function isPodTerminated(pod: Pod): boolean {
  const phase = pod.status?.phase;
  return phase !== 'Pending' && phase !== 'Running' && phase !== 'Unknown';
}

export function isPodTerminating(pod: Pod): boolean {
  return Boolean(pod.metadata?.deletionTimestamp);
}

/** nodeutil.IsNodeReady: a Ready condition with status True; no condition is not ready. */
export function isNodeReady(node: Node): boolean {
  return node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

/** taints.TaintKeyExists: the key alone counts, whatever the value and effect. */
export function hasOutOfServiceTaint(node: Node): boolean {
  return node.spec?.taints?.some((t) => t.key === TAINT_OUT_OF_SERVICE) ?? false;
}

/** eviction.PodIsEvicted: what the kubelet's eviction manager leaves behind. */
function isEvicted(pod: Pod): boolean {
  return pod.status?.phase === 'Failed' && pod.status.reason === 'Evicted';
}

/**
 * byEvictionAndCreationTimestamp: evicted pods first (they are the least useful to keep, and a
 * controller's own finished pods are spared), then the oldest, the name breaking ties.
 */
export function compareForDeletion(a: Pod, b: Pod): number {
  const ea = isEvicted(a), eb = isEvicted(b);
  if (ea !== eb) return ea ? -1 : 1;
  const ta = Date.parse(a.metadata?.creationTimestamp ?? '') || 0;
  const tb = Date.parse(b.metadata?.creationTimestamp ?? '') || 0;
  if (ta !== tb) return ta - tb;
  const na = a.metadata?.name ?? '', nb = b.metadata?.name ?? '';
  return na < nb ? -1 : na > nb ? 1 : 0;
}

/** gcTerminated: the terminated pods beyond `threshold`, in deletion order; none when threshold ≤ 0 (kube: the pass is off). */
export function selectTerminated(pods: readonly Pod[], threshold: number): Pod[] {
  if (threshold <= 0) return [];
  const terminated = pods.filter(isPodTerminated);
  const excess = terminated.length - threshold;
  if (excess <= 0) return [];
  return terminated.sort(compareForDeletion).slice(0, excess);
}

/**
 * gcTerminating: terminating pods whose node, as cached, is not Ready and carries the
 * out-of-service taint. A pod whose node is not cached is left alone (kube logs and skips it).
 */
export function selectTerminatingOutOfService(pods: readonly Pod[], nodeByName: (name: string) => Node | undefined): Pod[] {
  return pods.filter((p) => {
    if (!isPodTerminating(p)) return false;
    const node = p.spec?.nodeName ? nodeByName(p.spec.nodeName) : undefined;
    return node !== undefined && !isNodeReady(node) && hasOutOfServiceTaint(node);
  }).sort(compareForDeletion);
}

/** The node names gcOrphaned puts in quarantine: bound to by some pod, absent from the cache. Sorted. */
export function missingNodeNames(pods: readonly Pod[], existing: ReadonlySet<string>): string[] {
  const names = new Set<string>();
  for (const p of pods) {
    const n = p.spec?.nodeName;
    if (n && !existing.has(n)) names.add(n);
  }
  return [...names].sort();
}

/** gcOrphaned's victims: the pods bound to a node found deleted after its quarantine. */
export function selectOrphaned(pods: readonly Pod[], deletedNodes: ReadonlySet<string>): Pod[] {
  return pods.filter((p) => p.spec?.nodeName !== undefined && deletedNodes.has(p.spec.nodeName));
}

/** gcUnscheduledTerminating: terminating pods never bound to a node, whose deletion nothing will finish. */
export function selectUnscheduledTerminating(pods: readonly Pod[]): Pod[] {
  return pods.filter((p) => isPodTerminating(p) && !p.spec?.nodeName);
}

/** kube's metav1.Time on the wire: RFC 3339 in whole seconds. */
function wireTime(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * The pods/status strategic merge patch markFailedAndDeletePodWithCondition sends before the
 * deletion, or undefined for a pod already Succeeded or Failed (nothing is written then). The pod
 * goes to Failed because no kubelet will ever end it (an orphan would stay Running forever, and a
 * Job waits for its pods to be terminal before replacing them). The condition, when given, is set
 * as apipod.UpdatePodCondition does: lastTransitionTime now, or kept when the status is unchanged.
 * The uid makes the patch fail on a pod of the same name made again since it was read (utilpod.PatchPodStatus).
 */
export function failedStatusPatch(pod: Pod, condition: PodCondition | undefined, now: Date): { metadata: { uid?: string }; status: PodStatus } | undefined {
  const phase = pod.status?.phase;
  if (phase === 'Succeeded' || phase === 'Failed') return undefined;
  const status: PodStatus = { phase: 'Failed' };
  if (condition) {
    const old = pod.status?.conditions?.find((c) => c.type === condition.type);
    const next: PodCondition = {
      ...condition,
      lastTransitionTime: old && old.status === condition.status && old.lastTransitionTime ? old.lastTransitionTime : wireTime(now),
    };
    const unchanged = old !== undefined && old.status === next.status && old.reason === next.reason && old.message === next.message &&
      old.lastTransitionTime === next.lastTransitionTime && !old.lastProbeTime;
    // UpdatePodCondition replaces the whole condition: a stale lastProbeTime goes too.
    if (!unchanged) status.conditions = [old?.lastProbeTime ? { ...next, lastProbeTime: null as unknown as string } : next];
  }
  return { metadata: { uid: pod.metadata?.uid }, status };
}
