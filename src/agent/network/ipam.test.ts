import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type NetworkState, PoolExhaustedError, allocate, emptyState, parseState, release, serializeState } from './ipam.ts';
import { planNode } from './plan.ts';

const plan = planNode({ nodeName: 'n', podCIDR: '10.244.0.0/24', clusterCIDR: '10.244.0.0/16' });
const meta = (name: string) => ({ netns: `ns-${name}`, namespace: 'default', name });

function allocMany(state: NetworkState, uids: string[]): NetworkState {
  for (const u of uids) state = allocate(state, plan, u, meta(u)).state;
  return state;
}

describe('ipam', () => {
  it('starts after the gateway and is idempotent per uid', () => {
    let s = emptyState('10.244.0.0/24');
    const a = allocate(s, plan, 'a', meta('a'));
    assert.equal(a.allocation.ip, '10.244.0.2');
    assert.ok(a.created);
    s = a.state;
    const again = allocate(s, plan, 'a', meta('a'));
    assert.equal(again.state, s);
    assert.equal(again.allocation.ip, '10.244.0.2');
    assert.ok(!again.created);
  });

  it('continues after the last address and wraps, skipping used ones', () => {
    let s = allocMany(emptyState('10.244.0.0/24'), ['a', 'b', 'c']);
    s = release(s, 'b');
    assert.equal(allocate(s, plan, 'd', meta('d')).allocation.ip, '10.244.0.5', 'a freed address is not reused at once');
    s = { ...s, lastIP: '10.244.0.254' };
    assert.equal(allocate(s, plan, 'e', meta('e')).allocation.ip, '10.244.0.3', 'wraps to the first free address');
  });

  it('throws PoolExhaustedError when full', () => {
    const small = planNode({ nodeName: 'n', podCIDR: '10.244.0.0/29', clusterCIDR: '10.244.0.0/16' });
    let s = emptyState('10.244.0.0/29');
    for (const u of ['1', '2', '3', '4', '5']) s = allocate(s, small, u, meta(u)).state;
    assert.deepEqual(Object.values(s.pods).map((p) => p.ip), ['10.244.0.2', '10.244.0.3', '10.244.0.4', '10.244.0.5', '10.244.0.6']);
    assert.throws(() => allocate(s, small, '6', meta('6')), PoolExhaustedError);
  });

  it('round-trips through the file and drops what no longer fits', () => {
    const s = allocMany(emptyState('10.244.0.0/24'), ['b', 'a']);
    const text = serializeState(s);
    assert.ok(text.indexOf('"a"') < text.indexOf('"b"'), 'sorted keys');
    assert.deepEqual(parseState(text, plan), { state: s, dropped: [] });
    const other = planNode({ nodeName: 'n', podCIDR: '10.244.5.0/24', clusterCIDR: '10.244.0.0/16' });
    const moved = parseState(text, other);
    assert.deepEqual(moved.dropped, ['a', 'b']);
    assert.deepEqual(moved.state.pods, {});
    assert.equal(moved.state.lastIP, null);
    const dup = JSON.parse(text) as { pods: Record<string, { ip: string }> };
    dup.pods.b!.ip = dup.pods.a!.ip;
    assert.deepEqual(parseState(JSON.stringify(dup), plan).dropped, ['b']);
    assert.throws(() => parseState('{"version":2}', plan), /not a version 1 state file/);
    assert.throws(() => parseState('not json', plan));
  });
});
