// The node half of `podgate up`: pod network, process runtime, node agent and its kubelet
// endpoint, service proxy, ingress and LoadBalancer announcer, wired together.
import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Pod } from 'kubernetes-types/core/v1.d.ts';
import { NodeAgent } from '../agent/agent.ts';
import { kubeletHandlers } from '../agent/kubelet-handlers.ts';
import { KubeletServer } from '../agent/kubelet-server.ts';
import { BRIDGE_NAME, NodeRoutes, PodNetwork } from '../agent/network/index.ts';
import { ProcessRuntimePort } from '../agent/process-runtime-port.ts';
import { compileBuiltinImages } from '../agent/images/compile-images.ts';
import { BUILTIN_IMAGES_DIR, loadImageTable } from '../agent/runtime/image-table.ts';
import { LogStore } from '../agent/runtime/log-store.ts';
import { ProcessRuntime } from '../agent/runtime/process-runtime.ts';
import { PodFiles, type PodFilesHook } from '../agent/runtime/pod-files.ts';
import type { PodNetworkPort } from '../agent/ports.ts';
import type { KObject } from '../api/object.ts';
import { ClusterDns, defaultClusterDNS, defaultResolvConfPath, forwardUpstreams, parseResolvConf, podDnsFiles } from '../dns/index.ts';
import { EventRecorder } from '../client/event-recorder.ts';
import { IngressController } from '../ingress/index.ts';
import { INGRESS_NODE_LABEL } from '../ingress/ingress-nodes.ts';
import { GatewaySource } from '../gateway/index.ts';
import { type IngressRuntime, openAccessLog } from './ingress-options.ts';
import { L2Announcer } from '../lb/l2-announcer.ts';
import { ServiceProxy } from '../proxy/index.ts';
import type { KubeClient } from '../client/rest-client.ts';
import { issueCertificate, loadCertificateAuthority, type CertKeyPem } from '../pki/index.ts';
import { runCommand, tryCommand } from '../util/exec.ts';
import { StartedParts } from '../util/started-parts.ts';

export interface NodeOptions {
  client: KubeClient;
  dataDir: string;
  nodeName: string;
  nodeIP: string;
  clusterCIDR: string;
  imageConfig?: string;
  /** The cluster CA: who may call the kubelet endpoint (the kubelet's --client-ca-file). */
  caPem: string;
  /**
   * The kubelet endpoint's serving certificate. It may register the Node first: a joining node's
   * certificate request is approved against the addresses its Node reports.
   */
  servingCertificate: (registerNode: () => Promise<void>) => Promise<CertKeyPem>;
  kubeletPort?: number;
  ingress: { httpPort: number; httpsPort: number; classes: string[]; tcpServicesConfigMap?: string; udpServicesConfigMap?: string } & IngressRuntime;
  /** The Service cluster IP range (for the node's route to it). */
  serviceCIDR: string;
  /** The kubelet's --cluster-domain, --cluster-dns ("" : off) and --resolv-conf ("" : none); see flags.ts for the defaults. */
  dns?: { clusterDomain?: string | undefined; clusterDNS?: string | undefined; resolvConf?: string | undefined };
  log: (m: string) => void;
}

export interface RunningNode {
  readonly podCIDR: string;
  stop(): Promise<void>;
}

/** The programs the node parts run, with the Debian package that has each. */
const requiredPrograms: [string, string][] = [['ip', 'iproute2'], ['nft', 'nftables'], ['nsenter', 'util-linux'], ['setpriv', 'util-linux'], ['unshare', 'util-linux'], ['mount', 'mount'], ['script', 'bsdutils']];

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

/** The node's DNS settings with the kubelet's defaults filled in. */
function nodeDnsSettings(o: NodeOptions): { clusterDomain: string; clusterDNS: string; resolvConf: string } {
  return {
    clusterDomain: o.dns?.clusterDomain ?? 'cluster.local',
    clusterDNS: o.dns?.clusterDNS ?? defaultClusterDNS(o.serviceCIDR),
    resolvConf: o.dns?.resolvConf ?? defaultResolvConfPath({ exists: existsSync, read: (p) => readFileSync(p, 'utf8') }),
  };
}

/**
 * The cluster DNS of this node (podgate's CoreDNS), forwarding to the --resolv-conf servers; none
 * with --cluster-dns "".
 */
function startClusterDns(o: NodeOptions, dns: ReturnType<typeof nodeDnsSettings>): ClusterDns | undefined {
  if (dns.clusterDNS === '') return undefined;
  let text = '';
  try {
    if (dns.resolvConf !== '') text = readFileSync(dns.resolvConf, 'utf8');
  } catch (err) {
    o.log(`dns: reading ${dns.resolvConf}: ${(err as Error).message}; names outside ${dns.clusterDomain} will answer SERVFAIL`);
  }
  const { upstreams, skipped } = forwardUpstreams(parseResolvConf(text).conf, [dns.clusterDNS]);
  for (const s of skipped) o.log(`dns: not forwarding to ${s.address} from ${dns.resolvConf}: ${s.why}`);
  return new ClusterDns({ client: o.client, nodeName: o.nodeName, clusterDomain: dns.clusterDomain, clusterDNS: dns.clusterDNS, upstreams, log: o.log });
}

/** The pod network, with something run once its bridge is up (before any pod starts). */
function afterNodeSetup(net: PodNetworkPort, then: () => Promise<void>): PodNetworkPort {
  return {
    setupNode: async () => { await net.setupNode(); await then(); },
    addPod: (p) => net.addPod(p), removePod: (uid) => net.removePod(uid), setHostPorts: (m) => net.setHostPorts(m),
    listPods: () => net.listPods(), teardownNode: () => net.teardownNode(),
  };
}

/** The serving certificate of the node that runs beside the control plane, issued by the kubelet-serving CA directly. */
export async function issueServingCertificate(pki: { ca: string; caKey: string }, nodeName: string, nodeIP: string): Promise<CertKeyPem> {
  const ca = await loadCertificateAuthority(pki.ca, pki.caKey);
  return issueCertificate(ca, {
    commonName: nodeName, usage: 'server', now: new Date(),
    hosts: { ips: [...new Set([nodeIP, '127.0.0.1'])], dnsNames: [nodeName, 'localhost'] },
  });
}

export async function startNode(o: NodeOptions): Promise<RunningNode> {
  checkNodePrograms();
  const events = new EventRecorder({ client: o.client, source: { component: 'kubelet', host: o.nodeName }, log: o.log });
  const dns = nodeDnsSettings(o);
  const clusterDns = startClusterDns(o, dns);
  // Pods are given the cluster DNS only once this node's server answers: a nameserver nobody
  // answers on would time out every lookup, the node's own names too.
  let dnsAnswers = false;
  // Each pod's /etc/resolv.conf and /etc/hosts as the kubelet builds them, bind-mounted over the host's.
  const podFiles = new PodFiles({ dir: join(o.dataDir, 'node', 'pod-files') });
  const nodeRef = { apiVersion: 'v1', kind: 'Node', metadata: { name: o.nodeName } } as KObject;
  const podFilesHook: PodFilesHook = {
    prepare: async (pod: Pod, podIP: string) => {
      const hostResolvConf = dns.resolvConf === '' ? undefined : parseResolvConf(await readFile(dns.resolvConf, 'utf8')).conf;
      // A hostNetwork pod with hostAliases gets the node's hosts file with them (the kubelet's nodeHostsFileContent).
      const nodeHosts = pod.spec?.hostNetwork && (pod.spec.hostAliases ?? []).length > 0 ? await readFile('/etc/hosts', 'utf8') : undefined;
      const f = podDnsFiles(pod, [podIP], { clusterDNS: dnsAnswers && dns.clusterDNS ? [dns.clusterDNS] : [], clusterDomain: dns.clusterDomain, hostResolvConf, nodeIPs: [o.nodeIP], nodeHosts });
      for (const e of f.events) if (e.on === 'node') events.event(nodeRef, e.type, e.reason, e.message);
      return { bindMounts: await podFiles.write(pod.metadata!.uid!, f), events: f.events.filter((e) => e.on === 'pod') };
    },
    remove: (uid: string) => podFiles.remove(uid),
    list: () => podFiles.list(),
  };
  const runtime = new ProcessRuntime({ stateDir: join(o.dataDir, 'node', 'pids') });
  const logs = new LogStore({ dir: join(o.dataDir, 'node', 'logs'), isRunning: (uid, c) => runtime.isRunning(uid, c) });
  const images = await loadImageTable({
    configFile: o.imageConfig ?? join(o.dataDir, 'images.yaml'),
    imagesDir: compileBuiltinImages(BUILTIN_IMAGES_DIR, join(o.dataDir, 'node', 'images')), scriptExtension: '.cjs',
  });
  let agent!: NodeAgent;
  const port = new ProcessRuntimePort({ runtime, logs, images, container: (uid: string, name: string) => agent.container(uid, name), podFiles: podFilesHook });
  let podCIDR = '';
  // A node whose proxy listens is labelled so; every node's ingress reports the addresses of the
  // labelled Ready ones. One with both ports 0 serves nothing: no label (taken off if an earlier run set it).
  const servesIngress = !!(o.ingress.httpPort || o.ingress.httpsPort);
  agent = new NodeAgent({
    client: o.client, events, nodeName: o.nodeName, nodeIP: o.nodeIP, kubeletPort: o.kubeletPort ?? 10250, runtime: port, log: o.log,
    labels: { [INGRESS_NODE_LABEL]: servesIngress ? 'true' : null },
    network: (cidr) => {
      podCIDR = cidr;
      const net = new PodNetwork({ nodeName: o.nodeName, nodeIP: o.nodeIP, podCIDR: cidr, clusterCIDR: o.clusterCIDR, stateDir: join(o.dataDir, 'node'), log: o.log });
      // Cluster DNS answers on the bridge address, which exists once the bridge is up: before any pod runs.
      return clusterDns ? afterNodeSetup(net, () => clusterDns.listen(net.gateway).then(() => { dnsAnswers = true; }, (err: unknown) => {
        o.log(`dns: cannot answer on ${net.gateway}:53 (${(err as Error).message}); pods on this node have no cluster DNS (the kubelet's MissingClusterDNS: dnsPolicy ClusterFirst falls back to Default)`);
      })) : net;
    },
  });
  const serving = await o.servingCertificate(() => agent.register());
  const kubelet = new KubeletServer({
    bindAddress: o.nodeIP === '127.0.0.1' ? '127.0.0.1' : '0.0.0.0',
    port: o.kubeletPort ?? 10250,
    tls: { cert: serving.certPem, key: serving.keyPem, ca: o.caPem },
    log: o.log,
    ...kubeletHandlers({ agent, logs, runtime: port, log: o.log }),
  });
  const accessLog = o.ingress.accessLog ? openAccessLog(o.ingress.accessLog) : undefined;
  // Reported only until this node's Node (labelled) is seen: a node that serves nothing offers no address.
  const ingressFallback = servesIngress ? [o.nodeIP] : [];
  const ingress = new IngressController({
    client: o.client, addresses: ingressFallback, bindAddress: '0.0.0.0',
    workers: o.ingress.workers, metricsPort: o.ingress.metricsPort || null, ...(accessLog ? { proxy: { onAccess: accessLog.onAccess } } : {}),
    httpPort: o.ingress.httpPort || null, httpsPort: o.ingress.httpsPort || null, classes: o.ingress.classes,
    // The seeds' Ingresses name no class; podgate is the only controller, so it serves them.
    watchWithoutClass: true,
    tcpServicesConfigMap: o.ingress.tcpServicesConfigMap, udpServicesConfigMap: o.ingress.udpServicesConfigMap,
    events: new EventRecorder({ client: o.client, source: { component: 'podgate-ingress' }, log: o.log }), log: o.log,
    // The Gateway API (GatewayClass controllerName podgate.io/gateway-controller) on the same proxy.
    routeSources: [new GatewaySource({ client: o.client, addresses: ingressFallback, httpPort: o.ingress.httpPort || null, httpsPort: o.ingress.httpsPort || null, log: o.log })],
  });
  const parts = new StartedParts(o.log);
  await parts.orUndo(async () => {
    // The node's ports first (kubelet, ingress, metrics): one in use fails the start before any pod runs.
    await parts.start('kubelet endpoint', () => kubelet.listen(), () => kubelet.close());
    await parts.start('access log', () => accessLog, (l) => l?.close());
    await parts.start('ingress', () => ingress.start(), () => ingress.stop());
    // Its caches fill before the agent sets up the bridge it will answer on (stopped after the agent).
    if (clusterDns) await parts.start('cluster DNS', () => clusterDns.start(), () => clusterDns.stop());
    // Other nodes' pod ranges via their addresses (flannel's host-gw): in place before pods start,
    // and removed only after they stopped (their preStop hooks may call other nodes' pods).
    const routes = new NodeRoutes({ client: o.client, nodeName: o.nodeName, log: o.log });
    await parts.start('routes to other nodes', () => routes.start(), () => routes.stop());
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
