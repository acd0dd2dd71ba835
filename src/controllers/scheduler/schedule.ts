// Choosing a node for a pod: the filters of kube-scheduler that matter for reaching pods
// (NodeUnschedulable, NodeName, TaintToleration, NodeAffinity's nodeSelector, NodePorts), as a
// pure function.
// The message of an unschedulable pod is worded as kube-scheduler words it.
import type { Node, Pod, Taint } from 'kubernetes-types/core/v1.d.ts';
import {
  conditionNoScheduleTaints, findUntoleratedTaint, TAINT_NOT_READY, TAINT_UNSCHEDULABLE, tolerationsTolerateTaint,
} from '../nodelifecycle/index.ts';

export type ScheduleResult = { node: string } | { unschedulable: string };

type Reason = string;

const reasons = {
  unschedulable: "node(s) were unschedulable",
  selector: "node(s) didn't match Pod's node affinity/selector",
  ports: "node(s) didn't have free ports for the requested pod ports",
  nodeName: "node(s) didn't match the requested node name",
} as const;

/**
 * A filter's verdict. UnschedulableAndUnresolvable (NodeUnschedulable, NodeName, TaintToleration,
 * NodeAffinity) tells preemption that evicting pods would not help; NodePorts is plain Unschedulable.
 */
interface Failure { reason: Reason; unresolvable: boolean }

/**
 * The node's taints as the scheduler sees them: spec.taints, plus the NoSchedule taints the node
 * lifecycle controller derives from its conditions (a node that is not Ready counts as tainted
 * not-ready or unreachable before the controller's write lands, and when it is not running).
 */
function effectiveTaints(node: Node): Taint[] {
  const taints = [...(node.spec?.taints ?? [])];
  const implied = conditionNoScheduleTaints(node);
  // A node without a Ready condition has not reported yet: kube's TaintNodesByCondition admission
  // registers it with the not-ready taint.
  if (!node.status?.conditions?.some((c) => c.type === 'Ready')) implied.push({ key: TAINT_NOT_READY, effect: 'NoSchedule' });
  for (const t of implied) if (!taints.some((x) => x.key === t.key && x.effect === t.effect)) taints.push(t);
  return taints;
}

interface HostPort { ip: string; protocol: string; port: number }

export function hostPortsOf(pod: Pod): HostPort[] {
  const out: HostPort[] = [];
  for (const c of [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])]) {
    for (const p of c.ports ?? []) {
      if (!p.hostPort) continue;
      out.push({ ip: p.hostIP && p.hostIP !== '' ? p.hostIP : '0.0.0.0', protocol: p.protocol ?? 'TCP', port: p.hostPort });
    }
  }
  return out;
}

/** Two host ports clash when protocol and port match and either address is the wildcard or both are equal. */
function clashes(a: HostPort, b: HostPort): boolean {
  return a.protocol === b.protocol && a.port === b.port && (a.ip === '0.0.0.0' || b.ip === '0.0.0.0' || a.ip === b.ip);
}

/** kube-scheduler's filter plugins in their default order; the first that fails names the reason. */
function whyNot(pod: Pod, node: Node, podsOnNode: readonly Pod[]): Failure | undefined {
  const name = node.metadata?.name ?? '';
  const tolerations = pod.spec?.tolerations;
  // NodeUnschedulable.
  if (node.spec?.unschedulable && !tolerationsTolerateTaint(tolerations, { key: TAINT_UNSCHEDULABLE, effect: 'NoSchedule' })) {
    return { reason: reasons.unschedulable, unresolvable: true };
  }
  // NodeName.
  if (pod.spec?.nodeName && pod.spec.nodeName !== name) return { reason: reasons.nodeName, unresolvable: true };
  // TaintToleration: only NoSchedule and NoExecute taints keep pods off.
  const taint = findUntoleratedTaint(effectiveTaints(node), tolerations, (t) => t.effect === 'NoSchedule' || t.effect === 'NoExecute');
  if (taint) return { reason: `node(s) had untolerated taint {${taint.key}: ${taint.value ?? ''}}`, unresolvable: true };
  // NodeAffinity (nodeSelector).
  const labels = node.metadata?.labels ?? {};
  for (const [k, v] of Object.entries(pod.spec?.nodeSelector ?? {})) if (labels[k] !== v) return { reason: reasons.selector, unresolvable: true };
  // NodePorts.
  const wanted = hostPortsOf(pod);
  if (wanted.length) {
    const used = podsOnNode.flatMap(hostPortsOf);
    if (wanted.some((w) => used.some((u) => clashes(w, u)))) return { reason: reasons.ports, unresolvable: false };
  }
  return undefined;
}

/**
 * Picks a node for `pod` among `nodes`, given the pods already bound to each (by node name).
 * Spreads by choosing the feasible node with the fewest pods; ties by name, so results are stable.
 */
export function schedulePod(pod: Pod, nodes: readonly Node[], podsByNode: ReadonlyMap<string, readonly Pod[]>): ScheduleResult {
  const counts = new Map<Reason, number>();
  let unresolvable = 0;
  const feasible: { name: string; load: number }[] = [];
  for (const n of nodes) {
    const name = n.metadata?.name ?? '';
    const on = podsByNode.get(name) ?? [];
    const why = whyNot(pod, n, on);
    if (why) {
      counts.set(why.reason, (counts.get(why.reason) ?? 0) + 1);
      if (why.unresolvable) unresolvable++;
    } else feasible.push({ name, load: on.length });
  }
  if (feasible.length) {
    feasible.sort((a, b) => a.load - b.load || a.name.localeCompare(b.name));
    return { node: feasible[0]!.name };
  }
  // kube-scheduler: "0/1 nodes are available: 1 node(s) didn't have free ports for the requested pod ports.
  // preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod." Preemption
  // skips nodes an UnschedulableAndUnresolvable filter turned down ("Preemption is not helpful for
  // scheduling"); on the others no pod of lower priority is there to evict (podgate pods all have
  // priority 0). Both lists are sorted, as FitError sorts its histogram.
  const total = nodes.length;
  if (total === 0) return { unschedulable: 'no nodes available to schedule pods' };
  const parts = [...counts.entries()].map(([r, c]) => `${c} ${r}`).sort();
  const preemption = [
    ...(total - unresolvable ? [`${total - unresolvable} No preemption victims found for incoming pod`] : []),
    ...(unresolvable ? [`${unresolvable} Preemption is not helpful for scheduling`] : []),
  ].sort();
  return {
    unschedulable: `0/${total} nodes are available: ${parts.join(', ')}. preemption: 0/${total} nodes are available: ${preemption.join(', ')}.`,
  };
}
