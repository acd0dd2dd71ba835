// A small, strict, bounded HTTP/1.1 head parser for the proxy's hot path: request line or status
// line plus headers, and the facts the proxy needs for framing (Content-Length, chunked,
// Connection, Upgrade). Bodies are never parsed, only counted (ChunkedScanner finds where a
// chunked body ends). Anything ambiguous that request smuggling relies on — both Content-Length
// and Transfer-Encoding, differing Content-Lengths, whitespace before a colon, obs-fold, bare LF —
// is rejected, as nginx rejects it.

const CRLFCRLF = Buffer.from('\r\n\r\n');
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// Field values: visible ASCII, obs-text, space and tab; no CR, LF or NUL.
const BAD_VALUE = /[\0\r\n]/;

export class HeadError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

interface CommonHead {
  /** Bytes taken by the head, CRLFCRLF included. */
  readonly length: number;
  /** Flat [name, value, name, value, …], names as sent. */
  readonly headers: string[];
  /** -1 when absent. */
  readonly contentLength: number;
  readonly chunked: boolean;
  /** Tokens of the Connection header, lowercase. */
  readonly connection: readonly string[];
  readonly minorVersion: number;
}

export interface RequestHead extends CommonHead {
  readonly method: string;
  readonly target: string;
  readonly host: string | undefined;
  readonly upgrade: string | undefined;
}

export interface ResponseHead extends CommonHead {
  readonly status: number;
}

/** Where the head ends (just past CRLFCRLF), -1 when not all here yet; throws 431 past `max` bytes. */
export function findHeadEnd(buf: Buffer, max: number): number {
  const i = buf.indexOf(CRLFCRLF);
  if (i < 0) {
    if (buf.length > max) throw new HeadError(431, 'request header too large');
    return -1;
  }
  if (i + 4 > max) throw new HeadError(431, 'request header too large');
  return i + 4;
}

function parseFields(lines: string[], from: number): { headers: string[]; contentLength: number; chunked: boolean; connection: string[]; host: string | undefined; upgrade: string | undefined; te: boolean } {
  const headers: string[] = [];
  let contentLength = -1;
  let chunked = false;
  let te = false;
  let host: string | undefined;
  let upgrade: string | undefined;
  const connection: string[] = [];
  for (let i = from; i < lines.length; i++) {
    const line = lines[i]!;
    if (line === '') continue;
    const c0 = line.charCodeAt(0);
    if (c0 === 32 || c0 === 9) throw new HeadError(400, 'obsolete line folding');
    const colon = line.indexOf(':');
    if (colon <= 0) throw new HeadError(400, 'malformed header line');
    const name = line.slice(0, colon);
    if (!TOKEN.test(name)) throw new HeadError(400, 'invalid header name');
    const value = line.slice(colon + 1).trim();
    if (BAD_VALUE.test(value)) throw new HeadError(400, 'invalid header value');
    headers.push(name, value);
    // Dispatch on length first: most headers need no lowercasing.
    switch (name.length) {
      case 4:
        if (name.toLowerCase() === 'host') {
          if (host !== undefined) throw new HeadError(400, 'duplicate Host');
          host = value;
        }
        break;
      case 7:
        if (name.toLowerCase() === 'upgrade') upgrade = value;
        break;
      case 10:
        if (name.toLowerCase() === 'connection') for (const t of value.split(',')) { const s = t.trim().toLowerCase(); if (s) connection.push(s); }
        break;
      case 14:
        if (name.toLowerCase() === 'content-length') {
          if (!/^\d{1,15}$/.test(value)) throw new HeadError(400, 'invalid Content-Length');
          const n = Number(value);
          if (contentLength !== -1 && contentLength !== n) throw new HeadError(400, 'conflicting Content-Length');
          contentLength = n;
        }
        break;
      case 17:
        if (name.toLowerCase() === 'transfer-encoding') {
          te = true;
          const codings = value.toLowerCase().split(',').map((s) => s.trim());
          chunked = codings[codings.length - 1] === 'chunked';
        }
        break;
    }
  }
  return { headers, contentLength, chunked, connection, host, upgrade, te };
}

function splitLines(buf: Buffer, end: number): string[] {
  const text = buf.toString('latin1', 0, end - 4);
  const lines = text.split('\r\n');
  for (const l of lines) if (l.includes('\n') || l.includes('\r')) throw new HeadError(400, 'bare CR or LF in head');
  return lines;
}

/** Parses a request head of `end` bytes (from findHeadEnd). Throws HeadError (400, 501, 505). */
export function parseRequestHead(buf: Buffer, end: number): RequestHead {
  const lines = splitLines(buf, end);
  // RFC 9112: a server SHOULD ignore at least one empty line before the request line.
  let first = 0;
  while (lines[first] === '') first++;
  const rl = lines[first] ?? '';
  const sp1 = rl.indexOf(' ');
  const sp2 = rl.lastIndexOf(' ');
  if (sp1 <= 0 || sp2 === sp1) throw new HeadError(400, 'malformed request line');
  const method = rl.slice(0, sp1);
  const target = rl.slice(sp1 + 1, sp2);
  const version = rl.slice(sp2 + 1);
  if (!TOKEN.test(method)) throw new HeadError(400, 'invalid method');
  if (target === '' || target.includes(' ')) throw new HeadError(400, 'invalid request target');
  let minorVersion: number;
  if (version === 'HTTP/1.1') minorVersion = 1;
  else if (version === 'HTTP/1.0') minorVersion = 0;
  else if (/^HTTP\/\d\.\d$/.test(version)) throw new HeadError(505, 'HTTP version not supported');
  else throw new HeadError(400, 'malformed request line');
  const f = parseFields(lines, first + 1);
  if (f.te) {
    if (f.contentLength !== -1) throw new HeadError(400, 'both Content-Length and Transfer-Encoding');
    if (!f.chunked) throw new HeadError(501, 'unsupported Transfer-Encoding');
    if (minorVersion === 0) throw new HeadError(400, 'Transfer-Encoding in HTTP/1.0');
  }
  if (minorVersion === 1 && f.host === undefined) throw new HeadError(400, 'missing Host');
  return { length: end, method, target, minorVersion, headers: f.headers, contentLength: f.contentLength, chunked: f.chunked, connection: f.connection, host: f.host, upgrade: f.upgrade };
}

/** Parses a response head of `end` bytes. Throws HeadError(502) on anything malformed. */
export function parseResponseHead(buf: Buffer, end: number): ResponseHead {
  let lines: string[];
  try { lines = splitLines(buf, end); } catch { throw new HeadError(502, 'upstream sent a malformed head'); }
  const sl = lines[0] ?? '';
  if (!/^HTTP\/1\.[01] \d{3}( |$)/.test(sl)) throw new HeadError(502, 'upstream sent an invalid status line');
  const status = Number(sl.slice(9, 12));
  let f: ReturnType<typeof parseFields>;
  try { f = parseFields(lines, 1); } catch { throw new HeadError(502, 'upstream sent an invalid header'); }
  if (f.te && !f.chunked) return { length: end, status, minorVersion: sl.charCodeAt(7) - 48, headers: f.headers, contentLength: -1, chunked: false, connection: ['close'] };
  // With both, Transfer-Encoding wins and the message is not reusable (RFC 9112 §6.3).
  const connection = f.te && f.contentLength !== -1 ? [...f.connection, 'close'] : f.connection;
  return { length: end, status, minorVersion: sl.charCodeAt(7) - 48, headers: f.headers, contentLength: f.chunked ? -1 : f.contentLength, chunked: f.chunked, connection };
}

const S_SIZE = 0, S_EXT = 1, S_SIZE_LF = 2, S_DATA = 3, S_DATA_CR = 4, S_DATA_LF = 5, S_TRAILER = 6, S_TRAILER_LINE = 7, S_END_LF = 8, S_DONE = 9;

/** Follows chunked framing without decoding it; tells where the message ends. */
export class ChunkedScanner {
  #state = S_SIZE;
  #size = 0;
  #digits = 0;
  /** Sum of chunk data sizes seen so far (for proxy-body-size). */
  dataBytes = 0;

  get done(): boolean {
    return this.#state === S_DONE;
  }

  /** Consumes buf[start..]; returns the index just past the end of the message, or -1 if it goes on. Throws HeadError(400) on bad framing. */
  feed(buf: Buffer, start = 0): number {
    let i = start;
    const n = buf.length;
    while (i < n) {
      switch (this.#state) {
        case S_SIZE: {
          const c = buf[i]!;
          const d = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
          if (d >= 0) {
            if (++this.#digits > 12) throw new HeadError(400, 'chunk size too large');
            this.#size = this.#size * 16 + d;
          } else if (this.#digits === 0) throw new HeadError(400, 'bad chunk size');
          else if (c === 13) this.#state = S_SIZE_LF;
          else if (c === 59 || c === 32 || c === 9) this.#state = S_EXT;
          else throw new HeadError(400, 'bad chunk size');
          i++;
          break;
        }
        case S_EXT:
          if (buf[i] === 13) this.#state = S_SIZE_LF;
          else if (buf[i] === 10) throw new HeadError(400, 'bare LF in chunk extension');
          i++;
          break;
        case S_SIZE_LF:
          if (buf[i] !== 10) throw new HeadError(400, 'bad chunk line ending');
          i++;
          if (this.#size === 0) this.#state = S_TRAILER;
          else { this.#state = S_DATA; this.dataBytes += this.#size; }
          break;
        case S_DATA: {
          const take = Math.min(this.#size, n - i);
          i += take;
          this.#size -= take;
          if (this.#size === 0) this.#state = S_DATA_CR;
          break;
        }
        case S_DATA_CR:
          if (buf[i] !== 13) throw new HeadError(400, 'chunk data longer than its size');
          this.#state = S_DATA_LF;
          i++;
          break;
        case S_DATA_LF:
          if (buf[i] !== 10) throw new HeadError(400, 'bad chunk line ending');
          this.#state = S_SIZE;
          this.#digits = 0;
          i++;
          break;
        case S_TRAILER:
          this.#state = buf[i] === 13 ? S_END_LF : S_TRAILER_LINE;
          i++;
          break;
        case S_TRAILER_LINE:
          if (buf[i] === 10) this.#state = S_TRAILER;
          i++;
          break;
        case S_END_LF:
          if (buf[i] !== 10) throw new HeadError(400, 'bad end of chunked body');
          this.#state = S_DONE;
          return i + 1;
        default:
          return i;
      }
    }
    return -1;
  }
}
