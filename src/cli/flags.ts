// The flags shared by `podgate up` and `podgate server`, with their defaults.
import { homedir } from 'node:os';
import { join } from 'node:path';
import { type Command, Option } from 'commander';
import { parseWorkers } from './ingress-options.ts';
import { DEFAULT_GRACE_PERIOD_MS } from '../controllers/nodelifecycle/index.ts';
import { parseDuration } from '../util/duration.ts';

export interface ControlPlaneFlags {
  dataDir: string;
  bindAddress: string;
  securePort: number;
  nodeIp?: string;
  serviceClusterIpRange: string;
  serviceNodePortRange: string;
  kubeconfig?: string;
  clusterCidr: string;
  lbPool?: string[];
  /** kube-controller-manager's --node-monitor-grace-period, in ms. */
  nodeMonitorGracePeriod: number;
}

export interface NodeFlags {
  nodeName?: string;
  imageConfig?: string;
  kubeletPort: number;
  ingressHttpPort: number;
  ingressHttpsPort: number;
  ingressClass: string[];
  ingressWorkers: number;
  ingressMetricsPort: number;
  ingressAccessLog?: string;
  tcpServicesConfigmap?: string;
  udpServicesConfigmap?: string;
  /** The kubelet's --cluster-domain. */
  clusterDomain: string;
  /** The kubelet's --cluster-dns (default: the 10th address of the Service range; "" turns cluster DNS off). */
  clusterDns?: string;
  /** The kubelet's --resolv-conf (default: /etc/resolv.conf, or systemd-resolved's upstream list; "" for none). */
  resolvConf?: string;
}

/** `podgate agent`: where the control plane is and how to join it, as kubeadm join's flags. */
export interface AgentFlags extends NodeFlags {
  server: string;
  token?: string;
  discoveryTokenCaCertHash?: string;
  dataDir: string;
  nodeIp?: string;
  clusterCidr: string;
  serviceClusterIpRange: string;
}

export function defaultDataDir(): string {
  return process.env.PODGATE_DATA_DIR ?? join(homedir(), '.podgate');
}

export function addControlPlaneFlags(cmd: Command): Command {
  return cmd
    .option('--data-dir <dir>', 'where state, certificates and the kubeconfig live', defaultDataDir())
    .option('--bind-address <ip>', 'address the API server listens on (0.0.0.0: every node address)', '0.0.0.0')
    .option('--secure-port <port>', 'HTTPS port of the API server', (v) => parsePort(v, '--secure-port'), 6443)
    .option('--node-ip <ip>', 'the node address (default: the address of the interface holding the default route)')
    .option('--service-cluster-ip-range <cidr>', 'range clusterIPs are allocated from', '10.96.0.0/12')
    .option('--service-node-port-range <range>', 'range nodePorts are allocated from', '30000-32767')
    .option('--kubeconfig <file>', 'where to write the admin kubeconfig (default: DATA_DIR/kubeconfig)')
    .option('--cluster-cidr <cidr>', 'pod address range; each node gets a /24 of it', '10.244.0.0/16')
    .addOption(new Option('--node-monitor-grace-period <duration>', 'how long a node may go without reporting before it is marked Unknown, tainted unreachable and its pods not ready, as kube-controller-manager\'s')
      .argParser((v) => parsePositiveDuration(v, '--node-monitor-grace-period')).default(DEFAULT_GRACE_PERIOD_MS, `${DEFAULT_GRACE_PERIOD_MS / 1000}s`))
    .option('--lb-pool <cidr-or-range...>', 'addresses for LoadBalancer Services (a MetalLB IPAddressPool "default" in metallb-system); without a pool they get the node address');
}

export function addAgentFlags(cmd: Command): Command {
  return cmd
    .requiredOption('--server <url>', 'the API server to join, e.g. https://192.0.2.2:6443 (the join command `podgate up` prints)')
    .option('--token <token>', 'the bootstrap token the node joins with (only for the first join: the node keeps its own certificate)')
    .option('--discovery-token-ca-cert-hash <sha256:hex>', 'the pin of the cluster CA\'s public key, as kubeadm join\'s (only for the first join)')
    .option('--data-dir <dir>', 'where the node keeps its certificates, pods\' logs and state', defaultDataDir())
    .option('--node-ip <ip>', 'the node address (default: the address of the interface holding the default route)')
    .option('--cluster-cidr <cidr>', 'pod address range of the cluster (the same as the control plane\'s --cluster-cidr)', '10.244.0.0/16')
    .option('--service-cluster-ip-range <cidr>', 'the cluster\'s Service range (the same as the control plane\'s)', '10.96.0.0/12');
}

export function addNodeFlags(cmd: Command): Command {
  return cmd
    .option('--node-name <name>', 'this node\'s name (default: the host name)')
    .option('--image-config <file>', 'YAML mapping image names to commands (default: DATA_DIR/images.yaml)')
    .option('--kubelet-port <port>', 'HTTPS port of the node agent\'s kubelet endpoint (logs, exec, port-forward), as kubelet\'s --port', (v) => parsePort(v, '--kubelet-port', 1), 10250)
    .option('--ingress-http-port <port>', 'HTTP port of the ingress proxy on every node address (0: off)', (v) => parsePort(v, '--ingress-http-port'), 80)
    .option('--ingress-https-port <port>', 'HTTPS port of the ingress proxy (0: off)', (v) => parsePort(v, '--ingress-https-port'), 443)
    .option('--ingress-class <name...>', 'Ingress classes served besides podgate.io/ingress IngressClasses', ['nginx'])
    .addOption(new Option('--ingress-workers <n|auto>', 'ingress proxy worker threads sharing its ports (auto: one per CPU, at most 4)')
      .argParser((v) => parseWorkers(v, '--ingress-workers')).default(parseWorkers('auto', ''), 'auto'))
    .option('--ingress-metrics-port <port>', 'port of the ingress controller\'s /metrics and /healthz (0: off)', (v) => parsePort(v, '--ingress-metrics-port'), 10254)
    .option('--ingress-access-log <file>', 'append one JSON line per ingress request to FILE (- for standard output)')
    .option('--tcp-services-configmap <ns/name>', 'ingress-nginx style ConfigMap of TCP ports to expose (port: ns/svc:port)')
    .option('--udp-services-configmap <ns/name>', 'ingress-nginx style ConfigMap of UDP ports to expose')
    .option('--cluster-domain <domain>', 'the cluster\'s DNS domain, as the kubelet\'s --cluster-domain', 'cluster.local')
    .option('--cluster-dns <ip>', 'the kube-dns Service address pods are told to use, as the kubelet\'s --cluster-dns (default: the 10th address of --service-cluster-ip-range, 10.96.0.10; "" turns cluster DNS off)')
    .option('--resolv-conf <file>', 'the node\'s resolver file, for dnsPolicy Default pods and where cluster DNS forwards other names, as the kubelet\'s --resolv-conf (default: /etc/resolv.conf, or /run/systemd/resolve/resolv.conf when that only names systemd-resolved\'s stub; "" for none)');
}

function parsePositiveDuration(v: string, flag: string): number {
  let ms = NaN;
  try { ms = parseDuration(v); } catch { /* reported below */ }
  if (!(ms > 0)) throw new Error(`${flag}: ${v} is not a positive duration (e.g. 50s, 1m30s)`);
  return ms;
}

export function parsePort(v: string, flag: string, min = 0): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > 65535) throw new Error(`${flag}: ${v} is not a port number`);
  return n;
}
