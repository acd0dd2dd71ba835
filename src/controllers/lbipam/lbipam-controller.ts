// Gives LoadBalancer Services their external addresses, as MetalLB's controller does: from
// metallb.io/v1beta1 IPAddressPools when any exist, otherwise (like k3s's ServiceLB) the nodes'
// own addresses with the Service's ports taken on those nodes. Writes status.loadBalancer.ingress
// and Events through the Kubernetes client; the allocators are in memory and rebuilt from the
// Services' status on start. Services of another loadBalancerClass are left alone.
import type { Namespace, Node, Pod, Service } from 'kubernetes-types/core/v1.d.ts';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.d.ts';
import { StatusError } from '../../api/errors.ts';
import type { KObject } from '../../api/object.ts';
import { resources } from '../../api/resources.ts';
import { EventRecorder } from '../../client/event-recorder.ts';
import { Informer, objectKey } from '../../client/informer.ts';
import type { KubeClient } from '../../client/rest-client.ts';
import { WorkQueue } from '../../client/work-queue.ts';
import { parseIp } from '../../api/net/ip.ts';
import { poolFor, readPools } from '../../api/net/metallb-pools.ts';
import { LbAllocator } from './allocator.ts';
import { candidateNodes, hostPortsByNode, NodeAddressAllocator, nodeAddresses, nodesWithAddresses } from './node-addresses.ts';
export { DEFAULT_RESERVED_PORTS } from './node-addresses.ts';
import {
  annotations, claimFor, convergeService, isLoadBalancer, isOurClass, serviceFamily, serviceKey, servicePorts, statusIps,
  type LbEvent,
} from './plan.ts';

const r = (name: string) => resources.find((x) => x.resource === name)!;

export interface LbIpamControllerOptions {
  client: KubeClient;
  /** Where Events go; by default a recorder reporting as `lb-ipam-controller`. */
  events?: EventRecorder;
  /**
   * Without pools (node addresses), TCP ports a Service may not take because podgate listens on
   * them at the node addresses: the ingress HTTP/HTTPS ports, the API server's and kubelet's
   * ports, the ingress metrics port. Default DEFAULT_RESERVED_PORTS (80, 443, 6443, 10250, 10254).
   */
  reservedPorts?: readonly number[];
  log?: (m: string) => void;
}

/** Sorts addresses numerically (IPv4 before IPv6), so statuses never depend on arrival order. */
export function sortIps(ips: readonly string[]): string[] {
  return [...ips].sort((a, b) => {
    const pa = parseIp(a);
    const pb = parseIp(b);
    if (!pa || !pb) return a.localeCompare(b);
    return pa.family - pb.family || (pa.value < pb.value ? -1 : pa.value > pb.value ? 1 : 0);
  });
}

function byAge(a: KObject, b: KObject): number {
  return (a.metadata.creationTimestamp ?? '').localeCompare(b.metadata.creationTimestamp ?? '') || objectKey(a).localeCompare(objectKey(b));
}

export class LbIpamController {
  readonly #client: KubeClient;
  readonly #events: EventRecorder;
  readonly #log: (m: string) => void;
  readonly #services: Informer;
  readonly #pools: Informer;
  readonly #nodes: Informer;
  readonly #namespaces: Informer;
  readonly #pods: Informer;
  readonly #slices: Informer;
  readonly #queue: WorkQueue;
  readonly #alloc = new LbAllocator();
  readonly #nodeAlloc: NodeAddressAllocator;
  /** Status we wrote that the cache may not show yet (our own writes are the truth until it does). */
  readonly #written = new Map<string, string[]>();
  #poolErrors = '';
  #ready = false;

  constructor(opts: LbIpamControllerOptions) {
    this.#client = opts.client;
    this.#nodeAlloc = new NodeAddressAllocator(opts.reservedPorts ? { reservedPorts: opts.reservedPorts } : {});
    this.#log = opts.log ?? (() => {});
    this.#events = opts.events ?? new EventRecorder({ client: opts.client, source: { component: 'lb-ipam-controller' }, log: this.#log });
    const informer = (resource: string) => new Informer({ client: opts.client, resource: r(resource), onError: (e) => this.#log(`lb-ipam ${resource}: ${String(e)}`) });
    this.#services = informer('services');
    this.#pools = informer('ipaddresspools');
    this.#nodes = informer('nodes');
    this.#namespaces = informer('namespaces');
    this.#pods = informer('pods');
    this.#slices = informer('endpointslices');
    // One worker: decisions are made one Service at a time against one allocator, as MetalLB does.
    this.#queue = new WorkQueue({ process: (k) => this.#sync(k), workers: 1, baseDelayMs: 100, maxDelayMs: 10_000, onError: (k, e) => this.#log(`lb-ipam ${k}: ${String(e)}`) });

    const svcChanged = (o: KObject) => {
      if (!this.#ready) return;
      const key = objectKey(o);
      const w = this.#written.get(key);
      if (w && sameList(w, statusIps(o as unknown as Service))) this.#written.delete(key);
      this.#queue.add(key);
    };
    this.#services.addHandlers({ onAdd: svcChanged, onUpdate: svcChanged, onDelete: svcChanged });
    const poolsChanged = () => { if (this.#ready) this.#applyPools(); };
    this.#pools.addHandlers({ onAdd: poolsChanged, onUpdate: poolsChanged, onDelete: poolsChanged });
    // Node addresses, hostPorts and (for Local policy) endpoints only matter without pools.
    const nodeModeInput = () => { if (this.#ready && this.#alloc.pools.length === 0) this.#enqueueAll(); };
    for (const i of [this.#nodes, this.#pods, this.#slices]) i.addHandlers({ onAdd: nodeModeInput, onUpdate: nodeModeInput, onDelete: nodeModeInput });
    const nsChanged = (o: KObject) => { if (this.#ready) for (const s of this.#lbServices()) if (s.metadata.namespace === o.metadata.name) this.#queue.add(objectKey(s)); };
    this.#namespaces.addHandlers({ onAdd: nsChanged, onUpdate: nsChanged });
  }

  async start(): Promise<void> {
    const all = [this.#services, this.#pools, this.#nodes, this.#namespaces, this.#pods, this.#slices];
    for (const i of all) i.start();
    await Promise.all(all.map((i) => i.waitForSync()));
    this.#rebuild();
    this.#ready = true;
    this.#enqueueAll();
  }

  async stop(): Promise<void> {
    this.#ready = false;
    this.#queue.stop();
    await Promise.all([this.#services, this.#pools, this.#nodes, this.#namespaces, this.#pods, this.#slices].map((i) => i.stop()));
  }

  /** Resolves when every queued Service has been synced (tests). */
  idle(): Promise<void> {
    return this.#queue.idle();
  }

  /**
   * Restart safety: every address a Service already shows is taken back before anything new is
   * handed out, oldest Service first, so two Services never end up with one address.
   */
  #rebuild(): void {
    this.#setPools();
    const nodes = this.#nodes.list() as unknown as Node[];
    for (const o of this.#lbServices().sort(byAge)) {
      const svc = o as unknown as Service;
      const ips = statusIps(svc);
      if (ips.length === 0) continue;
      if (this.#alloc.pools.length > 0) {
        if (poolFor(this.#alloc.pools, ips)) this.#alloc.assign(claimFor(svc, this.#namespaceLabels(svc)), ips);
      } else {
        this.#nodeAlloc.restore(serviceKey(svc), nodesWithAddresses(ips, nodes), servicePorts(svc));
      }
    }
  }

  #setPools(): string[] {
    const { pools, errors } = readPools(this.#pools.list());
    const text = errors.join('; ');
    if (text && text !== this.#poolErrors) this.#log(`lb-ipam: ${text}`);
    this.#poolErrors = text;
    return this.#alloc.setPools(pools);
  }

  #applyPools(): void {
    const hadPools = this.#alloc.pools.length > 0;
    this.#setPools();
    const hasPools = this.#alloc.pools.length > 0;
    // Switching between pool and node-address mode: what the other mode held is let go.
    if (hadPools && !hasPools) for (const k of this.#alloc.services()) this.#alloc.unassign(k);
    if (!hadPools && hasPools) for (const k of this.#nodeAlloc.services()) this.#nodeAlloc.unassign(k);
    // Any pool change can free or forbid addresses: every LoadBalancer converges again.
    this.#enqueueAll();
  }

  #lbServices(): KObject[] {
    return this.#services.list().filter((o) => isLoadBalancer(o as unknown as Service) && isOurClass(o as unknown as Service));
  }

  #enqueueAll(): void {
    for (const s of this.#lbServices().sort(byAge)) this.#queue.add(objectKey(s));
  }

  /** Something was released: the Services still waiting get another go (oldest first). */
  #requeuePending(): void {
    for (const s of this.#lbServices().sort(byAge)) {
      const k = objectKey(s);
      if (this.#alloc.ips(k).length === 0 && this.#nodeAlloc.nodes(k).length === 0) this.#queue.add(k);
    }
  }

  #namespaceLabels(svc: Service): Record<string, string> {
    const ns = this.#namespaces.get(svc.metadata?.namespace ?? '') as unknown as Namespace | undefined;
    return ns?.metadata?.labels ?? {};
  }

  #release(key: string): boolean {
    const a = this.#alloc.unassign(key);
    const b = this.#nodeAlloc.unassign(key);
    return a || b;
  }

  async #sync(key: string): Promise<void> {
    const obj = this.#services.get(key);
    const svc = obj as unknown as Service | undefined;
    if (!obj || !svc) {
      this.#written.delete(key);
      if (this.#release(key)) this.#requeuePending();
      return;
    }
    if (!isLoadBalancer(svc)) {
      // A type change away from LoadBalancer: the address goes back, and so does the status.
      const released = this.#release(key);
      if (statusIps(svc).length > 0 || this.#written.has(key)) await this.#writeStatus(obj, [], undefined);
      if (released) this.#requeuePending();
      return;
    }
    if (!isOurClass(svc)) {
      if (this.#release(key)) this.#requeuePending();
      return;
    }
    const current = this.#written.get(key) ?? statusIps(svc);
    const heldBefore = this.#alloc.ips(key).length > 0 || this.#nodeAlloc.nodes(key).length > 0;
    let ips: string[];
    let pool: string | undefined;
    let events: LbEvent[];
    if (this.#alloc.pools.length > 0) {
      this.#nodeAlloc.unassign(key);
      const c = convergeService(this.#alloc, svc, current, this.#namespaceLabels(svc));
      ips = sortIps(c.ips);
      pool = c.pool || undefined;
      events = [...c.events];
    } else {
      this.#alloc.unassign(key);
      ({ ips, events } = this.#convergeNodeMode(key, svc, current));
    }
    await this.#writeStatus(obj, ips, pool);
    for (const e of events) this.#events.event(obj, e.type, e.reason, e.message);
    const heldAfter = ips.length > 0;
    if (heldBefore && !heldAfter) this.#requeuePending();
  }

  #convergeNodeMode(key: string, svc: Service, current: readonly string[]): { ips: string[]; events: LbEvent[] } {
    const nodes = this.#nodes.list() as unknown as Node[];
    const candidates = candidateNodes(svc, nodes, this.#slices.list() as unknown as EndpointSlice[]);
    const hostPorts = hostPortsByNode(this.#pods.list() as unknown as Pod[], nodes);
    const d = this.#nodeAlloc.allocate(key, servicePorts(svc), candidates, hostPorts);
    const ips = d.ok ? nodeAddresses(d.nodes, nodes, serviceFamily(svc)) : [];
    if (d.details.length > 0) this.#log(`lb-ipam ${key}: ${d.details.join('; ')}`);
    if (ips.length === 0) {
      this.#nodeAlloc.unassign(key);
      // k3s's words (servicelb.go patchStatus), said while the Service waits.
      return { ips, events: [{ type: 'Warning', reason: 'UnAvailableLoadBalancer', message: 'There are no available nodes for LoadBalancer' }] };
    }
    if (sameList(ips, current)) return { ips, events: [] };
    return { ips, events: [{ type: 'Normal', reason: 'UpdatedLoadBalancer', message: `Updated LoadBalancer with new IPs: [${current.join(' ')}] -> [${ips.join(' ')}]` }] };
  }

  /** One status write when something changed; MetalLB's pool annotation kept in line. */
  async #writeStatus(obj: KObject, ips: string[], pool: string | undefined): Promise<void> {
    const svc = obj as unknown as Service;
    const key = objectKey(obj);
    const have = svc.status?.loadBalancer?.ingress ?? [];
    // kube-apiserver defaults ipMode to VIP (LoadBalancerIPMode, on since 1.30): a real cluster shows it.
    const want = ips.map((ip) => ({ ip, ipMode: 'VIP' }));
    const current = this.#written.get(key);
    const same = current ? sameList(current, ips) : JSON.stringify(have.map((i) => ({ ip: i.ip, ipMode: i.ipMode ?? 'VIP' }))) === JSON.stringify(want) && have.every((i) => !i.hostname && !i.ports);
    if (!same) {
      try {
        await this.#client.patch(r('services'), svc.metadata?.namespace, svc.metadata!.name!, { status: { loadBalancer: { ingress: want.length > 0 ? want : null } } }, 'merge', 'status');
      } catch (err) {
        if (err instanceof StatusError && err.code === 404) return;
        throw err;
      }
      this.#written.set(key, ips);
    }
    const haveAnnotation = svc.metadata?.annotations?.[annotations.ipAllocatedFromPool];
    if ((haveAnnotation ?? undefined) !== pool) {
      try {
        await this.#client.patch(r('services'), svc.metadata?.namespace, svc.metadata!.name!, { metadata: { annotations: { [annotations.ipAllocatedFromPool]: pool ?? null } } });
      } catch (err) {
        if (!(err instanceof StatusError && err.code === 404)) throw err;
      }
    }
  }
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
