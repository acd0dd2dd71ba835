// The `podgate` command line: verbs, their flags and help.
import { Command } from 'commander';
import { hostname } from 'node:os';
import { addAgentFlags, addControlPlaneFlags, addNodeFlags, type AgentFlags, type ControlPlaneFlags, type NodeFlags } from './flags.ts';
import { mkdirSync } from 'node:fs';
import { KubeClient } from '../client/rest-client.ts';
import type { RunningNode } from './node.ts';
import { registerComponents } from './components.ts';
import { registerPortForward } from './port-forward-command.ts';
import { detectNodeIP } from './node-address.ts';
import { startControlPlane } from './control-plane.ts';
import type { Node } from 'kubernetes-types/core/v1.d.ts';
import { lookupResource } from '../api/resources.ts';
import { clusterCidrMismatch } from './cluster-cidr-check.ts';

const version = '0.1.0';

function log(msg: string): void {
  process.stderr.write(`${new Date().toISOString()} ${msg}\n`);
}

/** The node agent's options that come from the node flags (the same for `up` and `agent`). */
function nodeFlagOptions(flags: NodeFlags & { dataDir: string; clusterCidr: string; serviceClusterIpRange: string }) {
  return {
    dataDir: flags.dataDir, clusterCIDR: flags.clusterCidr, imageConfig: flags.imageConfig, kubeletPort: flags.kubeletPort, log,
    serviceCIDR: flags.serviceClusterIpRange,
    dns: { clusterDomain: flags.clusterDomain, clusterDNS: flags.clusterDns, resolvConf: flags.resolvConf },
    ingress: { httpPort: flags.ingressHttpPort ?? 80, httpsPort: flags.ingressHttpsPort ?? 443, classes: flags.ingressClass ?? ['nginx'],
      tcpServicesConfigMap: flags.tcpServicesConfigmap, udpServicesConfigMap: flags.udpServicesConfigmap,
      workers: flags.ingressWorkers ?? 1, metricsPort: flags.ingressMetricsPort ?? 0, ...(flags.ingressAccessLog ? { accessLog: flags.ingressAccessLog } : {}) },
  };
}

/** Stops everything on SIGINT or SIGTERM, then exits. */
function stopOnSignal(stopAll: () => Promise<void>): void {
  let stopping = false;
  const stop = async (sig: string) => {
    if (stopping) return;
    stopping = true;
    log(`${sig}: stopping`);
    await stopAll();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

const needsRoot = 'running pods needs root (network namespaces, nftables)';

async function run(what: 'up' | 'server', flags: ControlPlaneFlags & Partial<NodeFlags>): Promise<void> {
  const t0 = performance.now();
  const nodeIp = flags.nodeIp ?? detectNodeIP();
  // With the node parts here, the ports they take are known; `server` keeps the usual list.
  const reservedPorts = what === 'up'
    ? [flags.securePort, flags.kubeletPort ?? 10250, flags.ingressHttpPort ?? 80, flags.ingressHttpsPort ?? 443, flags.ingressMetricsPort ?? 10254].filter((p) => p > 0)
    : undefined;
  const cp = await startControlPlane({ ...flags, nodeIp, ...(reservedPorts ? { reservedPorts } : {}) }, log);
  let node: RunningNode | undefined;
  let nodeLine = '';
  if (what === 'up') {
    if (process.getuid?.() !== 0) {
      nodeLine = `  node agent:  not started: ${needsRoot}; run \`sudo podgate up\`\n`;
    } else {
      const nodeName = (flags.nodeName ?? hostname()).toLowerCase();
      try {
        // Loaded only for `up`: the node parts are most of podgate's code, and `server` needs none of it.
        const { startNode, issueServingCertificate } = await import('./node.ts');
        node = await startNode({ ...nodeFlagOptions(flags as NodeFlags & ControlPlaneFlags), client: cp.client, nodeName, nodeIP: nodeIp, caPem: cp.pki.ca,
          servingCertificate: () => issueServingCertificate({ ca: cp.pki.kubeletServingCa, caKey: cp.pki.kubeletServingCaKey }, nodeName, nodeIp) });
      } catch (err) {
        await cp.stop();
        throw err;
      }
      nodeLine = `  node agent:  ready (node ${nodeName}, pods in ${node.podCIDR})\n`;
    }
  }
  const ms = Math.round(performance.now() - t0);
  process.stdout.write(
    `podgate ${what === 'up' ? 'is up' : 'control plane is up'} (ready in ${ms} ms)\n` +
    `  API server:  ${cp.url}  (node address ${nodeIp})\n` + nodeLine +
    `  kubeconfig:  ${cp.kubeconfig}\n` +
    `  try:         export KUBECONFIG=${cp.kubeconfig}; kubectl get svc\n` +
    (cp.joinCommand ? `  join a node: ${cp.joinCommand}\n` : ''));
  stopOnSignal(async () => {
    try {
      await node?.stop();
    } finally {
      await cp.stop();
    }
  });
}

/** Refuses, before this node registers, a --cluster-cidr that is not the control plane's (see cluster-cidr-check.ts). */
async function checkClusterCidr(client: KubeClient, clusterCidr: string, nodeName: string): Promise<void> {
  const nodes = (await client.list(lookupResource('', 'v1', 'nodes')!)).items as unknown as Node[];
  const why = clusterCidrMismatch(nodes, clusterCidr, nodeName);
  if (why) throw new Error(why);
}

/** `podgate agent`: a node of a cluster whose control plane runs elsewhere (kubeadm join + kubelet + kube-proxy). */
async function runAgent(flags: AgentFlags): Promise<void> {
  const t0 = performance.now();
  if (process.getuid?.() !== 0) throw new Error(`${needsRoot}; run \`sudo podgate agent ...\``);
  const nodeIp = flags.nodeIp ?? detectNodeIP();
  const nodeName = (flags.nodeName ?? hostname()).toLowerCase();
  mkdirSync(flags.dataDir, { recursive: true, mode: 0o700 });
  const { joinCluster, servingCertificate } = await import('../agent/tls-bootstrap.ts');
  const creds = await joinCluster({ server: flags.server, nodeName, token: flags.token, caCertHash: flags.discoveryTokenCaCertHash, dataDir: flags.dataDir, log });
  const client = new KubeClient({ server: flags.server, caPem: creds.caPem, certPem: creds.client.certPem, keyPem: creds.client.keyPem, userAgent: `podgate-agent/${nodeName}` });
  const { startNode } = await import('./node.ts');
  let node: RunningNode;
  try {
    await checkClusterCidr(client, flags.clusterCidr, nodeName);
    node = await startNode({ ...nodeFlagOptions(flags), client, nodeName, nodeIP: nodeIp, caPem: creds.caPem,
      servingCertificate: async (register) => {
        await register();
        return servingCertificate(client, { dataDir: flags.dataDir, nodeName, nodeIPs: [nodeIp], log });
      } });
  } catch (err) {
    client.close();
    throw err;
  }
  process.stdout.write(
    `podgate agent is up (ready in ${Math.round(performance.now() - t0)} ms)\n` +
    `  API server:  ${flags.server}\n` +
    `  node agent:  ready (node ${nodeName}, pods in ${node.podCIDR})\n`);
  stopOnSignal(async () => {
    try {
      await node.stop();
    } finally {
      client.close();
    }
  });
}

export async function runCli(argv: string[]): Promise<void> {
  const program = new Command('podgate')
    .description('A Kubernetes-compatible cluster in one program, for every way of reaching pods from outside')
    .version(version)
    .showHelpAfterError();
  addNodeFlags(addControlPlaneFlags(program.command('up')
    .description('start everything on this machine in one process: API server, controllers and the node agent (needs root)')))
    .action((opts: ControlPlaneFlags & NodeFlags) => run('up', opts));
  addControlPlaneFlags(program.command('server')
    .description('start only the control plane (API server and controllers)'))
    .action((opts: ControlPlaneFlags) => run('server', opts));
  addNodeFlags(addAgentFlags(program.command('agent')
    .description('join a cluster as one more node and run its pods, service proxy and ingress (needs root)')))
    .action((opts: AgentFlags) => runAgent(opts));
  registerPortForward(program);
  registerComponents(program);
  try {
    await program.parseAsync(argv);
  } catch (err) {
    process.stderr.write(`podgate: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
}
