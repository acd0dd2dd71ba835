// kubelet's restart back-off (flowcontrol.Backoff with 10 s initial, 300 s maximum): the first
// restart is immediate, then 10 s, 20 s, 40 s … 300 s; an entry untouched for twice the maximum
// (10 minutes) starts over. While waiting the container shows Waiting/CrashLoopBackOff with
// kubelet's message `back-off 40s restarting failed container=NAME pod=NAME_NAMESPACE(UID)`.

export interface CrashLoopBackoffOptions {
  /** Wall clock in ms. */
  now?: () => number;
  initialMs?: number;
  maxMs?: number;
}

export interface PodRef {
  name: string;
  namespace: string;
  uid: string;
}

export type RestartDecision =
  | { action: 'restart' }
  | { action: 'wait'; retryInMs: number; reason: 'CrashLoopBackOff'; message: string };

export class CrashLoopBackoff {
  readonly #now: () => number;
  readonly #initialMs: number;
  readonly #maxMs: number;
  readonly #entries = new Map<string, { backoffMs: number; lastUpdate: number }>();

  constructor(opts: CrashLoopBackoffOptions = {}) {
    this.#now = opts.now ?? Date.now;
    this.#initialMs = opts.initialMs ?? 10_000;
    this.#maxMs = opts.maxMs ?? 300_000;
  }

  /**
   * Decides whether a container that finished at `finishedAt` (ms) may restart now. A `restart`
   * answer also advances the back-off, so call it once per restart you perform.
   */
  decide(pod: PodRef, container: string, finishedAt: number): RestartDecision {
    const key = backoffKey(pod, container);
    const entry = this.#entries.get(key);
    const now = this.#now();
    if (entry && !this.#hasExpired(finishedAt, entry.lastUpdate) && now - finishedAt < entry.backoffMs) {
      return {
        action: 'wait',
        retryInMs: entry.backoffMs - (now - finishedAt),
        reason: 'CrashLoopBackOff',
        message: crashLoopMessage(entry.backoffMs, container, pod),
      };
    }
    this.#next(key, finishedAt);
    return { action: 'restart' };
  }

  /** The current back-off for a container in ms (0 when none). */
  get(pod: PodRef, container: string): number {
    return this.#entries.get(backoffKey(pod, container))?.backoffMs ?? 0;
  }

  /** Forgets a pod's containers (pod deleted). */
  forgetPod(uid: string): void {
    for (const k of this.#entries.keys()) if (k.startsWith(`${uid}/`)) this.#entries.delete(k);
  }

  /** Drops entries idle for longer than twice the maximum, as kubelet's GC does. */
  gc(): void {
    const now = this.#now();
    for (const [k, e] of this.#entries) if (this.#hasExpired(now, e.lastUpdate)) this.#entries.delete(k);
  }

  #next(key: string, eventTime: number): void {
    const entry = this.#entries.get(key);
    if (!entry || this.#hasExpired(eventTime, entry.lastUpdate)) {
      this.#entries.set(key, { backoffMs: this.#initialMs, lastUpdate: eventTime });
    } else {
      this.#entries.set(key, { backoffMs: Math.min(entry.backoffMs * 2, this.#maxMs), lastUpdate: eventTime });
    }
  }

  #hasExpired(eventTime: number, lastUpdate: number): boolean {
    return eventTime - lastUpdate > this.#maxMs * 2;
  }
}

function backoffKey(pod: PodRef, container: string): string {
  return `${pod.uid}/${container}`;
}

/** kubelet's CrashLoopBackOff waiting message. */
export function crashLoopMessage(backoffMs: number, container: string, pod: PodRef): string {
  return `back-off ${formatGoDuration(backoffMs)} restarting failed container=${container} pod=${pod.name}_${pod.namespace}(${pod.uid})`;
}

/** Formats whole milliseconds as Go's time.Duration.String() does (`10s`, `1m20s`, `5m0s`, `1h0m0s`, `1.5s`). */
export function formatGoDuration(ms: number): string {
  if (ms === 0) return '0s';
  const neg = ms < 0;
  let rest = Math.abs(ms);
  if (rest < 1000) return `${neg ? '-' : ''}${rest}ms`;
  const h = Math.floor(rest / 3_600_000); rest -= h * 3_600_000;
  const m = Math.floor(rest / 60_000); rest -= m * 60_000;
  const s = (rest / 1000).toFixed(3).replace(/\.?0+$/, '');
  const out = h > 0 ? `${h}h${m}m${s}s` : m > 0 ? `${m}m${s}s` : `${s}s`;
  return neg ? `-${out}` : out;
}
