// Container logs on disk, as kubelet keeps them: `<dir>/<podUid>/<container>/<restartCount>.log` in
// the CRI format. Bounded: each file rotates once to `<n>.log.1` at `maxBytes`, and only the current
// and the previous restart are kept (all `kubectl logs` and `--previous` can ask for).

import { closeSync, openSync, renameSync, statSync, writeSync } from 'node:fs';
import { mkdir, open, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { formatRfc3339Nano, parseCriLine, type LogRecord } from './cri-log.ts';

export const DEFAULT_LOG_MAX_BYTES = 10 * 1024 * 1024;

/** Appends CRI records to one log file, rotating it to `<path>.1` when it passes `maxBytes`. */
export class RotatingLogFile {
  readonly #path: string;
  readonly #maxBytes: number;
  #fd: number;
  #size: number;

  constructor(opts: { path: string; maxBytes?: number }) {
    this.#path = opts.path;
    this.#maxBytes = opts.maxBytes ?? DEFAULT_LOG_MAX_BYTES;
    this.#fd = openSync(this.#path, 'a');
    this.#size = statSync(this.#path).size;
  }

  // Synchronous on purpose: records from stdout and stderr stay in arrival order, and a crash
  // loses nothing already read from the pipe.
  write(record: Buffer): void {
    if (this.#fd < 0) return;
    if (this.#size > 0 && this.#size + record.length > this.#maxBytes) {
      closeSync(this.#fd);
      renameSync(this.#path, `${this.#path}.1`);
      this.#fd = openSync(this.#path, 'a');
      this.#size = 0;
    }
    writeSync(this.#fd, record);
    this.#size += record.length;
  }

  close(): void {
    if (this.#fd >= 0) closeSync(this.#fd);
    this.#fd = -1;
  }
}

export interface ContainerLogRef {
  podUid: string;
  container: string;
}

export interface LogReadOptions extends ContainerLogRef {
  /**
   * The run to read (its restart count, as the container id names it; see selectLogRun). Without
   * it: the latest run, or with `previous` the one before it.
   */
  run?: number;
  previous?: boolean;
  tailLines?: number;
  /** Only records at or after this time (kubectl --since-time). */
  sinceTime?: Date;
  /** Only records from the last N seconds (kubectl --since); ignored when sinceTime is set. */
  sinceSeconds?: number;
  timestamps?: boolean;
  follow?: boolean;
  limitBytes?: number;
  signal?: AbortSignal;
}

/** No such log: the container never ran here, or there is no previous instance. */
export class LogNotFoundError extends Error {
  readonly code = 'LogNotFound';
}

export interface LogStoreOptions {
  dir: string;
  maxBytes?: number;
  /** Whether the container is running now (follow stops when it is not); the runtime knows. */
  isRunning?: (podUid: string, container: string) => boolean;
  /** Wall clock in ms (for sinceSeconds). */
  now?: () => number;
  /** How often follow looks for new output. */
  pollMs?: number;
}

export class LogStore {
  readonly #dir: string;
  readonly #maxBytes: number;
  readonly #isRunning: (podUid: string, container: string) => boolean;
  readonly #now: () => number;
  readonly #pollMs: number;

  constructor(opts: LogStoreOptions) {
    this.#dir = opts.dir;
    this.#maxBytes = opts.maxBytes ?? DEFAULT_LOG_MAX_BYTES;
    this.#isRunning = opts.isRunning ?? (() => false);
    this.#now = opts.now ?? Date.now;
    this.#pollMs = opts.pollMs ?? 200;
  }

  get maxBytes(): number {
    return this.#maxBytes;
  }

  /** The log file for one run of a container. */
  pathFor(podUid: string, container: string, restartCount: number): string {
    return join(this.#containerDir(podUid, container), `${restartCount}.log`);
  }

  /**
   * Makes room for a container's next run: creates its directory and deletes logs older than the
   * previous run. Returns the path to pass to the runtime as `logFile`.
   */
  async prepare(podUid: string, container: string, restartCount: number): Promise<string> {
    const dir = this.#containerDir(podUid, container);
    await mkdir(dir, { recursive: true });
    for (const { n, file } of await this.#runs(podUid, container)) {
      if (n < restartCount - 1 || n > restartCount) await rm(join(dir, file), { force: true });
    }
    return this.pathFor(podUid, container, restartCount);
  }

  /** The pods with logs here (directory names: pod UIDs). */
  async listPods(): Promise<string[]> {
    try {
      return (await readdir(this.#dir, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  }

  /** Removes every log of a pod (when the pod is deleted). */
  async removePod(podUid: string): Promise<void> {
    await rm(join(this.#dir, safeName(podUid)), { recursive: true, force: true });
  }

  /**
   * Reads a container's log with `kubectl logs` semantics. Throws LogNotFoundError when the
   * container (or, with `previous`, an earlier run) has no log here.
   */
  async *read(opts: LogReadOptions): AsyncIterable<Buffer> {
    const runs = [...new Set((await this.#runs(opts.podUid, opts.container)).map((r) => r.n))].sort((a, b) => b - a);
    const run = opts.run !== undefined ? runs.find((n) => n === opts.run) : opts.previous ? runs[1] : runs[0];
    if (run === undefined) {
      throw new LogNotFoundError(opts.previous
        ? `previous terminated container "${opts.container}" in pod "${opts.podUid}" not found`
        : `container "${opts.container}" in pod "${opts.podUid}" has no logs`);
    }
    const path = this.pathFor(opts.podUid, opts.container, run);
    const sinceNs = opts.sinceTime ? BigInt(opts.sinceTime.getTime()) * 1_000_000n
      : opts.sinceSeconds !== undefined ? BigInt(this.#now() - opts.sinceSeconds * 1000) * 1_000_000n : undefined;
    const out = new OutputLimiter(opts.limitBytes);
    const format = (r: LogRecord): Buffer => {
      const body = r.partial ? r.content : Buffer.concat([r.content, NEWLINE]);
      return opts.timestamps ? Buffer.concat([Buffer.from(`${formatRfc3339Nano(r.timeNs)} `), body]) : body;
    };
    const keep = (r: LogRecord): boolean => sinceNs === undefined || r.timeNs >= sinceNs;

    const rotated = new FileTail(`${path}.1`);
    const current = new FileTail(path);
    let records = [...(await rotated.readRecords()), ...(await current.readRecords())].filter(keep);
    if (opts.tailLines !== undefined) records = tailRecords(records, opts.tailLines);
    for (const r of records) {
      const chunk = out.take(format(r));
      if (chunk) yield chunk;
      if (out.done) return;
    }
    // Only the latest run can still be writing.
    if (!opts.follow || opts.previous || run !== runs[0]) return;

    while (!opts.signal?.aborted) {
      const running = this.#isRunning(opts.podUid, opts.container);
      // Rotation while following: finish the old file (now `.1`) before starting on the new one.
      if (await current.wasReplaced()) {
        rotated.adoptPosition(current);
        for (const r of await rotated.readRecords()) { const c = out.take(format(r)); if (c) yield c; if (out.done) return; }
        current.reset();
      }
      const fresh = (await current.readRecords()).filter(keep);
      for (const r of fresh) { const c = out.take(format(r)); if (c) yield c; if (out.done) return; }
      if (!running && fresh.length === 0) return;
      await sleep(this.#pollMs, opts.signal);
    }
  }

  #containerDir(podUid: string, container: string): string {
    return join(this.#dir, safeName(podUid), safeName(container));
  }

  async #runs(podUid: string, container: string): Promise<{ n: number; file: string }[]> {
    let files: string[];
    try {
      files = await readdir(this.#containerDir(podUid, container));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    return files.flatMap((file) => {
      const m = /^(\d+)\.log(?:\.1)?$/.exec(file);
      return m ? [{ n: Number(m[1]), file }] : [];
    });
  }
}

const NEWLINE = Buffer.from('\n');

// Names come from the API (pod UID, container name: DNS labels), but never let one climb out.
function safeName(s: string): string {
  if (s === '' || s === '.' || s === '..' || s.includes('/') || s.includes('\0')) throw new Error(`invalid log path component ${JSON.stringify(s)}`);
  return s;
}

/** The last `n` lines, where a line is a run of partial records ended by a full one. */
function tailRecords(records: LogRecord[], n: number): LogRecord[] {
  if (n <= 0) return [];
  let seen = 0;
  for (let i = records.length - 1; i >= 0; i--) {
    if (records[i]?.partial === false && ++seen === n + 1) return records.slice(i + 1);
  }
  return records;
}

class OutputLimiter {
  #left: number;
  constructor(limit: number | undefined) {
    this.#left = limit ?? Infinity;
  }
  get done(): boolean {
    return this.#left <= 0;
  }
  take(chunk: Buffer): Buffer | undefined {
    if (this.#left <= 0) return undefined;
    const out = chunk.length <= this.#left ? chunk : chunk.subarray(0, this.#left);
    this.#left -= out.length;
    return out;
  }
}

/** Reads complete records from a file that may still be growing, remembering where it stopped. */
class FileTail {
  readonly #path: string;
  #pos = 0;
  #ino: number | undefined;

  constructor(path: string) {
    this.#path = path;
  }

  reset(): void {
    this.#pos = 0;
    this.#ino = undefined;
  }

  adoptPosition(other: FileTail): void {
    this.#pos = other.#pos;
    this.#ino = other.#ino;
  }

  /** True when the path now names a different (rotated-in) file than the one being read. */
  async wasReplaced(): Promise<boolean> {
    if (this.#ino === undefined) return false;
    try {
      const st = await stat(this.#path);
      return st.ino !== this.#ino || st.size < this.#pos;
    } catch {
      return false;
    }
  }

  async readRecords(): Promise<LogRecord[]> {
    let fh;
    try {
      fh = await open(this.#path, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    try {
      const st = await fh.stat();
      this.#ino ??= st.ino;
      if (st.size <= this.#pos) return [];
      const buf = Buffer.alloc(st.size - this.#pos);
      const { bytesRead } = await fh.read(buf, 0, buf.length, this.#pos);
      const data = buf.subarray(0, bytesRead);
      const end = data.lastIndexOf(0x0a);
      if (end < 0) return [];
      this.#pos += end + 1;
      const records: LogRecord[] = [];
      let start = 0;
      while (start <= end) {
        const nl = data.indexOf(0x0a, start);
        const r = parseCriLine(data.subarray(start, nl));
        if (r) records.push(r);
        start = nl + 1;
      }
      return records;
    } finally {
      await fh.close();
    }
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
