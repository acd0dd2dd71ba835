// Namespace deletion, as kube-controller-manager's namespace controller does it: when a Namespace
// is Terminating, delete everything it holds, and once nothing is left, drop the `kubernetes`
// finalizer through /finalize so the API server removes the Namespace.
import { StatusError } from '../../api/errors.ts';
import type { KObject } from '../../api/object.ts';
import { resources, type ResourceInfo } from '../../api/resources.ts';
import { Informer } from '../../client/informer.ts';
import type { KubeClient } from '../../client/rest-client.ts';
import { WorkQueue } from '../../client/work-queue.ts';

const namespaceInfo = resources.find((r) => r.resource === 'namespaces')!;

/** What is left to do for one terminating namespace (pure, for tests). */
export function planNamespaceCleanup(remaining: ReadonlyMap<ResourceInfo, readonly KObject[]>): { deletes: { r: ResourceInfo; name: string }[]; done: boolean } {
  const deletes: { r: ResourceInfo; name: string }[] = [];
  let done = true;
  for (const [r, items] of remaining) {
    for (const o of items) {
      done = false;
      if (!o.metadata.deletionTimestamp) deletes.push({ r, name: o.metadata.name! });
    }
  }
  deletes.sort((a, b) => a.r.resource.localeCompare(b.r.resource) || a.name.localeCompare(b.name));
  return { deletes, done };
}

export class NamespaceController {
  readonly #client: KubeClient;
  readonly #informer: Informer;
  readonly #queue: WorkQueue;
  readonly #log: (m: string) => void;

  constructor(opts: { client: KubeClient; log?: (m: string) => void }) {
    this.#client = opts.client;
    this.#log = opts.log ?? (() => {});
    this.#informer = new Informer({ client: opts.client, resource: namespaceInfo, onError: (e) => this.#log(`namespace informer: ${String(e)}`) });
    this.#queue = new WorkQueue({
      process: (name) => this.#sync(name),
      workers: 2,
      baseDelayMs: 200,
      maxDelayMs: 5_000,
      onError: (k, e) => this.#log(`namespace ${k}: ${e instanceof Error ? e.message : String(e)}`),
    });
    const enqueue = (o: KObject) => { if (o.metadata.deletionTimestamp) this.#queue.add(o.metadata.name!); };
    this.#informer.addHandlers({ onAdd: enqueue, onUpdate: enqueue });
  }

  start(): void {
    this.#informer.start();
  }

  async stop(): Promise<void> {
    this.#queue.stop();
    await this.#informer.stop();
  }

  async #sync(name: string): Promise<void> {
    const ns = this.#informer.get(name);
    if (!ns?.metadata.deletionTimestamp) return;
    const remaining = new Map<ResourceInfo, KObject[]>();
    for (const r of resources) {
      if (!r.namespaced || !r.verbs.includes('list')) continue;
      const l = await this.#client.list(r, name);
      if (l.items.length) remaining.set(r, l.items);
    }
    const plan = planNamespaceCleanup(remaining);
    for (const d of plan.deletes) {
      try {
        await this.#client.delete(d.r, name, d.name);
      } catch (err) {
        if (!(err instanceof StatusError && err.code === 404)) throw err;
      }
    }
    if (!plan.done) {
      // Something is still going away (graceful pods); look again shortly.
      this.#queue.addAfter(name, 500);
      return;
    }
    const finalizers = ((ns.spec as { finalizers?: string[] } | undefined)?.finalizers ?? []).filter((f) => f !== 'kubernetes');
    try {
      await this.#client.update(namespaceInfo, { ...ns, spec: { ...(ns.spec as object), finalizers } }, 'finalize');
    } catch (err) {
      if (err instanceof StatusError && (err.code === 404 || err.code === 409)) {
        if (err.code === 409) this.#queue.addAfter(name, 100);
        return;
      }
      throw err;
    }
  }
}
