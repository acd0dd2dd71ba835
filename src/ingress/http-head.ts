// A small, strict, bounded HTTP/1.1 head parser for the proxy's hot path: request line or status
// line plus headers, and the facts the proxy needs for framing (Content-Length, chunked,
// Connection, Upgrade). Bodies are never parsed, only counted (ChunkedScanner finds where a
// chunked body ends). Anything ambiguous that request smuggling relies on — both Content-Length
// and Transfer-Encoding, differing Content-Lengths, whitespace before a colon, obs-fold, bare LF —
// is rejected, as nginx rejects it.

const CRLFCRLF = Buffer.from('\r\n\r\n');

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
  /** -1 when absent. */
  readonly contentLength: number;
  readonly chunked: boolean;
  /** Tokens of the Connection header, lowercase. */
  readonly connection: readonly string[];
  readonly minorVersion: number;
}

export interface RequestHead extends CommonHead {
  /** The head as latin1 text (one byte per char), CRLFCRLF included. */
  readonly text: string;
  readonly method: string;
  readonly target: string;
  readonly host: string | undefined;
  readonly upgrade: string | undefined;
  /** Offset where the header lines start (just past the request line's CRLF). */
  readonly fieldsStart: number;
  /**
   * [start, end) pairs of header lines the proxy replaces (hop-by-hop and X-Forwarded-*), in
   * order; undefined when there are none, so the head can be forwarded as it came.
   */
  readonly drops: number[] | undefined;
  /** The client's X-Request-ID, kept as ingress-nginx keeps it. */
  readonly requestId: string | undefined;
}

export interface ResponseHead extends CommonHead {
  readonly status: number;
  /** [start, end) pairs of the Connection and Keep-Alive lines, in order; undefined when there are none. */
  readonly connectionLines: number[] | undefined;
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

// RFC 9110 tchar, as a lookup table: validating a name is one array read per character.
const TCHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") TCHAR[c.charCodeAt(0)] = 1;

function isToken(s: string, from: number, to: number): boolean {
  if (to <= from) return false;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c > 127 || TCHAR[c] === 0) return false;
  }
  return true;
}

/** Lowercase names of the request headers the proxy sets or strips itself (`proxy`: httpoxy, cleared as ingress-nginx does). */
const OWNED = new Set(['connection', 'keep-alive', 'proxy', 'proxy-connection', 'te', 'trailer', 'upgrade', 'x-forwarded-for',
  'x-forwarded-host', 'x-forwarded-port', 'x-forwarded-proto', 'x-forwarded-scheme', 'x-scheme', 'x-real-ip', 'x-request-id']);
/**
 * The request header names scanFields looks at (its own, and the framing and routing ones), by
 * first letter and length: only a name whose pair is here is lowercased and compared, so the many
 * others (User-Agent, Accept-*, Cookie…) cost one table read.
 */
const WATCHED = new Uint8Array(32 * 32);
for (const n of [...OWNED, 'host', 'content-length', 'transfer-encoding']) WATCHED[((n.charCodeAt(0) & 31) << 5) | n.length] = 1;

interface Fields {
  contentLength: number; chunked: boolean; te: boolean; connection: string[];
  host: string | undefined; upgrade: string | undefined; drops: number[] | undefined; requestId: string | undefined;
}

/** Walks a request's header lines from `pos` to the blank line without splitting the text, and records the lines the proxy owns. */
function scanFields(t: string, pos: number, bodyStart: number): Fields {
  const f: Fields = { contentLength: -1, chunked: false, te: false, connection: [], host: undefined, upgrade: undefined, drops: undefined, requestId: undefined };
  const last = bodyStart - 2; // the blank line's CRLF
  while (pos < last) {
    const eol = t.indexOf('\r\n', pos);
    const c0 = t.charCodeAt(pos);
    if (c0 === 32 || c0 === 9) throw new HeadError(400, 'obsolete line folding');
    const colon = t.indexOf(':', pos);
    if (colon < 0 || colon > eol) throw new HeadError(400, 'malformed header line');
    if (!isToken(t, pos, colon)) throw new HeadError(400, 'invalid header name');
    const n = colon - pos;
    // Only watched names (by first letter and length) are lowercased and compared.
    if (n < 32 && WATCHED[((t.charCodeAt(pos) & 31) << 5) | n] === 1) {
      const lower = t.slice(pos, colon).toLowerCase();
      switch (lower) {
        case 'host':
          if (f.host !== undefined) throw new HeadError(400, 'duplicate Host');
          f.host = t.slice(colon + 1, eol).trim();
          break;
        case 'upgrade': f.upgrade = t.slice(colon + 1, eol).trim(); break;
        case 'connection':
          for (const tok of t.slice(colon + 1, eol).split(',')) { const x = tok.trim().toLowerCase(); if (x) f.connection.push(x); }
          break;
        case 'content-length': {
          const value = t.slice(colon + 1, eol).trim();
          if (!/^\d{1,15}$/.test(value)) throw new HeadError(400, 'invalid Content-Length');
          const v = Number(value);
          if (f.contentLength !== -1 && f.contentLength !== v) throw new HeadError(400, 'conflicting Content-Length');
          f.contentLength = v;
          break;
        }
        case 'transfer-encoding': {
          f.te = true;
          const codings = t.slice(colon + 1, eol).toLowerCase().split(',');
          f.chunked = codings[codings.length - 1]!.trim() === 'chunked';
          break;
        }
        case 'x-request-id': f.requestId = t.slice(colon + 1, eol).trim(); break;
      }
      if (OWNED.has(lower)) (f.drops ??= []).push(pos, eol + 2);
    }
    pos = eol + 2;
  }
  return f;
}

/**
 * A CR not followed by LF, an LF not preceded by CR, or a NUL: smuggling material, refused as
 * nginx does. indexOf walks (a few per head) instead of a regular expression with look-behind,
 * which cost more than the rest of the head parsing.
 */
function hasBareCrLfOrNul(t: string): boolean {
  for (let i = t.indexOf('\n'); i >= 0; i = t.indexOf('\n', i + 1)) if (i === 0 || t.charCodeAt(i - 1) !== 13) return true;
  for (let i = t.indexOf('\r'); i >= 0; i = t.indexOf('\r', i + 1)) if (t.charCodeAt(i + 1) !== 10) return true;
  return t.indexOf('\0') >= 0;
}

/** Parses a request head of `end` bytes (from findHeadEnd). Throws HeadError (400, 501, 505). */
export function parseRequestHead(buf: Buffer, end: number): RequestHead {
  const t = buf.toString('latin1', 0, end);
  if (hasBareCrLfOrNul(t)) throw new HeadError(400, 'bare CR or LF, or NUL, in head');
  // RFC 9112: a server SHOULD ignore at least one empty line before the request line.
  let start = 0;
  while (t.startsWith('\r\n', start)) start += 2;
  const eol = t.indexOf('\r\n', start);
  const sp1 = t.indexOf(' ', start);
  // The space before "HTTP/1.x" (found without lastIndexOf, a runtime call in V8, when it is there).
  const sp2 = eol >= 9 && t.charCodeAt(eol - 9) === 32 ? eol - 9 : t.lastIndexOf(' ', eol);
  if (sp1 <= start || sp2 <= sp1 || sp1 > eol) throw new HeadError(400, 'malformed request line');
  if (!isToken(t, start, sp1)) throw new HeadError(400, 'invalid method');
  const method = t.slice(start, sp1);
  const target = t.slice(sp1 + 1, sp2);
  if (target === '' || target.includes(' ')) throw new HeadError(400, 'invalid request target');
  let minorVersion: number;
  if (eol - sp2 === 9 && t.startsWith('HTTP/1.', sp2 + 1) && (t.charCodeAt(eol - 1) === 49 || t.charCodeAt(eol - 1) === 48)) minorVersion = t.charCodeAt(eol - 1) - 48;
  else if (/^HTTP\/\d\.\d$/.test(t.slice(sp2 + 1, eol))) throw new HeadError(505, 'HTTP version not supported');
  else throw new HeadError(400, 'malformed request line');
  const f = scanFields(t, eol + 2, end);
  if (f.te) {
    if (f.contentLength !== -1) throw new HeadError(400, 'both Content-Length and Transfer-Encoding');
    if (!f.chunked) throw new HeadError(501, 'unsupported Transfer-Encoding');
    if (minorVersion === 0) throw new HeadError(400, 'Transfer-Encoding in HTTP/1.0');
  }
  if (minorVersion === 1 && f.host === undefined) throw new HeadError(400, 'missing Host');
  return {
    length: end, text: t, method, target, minorVersion, fieldsStart: eol + 2, contentLength: f.contentLength, chunked: f.chunked,
    connection: f.connection, host: f.host, upgrade: f.upgrade, drops: f.drops, requestId: f.requestId,
  };
}

/** A request header's value by lowercase name (first occurrence); for the rarely needed ones. */
export function requestHeader(head: RequestHead, lowerName: string): string | undefined {
  const t = head.text;
  let pos = head.fieldsStart;
  const last = head.length - 2;
  while (pos < last) {
    const eol = t.indexOf('\r\n', pos);
    const colon = t.indexOf(':', pos);
    if (colon - pos === lowerName.length && t.slice(pos, colon).toLowerCase() === lowerName) return t.slice(colon + 1, eol).trim();
    pos = eol + 2;
  }
  return undefined;
}

/** Every header field of the head as [name, value], in order (names as sent). */
export function requestHeaderList(head: RequestHead): [string, string][] {
  const t = head.text;
  const out: [string, string][] = [];
  let pos = head.fieldsStart;
  while (pos < head.length - 2) {
    const eol = t.indexOf('\r\n', pos);
    const colon = t.indexOf(':', pos);
    if (colon > pos && colon < eol) out.push([t.slice(pos, colon), t.slice(colon + 1, eol).trim()]);
    pos = eol + 2;
  }
  return out;
}

const CR = 13, LF = 10, SP = 32, HT = 9, COLON = 58, COMMA = 44;
const upstreamError = (message: string): never => { throw new HeadError(502, `upstream sent ${message}`); };

/**
 * Where the line starting at `from` ends (its CR), or -1 when its end is not here yet. A bare CR or
 * LF, or a NUL, is an error.
 */
function lineEnd(buf: Buffer, from: number): number {
  const n = buf.length;
  for (let i = from; i < n; i++) {
    const c = buf[i]!;
    if (c > CR) continue;
    if (c === CR) {
      if (i + 1 === n) return -1;
      if (buf[i + 1] !== LF) upstreamError('a bare CR or LF');
      return i;
    }
    if (c === LF || c === 0) upstreamError('a bare CR or LF, or a NUL');
  }
  return -1;
}

/** Whether buf[at..] spells `lower` (lowercase ASCII letters and '-') in any case. */
function spells(buf: Buffer, at: number, lower: string): boolean {
  for (let k = 0; k < lower.length; k++) if ((buf[at + k]! | 0x20) !== lower.charCodeAt(k)) return false;
  return true;
}

function spellsExactly(buf: Buffer, at: number, text: string): boolean {
  for (let k = 0; k < text.length; k++) if (buf[at + k] !== text.charCodeAt(k)) return false;
  return true;
}

/** [from, to) without leading and trailing spaces and tabs, as [start, end]. */
function trimmed(buf: Buffer, from: number, to: number): [number, number] {
  while (from < to && (buf[from] === SP || buf[from] === HT)) from++;
  while (to > from && (buf[to - 1] === SP || buf[to - 1] === HT)) to--;
  return [from, to];
}

/** The Connection header's tokens, lowercase, pushed onto `out` (close and keep-alive without making a string). */
function connectionTokens(buf: Buffer, from: number, to: number, out: string[]): void {
  while (from < to) {
    let comma = buf.indexOf(COMMA, from);
    if (comma < 0 || comma > to) comma = to;
    const [s, e] = trimmed(buf, from, comma);
    if (e - s === 5 && spells(buf, s, 'close')) out.push('close');
    else if (e - s === 10 && spells(buf, s, 'keep-alive')) out.push('keep-alive');
    else if (e > s) out.push(buf.toString('latin1', s, e).toLowerCase());
    from = comma + 1;
  }
}

/**
 * Parses the response head at the start of `buf` straight from its bytes (an upstream's head is
 * forwarded as it came, so no text is made of it): undefined while its end is not here yet. Throws
 * HeadError(502) when it is malformed or longer than `max` bytes.
 */
export function parseResponseHead(buf: Buffer, max: number): ResponseHead | undefined {
  const n = buf.length;
  const tooLong = (): undefined => (n > max ? upstreamError('a head that is too large') : undefined);
  const eol = lineEnd(buf, 0);
  if (eol < 0) return tooLong();
  // "HTTP/1.x NNN" then a space or the end of the line.
  const minor = buf[7]! - 48;
  const d0 = buf[9]! - 48, d1 = buf[10]! - 48, d2 = buf[11]! - 48;
  if (eol < 12 || !spellsExactly(buf, 0, 'HTTP/1.') || (minor !== 0 && minor !== 1) || buf[8] !== SP ||
    !(d0 >= 1 && d0 <= 9 && d1 >= 0 && d1 <= 9 && d2 >= 0 && d2 <= 9) || (eol > 12 && buf[12] !== SP)) upstreamError('an invalid status line');
  const status = d0 * 100 + d1 * 10 + d2;
  let contentLength = -1;
  let te = false;
  let chunked = false;
  const connection: string[] = [];
  let connectionLines: number[] | undefined;
  let pos = eol + 2;
  for (;;) {
    if (pos >= n) return tooLong();
    const c0 = buf[pos]!;
    if (c0 === CR) {
      if (pos + 1 === n) return tooLong();
      if (buf[pos + 1] !== LF) upstreamError('a bare CR or LF');
      break;
    }
    if (c0 === SP || c0 === HT) upstreamError('an invalid header (obsolete line folding)');
    const end = lineEnd(buf, pos);
    if (end < 0) return tooLong();
    let colon = buf.indexOf(COLON, pos);
    if (colon < 0 || colon > end) colon = -1;
    if (colon <= pos || buf[colon - 1] === SP || buf[colon - 1] === HT) upstreamError('an invalid header');
    const len = colon - pos;
    if (len === 10 && spells(buf, pos, 'connection')) {
      connectionTokens(buf, colon + 1, end, connection);
      (connectionLines ??= []).push(pos, end + 2);
    } else if (len === 10 && spells(buf, pos, 'keep-alive')) {
      (connectionLines ??= []).push(pos, end + 2);
    } else if (len === 14 && spells(buf, pos, 'content-length')) {
      const [s, e] = trimmed(buf, colon + 1, end);
      if (e === s || e - s > 15) upstreamError('an invalid Content-Length');
      let v = 0;
      for (let i = s; i < e; i++) {
        const d = buf[i]! - 48;
        if (d < 0 || d > 9) upstreamError('an invalid Content-Length');
        v = v * 10 + d;
      }
      if (contentLength !== -1 && contentLength !== v) upstreamError('conflicting Content-Lengths');
      contentLength = v;
    } else if (len === 17 && spells(buf, pos, 'transfer-encoding')) {
      te = true;
      // Chunked when it is the last coding.
      let last = colon + 1;
      for (let i = buf.indexOf(COMMA, last); i >= 0 && i < end; i = buf.indexOf(COMMA, i + 1)) last = i + 1;
      const [s, e] = trimmed(buf, last, end);
      chunked = e - s === 7 && spells(buf, s, 'chunked');
    }
    pos = end + 2;
  }
  const length = pos + 2;
  if (length > max) upstreamError('a head that is too large');
  if (te && !chunked) return { length, status, minorVersion: minor, contentLength: -1, chunked: false, connection: ['close'], connectionLines };
  // With both, Transfer-Encoding wins and the connection is not reusable (RFC 9112 §6.3).
  if (te && contentLength !== -1) connection.push('close');
  return { length, status, minorVersion: minor, contentLength: chunked ? -1 : contentLength, chunked, connection, connectionLines };
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
