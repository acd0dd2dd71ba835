// Choosing a node for a pod: the filters of kube-scheduler that matter for reaching pods
// (node ready and schedulable, nodeName, nodeSelector, taints, host ports), as a pure function.
// The message of an unschedulable pod is worded as kube-scheduler words it.
import type { Node, Pod } from 'kubernetes-types/core/v1.d.ts';

export type ScheduleResult = { node: string } | { unschedulable: string };

type Reason = string;

const reasons = {
  notReady: "node(s) had untolerated taint {node.kubernetes.io/not-ready: }",
  unschedulable: "node(s) were unschedulable",
  selector: "node(s) didn't match Pod's node affinity/selector",
  ports: "node(s) didn't have free ports for the requested pod ports",
  nodeName: "node(s) didn't match the requested node name",
} as const;

function isReady(n: Node): boolean {
  return n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
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

function tolerates(pod: Pod, key: string, effect: string): boolean {
  return (pod.spec?.tolerations ?? []).some((t) =>
    (!t.effect || t.effect === effect) && (t.operator === 'Exists' ? !t.key || t.key === key : t.key === key));
}

function whyNot(pod: Pod, node: Node, podsOnNode: readonly Pod[]): Reason | undefined {
  const name = node.metadata?.name ?? '';
  if (pod.spec?.nodeName && pod.spec.nodeName !== name) return reasons.nodeName;
  if (!isReady(node) && !tolerates(pod, 'node.kubernetes.io/not-ready', 'NoSchedule')) return reasons.notReady;
  if (node.spec?.unschedulable && !tolerates(pod, 'node.kubernetes.io/unschedulable', 'NoSchedule')) return reasons.unschedulable;
  for (const t of node.spec?.taints ?? []) {
    if ((t.effect === 'NoSchedule' || t.effect === 'NoExecute') && !tolerates(pod, t.key, t.effect)) {
      return `node(s) had untolerated taint {${t.key}: ${t.value ?? ''}}`;
    }
  }
  const labels = node.metadata?.labels ?? {};
  for (const [k, v] of Object.entries(pod.spec?.nodeSelector ?? {})) if (labels[k] !== v) return reasons.selector;
  const wanted = hostPortsOf(pod);
  if (wanted.length) {
    const used = podsOnNode.flatMap(hostPortsOf);
    if (wanted.some((w) => used.some((u) => clashes(w, u)))) return reasons.ports;
  }
  return undefined;
}

/**
 * Picks a node for `pod` among `nodes`, given the pods already bound to each (by node name).
 * Spreads by choosing the feasible node with the fewest pods; ties by name, so results are stable.
 */
export function schedulePod(pod: Pod, nodes: readonly Node[], podsByNode: ReadonlyMap<string, readonly Pod[]>): ScheduleResult {
  const counts = new Map<Reason, number>();
  const feasible: { name: string; load: number }[] = [];
  for (const n of nodes) {
    const name = n.metadata?.name ?? '';
    const on = podsByNode.get(name) ?? [];
    const why = whyNot(pod, n, on);
    if (why) counts.set(why, (counts.get(why) ?? 0) + 1);
    else feasible.push({ name, load: on.length });
  }
  if (feasible.length) {
    feasible.sort((a, b) => a.load - b.load || a.name.localeCompare(b.name));
    return { node: feasible[0]!.name };
  }
  // kube-scheduler: "0/1 nodes are available: 1 node(s) didn't have free ports for the requested pod ports.
  // preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."
  const total = nodes.length;
  if (total === 0) return { unschedulable: 'no nodes available to schedule pods' };
  const parts = [...counts.entries()].map(([r, c]) => `${c} ${r}`).sort();
  return {
    unschedulable: `0/${total} nodes are available: ${parts.join(', ')}. preemption: 0/${total} nodes are available: ${total} No preemption victims found for incoming pod.`,
  };
}
