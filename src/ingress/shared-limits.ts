// limit-rps and limit-connections state that every proxy worker thread shares, as nginx's
// limit_req/limit_conn zones are shared memory between its workers: a client is limited once per
// ingress controller, whichever worker the kernel gave its connection to. One SharedArrayBuffer
// holds a fixed-size open-addressing table keyed by a 64-bit hash of "route|client address"; one
// spin lock (Atomics) guards lookups and inserts, a few hundred nanoseconds each, and only routes
// with a limit ever take it. Entries are reused once their bucket has drained and no request
// holds them; when a probe finds neither the key nor a free slot, the request is allowed (fail
// open, counted in `overflows`) rather than refused for a table that is full.

const HEADER_INTS = 4; // [lock, overflows, unused, unused]
const META = 4; // per slot, Int32: [keyHi, keyLo, conns, used]
const VALS = 3; // per slot, Float64: [excess × 1000, last ms, idle-at ms]
const MAX_PROBE = 32;

/** What request-policy asks of the limit state (one implementation: SharedLimits, in one thread or shared by several). */
export interface Limits {
  /**
   * nginx's limit_req with `burst=rps×multiplier nodelay`, as ingress-nginx configures it: excess
   * drains at `rps` per second, each request adds one, past `burst` the request is refused.
   */
  allowRequest(key: string, rps: number, burst: number): boolean;
  /** limit_conn: at most `max` requests in flight per key; a release function, or undefined when over. */
  acquireConnection(key: string, max: number): (() => void) | undefined;
}

export class SharedLimits implements Limits {
  readonly buffer: SharedArrayBuffer;
  readonly #now: () => number;
  readonly #slots: number;
  readonly #header: Int32Array;
  readonly #meta: Int32Array;
  readonly #vals: Float64Array;

  /** A new table of `slots` entries (rounded up to a power of two), or a view of another thread's `buffer`. */
  constructor(opts: { buffer?: SharedArrayBuffer; slots?: number; now?: () => number } = {}) {
    const slots = opts.buffer ? slotsIn(opts.buffer) : 2 ** Math.ceil(Math.log2(Math.max(16, opts.slots ?? 65_536)));
    this.buffer = opts.buffer ?? new SharedArrayBuffer(bytesFor(slots));
    this.#now = opts.now ?? Date.now;
    this.#slots = slots;
    this.#header = new Int32Array(this.buffer, 0, HEADER_INTS);
    this.#meta = new Int32Array(this.buffer, HEADER_INTS * 4, slots * META);
    this.#vals = new Float64Array(this.buffer, HEADER_INTS * 4 + slots * META * 4, slots * VALS);
  }

  /** Requests let through because the table had no room for their key. */
  get overflows(): number {
    return Atomics.load(this.#header, 1);
  }

  allowRequest(key: string, rps: number, burst: number): boolean {
    const now = this.#now();
    this.#lock();
    try {
      const slot = this.#find(key, now);
      if (slot < 0) { Atomics.add(this.#header, 1, 1); return true; }
      const v = slot * VALS;
      const fresh = this.#meta[slot * META + 3] === 0;
      // Excess is kept in thousandths of a request, as nginx does.
      const excess = fresh ? 0 : Math.max(0, this.#vals[v]! - rps * (now - this.#vals[v + 1]!) + 1000);
      if (!fresh && excess > burst * 1000) return false;
      this.#vals[v] = excess;
      this.#vals[v + 1] = now;
      this.#vals[v + 2] = Math.max(this.#vals[v + 2]!, now + excess / Math.max(rps, 1e-9));
      this.#meta[slot * META + 3] = 1;
      return true;
    } finally {
      this.#unlock();
    }
  }

  acquireConnection(key: string, max: number): (() => void) | undefined {
    const now = this.#now();
    let slot: number;
    this.#lock();
    try {
      slot = this.#find(key, now);
      if (slot < 0) { Atomics.add(this.#header, 1, 1); return () => {}; }
      const m = slot * META;
      // Atomic even under the lock: releases decrement without it.
      if (Atomics.load(this.#meta, m + 2) >= max) return undefined;
      Atomics.add(this.#meta, m + 2, 1);
      this.#meta[m + 3] = 1;
    } finally {
      this.#unlock();
    }
    // A slot holding connections is never reused, so the release needs no lookup.
    let released = false;
    return () => {
      if (released) return;
      released = true;
      Atomics.sub(this.#meta, slot * META + 2, 1);
    };
  }

  /** The key's slot (claimed for it if new), or -1 when no slot is free within the probe limit. Lock held. */
  #find(key: string, now: number): number {
    const [hi, lo] = hash64(key);
    const mask = this.#slots - 1;
    let free = -1;
    for (let i = 0, s = lo & mask; i < MAX_PROBE; i++, s = (s + 1) & mask) {
      const m = s * META;
      const khi = this.#meta[m]!, klo = this.#meta[m + 1]!;
      if (khi === hi && klo === lo) return s;
      if (khi === 0 && klo === 0) { if (free < 0) free = s; break; }
      // Drained and idle: may be taken by another key (it keeps the probe chain unbroken).
      if (free < 0 && Atomics.load(this.#meta, m + 2) === 0 && this.#vals[s * VALS + 2]! <= now) free = s;
    }
    if (free < 0) return -1;
    const m = free * META;
    this.#meta[m] = hi;
    this.#meta[m + 1] = lo;
    this.#meta[m + 3] = 0; // fresh: the first request starts the bucket
    this.#vals[free * VALS + 2] = now;
    return free;
  }

  #lock(): void {
    while (Atomics.compareExchange(this.#header, 0, 0, 1) !== 0) { /* another worker's critical section is a few instructions */ }
  }

  #unlock(): void {
    Atomics.store(this.#header, 0, 0);
  }
}

function bytesFor(slots: number): number {
  return HEADER_INTS * 4 + slots * META * 4 + slots * VALS * 8;
}

function slotsIn(buffer: SharedArrayBuffer): number {
  return (buffer.byteLength - HEADER_INTS * 4) / (META * 4 + VALS * 8);
}

/** Two independent 32-bit FNV-1a style hashes of the key; never both zero (zero marks an empty slot). */
function hash64(key: string): [number, number] {
  let a = 0x811c9dc5 | 0, b = 0x01000193 ^ 0x5bd1e995;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 15;
  }
  a ^= a >>> 16;
  return a === 0 && b === 0 ? [0, 1] : [a, b];
}
