// The generic registry: CRUD, list and watch for every served resource on top of the Store, with
// kube-apiserver's object lifecycle (uid, timestamps, generation, optimistic concurrency,
// finalizers and graceful deletion). Kind-specific rules come from Strategy hooks.
import { randomUUID } from 'node:crypto';
import { errors, field, type FieldError } from '../../api/errors.ts';
import { cloneJson, type KObject } from '../../api/object.ts';
import { type ResourceInfo, resources } from '../../api/resources.ts';
import { jsonEqual } from '../../api/validation/pod.ts';
import {
  KeyExistsError, KeyNotFoundError, RevisionConflictError, type Store, type StoreEvent, type Watch,
} from '../../store/store.ts';
import { decodeStored, encodeStored, k8sTime, storageKey } from '../object-meta.ts';
import type { Requester, Strategy } from './strategy.ts';

export interface RegistryOptions {
  store: Store;
  strategies?: Partial<Record<string, Strategy>>; // by resource plural
  /** Defaulting and validation (src/api/defaults, src/api/validation), injected to keep this generic. */
  applyDefaults: (obj: KObject) => void;
  /** `subresource`: the endpoint of an update (`status`, `approval`…), undefined for the main resource. */
  validate: (obj: KObject, old: KObject | undefined, subresource?: string) => FieldError[];
  now?: () => Date;
  random?: () => number;
}

export interface ListOptions {
  limit?: number;
  continueToken?: string;
  filter?: (obj: KObject) => boolean;
}

export interface ListResult {
  items: KObject[];
  resourceVersion: string;
  continueToken?: string;
  remainingItemCount?: number;
}

export interface WriteOptions {
  dryRun?: boolean;
  /** Who makes the write, when the API server authenticated the request (a CSR records its requester). */
  requester?: Requester;
}

export interface DeleteOptions extends WriteOptions {
  gracePeriodSeconds?: number;
  preconditions?: { uid?: string; resourceVersion?: string };
  propagationPolicy?: string;
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface RegistryEvent {
  readonly type: WatchEventType;
  readonly object: KObject;
  /** The object before this change (for selector transitions), if any. */
  readonly prev: KObject | undefined;
  readonly revision: number;
}

/**
 * Store events are decoded once and shared by every watcher of the resource (watchers must not
 * mutate them): with 100 watchers, one write is one JSON.parse, not a hundred. Only the most
 * recent events are kept decoded; the store's longer history stays as compact JSON strings.
 */
const decodedEvents = new Map<StoreEvent, RegistryEvent>();
const decodedEventsKept = 1024;

/** A store event decoded; the object before the change only once asked for (selector watches need it, the rest never do). */
class DecodedEvent implements RegistryEvent {
  readonly type: WatchEventType;
  readonly object: KObject;
  readonly revision: number;
  #r: ResourceInfo | undefined;
  #prevValue: string | undefined;
  #prev: KObject | undefined;

  constructor(r: ResourceInfo, ev: StoreEvent) {
    this.type = ev.type === 'create' ? 'ADDED' : ev.type === 'update' ? 'MODIFIED' : 'DELETED';
    this.object = decodeStored(r, ev.value, ev.revision);
    this.revision = ev.revision;
    if (ev.prevValue !== undefined) { this.#r = r; this.#prevValue = ev.prevValue; }
  }

  get prev(): KObject | undefined {
    if (this.#prevValue !== undefined) {
      this.#prev = decodeStored(this.#r!, this.#prevValue, this.revision);
      this.#prevValue = this.#r = undefined;
    }
    return this.#prev;
  }
}

function translateEvent(r: ResourceInfo, ev: StoreEvent): RegistryEvent {
  let out = decodedEvents.get(ev);
  if (!out) {
    out = new DecodedEvent(r, ev);
    decodedEvents.set(ev, out);
    if (decodedEvents.size > decodedEventsKept) decodedEvents.delete(decodedEvents.keys().next().value!);
  }
  return out;
}

const generateNameChars = 'bcdfghjklmnpqrstvwxz2456789';

export class Registry {
  readonly #store: Store;
  readonly #strategies: Partial<Record<string, Strategy>>;
  readonly #defaults: (obj: KObject) => void;
  readonly #validate: (obj: KObject, old: KObject | undefined, subresource?: string) => FieldError[];
  readonly #now: () => Date;
  readonly #random: () => number;

  constructor(opts: RegistryOptions) {
    this.#store = opts.store;
    this.#strategies = opts.strategies ?? {};
    this.#defaults = opts.applyDefaults;
    this.#validate = opts.validate;
    this.#now = opts.now ?? (() => new Date());
    this.#random = opts.random ?? Math.random;
  }

  get store(): Store {
    return this.#store;
  }

  strategy(r: ResourceInfo): Strategy {
    return this.#strategies[r.resource] ?? {};
  }

  async get(r: ResourceInfo, namespace: string | undefined, name: string): Promise<KObject> {
    const e = await this.#store.get(storageKey(r, namespace, name));
    if (!e) throw errors.notFound(r, name);
    return decodeStored(r, e.value, e.modRevision);
  }

  async tryGet(r: ResourceInfo, namespace: string | undefined, name: string): Promise<KObject | undefined> {
    const e = await this.#store.get(storageKey(r, namespace, name));
    return e ? decodeStored(r, e.value, e.modRevision) : undefined;
  }

  /** Lists (one namespace, or all when undefined); `limit` pages with an opaque continue token. */
  async list(r: ResourceInfo, namespace: string | undefined, opts: ListOptions = {}): Promise<ListResult> {
    const prefix = storageKey(r, namespace);
    let startAfter: string | undefined;
    if (opts.continueToken) startAfter = decodeContinue(opts.continueToken, prefix);
    const items: KObject[] = [];
    const limit = opts.limit && opts.limit > 0 ? opts.limit : undefined;
    let revision = this.#store.currentRevision();
    let lastKey: string | undefined;
    let more = false;
    // Filtering happens after the read, so keep reading pages until the limit is met.
    for (;;) {
      const page = await this.#store.list(prefix, { startAfter, limit: limit ? Math.max(limit - items.length, 1) * 2 : undefined });
      revision = page.revision;
      for (const e of page.entries) {
        if (limit && items.length >= limit) { more = true; break; }
        const obj = decodeStored(r, e.value, e.modRevision);
        lastKey = e.key;
        if (!opts.filter || opts.filter(obj)) items.push(obj);
      }
      if (more || !page.more) break;
      if (limit && items.length >= limit) { more = true; break; }
      startAfter = page.entries.at(-1)?.key;
    }
    const out: ListResult = { items, resourceVersion: String(revision) };
    if (more && lastKey) out.continueToken = encodeContinue(lastKey, prefix, revision);
    return out;
  }

  /**
   * Streams changes after `resourceVersion` (0 or undefined: the current state as ADDED first).
   * Throws 410 Gone when that revision is no longer kept.
   */
  watch(r: ResourceInfo, namespace: string | undefined, resourceVersion: number | undefined,
    onEvent: (ev: RegistryEvent) => void): Promise<Watch> {
    const prefix = storageKey(r, namespace);
    return this.#watchFrom(r, prefix, resourceVersion, (ev) => translateEvent(r, ev), onEvent);
  }

  async #watchFrom(r: ResourceInfo, prefix: string, resourceVersion: number | undefined,
    translate: (ev: StoreEvent) => RegistryEvent, onEvent: (ev: RegistryEvent) => void): Promise<Watch> {
    if (resourceVersion === undefined || resourceVersion === 0) {
      // Synthetic ADDED events for what exists, then everything after that snapshot.
      const page = await this.#store.list(prefix);
      for (const e of page.entries) {
        onEvent({ type: 'ADDED', object: decodeStored(r, e.value, e.modRevision), prev: undefined, revision: e.modRevision });
      }
      return this.#store.watch(prefix, page.revision, (ev) => onEvent(translate(ev)));
    }
    try {
      return this.#store.watch(prefix, resourceVersion, (ev) => onEvent(translate(ev)));
    } catch (err) {
      if (err instanceof Error && err.name === 'CompactedError') {
        const oldest = (err as unknown as { oldest: number }).oldest;
        throw errors.gone(`too old resource version: ${resourceVersion} (${oldest})`);
      }
      throw err;
    }
  }

  async create(r: ResourceInfo, namespace: string | undefined, input: KObject, opts: WriteOptions = {}): Promise<KObject> {
    const obj = cloneJson(input);
    const meta = obj.metadata ?? (obj.metadata = {});
    if (r.namespaced) {
      if (meta.namespace && namespace && meta.namespace !== namespace) {
        throw errors.badRequest('the namespace of the provided object does not match the namespace sent on the request');
      }
      meta.namespace = namespace ?? meta.namespace;
      if (!meta.namespace) throw errors.badRequest('the server could not find the requested resource');
      await this.#checkNamespaceWritable(meta.namespace, r, meta.name ?? '');
    } else {
      delete meta.namespace;
    }
    // SimpleNameGenerator: the base cut to 58 characters, so base and suffix fit in 63.
    if (!meta.name && meta.generateName) meta.name = meta.generateName.slice(0, 58) + this.#randomSuffix();
    meta.uid = randomUUID();
    meta.creationTimestamp = k8sTime(this.#now());
    delete meta.resourceVersion;
    delete meta.deletionTimestamp;
    delete meta.deletionGracePeriodSeconds;
    delete meta.managedFields;
    delete meta.selfLink;
    dropEmptyLists(obj);
    const strategy = this.strategy(r);
    if (strategy.tracksGeneration) meta.generation = 1; else delete meta.generation;
    strategy.prepareForCreate?.(obj, { requester: opts.requester });
    this.#defaults(obj);
    // Allocation is checked before validation, as kube-apiserver does (a taken nodePort is
    // reported even when the name also exists or other fields are invalid).
    const reservation = strategy.reserve?.(obj, undefined);
    if (reservation?.errors.length) throw errors.invalid(r.kind, r.group, meta.name ?? '', reservation.errors);
    const errs = this.#validate(reservation?.object ?? obj, undefined);
    if (!meta.name) errs.unshift({ type: 'FieldValueRequired', field: 'metadata.name', message: 'Required value: name or generateName is required' });
    if (errs.length) throw errors.invalid(r.kind, r.group, meta.name ?? '', errs);
    const final = reservation?.object ?? obj;
    if (opts.dryRun) return final;
    reservation?.commit();
    try {
      const rev = await this.#store.create(storageKey(r, final.metadata.namespace, final.metadata.name), encodeStored(final));
      reservation?.finish();
      final.metadata.resourceVersion = String(rev);
      return final;
    } catch (err) {
      reservation?.abort();
      if (err instanceof KeyExistsError) throw errors.alreadyExists(r, final.metadata.name!);
      throw err;
    }
  }

  /**
   * Replaces an object (PUT, or the result of a patch). `expectRevision` (from the body's
   * resourceVersion or the patch base) makes it conditional: a mismatch is 409 Conflict.
   */
  async update(r: ResourceInfo, namespace: string | undefined, name: string, input: KObject,
    opts: WriteOptions & { subresource?: string; baseRevision?: number; patch?: boolean } = {}): Promise<{ object: KObject; created: boolean }> {
    const key = storageKey(r, namespace, name);
    const strategy = this.strategy(r);
    const currentEntry = await this.#store.get(key);
    const obj = cloneJson(input);
    obj.metadata ??= {};
    if (obj.metadata.name && obj.metadata.name !== name) {
      throw errors.badRequest(`the name of the object (${obj.metadata.name}) does not match the name on the URL (${name})`);
    }
    if (r.namespaced && obj.metadata.namespace && obj.metadata.namespace !== namespace) {
      throw errors.badRequest('the namespace of the provided object does not match the namespace sent on the request');
    }
    if (!currentEntry) {
      if (strategy.allowCreateOnUpdate && !opts.subresource) {
        obj.metadata.name = name;
        return { object: await this.create(r, namespace, obj, opts), created: true };
      }
      throw errors.notFound(r, name);
    }
    const old = decodeStored(r, currentEntry.value, currentEntry.modRevision);
    const bodyRv = obj.metadata.resourceVersion;
    if (bodyRv && bodyRv !== old.metadata.resourceVersion) throw errors.conflict(r, name);
    if (!bodyRv) {
      // kube-apiserver's store: no resourceVersion is an update of what is stored, where the kind allows it.
      if (strategy.allowUnconditionalUpdate === false) {
        throw errors.invalid(r.resource, r.group, name, [field.invalid('metadata.resourceVersion', 0, 'must be specified for an update', '0')]);
      }
      obj.metadata.resourceVersion = old.metadata.resourceVersion;
    }
    // A PUT naming another uid (the object was deleted and made again since it was read) is a
    // failed precondition, as kube-apiserver's; a patch that changes it fails validation (immutable).
    if (obj.metadata.uid && obj.metadata.uid !== old.metadata.uid && !opts.patch) {
      throw errors.conflict(r, name, `Precondition failed: UID in precondition: ${obj.metadata.uid}, UID in object meta: ${old.metadata.uid}`);
    }
    if (opts.baseRevision !== undefined && opts.baseRevision !== currentEntry.modRevision) throw errors.conflict(r, name);
    // Identity and lifecycle fields are the server's.
    obj.metadata.name = name;
    if (r.namespaced) obj.metadata.namespace = namespace; else delete obj.metadata.namespace;
    obj.metadata.uid ??= old.metadata.uid;
    obj.metadata.creationTimestamp = old.metadata.creationTimestamp;
    if (old.metadata.deletionTimestamp) {
      obj.metadata.deletionTimestamp = old.metadata.deletionTimestamp;
      obj.metadata.deletionGracePeriodSeconds = old.metadata.deletionGracePeriodSeconds;
    } else {
      delete obj.metadata.deletionTimestamp;
      delete obj.metadata.deletionGracePeriodSeconds;
    }
    delete obj.metadata.managedFields;
    delete obj.metadata.selfLink;
    dropEmptyLists(obj);
    if (opts.subresource === 'status' || opts.subresource === 'finalize') {
      const annotations = obj.metadata.annotations;
      keepAllButStatus(obj, old, opts.subresource);
      if (opts.subresource === 'status' && strategy.statusUpdatesAnnotations) {
        if (annotations) obj.metadata.annotations = annotations; else delete obj.metadata.annotations;
      }
      if (opts.subresource === 'status') strategy.prepareForStatusUpdate?.(obj, old);
    } else if (opts.subresource === 'binding') {
      // pods/binding hands over the whole pod with nodeName and PodScheduled set.
    } else {
      strategy.prepareForUpdate?.(obj, old, opts.subresource, { requester: opts.requester });
      if (r.hasStatus && strategy.prepareForUpdate === undefined && 'status' in old) obj.status = cloneJson(old.status);
      else if (r.hasStatus && strategy.prepareForUpdate === undefined) delete obj.status;
    }
    this.#defaults(obj);
    if (strategy.tracksGeneration) {
      const gen = old.metadata.generation ?? 1;
      // Status writes never bump it (kube's status strategies leave Generation alone).
      const changed = opts.subresource !== 'status' && (!jsonEqual(obj.spec, old.spec) ||
        (strategy.annotationsBumpGeneration === true && !jsonEqual(obj.metadata.annotations ?? {}, old.metadata.annotations ?? {})));
      obj.metadata.generation = changed ? gen + 1 : gen;
    }
    const reservation = strategy.reserve?.(obj, old);
    if (reservation?.errors.length) throw errors.invalid(r.kind, r.group, name, reservation.errors);
    // A binding sets nodeName, which pod updates may not change: check it as a new pod instead.
    const errs = this.#validate(reservation?.object ?? obj, opts.subresource === 'binding' ? undefined : old, opts.subresource);
    if (errs.length) throw errors.invalid(r.kind, r.group, name, errs);
    const final = reservation?.object ?? obj;
    // Removing the last finalizer of an object being deleted completes the delete.
    const finishDelete = Boolean(final.metadata.deletionTimestamp) && !(final.metadata.finalizers?.length) &&
      !(strategy.pendingFinalizers?.(final).length) && !pendingGrace(final);
    if (opts.dryRun) return { object: final, created: false };
    if (isUnchanged(final, old)) {
      reservation?.abort();
      return { object: old, created: false };
    }
    reservation?.commit();
    try {
      if (finishDelete) {
        const d = await this.#store.delete(key, currentEntry.modRevision);
        reservation?.finish();
        this.strategy(r).released?.(final);
        final.metadata.resourceVersion = String(d.revision);
        return { object: final, created: false };
      }
      const rev = await this.#store.update(key, encodeStored(final), currentEntry.modRevision);
      reservation?.finish();
      final.metadata.resourceVersion = String(rev);
      return { object: final, created: false };
    } catch (err) {
      reservation?.abort();
      if (err instanceof RevisionConflictError) throw errors.conflict(r, name);
      if (err instanceof KeyNotFoundError) throw errors.notFound(r, name);
      throw err;
    }
  }

  /**
   * Deletes: objects with finalizers or a grace period are marked (deletionTimestamp) and stay until
   * those are done; others go at once. Resolves to the object as last seen.
   */
  async delete(r: ResourceInfo, namespace: string | undefined, name: string, opts: DeleteOptions = {}): Promise<KObject> {
    for (let attempt = 0; ; attempt++) {
      const key = storageKey(r, namespace, name);
      const entry = await this.#store.get(key);
      if (!entry) throw errors.notFound(r, name);
      const obj = decodeStored(r, entry.value, entry.modRevision);
      const pre = opts.preconditions;
      if (pre?.uid && pre.uid !== obj.metadata.uid) {
        throw errors.conflict(r, name, `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${obj.metadata.uid}`);
      }
      if (pre?.resourceVersion && pre.resourceVersion !== obj.metadata.resourceVersion) {
        throw errors.conflict(r, name, `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${obj.metadata.resourceVersion}`);
      }
      const strategy = this.strategy(r);
      const grace = strategy.gracePeriodSeconds?.(obj, opts.gracePeriodSeconds) ?? 0;
      // The garbage collector's finalizers for the propagation policy (store.go deletionFinalizersForGarbageCollection),
      // except on Events, which the collector does not watch (kube's garbageCollectionPolicy Unsupported):
      // nothing would ever take such a finalizer off.
      const finalizers = r.kind === 'Event' ? obj.metadata.finalizers ?? [] : gcFinalizers(obj.metadata.finalizers ?? [], opts.propagationPolicy);
      const finalizersChanged = !sameSet(finalizers, obj.metadata.finalizers ?? []);
      const hasFinalizers = finalizers.length > 0 || (strategy.pendingFinalizers?.(obj).length ?? 0) > 0;
      if (opts.dryRun) return obj;
      try {
        if (grace > 0 || hasFinalizers) {
          const marked = cloneJson(obj);
          const now = this.#now();
          const wasDeleting = Boolean(marked.metadata.deletionTimestamp);
          if (finalizersChanged) {
            if (finalizers.length) marked.metadata.finalizers = finalizers; else delete marked.metadata.finalizers;
          }
          // A shorter grace period (0 from the kubelet once the pod stopped) replaces a longer one.
          const shorter = wasDeleting && (marked.metadata.deletionGracePeriodSeconds ?? Infinity) > grace;
          if (!wasDeleting || shorter || finalizersChanged) {
            if (!wasDeleting || shorter) {
              marked.metadata.deletionTimestamp = k8sTime(new Date(now.getTime() + grace * 1000));
              marked.metadata.deletionGracePeriodSeconds = grace;
            }
            strategy.markDeleting?.(marked);
            const rev = await this.#store.update(key, encodeStored(marked), entry.modRevision);
            marked.metadata.resourceVersion = String(rev);
          }
          if (grace > 0 || hasFinalizers) return marked;
        }
        const d = await this.#store.delete(key, entry.modRevision);
        strategy.released?.(obj);
        obj.metadata.resourceVersion = String(d.revision);
        return obj;
      } catch (err) {
        if (err instanceof RevisionConflictError && attempt < 5) continue;
        if (err instanceof KeyNotFoundError) throw errors.notFound(r, name);
        throw err;
      }
    }
  }

  /** The NamespaceLifecycle admission plugin: nothing new in a namespace that is missing or being deleted. */
  async #checkNamespaceWritable(namespace: string, r: ResourceInfo, name: string): Promise<void> {
    const nsInfo = resources.find((x) => x.resource === 'namespaces')!;
    const e = await this.#store.get(storageKey(nsInfo, undefined, namespace));
    if (!e) throw errors.notFound(nsInfo, namespace);
    const ns = JSON.parse(e.value) as KObject;
    if (ns.metadata.deletionTimestamp) {
      const err = errors.forbidden(r, name, `unable to create new content in namespace ${namespace} because it is being terminated`);
      err.details!.causes = [{ reason: 'NamespaceTerminating', message: `namespace ${namespace} is being terminated`, field: 'metadata.namespace' }];
      throw err;
    }
  }

  #randomSuffix(): string {
    let s = '';
    for (let i = 0; i < 5; i++) s += generateNameChars[Math.floor(this.#random() * generateNameChars.length)];
    return s;
  }
}

/**
 * ObjectMeta's lists are omitempty in kube's JSON: a patch that takes the last owner reference or
 * finalizer away leaves no `[]` behind (clients test for the field, e.g. jsonpath on ownerReferences).
 */
function dropEmptyLists(obj: KObject): void {
  if (Array.isArray(obj.metadata.ownerReferences) && obj.metadata.ownerReferences.length === 0) delete obj.metadata.ownerReferences;
  if (Array.isArray(obj.metadata.finalizers) && obj.metadata.finalizers.length === 0) delete obj.metadata.finalizers;
}

/** /status writes change only status; /finalize only spec.finalizers. */
function keepAllButStatus(obj: KObject, old: KObject, subresource: string): void {
  const keep = subresource === 'finalize' ? 'spec' : 'status';
  const next = cloneJson(old);
  for (const k of Object.keys(obj)) if (k !== keep && k !== 'metadata') delete obj[k];
  for (const [k, v] of Object.entries(next)) {
    if (k === keep) continue;
    obj[k] = v;
  }
  if (subresource === 'finalize') {
    const finalizers = (obj.spec as { finalizers?: unknown } | undefined)?.finalizers;
    obj.spec = { ...(old.spec as object), finalizers };
  }
  obj.metadata = { ...old.metadata, resourceVersion: obj.metadata.resourceVersion };
}

/**
 * The finalizers an object has once a delete with `policy` starts: `orphan` for Orphan,
 * `foregroundDeletion` for Foreground, neither for Background; without a policy, whichever the
 * object already carries (every kind served here defaults to deleting dependents in the background).
 */
export function gcFinalizers(current: readonly string[], policy: string | undefined): string[] {
  const orphan = policy ? policy === 'Orphan' : current.includes('orphan');
  const foreground = policy ? policy === 'Foreground' : current.includes('foregroundDeletion');
  const out = current.filter((f) => f !== 'orphan' && f !== 'foregroundDeletion');
  if (orphan) out.push('orphan');
  if (foreground) out.push('foregroundDeletion');
  return out;
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  const sa = new Set(a);
  const sb = new Set(b);
  return sa.size === sb.size && [...sa].every((x) => sb.has(x));
}

function pendingGrace(obj: KObject): boolean {
  return (obj.metadata.deletionGracePeriodSeconds ?? 0) > 0;
}

function isUnchanged(a: KObject, b: KObject): boolean {
  const strip = (o: KObject) => ({ ...o, metadata: { ...o.metadata, resourceVersion: undefined } });
  return JSON.stringify(strip(a)) === JSON.stringify(strip(b));
}

function encodeContinue(key: string, prefix: string, rv: number): string {
  return Buffer.from(JSON.stringify({ v: 'meta.k8s.io/v1', rv, start: key.slice(prefix.length) + '\u0000' })).toString('base64url');
}

function decodeContinue(token: string, prefix: string): string {
  try {
    const c = JSON.parse(Buffer.from(token, 'base64url').toString()) as { v?: string; start?: string };
    if (c.v !== 'meta.k8s.io/v1' || typeof c.start !== 'string') throw new Error('bad');
    return prefix + c.start.replace(/\u0000$/, '');
  } catch {
    throw errors.badRequest('continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)');
  }
}
