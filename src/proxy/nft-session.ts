// A long-running `nft -i` for small incremental transactions: no process start-up (and, through
// nsenter, no namespace switch) per sync. nft 1.0.6 still refetches its cache after every commit
// (the generation id changed), so this saves the start-up, not the cache: ~15-20 ms of ~50.
//
// Protocol: `nft -i` reads one line per transaction, so a script is sent as one line of
// `;`-separated commands (one netlink batch: all or nothing), followed by a marker line that is a
// syntax error. Errors go to stderr, unbuffered and in order, so everything on stderr before the
// marker's error belongs to the transaction.
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';

/** The nft process is gone or stuck: the caller should fall back to a one-shot `nft -f`. */
export class NftSessionUnavailableError extends Error {
  readonly code = 'ENFTSESSION';
}

/** The transaction was rejected (nothing applied). */
export class NftTransactionError extends Error {
  readonly code = 'ENFTTRANSACTION';
  readonly stderr: string;
  constructor(stderr: string) {
    super(`nft -i: ${stderr.trim().split('\n').slice(0, 6).join('\n')}`);
    this.stderr = stderr;
  }
}

export interface NftSessionOptions {
  /** The command; default `nft -i`. Prefix with nsenter for a node in a named namespace. */
  readonly argv?: readonly string[];
  /** Per transaction; on expiry the process is killed and the call fails as unavailable. Default 10 s. */
  readonly timeoutMs?: number;
  /** Scripts longer than this are refused (unavailable): one-shot `nft -f` suits big ones. Default 256 KiB. */
  readonly maxBytes?: number;
}

export class NftSession {
  readonly #argv: readonly string[];
  readonly #timeoutMs: number;
  readonly #maxBytes: number;
  #child: ChildProcessWithoutNullStreams | undefined;
  #stderr = '';
  #seq = 0;
  #pending: { marker: string; resolve: (stderr: string) => void; reject: (err: Error) => void } | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;

  constructor(opts: NftSessionOptions = {}) {
    this.#argv = opts.argv ?? ['nft', '-i'];
    this.#timeoutMs = opts.timeoutMs ?? 10_000;
    this.#maxBytes = opts.maxBytes ?? 256 * 1024;
  }

  /** Applies `script` (nft -f syntax, one command per line) as one transaction. One at a time. */
  run(script: string): Promise<void> {
    const p = this.#queue.then(() => this.#run(script));
    this.#queue = p.catch(() => {});
    return p;
  }

  close(): void {
    this.#closed = true;
    this.#kill();
  }

  async #run(script: string): Promise<void> {
    if (this.#closed) throw new NftSessionUnavailableError('nft session closed');
    const line = script.split('\n').map((l) => l.replace(/\t/g, ' ').trim()).filter((l) => l && !l.startsWith('#')).join('; ');
    if (!line) return;
    if (line.length > this.#maxBytes) throw new NftSessionUnavailableError(`script of ${line.length} bytes is too long for nft -i`);
    const child = this.#ensure();
    const marker = `podgatemarker${++this.#seq}`;
    this.#stderr = '';
    const stderr = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending = undefined;
        this.#kill();
        reject(new NftSessionUnavailableError(`nft -i gave no answer in ${this.#timeoutMs} ms`));
      }, this.#timeoutMs);
      this.#pending = {
        marker,
        resolve: (s) => { clearTimeout(timer); resolve(s); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      };
      child.stdin.write(`${line}\n${marker}\n`);
    });
    if (/^Error/m.test(stderr)) throw new NftTransactionError(stderr);
  }

  #ensure(): ChildProcessWithoutNullStreams {
    if (this.#child) return this.#child;
    const [file, ...args] = this.#argv;
    const child = spawn(file!, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.#child = child;
    child.stdout.resume();
    child.stdin.on('error', () => { /* 'close' reports it */ });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      this.#stderr += d;
      const p = this.#pending;
      if (!p) return;
      const at = this.#stderr.indexOf(`\n${p.marker}\n`);
      if (at < 0) return;
      this.#pending = undefined;
      // The marker's own "Error: syntax error…" line precedes its echo.
      const own = this.#stderr.lastIndexOf('Error:', at);
      p.resolve(this.#stderr.slice(0, own < 0 ? at : own));
    });
    const gone = (err?: Error) => {
      if (this.#child !== child) return;
      this.#child = undefined;
      const p = this.#pending;
      this.#pending = undefined;
      p?.reject(new NftSessionUnavailableError(`nft -i exited${err ? `: ${err.message}` : ''}`));
    };
    child.once('error', gone);
    child.once('close', () => gone());
    return child;
  }

  #kill(): void {
    const child = this.#child;
    this.#child = undefined;
    if (child) {
      child.stdin.end();
      child.kill();
    }
  }
}
