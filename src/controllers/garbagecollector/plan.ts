// The garbage collector's decisions (pure), as kube's pkg/controller/garbagecollector makes them:
// a graph of objects and their ownerReferences, and for one object what to do — delete it when all
// its owners are gone (attemptToDeleteItem), drop the references to owners that are gone while
// others remain, orphan the dependents of an owner deleted with `orphan` (attemptToOrphan), and let
// an owner deleted in the foreground go once its blocking dependents are gone.
import type { OwnerReference } from 'kubernetes-types/meta/v1.d.ts';
import { lookupKind } from '../../api/resources.ts';

/** What the graph keeps of an object: identity, owners, and the deletion state. */
export interface GraphNode {
  /** The resource's plural with its group (`replicasets.apps`, `pods`): where to send writes. */
  readonly resource: string;
  readonly namespace: string | undefined;
  readonly name: string;
  readonly uid: string;
  readonly owners: readonly OwnerReference[];
  readonly finalizers: readonly string[];
  readonly deleting: boolean;
}

export type DeletionPolicy = 'Background' | 'Foreground' | 'Orphan';

export type GcAction =
  /** Delete the object (with a uid precondition) once the owners in `verifyGone` are confirmed gone. */
  | { readonly kind: 'delete'; readonly node: GraphNode; readonly policy: DeletionPolicy; readonly verifyGone: readonly OwnerReference[] }
  /** Remove the owner references with these uids, once the owners in `verifyGone` are confirmed gone. */
  | { readonly kind: 'removeOwnerReferences'; readonly node: GraphNode; readonly uids: readonly string[]; readonly verifyGone: readonly OwnerReference[] }
  | { readonly kind: 'removeFinalizer'; readonly node: GraphNode; readonly finalizer: 'orphan' | 'foregroundDeletion' };

/** Objects by uid, and who names each uid as an owner. Mutated by the controller as events arrive. */
export class OwnershipGraph {
  readonly #nodes = new Map<string, GraphNode>();
  readonly #dependents = new Map<string, Set<string>>();

  get(uid: string): GraphNode | undefined {
    return this.#nodes.get(uid);
  }

  /** Adds or replaces a node; returns the one it replaced. */
  upsert(node: GraphNode): GraphNode | undefined {
    const old = this.#nodes.get(node.uid);
    if (old) for (const o of old.owners) this.#dependents.get(o.uid)?.delete(old.uid);
    this.#nodes.set(node.uid, node);
    for (const o of node.owners) {
      let set = this.#dependents.get(o.uid);
      if (!set) this.#dependents.set(o.uid, (set = new Set()));
      set.add(node.uid);
    }
    return old;
  }

  remove(uid: string): GraphNode | undefined {
    const old = this.#nodes.get(uid);
    if (!old) return undefined;
    this.#nodes.delete(uid);
    for (const o of old.owners) {
      const set = this.#dependents.get(o.uid);
      set?.delete(uid);
      if (set?.size === 0) this.#dependents.delete(o.uid);
    }
    return old;
  }

  /** The objects naming `uid` as an owner, sorted by resource, namespace and name. */
  dependentsOf(uid: string): GraphNode[] {
    const out: GraphNode[] = [];
    for (const d of this.#dependents.get(uid) ?? []) {
      const n = this.#nodes.get(d);
      if (n) out.push(n);
    }
    return out.sort((a, b) => keyOf(a).localeCompare(keyOf(b)));
  }
}

const keyOf = (n: GraphNode): string => `${n.resource}/${n.namespace ?? ''}/${n.name}`;

/** The policy to delete an object with, from the GC finalizers it already carries (kube's attemptToDeleteItem). */
function policyFor(node: GraphNode): DeletionPolicy {
  if (node.finalizers.includes('orphan')) return 'Orphan';
  if (node.finalizers.includes('foregroundDeletion')) return 'Foreground';
  return 'Background';
}

/**
 * The owner named by a reference, as the graph knows it. A namespaced object's owner must be in its
 * namespace or cluster-scoped; one found elsewhere counts as missing (kube reports it as
 * OwnerRefInvalidNamespace and treats it as absent).
 */
function ownerOf(node: GraphNode, ref: OwnerReference, graph: OwnershipGraph): GraphNode | undefined {
  const owner = graph.get(ref.uid);
  if (!owner) return undefined;
  if (owner.namespace !== undefined && owner.namespace !== node.namespace) return undefined;
  return owner;
}

/**
 * Whether the collector can ever tell that a reference's owner is gone: false for a kind it does
 * not watch (kube's rest-mapping error: it never deletes over it) and for a namespaced owner of a
 * cluster-scoped object (kube's namespacedOwnerOfClusterScopedObjectErr: such an object "is not able
 * to be garbage collected"). Such references count as owners present.
 */
export type OwnerCheck = (node: GraphNode, ref: OwnerReference) => boolean;

/** The collector's OwnerCheck over the resources it watches (by `plural.group` name, as GraphNode.resource). */
export function ownerCheckFor(watched: ReadonlySet<string>): OwnerCheck {
  return (node, ref) => {
    const r = lookupKind(ref.apiVersion, ref.kind);
    if (!r || !watched.has(r.group ? `${r.resource}.${r.group}` : r.resource)) return false;
    return !(node.namespace === undefined && r.namespaced);
  };
}

/** classifyReferences: owners present, owners missing, owners being deleted in the foreground. */
export function classifyOwners(node: GraphNode, graph: OwnershipGraph, canCheck: OwnerCheck = () => true): { solid: OwnerReference[]; dangling: OwnerReference[]; waiting: OwnerReference[] } {
  const solid: OwnerReference[] = [];
  const dangling: OwnerReference[] = [];
  const waiting: OwnerReference[] = [];
  for (const ref of node.owners) {
    if (!canCheck(node, ref)) { solid.push(ref); continue; }
    const owner = ownerOf(node, ref, graph);
    if (!owner) dangling.push(ref);
    else if (owner.deleting && owner.finalizers.includes('foregroundDeletion')) waiting.push(ref);
    else solid.push(ref);
  }
  return { solid, dangling, waiting };
}

/** The dependents that hold up an owner's foreground deletion: their reference says blockOwnerDeletion. */
export function blockingDependents(owner: GraphNode, graph: OwnershipGraph): GraphNode[] {
  return graph.dependentsOf(owner.uid).filter((d) => d.owners.some((r) => r.uid === owner.uid && r.blockOwnerDeletion === true));
}

/**
 * What to do about one object now. Owners reported missing are verified against the API server
 * before anything is deleted (`verifyGone`): the graph is built from several watches and may lag.
 */
export function planObject(node: GraphNode, graph: OwnershipGraph, canCheck: OwnerCheck = () => true): GcAction[] {
  if (node.deleting) {
    if (node.finalizers.includes('orphan')) {
      // attemptToOrphan: take our reference off every dependent, then let the object go.
      const actions: GcAction[] = graph.dependentsOf(node.uid).map((d) => ({ kind: 'removeOwnerReferences', node: d, uids: [node.uid], verifyGone: [] }));
      actions.push({ kind: 'removeFinalizer', node, finalizer: 'orphan' });
      return actions;
    }
    if (node.finalizers.includes('foregroundDeletion')) {
      // processDeletingDependentsItem: the dependents delete themselves (they see this owner waiting);
      // once none that blocks is left, the owner goes.
      return blockingDependents(node, graph).length === 0 ? [{ kind: 'removeFinalizer', node, finalizer: 'foregroundDeletion' }] : [];
    }
    return [];
  }
  if (node.owners.length === 0) return [];
  const { solid, dangling, waiting } = classifyOwners(node, graph, canCheck);
  if (dangling.length === 0 && waiting.length === 0) return [];
  if (solid.length > 0) {
    // Some owner remains: only the references to the others go.
    return [{ kind: 'removeOwnerReferences', node, uids: [...dangling, ...waiting].map((r) => r.uid), verifyGone: dangling }];
  }
  // Every owner is gone or going. With an owner waiting in the foreground, a dependent that has
  // dependents of its own is deleted in the foreground too, so the wait reaches all the way down.
  const policy: DeletionPolicy = waiting.length > 0 && graph.dependentsOf(node.uid).length > 0 ? 'Foreground' : policyFor(node);
  return [{ kind: 'delete', node, policy, verifyGone: dangling }];
}
