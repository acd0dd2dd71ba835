// Closed-loop load: N workers each send one request, wait for its answer and send the next, until
// a deadline or a request budget runs out. Latency is measured per request with performance.now().

export interface LoadResult {
  count: number;
  errors: number;
  firstError?: string;
  elapsedMs: number;
  /** Latencies of the successful requests, ms, sorted ascending. */
  latencies: number[];
}

export interface LoadOptions {
  concurrency: number;
  /** Stop starting requests after this long. */
  durationMs?: number;
  /** Stop after this many requests in total. */
  total?: number;
  /** One request; `i` is a run-wide sequence number, unique per request. */
  op: (i: number) => Promise<unknown>;
}

/** Runs the load and returns counts and sorted latencies; errors are counted, never thrown. */
export async function closedLoop(opts: LoadOptions): Promise<LoadResult> {
  if (opts.durationMs === undefined && opts.total === undefined) throw new Error('closedLoop needs durationMs or total');
  const latencies: number[] = [];
  let next = 0;
  let errors = 0;
  let firstError: string | undefined;
  const start = performance.now();
  const deadline = opts.durationMs === undefined ? Infinity : start + opts.durationMs;
  const total = opts.total ?? Infinity;
  const worker = async () => {
    while (performance.now() < deadline && next < total) {
      const i = next++;
      const t0 = performance.now();
      try {
        await opts.op(i);
        latencies.push(performance.now() - t0);
      } catch (err) {
        errors++;
        firstError ??= err instanceof Error ? err.message : String(err);
        // A broken server would otherwise spin at full speed producing errors.
        if (errors > 100 && errors > latencies.length) break;
      }
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, worker));
  const elapsedMs = performance.now() - start;
  latencies.sort((a, b) => a - b);
  return { count: latencies.length, errors, firstError, elapsedMs, latencies };
}

/** Nearest-rank percentile of an ascending array; NaN when empty. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx]!;
}

export function median(values: readonly number[]): number {
  return percentile([...values].sort((a, b) => a - b), 50);
}

export function ratePerSecond(r: LoadResult): number {
  return r.count / (r.elapsedMs / 1000);
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
