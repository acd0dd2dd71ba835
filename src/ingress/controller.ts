// The Ingress controller: informers for Ingresses, IngressClasses, Services, EndpointSlices and
// Secrets (and the tcp/udp-services ConfigMaps); every change marks one key dirty, so a burst of
// changes becomes one rebuild. A rebuild translates the caches into a RouteTable, skips it when it
// equals the last one, swaps it into the proxy, then writes each served Ingress's
// status.loadBalancer (only when it differs) and reports new problems as events. Nothing is
// served before every cache has synced (kube-proxy's rule against programming partial data).
import { isIP } from 'node:net';
import type { ConfigMap, Secret, Service } from 'kubernetes-types/core/v1.d.ts';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.d.ts';
import type { Ingress, IngressClass, IngressLoadBalancerIngress } from 'kubernetes-types/networking/v1.d.ts';
import { StatusError } from '../api/errors.ts';

import { resources, type ResourceInfo } from '../api/resources.ts';
import type { EventRecorder } from '../client/event-recorder.ts';
import { Informer } from '../client/informer.ts';
import type { KubeClient } from '../client/rest-client.ts';
import { WorkQueue } from '../client/work-queue.ts';
import { ProxyServer, type ProxyServerOptions } from './proxy-server.ts';
import { emptyRouteTable, isSameRouteTable, type Problem, type RouteTable } from './route-table.ts';
import { translate, type TranslateOptions } from './translate.ts';

export interface IngressControllerOptions {
  readonly client: KubeClient;
  /** Node addresses reported in status.loadBalancer.ingress (IPs as `ip`, names as `hostname`). */
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
  /** Seams and tuning for the proxy (clock, connector, default certificate, access log). */
  readonly proxy?: Omit<ProxyServerOptions, 'httpPort' | 'httpsPort' | 'bindAddress'>;
}

const SYNC_KEY = 'routes';

function resource(group: string, plural: string): ResourceInfo {
  const r = resources.find((x) => x.group === group && x.resource === plural);
  if (!r) throw new Error(`resource ${group}/${plural} missing from the resource table`);
  return r;
}

export class IngressController {
  readonly #opts: IngressControllerOptions;
  readonly #log: (msg: string) => void;
  readonly #proxy: ProxyServer;
  readonly #queue: WorkQueue;
  readonly #ingresses: Informer;
  readonly #classes: Informer;
  readonly #services: Informer;
  readonly #slices: Informer;
  readonly #secrets: Informer;
  readonly #configMaps: Informer | undefined;
  readonly #ingressInfo = resource('networking.k8s.io', 'ingresses');
  #last: RouteTable = emptyRouteTable;
  #installed = false;
  #reported = new Set<string>();
  #stopped = false;

  constructor(opts: IngressControllerOptions) {
    this.#opts = opts;
    this.#log = opts.log ?? (() => {});
    this.#proxy = new ProxyServer({ ...opts.proxy, httpPort: opts.httpPort === undefined ? 80 : opts.httpPort, httpsPort: opts.httpsPort === undefined ? 443 : opts.httpsPort, ...(opts.bindAddress ? { bindAddress: opts.bindAddress } : {}), log: this.#log });
    this.#queue = new WorkQueue({ process: () => this.#sync(), onError: (_k, err) => this.#log(`ingress sync failed (will retry): ${String(err)}`) });
    const informer = (r: ResourceInfo, namespace?: string) => {
      const inf = new Informer({ client: opts.client, resource: r, ...(namespace ? { namespace } : {}), onError: (err) => this.#log(`ingress: watching ${r.resource}: ${String(err)}`) });
      const dirty = () => this.#queue.add(SYNC_KEY);
      inf.addHandlers({ onAdd: dirty, onUpdate: dirty, onDelete: dirty });
      return inf;
    };
    this.#ingresses = informer(this.#ingressInfo);
    this.#classes = informer(resource('networking.k8s.io', 'ingressclasses'));
    this.#services = informer(resource('', 'services'));
    this.#slices = informer(resource('discovery.k8s.io', 'endpointslices'));
    this.#secrets = informer(resource('', 'secrets'));
    const cmNamespaces = [opts.tcpServicesConfigMap, opts.udpServicesConfigMap].filter((x): x is string => !!x).map((r) => r.split('/')[0]!);
    this.#configMaps = cmNamespaces.length ? informer(resource('', 'configmaps'), cmNamespaces.every((n) => n === cmNamespaces[0]) ? cmNamespaces[0] : undefined) : undefined;
  }

  /** The proxy (for its bound ports and router in tests). */
  get proxy(): ProxyServer {
    return this.#proxy;
  }

  /** The route table being served. */
  get routeTable(): RouteTable {
    return this.#last;
  }

  /** Binds the listeners, then starts the informers; routes appear once every cache has synced. */
  async start(): Promise<void> {
    await this.#proxy.start();
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
    this.#queue.stop();
    await Promise.all(this.#informers().map((i) => i.stop()));
    await this.#proxy.stop();
  }

  #informers(): Informer[] {
    return [this.#ingresses, this.#classes, this.#services, this.#slices, this.#secrets, ...(this.#configMaps ? [this.#configMaps] : [])];
  }

  async #sync(): Promise<void> {
    if (this.#stopped || !this.#informers().every((i) => i.hasSynced())) return;
    const o = this.#opts;
    const topts: TranslateOptions = {
      ...(o.classes ? { classes: o.classes } : {}), ...(o.watchWithoutClass ? { watchWithoutClass: true } : {}),
      ...(o.tcpServicesConfigMap ? { tcpServicesConfigMap: o.tcpServicesConfigMap } : {}),
      ...(o.udpServicesConfigMap ? { udpServicesConfigMap: o.udpServicesConfigMap } : {}),
    };
    const table = translate({
      ingresses: this.#ingresses.list() as unknown as Ingress[],
      ingressClasses: this.#classes.list() as unknown as IngressClass[],
      services: this.#services.list() as unknown as Service[],
      endpointSlices: this.#slices.list() as unknown as EndpointSlice[],
      secrets: this.#secrets.list() as unknown as Secret[],
      configMaps: (this.#configMaps?.list() ?? []) as unknown as ConfigMap[],
    }, topts);
    if (!this.#installed || !isSameRouteTable(table, this.#last)) {
      await this.#proxy.setRoutes(table);
      this.#last = table;
      this.#installed = true;
    }
    this.#reportProblems(table.problems);
    await this.#writeStatuses(table);
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

  async #writeStatuses(table: RouteTable): Promise<void> {
    const desired: IngressLoadBalancerIngress[] = [...new Set(this.#opts.addresses)].sort().map((a) => (isIP(a) ? { ip: a } : { hostname: a }));
    const served = new Set(table.served);
    const errors: unknown[] = [];
    for (const obj of this.#ingresses.list()) {
      const ing = obj as unknown as Ingress;
      const key = `${ing.metadata?.namespace}/${ing.metadata?.name}`;
      const current = ing.status?.loadBalancer?.ingress ?? [];
      let want: IngressLoadBalancerIngress[] | undefined;
      if (served.has(key)) want = desired;
      // An Ingress that left our class loses the addresses we wrote, and only those.
      else if (current.length && sameAddresses(current, desired)) want = [];
      if (!want || sameAddresses(current, want)) continue;
      try {
        await this.#opts.client.patch(this.#ingressInfo, ing.metadata?.namespace, ing.metadata?.name ?? '', { status: { loadBalancer: { ingress: want } } }, 'merge', 'status');
      } catch (err) {
        if (err instanceof StatusError && err.code === 404) continue; // deleted meanwhile
        errors.push(err);
      }
    }
    if (errors.length) throw new AggregateError(errors, `writing ${errors.length} Ingress status(es) failed`);
  }
}

function sameAddresses(a: readonly IngressLoadBalancerIngress[], b: readonly IngressLoadBalancerIngress[]): boolean {
  const key = (l: readonly IngressLoadBalancerIngress[]) => l.map((x) => `${x.ip ?? ''}|${x.hostname ?? ''}`).sort().join(',');
  return key(a) === key(b);
}

