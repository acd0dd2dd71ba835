// The pod garbage collector's decisions, as kube 1.32's gc_controller_test.go tables them.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Node, Pod } from 'kubernetes-types/core/v1.d.ts';
import {
  compareForDeletion, failedStatusPatch, isPodTerminated, missingNodeNames, ORPHANED_CONDITION, selectOrphaned, selectTerminated,
  selectTerminatingOutOfService, selectUnscheduledTerminating,
} from './gc-decisions.ts';
import { NodeQuarantine } from './quarantine.ts';

/** kubernetes-types' fields are readonly; the builders write them. */
type Mutable<T> = T extends object ? { -readonly [K in keyof T]: Mutable<T[K]> } : T;
type MPod = Mutable<Pod>;
type MNode = Mutable<Node>;

function makePod(name: string, f: (p: MPod) => void = () => {}): Pod {
  const p: MPod = { metadata: { name, namespace: 'default', uid: `uid-${name}`, creationTimestamp: '2025-01-01T00:00:00Z' }, spec: { containers: [] }, status: { phase: 'Running' } };
  f(p);
  return p;
}
function makeNode(name: string, f: (n: MNode) => void = () => {}): Node {
  const n: MNode = { metadata: { name }, spec: {}, status: { conditions: [{ type: 'Ready', status: 'True' }] } };
  f(n);
  return n;
}
const names = (pods: readonly Pod[]) => pods.map((p) => p.metadata!.name);
const phase = (ph: string | undefined) => (p: MPod) => { p.status = ph === undefined ? {} : { phase: ph }; };
const created = (t: string) => (p: MPod) => { p.metadata!.creationTimestamp = t; };
const terminating = (node?: string) => (p: MPod) => {
  p.metadata!.deletionTimestamp = '2025-01-01T00:01:00Z';
  if (node) p.spec!.nodeName = node; else delete p.spec!.nodeName;
};
const outOfService = (n: MNode) => { n.spec!.taints = [{ key: 'node.kubernetes.io/out-of-service', value: 'nodeshutdown', effect: 'NoExecute' }]; };
const notReady = (status: string) => (n: MNode) => { n.status = { conditions: [{ type: 'Ready', status }] }; };

describe('isPodTerminated', () => {
  for (const [ph, want] of [['Pending', false], ['Running', false], ['Unknown', false], ['Succeeded', true], ['Failed', true], [undefined, true]] as const) {
    it(`phase ${ph ?? '(none)'}: ${want}`, () => assert.equal(isPodTerminated(makePod('a', phase(ph))), want));
  }
});

describe('selectTerminated (gcTerminated)', () => {
  const cases: { name: string; pods: Pod[]; threshold: number; want: string[] }[] = [
    { name: 'below the threshold: none', threshold: 3, want: [], pods: [makePod('a', phase('Failed')), makePod('b', phase('Succeeded'))] },
    { name: 'at the threshold: none', threshold: 2, want: [], pods: [makePod('a', phase('Failed')), makePod('b', phase('Succeeded'))] },
    {
      name: 'the oldest beyond the threshold, running pods never', threshold: 1, want: ['old', 'mid'], pods: [
        makePod('new', (p) => { phase('Succeeded')(p); created('2025-01-03T00:00:00Z')(p); }),
        makePod('running', created('2024-01-01T00:00:00Z')),
        makePod('mid', (p) => { phase('Failed')(p); created('2025-01-02T00:00:00Z')(p); }),
        makePod('old', (p) => { phase('Succeeded')(p); created('2025-01-01T00:00:00Z')(p); }),
      ],
    },
    {
      name: 'evicted first, then by age, the name breaking ties', threshold: 1, want: ['evicted', 'a', 'b'], pods: [
        makePod('c', (p) => { phase('Failed')(p); created('2025-01-02T00:00:00Z')(p); }),
        makePod('b', phase('Failed')),
        makePod('a', phase('Failed')),
        makePod('evicted', (p) => { p.status = { phase: 'Failed', reason: 'Evicted' }; created('2025-01-05T00:00:00Z')(p); }),
      ],
    },
    { name: 'threshold 0 turns the pass off', threshold: 0, want: [], pods: [makePod('a', phase('Failed'))] },
  ];
  for (const c of cases) it(c.name, () => assert.deepEqual(names(selectTerminated(c.pods, c.threshold)), c.want));
});

describe('selectTerminatingOutOfService (gcTerminating)', () => {
  const nodes = new Map([
    makeNode('ready-oos', outOfService),
    makeNode('notready-oos', (n) => { notReady('False')(n); outOfService(n); }),
    makeNode('unknown-oos', (n) => { notReady('Unknown')(n); outOfService(n); }),
    makeNode('noready-oos', (n) => { n.status = {}; outOfService(n); }),
    makeNode('notready', notReady('False')),
    makeNode('notready-other-taint', (n) => { notReady('False')(n); n.spec!.taints = [{ key: 'node.kubernetes.io/unreachable', effect: 'NoExecute' }]; }),
  ].map((n) => [n.metadata!.name!, n]));
  const cases: { name: string; pod: Pod; want: boolean }[] = [
    { name: 'terminating on a not ready out-of-service node', pod: makePod('p', terminating('notready-oos')), want: true },
    { name: 'Ready Unknown counts as not ready', pod: makePod('p', terminating('unknown-oos')), want: true },
    { name: 'no Ready condition counts as not ready', pod: makePod('p', terminating('noready-oos')), want: true },
    { name: 'a Ready node is trusted whatever its taints', pod: makePod('p', terminating('ready-oos')), want: false },
    { name: 'not ready without the taint: the kubelet may come back', pod: makePod('p', terminating('notready')), want: false },
    { name: 'another NoExecute taint is not enough', pod: makePod('p', terminating('notready-other-taint')), want: false },
    { name: 'not terminating: left to the taint eviction controller', pod: makePod('p', (p) => { p.spec!.nodeName = 'notready-oos'; }), want: false },
    { name: 'node not in the cache: skipped', pod: makePod('p', terminating('gone')), want: false },
    { name: 'unscheduled: not this pass', pod: makePod('p', terminating()), want: false },
  ];
  for (const c of cases) it(c.name, () => assert.deepEqual(names(selectTerminatingOutOfService([c.pod], (n) => nodes.get(n))), c.want ? ['p'] : []));
});

describe('orphans (gcOrphaned)', () => {
  const pods = [
    makePod('on-n1', (p) => { p.spec!.nodeName = 'n1'; }),
    makePod('on-gone', (p) => { p.spec!.nodeName = 'gone'; }),
    makePod('on-gone-too', (p) => { p.spec!.nodeName = 'gone'; phase('Succeeded')(p); }),
    makePod('on-late', (p) => { p.spec!.nodeName = 'late'; }),
    makePod('unscheduled'),
  ];
  it('quarantines the nodes pods are bound to that the cache lacks', () => assert.deepEqual(missingNodeNames(pods, new Set(['n1'])), ['gone', 'late']));
  it('deletes the pods of nodes found deleted, terminal or not', () => assert.deepEqual(names(selectOrphaned(pods, new Set(['gone']))), ['on-gone', 'on-gone-too']));
});

describe('selectUnscheduledTerminating (gcUnscheduledTerminating)', () => {
  const cases: { name: string; pod: Pod; want: boolean }[] = [
    { name: 'terminating and unscheduled', pod: makePod('p', terminating()), want: true },
    { name: 'terminating on a node: the kubelet finishes it', pod: makePod('p', terminating('n1')), want: false },
    { name: 'unscheduled, not terminating', pod: makePod('p'), want: false },
  ];
  for (const c of cases) it(c.name, () => assert.deepEqual(names(selectUnscheduledTerminating([c.pod])), c.want ? ['p'] : []));
});

describe('compareForDeletion', () => {
  it('sorts evicted, then oldest, then by name', () => {
    const pods = [makePod('b'), makePod('a'), makePod('older', created('2024-12-31T00:00:00Z')), makePod('ev', (p) => { p.status = { phase: 'Failed', reason: 'Evicted' }; })];
    assert.deepEqual(names([...pods].sort(compareForDeletion)), ['ev', 'older', 'a', 'b']);
  });
});

describe('failedStatusPatch (markFailedAndDeletePodWithCondition)', () => {
  const now = new Date('2025-01-01T00:05:00.123Z');
  it('nothing for a pod already Succeeded or Failed', () => {
    assert.equal(failedStatusPatch(makePod('p', phase('Succeeded')), ORPHANED_CONDITION, now), undefined);
    assert.equal(failedStatusPatch(makePod('p', phase('Failed')), ORPHANED_CONDITION, now), undefined);
  });
  it('Failed only, without a condition', () => {
    assert.deepEqual(failedStatusPatch(makePod('p'), undefined, now), { metadata: { uid: 'uid-p' }, status: { phase: 'Failed' } });
  });
  it('Failed and the DisruptionTarget condition, worded as kube', () => {
    assert.deepEqual(failedStatusPatch(makePod('p', phase('Pending')), ORPHANED_CONDITION, now), {
      metadata: { uid: 'uid-p' },
      status: { phase: 'Failed', conditions: [{ type: 'DisruptionTarget', status: 'True', reason: 'DeletionByPodGC', message: 'PodGC: node no longer exists', lastTransitionTime: '2025-01-01T00:05:00Z' }] },
    });
  });
  it('keeps the transition time of a condition with the same status, and leaves an identical one alone', () => {
    const had = makePod('p', (p) => { p.status!.conditions = [{ type: 'DisruptionTarget', status: 'True', reason: 'DeletionByTaintManager', message: 'x', lastTransitionTime: '2024-06-01T00:00:00Z' }]; });
    assert.deepEqual(failedStatusPatch(had, ORPHANED_CONDITION, now)?.status.conditions, [{ ...ORPHANED_CONDITION, lastTransitionTime: '2024-06-01T00:00:00Z' }]);
    const same = makePod('p', (p) => { p.status!.conditions = [{ ...ORPHANED_CONDITION, lastTransitionTime: '2024-06-01T00:00:00Z' }]; });
    assert.deepEqual(failedStatusPatch(same, ORPHANED_CONDITION, now)?.status, { phase: 'Failed' });
  });
  it('a False condition turning True gets a new transition time', () => {
    const had = makePod('p', (p) => { p.status!.conditions = [{ type: 'DisruptionTarget', status: 'False', lastTransitionTime: '2024-06-01T00:00:00Z' }]; });
    assert.equal(failedStatusPatch(had, ORPHANED_CONDITION, now)?.status.conditions?.[0]?.lastTransitionTime, '2025-01-01T00:05:00Z');
  });
});

describe('NodeQuarantine', () => {
  it('releases a node once its time has passed, counted from when it was first seen missing', () => {
    const q = new NodeQuarantine(40_000);
    q.add('gone', 0);
    q.add('gone', 20_000);
    assert.deepEqual(q.takeReady(39_999), []);
    assert.deepEqual(q.takeReady(40_000), ['gone']);
    assert.deepEqual(q.waiting(), [], 'taken out; quarantined again only if seen missing again');
    q.add('gone', 60_000);
    assert.deepEqual(q.takeReady(60_000), []);
    assert.deepEqual(q.takeReady(100_000), ['gone']);
  });
});
