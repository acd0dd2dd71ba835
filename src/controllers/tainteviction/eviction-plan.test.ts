import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Pod, PodCondition, Taint, Toleration } from 'kubernetes-types/core/v1.d.ts';
import { decideEviction, disruptionCondition, matchingTolerations, minTolerationMs, noExecuteTaints, type EvictionDecision, type ScheduledEviction } from './index.ts';

const unreachable: Taint = { key: 'node.kubernetes.io/unreachable', effect: 'NoExecute', timeAdded: '2025-01-01T00:00:00Z' };
const notReady: Taint = { key: 'node.kubernetes.io/not-ready', effect: 'NoExecute' };
const custom: Taint = { key: 'example.com/drain', value: 'yes', effect: 'NoExecute' };
/** What the DefaultTolerationSeconds admission defaults give every pod. */
const defaults: Toleration[] = [
  { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
  { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
];
const NOW = 1_000_000;

describe('decideEviction', () => {
  const cases: { name: string; taints: Taint[]; tolerations?: Toleration[]; scheduled?: ScheduledEviction; want: EvictionDecision }[] = [
    { name: 'no tolerations at all: at once', taints: [unreachable], want: { action: 'evict', createdAt: NOW, fireAt: NOW, why: 'untolerated' } },
    { name: 'the default tolerations: after 300 s', taints: [unreachable], tolerations: defaults, want: { action: 'evict', createdAt: NOW, fireAt: NOW + 300_000, why: 'tolerationSeconds' } },
    { name: 'a taint the defaults do not cover: at once', taints: [unreachable, custom], tolerations: defaults, want: { action: 'evict', createdAt: NOW, fireAt: NOW, why: 'untolerated' } },
    {
      name: 'the shortest of the tolerations used wins', taints: [unreachable, notReady],
      tolerations: [{ key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 60 }, ...defaults],
      want: { action: 'evict', createdAt: NOW, fireAt: NOW + 60_000, why: 'tolerationSeconds' },
    },
    {
      name: 'only the first toleration matching a taint counts (a later forever one does not help)', taints: [unreachable],
      tolerations: [...defaults, { operator: 'Exists' }], want: { action: 'evict', createdAt: NOW, fireAt: NOW + 300_000, why: 'tolerationSeconds' },
    },
    { name: 'tolerated forever: cancel', taints: [unreachable, custom], tolerations: [{ operator: 'Exists' }], want: { action: 'cancel' } },
    {
      name: 'tolerationSeconds 0: at once, as a scheduled eviction that is due', taints: [unreachable],
      tolerations: [{ key: 'node.kubernetes.io/unreachable', operator: 'Exists', tolerationSeconds: 0 }], want: { action: 'evict', createdAt: NOW, fireAt: NOW, why: 'tolerationSeconds' },
    },
    {
      name: 'negative tolerationSeconds count as 0', taints: [unreachable],
      tolerations: [{ key: 'node.kubernetes.io/unreachable', operator: 'Exists', tolerationSeconds: -5 }], want: { action: 'evict', createdAt: NOW, fireAt: NOW, why: 'tolerationSeconds' },
    },
    {
      name: 'already scheduled earlier: kept (even when the tolerations changed since)', taints: [unreachable], tolerations: defaults,
      scheduled: { createdAt: NOW - 100_000, fireAt: NOW + 500_000 }, want: { action: 'keep' },
    },
    {
      name: 'scheduled at this very time: replaced', taints: [unreachable],
      tolerations: [{ key: 'node.kubernetes.io/unreachable', operator: 'Exists', tolerationSeconds: 10 }],
      scheduled: { createdAt: NOW, fireAt: NOW + 300_000 }, want: { action: 'evict', createdAt: NOW, fireAt: NOW + 10_000, why: 'tolerationSeconds' },
    },
    {
      name: 'scheduled, and now a taint is not tolerated: at once', taints: [unreachable, custom], tolerations: defaults,
      scheduled: { createdAt: NOW - 100_000, fireAt: NOW + 200_000 }, want: { action: 'evict', createdAt: NOW, fireAt: NOW, why: 'untolerated' },
    },
    {
      name: 'Equal needs the taint\'s value', taints: [custom], tolerations: [{ key: 'example.com/drain', operator: 'Equal', value: 'no', effect: 'NoExecute' }],
      want: { action: 'evict', createdAt: NOW, fireAt: NOW, why: 'untolerated' },
    },
  ];
  for (const c of cases) it(c.name, () => assert.deepEqual(decideEviction(c.taints, c.tolerations, c.scheduled, NOW), c.want));
});

describe('eviction helpers', () => {
  it('noExecuteTaints keeps only NoExecute, in order', () => {
    assert.deepEqual(noExecuteTaints([{ key: 'a', effect: 'NoSchedule' }, custom, { key: 'b', effect: 'PreferNoSchedule' }, unreachable]), [custom, unreachable]);
    assert.deepEqual(noExecuteTaints(undefined), []);
  });
  it('matchingTolerations: nothing used when one taint is untolerated', () => {
    assert.deepEqual(matchingTolerations([unreachable, custom], defaults), { allTolerated: false, used: [] });
    assert.deepEqual(matchingTolerations([], undefined), { allTolerated: true, used: [] });
  });
  const minCases: [string, Toleration[], number][] = [
    ['none: 0', [], 0],
    ['all forever: -1', [{ operator: 'Exists' }, { key: 'k', operator: 'Exists' }], -1],
    ['forever and 300: 300 s', [{ operator: 'Exists' }, defaults[0]!], 300_000],
    ['0 wins over everything', [defaults[0]!, { operator: 'Exists', tolerationSeconds: 0 }], 0],
  ];
  for (const [name, t, want] of minCases) it(`minTolerationMs ${name}`, () => assert.equal(minTolerationMs(t), want));
});

describe('disruptionCondition', () => {
  const at = new Date('2025-01-01T00:05:00.123Z');
  const pod = (conditions?: PodCondition[]): Pod => ({ metadata: { name: 'p' }, spec: { containers: [] }, status: { conditions } });
  it('adds it, stamped now', () => {
    assert.deepEqual(disruptionCondition(pod([{ type: 'Ready', status: 'True' }]), at),
      { type: 'DisruptionTarget', status: 'True', reason: 'DeletionByTaintManager', message: 'Taint manager: deleting due to NoExecute taint', lastTransitionTime: '2025-01-01T00:05:00Z' });
  });
  it('nothing when the pod has it already', () => {
    const c = disruptionCondition(pod(), at)!;
    assert.equal(disruptionCondition(pod([c]), new Date(at.getTime() + 60_000)), undefined);
  });
  it('another True reason is replaced, keeping its transition time', () => {
    const c = disruptionCondition(pod([{ type: 'DisruptionTarget', status: 'True', reason: 'PreemptionByScheduler', lastTransitionTime: '2025-01-01T00:00:00Z' }]), at)!;
    assert.equal(c.lastTransitionTime, '2025-01-01T00:00:00Z');
    assert.equal(c.reason, 'DeletionByTaintManager');
  });
});
