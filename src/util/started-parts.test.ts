import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { StartedParts } from './started-parts.ts';

describe('StartedParts', () => {
  it('stops what started, last first, when a later start fails, and rethrows that failure', async () => {
    const seen: string[] = [];
    const parts = new StartedParts((m) => seen.push(`log: ${m}`));
    const failure = new Error('listen EADDRINUSE: address already in use 0.0.0.0:80');
    await assert.rejects(parts.orUndo(async () => {
      await parts.start('a', () => { seen.push('start a'); return 'A'; }, (a) => { seen.push(`stop ${a}`); });
      await parts.start('b', async () => { seen.push('start b'); }, () => { seen.push('stop b'); throw new Error('b would not stop'); });
      await parts.start('c', () => { seen.push('start c'); throw failure; }, () => { seen.push('stop c'); });
      await parts.start('d', () => { seen.push('start d'); }, () => { seen.push('stop d'); });
    }), failure);
    assert.deepEqual(seen, ['start a', 'start b', 'start c', 'stop b', 'log: stopping b: Error: b would not stop', 'stop A']);
    seen.length = 0;
    await parts.stopAll();
    assert.deepEqual(seen, [], 'each part is stopped once');
  });

  it('also stops a part whose start failed halfway when asked to', async () => {
    const seen: string[] = [];
    const parts = new StartedParts(() => {});
    await assert.rejects(parts.orUndo(async () => {
      await parts.start('a', () => { seen.push('start a'); }, () => { seen.push('stop a'); });
      await parts.start('agent', () => { seen.push('start agent'); throw new Error('nft failed'); }, (x) => { seen.push(`stop agent ${String(x)}`); }, { halfway: true });
    }), /nft failed/);
    assert.deepEqual(seen, ['start a', 'start agent', 'stop agent undefined', 'stop a']);
  });

  it('stops every part on stopAll after a start that went through', async () => {
    const seen: string[] = [];
    const parts = new StartedParts(() => {});
    await parts.orUndo(async () => {
      for (const p of ['a', 'b', 'c']) await parts.start(p, () => p, (x) => { seen.push(`stop ${x}`); });
    });
    await parts.stopAll();
    assert.deepEqual(seen, ['stop c', 'stop b', 'stop a']);
  });
});
