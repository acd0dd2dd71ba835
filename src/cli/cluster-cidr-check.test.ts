import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Node } from 'kubernetes-types/core/v1.d.ts';
import { clusterCidrMismatch } from './cluster-cidr-check.ts';

const node = (name: string, podCIDR?: string): Node => ({ metadata: { name }, ...(podCIDR ? { spec: { podCIDR } } : {}) });

describe('clusterCidrMismatch', () => {
  const nodes = [node('vm1', '10.244.0.0/24'), node('vm2', '10.244.1.0/24'), node('new')];
  it('accepts the control plane\'s range, a wider one and a /0', () => {
    for (const cidr of ['10.244.0.0/16', '10.0.0.0/8', '0.0.0.0/0']) assert.equal(clusterCidrMismatch(nodes, cidr, 'vm3'), '', cidr);
  });
  it('names the first node whose range lies outside another one', () => {
    assert.equal(clusterCidrMismatch(nodes, '10.200.0.0/16', 'vm3'),
      "--cluster-cidr 10.200.0.0/16 does not hold node vm1's pod range 10.244.0.0/24: give the agent the control plane's --cluster-cidr");
    assert.match(clusterCidrMismatch(nodes, '10.244.0.0/24', 'vm3'), /node vm2's pod range 10\.244\.1\.0\/24/);
  });
  it('leaves out this node (a range from an earlier join) and nodes without a range', () => {
    assert.equal(clusterCidrMismatch([node('vm3', '10.9.0.0/24'), node('new')], '10.244.0.0/16', 'vm3'), '');
  });
});
