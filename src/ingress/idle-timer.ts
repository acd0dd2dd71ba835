// A connection's inactivity timeout, as net.Socket's setTimeout behaves (fires after `ms` without
// activity, then again after each further period unless changed), made cheap for a proxy's many
// connections: activity only stamps a time (touch), nothing is re-armed per read or write.
// - Timeouts of SWEPT_TIMEOUT_MS or more (client keep-alive 75 s, upstream keep-alive 60 s, most
//   connect and read timeouts) are checked by one sweep per thread every SWEEP_MS, as nginx checks
//   its timers once per event loop turn: a connection that opens, answers and closes costs no timer.
//   They fire up to SWEEP_MS late.
// - Shorter ones get a timer of their own, armed lazily: it re-checks the stamp when it fires.
import { performance } from 'node:perf_hooks';
import { LiveList, type LiveEntry } from '../util/live-list.ts';

const SWEPT_TIMEOUT_MS = 2000;
const SWEEP_MS = 250;

export class IdleTimer {
  readonly #target: unknown;
  readonly #onTimeout: (target: unknown) => void;
  #ms = 0;
  /** Last activity (monotonic clock, ms). */
  #last = 0;
  #timer: NodeJS.Timeout | undefined;
  #timerDue = 0;
  /** Its place among the timers the sweep checks. */
  #swept: LiveEntry<IdleTimer> | undefined;
  static readonly #sweepList = new LiveList<IdleTimer>();
  static #sweeper: NodeJS.Timeout | undefined;

  private constructor(target: unknown, onTimeout: (target: unknown) => void) {
    this.#target = target;
    this.#onTimeout = onTimeout;
  }

  /** A timer whose firing calls `onTimeout(target)`: a shared function and its target, no closure per timer. */
  static for<T>(target: T, onTimeout: (target: T) => void): IdleTimer {
    return new IdleTimer(target, onTimeout as (target: unknown) => void);
  }

  /** Activity at `now` (performance.now()'s clock). */
  touch(now: number): void {
    this.#last = now;
  }

  /** Fires after `ms` of inactivity from `now` on; 0 turns it off. */
  set(ms: number, now: number): void {
    this.#ms = ms;
    if (ms === 0) { this.stop(); return; }
    this.#last = now;
    if (ms >= SWEPT_TIMEOUT_MS) {
      this.#clearTimer();
      this.#swept ??= IdleTimer.#sweepList.add(this);
      IdleTimer.#sweeper ??= setTimeout(IdleTimer.#sweep, SWEEP_MS).unref();
      return;
    }
    this.#leaveSweep();
    // An armed timer that fires no later than the new deadline re-checks then; only an earlier one needs arming.
    if (this.#timer && this.#timerDue <= now + ms) return;
    this.#arm(ms);
  }

  /** Off for good (the connection closed); set() turns it on again. */
  stop(): void {
    this.#ms = 0;
    this.#clearTimer();
    this.#leaveSweep();
  }

  #clearTimer(): void {
    if (this.#timer) { clearTimeout(this.#timer); this.#timer = undefined; }
  }

  #leaveSweep(): void {
    if (this.#swept) { IdleTimer.#sweepList.remove(this.#swept); this.#swept = undefined; }
  }

  #arm(ms: number): void {
    this.#clearTimer();
    this.#timerDue = performance.now() + ms;
    this.#timer = setTimeout(() => this.#onTimer(), ms).unref();
  }

  #onTimer(): void {
    this.#timer = undefined;
    if (this.#ms === 0) return;
    const now = performance.now();
    const idle = now - this.#last;
    if (idle < this.#ms) { this.#arm(this.#ms - idle); return; }
    this.#last = now; // as net.Socket: fires again after another full period unless changed
    this.#arm(this.#ms);
    this.#onTimeout(this.#target);
  }

  static #sweep(): void {
    const now = performance.now();
    // The next sweep is armed first, so a handler that throws cannot stop every later timeout.
    IdleTimer.#sweeper = IdleTimer.#sweepList.size ? setTimeout(IdleTimer.#sweep, SWEEP_MS).unref() : undefined;
    for (const t of IdleTimer.#sweepList.values()) {
      // Skipped too: one that an earlier handler of this sweep changed, stopped or turned off.
      if (t.#swept === undefined || now - t.#last < t.#ms) continue;
      t.#last = now;
      t.#onTimeout(t.#target);
    }
  }
}
