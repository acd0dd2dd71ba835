// Keeps EndpointSlices and the legacy Endpoints of every Service with a selector in line with its
// pods, as kube-controller-manager's endpointslice and endpoints controllers do. Services without
// a selector keep whatever the user wrote. Reads and writes only through the Kubernetes client.
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.d.ts';
import type { Endpoints, Pod, Service } from 'kubernetes-types/core/v1.d.ts';
import { StatusError } from '../../api/errors.ts';
import type { KObject } from '../../api/object.ts';
import { resources } from '../../api/resources.ts';
import { Informer, objectKey } from '../../client/informer.ts';
import type { KubeClient } from '../../client/rest-client.ts';
import { WorkQueue } from '../../client/work-queue.ts';
import { desiredEndpoints, managedBy, planSlices, podEndpoints, selects } from './plan.ts';

const r = (name: string) => resources.find((x) => x.resource === name)!;

function hasSelector(svc: Service): boolean {
  return Object.keys(svc.spec?.selector ?? {}).length > 0 && svc.spec?.type !== 'ExternalName';
}

export class EndpointSliceController {
  readonly #client: KubeClient;
  readonly #services: Informer;
  readonly #pods: Informer;
  readonly #slices: Informer;
  readonly #endpoints: Informer;
  readonly #queue: WorkQueue;
  readonly #log: (m: string) => void;

  constructor(opts: { client: KubeClient; log?: (m: string) => void }) {
    this.#client = opts.client;
    this.#log = opts.log ?? (() => {});
    const onErr = (w: string) => (e: unknown) => this.#log(`endpointslice ${w}: ${String(e)}`);
    this.#services = new Informer({ client: opts.client, resource: r('services'), onError: onErr('services') });
    this.#pods = new Informer({ client: opts.client, resource: r('pods'), onError: onErr('pods') });
    this.#slices = new Informer({ client: opts.client, resource: r('endpointslices'), labelSelector: `endpointslice.kubernetes.io/managed-by=${managedBy}`, onError: onErr('slices') });
    this.#endpoints = new Informer({ client: opts.client, resource: r('endpoints'), onError: onErr('endpoints') });
    this.#queue = new WorkQueue({ process: (k) => this.#sync(k), workers: 2, baseDelayMs: 50, maxDelayMs: 5_000, onError: (k, e) => this.#log(`endpointslice ${k}: ${String(e)}`) });
    const svcKey = (o: KObject) => this.#queue.add(objectKey(o));
    this.#services.addHandlers({ onAdd: svcKey, onUpdate: svcKey, onDelete: svcKey });
    const podChanged = (pod: KObject, old?: KObject) => {
      for (const s of this.#services.list()) {
        const svc = s as unknown as Service;
        if (selects(svc, pod as unknown as Pod) || (old && selects(svc, old as unknown as Pod))) this.#queue.add(objectKey(s));
      }
    };
    this.#pods.addHandlers({ onAdd: (p) => podChanged(p), onUpdate: (p, old) => podChanged(p, old), onDelete: (p) => podChanged(p) });
    // Someone else changing our slices or Endpoints: put them back.
    const ownerKey = (o: KObject) => {
      const name = o.kind === 'Endpoints' ? o.metadata.name : o.metadata.labels?.['kubernetes.io/service-name'];
      if (name) this.#queue.add(`${o.metadata.namespace}/${name}`);
    };
    this.#slices.addHandlers({ onUpdate: ownerKey, onDelete: ownerKey });
    this.#endpoints.addHandlers({ onUpdate: ownerKey, onDelete: ownerKey });
  }

  async start(): Promise<void> {
    for (const i of [this.#services, this.#pods, this.#slices, this.#endpoints]) i.start();
    await Promise.all([this.#services, this.#pods, this.#slices, this.#endpoints].map((i) => i.waitForSync()));
    for (const s of this.#services.list()) this.#queue.add(objectKey(s));
    // Slices whose Service is gone (deleted while we were down).
    for (const sl of this.#slices.list()) {
      const name = sl.metadata.labels?.['kubernetes.io/service-name'];
      if (name && !this.#services.get(`${sl.metadata.namespace}/${name}`)) this.#queue.add(`${sl.metadata.namespace}/${name}`);
    }
  }

  async stop(): Promise<void> {
    this.#queue.stop();
    await Promise.all([this.#services, this.#pods, this.#slices, this.#endpoints].map((i) => i.stop()));
  }

  /** Resolves when every queued Service has been synced (tests). */
  idle(): Promise<void> {
    return this.#queue.idle();
  }

  async #sync(key: string): Promise<void> {
    const [namespace, name] = key.split('/') as [string, string];
    const svc = this.#services.get(key) as unknown as Service | undefined;
    const ours = this.#slices.list().filter((s) => s.metadata.namespace === namespace && s.metadata.labels?.['kubernetes.io/service-name'] === name) as unknown as EndpointSlice[];
    if (!svc || !hasSelector(svc)) {
      // Deleted, or selectorless now: what we made goes (GC of owned objects, done here).
      for (const s of ours) await this.#ignoreNotFound(this.#client.delete(r('endpointslices'), namespace, s.metadata!.name!));
      const ep = this.#endpoints.get(key);
      if (ep && ep.metadata.annotations?.['podgate.io/managed-by'] === 'endpoints-controller') {
        await this.#ignoreNotFound(this.#client.delete(r('endpoints'), namespace, name));
      }
      return;
    }
    const pods = this.#pods.list().filter((p) => p.metadata.namespace === namespace) as unknown as Pod[];
    const eps = podEndpoints(svc, pods);
    const plan = planSlices(svc, eps, ours);
    const errors: string[] = [];
    let conflict = false;
    const attempt = async (p: Promise<unknown>) => {
      try {
        await p;
      } catch (err) {
        // Our cache was behind our own last write: look again shortly, it is not an error.
        if (err instanceof StatusError && err.code === 409) conflict = true;
        else if (!(err instanceof StatusError && err.code === 404)) errors.push(String(err));
      }
    };
    for (const s of plan.create) await attempt(this.#client.create(r('endpointslices'), namespace, s as unknown as KObject));
    for (const s of plan.update) await attempt(this.#client.update(r('endpointslices'), s as unknown as KObject));
    for (const s of plan.delete) await attempt(this.#client.delete(r('endpointslices'), namespace, s.metadata!.name!));
    await attempt(this.#syncEndpoints(svc, desiredEndpoints(svc, eps)));
    if (errors.length) throw new Error(errors.join('; '));
    if (conflict) this.#queue.addAfter(key, 100);
  }

  async #syncEndpoints(svc: Service, want: Endpoints): Promise<void> {
    const key = `${svc.metadata!.namespace}/${svc.metadata!.name}`;
    const have = this.#endpoints.get(key) as unknown as Endpoints | undefined;
    const annotations = { ...(have?.metadata?.annotations ?? {}), 'podgate.io/managed-by': 'endpoints-controller' };
    const body = { ...want, metadata: { ...want.metadata, annotations } } as unknown as KObject;
    if (!have) {
      await this.#client.create(r('endpoints'), svc.metadata!.namespace, body);
      return;
    }
    if (JSON.stringify(have.subsets ?? []) === JSON.stringify(want.subsets ?? []) && JSON.stringify(have.metadata?.labels ?? {}) === JSON.stringify(want.metadata?.labels ?? {})) return;
    await this.#client.update(r('endpoints'), { ...body, metadata: { ...body.metadata, resourceVersion: have.metadata?.resourceVersion } });
  }

  async #ignoreNotFound(p: Promise<unknown>): Promise<void> {
    try { await p; } catch (err) { if (!(err instanceof StatusError && err.code === 404)) throw err; }
  }
}
