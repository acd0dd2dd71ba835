import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import v8 from 'node:v8';
import vm from 'node:vm';
import { LiveList } from './live-list.ts';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as (o?: { type: 'minor' | 'major' }) => void;
/** Bytes used outside the young generation. */
const oldUsed = () => v8.getHeapSpaceStatistics().filter((s) => s.space_name !== 'new_space').reduce((n, s) => n + s.space_used_size, 0);

/** How much `churn` adds to the old generation once two young-generation collections ran (what exists before is made old first). */
function promotedBy(churn: () => void): number {
  gc();
  gc();
  const before = oldUsed();
  churn();
  gc({ type: 'minor' });
  gc({ type: 'minor' });
  return oldUsed() - before;
}

describe('LiveList', () => {
  it('holds what was added and not removed; removing twice does nothing', () => {
    const l = new LiveList<string>();
    const a = l.add('a');
    const b = l.add('b');
    const c = l.add('c');
    assert.deepEqual(l.values(), ['c', 'b', 'a']);
    l.remove(b);
    l.remove(b);
    assert.deepEqual(l.values(), ['c', 'a']);
    assert.equal(l.size, 2);
    l.remove(c);
    l.remove(a);
    assert.deepEqual(l.values(), []);
    assert.equal(l.size, 0);
    l.add('d');
    assert.deepEqual(l.values(), ['d']);
  });

  it('lets entries be removed while its values are walked', () => {
    const l = new LiveList<number>();
    const entries = [1, 2, 3, 4].map((n) => l.add(n));
    for (const v of l.values()) l.remove(entries[v - 1]!);
    assert.equal(l.size, 0);
  });

  it('keeps nothing that was removed alive through young-generation collections', () => {
    const l = new LiveList<{ payload: number[] }>();
    // Long-lived (old) like a server's list, with a few long-lived entries as neighbours.
    const keep = Array.from({ length: 8 }, () => l.add({ payload: [] }));
    // Connections come and go, a few open at a time, each holding about 1 KiB.
    const grown = promotedBy(() => {
      const open: ReturnType<typeof l.add>[] = [];
      for (let i = 0; i < 20_000; i++) {
        open.push(l.add({ payload: Array.from({ length: 120 }, (_, k) => k + i) }));
        if (open.length > 16) l.remove(open.shift()!);
      }
      for (const e of open.splice(0)) l.remove(e);
    });
    // 20,000 closed entries of ~1 KiB: a Set in their place promotes megabytes (measured ~10 MB).
    assert.ok(grown < 1 << 20, `old generation grew by ${grown} bytes after the entries were removed`);
    assert.equal(l.size, keep.length);
  });

  it('leaves nothing pointing from a removed long-lived entry to a younger neighbour', () => {
    const l = new LiveList<{ payload: number[] }>();
    // Long-lived connections (promoted to the old generation)...
    const old = Array.from({ length: 2000 }, () => l.add({ payload: [] }));
    // ...each closing while a short-lived one (with ~1 KiB) sits next to it in the list.
    const grown = promotedBy(() => {
      for (let i = old.length - 1; i >= 0; i--) {
        const young = l.add({ payload: Array.from({ length: 120 }, (_, k) => k + i) });
        l.remove(old[i]!);
        l.remove(young);
      }
    });
    // A removed old entry still naming its neighbour would keep ~2 MB of payloads alive.
    assert.ok(grown < 1 << 20, `old generation grew by ${grown} bytes after the entries were removed`);
    assert.equal(l.size, 0);
  });
});
