/**
 * What a server holds open (connections, sessions), to close them all when it stops: one add when
 * something opens, one remove when it closes, a walk at the end.
 *
 * A linked list rather than a Set, for memory. A long-lived Set that gains and loses an entry per
 * connection rehashes over and over; V8 leaves each replaced hash table in the old generation with
 * its entries intact, and every scavenge then treats the closed connections those entries point at
 * as live, promoting them to the old generation. With a Set, about 550 bytes per closed HTTP
 * connection went to the old generation, freed only by full collections. Here, an entry that goes
 * forgets its neighbours and its value, so nothing old points at what has closed.
 */
export class LiveList<T> {
  #head: LiveEntry<T> | undefined;
  #size = 0;

  get size(): number {
    return this.#size;
  }

  /** Adds `value`; the entry is what remove() takes. */
  add(value: T): LiveEntry<T> {
    const e: LiveEntry<T> = { value, prev: undefined, next: this.#head, live: true };
    if (this.#head) this.#head.prev = e;
    this.#head = e;
    this.#size++;
    return e;
  }

  /** Removes an entry; removing one twice does nothing. */
  remove(e: LiveEntry<T>): void {
    if (!e.live) return;
    e.live = false;
    if (e.prev) e.prev.next = e.next;
    else this.#head = e.next;
    if (e.next) e.next.prev = e.prev;
    e.prev = e.next = undefined;
    e.value = undefined as T;
    this.#size--;
  }

  /** The values now held, newest first (a copy: callbacks may remove entries while it is walked). */
  values(): T[] {
    const out: T[] = [];
    for (let e = this.#head; e; e = e.next) out.push(e.value);
    return out;
  }
}

export interface LiveEntry<T> {
  value: T;
  prev: LiveEntry<T> | undefined;
  next: LiveEntry<T> | undefined;
  live: boolean;
}
