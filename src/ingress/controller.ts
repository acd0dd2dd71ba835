// The Ingress controller: informers for Ingresses, IngressClasses, Services, EndpointSlices and
// Secrets (and the tcp/udp-services ConfigMaps); every change marks one key dirty, so a burst of
// changes becomes one rebuild. A rebuild translates the caches into a RouteTable, skips it when it
// equals the last one, swaps it into the proxy, then writes each served Ingress's
// status.loadBalancer (only when it differs) and reports new problems as events. Nothing is
// served before every cache has synced (kube-proxy's rule against programming partial data).
// An Ingress update that changes nothing translate() reads (our own status writes: status,
// resourceVersion, managedFields) does not rebuild; it only re-checks that Ingress's status.
// The addresses written are those of every Ready Node running podgate's ingress (of every such Node
// while none is Ready; ingress-nodes.ts), the same on every node, so the controllers of several
// nodes agree on each status.
import { isIP } from 'node:net';
import { isDeepStrictEqual } from 'node:util';
import type { ConfigMap, Secret, Service } from 'kubernetes-types/core/v1.d.ts';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.d.ts';
import type { Ingress, IngressClass, IngressLoadBalancerIngress } from 'kubernetes-types/networking/v1.d.ts';
import { StatusError } from '../api/errors.ts';

import { resources, type ResourceInfo } from '../api/resources.ts';
import type { EventRecorder } from '../client/event-recorder.ts';
import { Informer, stripReadOnly } from '../client/informer.ts';
import type { KubeClient } from '../client/rest-client.ts';
import { WorkQueue } from '../client/work-queue.ts';
import { startMetricsServer, type MetricsServer } from './metrics-server.ts';
import { ProxyServer, type ProxyServerOptions } from './proxy-server.ts';
import { ProxyWorkers, type L7Proxy } from './proxy-workers.ts';
import { IngressNodes } from './ingress-nodes.ts';
import { emptyRouteTable, isSameRouteTable, type Problem, type RouteTable } from './route-table.ts';
import { CONTROLLER_NAME, translate, type TranslateOptions } from './translate.ts';

export interface IngressControllerOptions {
  readonly client: KubeClient;
  /**
   * Addresses reported in status.loadBalancer.ingress (IPs as `ip`, names as `hostname`) while no
   * Node carries INGRESS_NODE_LABEL; otherwise those of the labelled Ready Nodes are.
   */
  readonly addresses: readonly string[];
  readonly httpPort?: number | null;
  readonly httpsPort?: number | null;
  readonly bindAddress?: string;
  /** Class names served besides IngressClasses with controller podgate.io/ingress (default ["nginx"]). */
  readonly classes?: readonly string[];
  readonly watchWithoutClass?: boolean;
  /** "namespace/name" of ingress-nginx-style tcp-services / udp-services ConfigMaps. */
  readonly tcpServicesConfigMap?: string;
  readonly udpServicesConfigMap?: string;
  readonly log?: (msg: string) => void;
  readonly events?: EventRecorder;
  /** Seams and tuning for the proxy (clock, connector, default certificate, access log); clock and connector only without workers. */
  readonly proxy?: Omit<ProxyServerOptions, 'httpPort' | 'httpsPort' | 'bindAddress'>;
  /** Proxy worker threads sharing the ports (nginx's worker_processes); 0 or absent: the proxy runs on this thread. */
  readonly workers?: number;
  /** Port of /metrics and /healthz (ingress-nginx: 10254); absent or null: none. */
  readonly metricsPort?: number | null;
  /** More route sources served by the same proxy (the Gateway API). */
  readonly routeSources?: readonly RouteSource[];
}

/** What the IngressController's own informers hold that another route source may read too. */
export interface SharedObjects {
  readonly services: readonly unknown[];
  readonly endpointSlices: readonly unknown[];
  readonly secrets: readonly unknown[];
}

/**
 * Another source of routes for the same proxy (the Gateway API controller in src/gateway): its
 * informers start, sync and stop with the controller's; any change it reports rebuilds the table,
 * which it extends purely in merge(); afterInstall() runs once the table is serving (its status writes).
 */
export interface RouteSource {
  readonly informers: readonly Informer[];
  onChange(fn: () => void): void;
  merge(table: RouteTable, shared: SharedObjects): RouteTable;
  afterInstall(): Promise<void>;
}

const SYNC_KEY = 'routes';
/** Re-checks the status of the served Ingresses against the installed table, without a rebuild. */
const STATUS_KEY = 'status';
/** Status PATCHes in flight at once: enough to hide the round trip, few enough not to flood the API server. */
const STATUS_WRITE_CONCURRENCY = 16;
/**
 * Route-table rebuilds are rate-limited by a token bucket: REBUILD_BURST rebuilds at once, then one
 * per interval, the interval being ten times what the last rebuild took (translate, compare, and
 * every proxy thread installing the table) within these bounds. Changes that wait are rebuilt
 * together. A change after a quiet spell, or a few in a row, is served at once (the 100 ms from
 * write to route holds); a long burst spends at most about a tenth of the time rebuilding. Without
 * it, 1,000 Ingresses applied by 10 parallel kubectls rebuilt the whole table about 95 times, each
 * made again here and in every proxy worker: twice the CPU, and the heap growth stayed as RSS.
 * ingress-nginx limits its reloads far more (one every few seconds), as they cost more.
 */
export const REBUILD_BURST = 5;
export const MIN_REBUILD_INTERVAL_MS = 20;
export const MAX_REBUILD_INTERVAL_MS = 250;

function resource(group: string, plural: string): ResourceInfo {
  const r = resources.find((x) => x.group === group && x.resource === plural);
  if (!r) throw new Error(`resource ${group}/${plural} missing from the resource table`);
  return r;
}

export class IngressController {
  readonly #opts: IngressControllerOptions;
  readonly #log: (msg: string) => void;
  readonly #proxy: L7Proxy;
  #metricsServer: MetricsServer | undefined;
  readonly #queue: WorkQueue;
  readonly #ingresses: Informer;
  readonly #classes: Informer;
  readonly #services: Informer;
  readonly #slices: Informer;
  readonly #secrets: Informer;
  readonly #configMaps: Informer | undefined;
  readonly #nodes: IngressNodes;
  readonly #ingressInfo = resource('networking.k8s.io', 'ingresses');
  #last: RouteTable = emptyRouteTable;
  #lastServed: ReadonlySet<string> = new Set();
  #installed = false;
  #reported = new Set<string>();
  #stopped = false;
  #rebuilds = 0;
  /** When the rebuild in progress (or the last one) started, performance.now(), and what the last one took. */
  #rebuildStart = 0;
  #rebuildMs = 0;
  /** Rebuilds that may start at once, as counted at #tokensAt; the timer of the rebuild due when none may. */
  #tokens = REBUILD_BURST;
  #tokensAt = 0;
  #rebuildTimer: NodeJS.Timeout | undefined;
  /** What every served Ingress's status.loadBalancer.ingress should be. */
  #desired: IngressLoadBalancerIngress[];

  constructor(opts: IngressControllerOptions) {
    this.#opts = opts;
    this.#log = opts.log ?? (() => {});
    // A change in the nodes' addresses re-checks every status, without a rebuild.
    this.#nodes = new IngressNodes({ client: opts.client, fallback: opts.addresses, log: this.#log, onChange: () => {
      this.#desired = toLoadBalancerIngress(this.#nodes.addresses);
      if (this.#installed) this.#queue.add(STATUS_KEY);
    } });
    this.#desired = toLoadBalancerIngress(this.#nodes.addresses);
    const proxyOpts: ProxyServerOptions = { ...opts.proxy, httpPort: opts.httpPort === undefined ? 80 : opts.httpPort, httpsPort: opts.httpsPort === undefined ? 443 : opts.httpsPort, ...(opts.bindAddress ? { bindAddress: opts.bindAddress } : {}), log: this.#log };
    this.#proxy = opts.workers ? new ProxyWorkers({ ...proxyOpts, workers: opts.workers }) : new ProxyServer(proxyOpts);
    this.#queue = new WorkQueue({
      process: (key) => (key === STATUS_KEY ? this.#syncStatuses() : this.#sync()),
      onError: (_k, err) => this.#log(`ingress sync failed (will retry): ${String(err)}`),
    });
    const informer = (r: ResourceInfo, namespace?: string) => {
      const inf = new Informer({ client: opts.client, resource: r, transform: stripReadOnly, ...(namespace ? { namespace } : {}), onError: (err) => this.#log(`ingress: watching ${r.resource}: ${String(err)}`) });
      const dirty = () => this.#wantRebuild();
      inf.addHandlers({ onAdd: dirty, onUpdate: dirty, onDelete: dirty });
      return inf;
    };
    this.#ingresses = new Informer({ client: opts.client, resource: this.#ingressInfo, transform: stripReadOnly, onError: (err) => this.#log(`ingress: watching ingresses: ${String(err)}`) });
    this.#ingresses.addHandlers({
      onAdd: () => this.#wantRebuild(),
      onDelete: () => this.#wantRebuild(),
      onUpdate: (obj, old) => {
        if (!isSameForTranslate(obj, old)) { this.#wantRebuild(); return; }
        // Our own status write coming back: nothing to rebuild, and nothing to write unless
        // someone else changed the status to something other than what we want.
        if (this.#installed && this.#wantedStatus(obj as unknown as Ingress, this.#lastServed) !== undefined) this.#queue.add(STATUS_KEY);
      },
    });
    this.#classes = informer(resource('networking.k8s.io', 'ingressclasses'));
    this.#services = informer(resource('', 'services'));
    this.#slices = informer(resource('discovery.k8s.io', 'endpointslices'));
    this.#secrets = informer(resource('', 'secrets'));
    const cmNamespaces = [opts.tcpServicesConfigMap, opts.udpServicesConfigMap].filter((x): x is string => !!x).map((r) => r.split('/')[0]!);
    for (const src of opts.routeSources ?? []) src.onChange(() => this.#wantRebuild());
    this.#configMaps = cmNamespaces.length ? informer(resource('', 'configmaps'), cmNamespaces.every((n) => n === cmNamespaces[0]) ? cmNamespaces[0] : undefined) : undefined;
  }

  /** The proxy (for its bound ports and router in tests). */
  get proxy(): L7Proxy {
    return this.#proxy;
  }

  /** The route table being served. */
  get routeTable(): RouteTable {
    return this.#last;
  }

  /** How many times the route table was computed from the caches (for tests and metrics). */
  get rebuilds(): number {
    return this.#rebuilds;
  }

  /** The addresses this controller reports in statuses now (for tests). */
  get statusAddresses(): readonly string[] {
    return this.#nodes.addresses;
  }

  /** The Node informer those addresses are computed from (for tests). */
  get nodeInformer(): Informer {
    return this.#nodes.informer;
  }

  /** Binds the listeners, then starts the informers; routes appear once every cache has synced. */
  async start(): Promise<void> {
    await this.#proxy.start();
    const mp = this.#opts.metricsPort;
    if (mp !== undefined && mp !== null) {
      try {
        this.#metricsServer = await startMetricsServer({ proxy: this.#proxy, port: mp, ...(this.#opts.bindAddress ? { bindAddress: this.#opts.bindAddress } : {}), controllerClass: CONTROLLER_NAME });
      } catch (err) {
        await this.#proxy.stop();
        throw new Error(`ingress metrics: cannot listen on port ${mp}: ${(err as Error).message}`);
      }
    }
    for (const inf of this.#informers()) inf.start();
    void Promise.all(this.#informers().map((i) => i.waitForSync())).then(() => { if (!this.#stopped) this.#queue.add(SYNC_KEY); });
  }

  /** Resolves when every informer has synced and the resulting table is installed (for tests and readiness). */
  async ready(): Promise<void> {
    await Promise.all(this.#informers().map((i) => i.waitForSync()));
    this.#queue.add(SYNC_KEY);
    await this.#queue.idle();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#rebuildTimer) clearTimeout(this.#rebuildTimer);
    this.#queue.stop();
    await Promise.all(this.#informers().map((i) => i.stop()));
    await this.#metricsServer?.close();
    await this.#proxy.stop();
  }

  /** Bound port of /metrics (for tests), when served. */
  get metricsPort(): number | undefined {
    return this.#metricsServer?.port;
  }

  // The Node informer is among them: no status is computed from a partial list of nodes (a node
  // whose controller did would write only the addresses seen so far, and others would undo it).
  #informers(): Informer[] {
    return [this.#nodes.informer, this.#ingresses, this.#classes, this.#services, this.#slices, this.#secrets, ...(this.#configMaps ? [this.#configMaps] : []), ...(this.#opts.routeSources ?? []).flatMap((s) => s.informers)];
  }

  /** Something translate reads changed: rebuild now if the bucket allows, or with whatever else changes once it does. */
  #wantRebuild(): void {
    if (this.#stopped || this.#rebuildTimer !== undefined) return; // stopped, or the batched rebuild is due already
    const now = performance.now();
    const interval = Math.min(MAX_REBUILD_INTERVAL_MS, Math.max(MIN_REBUILD_INTERVAL_MS, 10 * this.#rebuildMs));
    this.#tokens = Math.min(REBUILD_BURST, this.#tokens + (now - this.#tokensAt) / interval);
    this.#tokensAt = now;
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      this.#queue.add(SYNC_KEY);
      return;
    }
    this.#rebuildTimer = setTimeout(() => {
      this.#rebuildTimer = undefined;
      this.#wantRebuild();
    }, (1 - this.#tokens) * interval);
  }

  async #sync(): Promise<void> {
    if (this.#stopped || !this.#informers().every((i) => i.hasSynced())) return;
    this.#rebuildStart = performance.now();
    const o = this.#opts;
    const topts: TranslateOptions = {
      ...(o.classes ? { classes: o.classes } : {}), ...(o.watchWithoutClass ? { watchWithoutClass: true } : {}),
      ...(o.tcpServicesConfigMap ? { tcpServicesConfigMap: o.tcpServicesConfigMap } : {}),
      ...(o.udpServicesConfigMap ? { udpServicesConfigMap: o.udpServicesConfigMap } : {}),
    };
    this.#rebuilds++;
    let table = translate({
      ingresses: this.#ingresses.list() as unknown as Ingress[],
      ingressClasses: this.#classes.list() as unknown as IngressClass[],
      services: this.#services.list() as unknown as Service[],
      endpointSlices: this.#slices.list() as unknown as EndpointSlice[],
      secrets: this.#secrets.list() as unknown as Secret[],
      configMaps: (this.#configMaps?.list() ?? []) as unknown as ConfigMap[],
    }, topts);
    const sources = o.routeSources ?? [];
    if (sources.length) {
      const shared: SharedObjects = { services: this.#services.list(), endpointSlices: this.#slices.list(), secrets: this.#secrets.list() };
      for (const src of sources) table = src.merge(table, shared);
    }
    if (!this.#installed || !isSameRouteTable(table, this.#last)) {
      await this.#proxy.setRoutes(table);
      this.#last = table;
      this.#lastServed = new Set(table.served);
      this.#installed = true;
    }
    this.#rebuildMs = performance.now() - this.#rebuildStart;
    this.#reportProblems(table.problems);
    await this.#writeStatuses(table);
    for (const src of sources) await src.afterInstall();
  }

  #reportProblems(problems: readonly Problem[]): void {
    const now = new Set<string>();
    for (const p of problems) {
      const k = `${p.object.kind}/${p.object.namespace}/${p.object.name}|${p.reason}|${p.message}`;
      now.add(k);
      if (this.#reported.has(k)) continue;
      this.#log(`${p.object.kind} ${p.object.namespace}/${p.object.name}: ${p.reason}: ${p.message}`);
      const obj = p.object.kind === 'Ingress' ? this.#ingresses.get(`${p.object.namespace}/${p.object.name}`) : this.#configMaps?.get(`${p.object.namespace}/${p.object.name}`);
      if (obj) this.#opts.events?.event(obj, 'Warning', p.reason, p.message);
    }
    this.#reported = now;
  }

  async #syncStatuses(): Promise<void> {
    if (this.#stopped || !this.#installed) return;
    await this.#writeStatuses(this.#last);
  }

  /** The status.loadBalancer.ingress this Ingress should get, or undefined when it already has it. */
  #wantedStatus(ing: Ingress, served: ReadonlySet<string>): IngressLoadBalancerIngress[] | undefined {
    const key = `${ing.metadata?.namespace}/${ing.metadata?.name}`;
    const current = ing.status?.loadBalancer?.ingress ?? [];
    let want: IngressLoadBalancerIngress[] | undefined;
    if (served.has(key)) want = this.#desired;
    // An Ingress that left our class loses the addresses we wrote, and only those.
    else if (current.length && sameAddresses(current, this.#desired)) want = [];
    if (!want || sameAddresses(current, want)) return undefined;
    return want;
  }

  /** PATCHes every status that differs, several at a time; errors are collected, not stopped at. */
  async #writeStatuses(table: RouteTable): Promise<void> {
    const served = new Set(table.served);
    const writes: { ns: string | undefined; name: string; want: IngressLoadBalancerIngress[] }[] = [];
    for (const obj of this.#ingresses.list()) {
      const ing = obj as unknown as Ingress;
      const want = this.#wantedStatus(ing, served);
      if (want) writes.push({ ns: ing.metadata?.namespace, name: ing.metadata?.name ?? '', want });
    }
    const errors: unknown[] = [];
    let next = 0;
    const worker = async () => {
      while (next < writes.length && !this.#stopped) {
        const t = writes[next++]!;
        try {
          await this.#opts.client.patch(this.#ingressInfo, t.ns, t.name, { status: { loadBalancer: { ingress: t.want } } }, 'merge', 'status');
        } catch (err) {
          if (err instanceof StatusError && err.code === 404) continue; // deleted meanwhile
          errors.push(err);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(STATUS_WRITE_CONCURRENCY, writes.length) }, worker));
    if (errors.length) throw new AggregateError(errors, `writing ${errors.length} Ingress status(es) failed`);
  }
}

/** Whether two versions of an Ingress differ only where translate() never looks (status, resourceVersion, managedFields). */
export function isSameForTranslate(a: unknown, b: unknown): boolean {
  const strip = (o: unknown) => {
    const { status: _s, metadata, ...rest } = o as { status?: unknown; metadata?: Record<string, unknown> };
    const { resourceVersion: _rv, managedFields: _mf, ...meta } = metadata ?? {};
    return { ...rest, metadata: meta };
  };
  return isDeepStrictEqual(strip(a), strip(b));
}

function toLoadBalancerIngress(addresses: readonly string[]): IngressLoadBalancerIngress[] {
  return addresses.map((a) => (isIP(a) ? { ip: a } : { hostname: a }));
}

function sameAddresses(a: readonly IngressLoadBalancerIngress[], b: readonly IngressLoadBalancerIngress[]): boolean {
  const key = (l: readonly IngressLoadBalancerIngress[]) => l.map((x) => `${x.ip ?? ''}|${x.hostname ?? ''}`).sort().join(',');
  return key(a) === key(b);
}

