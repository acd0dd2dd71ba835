import v8 from 'node:v8';

/** `text` with every character that means something in a regular expression escaped. */
export function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

let guarded = false;

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
