// A list-then-watch cache of one resource, as client-go's informer: relists on 410 Gone, resumes
// after a dropped stream, and tells handlers about changes. Components read from the cache, never
// from the API server, on their hot paths.
import { setTimeout as sleep } from 'node:timers/promises';
import { StatusError } from '../api/errors.ts';
import type { KObject } from '../api/object.ts';
import type { ResourceInfo } from '../api/resources.ts';
import type { KubeClient } from './rest-client.ts';

const MAX_RETRY_DELAY_MS = 30_000;

export type ObjectKey = string; // "namespace/name" or "name"

export function objectKey(o: KObject): ObjectKey {
  return o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name!;
}

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/**
 * For components that only read their objects (never update them from the cache): drops
 * metadata.managedFields and kubectl's last-applied-configuration annotation, which together are
 * often as big as the rest of the object (a Secret's last-applied copy holds all its data again).
 * client-go's TransformStripManagedFields, plus the annotation.
 */
export function stripReadOnly(obj: KObject): KObject {
  const { managedFields, annotations } = obj.metadata;
  if (managedFields === undefined && annotations?.[LAST_APPLIED] === undefined) return obj;
  const metadata = { ...obj.metadata };
  delete metadata.managedFields;
  if (annotations?.[LAST_APPLIED] !== undefined) {
    const { [LAST_APPLIED]: _dropped, ...rest } = annotations;
    metadata.annotations = rest;
  }
  return { ...obj, metadata };
}

export interface InformerHandlers {
  onAdd?(obj: KObject): void;
  onUpdate?(obj: KObject, old: KObject): void;
  onDelete?(obj: KObject): void;
}

export interface InformerOptions {
  client: KubeClient;
  resource: ResourceInfo;
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /**
   * Applied to every object before it is cached and handed to handlers, as client-go's
   * SetTransform (stripReadOnly drops what a component that never writes its objects back has no use for).
   */
  transform?: (obj: KObject) => KObject;
  /** Wait after a failed list/watch before trying again; doubled after each further failure, up to 30 s. */
  retryDelayMs?: number;
  onError?: (err: unknown) => void;
}

export class Informer {
  readonly #opts: InformerOptions;
  readonly #cache = new Map<ObjectKey, KObject>();
  readonly #handlers: InformerHandlers[] = [];
  readonly #abort = new AbortController();
  #synced = false;
  #syncWaiters: (() => void)[] = [];
  #running: Promise<void> | undefined;

  constructor(opts: InformerOptions) {
    this.#opts = opts;
  }

  addHandlers(h: InformerHandlers): void {
    this.#handlers.push(h);
  }

  get(key: ObjectKey): KObject | undefined {
    return this.#cache.get(key);
  }

  list(): KObject[] {
    return [...this.#cache.values()];
  }

  hasSynced(): boolean {
    return this.#synced;
  }

  /** Resolves once the first full list is in the cache. */
  waitForSync(): Promise<void> {
    if (this.#synced) return Promise.resolve();
    return new Promise((resolve) => this.#syncWaiters.push(resolve));
  }

  start(): void {
    this.#running ??= this.#run();
  }

  async stop(): Promise<void> {
    this.#abort.abort();
    await this.#running?.catch(() => {});
  }

  async #run(): Promise<void> {
    const { client, resource, namespace, labelSelector, fieldSelector } = this.#opts;
    const delay = this.#opts.retryDelayMs ?? 1000;
    // client-go's reflector backs off too: an API server that is down is not asked (and logged) every second.
    let failures = 0;
    let rv: string | undefined;
    while (!this.#abort.signal.aborted) {
      try {
        if (rv === undefined) {
          const l = await client.list(resource, namespace, { labelSelector, fieldSelector });
          this.#replace(l.items);
          rv = l.metadata.resourceVersion ?? '0';
          failures = 0;
          if (!this.#synced) {
            this.#synced = true;
            for (const w of this.#syncWaiters.splice(0)) w();
          }
        }
        await client.watch(resource, namespace, { resourceVersion: rv, labelSelector, fieldSelector, allowWatchBookmarks: true, timeoutSeconds: 300 },
          (ev) => {
            failures = 0;
            rv = ev.object.metadata.resourceVersion ?? rv;
            if (ev.type === 'ADDED' || ev.type === 'MODIFIED') this.#upsert(ev.object);
            else if (ev.type === 'DELETED') this.#remove(ev.object);
          }, this.#abort.signal);
      } catch (err) {
        if (this.#abort.signal.aborted) return;
        if (err instanceof StatusError && (err.code === 410 || err.reason === 'Expired' || err.reason === 'Gone')) { rv = undefined; continue; }
        this.#opts.onError?.(err);
        await sleep(Math.min(delay * 2 ** failures++, MAX_RETRY_DELAY_MS), undefined, { signal: this.#abort.signal }).catch(() => {});
      }
    }
  }

  #replace(items: KObject[]): void {
    const seen = new Set<ObjectKey>();
    for (const o of items) { seen.add(objectKey(o)); this.#upsert(o); }
    for (const [k, o] of [...this.#cache]) if (!seen.has(k)) this.#remove(o);
  }

  #upsert(received: KObject): void {
    const k = objectKey(received);
    const old = this.#cache.get(k);
    if (old && old.metadata.resourceVersion === received.metadata.resourceVersion) return;
    const o = this.#opts.transform ? this.#opts.transform(received) : received;
    this.#cache.set(k, o);
    for (const h of this.#handlers) old ? h.onUpdate?.(o, old) : h.onAdd?.(o);
  }

  #remove(o: KObject): void {
    const k = objectKey(o);
    if (!this.#cache.delete(k)) return;
    for (const h of this.#handlers) h.onDelete?.(o);
  }
}
