import assert from 'node:assert/strict';
import { test } from 'node:test';
import { humanDuration, since } from './duration.ts';

const s = 1000, m = 60 * s, h = 60 * m, d = 24 * h;

test('humanDuration words durations like apimachinery HumanDuration', () => {
  const cases: [number, string][] = [
    [-2 * s, '<invalid>'], [-1500, '0s'], [-1 * s, '0s'], [0, '0s'], [999, '0s'], [31 * s, '31s'],
    [119 * s + 999, '119s'], [2 * m, '2m'], [2 * m + 5 * s, '2m5s'], [9 * m + 59 * s, '9m59s'],
    [10 * m, '10m'], [13 * m + 56 * s, '13m'], [179 * m, '179m'], [3 * h, '3h'], [3 * h + 20 * m, '3h20m'],
    [8 * h, '8h'], [47 * h + 59 * m, '47h'], [2 * d, '2d'], [3 * d + 4 * h, '3d4h'], [8 * d, '8d'],
    [729 * d, '729d'], [730 * d, '2y'], [733 * d, '2y3d'], [8 * 365 * d, '8y'], [9 * 365 * d + 5 * d, '9y'],
  ];
  for (const [ms, want] of cases) assert.equal(humanDuration(ms), want, `${ms}ms`);
});

test('since measures against the given clock and tolerates missing timestamps', () => {
  const now = new Date('2026-11-22T04:08:20.500Z');
  assert.equal(since('2026-11-22T04:07:49Z', now), '31s');
  assert.equal(since('2026-11-22T03:54:24Z', now), '13m');
  assert.equal(since(undefined, now), '<unknown>');
  assert.equal(since('not a time', now), '<unknown>');
  assert.equal(since('0001-01-01T00:00:00Z', now), '<unknown>');
  assert.equal(since('2026-11-22T04:09:00Z', now), '<invalid>');
});
