// What a composite start has brought up so far, so that a start failing halfway (a port in use, a
// missing program) leaves nothing behind: no pods, network namespaces, nft tables or routes.

export class StartedParts {
  readonly #stops: (() => Promise<void>)[] = [];
  readonly #log: (m: string) => void;

  constructor(log: (m: string) => void) {
    this.#log = log;
  }

  /**
   * Starts one part; once it has started, `stop` is what undoes it. `halfway`: the part's stop also
   * undoes a start of its own that failed halfway, so it is called then too.
   */
  async start<T>(what: string, start: () => Promise<T> | T, stop: (started: T | undefined) => Promise<void> | void, opts: { halfway?: boolean } = {}): Promise<T> {
    let started: T | undefined;
    const undo = async () => {
      try { await stop(started); } catch (err) { this.#log(`stopping ${what}: ${String(err)}`); }
    };
    try {
      started = await start();
    } catch (err) {
      if (opts.halfway) await undo();
      throw err;
    }
    this.#stops.push(undo);
    return started;
  }

  /** Stops every started part, the last started first; a part that fails to stop is logged and the rest still stop. */
  async stopAll(): Promise<void> {
    for (let s = this.#stops.pop(); s; s = this.#stops.pop()) await s();
  }

  /** Runs `body`; when it throws, stops what it started and rethrows. */
  async orUndo<T>(body: () => Promise<T>): Promise<T> {
    try {
      return await body();
    } catch (err) {
      await this.stopAll();
      throw err;
    }
  }
}
