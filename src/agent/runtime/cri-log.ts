// The CRI container log format kubelet reads (`<RFC3339Nano time> <stream> <P|F> <content>`):
// one record per line of output; a line longer than the buffer is split into partial (`P`) records
// ending with a full (`F`) one, as containerd does.

export type LogStream = 'stdout' | 'stderr';

export interface LogRecord {
  /** Nanoseconds since the epoch. */
  timeNs: bigint;
  /** The timestamp as written in the file. */
  time: string;
  stream: LogStream;
  partial: boolean;
  /** Content without the trailing newline. */
  content: Buffer;
}

/** containerd's default maximum record size (max_container_log_line_size). */
export const MAX_LOG_LINE = 16 * 1024;

/** Formats nanoseconds since the epoch as Go's time.RFC3339Nano (trailing zeros of the fraction dropped). */
export function formatRfc3339Nano(ns: bigint): string {
  const ms = ns / 1_000_000n;
  const iso = new Date(Number(ms)).toISOString(); // 2026-11-22T04:08:20.123Z
  const frac = (ns % 1_000_000_000n).toString().padStart(9, '0').replace(/0+$/, '');
  return `${iso.slice(0, 19)}${frac ? `.${frac}` : ''}Z`;
}

/** Parses an RFC 3339 timestamp with up to nanosecond precision; undefined when malformed. */
export function parseRfc3339Nano(s: string): bigint | undefined {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/.exec(s);
  if (!m) return undefined;
  const ms = Date.parse(`${m[1]}${m[3]}`);
  if (Number.isNaN(ms)) return undefined;
  return BigInt(ms) * 1_000_000n + BigInt((m[2] ?? '').padEnd(9, '0'));
}

/**
 * Splits one output stream into CRI records: complete lines become `F` records, a line that grows
 * past `maxLine` is cut into `P` records, and a trailing unterminated line is held until more data
 * or `end()`.
 */
export class CriLineSplitter {
  readonly #stream: LogStream;
  readonly #now: () => bigint;
  readonly #emit: (record: Buffer) => void;
  readonly #maxLine: number;
  #pending: Buffer = Buffer.alloc(0);

  constructor(opts: { stream: LogStream; now: () => bigint; emit: (record: Buffer) => void; maxLine?: number }) {
    this.#stream = opts.stream;
    this.#now = opts.now;
    this.#emit = opts.emit;
    this.#maxLine = opts.maxLine ?? MAX_LOG_LINE;
  }

  write(chunk: Buffer): void {
    let data = this.#pending.length > 0 ? Buffer.concat([this.#pending, chunk]) : chunk;
    for (;;) {
      const nl = data.indexOf(0x0a);
      if (nl >= 0 && nl <= this.#maxLine) {
        this.#record(data.subarray(0, nl), 'F');
        data = data.subarray(nl + 1);
      } else if (data.length >= this.#maxLine) {
        this.#record(data.subarray(0, this.#maxLine), 'P');
        data = data.subarray(this.#maxLine);
      } else {
        break;
      }
    }
    this.#pending = Buffer.from(data);
  }

  /** Flushes an unterminated last line as a full record (what containerd does at EOF). */
  end(): void {
    if (this.#pending.length > 0) this.#record(this.#pending, 'F');
    this.#pending = Buffer.alloc(0);
  }

  #record(content: Buffer, tag: 'P' | 'F'): void {
    this.#emit(Buffer.concat([Buffer.from(`${formatRfc3339Nano(this.#now())} ${this.#stream} ${tag} `), content, Buffer.from('\n')]));
  }
}

/** Parses one record line (without its newline); undefined for a malformed line. */
export function parseCriLine(line: Buffer): LogRecord | undefined {
  const s1 = line.indexOf(0x20);
  const s2 = s1 < 0 ? -1 : line.indexOf(0x20, s1 + 1);
  const s3 = s2 < 0 ? -1 : line.indexOf(0x20, s2 + 1);
  if (s3 < 0 && s2 < 0) return undefined;
  const time = line.subarray(0, s1).toString();
  const stream = line.subarray(s1 + 1, s2).toString();
  const timeNs = parseRfc3339Nano(time);
  if (timeNs === undefined || (stream !== 'stdout' && stream !== 'stderr')) return undefined;
  // A record with empty content may end right after the tag.
  const tagEnd = s3 < 0 ? line.length : s3;
  const tag = line.subarray(s2 + 1, tagEnd).toString();
  if (tag !== 'P' && tag !== 'F') return undefined;
  return { timeNs, time, stream, partial: tag === 'P', content: s3 < 0 ? Buffer.alloc(0) : line.subarray(s3 + 1) };
}

const WALL_BASE_NS = BigInt(Date.now()) * 1_000_000n;
const HR_BASE = process.hrtime.bigint();

/** Wall-clock nanoseconds with sub-millisecond resolution (monotonic within this process). */
export function wallClockNs(): bigint {
  return WALL_BASE_NS + (process.hrtime.bigint() - HR_BASE);
}
