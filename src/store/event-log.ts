import { CompactedError, type StoreEvent, type Watch, type WatchListener } from './store.ts';

interface Watcher {
  prefix: string;
  listener: WatchListener;
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
    for (const w of this.#watchers) {
      if (ev.key.startsWith(w.prefix)) w.listener(ev);
    }
  }

  watch(prefix: string, afterRevision: number, listener: WatchListener): Watch {
    if (afterRevision < this.#floor) throw new CompactedError(afterRevision, this.#floor + 1);
    const n = this.#ring.length;
    for (let i = 0; i < n; i++) {
      const ev = this.#ring[(this.#start + i) % n]!;
      if (ev.revision > afterRevision && ev.key.startsWith(prefix)) listener(ev);
    }
    const w: Watcher = { prefix, listener };
    this.#watchers.add(w);
    return { stop: () => { this.#watchers.delete(w); } };
  }

  closeAll(): void {
    this.#watchers.clear();
  }
}
