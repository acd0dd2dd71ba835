import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { OwnerReference } from 'kubernetes-types/meta/v1.d.ts';
import { type GcAction, type GraphNode, OwnershipGraph, ownerCheckFor, planObject } from './plan.ts';

const ref = (uid: string, o: Partial<OwnerReference> = {}): OwnerReference =>
  ({ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: uid, uid, controller: true, blockOwnerDeletion: true, ...o });

function node(uid: string, o: Partial<GraphNode> = {}): GraphNode {
  return { resource: 'pods', namespace: 'default', name: uid, uid, owners: [], finalizers: [], deleting: false, ...o };
}

function graph(...nodes: GraphNode[]): OwnershipGraph {
  const g = new OwnershipGraph();
  for (const n of nodes) g.upsert(n);
  return g;
}

/** Actions as short text: `delete pod-a Background (verify rs)`. */
function show(actions: GcAction[]): string[] {
  return actions.map((a) => {
    const verify = 'verifyGone' in a && a.verifyGone.length ? ` (verify ${a.verifyGone.map((r) => r.uid).join(',')})` : '';
    switch (a.kind) {
      case 'delete': return `delete ${a.node.name} ${a.policy}${verify}`;
      case 'removeOwnerReferences': return `unown ${a.node.name} from ${a.uids.join(',')}${verify}`;
      case 'removeFinalizer': return `finalize ${a.node.name} ${a.finalizer}`;
    }
  });
}

describe('garbage collector decisions (planObject)', () => {
  const cases: { name: string; nodes: GraphNode[]; target: string; want: string[] }[] = [
    { name: 'an object without owners is left alone', nodes: [node('a')], target: 'a', want: [] },
    { name: 'an owner present keeps its dependent', nodes: [node('rs', { resource: 'replicasets.apps' }), node('a', { owners: [ref('rs')] })], target: 'a', want: [] },
    { name: 'all owners gone: deleted in the background, after checking the owner is really gone',
      nodes: [node('a', { owners: [ref('rs')] })], target: 'a', want: ['delete a Background (verify rs)'] },
    { name: 'a dependent with the orphan finalizer is deleted with Orphan',
      nodes: [node('a', { owners: [ref('rs')], finalizers: ['orphan'] })], target: 'a', want: ['delete a Orphan (verify rs)'] },
    { name: 'one owner gone, another present: only the reference to the gone one is removed',
      nodes: [node('cm', { resource: 'configmaps' }), node('a', { owners: [ref('rs'), ref('cm', { kind: 'ConfigMap', apiVersion: 'v1', controller: false })] })],
      target: 'a', want: ['unown a from rs (verify rs)'] },
    { name: 'an owner in another namespace does not count (OwnerRefInvalidNamespace)',
      nodes: [node('rs', { namespace: 'other', resource: 'replicasets.apps' }), node('a', { owners: [ref('rs')] })], target: 'a', want: ['delete a Background (verify rs)'] },
    { name: 'a cluster-scoped owner of a namespaced object counts',
      nodes: [node('ns1', { namespace: undefined, resource: 'namespaces' }), node('a', { owners: [ref('ns1', { kind: 'Namespace', apiVersion: 'v1' })] })], target: 'a', want: [] },
    { name: 'an object being deleted (no GC finalizer) is left to finish',
      nodes: [node('a', { owners: [ref('rs')], deleting: true })], target: 'a', want: [] },
    { name: 'orphan: every dependent loses the reference, then the owner its finalizer',
      nodes: [node('rs', { resource: 'replicasets.apps', deleting: true, finalizers: ['orphan'] }), node('a', { owners: [ref('rs')] }), node('b', { owners: [ref('rs')] })],
      target: 'rs', want: ['unown a from rs', 'unown b from rs', 'finalize rs orphan'] },
    { name: 'foreground: the owner waits while a blocking dependent exists',
      nodes: [node('rs', { resource: 'replicasets.apps', deleting: true, finalizers: ['foregroundDeletion'] }), node('a', { owners: [ref('rs')] })],
      target: 'rs', want: [] },
    { name: 'foreground: a dependent of an owner waiting for it deletes itself',
      nodes: [node('rs', { resource: 'replicasets.apps', deleting: true, finalizers: ['foregroundDeletion'] }), node('a', { owners: [ref('rs')] })],
      target: 'a', want: ['delete a Background'] },
    { name: 'foreground: a waiting dependent with dependents of its own goes in the foreground too',
      nodes: [node('d', { resource: 'deployments.apps', deleting: true, finalizers: ['foregroundDeletion'] }),
        node('rs', { resource: 'replicasets.apps', owners: [ref('d', { kind: 'Deployment' })] }), node('a', { owners: [ref('rs')] })],
      target: 'rs', want: ['delete rs Foreground'] },
    { name: 'foreground: dependents that do not block are not waited for',
      nodes: [node('rs', { resource: 'replicasets.apps', deleting: true, finalizers: ['foregroundDeletion'] }), node('a', { owners: [ref('rs', { blockOwnerDeletion: false })] })],
      target: 'rs', want: ['finalize rs foregroundDeletion'] },
    { name: 'foreground: an owner still present elsewhere keeps the dependent, which drops the waiting reference',
      nodes: [node('rs', { resource: 'replicasets.apps', deleting: true, finalizers: ['foregroundDeletion'] }), node('cm', { resource: 'configmaps' }),
        node('a', { owners: [ref('rs'), ref('cm', { kind: 'ConfigMap', apiVersion: 'v1', controller: false })] })],
      target: 'a', want: ['unown a from rs'] },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const g = graph(...c.nodes);
      assert.deepEqual(show(planObject(g.get(c.target)!, g)), c.want);
    });
  }

  it('never deletes over an owner it cannot check: a kind it does not watch, or a namespaced owner of a cluster-scoped object', () => {
    const canCheck = ownerCheckFor(new Set(['configmaps', 'replicasets.apps', 'namespaces']));
    // kube's namespacedOwnerOfClusterScopedObjectErr: a Namespace "owned" by a ConfigMap is never collected.
    const victim = node('victim', { resource: 'namespaces', namespace: undefined, owners: [ref('cm', { kind: 'ConfigMap', apiVersion: 'v1' })] });
    assert.deepEqual(show(planObject(victim, graph(victim), canCheck)), []);
    // A custom kind podgate does not serve, and Events (not watched): left alone, not retried forever.
    const widget = node('a', { resource: 'configmaps', owners: [ref('w', { kind: 'Widget', apiVersion: 'example.com/v1' })] });
    assert.deepEqual(show(planObject(widget, graph(widget), canCheck)), []);
    const byEvent = node('b', { resource: 'configmaps', owners: [ref('e', { kind: 'Event', apiVersion: 'v1' })] });
    assert.deepEqual(show(planObject(byEvent, graph(byEvent), canCheck)), []);
    // A kind it watches, gone: collected as before.
    const orphan = node('c', { owners: [ref('rs')] });
    assert.deepEqual(show(planObject(orphan, graph(orphan), canCheck)), ['delete c Background (verify rs)']);
  });

  it('keeps the dependents index in step as objects change and go', () => {
    const g = graph(node('a', { owners: [ref('rs')] }), node('b', { owners: [ref('rs')] }));
    assert.deepEqual(g.dependentsOf('rs').map((n) => n.name), ['a', 'b']);
    g.upsert(node('a', { owners: [] }));
    g.remove('b');
    assert.deepEqual(g.dependentsOf('rs'), []);
  });
});
