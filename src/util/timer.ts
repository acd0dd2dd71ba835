/** Node timers hold at most 2^31-1 ms (about 24.8 days); a longer wait would fire at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** A delay Node can wait: at least 1 ms, at most MAX_TIMER_MS. */
export function clampTimerMs(ms: number): number {
  return Math.min(Math.max(ms, 1), MAX_TIMER_MS);
}
