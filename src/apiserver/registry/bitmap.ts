// A fixed-size bitmap of allocated offsets with kube's "random scan with offset" strategy
// (pkg/registry/core/service/allocator: randomScanStrategyWithOffset, KEP-3070): dynamic
// allocation starts at a random point of the upper band [offset, max) and only falls back to the
// lower band [0, offset), which is left for static (user-requested) values.

export class Bitmap {
  readonly #words: Uint32Array;
  readonly #max: number;
  #count = 0;

  constructor(max: number) {
    this.#max = Math.max(0, max);
    this.#words = new Uint32Array(Math.ceil(this.#max / 32));
  }

  get max(): number {
    return this.#max;
  }

  get count(): number {
    return this.#count;
  }

  has(i: number): boolean {
    if (i < 0 || i >= this.#max) return false;
    return ((this.#words[i >>> 5]! >>> (i & 31)) & 1) === 1;
  }

  /** Marks `i`; returns false when it was already marked or is outside the map. */
  set(i: number): boolean {
    if (i < 0 || i >= this.#max || this.has(i)) return false;
    this.#words[i >>> 5]! |= 1 << (i & 31);
    this.#count++;
    return true;
  }

  /** Clears `i`; clearing an unmarked or out-of-map offset is a no-op. */
  clear(i: number): void {
    if (!this.has(i)) return;
    this.#words[i >>> 5]! &= ~(1 << (i & 31));
    this.#count--;
  }

  reset(): void {
    this.#words.fill(0);
    this.#count = 0;
  }

  /**
   * First offset in [lo, hi) at or after `start` (wrapping to lo) that is free here and for which
   * `isFree` agrees; undefined when there is none. Skips full 32-bit words, so a nearly full map
   * of a /12 is still scanned quickly.
   */
  findFree(lo: number, hi: number, start: number, isFree: (i: number) => boolean): number | undefined {
    const n = hi - lo;
    if (n <= 0) return undefined;
    let i = start;
    for (let seen = 0; seen < n; ) {
      if (i >= hi) i = lo;
      if ((i & 31) === 0 && this.#words[i >>> 5] === 0xffffffff && i + 32 <= hi) {
        i += 32;
        seen += 32;
        continue;
      }
      if (!this.has(i) && isFree(i)) return i;
      i++;
      seen++;
    }
    return undefined;
  }

  /**
   * Picks a free offset the way kube does for dynamic allocation: random start in the upper band,
   * then the lower band. `random` returns [0, 1). `isFree` lets a caller exclude offsets it has
   * already promised in a plan that is not committed yet.
   */
  pickFree(offset: number, random: () => number, isFree: (i: number) => boolean = () => true): number | undefined {
    const band = offset > 0 && offset < this.#max ? offset : 0;
    const upper = this.#max - band;
    const upperPick = this.findFree(band, this.#max, band + randomInt(random, upper), isFree);
    if (upperPick !== undefined || band === 0) return upperPick;
    return this.findFree(0, band, randomInt(random, band), isFree);
  }
}

/** Go's rand.Intn over an injected [0, 1) source; clamps a misbehaving source into range. */
function randomInt(random: () => number, n: number): number {
  if (n <= 0) return 0;
  const r = Math.floor(random() * n);
  return r < 0 ? 0 : r >= n ? n - 1 : r;
}
