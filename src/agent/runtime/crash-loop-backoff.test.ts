import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CrashLoopBackoff, formatGoDuration } from './crash-loop-backoff.ts';

const pod = { name: 'web', namespace: 'default', uid: '1a2b' };

describe('CrashLoopBackoff', () => {
  it('restarts at once, then waits 10s doubling to 5m0s, with kubelet\'s message', () => {
    let now = 0;
    const b = new CrashLoopBackoff({ now: () => now });
    assert.deepEqual(b.decide(pod, 'app', now), { action: 'restart' });
    const seen: string[] = [];
    for (let i = 0; i < 7; i++) {
      const finishedAt = now;
      const d = b.decide(pod, 'app', finishedAt);
      assert.equal(d.action, 'wait');
      if (d.action !== 'wait') return;
      assert.equal(d.reason, 'CrashLoopBackOff');
      seen.push(d.message);
      now += d.retryInMs;
      assert.deepEqual(b.decide(pod, 'app', finishedAt), { action: 'restart' });
      now += 1000; // runs for a second, crashes again
    }
    assert.deepEqual(seen.map((m) => /back-off (\S+) /.exec(m)?.[1]), ['10s', '20s', '40s', '1m20s', '2m40s', '5m0s', '5m0s']);
    assert.equal(seen[0], 'back-off 10s restarting failed container=app pod=web_default(1a2b)');
  });

  it('starts over after ten minutes of running fine', () => {
    let now = 0;
    const b = new CrashLoopBackoff({ now: () => now });
    b.decide(pod, 'app', 0);
    now = 10_000;
    b.decide(pod, 'app', 0);
    assert.equal(b.get(pod, 'app'), 20_000);
    now = 10_000 + 601_000; // crashed again after 10 min 1 s of running
    assert.deepEqual(b.decide(pod, 'app', now), { action: 'restart' });
    assert.equal(b.get(pod, 'app'), 10_000);
  });

  it('formats durations as Go does', () => {
    assert.deepEqual([0, 500, 10_000, 80_000, 300_000, 1500, 3_600_000].map(formatGoDuration), ['0s', '500ms', '10s', '1m20s', '5m0s', '1.5s', '1h0m0s']);
  });
});
