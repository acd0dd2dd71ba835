// gcOrphaned's quarantine of missing nodes (kube's nodeQueue, a delaying work queue fed with
// AddAfter(nodeName, quarantineTime)): a node a pod is bound to but the cache does not show may only
// be late to arrive in the cache, so its pods are kept until it has been missing for the quarantine
// time and a GET has confirmed it is gone. In memory, with the time passed in, so it is testable.

export class NodeQuarantine {
  readonly #quarantineMs: number;
  /** Node name → when it leaves quarantine (ms since the epoch). */
  readonly #readyAt = new Map<string, number>();

  constructor(quarantineMs: number) {
    this.#quarantineMs = quarantineMs;
  }

  /**
   * AddAfter: a node already waiting keeps its earlier time (kube's delaying queue keeps the
   * earliest ready time), so being seen missing on every pass does not restart the clock.
   */
  add(name: string, nowMs: number): void {
    const at = nowMs + this.#quarantineMs;
    const cur = this.#readyAt.get(name);
    if (cur === undefined || at < cur) this.#readyAt.set(name, at);
  }

  /**
   * The nodes whose quarantine is over, taken out (sorted). A node still missing after that is
   * quarantined again on the next pass that sees pods bound to it, as kube's queue Done()s the item.
   */
  takeReady(nowMs: number): string[] {
    const ready: string[] = [];
    for (const [name, at] of this.#readyAt) {
      if (at <= nowMs) ready.push(name);
    }
    for (const n of ready) this.#readyAt.delete(n);
    return ready.sort();
  }

  /** The nodes waiting (tests, logs). */
  waiting(): string[] {
    return [...this.#readyAt.keys()].sort();
  }
}
