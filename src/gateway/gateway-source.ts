// The Gateway API controller's edge: informers for GatewayClasses, Gateways, HTTPRoutes,
// ReferenceGrants and Namespaces (through the Kubernetes client only), the plan from translateGateway() merged into
// the ingress proxy's route table by the IngressController (one router swap for both), and one
// status PATCH per object whose status differs from the plan. A Gateway's status.addresses are
// those of every Ready Node running podgate's ingress (src/ingress/ingress-nodes.ts), the same on
// every node, so the controllers of several nodes agree on each status.
import { isDeepStrictEqual } from 'node:util';
import type { Secret, Service } from 'kubernetes-types/core/v1.d.ts';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.d.ts';
import { StatusError } from '../api/errors.ts';
import type { KObject } from '../api/object.ts';
import { resources, type ResourceInfo } from '../api/resources.ts';
import { Informer, stripReadOnly } from '../client/informer.ts';
import type { KubeClient } from '../client/rest-client.ts';
import { isSameForTranslate, type RouteSource, type SharedObjects } from '../ingress/controller.ts';
import { IngressNodes } from '../ingress/ingress-nodes.ts';
import type { RouteTable } from '../ingress/route-table.ts';
import { mergeGatewayRoutes } from './merge-routes.ts';
import { GATEWAY_CONTROLLER_NAME, GATEWAY_GROUP, translateGateway, type Gateway, type GatewayClass, type GatewayPlan, type HTTPRoute, type ReferenceGrant } from './translate-gateway.ts';

export interface GatewaySourceOptions {
  readonly client: KubeClient;
  /** The Gateways' status.addresses while no Node carries INGRESS_NODE_LABEL; otherwise those of the labelled Ready Nodes are. */
  readonly addresses: readonly string[];
  readonly httpPort: number | null;
  readonly httpsPort: number | null;
  readonly controllerName?: string;
  readonly log?: (msg: string) => void;
  /** Clock seam for condition times. */
  readonly now?: () => Date;
}

const EMPTY_PLAN: GatewayPlan = { hosts: [], certificates: [], classStatus: new Map(), gatewayStatus: new Map(), routeParents: new Map() };

function resource(group: string, plural: string): ResourceInfo {
  const r = resources.find((x) => x.group === group && x.resource === plural);
  if (!r) throw new Error(`resource ${group}/${plural} missing from the resource table`);
  return r;
}

export class GatewaySource implements RouteSource {
  readonly #opts: GatewaySourceOptions;
  readonly #log: (msg: string) => void;
  readonly #classes: Informer;
  readonly #gateways: Informer;
  readonly #routes: Informer;
  readonly #namespaces: Informer;
  readonly #grants: Informer;
  readonly #nodes: IngressNodes;
  readonly #info = { classes: resource(GATEWAY_GROUP, 'gatewayclasses'), gateways: resource(GATEWAY_GROUP, 'gateways'), routes: resource(GATEWAY_GROUP, 'httproutes') };
  #onChange: () => void = () => {};
  #plan: GatewayPlan | undefined;

  constructor(opts: GatewaySourceOptions) {
    this.#opts = opts;
    this.#log = opts.log ?? (() => {});
    const informer = (r: ResourceInfo, specOnly: boolean) => {
      const inf = new Informer({ client: opts.client, resource: r, transform: stripReadOnly, onError: (err) => this.#log(`gateway: watching ${r.resource}: ${String(err)}`) });
      const dirty = () => this.#onChange();
      // Our own status writes come back as updates: they change nothing the plan reads but status,
      // which only keeps condition times; no rebuild for them.
      inf.addHandlers({ onAdd: dirty, onDelete: dirty, onUpdate: (obj, old) => { if (!specOnly || !isSameForTranslate(obj, old)) dirty(); } });
      return inf;
    };
    this.#classes = informer(this.#info.classes, true);
    this.#gateways = informer(this.#info.gateways, true);
    this.#routes = informer(this.#info.routes, true);
    this.#namespaces = informer(resource('', 'namespaces'), false);
    // A grant created, changed or deleted rebuilds at once: a reference it no longer permits is
    // refused (RefNotPermitted, 500 on the proxy) in the same rebuild.
    this.#grants = informer(resource(GATEWAY_GROUP, 'referencegrants'), true);
    // The addresses are part of the plan: a change in them rebuilds it (heartbeats do not).
    this.#nodes = new IngressNodes({ client: opts.client, fallback: opts.addresses, log: this.#log, onChange: () => this.#onChange() });
  }

  get informers(): readonly Informer[] {
    return [this.#classes, this.#gateways, this.#routes, this.#namespaces, this.#grants, this.#nodes.informer];
  }

  onChange(fn: () => void): void {
    this.#onChange = fn;
  }

  /** The last plan (for tests). */
  get plan(): GatewayPlan | undefined {
    return this.#plan;
  }

  merge(table: RouteTable, shared: SharedObjects): RouteTable {
    const o = this.#opts;
    const controller = o.controllerName ?? GATEWAY_CONTROLLER_NAME;
    // No GatewayClass of ours: nothing to translate on every Ingress rebuild (statuses of ours
    // that routes still carry are taken off by afterInstall).
    if (!this.#classes.list().some((c) => (c.spec as { controllerName?: string } | undefined)?.controllerName === controller)) {
      this.#plan = EMPTY_PLAN;
      return table;
    }
    this.#plan = translateGateway({
      gatewayClasses: this.#classes.list() as unknown as GatewayClass[],
      gateways: this.#gateways.list() as unknown as Gateway[],
      httpRoutes: this.#routes.list() as unknown as HTTPRoute[],
      services: shared.services as Service[], endpointSlices: shared.endpointSlices as EndpointSlice[], secrets: shared.secrets as Secret[],
      namespaces: this.#namespaces.list() as never,
      referenceGrants: this.#grants.list() as unknown as ReferenceGrant[],
    }, {
      httpPort: o.httpPort, httpsPort: o.httpsPort, addresses: this.#nodes.addresses,
      now: (o.now?.() ?? new Date()).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      ...(o.controllerName ? { controllerName: o.controllerName } : {}),
    });
    return mergeGatewayRoutes(table, this.#plan);
  }

  /** Writes every status that differs from the plan; errors are collected, not stopped at. */
  async afterInstall(): Promise<void> {
    const plan = this.#plan;
    if (!plan) return;
    const controller = this.#opts.controllerName ?? GATEWAY_CONTROLLER_NAME;
    const writes: { info: ResourceInfo; ns: string | undefined; name: string; status: Record<string, unknown> }[] = [];
    const status = (o: KObject) => (o.status ?? {}) as Record<string, unknown>;
    for (const [name, want] of plan.classStatus) {
      const obj = this.#classes.get(name);
      if (obj && !isDeepStrictEqual(status(obj).conditions, want.conditions)) writes.push({ info: this.#info.classes, ns: undefined, name, status: { conditions: want.conditions } });
    }
    for (const [key, want] of plan.gatewayStatus) {
      const obj = this.#gateways.get(key);
      const cur = obj ? status(obj) : undefined;
      if (obj && cur && !(['addresses', 'conditions', 'listeners'] as const).every((k) => isDeepStrictEqual(cur[k], want[k]))) {
        writes.push({ info: this.#info.gateways, ns: obj.metadata.namespace, name: obj.metadata.name ?? '', status: want });
      }
    }
    for (const obj of this.#routes.list()) {
      const key = `${obj.metadata.namespace}/${obj.metadata.name}`;
      const current = ((status(obj).parents ?? []) as Record<string, unknown>[]);
      // Other controllers' parents stay; ours are replaced by the plan's (none when no Gateway of ours is named any more).
      const want = plan.routeParents.get(key) ?? [];
      if (isDeepStrictEqual(current.filter((p) => p.controllerName === controller), want)) continue;
      const parents = [...current.filter((p) => p.controllerName !== controller), ...want];
      writes.push({ info: this.#info.routes, ns: obj.metadata.namespace, name: obj.metadata.name ?? '', status: { parents } });
    }
    const errors: unknown[] = [];
    for (const w of writes) {
      try {
        await this.#opts.client.patch(w.info, w.ns, w.name, { status: w.status }, 'merge', 'status');
      } catch (err) {
        if (err instanceof StatusError && err.code === 404) continue; // deleted meanwhile
        errors.push(err);
      }
    }
    if (errors.length) throw new AggregateError(errors, `writing ${errors.length} Gateway API status(es) failed`);
  }
}
