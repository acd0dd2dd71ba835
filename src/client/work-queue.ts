// A keyed work queue (client-go util/workqueue): a key is queued once however often it is
// dirtied, never processed by two workers at once, and re-queued if dirtied while processing.
// Failed keys come back after a growing delay.

export interface WorkQueueOptions {
  /** Handles one key; a rejection re-queues it with back-off. */
  process: (key: string) => Promise<void>;
  workers?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  onError?: (key: string, err: unknown) => void;
}

export class WorkQueue {
  readonly #opts: WorkQueueOptions;
  readonly #queue: string[] = [];
  readonly #dirty = new Set<string>();
  readonly #processing = new Set<string>();
  readonly #failures = new Map<string, number>();
  readonly #timers = new Set<NodeJS.Timeout>();
  #active = 0;
  #stopped = false;
  #idleWaiters: (() => void)[] = [];

  constructor(opts: WorkQueueOptions) {
    this.#opts = opts;
  }

  add(key: string): void {
    if (this.#stopped || this.#dirty.has(key)) return;
    this.#dirty.add(key);
    if (!this.#processing.has(key)) this.#queue.push(key);
    this.#pump();
  }

  addAfter(key: string, delayMs: number): void {
    const t = setTimeout(() => { this.#timers.delete(t); this.add(key); }, delayMs);
    this.#timers.add(t);
  }

  /** Resolves when nothing is queued or running (for tests and orderly shutdown). */
  idle(): Promise<void> {
    if (this.#queue.length === 0 && this.#active === 0) return Promise.resolve();
    return new Promise((r) => this.#idleWaiters.push(r));
  }

  stop(): void {
    this.#stopped = true;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    this.#queue.length = 0;
  }

  #pump(): void {
    const workers = this.#opts.workers ?? 1;
    while (this.#active < workers && this.#queue.length > 0) {
      const key = this.#queue.shift()!;
      this.#dirty.delete(key);
      this.#processing.add(key);
      this.#active++;
      void this.#run(key);
    }
    if (this.#queue.length === 0 && this.#active === 0) for (const w of this.#idleWaiters.splice(0)) w();
  }

  async #run(key: string): Promise<void> {
    try {
      await this.#opts.process(key);
      this.#failures.delete(key);
    } catch (err) {
      this.#opts.onError?.(key, err);
      const n = (this.#failures.get(key) ?? 0) + 1;
      this.#failures.set(key, n);
      const base = this.#opts.baseDelayMs ?? 5;
      const delay = Math.min(base * 2 ** (n - 1), this.#opts.maxDelayMs ?? 30_000);
      if (!this.#stopped) this.addAfter(key, delay);
    } finally {
      this.#processing.delete(key);
      this.#active--;
      if (this.#dirty.has(key) && !this.#stopped) this.#queue.push(key);
      this.#pump();
    }
  }
}
