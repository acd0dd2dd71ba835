// The pod network of one node: a bridge, one network namespace and veth pair per pod, an address
// per pod from the node's podCIDR, and one nftables table for masquerade and hostPort.
//
//   const net = new PodNetwork({ nodeName, nodeIP, podCIDR: '10.244.0.0/24', clusterCIDR: '10.244.0.0/16', stateDir, log, exec? });
//   await net.setupNode();                       // bridge podgate0 = first podCIDR address, ip_forward, route_localnet, nft table
//   const { ip, netns, netnsPath } = await net.addPod({ namespace, name, uid });   // idempotent per uid
//   await net.setHostPorts([{ hostIP?, hostPort, protocol: 'TCP'|'UDP'|'SCTP', podIP, containerPort }]);  // the whole set, every time
//   await net.removePod(uid);                    // stop the pod's processes first: this kills nothing
//   await net.listPods();                        // uids that have an address (state file)
//   await net.listPodNetns();                    // this node's pod netns that exist now
//   await net.collectGarbage(liveUids);          // after a restart: drop netns/addresses of pods no longer wanted
//   await net.teardownNode();                    // every pod netns, the bridge, the table, the state file
//
// Names: pod netns are `pg-<hash8(nodeName)>-<hash8(uid)>` in the machine-wide /run/netns, so
// several nodes on one machine never collide; the bridge `podgate0`, host veths `veth<hash8(uid)>`
// and the table `inet podgate_node` live in the node's own netns and have fixed names.
//
// State: the IPAM file `<stateDir>/pod-network.json` (written atomically) maps uid → ip + netns
// and keeps the last hostPort mappings, so a restarted agent gets the same addresses and the
// same rules before it resyncs.
//
// Run a node that lives in a named netns with `nsenter --net=/run/netns/<node> podgate ...`, not
// `ip netns exec`: the latter puts podgate in a private (slave) mount namespace, where the pod
// netns it mounts are invisible to other processes and to a restarted podgate (setupNode logs a
// warning when it detects this).
//
// Seam: every system change is a command run through `exec` (default: the real `ip`, `nft`,
// `sysctl`). A node that lives in a named netns (tests) passes `inNetns(runCommand, nodeNetns)`.
// Pure parts: cidr.ts, plan.ts (names, addresses, ip batches), ipam.ts, node-ruleset.ts (the nft script).
export { PodNetwork, STATE_FILE, type PodAttachment, type PodNetworkOptions, type PodRef } from './pod-network.ts';
export { type Exec, type ExecResult, CommandError, inNetns, runCommand } from '../../util/exec.ts';
export { type HostPortMapping, type HostPortProtocol, HOSTPORT_PROTOCOLS } from './node-ruleset.ts';
export { PoolExhaustedError } from './ipam.ts';
export { BRIDGE_NAME, NFT_FAMILY, NFT_TABLE, hostVethName, netnsPrefix, podNetnsName } from './plan.ts';
// Cross-node pod routes (flannel host-gw): every other node's podCIDR via its InternalIP when that
// is on a directly connected subnet, tagged `proto 147`; see node-routes.ts.
//   const routes = new NodeRoutes({ client, nodeName, exec?, log?, releaseOnStop? });  await routes.start(); … await routes.stop();
export {
  NodeRoutes, ROUTE_PROTOCOL, type DesiredRoute, type InstalledRoute, type LocalLink, type NodeRoutesOptions, type RouteDiff, type RoutePlan, type SkippedRoute,
  diffRoutes, nodeRouteFacts, planNodeRoutes, removeNodeRoutes, syncNodeRoutes,
} from './node-routes.ts';
