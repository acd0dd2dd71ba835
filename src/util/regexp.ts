import v8 from 'node:v8';

/** `text` with every character that means something in a regular expression escaped. */
export function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

let guarded = false;
let linearEngine: boolean | undefined;

/**
 * Whether `pattern`, anchored whole (`^(?:pattern)$`), runs on V8's linear-time engine (flag `l`),
 * that is without backreferences, lookaheads or counted repetitions over 16: an RE2-like subset.
 * Undefined when this V8 has no linear engine to ask. Enabling the flag only makes `l` available;
 * no other expression changes engines.
 */
export function runsInLinearTime(pattern: string): boolean | undefined {
  if (linearEngine === undefined) {
    try { v8.setFlagsFromString('--enable-experimental-regexp-engine'); new RegExp('', 'l'); linearEngine = true; } catch { linearEngine = false; }
  }
  if (!linearEngine) return undefined;
  try { new RegExp(`^(?:${pattern})$`, 'l'); return true; } catch { return false; }
}

/**
 * Makes V8 switch a regular expression that backtracks too much to its linear-time engine, once
 * per process. Ingress regexes (use-regex paths, canary-by-header-pattern) come from Ingress
 * authors but run on what clients send: without this, a pattern like `^(a|a)+$` lets one request
 * hold a proxy thread for hours, where nginx's PCRE gives up at its match limit. Patterns the
 * linear engine cannot run (backreferences, lookarounds) keep the backtracking one.
 */
export function guardRegExpBacktracking(): void {
  if (guarded) return;
  guarded = true;
  v8.setFlagsFromString('--enable-experimental-regexp-engine-on-excessive-backtracks');
}
