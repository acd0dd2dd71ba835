// `podgate ingress|proxy|lb --kubeconfig FILE`: one data-plane part on its own, against any
// Kubernetes API server (podgate's or a real cluster's), since each reads and writes cluster
// state only through the Kubernetes client.
import { hostname } from 'node:os';
import { join } from 'node:path';
import { type Command, Option } from 'commander';
import { EventRecorder } from '../client/event-recorder.ts';
import { configFromKubeconfig, KubeClient } from '../client/rest-client.ts';
import { defaultDataDir, parsePort } from './flags.ts';
import { openAccessLog, parseWorkers } from './ingress-options.ts';
import { detectNodeIP } from './node-address.ts';

interface ComponentFlags {
  kubeconfig: string;
  nodeName?: string;
  nodeIp?: string;
  dataDir: string;
}

function log(msg: string): void {
  process.stderr.write(`${new Date().toISOString()} ${msg}\n`);
}

function common(cmd: Command): Command {
  return cmd
    .requiredOption('--kubeconfig <file>', 'the cluster to serve (any Kubernetes API server)', process.env.KUBECONFIG)
    .option('--node-name <name>', 'this node\'s name in the cluster (default: the host name)')
    .option('--node-ip <ip>', 'this node\'s address (default: the address of the interface holding the default route)')
    .option('--data-dir <dir>', 'where state is kept', defaultDataDir());
}

/** Runs `start`, then waits for SIGINT/SIGTERM and calls the returned stop. */
async function runUntilSignal(what: string, start: () => Promise<() => Promise<void>>): Promise<void> {
  const stop = await start();
  process.stdout.write(`podgate ${what} is running\n`);
  const done = async (sig: string) => {
    log(`${sig}: stopping ${what}`);
    await stop();
    process.exit(0);
  };
  process.once('SIGINT', () => void done('SIGINT'));
  process.once('SIGTERM', () => void done('SIGTERM'));
}

export function registerComponents(program: Command): void {
  common(program.command('ingress').description('run only the ingress controller and its L7 proxy against a cluster'))
    .option('--http-port <port>', 'HTTP port (0: off)', (v) => parsePort(v, '--http-port'), 80)
    .option('--https-port <port>', 'HTTPS port (0: off)', (v) => parsePort(v, '--https-port'), 443)
    .option('--ingress-class <name...>', 'classes served besides podgate.io/ingress', ['nginx'])
    .addOption(new Option('--workers <n|auto>', 'proxy worker threads sharing the ports (auto: one per CPU, at most 4)')
      .argParser((v) => parseWorkers(v, '--workers')).default(parseWorkers('auto', ''), 'auto'))
    .option('--metrics-port <port>', 'port of /metrics and /healthz (0: off)', (v) => parsePort(v, '--metrics-port'), 10254)
    .option('--access-log <file>', 'append one JSON line per request to FILE (- for standard output)')
    .option('--bind-address <ip>', 'address the proxy and /metrics listen on (0.0.0.0: every address)', '0.0.0.0')
    .action((f: ComponentFlags & { httpPort: number; httpsPort: number; ingressClass: string[]; workers: number; metricsPort: number; accessLog?: string; bindAddress: string }) => runUntilSignal('ingress', async () => {
      // Each part is loaded only when its verb runs, so `podgate server` starts without them.
      const { IngressController } = await import('../ingress/index.ts');
      const client = new KubeClient(configFromKubeconfig(f.kubeconfig));
      const accessLog = f.accessLog ? openAccessLog(f.accessLog) : undefined;
      const ingress = new IngressController({
        workers: f.workers, metricsPort: f.metricsPort || null, ...(accessLog ? { proxy: { onAccess: accessLog.onAccess } } : {}),
        client, addresses: [f.nodeIp ?? detectNodeIP()], bindAddress: f.bindAddress, httpPort: f.httpPort || null,
        httpsPort: f.httpsPort || null, classes: f.ingressClass, log,
        events: new EventRecorder({ client, source: { component: 'podgate-ingress' }, log }),
      });
      await ingress.start();
      return async () => { await ingress.stop(); await accessLog?.close(); client.close(); };
    }));
  common(program.command('proxy').description('run only the nftables service proxy (kube-proxy) against a cluster; needs root'))
    .option('--cluster-cidr <cidr>', 'the pod range (traffic from outside it is masqueraded)')
    .option('--service-cluster-ip-range <cidr>', 'the Service range (its unallocated addresses are dropped at once)')
    .action((f: ComponentFlags & { clusterCidr?: string; serviceClusterIpRange?: string }) => runUntilSignal('proxy', async () => {
      const { ServiceProxy } = await import('../proxy/index.ts');
      const client = new KubeClient(configFromKubeconfig(f.kubeconfig));
      const proxy = new ServiceProxy({ client, nodeName: (f.nodeName ?? hostname()).toLowerCase(), nodeAddresses: [f.nodeIp ?? detectNodeIP()], clusterCIDR: f.clusterCidr, ...(f.serviceClusterIpRange ? { serviceCIDRs: [f.serviceClusterIpRange] } : {}), log });
      await proxy.start();
      return async () => { await proxy.stop(); client.close(); };
    }));
  common(program.command('lb').description('run only the LoadBalancer address announcer (L2) for this node against a cluster; needs root'))
    .action((f: ComponentFlags) => runUntilSignal('lb', async () => {
      const { L2Announcer } = await import('../lb/l2-announcer.ts');
      const client = new KubeClient(configFromKubeconfig(f.kubeconfig));
      const announcer = new L2Announcer({ client, nodeName: (f.nodeName ?? hostname()).toLowerCase(), stateDir: join(f.dataDir, 'node'), log });
      await announcer.start();
      return async () => { await announcer.stop(); client.close(); };
    }));
}
