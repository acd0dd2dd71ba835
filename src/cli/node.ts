// The node half of `podgate up`: pod network, process runtime, node agent and its kubelet
// endpoint, service proxy, ingress and LoadBalancer announcer, wired together.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { NodeAgent } from '../agent/agent.ts';
import { kubeletHandlers } from '../agent/kubelet-handlers.ts';
import { KubeletServer } from '../agent/kubelet-server.ts';
import { BRIDGE_NAME, PodNetwork } from '../agent/network/index.ts';
import { ProcessRuntimePort } from '../agent/process-runtime-port.ts';
import { compileBuiltinImages } from '../agent/images/compile-images.ts';
import { BUILTIN_IMAGES_DIR, loadImageTable } from '../agent/runtime/image-table.ts';
import { LogStore } from '../agent/runtime/log-store.ts';
import { ProcessRuntime } from '../agent/runtime/process-runtime.ts';
import { EventRecorder } from '../client/event-recorder.ts';
import { IngressController } from '../ingress/index.ts';
import { type IngressRuntime, openAccessLog } from './ingress-options.ts';
import { L2Announcer } from '../lb/l2-announcer.ts';
import { ServiceProxy } from '../proxy/index.ts';
import type { KubeClient } from '../client/rest-client.ts';
import { issueCertificate, loadCertificateAuthority } from '../pki/index.ts';
import { runCommand, tryCommand } from '../util/exec.ts';
import { StartedParts } from '../util/started-parts.ts';

export interface NodeOptions {
  client: KubeClient;
  dataDir: string;
  nodeName: string;
  nodeIP: string;
  clusterCIDR: string;
  imageConfig?: string;
  pki: { ca: string; caKey: string };
  kubeletPort?: number;
  ingress: { httpPort: number; httpsPort: number; classes: string[]; tcpServicesConfigMap?: string; udpServicesConfigMap?: string } & IngressRuntime;
  /** The Service cluster IP range (for the node's route to it). */
  serviceCIDR: string;
  log: (m: string) => void;
}

export interface RunningNode {
  readonly podCIDR: string;
  stop(): Promise<void>;
}

/** The programs the node parts run, with the Debian package that has each. */
const requiredPrograms: [string, string][] = [['ip', 'iproute2'], ['nft', 'nftables'], ['nsenter', 'util-linux'], ['setpriv', 'util-linux']];

/** Fails at start, with what to install, rather than at the first pod. */
export function checkNodePrograms(): void {
  const dirs = (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':').concat(['/usr/sbin', '/sbin']);
  const missing = requiredPrograms.filter(([p]) => !dirs.some((d) => existsSync(join(d, p))));
  if (missing.length) {
    throw new Error(`the node agent needs ${missing.map(([p]) => p).join(', ')}: apt-get install ${[...new Set(missing.map(([, pkg]) => pkg))].join(' ')}`);
  }
}

/** Adds a route for the Service range via the pod bridge when the node has none; undone on stop. */
async function ensureServiceRoute(serviceCIDR: string, log: (m: string) => void): Promise<{ remove(): Promise<void> }> {
  const first = serviceCIDR.split('/')[0]!;
  if ((await tryCommand(runCommand, ['ip', 'route', 'get', first])).code === 0) return { remove: async () => {} };
  const add = await tryCommand(runCommand, ['ip', 'route', 'add', serviceCIDR, 'dev', BRIDGE_NAME]);
  if (add.code !== 0) {
    log(`node: could not add a route for ${serviceCIDR} via ${BRIDGE_NAME}: ${add.stderr.trim()}`);
    return { remove: async () => {} };
  }
  log(`node: routing ${serviceCIDR} via ${BRIDGE_NAME} (no other route to the Service range)`);
  return { remove: async () => { await tryCommand(runCommand, ['ip', 'route', 'del', serviceCIDR, 'dev', BRIDGE_NAME]); } };
}

export async function startNode(o: NodeOptions): Promise<RunningNode> {
  checkNodePrograms();
  const events = new EventRecorder({ client: o.client, source: { component: 'kubelet', host: o.nodeName }, log: o.log });
  const runtime = new ProcessRuntime({ stateDir: join(o.dataDir, 'node', 'pids') });
  const logs = new LogStore({ dir: join(o.dataDir, 'node', 'logs'), isRunning: (uid, c) => runtime.isRunning(uid, c) });
  const images = await loadImageTable({
    configFile: o.imageConfig ?? join(o.dataDir, 'images.yaml'),
    imagesDir: compileBuiltinImages(BUILTIN_IMAGES_DIR, join(o.dataDir, 'node', 'images')), scriptExtension: '.cjs',
  });
  let agent!: NodeAgent;
  const port = new ProcessRuntimePort({ runtime, logs, images, container: (uid, name) => agent.container(uid, name) });
  let podCIDR = '';
  agent = new NodeAgent({
    client: o.client, events, nodeName: o.nodeName, nodeIP: o.nodeIP, kubeletPort: o.kubeletPort ?? 10250, runtime: port, log: o.log,
    network: (cidr) => {
      podCIDR = cidr;
      return new PodNetwork({ nodeName: o.nodeName, nodeIP: o.nodeIP, podCIDR: cidr, clusterCIDR: o.clusterCIDR, stateDir: join(o.dataDir, 'node'), log: o.log });
    },
  });
  const ca = await loadCertificateAuthority(o.pki.ca, o.pki.caKey);
  const serving = await issueCertificate(ca, {
    commonName: o.nodeName, usage: 'server', now: new Date(),
    hosts: { ips: [...new Set([o.nodeIP, '127.0.0.1'])], dnsNames: [o.nodeName, 'localhost'] },
  });
  const kubelet = new KubeletServer({
    bindAddress: o.nodeIP === '127.0.0.1' ? '127.0.0.1' : '0.0.0.0',
    port: o.kubeletPort ?? 10250,
    tls: { cert: serving.certPem, key: serving.keyPem, ca: o.pki.ca },
    log: o.log,
    ...kubeletHandlers({ agent, logs, runtime: port, log: o.log }),
  });
  const accessLog = o.ingress.accessLog ? openAccessLog(o.ingress.accessLog) : undefined;
  const ingress = new IngressController({
    client: o.client, addresses: [o.nodeIP], bindAddress: '0.0.0.0',
    workers: o.ingress.workers, metricsPort: o.ingress.metricsPort || null, ...(accessLog ? { proxy: { onAccess: accessLog.onAccess } } : {}),
    httpPort: o.ingress.httpPort || null, httpsPort: o.ingress.httpsPort || null, classes: o.ingress.classes,
    // The seeds' Ingresses name no class; podgate is the only controller, so it serves them.
    watchWithoutClass: true,
    tcpServicesConfigMap: o.ingress.tcpServicesConfigMap, udpServicesConfigMap: o.ingress.udpServicesConfigMap,
    events: new EventRecorder({ client: o.client, source: { component: 'podgate-ingress' }, log: o.log }), log: o.log,
  });
  const parts = new StartedParts(o.log);
  await parts.orUndo(async () => {
    // The node's ports first (kubelet, ingress, metrics): one in use fails the start before any pod runs.
    await parts.start('kubelet endpoint', () => kubelet.listen(), () => kubelet.close());
    await parts.start('access log', () => accessLog, (l) => l?.close());
    await parts.start('ingress', () => ingress.start(), () => ingress.stop());
    // A pod network half set up (bridge, nft table) is undone too.
    await parts.start('node agent', () => agent.start(), () => agent.stop(), { halfway: true });
    // kube-proxy's part: ClusterIP, NodePort, LoadBalancer and external IPs in the kernel.
    const proxy = new ServiceProxy({ client: o.client, nodeName: o.nodeName, nodeAddresses: [o.nodeIP], clusterCIDR: o.clusterCIDR, serviceCIDRs: [o.serviceCIDR], log: o.log });
    await parts.start('service proxy', () => proxy.start(), () => proxy.stop());
    // The node reaches cluster IPs through the bridge when nothing else routes them (a real
    // machine's default route does; a test host may have none). The output hook DNATs them to pods.
    await parts.start('service route', () => ensureServiceRoute(o.serviceCIDR, o.log), (route) => route?.remove());
    const announcer = new L2Announcer({ client: o.client, nodeName: o.nodeName, stateDir: join(o.dataDir, 'node'), log: o.log });
    await parts.start('LoadBalancer announcer', () => announcer.start(), () => announcer.stop());
  });
  return {
    get podCIDR() { return podCIDR; },
    stop: () => parts.stopAll(),
  };
}
