import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Node, Pod } from 'kubernetes-types/core/v1.d.ts';
import { schedulePod, type ScheduleResult } from './schedule.ts';

const node = (name: string, f: (n: Node) => void = () => {}): Node => {
  const n: Node = { metadata: { name, labels: { 'kubernetes.io/hostname': name } }, status: { conditions: [{ type: 'Ready', status: 'True' }] } };
  f(n);
  return n;
};
const pod = (name: string, hostPort?: number, f: (p: Pod) => void = () => {}): Pod => {
  const p: Pod = { metadata: { name, namespace: 'default' }, spec: { containers: [{ name: 'c', ports: hostPort ? [{ containerPort: 80, hostPort }] : [] }] } };
  f(p);
  return p;
};

describe('schedulePod', () => {
  it('binds to the least loaded ready node', () => {
    const r = schedulePod(pod('a'), [node('n1'), node('n2')], new Map([['n1', [pod('x')]]]));
    assert.deepEqual(r, { node: 'n2' });
  });
  it('keeps a pod whose hostPort is taken pending, in kube-scheduler\'s words', () => {
    const r = schedulePod(pod('b', 8086), [node('n1')], new Map([['n1', [pod('a', 8086)]]]));
    assert.deepEqual(r, { unschedulable: "0/1 nodes are available: 1 node(s) didn't have free ports for the requested pod ports. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod." });
  });
  it('lets the same hostPort on another protocol or address through', () => {
    const udp = pod('b', 8086, (p) => { p.spec!.containers[0]!.ports![0]!.protocol = 'UDP'; });
    assert.deepEqual(schedulePod(udp, [node('n1')], new Map([['n1', [pod('a', 8086)]]])), { node: 'n1' });
    const ipA = pod('a', 8086, (p) => { p.spec!.containers[0]!.ports![0]!.hostIP = '10.0.0.1'; });
    const ipB = pod('b', 8086, (p) => { p.spec!.containers[0]!.ports![0]!.hostIP = '10.0.0.2'; });
    assert.deepEqual(schedulePod(ipB, [node('n1')], new Map([['n1', [ipA]]])), { node: 'n1' });
  });
  it('honours nodeSelector and not-ready nodes', () => {
    const sel = pod('s', undefined, (p) => { p.spec!.nodeSelector = { disk: 'ssd' }; });
    const r = schedulePod(sel, [node('n1'), node('n2', (n) => { n.status!.conditions![0]!.status = 'False'; })], new Map());
    assert.ok('unschedulable' in r);
    assert.match(r.unschedulable, /^0\/2 nodes are available: 1 node\(s\) didn't match Pod's node affinity\/selector, 1 node\(s\) had untolerated taint \{node.kubernetes.io\/not-ready: \}\./);
  });
  it('says so when there are no nodes', () => {
    assert.deepEqual(schedulePod(pod('a'), [], new Map()), { unschedulable: 'no nodes available to schedule pods' });
  });
});

describe('schedulePod: taints and node readiness (TaintToleration, NodeUnschedulable)', () => {
  const unreachable = (n: Node) => {
    n.status!.conditions![0]!.status = 'Unknown';
    n.spec = { taints: [{ key: 'node.kubernetes.io/unreachable', effect: 'NoSchedule', timeAdded: '2025-01-01T00:00:00Z' }, { key: 'node.kubernetes.io/unreachable', effect: 'NoExecute', timeAdded: '2025-01-01T00:00:05Z' }] };
  };
  // The DefaultTolerationSeconds admission plugin's tolerations: NoExecute only, so NoSchedule still bites.
  const defaults = (p: Pod) => {
    p.spec!.tolerations = [
      { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
      { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
    ];
  };
  const preemptNotHelpful = (n: number, total = n) => `preemption: 0/${total} nodes are available: ${n} Preemption is not helpful for scheduling.`;
  const cases: { name: string; pod: Pod; nodes: Node[]; want: ScheduleResult }[] = [
    { name: 'an unreachable node is passed over', pod: pod('a', undefined, defaults), nodes: [node('n1', unreachable), node('n2')], want: { node: 'n2' } },
    {
      name: 'every node unreachable: kube-scheduler\'s words',
      pod: pod('a', undefined, defaults), nodes: [node('n1', unreachable)],
      want: { unschedulable: `0/1 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }. ${preemptNotHelpful(1)}` },
    },
    {
      name: 'Ready Unknown before the controller tainted it counts as unreachable',
      pod: pod('a'), nodes: [node('n1', (n) => { n.status!.conditions![0]!.status = 'Unknown'; })],
      want: { unschedulable: `0/1 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }. ${preemptNotHelpful(1)}` },
    },
    {
      name: 'a node that never reported Ready counts as not-ready',
      pod: pod('a'), nodes: [node('n1', (n) => { n.status!.conditions = []; })],
      want: { unschedulable: `0/1 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }. ${preemptNotHelpful(1)}` },
    },
    {
      name: 'a toleration of the NoSchedule taint (as a DaemonSet pod has) lets it on',
      pod: pod('a', undefined, (p) => { p.spec!.tolerations = [{ key: 'node.kubernetes.io/unreachable', operator: 'Exists' }]; }),
      nodes: [node('n1', unreachable)], want: { node: 'n1' },
    },
    {
      name: 'a user taint with a value, and a toleration with the wrong value',
      pod: pod('a', undefined, (p) => { p.spec!.tolerations = [{ key: 'dedicated', operator: 'Equal', value: 'db', effect: 'NoSchedule' }]; }),
      nodes: [node('n1', (n) => { n.spec = { taints: [{ key: 'dedicated', value: 'web', effect: 'NoSchedule' }] }; })],
      want: { unschedulable: `0/1 nodes are available: 1 node(s) had untolerated taint {dedicated: web}. ${preemptNotHelpful(1)}` },
    },
    {
      name: 'the right value tolerates it',
      pod: pod('a', undefined, (p) => { p.spec!.tolerations = [{ key: 'dedicated', value: 'web' }]; }),
      nodes: [node('n1', (n) => { n.spec = { taints: [{ key: 'dedicated', value: 'web', effect: 'NoSchedule' }] }; })], want: { node: 'n1' },
    },
    {
      name: 'PreferNoSchedule does not filter',
      pod: pod('a'), nodes: [node('n1', (n) => { n.spec = { taints: [{ key: 'x', effect: 'PreferNoSchedule' }] }; })], want: { node: 'n1' },
    },
    {
      name: 'a NoExecute taint filters too',
      pod: pod('a'), nodes: [node('n1', (n) => { n.spec = { taints: [{ key: 'x', effect: 'NoExecute' }] }; })],
      want: { unschedulable: `0/1 nodes are available: 1 node(s) had untolerated taint {x: }. ${preemptNotHelpful(1)}` },
    },
    {
      name: 'cordoned comes first (NodeUnschedulable runs before TaintToleration)',
      pod: pod('a'), nodes: [node('n1', (n) => { n.spec = { unschedulable: true, taints: [{ key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' }] }; })],
      want: { unschedulable: `0/1 nodes are available: 1 node(s) were unschedulable. ${preemptNotHelpful(1)}` },
    },
    {
      name: 'mixed: ports can preempt, taints cannot',
      pod: pod('b', 8086, defaults), nodes: [node('n1', unreachable), node('n2')],
      want: { unschedulable: "0/2 nodes are available: 1 node(s) didn't have free ports for the requested pod ports, 1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }. preemption: 0/2 nodes are available: 1 No preemption victims found for incoming pod, 1 Preemption is not helpful for scheduling." },
    },
  ];
  for (const c of cases) {
    it(c.name, () => assert.deepEqual(schedulePod(c.pod, c.nodes, new Map([['n2', [pod('a', 8086)]]])), c.want));
  }
});
