// The garbage collector (kube's pkg/controller/garbagecollector): deletes objects whose owners
// (metadata.ownerReferences) are all gone, and carries out the `orphan` and `foregroundDeletion`
// finalizers the API server adds for `propagationPolicy` Orphan and Foreground. It watches every
// served resource but keeps only their metadata, builds the ownership graph from them, and acts
// through the API like any other client.
import { StatusError } from '../../api/errors.ts';
import type { KObject } from '../../api/object.ts';
import { lookupKind, resources, type ResourceInfo } from '../../api/resources.ts';
import { Informer } from '../../client/informer.ts';
import { resourcePath, type KubeClient } from '../../client/rest-client.ts';
import { WorkQueue } from '../../client/work-queue.ts';
import { type GcAction, type GraphNode, type OwnerCheck, OwnershipGraph, ownerCheckFor, planObject } from './plan.ts';

/**
 * Which resources the collector watches: all that can be listed, watched and deleted, except
 * Events (many, short-lived, and in practice never owners or owned; kube watches them too).
 */
export function collectedResources(): ResourceInfo[] {
  return resources.filter((r) => r.kind !== 'Event' && (['list', 'watch', 'delete'] as const).every((v) => r.verbs.includes(v)));
}

const resourceName = (r: ResourceInfo): string => (r.group ? `${r.resource}.${r.group}` : r.resource);

/** client-go's metadata-only informers: the graph needs identity, owners and the deletion state. */
function metadataOnly(o: KObject): KObject {
  const m = o.metadata;
  return {
    apiVersion: o.apiVersion, kind: o.kind,
    metadata: {
      name: m.name, namespace: m.namespace, uid: m.uid, resourceVersion: m.resourceVersion,
      ownerReferences: m.ownerReferences, finalizers: m.finalizers, deletionTimestamp: m.deletionTimestamp,
    },
  };
}

function toNode(r: ResourceInfo, o: KObject): GraphNode {
  return {
    resource: resourceName(r), namespace: r.namespaced ? o.metadata.namespace : undefined, name: o.metadata.name ?? '',
    uid: o.metadata.uid ?? '', owners: o.metadata.ownerReferences ?? [], finalizers: o.metadata.finalizers ?? [],
    deleting: Boolean(o.metadata.deletionTimestamp),
  };
}

export interface GarbageCollectorOptions {
  client: KubeClient;
  log?: (m: string) => void;
  /** The resources to watch (default: collectedResources()). */
  resources?: readonly ResourceInfo[];
}

export class GarbageCollector {
  readonly #client: KubeClient;
  readonly #log: (m: string) => void;
  readonly #graph = new OwnershipGraph();
  readonly #informers: { r: ResourceInfo; informer: Informer }[];
  readonly #byName = new Map<string, ResourceInfo>();
  readonly #queue: WorkQueue;
  #synced = false;
  /** Owner references the collector can resolve (see OwnerCheck): a kind it watches, a valid scope. */
  readonly #canCheck: OwnerCheck;

  constructor(opts: GarbageCollectorOptions) {
    this.#client = opts.client;
    this.#log = opts.log ?? (() => {});
    this.#queue = new WorkQueue({ process: (uid) => this.#sync(uid), workers: 4, baseDelayMs: 200, maxDelayMs: 30_000,
      onError: (k, e) => this.#log(`garbage collector ${this.#describe(k)}: ${e instanceof Error ? e.message : String(e)}`) });
    this.#informers = (opts.resources ?? collectedResources()).map((r) => {
      this.#byName.set(resourceName(r), r);
      const informer = new Informer({ client: opts.client, resource: r, transform: metadataOnly,
        onError: (e) => this.#log(`garbage collector ${resourceName(r)}: ${String(e)}`) });
      informer.addHandlers({
        onAdd: (o) => this.#changed(toNode(r, o)),
        onUpdate: (o) => this.#changed(toNode(r, o)),
        onDelete: (o) => this.#removed(o.metadata.uid ?? ''),
      });
      return { r, informer };
    });
    this.#canCheck = ownerCheckFor(new Set(this.#byName.keys()));
  }

  /** Starts watching; acts only once every resource is listed (else every owner would look gone). */
  async start(): Promise<void> {
    for (const { informer } of this.#informers) informer.start();
    await Promise.all(this.#informers.map(({ informer }) => informer.waitForSync()));
    this.#synced = true;
    for (const { informer, r } of this.#informers) {
      for (const o of informer.list()) {
        const n = toNode(r, o);
        if (n.owners.length || n.deleting) this.#queue.add(n.uid);
      }
    }
  }

  async stop(): Promise<void> {
    this.#queue.stop();
    await Promise.all(this.#informers.map(({ informer }) => informer.stop()));
  }

  #enqueue(uid: string): void {
    if (this.#synced && uid) this.#queue.add(uid);
  }

  #changed(node: GraphNode): void {
    const old = this.#graph.upsert(node);
    if (node.owners.length || node.deleting) this.#enqueue(node.uid);
    // An owner starting a foreground or orphaning delete: its dependents have work to do.
    if (node.deleting && !old?.deleting) for (const d of this.#graph.dependentsOf(node.uid)) this.#enqueue(d.uid);
    // Owners this object stopped naming may be waiting for it (foreground).
    for (const o of old?.owners ?? []) if (!node.owners.some((x) => x.uid === o.uid)) this.#enqueue(o.uid);
  }

  #removed(uid: string): void {
    const old = this.#graph.remove(uid);
    // Its dependents may now be orphans; its owners may have been waiting for it.
    for (const d of this.#graph.dependentsOf(uid)) this.#enqueue(d.uid);
    for (const o of old?.owners ?? []) this.#enqueue(o.uid);
  }

  #describe(uid: string): string {
    const n = this.#graph.get(uid);
    return n ? `${n.resource} ${n.namespace ? `${n.namespace}/` : ''}${n.name}` : uid;
  }

  async #sync(uid: string): Promise<void> {
    const cached = this.#graph.get(uid);
    if (!cached) return;
    let actions = planObject(cached, this.#graph, this.#canCheck);
    if (actions.some((a) => a.node.uid === uid && (a.kind === 'delete' || a.kind === 'removeOwnerReferences'))) {
      // attemptToDeleteItem decides on the object as it is now: our copy may still name an owner
      // whose reference was just removed (orphaning) while that owner's deletion came in first.
      const fresh = await this.#fetch(cached);
      if (!fresh) return;
      actions = planObject(fresh, this.#graph, this.#canCheck);
    }
    for (const action of actions) {
      if (!(await this.#confirmGone(action))) {
        // The owner exists: our picture was behind. Look again later.
        this.#queue.addAfter(uid, 1_000);
        return;
      }
      await this.#apply(action);
    }
  }

  /** The object read from the API server, as a graph node; undefined when it is gone or replaced. */
  async #fetch(node: GraphNode): Promise<GraphNode | undefined> {
    const r = this.#byName.get(node.resource);
    if (!r) return undefined;
    try {
      const o = await this.#client.get(r, node.namespace, node.name);
      return o.metadata.uid === node.uid ? toNode(r, o) : undefined;
    } catch (err) {
      if (err instanceof StatusError && err.code === 404) return undefined;
      throw err;
    }
  }

  /** isDangling: every owner the plan thinks is gone is asked for by name; a different uid means gone too. */
  async #confirmGone(action: GcAction): Promise<boolean> {
    if (action.kind === 'removeFinalizer') return true;
    for (const ref of action.verifyGone) {
      const r = lookupKind(ref.apiVersion, ref.kind);
      // An owner of a kind not served here can never be checked; leave the dependent alone (kube retries).
      if (!r) return false;
      try {
        const owner = await this.#client.get(r, r.namespaced ? action.node.namespace : undefined, ref.name);
        if (owner.metadata.uid === ref.uid) return false;
      } catch (err) {
        if (!(err instanceof StatusError && err.code === 404)) throw err;
      }
    }
    return true;
  }

  async #apply(action: GcAction): Promise<void> {
    const node = action.node;
    const r = this.#byName.get(node.resource);
    if (!r) return;
    try {
      switch (action.kind) {
        case 'delete':
          await this.#client.request('DELETE', resourcePath(r, node.namespace, node.name),
            { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: action.policy, preconditions: { uid: node.uid } });
          break;
        case 'removeOwnerReferences':
          // A strategic merge patch deleting by uid, conditional on the object's own uid (kube's deleteOwnerRefStrategicMergePatch).
          await this.#client.patch(r, node.namespace, node.name,
            { metadata: { ownerReferences: action.uids.map((u) => ({ $patch: 'delete', uid: u })), uid: node.uid } }, 'strategic');
          break;
        case 'removeFinalizer':
          await this.#removeFinalizer(r, node, action.finalizer);
          break;
      }
    } catch (err) {
      // Gone already, or replaced by another object of the same name: nothing left to do.
      if (err instanceof StatusError && (err.code === 404 || (err.code === 409 && /Precondition failed/.test(err.message)))) return;
      throw err;
    }
  }

  /** removeFinalizer: read, drop the one finalizer, write back; again on a conflict. */
  async #removeFinalizer(r: ResourceInfo, node: GraphNode, finalizer: string): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const current = await this.#client.get(r, node.namespace, node.name);
      if (current.metadata.uid !== node.uid) return;
      const finalizers = current.metadata.finalizers ?? [];
      if (!finalizers.includes(finalizer)) return;
      const next = { ...current, metadata: { ...current.metadata, finalizers: finalizers.filter((f) => f !== finalizer) } };
      try {
        await this.#client.update(r, next);
        return;
      } catch (err) {
        if (err instanceof StatusError && err.code === 409 && attempt < 5) continue;
        throw err;
      }
    }
  }
}
