// Pure planning of a node's pod network: names, addresses and the `ip` commands that wire a pod.
// Nothing here touches the system; pod-network.ts runs what these functions return.
import { createHash } from 'node:crypto';
import { type Cidr, cidrContains, cidrSize, cidrWithin, formatCidr, formatIPv4, parseCidr } from './cidr.ts';

/** Links and nft tables live in the node's own network namespace, so fixed names cannot collide between nodes. */
export const BRIDGE_NAME = 'podgate0';
export const NFT_FAMILY = 'inet';
export const NFT_TABLE = 'podgate_node';
/** The pod side of every veth pair, as Kubernetes pods expect. */
export const POD_IFACE = 'eth0';
/** Named network namespaces live in the machine-wide /run/netns. */
export const NETNS_DIR = '/run/netns';

/** First 8 hex digits of the SHA-256 of `text`: short, stable, and safe in interface and netns names. */
export function shortHash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 8);
}

/**
 * Prefix of every pod netns of one node. /run/netns is shared by every podgate node on the
 * machine (several run side by side in tests), so the node name is part of every name.
 */
export function netnsPrefix(nodeName: string): string {
  return `pg-${shortHash(nodeName)}-`;
}

/** The pod's netns name: `pg-<hash8(nodeName)>-<hash8(uid)>` (the uid is hashed because it is not always a UUID). */
export function podNetnsName(nodeName: string, uid: string): string {
  return `${netnsPrefix(nodeName)}${shortHash(uid)}`;
}

/** Host side of the pod's veth pair: `veth<hash8(uid)>`, 12 characters (Linux allows 15). */
export function hostVethName(uid: string): string {
  return `veth${shortHash(uid)}`;
}

export interface NodePlanInput {
  readonly nodeName: string;
  readonly podCIDR: string;
  readonly clusterCIDR: string;
}

export interface NodePlan {
  readonly nodeName: string;
  readonly podCIDR: Cidr;
  readonly clusterCIDR: Cidr;
  /** The bridge's address and every pod's default gateway: the first address of the podCIDR. */
  readonly gateway: string;
  /** Locally administered, derived from the node name: a bridge whose MAC is not set follows its lowest port's MAC and changes as pods come and go. */
  readonly bridgeMac: string;
  /** First and last assignable pod addresses (network, gateway and broadcast excluded), as numbers. */
  readonly firstPod: number;
  readonly lastPod: number;
  readonly netnsPrefix: string;
}

/** Validates the node's ranges and derives its addresses; throws with the offending value when they cannot work. */
export function planNode(input: NodePlanInput): NodePlan {
  if (!input.nodeName) throw new Error('pod network: nodeName is required');
  const podCIDR = parseCidr(input.podCIDR);
  const clusterCIDR = parseCidr(input.clusterCIDR);
  if (!cidrWithin(podCIDR, clusterCIDR)) {
    throw new Error(`pod network: podCIDR ${input.podCIDR} is not inside the cluster CIDR ${input.clusterCIDR}`);
  }
  if (podCIDR.prefix > 30) throw new Error(`pod network: podCIDR ${input.podCIDR} is too small (at most /30)`);
  const mac = createHash('sha256').update(`podgate0/${input.nodeName}`).digest();
  const bridgeMac = ['02', ...[...mac.subarray(0, 5)].map((b) => b.toString(16).padStart(2, '0'))].join(':');
  return {
    nodeName: input.nodeName,
    podCIDR,
    clusterCIDR,
    gateway: formatIPv4(podCIDR.base + 1),
    bridgeMac,
    firstPod: podCIDR.base + 2,
    lastPod: podCIDR.base + cidrSize(podCIDR) - 2,
    netnsPrefix: netnsPrefix(input.nodeName),
  };
}

export function isPodAddress(plan: NodePlan, ip: number): boolean {
  return cidrContains(plan.podCIDR, ip) && ip >= plan.firstPod && ip <= plan.lastPod;
}

/** `ip -batch` lines that bring the bridge to its desired state; `currentAddrs` are the IPv4 CIDRs it holds now. */
export function planBridge(plan: NodePlan, currentAddrs: readonly string[]): string[] {
  const want = `${plan.gateway}/${plan.podCIDR.prefix}`;
  const stale = currentAddrs.filter((a) => a !== want).sort();
  return [
    ...stale.map((a) => `address del ${a} dev ${BRIDGE_NAME}`),
    `link set dev ${BRIDGE_NAME} address ${plan.bridgeMac}`,
    `address replace ${want} dev ${BRIDGE_NAME}`,
    `link set dev ${BRIDGE_NAME} up`,
  ];
}

/** Sysctls of the node namespace. route_localnet on the bridge lets the node reach a hostPort via 127.0.0.1 (the DNAT'd packet keeps source 127.0.0.1 until masquerade, and the kernel refuses to route a loopback source out of a non-loopback device otherwise). */
export function planSysctls(): string[] {
  return ['net.ipv4.ip_forward=1', `net.ipv4.conf.${BRIDGE_NAME}.route_localnet=1`];
}

export interface PodWiring {
  readonly netns: string;
  readonly veth: string;
  readonly ip: string;
}

/**
 * The commands that wire one pod, all idempotent so that a repeated addPod repairs a half-built
 * pod: `node` runs as `ip -batch -` in the node's namespace once the veth pair exists, `pod` as
 * `ip -n <netns> -batch -`.
 */
export function planPodWiring(plan: NodePlan, w: PodWiring): { createVeth: string[]; node: string[]; pod: string[] } {
  return {
    // The peer is created directly inside the pod netns under its final name: no temporary
    // name in the node namespace, so nothing can clash there.
    createVeth: ['ip', 'link', 'add', w.veth, 'type', 'veth', 'peer', 'name', POD_IFACE, 'netns', w.netns],
    node: [
      `link set dev ${w.veth} master ${BRIDGE_NAME} up`,
      // With br_netfilter loaded, a pod reaching itself through a DNAT'd address is bridged back
      // out of the port it came in on, which a bridge does only in hairpin mode (kubenet and the
      // CNI bridge plugin's hairpinMode do the same).
      `link set dev ${w.veth} type bridge_slave hairpin on`,
    ],
    pod: [
      'link set dev lo up',
      `address replace ${w.ip}/${plan.podCIDR.prefix} dev ${POD_IFACE}`,
      `link set dev ${POD_IFACE} up`,
      `route replace default via ${plan.gateway} dev ${POD_IFACE}`,
    ],
  };
}

export function describePlan(plan: NodePlan): string {
  return `podCIDR ${formatCidr(plan.podCIDR)}, cluster ${formatCidr(plan.clusterCIDR)}, bridge ${BRIDGE_NAME} ${plan.gateway}`;
}

/**
 * A warning when /run/netns is a pure slave mount in this process's mount namespace (podgate
 * started with `ip netns exec`): pod netns mounted from here would be invisible outside it, to
 * other tools and to a restarted podgate. `mountinfo` is /proc/self/mountinfo.
 */
export function netnsMountWarning(mountinfo: string): string | undefined {
  for (const line of mountinfo.split('\n')) {
    const [left] = line.split(' - ');
    const f = (left ?? '').split(' ');
    if (f[4] !== NETNS_DIR) continue;
    const optional = f.slice(6);
    if (optional.some((o) => o.startsWith('master:')) && !optional.some((o) => o.startsWith('shared:'))) {
      return `${NETNS_DIR} is a slave mount here (started under \`ip netns exec\`?): pod network namespaces created by this process are invisible outside it; run the node with \`nsenter --net=/run/netns/<node>\` instead`;
    }
  }
  return undefined;
}
