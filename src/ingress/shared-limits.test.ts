import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { SharedLimits } from './shared-limits.ts';

describe('SharedLimits', () => {
  it('limit_req: rps 1 × burst 5 lets 6 through at once, then one per second', () => {
    let now = 1_000_000;
    const l = new SharedLimits({ slots: 64, now: () => now });
    const results = Array.from({ length: 8 }, () => l.allowRequest('r|10.0.0.1', 1, 5));
    assert.deepEqual(results, [true, true, true, true, true, true, false, false]);
    now += 999;
    assert.equal(l.allowRequest('r|10.0.0.1', 1, 5), false);
    now += 1;
    assert.equal(l.allowRequest('r|10.0.0.1', 1, 5), true);
    assert.equal(l.allowRequest('r|10.0.0.2', 1, 5), true, 'another client has its own bucket');
  });

  it('limit_conn: at most max in flight per key; release is idempotent', () => {
    const l = new SharedLimits({ slots: 64 });
    const a = l.acquireConnection('k', 2);
    const b = l.acquireConnection('k', 2);
    assert.ok(a && b);
    assert.equal(l.acquireConnection('k', 2), undefined);
    a();
    a();
    const c = l.acquireConnection('k', 2);
    assert.ok(c);
    assert.equal(l.acquireConnection('k', 2), undefined, 'a double release freed only one');
  });

  it('reuses drained slots, so a small table serves many clients over time', () => {
    let now = 0;
    const l = new SharedLimits({ slots: 16, now: () => now });
    for (let round = 0; round < 20; round++) {
      for (let c = 0; c < 16; c++) assert.equal(l.allowRequest(`r|client-${round}-${c}`, 10, 0), true);
      now += 1000;
    }
    assert.equal(l.overflows, 0);
  });

  it('a full table lets requests through and counts them instead of refusing', () => {
    const l = new SharedLimits({ slots: 16 });
    const held = Array.from({ length: 16 }, (_, i) => l.acquireConnection(`k${i}`, 1));
    assert.ok(held.every(Boolean));
    assert.equal(l.allowRequest('another', 1, 0), true);
    assert.equal(l.overflows, 1);
  });

  /**
   * Runs `body` in `threads` worker threads at once, each with `l` (a SharedLimits over the same
   * buffer, clock fixed at 1000 when `fixedClock`); resolves with what each body returned.
   */
  function inThreads(limits: SharedLimits, threads: number, body: string, fixedClock = false): Promise<number[]> {
    const src = `
      const { workerData, parentPort } = require('node:worker_threads');
      import(workerData.module).then(({ SharedLimits }) => {
        const l = new SharedLimits({ buffer: workerData.buffer${fixedClock ? ', now: () => 1000' : ''} });
        parentPort.postMessage((() => { ${body} })());
      });`;
    const module = new URL('./shared-limits.ts', import.meta.url).href;
    return Promise.all(Array.from({ length: threads }, () => new Promise<number>((resolve, reject) => {
      const w = new Worker(src, { eval: true, workerData: { buffer: limits.buffer, module } });
      w.once('message', resolve);
      w.once('error', reject);
    })));
  }

  it('acquires and releases from four threads at once leave the count at zero', async () => {
    const l = new SharedLimits({ slots: 64 });
    const refused = await inThreads(l, 4, `
      let refused = 0;
      for (let i = 0; i < 200000; i++) { const r = l.acquireConnection('k', 1000); if (r) r(); else refused++; }
      return refused;`);
    assert.deepEqual(refused, [0, 0, 0, 0]);
    // Every acquire was released: exactly `max` fit again.
    const held = Array.from({ length: 1000 }, () => l.acquireConnection('k', 1000));
    assert.ok(held.every(Boolean), 'a lost decrement would leave fewer than 1000 free');
    assert.equal(l.acquireConnection('k', 1000), undefined);
  });

  it('two worker threads count against one table', async () => {
    const l = new SharedLimits({ slots: 1024 });
    // Each thread tries 500 requests at rps 0.001 (burst 99): together they may pass exactly 100.
    const [a, b] = await inThreads(l, 2, `
      let ok = 0;
      for (let i = 0; i < 500; i++) if (l.allowRequest('route|client', 0.001, 99)) ok++;
      return ok;`, true);
    assert.equal(a! + b!, 100, `threads passed ${a} + ${b}`);
  });
});
