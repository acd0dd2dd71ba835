// Waiting in tests for something another part does on its own time (a controller's write, an
// informer's event), without fixed sleeps: poll until it is there, or fail saying what was awaited.

/** Resolves with f's first defined value; rejects after timeoutMs with `what` and f's last error. */
export async function until<T>(what: string, f: () => Promise<T | undefined> | T | undefined, timeoutMs = 5000): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await f();
      if (v !== undefined) return v;
    } catch (err) { last = err; }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((res) => setTimeout(res, 20));
  }
}
