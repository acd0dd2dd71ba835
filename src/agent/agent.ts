// The node agent (podgate's kubelet): registers the Node, keeps it Ready, and runs the pods
// bound to it through one PodWorker each. Reads and writes cluster state only through the
// Kubernetes client.
import { cpus, hostname, totalmem, release, arch } from 'node:os';
import { readFileSync } from 'node:fs';
import type { ConfigMap, Container, ContainerStatus, Node, Pod, Secret, Service } from 'kubernetes-types/core/v1.d.ts';
import { StatusError } from '../api/errors.ts';
import type { KObject } from '../api/object.ts';
import { resources } from '../api/resources.ts';
import type { EventRecorder } from '../client/event-recorder.ts';
import { Informer } from '../client/informer.ts';
import type { KubeClient } from '../client/rest-client.ts';
import { WorkQueue } from '../client/work-queue.ts';
import { newNode, nodeLabelsPatch, nodeStatus, type NodeFacts } from './node-status.ts';
import { containerStatusOf } from './pod-status.ts';
import { PodWorker } from './pod-worker.ts';
import type { HostPortMapping, PodNetworkPort, RuntimePort } from './ports.ts';

const r = (name: string) => resources.find((x) => x.resource === name)!;

/**
 * The hostPort mappings of the node (pure, sorted): every port of the pods that run here now. A pod
 * being deleted, or finished (its sandbox is gone, as CNI portmap's DEL on StopPodSandbox), maps nothing.
 */
export function computeHostPortMappings(pods: readonly { pod: Pod; podIP: string | undefined; finished: boolean }[]): HostPortMapping[] {
  const mappings: HostPortMapping[] = [];
  for (const { pod, podIP, finished } of pods) {
    if (!podIP || finished || pod.spec?.hostNetwork || pod.metadata?.deletionTimestamp) continue;
    for (const c of pod.spec?.containers ?? []) {
      for (const p of c.ports ?? []) {
        if (!p.hostPort) continue;
        const m: HostPortMapping = { hostPort: p.hostPort, protocol: (p.protocol ?? 'TCP') as HostPortMapping['protocol'], podIP, containerPort: p.containerPort };
        if (p.hostIP) m.hostIP = p.hostIP;
        mappings.push(m);
      }
    }
  }
  return mappings.sort((a, b) => a.hostPort - b.hostPort || a.protocol.localeCompare(b.protocol) || a.podIP.localeCompare(b.podIP));
}

/**
 * A container of the pod by name, app or init container (pure): a probe or preStop hook names a
 * port of its own container, and a sidecar's is in `initContainers` (kubelet's findPortByName
 * looks in the probe's container, whichever list holds it).
 */
export function podContainer(pod: Pod | undefined, name: string): Container | undefined {
  return [...(pod?.spec?.containers ?? []), ...(pod?.spec?.initContainers ?? [])].find((c) => c.name === name);
}

/** A pod bound to this node, as findPod gives it. */
export interface FoundPod {
  pod: Pod;
  podIP?: string;
  netnsPath?: string;
  /** This node runs the pod now (its sandbox exists); false once it was stopped for deletion. */
  running: boolean;
  /** A container's status, or undefined when the pod has no such container. */
  containerStatus(container: string): ContainerStatus | undefined;
}

export interface NodeAgentOptions {
  client: KubeClient;
  events: EventRecorder;
  nodeName: string;
  nodeIP: string;
  /** The port of this node's kubelet endpoint, reported in its status (default 10250). */
  kubeletPort?: number;
  /** Labels set on the Node besides the well-known ones (--node-labels); null takes one off a Node registered before. */
  labels?: Readonly<Record<string, string | null>>;
  /** Builds the pod network once the control plane has given this node its podCIDR. */
  network: (podCIDR: string) => PodNetworkPort;
  runtime: RuntimePort;
  heartbeatMs?: number;
  /** How long pods get to stop when podgate itself stops. */
  shutdownGraceSeconds?: number;
  log?: (m: string) => void;
  now?: () => Date;
}

function k8sTime(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function osImage(): string {
  try {
    const m = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(readFileSync('/etc/os-release', 'utf8'));
    return m?.[1] ?? 'Linux';
  } catch {
    return 'Linux';
  }
}

/** The variables kubelet sets for the `kubernetes` Service in every container. */
export function masterServiceEnv(svc: Service | undefined): Record<string, string> {
  const ip = svc?.spec?.clusterIP;
  const port = svc?.spec?.ports?.find((p) => p.name === 'https')?.port ?? svc?.spec?.ports?.[0]?.port;
  if (!ip || ip === 'None' || !port) return {};
  const base = `KUBERNETES_PORT_${port}_TCP`;
  return {
    KUBERNETES_SERVICE_HOST: ip, KUBERNETES_SERVICE_PORT: String(port), KUBERNETES_SERVICE_PORT_HTTPS: String(port),
    KUBERNETES_PORT: `tcp://${ip}:${port}`, [base]: `tcp://${ip}:${port}`, [`${base}_PROTO`]: 'tcp',
    [`${base}_PORT`]: String(port), [`${base}_ADDR`]: ip,
  };
}

export class NodeAgent {
  readonly #o: NodeAgentOptions;
  readonly #log: (m: string) => void;
  readonly #now: () => Date;
  readonly #facts: NodeFacts;
  readonly #pods: Informer;
  readonly #configMaps: Informer;
  readonly #secrets: Informer;
  readonly #services: Informer;
  readonly #node: Informer;
  readonly #queue: WorkQueue;
  readonly #workers = new Map<string, PodWorker>();
  #network: PodNetworkPort | undefined;
  #hostPorts = '';
  #hostPortsChain: Promise<void> = Promise.resolve();
  #heartbeat: NodeJS.Timeout | undefined;
  #stopping = false;

  constructor(o: NodeAgentOptions) {
    this.#o = o;
    this.#log = o.log ?? (() => {});
    this.#now = o.now ?? (() => new Date());
    this.#facts = {
      name: o.nodeName, nodeIP: o.nodeIP, hostname: hostname(), cpus: cpus().length, memoryBytes: totalmem(),
      osImage: osImage(), kernelVersion: release(), architecture: arch() === 'x64' ? 'amd64' : arch(), version: 'v1.32.0-podgate', maxPods: 110, kubeletPort: o.kubeletPort ?? 10250,
      ...(o.labels ? { extraLabels: o.labels } : {}),
    };
    const onErr = (what: string) => (e: unknown) => this.#log(`agent ${what}: ${String(e)}`);
    this.#pods = new Informer({ client: o.client, resource: r('pods'), fieldSelector: `spec.nodeName=${o.nodeName}`, onError: onErr('pods') });
    this.#configMaps = new Informer({ client: o.client, resource: r('configmaps'), onError: onErr('configmaps') });
    this.#secrets = new Informer({ client: o.client, resource: r('secrets'), onError: onErr('secrets') });
    this.#services = new Informer({ client: o.client, resource: r('services'), fieldSelector: 'metadata.name=kubernetes', namespace: 'default', onError: onErr('services') });
    this.#node = new Informer({ client: o.client, resource: r('nodes'), fieldSelector: `metadata.name=${o.nodeName}`, onError: onErr('node') });
    // Pods start in parallel: most of a sync is waiting for `ip`, `nsenter` and the new process.
    this.#queue = new WorkQueue({ process: (uid) => this.#syncPod(uid), workers: 16, baseDelayMs: 200, maxDelayMs: 10_000, onError: (k, e) => this.#log(`pod ${k}: ${e instanceof Error ? e.message : String(e)}`) });
    const onPod = (o: KObject) => {
      const uid = o.metadata.uid!;
      const w = this.#workers.get(uid);
      if (w) w.update(o as unknown as Pod);
      this.#queue.add(uid);
    };
    // A pod gone from the API (force-deleted) stops starting anything at once, its postStart hooks
    // included, before its sync comes up in the queue.
    const onGone = (o: KObject) => {
      this.#workers.get(o.metadata.uid!)?.removed();
      this.#queue.add(o.metadata.uid!);
    };
    this.#pods.addHandlers({ onAdd: onPod, onUpdate: onPod, onDelete: onGone });
    o.runtime.onExit((e) => {
      const w = this.#workers.get(e.podUid);
      if (!w) return;
      w.onExit(e);
    });
  }

  /** A pod bound to this node by namespace/name, with where it runs (for logs, exec, port-forward). */
  findPod(namespace: string, name: string): FoundPod | undefined {
    const o = this.#pods.get(`${namespace}/${name}`) as unknown as Pod | undefined;
    if (!o) return undefined;
    const w = this.#workers.get(o.metadata!.uid!);
    return {
      pod: o, podIP: w?.podIP, netnsPath: w?.netnsPath, running: w !== undefined,
      // The node's own view first, as the kubelet's status manager: the API may lag behind it.
      containerStatus: (container) => {
        const rec = w?.containerRecord(container);
        if (rec) return containerStatusOf(rec);
        return [...(o.status?.containerStatuses ?? []), ...(o.status?.initContainerStatuses ?? [])].find((c) => c.name === container);
      },
    };
  }

  /** A container spec by pod uid (for probes' and hooks' named ports), sidecars included. */
  container(podUid: string, name: string): Container | undefined {
    return podContainer(this.#workers.get(podUid)?.pod, name);
  }

  /**
   * Creates the Node (or takes over the one of this name) and reports it with its addresses;
   * start() does it too. A joining node does it first: its serving certificate request is
   * approved against the addresses its Node reports.
   */
  async register(): Promise<void> {
    // Not Ready yet: nothing runs here until start(), and the scheduler must not bind pods to it.
    await this.#register(false);
  }

  /** Registers the Node, waits for its podCIDR, sets up the network, and starts running pods. */
  async start(): Promise<void> {
    await this.#register();
    this.#node.start();
    await this.#node.waitForSync();
    const podCIDR = await this.#waitForPodCIDR();
    this.#network = this.#o.network(podCIDR);
    await this.#o.runtime.killOrphans();
    await this.#network.setupNode();
    for (const inf of [this.#configMaps, this.#secrets, this.#services]) inf.start();
    await Promise.all([this.#configMaps.waitForSync(), this.#secrets.waitForSync(), this.#services.waitForSync()]);
    this.#pods.start();
    await this.#pods.waitForSync();
    // Networks left by a crashed run for pods no longer bound here.
    const live = new Set(this.#pods.list().map((p) => p.metadata.uid!));
    for (const uid of await this.#network.listPods()) if (!live.has(uid)) await this.#network.removePod(uid);
    // And their logs and files (resolv.conf, hosts), as the kubelet collects dead pods' logs.
    await this.#o.runtime.forgetAllBut?.(live);
    const beat = () => {
      void this.#writeNodeStatus(true).catch((e: unknown) => this.#log(`heartbeat: ${String(e)}`));
      this.#heartbeat = setTimeout(beat, this.#o.heartbeatMs ?? 10_000);
    };
    this.#heartbeat = setTimeout(beat, this.#o.heartbeatMs ?? 10_000);
  }

  /** Stops every pod (their API objects stay), removes the network, and marks the Node NotReady. */
  async stop(): Promise<void> {
    this.#stopping = true;
    if (this.#heartbeat) clearTimeout(this.#heartbeat);
    this.#queue.stop();
    const grace = this.#o.shutdownGraceSeconds ?? 5;
    await Promise.all([...this.#workers.values()].map((w) => w.terminate(Math.min(grace, w.pod.spec?.terminationGracePeriodSeconds ?? 30), false)));
    await this.#network?.teardownNode();
    await this.#writeNodeStatus(false).catch((e: unknown) => this.#log(`final node status: ${String(e)}`));
    await Promise.all([this.#pods, this.#configMaps, this.#secrets, this.#services, this.#node].map((i) => i.stop()));
  }

  async #register(ready = true): Promise<void> {
    const now = k8sTime(this.#now());
    try {
      await this.#o.client.create(r('nodes'), undefined, newNode(this.#facts, now) as unknown as KObject);
      this.#log(`registered node ${this.#o.nodeName}`);
    } catch (err) {
      if (!(err instanceof StatusError && err.code === 409)) throw err;
      await this.#o.client.patch(r('nodes'), undefined, this.#o.nodeName, { metadata: { labels: nodeLabelsPatch(this.#facts) } }, 'merge');
    }
    await this.#writeNodeStatus(ready);
  }

  async #writeNodeStatus(ready: boolean): Promise<void> {
    const cur = this.#node.get(this.#o.nodeName) as unknown as Node | undefined;
    const status = nodeStatus(this.#facts, ready, k8sTime(this.#now()), cur?.status);
    await this.#o.client.patch(r('nodes'), undefined, this.#o.nodeName, { status }, 'merge', 'status');
  }

  async #waitForPodCIDR(): Promise<string> {
    for (;;) {
      const n = this.#node.get(this.#o.nodeName) as unknown as Node | undefined;
      const cidr = n?.spec?.podCIDR;
      if (cidr) return cidr;
      await new Promise((res) => setTimeout(res, 50));
    }
  }

  #envContext(namespace: string) {
    const configMaps = new Map<string, ConfigMap>();
    const secrets = new Map<string, Secret>();
    for (const o of this.#configMaps.list()) if (o.metadata.namespace === namespace) configMaps.set(o.metadata.name!, o as unknown as ConfigMap);
    for (const o of this.#secrets.list()) if (o.metadata.namespace === namespace) secrets.set(o.metadata.name!, o as unknown as Secret);
    const svc = this.#services.get('default/kubernetes') as unknown as Service | undefined;
    const node = this.#node.get(this.#o.nodeName) as unknown as Node | undefined;
    const allocatable = (node?.status?.allocatable as Record<string, string> | undefined) ?? nodeStatus(this.#facts, true, '').allocatable as Record<string, string>;
    return { configMaps, secrets, serviceEnv: masterServiceEnv(svc), allocatable };
  }

  #podByUid(uid: string): Pod | undefined {
    return this.#pods.list().find((p) => p.metadata.uid === uid) as unknown as Pod | undefined;
  }

  async #syncPod(uid: string): Promise<void> {
    if (this.#stopping) return;
    const pod = this.#podByUid(uid);
    let w = this.#workers.get(uid);
    if (!pod) {
      // Gone from the API (force-deleted): stop what still runs.
      if (w) {
        await w.terminate(0, false);
        this.#workers.delete(uid);
        await this.#o.runtime.forget(uid);
        await this.#syncHostPorts();
      }
      return;
    }
    if (!w) {
      w = new PodWorker(pod, {
        nodeName: this.#o.nodeName, nodeIP: this.#o.nodeIP, network: this.#network!, runtime: this.#o.runtime,
        envContext: (ns) => this.#envContext(ns),
        writeStatus: (p, status) => this.#writeStatus(p, status),
        finalizeDelete: (p) => this.#finalizeDelete(p),
        networkReady: () => this.#syncHostPorts(),
        event: (p, type, reason, message, fieldPath) => this.#o.events.event(p as unknown as KObject, type, reason, message, fieldPath),
        requeue: (ms) => (ms <= 0 ? this.#queue.add(uid) : this.#queue.addAfter(uid, ms)),
        hostname: this.#facts.hostname, now: this.#now, log: this.#log,
      });
      this.#workers.set(uid, w);
    }
    w.update(pod);
    await w.sync();
    if (pod.metadata?.deletionTimestamp) this.#workers.delete(uid);
    await this.#syncHostPorts();
  }

  async #writeStatus(pod: Pod, status: NonNullable<Pod['status']>): Promise<string | undefined> {
    try {
      const written = await this.#o.client.patch(r('pods'), pod.metadata!.namespace, pod.metadata!.name!, { status }, 'merge', 'status');
      return written.metadata.resourceVersion;
    } catch (err) {
      if (!(err instanceof StatusError && err.code === 404)) throw err;
      return undefined;
    }
  }

  async #finalizeDelete(pod: Pod): Promise<void> {
    try {
      await this.#o.client.delete(r('pods'), pod.metadata!.namespace, pod.metadata!.name!, { gracePeriodSeconds: 0, preconditions: { uid: pod.metadata!.uid } });
    } catch (err) {
      if (!(err instanceof StatusError && (err.code === 404 || err.code === 409))) throw err;
    }
  }

  /**
   * hostPort mappings of every running pod on the node, programmed in one transaction when they
   * change. Serialized: two pods syncing at once must not program in the wrong order.
   */
  #syncHostPorts(): Promise<void> {
    const next = this.#hostPortsChain.then(() => this.#programHostPorts());
    this.#hostPortsChain = next.catch(() => {});
    return next;
  }

  async #programHostPorts(): Promise<void> {
    const mappings = computeHostPortMappings([...this.#workers.values()].map((w) => ({ pod: w.pod, podIP: w.podIP, finished: w.isFinished })));
    const key = JSON.stringify(mappings);
    if (key === this.#hostPorts) return;
    await this.#network!.setHostPorts(mappings);
    this.#hostPorts = key;
  }
}
