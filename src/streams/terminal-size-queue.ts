/** A terminal size as client-go sends it on the resize stream (`{"Width":100,"Height":30}`). */
export interface TerminalSize {
  width: number;
  height: number;
}

/**
 * Resize events as an async iterable. Bytes from the resize stream are fed in as they come;
 * client-go writes one JSON object per resize with json.Encoder (newline-terminated), but a
 * stream may split or join them, so objects are cut out by brace depth, not by line.
 */
export class TerminalSizeQueue implements AsyncIterable<TerminalSize> {
  #pending: TerminalSize[] = [];
  #waiters: ((r: IteratorResult<TerminalSize>) => void)[] = [];
  #text = '';
  #ended = false;

  /** Feeds raw bytes of the resize stream. */
  write(chunk: Buffer | string): void {
    this.#text += chunk.toString();
    for (;;) {
      const start = this.#text.indexOf('{');
      if (start < 0) { this.#text = ''; return; }
      let depth = 0;
      let end = -1;
      for (let i = start; i < this.#text.length; i++) {
        const c = this.#text[i];
        if (c === '{') depth++;
        else if (c === '}' && --depth === 0) { end = i; break; }
      }
      if (end < 0) { this.#text = this.#text.slice(start); return; }
      const json = this.#text.slice(start, end + 1);
      this.#text = this.#text.slice(end + 1);
      try {
        const v = JSON.parse(json) as { Width?: unknown; Height?: unknown };
        if (typeof v.Width === 'number' && typeof v.Height === 'number') this.push({ width: v.Width, height: v.Height });
      } catch {
        // kubelet logs and drops a resize it cannot decode; so do we.
      }
    }
  }

  push(size: TerminalSize): void {
    if (this.#ended) return;
    const w = this.#waiters.shift();
    if (w) w({ value: size, done: false });
    else this.#pending.push(size);
  }

  end(): void {
    this.#ended = true;
    for (const w of this.#waiters.splice(0)) w({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterator<TerminalSize> {
    return {
      next: () => {
        const v = this.#pending.shift();
        if (v) return Promise.resolve({ value: v, done: false });
        if (this.#ended) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => this.#waiters.push(resolve));
      },
      return: () => {
        this.end();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}
