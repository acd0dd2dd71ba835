import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WorkQueue } from './work-queue.ts';

describe('WorkQueue', () => {
  it('coalesces repeated adds and never runs one key twice at once', async () => {
    const running = new Set<string>();
    const seen: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    const q = new WorkQueue({
      workers: 2,
      process: async (k) => {
        assert.ok(!running.has(k), `${k} processed concurrently`);
        running.add(k);
        seen.push(k);
        if (seen.length === 1) await gate;
        running.delete(k);
      },
    });
    q.add('a'); q.add('a'); q.add('b');
    await new Promise((r) => setImmediate(r));
    q.add('a'); // dirtied while processing: runs again afterwards
    q.add('a');
    release();
    await q.idle();
    assert.deepEqual(seen, ['a', 'b', 'a']);
  });

  it('retries a failing key with back-off', async () => {
    let n = 0;
    const q = new WorkQueue({ baseDelayMs: 1, process: async () => { n++; if (n < 3) throw new Error('boom'); } });
    q.add('k');
    while (n < 3) await new Promise((r) => setTimeout(r, 2));
    await q.idle();
    q.stop();
    assert.equal(n, 3);
  });
});
