// A joining agent's --cluster-cidr against the cluster's: the pod ranges other nodes were given
// must lie inside it, or the node would be given a range its pod network refuses (and leave a
// Node behind). Pure.
import type { Node } from 'kubernetes-types/core/v1.d.ts';
import { parseCidr } from '../api/net/cidr.ts';

/** Why `clusterCidr` cannot be this cluster's, naming a node whose pod range lies outside it; '' when none does. */
export function clusterCidrMismatch(nodes: readonly Node[], clusterCidr: string, self: string): string {
  const cluster = parseCidr(clusterCidr);
  const inside = (cidr: string): boolean => {
    let c;
    try { c = parseCidr(cidr); } catch { return true; /* not IPv4: not this check's business */ }
    if (c.prefix < cluster.prefix) return false;
    // `>>> 32` is `>>> 0` in JavaScript: a /0 holds everything.
    return cluster.prefix === 0 || ((c.base ^ cluster.base) >>> (32 - cluster.prefix)) === 0;
  };
  const n = [...nodes].sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''))
    .find((x) => x.metadata?.name !== self && x.spec?.podCIDR && !inside(x.spec.podCIDR));
  return n ? `--cluster-cidr ${clusterCidr} does not hold node ${n.metadata!.name}'s pod range ${n.spec!.podCIDR}: give the agent the control plane's --cluster-cidr` : '';
}
