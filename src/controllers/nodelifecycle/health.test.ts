import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Node, NodeCondition, Pod, Taint } from 'kubernetes-types/core/v1.d.ts';
import {
  computeZoneState, markPodNotReady, noExecuteTaintingPass, noScheduleTaintingPass, type NodeHealth, swapTaints, tryUpdateNodeHealth,
} from './health.ts';
import { parseDuration } from '../../util/duration.ts';
import { toleratesTaint } from './taints.ts';

const T0 = Date.parse('2025-01-01T00:00:00Z');
const at = (s: number) => new Date(T0 + s * 1000);
const iso = (s: number) => at(s).toISOString().replace(/\.\d{3}Z$/, 'Z');
const opts = { gracePeriodMs: 50_000, startupGracePeriodMs: 60_000 };

function cond(type: string, status: string, hb: number, tr = 0): NodeCondition {
  return { type, status, reason: 'Kubelet', message: 'kubelet says', lastHeartbeatTime: iso(hb), lastTransitionTime: iso(tr) };
}
function node(conditions: NodeCondition[] | undefined, taints?: Taint[], extra: Partial<Node['spec']> = {}): Node {
  return {
    metadata: { name: 'n1', uid: 'u1', creationTimestamp: iso(0) },
    spec: { ...(taints ? { taints } : {}), ...extra },
    status: conditions ? { conditions } : {},
  };
}
const kubelet = (hb: number, ready = 'True') => [cond('MemoryPressure', 'False', hb), cond('DiskPressure', 'False', hb), cond('PIDPressure', 'False', hb), cond('Ready', ready, hb)];
const seen = (probe: number, hb: number, status = 'True'): NodeHealth => ({
  probeTimestamp: at(probe).getTime(), readyTransitionTimestamp: at(0).getTime(), savedReady: { status, lastHeartbeatTime: iso(hb), lastTransitionTime: iso(0) },
});

describe('tryUpdateNodeHealth', () => {
  const cases: { name: string; node: Node; prev?: NodeHealth; now: number; probe: number; write?: Record<string, [string, string | undefined]> }[] = [
    { name: 'first sight: now is the probe time, whatever the heartbeat says', node: node(kubelet(-3600)), now: 10, probe: 10 },
    { name: 'a new heartbeat moves the probe time to now', node: node(kubelet(30)), prev: seen(0, 20), now: 31, probe: 31 },
    { name: 'the same heartbeat within the grace period: nothing', node: node(kubelet(20)), prev: seen(20, 20), now: 70, probe: 20 },
    {
      name: 'the same heartbeat past the grace period: Ready and pressure conditions Unknown',
      node: node(kubelet(20)), prev: seen(20, 20), now: 71, probe: 20,
      write: {
        Ready: ['Unknown', 'NodeStatusUnknown'], MemoryPressure: ['Unknown', 'NodeStatusUnknown'],
        DiskPressure: ['Unknown', 'NodeStatusUnknown'], PIDPressure: ['Unknown', 'NodeStatusUnknown'],
      },
    },
    { name: 'already Unknown: no write', node: node([{ ...cond('Ready', 'Unknown', 20), reason: 'NodeStatusUnknown' }]), prev: seen(20, 20, 'Unknown'), now: 200, probe: 20 },
    { name: 'never posted, within the startup grace (from creation)', node: node(undefined), now: 59, probe: 0 },
    {
      name: 'never posted, past the startup grace: NodeStatusNeverUpdated',
      node: node(undefined), now: 61, probe: 0,
      write: { Ready: ['Unknown', 'NodeStatusNeverUpdated'], MemoryPressure: ['Unknown', 'NodeStatusNeverUpdated'] },
    },
    {
      name: 'Ready False from the agent, stale: Unknown too (regardless of its value)',
      node: node(kubelet(20, 'False')), prev: seen(20, 20, 'False'), now: 100, probe: 20,
      write: { Ready: ['Unknown', 'NodeStatusUnknown'] },
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const before = structuredClone(c.node);
      const d = tryUpdateNodeHealth(c.node, c.prev, at(c.now), opts);
      assert.deepEqual(c.node, before, 'the input is not changed');
      assert.equal(d.health.probeTimestamp, at(c.probe).getTime());
      if (!c.write) { assert.equal(d.status, undefined); return; }
      assert.ok(d.status);
      const written: NodeCondition[] = d.status.conditions ?? [];
      for (const [type, [status, reason]] of Object.entries(c.write)) {
        const got = written.find((x) => x.type === type)!;
        assert.equal(got.status, status, type);
        assert.equal(got.reason, reason, type);
        assert.equal(got.lastTransitionTime, iso(c.now), type);
      }
      const ready = written.find((x) => x.type === 'Ready')!;
      assert.equal(ready.message, ready.reason === 'NodeStatusUnknown' ? 'Kubelet stopped posting node status.' : 'Kubelet never posted node status.');
      assert.equal(d.currentReady?.status, 'Unknown');
    });
  }
  it('keeps the heartbeat time it had (the agent\'s, not ours)', () => {
    const d = tryUpdateNodeHealth(node(kubelet(20)), seen(20, 20), at(71), opts);
    assert.equal(d.status!.conditions!.find((x) => x.type === 'Ready')!.lastHeartbeatTime, iso(20));
    assert.equal(d.observedReady.status, 'True');
  });
  it('a heartbeat after the Unknown write counts again', () => {
    const d1 = tryUpdateNodeHealth(node(kubelet(20)), seen(20, 20), at(71), opts);
    const written = { ...node(kubelet(20)), status: d1.status };
    assert.equal(tryUpdateNodeHealth(written, d1.health, at(76), opts).status, undefined, 'our own write is no heartbeat');
    const back = tryUpdateNodeHealth(node(kubelet(80)), d1.health, at(81), opts);
    assert.equal(back.status, undefined);
    assert.equal(back.health.probeTimestamp, at(81).getTime());
    assert.equal(back.currentReady?.status, 'True');
    assert.equal(back.observedReady.status, 'True');
  });
});

describe('noScheduleTaintingPass', () => {
  const now = at(100);
  const cases: { name: string; node: Node; want: Taint[] | undefined }[] = [
    { name: 'Ready: nothing', node: node(kubelet(0)), want: undefined },
    { name: 'Unknown: unreachable', node: node(kubelet(0, 'Unknown')), want: [{ key: 'node.kubernetes.io/unreachable', effect: 'NoSchedule', timeAdded: iso(100) }] },
    { name: 'False: not-ready', node: node(kubelet(0, 'False')), want: [{ key: 'node.kubernetes.io/not-ready', effect: 'NoSchedule', timeAdded: iso(100) }] },
    {
      name: 'Unknown → False swaps, other taints stay',
      node: node(kubelet(0, 'False'), [{ key: 'dedicated', value: 'x', effect: 'NoSchedule' }, { key: 'node.kubernetes.io/unreachable', effect: 'NoSchedule', timeAdded: iso(5) }]),
      want: [{ key: 'dedicated', value: 'x', effect: 'NoSchedule' }, { key: 'node.kubernetes.io/not-ready', effect: 'NoSchedule', timeAdded: iso(100) }],
    },
    {
      name: 'Ready again: the condition taints go, the NoExecute ones are not this pass\'s',
      node: node(kubelet(0), [{ key: 'node.kubernetes.io/unreachable', effect: 'NoSchedule' }, { key: 'node.kubernetes.io/unreachable', effect: 'NoExecute' }]),
      want: [{ key: 'node.kubernetes.io/unreachable', effect: 'NoExecute' }],
    },
    { name: 'already tainted: nothing (timeAdded kept)', node: node(kubelet(0, 'Unknown'), [{ key: 'node.kubernetes.io/unreachable', effect: 'NoSchedule', timeAdded: iso(5) }]), want: undefined },
    {
      name: 'cordoned: unschedulable',
      node: node(kubelet(0), undefined, { unschedulable: true }),
      want: [{ key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule', timeAdded: iso(100) }],
    },
    {
      name: 'memory pressure',
      node: node([cond('MemoryPressure', 'True', 0), cond('Ready', 'True', 0)]),
      want: [{ key: 'node.kubernetes.io/memory-pressure', effect: 'NoSchedule', timeAdded: iso(100) }],
    },
  ];
  for (const c of cases) it(c.name, () => assert.deepEqual(noScheduleTaintingPass(c.node, now), c.want));
});

describe('noExecuteTaintingPass', () => {
  const now = at(100);
  const ux: Taint = { key: 'node.kubernetes.io/unreachable', effect: 'NoExecute', timeAdded: iso(5) };
  const nr: Taint = { key: 'node.kubernetes.io/not-ready', effect: 'NoExecute', timeAdded: iso(5) };
  const cases: { name: string; taints?: Taint[]; observed: string; full?: boolean; want: Taint[] | undefined }[] = [
    { name: 'Unknown: unreachable, stamped now', observed: 'Unknown', want: [{ key: 'node.kubernetes.io/unreachable', effect: 'NoExecute', timeAdded: iso(100) }] },
    { name: 'False: not-ready', observed: 'False', want: [{ key: 'node.kubernetes.io/not-ready', effect: 'NoExecute', timeAdded: iso(100) }] },
    { name: 'Unknown, tainted already: nothing', taints: [ux], observed: 'Unknown', want: undefined },
    { name: 'False after Unknown: swapped', taints: [ux], observed: 'False', want: [{ key: 'node.kubernetes.io/not-ready', effect: 'NoExecute', timeAdded: iso(100) }] },
    { name: 'True: both go', taints: [ux, nr, { key: 'other', effect: 'NoExecute' }], observed: 'True', want: [{ key: 'other', effect: 'NoExecute' }] },
    { name: 'True, untainted: nothing', observed: 'True', want: undefined },
    { name: 'every node down: none added', observed: 'Unknown', full: true, want: undefined },
    { name: 'every node down: those there go', taints: [ux], observed: 'Unknown', full: true, want: [] },
  ];
  for (const c of cases) it(c.name, () => assert.deepEqual(noExecuteTaintingPass(node(kubelet(0), c.taints), c.observed, now, { fullDisruption: c.full }), c.want));
});

describe('swapTaints', () => {
  it('replaces nothing it matches already', () => {
    assert.equal(swapTaints([{ key: 'a', effect: 'NoSchedule' }], [{ key: 'a', effect: 'NoSchedule' }], [], at(1)), undefined);
  });
});

describe('markPodNotReady', () => {
  const pod = (ready?: string, nodeName = 'n1'): Pod => ({
    metadata: { name: 'p', namespace: 'default' },
    spec: { nodeName, containers: [] },
    status: { phase: 'Running', conditions: [{ type: 'Initialized', status: 'True' }, ...(ready ? [{ type: 'Ready', status: ready, lastTransitionTime: iso(1) }] : [])] },
  });
  it('turns Ready False with a new transition time, other conditions untouched', () => {
    const s = markPodNotReady(pod('True'), 'n1', at(100))!;
    assert.deepEqual(s.conditions, [{ type: 'Initialized', status: 'True' }, { type: 'Ready', status: 'False', lastTransitionTime: iso(100) }]);
    assert.equal(s.phase, 'Running');
  });
  for (const [name, p] of [['already not ready', pod('False')], ['no Ready condition', pod()], ['another node', pod('True', 'n2')]] as const) {
    it(`${name}: nothing`, () => assert.equal(markPodNotReady(p, 'n1', at(100)), undefined));
  }
});

describe('computeZoneState', () => {
  const cases: [(string | undefined)[], string][] = [
    [['True', 'True'], 'Normal'],
    [['True', 'Unknown'], 'Normal'],
    [['Unknown'], 'FullDisruption'],
    [['Unknown', undefined], 'FullDisruption'],
    [['True', 'False', 'Unknown', 'Unknown'], 'PartialDisruption'],
    [['True', 'True', 'Unknown', 'Unknown', 'Unknown', 'True', 'True'], 'Normal'],
  ];
  for (const [statuses, want] of cases) it(`${statuses.join(',')} → ${want}`, () => assert.equal(computeZoneState(statuses), want));
});

describe('toleratesTaint', () => {
  const taint: Taint = { key: 'k', value: 'v', effect: 'NoSchedule' };
  const cases: [string, Parameters<typeof toleratesTaint>[0], boolean][] = [
    ['Exists without key tolerates everything', { operator: 'Exists' }, true],
    ['Exists with the key', { key: 'k', operator: 'Exists' }, true],
    ['Exists with another key', { key: 'x', operator: 'Exists' }, false],
    ['Equal needs the value', { key: 'k', value: 'v' }, true],
    ['Equal with another value', { key: 'k', operator: 'Equal', value: 'w' }, false],
    ['another effect', { key: 'k', operator: 'Exists', effect: 'NoExecute' }, false],
    ['the effect', { key: 'k', operator: 'Exists', effect: 'NoSchedule' }, true],
  ];
  for (const [name, t, want] of cases) it(name, () => assert.equal(toleratesTaint(t, taint), want));
});

describe('parseDuration', () => {
  const cases: [string, number][] = [['50s', 50_000], ['1m', 60_000], ['1m30s', 90_000], ['500ms', 500], ['1.5s', 1500], ['0', 0], ['2h', 7_200_000]];
  for (const [s, ms] of cases) it(s, () => assert.equal(parseDuration(s), ms));
  for (const bad of ['50', 's', '1x', '']) it(`rejects "${bad}"`, () => assert.throws(() => parseDuration(bad), /invalid duration/));
});
