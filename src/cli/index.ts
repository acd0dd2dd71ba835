// The `podgate` command line: verbs, their flags and help.
import { Command } from 'commander';
import { hostname } from 'node:os';
import { addControlPlaneFlags, addNodeFlags, type ControlPlaneFlags, type NodeFlags } from './flags.ts';
import type { RunningNode } from './node.ts';
import { registerComponents } from './components.ts';
import { registerPortForward } from './port-forward-command.ts';
import { detectNodeIP } from './node-address.ts';
import { startControlPlane } from './control-plane.ts';

const version = '0.1.0';

function log(msg: string): void {
  process.stderr.write(`${new Date().toISOString()} ${msg}\n`);
}

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
      nodeLine = '  node agent:  not started: running pods needs root (network namespaces, nftables); run `sudo podgate up`\n';
    } else {
      const nodeName = (flags.nodeName ?? hostname()).toLowerCase();
      try {
        // Loaded only for `up`: the node parts are most of podgate's code, and `server` needs none of it.
        const { startNode } = await import('./node.ts');
        node = await startNode({ client: cp.client, dataDir: flags.dataDir, nodeName, nodeIP: nodeIp, clusterCIDR: flags.clusterCidr,
          imageConfig: flags.imageConfig, pki: cp.pki, kubeletPort: flags.kubeletPort, log, serviceCIDR: flags.serviceClusterIpRange,
          dns: { clusterDomain: flags.clusterDomain, clusterDNS: flags.clusterDns, resolvConf: flags.resolvConf },
          ingress: { httpPort: flags.ingressHttpPort ?? 80, httpsPort: flags.ingressHttpsPort ?? 443, classes: flags.ingressClass ?? ['nginx'],
            tcpServicesConfigMap: flags.tcpServicesConfigmap, udpServicesConfigMap: flags.udpServicesConfigmap,
            workers: flags.ingressWorkers ?? 1, metricsPort: flags.ingressMetricsPort ?? 0, ...(flags.ingressAccessLog ? { accessLog: flags.ingressAccessLog } : {}) } });
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
    `  try:         export KUBECONFIG=${cp.kubeconfig}; kubectl get svc\n`);
  let stopping = false;
  const stop = async (sig: string) => {
    if (stopping) return;
    stopping = true;
    log(`${sig}: stopping`);
    try {
      await node?.stop();
    } finally {
      await cp.stop();
    }
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
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
  registerPortForward(program);
  registerComponents(program);
  try {
    await program.parseAsync(argv);
  } catch (err) {
    process.stderr.write(`podgate: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
}
