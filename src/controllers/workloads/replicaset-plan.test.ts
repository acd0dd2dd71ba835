import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ReplicaSet } from 'kubernetes-types/apps/v1.d.ts';
import type { Pod } from 'kubernetes-types/core/v1.d.ts';
import { planReplicaSet, podFromTemplate, podsToDelete } from './replicaset-plan.ts';

const t0 = Date.parse('2026-01-01T00:00:00Z');
const iso = (s: number) => new Date(t0 + s * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
const now = new Date(t0 + 3600_000);

function rs(f: (r: ReplicaSet & { spec: NonNullable<ReplicaSet['spec']> }) => void = () => {}): ReplicaSet {
  const r = {
    apiVersion: 'apps/v1', kind: 'ReplicaSet',
    metadata: { name: 'web-abc', namespace: 'default', uid: 'rs-uid', generation: 2 },
    spec: { replicas: 3, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' }, annotations: { a: 'b' } }, spec: { containers: [{ name: 'c', image: 'i' }] } } },
    status: { replicas: 0 },
  } as ReplicaSet & { spec: NonNullable<ReplicaSet['spec']> };
  f(r);
  return r;
}

interface PodOpts { node?: string; phase?: string; ready?: boolean; readySince?: number; created?: number; restarts?: number; owner?: string | null; labels?: Record<string, string>; deleting?: boolean }

function pod(name: string, o: PodOpts = {}): Pod {
  const owner = o.owner === undefined ? 'rs-uid' : o.owner;
  return {
    metadata: {
      name, namespace: 'default', uid: `uid-${name}`, labels: o.labels ?? { app: 'web' }, creationTimestamp: iso(o.created ?? 0),
      ...(owner ? { ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-abc', uid: owner, controller: true }] } : {}),
      ...(o.deleting ? { deletionTimestamp: iso(10) } : {}),
    },
    spec: { nodeName: o.node ?? 'n1', containers: [] },
    status: {
      phase: o.phase ?? 'Running',
      conditions: [{ type: 'Ready', status: o.ready === false ? 'False' : 'True', lastTransitionTime: iso(o.readySince ?? 0) }],
      containerStatuses: [{ name: 'c', restartCount: o.restarts ?? 0, ready: true, image: 'i', imageID: '' }],
    },
  } as Pod;
}

const names = (pods: readonly Pod[]) => pods.map((p) => p.metadata?.name);

describe('planReplicaSet', () => {
  it('creates the missing pods and counts the ones it has', () => {
    const plan = planReplicaSet({ rs: rs(), pods: [pod('a'), pod('b', { ready: false })], waitingForOwnWrites: false, now });
    assert.equal(plan.create, 1);
    assert.deepEqual(plan.delete, []);
    assert.deepEqual(plan.status, { replicas: 2, fullyLabeledReplicas: 2, readyReplicas: 1, availableReplicas: 1, observedGeneration: 2 });
    assert.equal(plan.statusChanged, true);
  });

  it('does not count finished or terminating pods, nor pods of another controller or namespace', () => {
    const other = pod('o', { owner: 'someone-else' });
    const elsewhere = { ...pod('x'), metadata: { ...pod('x').metadata, namespace: 'other' } };
    const plan = planReplicaSet({ rs: rs(), pods: [pod('done', { phase: 'Succeeded' }), pod('failed', { phase: 'Failed' }), pod('going', { deleting: true }), other, elsewhere], waitingForOwnWrites: false, now });
    assert.equal(plan.create, 3);
    assert.equal(plan.status.replicas, 0);
  });

  it('waits for its own creates and deletes to be seen before resizing again (expectations), but still reports status', () => {
    const plan = planReplicaSet({ rs: rs(), pods: [pod('a')], waitingForOwnWrites: true, now });
    assert.equal(plan.create, 0);
    assert.equal(plan.status.replicas, 1);
  });

  it('leaves the pods of a ReplicaSet being deleted to the garbage collector', () => {
    const plan = planReplicaSet({ rs: rs((r) => { Object.assign(r.metadata!, { deletionTimestamp: iso(5) }); r.spec.replicas = 0; }), pods: [pod('a')], waitingForOwnWrites: false, now });
    assert.deepEqual([plan.create, plan.delete.length, plan.adopt.length, plan.release.length], [0, 0, 0, 0]);
  });

  it('adopts orphans its selector picks and releases pods it no longer selects', () => {
    const plan = planReplicaSet({ rs: rs(), pods: [pod('orphan', { owner: null }), pod('relabelled', { labels: { app: 'other' } }), pod('orphan-other', { owner: null, labels: { app: 'db' } })], waitingForOwnWrites: false, now });
    assert.deepEqual(names(plan.adopt), ['orphan']);
    assert.deepEqual(names(plan.release), ['relabelled']);
    assert.equal(plan.create, 2, 'the adopted pod counts');
  });

  it('reports fullyLabeledReplicas against the template labels and a ReplicaFailure condition while creating fails', () => {
    const r = rs((x) => { x.spec.template!.metadata!.labels = { app: 'web', extra: 'y' }; });
    const plan = planReplicaSet({ rs: r, pods: [pod('a'), pod('b', { labels: { app: 'web', extra: 'y' } })], waitingForOwnWrites: false, now, manageError: 'pods "x" is forbidden: quota' });
    assert.equal(plan.status.fullyLabeledReplicas, 1);
    assert.deepEqual(plan.status.conditions?.map((c) => [c.type, c.status, c.reason, c.message]), [['ReplicaFailure', 'True', 'FailedCreate', 'pods "x" is forbidden: quota']]);
    const cleared = planReplicaSet({ rs: { ...r, status: plan.status }, pods: [pod('a')], waitingForOwnWrites: false, now });
    assert.equal(cleared.status.conditions, undefined);
  });

  it('counts a pod available only minReadySeconds after it became ready, and syncs again then', () => {
    const r = rs((x) => { x.spec.minReadySeconds = 10; });
    const readyAt = (now.getTime() - t0) / 1000 - 4; // ready 4 s ago
    const plan = planReplicaSet({ rs: r, pods: [pod('a', { readySince: readyAt }), pod('b'), pod('c')], waitingForOwnWrites: false, now });
    assert.equal(plan.status.readyReplicas, 3);
    assert.equal(plan.status.availableReplicas, 2);
    assert.equal(plan.requeueAfterMs, 6001);
  });

  it('deletes the surplus in kube order: unassigned, pending, not ready, doubled up, ready for less time, restarts, newer', () => {
    const pods = [
      pod('old-ready', { readySince: 0, created: 0 }),
      pod('restarted', { readySince: 0, created: 0, restarts: 5 }),
      pod('newer', { readySince: 0, created: 3000 }),
      pod('recently-ready', { readySince: 3590, created: 0 }),
      pod('not-ready', { ready: false }),
      pod('pending', { phase: 'Pending', ready: false }),
      pod('unassigned', { phase: 'Pending', ready: false, node: '' }),
    ];
    assert.deepEqual(names(podsToDelete(pods, [], 7, now)), ['unassigned', 'pending', 'not-ready', 'recently-ready', 'restarted', 'newer', 'old-ready']);
    const plan = planReplicaSet({ rs: rs((x) => { x.spec.replicas = 5; }), pods, waitingForOwnWrites: false, now });
    assert.deepEqual(names(plan.delete), ['unassigned', 'pending']);
  });

  it('prefers pods on nodes crowded with related pods, and keeps creation times within one log2 bucket apart by uid', () => {
    const a = pod('a', { node: 'n1' });
    const b = pod('b', { node: 'n2' });
    const related = [a, b, pod('x', { node: 'n2' }), pod('y', { node: 'n2' })];
    assert.deepEqual(names(podsToDelete([a, b], related, 1, now)), ['b']);
    // Created 10 s and 12 s ago: the same log2 bucket of nanoseconds, so uid decides (not the exact age).
    const p1 = pod('p1', { created: 3590 });
    const p2 = pod('p2', { created: 3588 });
    assert.deepEqual(names(podsToDelete([p2, p1], [], 2, now)), ['p1', 'p2']);
  });

  it('makes pods as GetPodFromTemplate does', () => {
    assert.deepEqual(podFromTemplate(rs()), {
      apiVersion: 'v1', kind: 'Pod',
      metadata: {
        generateName: 'web-abc-', namespace: 'default', labels: { app: 'web' }, annotations: { a: 'b' },
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-abc', uid: 'rs-uid', controller: true, blockOwnerDeletion: true }],
      },
      spec: { containers: [{ name: 'c', image: 'i' }] },
    });
  });
});
