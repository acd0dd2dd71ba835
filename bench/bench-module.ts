// What bench/run.ts expects of each benchmark module. Modules append to `out` as they go, so the
// rows measured before a failure are still reported.
import type { Row } from './report.ts';

export interface BenchOutput {
  rows: Row[];
  /** What each peer is, keyed by Row.peerName. */
  peers: Record<string, string>;
  notes: string[];
}

export interface BenchContext {
  out: BenchOutput;
  /** Progress lines (stderr), not part of the report. */
  log(msg: string): void;
}

export interface BenchModule {
  name: string;
  description: string;
  /** Measures and appends rows; must stop every process it started before returning or throwing. */
  run(ctx: BenchContext): Promise<void>;
}
