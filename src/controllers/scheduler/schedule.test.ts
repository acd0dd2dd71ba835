import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Node, Pod } from 'kubernetes-types/core/v1.d.ts';
import { schedulePod } from './schedule.ts';

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
