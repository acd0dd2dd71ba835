// The cluster DNS of one node, podgate's CoreDNS: informers over the Kubernetes API (Services,
// EndpointSlices, Namespaces, and Pods for `pods verified`) feed a ClusterView; a UDP+TCP server on
// the node's pod-bridge address answers from it (records.ts) and forwards the rest upstream; and
// the `kube-system/kube-dns` Service plus this node's EndpointSlice behind it are kept through the
// API, so pods reach the server at the Service's cluster IP (10.96.0.10) through the service proxy.
import type { Namespace, Pod, Service } from 'kubernetes-types/core/v1.d.ts';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.d.ts';
import { StatusError } from '../api/errors.ts';
import type { KObject } from '../api/object.ts';
import { resources, type ResourceInfo } from '../api/resources.ts';
import { Informer, objectKey, stripReadOnly } from '../client/informer.ts';
import type { KubeClient } from '../client/rest-client.ts';
import { WorkQueue } from '../client/work-queue.ts';
import { buildClusterView, type ClusterView } from './cluster-view.ts';
import { DnsServer } from './dns-server.ts';
import { Forwarder } from './forwarder.ts';
import { KUBE_DNS_NAME, KUBE_DNS_NAMESPACE, kubeDnsSliceName, planKubeDns, staleKubeDnsSliceCandidates } from './kube-dns.ts';
import { handleQuery } from './query-handler.ts';
import type { PodsMode } from './records.ts';
import type { Upstream } from './resolv-conf.ts';

export interface ClusterDnsOptions {
  readonly client: KubeClient;
  readonly nodeName: string;
  /** `--cluster-domain`. */
  readonly clusterDomain: string;
  /** `--cluster-dns`: the kube-dns Service's cluster IP. */
  readonly clusterDNS: string;
  /** Where names outside the cluster go (resolv-conf.ts: forwardUpstreams). */
  readonly upstreams: readonly Upstream[];
  /** Default `insecure`, as kubeadm's Corefile. */
  readonly podsMode?: PodsMode;
  /** Default 30 s, as kubeadm's Corefile. */
  readonly ttl?: number;
  /** Default 53. */
  readonly port?: number;
  /** Keep kube-dns and this node's slice (default true; false for a server alone, in tests). */
  readonly manageService?: boolean;
  /** How long start() waits for the caches (CoreDNS: 5 s, then it serves, SERVFAIL for the cluster domain until synced). */
  readonly syncTimeoutMs?: number;
  /** Per-upstream timeout (default 2 s). */
  readonly forwardTimeoutMs?: number;
  readonly random?: (() => number) | null;
  readonly now?: () => number;
  /** How often slices of deleted nodes are looked for (default 60 s). */
  readonly sweepIntervalMs?: number;
  readonly log?: (m: string) => void;
}

const resource = (plural: string): ResourceInfo => resources.find((r) => r.resource === plural)!;
/** Changes are gathered for this long before the view is rebuilt (well under the spec's "within a second"). */
const REBUILD_DELAY_MS = 20;
const RECONCILE_KEY = 'kube-dns';

export class ClusterDns {
  readonly #o: ClusterDnsOptions;
  readonly #log: (m: string) => void;
  readonly #services: Informer;
  readonly #slices: Informer;
  readonly #namespaces: Informer;
  readonly #pods: Informer | undefined;
  readonly #forwarder: Forwarder;
  readonly #queue: WorkQueue;
  #view: ClusterView | undefined;
  #modified: number;
  #rebuild: NodeJS.Timeout | undefined;
  #server: DnsServer | undefined;
  #address: string | undefined;
  #lastWarning = '';
  #sweepTimer: NodeJS.Timeout | undefined;

  constructor(o: ClusterDnsOptions) {
    this.#o = o;
    this.#log = o.log ?? (() => {});
    this.#modified = Math.floor((o.now ?? Date.now)() / 1000);
    const onError = (what: string) => (err: unknown) => this.#log(`dns: ${what} watch: ${(err as Error).message}`);
    const make = (plural: string) => new Informer({ client: o.client, resource: resource(plural), transform: stripReadOnly, onError: onError(plural) });
    this.#services = make('services');
    this.#slices = make('endpointslices');
    this.#namespaces = make('namespaces');
    this.#pods = o.podsMode === 'verified' ? make('pods') : undefined;
    const changed = (obj: KObject) => {
      this.#changed();
      // The kube-dns Service or this node's slice changed (or went away): keep them as they should be.
      const key = objectKey(obj);
      if (key === `${KUBE_DNS_NAMESPACE}/${KUBE_DNS_NAME}` || key === `${KUBE_DNS_NAMESPACE}/${kubeDnsSliceName(o.nodeName)}`) this.#queue.add(RECONCILE_KEY);
    };
    for (const inf of this.#informers()) inf.addHandlers({ onAdd: changed, onUpdate: changed, onDelete: changed });
    this.#forwarder = new Forwarder({ upstreams: o.upstreams, ...(o.forwardTimeoutMs !== undefined ? { timeoutMs: o.forwardTimeoutMs } : {}) });
    this.#queue = new WorkQueue({
      process: () => this.#reconcile(), baseDelayMs: 500, maxDelayMs: 30_000,
      onError: (_k, err) => this.#log(`dns: keeping ${KUBE_DNS_NAMESPACE}/${KUBE_DNS_NAME}: ${(err as Error).message}`),
    });
  }

  /** The view answers come from now (undefined before the caches synced). */
  get view(): ClusterView | undefined {
    return this.#view;
  }

  /** Where the server listens, once it does. */
  get endpoint(): { address: string; port: number } | undefined {
    return this.#server ? { address: this.#server.address, port: this.#server.port } : undefined;
  }

  /** Starts the informers and waits for their first lists (at most syncTimeoutMs; never rejects). */
  async start(): Promise<void> {
    for (const inf of this.#informers()) inf.start();
    const synced = Promise.all(this.#informers().map((i) => i.waitForSync())).then(() => true);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((r) => { timer = setTimeout(() => r(false), this.#o.syncTimeoutMs ?? 5000); });
    const ok = await Promise.race([synced, timeout]);
    clearTimeout(timer);
    if (ok) this.#buildView();
    else {
      this.#log('dns: starting with unsynced Kubernetes API (cluster names answer SERVFAIL until it syncs)');
      void synced.then(() => this.#buildView());
    }
  }

  /**
   * Answers on `address` (UDP and TCP, port 53 unless told otherwise) and from then on keeps the
   * kube-dns Service and this node's slice naming that address (or `advertise`: the API rejects
   * loopback endpoints). Rejects when the port is taken.
   */
  async listen(address: string, opts: { advertise?: string } = {}): Promise<void> {
    const server = new DnsServer({
      address, port: this.#o.port ?? 53, log: this.#log,
      handle: (msg, transport) => handleQuery(msg, transport, {
        records: { zone: this.#o.clusterDomain.toLowerCase().replace(/\.+$/, ''), ttl: this.#o.ttl ?? 30, podsMode: this.#o.podsMode ?? 'insecure', nameserverIPs: this.#o.clusterDNS ? [this.#o.clusterDNS] : [] },
        view: () => this.#view, forwarder: this.#forwarder, log: this.#log,
        ...(this.#o.random !== undefined ? { random: this.#o.random } : {}),
      }),
    });
    await server.listen();
    this.#server = server;
    this.#address = opts.advertise ?? address;
    const ups = this.#o.upstreams.map((u) => u.host).join(', ');
    this.#log(`dns: cluster DNS for ${this.#o.clusterDomain} on ${address}:${server.port} (UDP, TCP), forwarding to ${ups || 'nothing (other names answer SERVFAIL)'}`);
    if (this.#o.manageService !== false && this.#o.clusterDNS) {
      this.#queue.add(RECONCILE_KEY);
      const sweep = () => {
        void this.#sweepDeletedNodes().catch((err: unknown) => this.#log(`dns: removing slices of deleted nodes: ${(err as Error).message}`));
        this.#sweepTimer = setTimeout(sweep, this.#o.sweepIntervalMs ?? 60_000);
        this.#sweepTimer.unref();
      };
      this.#sweepTimer = setTimeout(sweep, this.#o.sweepIntervalMs ?? 60_000);
      this.#sweepTimer.unref();
    }
  }

  /**
   * Each node removes its own slice when it stops; a node that crashed and was then deleted
   * (`kubectl delete node`) cannot, so the live nodes remove slices whose node no longer exists,
   * once the slice is old enough that a node just joining is in the API for sure.
   */
  async #sweepDeletedNodes(): Promise<void> {
    const now = (this.#o.now ?? Date.now)();
    const slices = this.#slices.list() as unknown as EndpointSlice[];
    const candidates = staleKubeDnsSliceCandidates(slices, this.#o.nodeName, now);
    if (candidates.length === 0) return;
    // One list of the nodes per sweep (not a GET per node: every node sweeps).
    const nodes = new Set((await this.#o.client.list(resource('nodes'))).items.map((n) => n.metadata.name));
    for (const name of candidates) {
      const slice = slices.find((x) => x.metadata?.name === name)!;
      const node = slice.endpoints?.[0]?.nodeName;
      if (!node || nodes.has(node)) continue;
      try {
        await this.#o.client.delete(resource('endpointslices'), KUBE_DNS_NAMESPACE, name, slice.metadata?.uid ? { preconditions: { uid: slice.metadata.uid } } : {});
        this.#log(`dns: removed ${KUBE_DNS_NAMESPACE}/${name}: node ${node} no longer exists`);
      } catch (err) {
        // Gone already, or replaced by a new slice of that name (another node removed it first).
        if (!(err instanceof StatusError && (err.code === 404 || err.code === 409))) throw err;
      }
    }
  }

  /**
   * Removes this node's slice from kube-dns (best effort), then stops answering and stops the
   * informers. The slice goes first: until the service proxies have dropped it, queries still
   * arrive here, and they are answered.
   */
  async stop(): Promise<void> {
    if (this.#sweepTimer) clearTimeout(this.#sweepTimer);
    this.#queue.stop();
    // A round in progress could put the slice back after its deletion.
    await this.#queue.idle();
    if (this.#rebuild) clearTimeout(this.#rebuild);
    if (this.#address !== undefined && this.#o.manageService !== false) {
      await this.#o.client.delete(resource('endpointslices'), KUBE_DNS_NAMESPACE, kubeDnsSliceName(this.#o.nodeName)).catch((err: unknown) => {
        if (!(err instanceof StatusError && err.code === 404)) this.#log(`dns: removing this node from ${KUBE_DNS_NAME}: ${(err as Error).message}`);
      });
    }
    await this.#server?.close();
    this.#server = undefined;
    await Promise.all(this.#informers().map((i) => i.stop()));
  }

  #informers(): Informer[] {
    return [this.#services, this.#slices, this.#namespaces, ...(this.#pods ? [this.#pods] : [])];
  }

  #changed(): void {
    this.#modified = Math.floor((this.#o.now ?? Date.now)() / 1000);
    if (this.#rebuild || !this.#informers().every((i) => i.hasSynced())) return;
    this.#rebuild = setTimeout(() => { this.#rebuild = undefined; this.#buildView(); }, REBUILD_DELAY_MS);
  }

  #buildView(): void {
    this.#view = buildClusterView({
      services: this.#services.list() as unknown as Service[],
      slices: this.#slices.list() as unknown as EndpointSlice[],
      namespaces: this.#namespaces.list() as unknown as Namespace[],
      ...(this.#pods ? { pods: this.#pods.list() as unknown as Pod[] } : {}),
      serial: this.#modified,
    });
  }

  async #reconcile(): Promise<void> {
    if (this.#address === undefined || this.#o.manageService === false || !this.#o.clusterDNS) return;
    const service = this.#services.get(`${KUBE_DNS_NAMESPACE}/${KUBE_DNS_NAME}`) as unknown as Service | undefined;
    const slice = this.#slices.get(`${KUBE_DNS_NAMESPACE}/${kubeDnsSliceName(this.#o.nodeName)}`) as unknown as EndpointSlice | undefined;
    const actions = planKubeDns({ service, slice }, { clusterIP: this.#o.clusterDNS, nodeName: this.#o.nodeName, address: this.#address, port: this.#server?.port ?? 53 });
    for (const a of actions) {
      if (a.kind === 'warn') {
        if (a.message !== this.#lastWarning) this.#log(`dns: ${a.message}`);
        this.#lastWarning = a.message;
        continue;
      }
      try {
        if (a.kind === 'create-service') {
          await this.#o.client.create(resource('services'), KUBE_DNS_NAMESPACE, a.service as unknown as KObject);
          this.#log(`dns: created Service ${KUBE_DNS_NAMESPACE}/${KUBE_DNS_NAME} (${this.#o.clusterDNS})`);
        } else if (a.kind === 'patch-service') {
          await this.#o.client.patch(resource('services'), KUBE_DNS_NAMESPACE, KUBE_DNS_NAME, a.patch);
          this.#log(`dns: set internalTrafficPolicy Local on Service ${KUBE_DNS_NAMESPACE}/${KUBE_DNS_NAME} (each node's pods ask their own node's DNS server)`);
        } else if (a.kind === 'create-slice') {
          await this.#o.client.create(resource('endpointslices'), KUBE_DNS_NAMESPACE, a.slice as unknown as KObject);
        } else if (a.kind === 'update-slice') {
          await this.#o.client.update(resource('endpointslices'), a.slice as unknown as KObject);
        } else {
          await this.#o.client.delete(resource('endpointslices'), KUBE_DNS_NAMESPACE, a.name, a.uid ? { preconditions: { uid: a.uid } } : {});
          this.#log(`dns: removed this node's DNS server from Service ${KUBE_DNS_NAMESPACE}/${KUBE_DNS_NAME}, which has a selector`);
        }
      } catch (err) {
        // The cache had not seen an object that exists (or that is gone): its event brings the next round.
        if (err instanceof StatusError && err.code === 409 && (a.kind === 'create-service' || a.kind === 'create-slice')) continue;
        if (err instanceof StatusError && err.code === 404 && a.kind === 'delete-slice') continue;
        throw err;
      }
    }
    // The Service was just created: its slice follows once its uid is known (next round).
    if (actions.some((a) => a.kind === 'create-service')) this.#queue.addAfter(RECONCILE_KEY, 200);
  }
}
