// The composition root of the control plane: store, API machinery, registry, API server,
// certificates, kubeconfig and controllers, started in order and stopped in reverse.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Service } from 'kubernetes-types/core/v1.d.ts';
import { resources } from '../api/resources.ts';
import { bootstrapCluster } from '../apiserver/bootstrap.ts';
import { defaultMachinery } from '../apiserver/default-machinery.ts';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { podLogHandler } from '../apiserver/handlers/kubelet-proxy.ts';
import { proxyHandler } from '../apiserver/handlers/proxy.ts';
import { responseStyle } from '../apiserver/http.ts';
import type { ResourceRequest } from '../apiserver/request-info.ts';
import { Registry } from '../apiserver/registry/registry.ts';
import { formatIpv4, parseCidr } from '../api/net/cidr.ts';
import { ServiceAllocator } from '../apiserver/registry/service-allocator.ts';
import { defaultStrategies } from '../apiserver/registry/strategies.ts';
import { storageKey } from '../apiserver/object-meta.ts';
import { ApiServer } from '../apiserver/server.ts';
import { KubeClient } from '../client/rest-client.ts';
import { StatusError } from '../api/errors.ts';
import type { KObject } from '../api/object.ts';
import { caCertHash, clusterInfoKubeconfig } from '../pki/cluster-info.ts';
import { EventRecorder } from '../client/event-recorder.ts';
import { EndpointSliceController } from '../controllers/endpointslice/endpointslice-controller.ts';
import { GarbageCollector } from '../controllers/garbagecollector/garbage-collector.ts';
import { DeploymentController, ReplicaSetController } from '../controllers/workloads/index.ts';
import { ensureDefaultPool } from '../controllers/lbipam/default-pool.ts';
import { LbIpamController } from '../controllers/lbipam/lbipam-controller.ts';
import { NamespaceController } from '../controllers/namespace/namespace-controller.ts';
import { NodeIpamController } from '../controllers/nodeipam/node-ipam-controller.ts';
import { Scheduler } from '../controllers/scheduler/scheduler.ts';
import { NodeLifecycleController } from '../controllers/nodelifecycle/index.ts';
import { CertificateController, CsrCleaner } from '../controllers/certificates/index.ts';
import { TaintEvictionController } from '../controllers/tainteviction/index.ts';
import { PodGcController } from '../controllers/podgc/index.ts';
import { Authenticator, ensurePki, writeKubeconfig } from '../pki/index.ts';
import { SqliteStore } from '../store/sqlite-store.ts';
import type { ControlPlaneFlags } from './flags.ts';

export interface RunningControlPlane {
  readonly kubeconfig: string;
  readonly url: string;
  readonly client: KubeClient;
  /** Credentials for in-process components (the node agent) to build their own clients. */
  readonly pki: { ca: string; caKey: string; adminCert: string; adminKey: string; kubeletServingCa: string; kubeletServingCaKey: string };
  /** How another machine joins this cluster as a node (none when the API server listens on loopback only). */
  readonly joinCommand?: string;
  stop(): Promise<void>;
}

/**
 * kubeadm's kube-public/cluster-info: the API server's address and CA for joining nodes, readable
 * without credentials; a node trusts it only when the CA matches the pin in its join command.
 */
async function publishClusterInfo(client: KubeClient, server: string, caPem: string): Promise<void> {
  const configMaps = resources.find((r) => r.resource === 'configmaps')!;
  const body = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cluster-info', namespace: 'kube-public' }, data: { kubeconfig: clusterInfoKubeconfig(server, caPem) } };
  try {
    await client.create(configMaps, 'kube-public', body as unknown as KObject);
  } catch (err) {
    if (!(err instanceof StatusError && err.code === 409)) throw err;
    await client.patch(configMaps, 'kube-public', 'cluster-info', { data: body.data }, 'merge');
  }
}

/**
 * `reservedPorts`: the TCP ports podgate itself listens on at node addresses, which a LoadBalancer
 * Service given a node address may not take (default: the usual ones, see DEFAULT_RESERVED_PORTS).
 */
export async function startControlPlane(flags: ControlPlaneFlags & { nodeIp: string; reservedPorts?: readonly number[] }, log: (m: string) => void): Promise<RunningControlPlane> {
  mkdirSync(flags.dataDir, { recursive: true, mode: 0o700 });
  const store = new SqliteStore({ path: join(flags.dataDir, 'state.db') });
  const machinery = defaultMachinery();
  const allocator = new ServiceAllocator({
    serviceCIDR: flags.serviceClusterIpRange, nodePortRange: flags.serviceNodePortRange, random: Math.random,
  });
  // The first address of the range belongs to the `kubernetes` Service; bootstrap requests it and
  // the allocator keeps it reserved afterwards.
  const serviceIP = formatIpv4(parseCidr(flags.serviceClusterIpRange).base + 1);
  // Allocations are rebuilt from what is stored, so a restart never hands an IP or port out twice.
  const svcInfo = resources.find((r) => r.resource === 'services')!;
  const stored = await store.list(storageKey(svcInfo, undefined));
  const report = allocator.rebuild(stored.entries.map((e) => JSON.parse(e.value) as Service));
  if (report.duplicates.length) log(`warning: stored services share allocations: ${report.duplicates.join(', ')}`);
  const registry = new Registry({
    store,
    strategies: defaultStrategies({ serviceAllocator: allocator }),
    applyDefaults: machinery.applyDefaults,
    validate: machinery.validate,
  });
  const loopbackOnly = flags.bindAddress === '127.0.0.1';
  const apiAddress = flags.bindAddress === '0.0.0.0' ? flags.nodeIp : flags.bindAddress;
  const pki = await ensurePki({
    dir: join(flags.dataDir, 'pki'),
    hosts: { ips: [...new Set(['127.0.0.1', flags.nodeIp, apiAddress])], dnsNames: ['localhost'] },
    serviceIp: serviceIP,
  });
  // kube-apiserver's kubelet client: the admin certificate, which every kubelet accepts; kubelets
  // are trusted by the kubelet-serving CA only (--kubelet-certificate-authority).
  const kubelet = { ca: pki.kubeletServingCa, cert: pki.adminCert, key: pki.adminKey };
  const proxyHttp = proxyHandler(registry, kubelet);
  const proxy = (req: IncomingMessage, res: ServerResponse, info: ResourceRequest, url: URL) => proxyHttp(req, res, info, url, responseStyle(req, url));
  const server = new ApiServer({
    registry, machinery,
    tls: { key: pki.serverKey, cert: pki.serverCert, ca: pki.ca },
    authenticator: new Authenticator({ tokensCsv: pki.tokensCsv, caPem: pki.ca }),
    bindAddress: flags.bindAddress,
    port: flags.securePort,
    advertiseHost: apiAddress,
    kubelet,
    subresources: new Map([
      ['pods/log', podLogHandler(registry, kubelet)],
      ...(['services/proxy', 'pods/proxy', 'nodes/proxy'] as const).map((k) => [k, proxy] as const),
    ]),
    log,
  });
  // Listening first: with --secure-port 0 the port the `kubernetes` Service points at is known only then.
  const addr = await server.listen();
  await bootstrapCluster(registry, { serviceIP, apiAddress: loopbackOnly ? flags.nodeIp : apiAddress, apiPort: addr.port });
  allocator.reserveKubernetesServiceIP();
  const host = flags.bindAddress === '0.0.0.0' ? '127.0.0.1' : flags.bindAddress;
  const url = `https://${host}:${addr.port}`;
  const kubeconfig = flags.kubeconfig ?? join(flags.dataDir, 'kubeconfig');
  await writeKubeconfig(kubeconfig, { server: url, caPem: pki.ca, user: { certPem: pki.adminCert, keyPem: pki.adminKey } });
  const client = new KubeClient({ server: url, caPem: pki.ca, certPem: pki.adminCert, keyPem: pki.adminKey, userAgent: 'podgate-controller-manager' });
  // Nodes join at the address other machines reach (not at a loopback-only API server).
  const joinServer = loopbackOnly ? undefined : `https://${apiAddress.includes(':') ? `[${apiAddress}]` : apiAddress}:${addr.port}`;
  if (joinServer) await publishClusterInfo(client, joinServer, pki.ca);
  const events = new EventRecorder({ client, source: { component: 'podgate-controller-manager' }, log });
  const namespaces = new NamespaceController({ client, log });
  namespaces.start();
  const endpointSlices = new EndpointSliceController({ client, log });
  await endpointSlices.start();
  const nodeIpam = new NodeIpamController({ client, events, clusterCIDR: flags.clusterCidr, log });
  await nodeIpam.start();
  const lbIpam = new LbIpamController({ client, log, ...(flags.reservedPorts ? { reservedPorts: flags.reservedPorts } : {}) });
  await lbIpam.start();
  if (flags.lbPool?.length) await ensureDefaultPool(client, flags.lbPool);
  const scheduler = new Scheduler({ client, events: new EventRecorder({ client, source: { component: 'default-scheduler' }, log }), log });
  await scheduler.start();
  // Joining nodes' client and kubelet serving certificates (kube-controller-manager's csrapproving
  // and csrsigning controllers, with podgate's approval of kubelet-serving requests).
  const certificates = new CertificateController({ client, ca: { certPem: pki.ca, keyPem: pki.caKey },
    kubeletServingCa: { certPem: pki.kubeletServingCa, keyPem: pki.kubeletServingCaKey }, log,
    events: new EventRecorder({ client, source: { component: 'certificate-controller' }, log }) });
  await certificates.start();
  const nodeLifecycle = new NodeLifecycleController({ client, gracePeriodMs: flags.nodeMonitorGracePeriod, log,
    events: new EventRecorder({ client, source: { component: 'node-controller' }, log }) });
  await nodeLifecycle.start();
  // Pods on a node tainted NoExecute (unreachable, not-ready) go once their toleration runs out (300 s by default).
  const taintEviction = new TaintEvictionController({ client, log,
    events: new EventRecorder({ client, source: { component: 'taint-eviction-controller' }, log }) });
  await taintEviction.start();
  const csrCleaner = new CsrCleaner({ client, log });
  await csrCleaner.start();
  // Pods of deleted nodes, terminating pods of out-of-service nodes, unscheduled terminating pods.
  const podGc = new PodGcController({ client, log });
  await podGc.start();
  const replicaSets = new ReplicaSetController({ client, events: new EventRecorder({ client, source: { component: 'replicaset-controller' }, log }), log });
  await replicaSets.start();
  const deployments = new DeploymentController({ client, events: new EventRecorder({ client, source: { component: 'deployment-controller' }, log }), log });
  await deployments.start();
  const garbageCollector = new GarbageCollector({ client, log });
  await garbageCollector.start();
  return {
    kubeconfig, url, client,
    pki: { ca: pki.ca, caKey: pki.caKey, adminCert: pki.adminCert, adminKey: pki.adminKey, kubeletServingCa: pki.kubeletServingCa, kubeletServingCaKey: pki.kubeletServingCaKey },
    ...(joinServer && pki.joinToken ? { joinCommand: `podgate agent --server ${joinServer} --token ${pki.joinToken} --discovery-token-ca-cert-hash ${caCertHash(pki.ca)}` } : {}),
    async stop() {
      await garbageCollector.stop();
      await deployments.stop();
      await replicaSets.stop();
      await podGc.stop();
      await csrCleaner.stop();
      await taintEviction.stop();
      await nodeLifecycle.stop();
      await certificates.stop();
      await scheduler.stop();
      await lbIpam.stop();
      await nodeIpam.stop();
      await endpointSlices.stop();
      await namespaces.stop();
      client.close();
      await server.close();
      await store.close();
    },
  };
}
