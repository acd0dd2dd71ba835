// The node's nftables table, rendered as one `nft -f` script that replaces the whole table in a
// single transaction. Pure: mappings and plan in, text out.
//
// hostPort follows the CNI portmap plugin (containernetworking/plugins plugins/meta/portmap):
// - DNAT in nat prerouting (traffic from other hosts and from pods) and nat output (the node
//   itself), both only for destinations that are local addresses (`fib daddr type local`, the
//   iptables flavour's `--dst-type LOCAL`). Mappings with a hostIP come first, so a specific
//   address wins over the wildcard (portmap's hostip_hostports chain before hostports).
// - Connections whose replies would otherwise bypass the DNAT are marked and masqueraded in
//   postrouting: from 127.0.0.0/8 (the node to 127.0.0.1:hostPort) and from the pod range
//   (hairpin: a pod reaching itself or a neighbour through the node address; the pod would answer
//   directly over the bridge, bypassing the reverse NAT). This is the iptables flavour's rule
//   (`-s <container subnet>`); its nftables flavour only masquerades saddr == daddr, which relies on
//   br_netfilter for the neighbour case. Mark bit 13 (0x2000) is portmap's default; Kubernetes
//   uses 14 and 15.
//
// Pods on other nodes (cross-node routes, node-routes.ts): pod IPs are kept across nodes, as with
// any CNI. Only pod traffic leaving the cluster CIDR is masqueraded (flannel's ipMasq rule), so a
// pod on node A reaching a pod on node B keeps its address both ways (the reply is part of the same
// conntrack entry and never NATed); the forward chain accepts everything into the bridge (a
// remote pod or node reaching a local pod from the LAN) and out of it. hostPort DNAT matches only
// local destinations, so traffic to pod IPs never enters the hostports chain.
import { parseIPv4 } from './cidr.ts';
import { BRIDGE_NAME, NFT_FAMILY, NFT_TABLE, type NodePlan } from './plan.ts';
import { formatCidr } from './cidr.ts';

export const HOSTPORT_PROTOCOLS = ['TCP', 'UDP', 'SCTP'] as const;
export type HostPortProtocol = (typeof HOSTPORT_PROTOCOLS)[number];

export interface HostPortMapping {
  /** Empty, absent or 0.0.0.0: every local address of the node. */
  readonly hostIP?: string;
  readonly hostPort: number;
  readonly protocol: HostPortProtocol;
  readonly podIP: string;
  readonly containerPort: number;
}

export const MASQ_MARK = 0x2000;
const MARK = `0x${MASQ_MARK.toString(16).padStart(8, '0')}`;

/**
 * Checks every mapping and returns them normalised (hostIP '' for the wildcard) and sorted:
 * specific hostIPs first, then by port and protocol. Throws naming the first bad mapping.
 * IPv6 hostIPs are dropped, as portmap skips addresses of the other family.
 */
export function validateHostPorts(mappings: readonly HostPortMapping[]): HostPortMapping[] {
  const out: HostPortMapping[] = [];
  for (const m of mappings) {
    const what = `hostPort ${JSON.stringify(m)}`;
    if (!isPort(m.hostPort)) throw new Error(`${what}: hostPort must be 1-65535`);
    if (!isPort(m.containerPort)) throw new Error(`${what}: containerPort must be 1-65535`);
    if (!(HOSTPORT_PROTOCOLS as readonly string[]).includes(m.protocol)) throw new Error(`${what}: protocol must be TCP, UDP or SCTP`);
    parseIPv4(m.podIP);
    let hostIP = m.hostIP ?? '';
    if (hostIP.includes(':')) continue;
    if (hostIP === '0.0.0.0') hostIP = '';
    if (hostIP) parseIPv4(hostIP);
    out.push({ hostIP, hostPort: m.hostPort, protocol: m.protocol, podIP: m.podIP, containerPort: m.containerPort });
  }
  return out.sort(compareMappings);
}

function compareMappings(a: HostPortMapping, b: HostPortMapping): number {
  const ah = a.hostIP ? 0 : 1;
  const bh = b.hostIP ? 0 : 1;
  if (ah !== bh) return ah - bh;
  if (a.hostIP !== b.hostIP) return parseIPv4(a.hostIP!) - parseIPv4(b.hostIP!);
  return a.hostPort - b.hostPort || a.protocol.localeCompare(b.protocol) || parseIPv4(a.podIP) - parseIPv4(b.podIP) || a.containerPort - b.containerPort;
}

/** Mappings that claim an address/port/protocol already claimed by an earlier one (the earlier one wins); the scheduler should have prevented them. */
export function findHostPortConflicts(sorted: readonly HostPortMapping[]): HostPortMapping[] {
  const seen = new Set<string>();
  const conflicts: HostPortMapping[] = [];
  for (const m of sorted) {
    const key = `${m.hostIP}|${m.hostPort}|${m.protocol}`;
    if (seen.has(key)) conflicts.push(m);
    seen.add(key);
  }
  return conflicts;
}

function isPort(n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= 65535;
}

/** The rules of the hostports chain for sorted, validated mappings: for each, a mark rule then the DNAT. */
export function renderHostPortRules(plan: NodePlan, sorted: readonly HostPortMapping[]): string[] {
  const masqSources = `{ ${formatCidr(plan.podCIDR)}, 127.0.0.0/8 }`;
  const rules: string[] = [];
  for (const m of sorted) {
    const match = `${m.hostIP ? `ip daddr ${m.hostIP} ` : ''}${m.protocol.toLowerCase()} dport ${m.hostPort}`;
    rules.push(`${match} ip saddr ${masqSources} meta mark set meta mark | ${MARK}`);
    rules.push(`${match} dnat ip to ${m.podIP}:${m.containerPort}`);
  }
  return rules;
}

/**
 * The whole table as an `nft -f` script. The script first creates the table (a no-op when it
 * exists) and deletes it, then declares it afresh: one transaction, so readers see the old
 * ruleset or the new one, and chains dropped from the design never linger.
 */
export function renderNodeRuleset(plan: NodePlan, mappings: readonly HostPortMapping[]): string {
  const t = `${NFT_FAMILY} ${NFT_TABLE}`;
  const sorted = validateHostPorts(mappings);
  const podCIDR = formatCidr(plan.podCIDR);
  const clusterCIDR = formatCidr(plan.clusterCIDR);
  const chain = (name: string, hook: string | null, body: string[]) => [
    `\tchain ${name} {`,
    ...(hook ? [`\t\t${hook}`] : []),
    ...body.map((r) => `\t\t${r}`),
    '\t}',
  ];
  // Numeric priorities (dstnat -100, srcnat 100, filter 0): nft 1.0.6 (Debian 12) rejects the
  // name `dstnat` on the output hook.
  const lines = [
    `table ${t}`,
    `delete table ${t}`,
    `table ${t} {`,
    ...chain('prerouting', 'type nat hook prerouting priority -100; policy accept;', ['fib daddr type local jump hostports']),
    ...chain('output', 'type nat hook output priority -100; policy accept;', ['fib daddr type local jump hostports']),
    ...chain('hostports', null, renderHostPortRules(plan, sorted)),
    ...chain('postrouting', 'type nat hook postrouting priority 100; policy accept;', [
      `meta mark & ${MARK} == ${MARK} masquerade`,
      // Pods keep their own address inside the cluster and borrow the node's outside it.
      `ip saddr ${podCIDR} ip daddr != ${clusterCIDR} masquerade`,
    ]),
    // Accepting here does not override a drop in another table (every base chain must accept);
    // it documents that podgate forwards pod traffic and is where a pod firewall would go.
    ...chain('forward', 'type filter hook forward priority 0; policy accept;', [
      `iifname "${BRIDGE_NAME}" accept`,
      `oifname "${BRIDGE_NAME}" accept`,
    ]),
    // route_localnet on the bridge would otherwise let a pod open connections to services the
    // node binds to 127.0.0.1 (CVE-2020-8558); replies to masqueraded localhost hostPort
    // connections are established, not new, and still pass.
    // The cluster DNS server answers on the bridge's address for pods (and the node itself), not
    // as an open resolver for hosts that route the pod range through this node.
    ...chain('input', 'type filter hook input priority 0; policy accept;', [
      `iifname "${BRIDGE_NAME}" ip daddr 127.0.0.0/8 ct state new drop`,
      `ip daddr ${plan.gateway} meta l4proto { tcp, udp } th dport 53 ip saddr != ${clusterCIDR} fib saddr type != local drop`,
    ]),
    '}',
  ];
  return `${lines.join('\n')}\n`;
}

/** Removes the table if it exists, in one transaction that cannot fail for want of the table. */
export function renderDeleteRuleset(): string {
  const t = `${NFT_FAMILY} ${NFT_TABLE}`;
  return `table ${t}\ndelete table ${t}\n`;
}
