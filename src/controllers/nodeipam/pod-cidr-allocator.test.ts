import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PodCidrAllocator } from './pod-cidr-allocator.ts';

describe('PodCidrAllocator', () => {
  it('hands out /24s in order, skipping occupied ones, and says when full', () => {
    const a = new PodCidrAllocator({ clusterCIDR: '10.244.0.0/22' });
    assert.equal(a.occupy('10.244.1.0/24'), true);
    assert.equal(a.occupy('10.245.0.0/24'), false);
    assert.deepEqual([a.allocate(), a.allocate(), a.allocate(), a.allocate()], ['10.244.0.0/24', '10.244.2.0/24', '10.244.3.0/24', undefined]);
    a.release('10.244.2.0/24');
    assert.equal(a.allocate(), '10.244.2.0/24');
  });
});
