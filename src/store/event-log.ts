import { CompactedError, type StoreEvent, type Watch, type WatchListener } from './store.ts';

interface Watcher {
  prefix: string;
  listener: WatchListener;
  /** Events up to this revision were replayed from history already. */
  after: number;
}

/**
 * Recent history plus fan-out to watchers, shared by store backends that have no watch of their
 * own. Keeps the last `capacity` events; a watch from before that window gets CompactedError,
 * which the API server answers with 410 Gone and clients relist.
 */
export class EventLog {
  readonly #capacity: number;
  readonly #ring: StoreEvent[] = [];
  #start = 0; // index of the oldest event in #ring once full
  #watchers = new Set<Watcher>();
  #pending: StoreEvent[] = [];
  /** Events at or below this revision are not in the log (before start-up, or dropped). */
  #floor: number;

  constructor(opts: { capacity?: number; startRevision: number }) {
    this.#capacity = opts.capacity ?? 10_000;
    this.#floor = opts.startRevision;
  }

  append(ev: StoreEvent): void {
    if (this.#ring.length < this.#capacity) {
      this.#ring.push(ev);
    } else {
      const dropped = this.#ring[this.#start]!;
      this.#floor = dropped.revision;
      this.#ring[this.#start] = ev;
      this.#start = (this.#start + 1) % this.#capacity;
    }
    // Fan-out happens after the write has returned, so a write never waits for its watchers.
    this.#pending.push(ev);
    if (this.#pending.length === 1) setImmediate(() => this.#flush());
  }

  #flush(): void {
    const batch = this.#pending;
    this.#pending = [];
    for (const ev of batch) {
      for (const w of this.#watchers) {
        if (ev.revision > w.after && ev.key.startsWith(w.prefix)) w.listener(ev);
      }
    }
  }

  watch(prefix: string, afterRevision: number, listener: WatchListener): Watch {
    if (afterRevision < this.#floor) throw new CompactedError(afterRevision, this.#floor + 1);
    const n = this.#ring.length;
    let replayedTo = afterRevision;
    for (let i = 0; i < n; i++) {
      const ev = this.#ring[(this.#start + i) % n]!;
      if (ev.revision > afterRevision && ev.key.startsWith(prefix)) listener(ev);
      if (ev.revision > replayedTo) replayedTo = ev.revision;
    }
    // Events still waiting for fan-out were just replayed; the flush must not send them twice.
    const w: Watcher = { prefix, listener, after: replayedTo };
    this.#watchers.add(w);
    return { stop: () => { this.#watchers.delete(w); } };
  }

  closeAll(): void {
    this.#watchers.clear();
  }
}
