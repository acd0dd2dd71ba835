// The node lifecycle controller's decisions as pure functions (kube's
// pkg/controller/nodelifecycle/node_lifecycle_controller.go and pkg/controller/util/node): facts
// and the time in, what to write out. The controller (node-lifecycle-controller.ts) only reads the
// informers, calls these and writes what they return.
import type { Node, NodeCondition, NodeStatus, Pod, PodStatus, Taint } from 'kubernetes-types/core/v1.d.ts';
import {
  conditionNoScheduleTaints, getCondition, isControllerNoScheduleTaint, matchTaint, NOT_READY_NO_EXECUTE, taintExists,
  UNREACHABLE_NO_EXECUTE,
} from './taints.ts';

/** kube-controller-manager --node-monitor-grace-period: 50 s since kube 1.32 (kubernetes#126287; 40 s before). */
export const DEFAULT_GRACE_PERIOD_MS = 50_000;
/** --node-startup-grace-period: for a node that never posted a Ready condition. */
export const DEFAULT_STARTUP_GRACE_PERIOD_MS = 60_000;
/** --node-monitor-period. */
export const DEFAULT_MONITOR_PERIOD_MS = 5_000;

/** metav1.Time as JSON: RFC 3339 in whole seconds. */
export function k8sTime(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function timeMs(s: string | undefined): number {
  const t = s ? Date.parse(s) : NaN;
  return Number.isNaN(t) ? 0 : t;
}

/**
 * What the controller remembers of a node between passes (kube's nodeHealthData). The probe
 * timestamp is the controller's own clock when it last saw the heartbeat change, never the
 * heartbeat's value: clocks of other machines do not count.
 */
export interface NodeHealth {
  probeTimestamp: number;
  readyTransitionTimestamp: number;
  /** The Ready condition last seen (its heartbeat and transition times), if the node had one. */
  savedReady?: { status: string; lastHeartbeatTime?: string; lastTransitionTime?: string };
}

export interface HealthOptions {
  gracePeriodMs: number;
  startupGracePeriodMs: number;
}

export interface HealthDecision {
  /** To remember for the next pass. */
  health: NodeHealth;
  /** Ready as the node had it before this pass (a made-up Unknown one when it never posted any). */
  observedReady: NodeCondition;
  /** Ready after this pass's update; undefined while a node that never posted status is within its startup grace. */
  currentReady?: NodeCondition;
  /** The whole status to write through nodes/status, when this pass changed it. */
  status?: NodeStatus;
}

/** The conditions tryUpdateNodeHealth turns Unknown (NetworkUnavailable is the network plugin's, left alone). */
const MONITORED_CONDITIONS = ['Ready', 'MemoryPressure', 'DiskPressure', 'PIDPressure'] as const;

function savedReadyOf(c: NodeCondition | undefined): NodeHealth['savedReady'] {
  return c ? { status: c.status, lastHeartbeatTime: c.lastHeartbeatTime, lastTransitionTime: c.lastTransitionTime } : undefined;
}

/**
 * tryUpdateNodeHealth: notes a fresh heartbeat, and once none came for longer than the grace
 * period sets Ready and the pressure conditions to Unknown ("Kubelet stopped posting node status.").
 *
 * kube also counts the renewal of the node's Lease (kube-node-lease) as a heartbeat. podgate has no
 * Lease kind yet: the Ready condition's lastHeartbeatTime, which the node agent rewrites every
 * 10 s through nodes/status, is the only health signal.
 */
export function tryUpdateNodeHealth(node: Node, prev: NodeHealth | undefined, now: Date, opts: HealthOptions): HealthDecision {
  const nowMs = now.getTime();
  const created = node.metadata?.creationTimestamp;
  const currentReady0 = getCondition(node, 'Ready');
  let health = prev ? { ...prev } : undefined;
  let observedReady: NodeCondition;
  let gracePeriodMs: number;
  if (!currentReady0) {
    // Never posted: a fake Unknown condition dated at the node's creation, and the startup grace.
    observedReady = { type: 'Ready', status: 'Unknown', lastHeartbeatTime: created, lastTransitionTime: created };
    gracePeriodMs = opts.startupGracePeriodMs;
    if (health) health.savedReady = undefined;
    else health = { probeTimestamp: timeMs(created), readyTransitionTimestamp: timeMs(created) };
  } else {
    observedReady = { ...currentReady0 };
    gracePeriodMs = opts.gracePeriodMs;
  }
  const saved = health?.savedReady;
  if (!health) {
    // First sight of the node (or the controller restarted): now counts as its last heartbeat.
    health = { probeTimestamp: nowMs, readyTransitionTimestamp: nowMs, savedReady: savedReadyOf(currentReady0) };
  } else if (!saved && currentReady0) {
    health = { probeTimestamp: nowMs, readyTransitionTimestamp: nowMs, savedReady: savedReadyOf(currentReady0) };
  } else if (saved && currentReady0 && saved.lastHeartbeatTime !== currentReady0.lastHeartbeatTime) {
    const transition = saved.lastTransitionTime !== currentReady0.lastTransitionTime ? nowMs : health.readyTransitionTimestamp;
    health = { probeTimestamp: nowMs, readyTransitionTimestamp: transition, savedReady: savedReadyOf(currentReady0) };
  }

  if (nowMs > health.probeTimestamp + gracePeriodMs) {
    const at = k8sTime(now);
    const status: NodeStatus = structuredClone(node.status ?? {});
    const conditions = (status.conditions ??= []);
    for (const type of MONITORED_CONDITIONS) {
      const c = conditions.find((x) => x.type === type);
      if (!c) {
        conditions.push({
          type, status: 'Unknown', reason: 'NodeStatusNeverUpdated', message: 'Kubelet never posted node status.',
          ...(created ? { lastHeartbeatTime: created } : {}), lastTransitionTime: at,
        });
      } else if (c.status !== 'Unknown') {
        c.status = 'Unknown';
        c.reason = 'NodeStatusUnknown';
        c.message = 'Kubelet stopped posting node status.';
        c.lastTransitionTime = at;
      }
    }
    const currentReady = conditions.find((x) => x.type === 'Ready')!;
    if (!sameCondition(currentReady, observedReady)) {
      return {
        health: { probeTimestamp: health.probeTimestamp, readyTransitionTimestamp: nowMs, savedReady: savedReadyOf(currentReady) },
        observedReady, currentReady, status,
      };
    }
  }
  return { health, observedReady, ...(currentReady0 ? { currentReady: currentReady0 } : {}) };
}

function sameCondition(a: NodeCondition, b: NodeCondition): boolean {
  return a.status === b.status && (a.reason ?? '') === (b.reason ?? '') && (a.message ?? '') === (b.message ?? '') &&
    a.lastHeartbeatTime === b.lastHeartbeatTime && a.lastTransitionTime === b.lastTransitionTime;
}

/**
 * SwapNodeControllerTaint on a taint list: `remove` go (matched by key and effect), `add` are
 * appended (or replace a taint of the same key and effect) stamped with timeAdded = now.
 * Undefined when nothing changes.
 */
export function swapTaints(taints: readonly Taint[] | undefined, add: readonly Taint[], remove: readonly Taint[], now: Date): Taint[] | undefined {
  const before = taints ?? [];
  let out = before.filter((t) => !remove.some((r) => matchTaint(r, t)));
  let changed = out.length !== before.length;
  for (const a of add) {
    if (taintExists(out, a)) continue;
    out = [...out, { ...a, timeAdded: k8sTime(now) }];
    changed = true;
  }
  return changed ? out : undefined;
}

/**
 * doNoScheduleTaintingPass: the node's NoSchedule taints follow its conditions (Ready False →
 * not-ready, Unknown → unreachable, pressure conditions) and spec.unschedulable. Returns the new
 * spec.taints, or undefined when they are right already.
 */
export function noScheduleTaintingPass(node: Node, now: Date): Taint[] | undefined {
  const want = conditionNoScheduleTaints(node);
  const have = (node.spec?.taints ?? []).filter(isControllerNoScheduleTaint);
  const add = want.filter((t) => !taintExists(have, t));
  const del = have.filter((t) => !taintExists(want, t));
  if (!add.length && !del.length) return undefined;
  return swapTaints(node.spec?.taints, add, del, now);
}

/**
 * processTaintBaseEviction and doNoExecuteTaintingPass: from the Ready status observed at the
 * start of the pass, not-ready:NoExecute (False) or unreachable:NoExecute (Unknown), the two
 * mutually exclusive; both go when the node is Ready (markNodeAsReachable). While every node is
 * down (kube's full disruption) no NoExecute taint is added and those present are removed: the
 * fault is more likely the control plane's than every node's.
 */
export function noExecuteTaintingPass(node: Node, observedReady: string, now: Date, opts: { fullDisruption?: boolean } = {}): Taint[] | undefined {
  const taints = node.spec?.taints;
  if (opts.fullDisruption || observedReady === 'True') return swapTaints(taints, [], [UNREACHABLE_NO_EXECUTE, NOT_READY_NO_EXECUTE], now);
  if (observedReady === 'False') return swapTaints(taints, [NOT_READY_NO_EXECUTE], [UNREACHABLE_NO_EXECUTE], now);
  if (observedReady === 'Unknown') return swapTaints(taints, [UNREACHABLE_NO_EXECUTE], [NOT_READY_NO_EXECUTE], now);
  return undefined;
}

/**
 * MarkPodsNotReady for one pod: its Ready condition turns False (reason and message kept, as
 * utilpod.UpdatePodCondition does; a new lastTransitionTime). Undefined when the pod is on another
 * node, has no Ready condition yet, or is not ready already.
 */
export function markPodNotReady(pod: Pod, nodeName: string, now: Date): PodStatus | undefined {
  if (pod.spec?.nodeName !== nodeName) return undefined;
  const ready = pod.status?.conditions?.find((c) => c.type === 'Ready');
  if (!ready || ready.status === 'False') return undefined;
  const status: PodStatus = structuredClone(pod.status!);
  const c = status.conditions!.find((x) => x.type === 'Ready')!;
  c.status = 'False';
  c.lastTransitionTime = k8sTime(now);
  return status;
}

/** Kube's node zone key (component-helpers node/topology GetZoneKey): region and zone labels, "" without. */
export function zoneKey(node: Node): string {
  const l = node.metadata?.labels ?? {};
  const zone = l['topology.kubernetes.io/zone'] ?? l['failure-domain.beta.kubernetes.io/zone'] ?? '';
  const region = l['topology.kubernetes.io/region'] ?? l['failure-domain.beta.kubernetes.io/region'] ?? '';
  return region === '' && zone === '' ? '' : `${region}:\x00:${zone}`;
}

export type ZoneState = 'Initial' | 'Normal' | 'PartialDisruption' | 'FullDisruption';

/** ComputeZoneState: no Ready node → full disruption; more than 2 and at least `unhealthyThreshold` not Ready → partial. */
export function computeZoneState(readyStatuses: readonly (string | undefined)[], unhealthyThreshold = 0.55): ZoneState {
  const ready = readyStatuses.filter((s) => s === 'True').length;
  const notReady = readyStatuses.length - ready;
  if (ready === 0 && notReady > 0) return 'FullDisruption';
  if (notReady > 2 && notReady / readyStatuses.length >= unhealthyThreshold) return 'PartialDisruption';
  return 'Normal';
}

/** isNodeExcludedFromDisruptionChecks. */
export function excludedFromDisruption(node: Node): boolean {
  return node.metadata?.labels?.['node.kubernetes.io/exclude-disruption'] !== undefined;
}
