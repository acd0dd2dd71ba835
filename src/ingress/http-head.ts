// A small, strict, bounded HTTP/1.1 head parser for the proxy's hot path: request line or status
// line plus headers, and the facts the proxy needs for framing (Content-Length, chunked,
// Connection, Upgrade). Bodies are never parsed, only counted (ChunkedScanner finds where a
// chunked body ends). Anything ambiguous that request smuggling relies on — both Content-Length
// and Transfer-Encoding, differing Content-Lengths, whitespace before a colon, obs-fold, bare LF —
// is rejected, as nginx rejects it.
import { Buffer } from 'node:buffer';

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
  /**
   * The head is buf[0, length). buf is often a view of a read buffer that the next read overwrites:
   * keep a head past the read's callback only through detachRequestHead.
   */
  readonly buf: Buffer;
  readonly method: string;
  readonly target: string;
  readonly host: string | undefined;
  readonly upgrade: string | undefined;
  /** Offset of the request line (past the empty lines a client may send first). */
  readonly lineStart: number;
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
  /** [start, end) pairs of the Connection and Keep-Alive lines, in order (adjacent ones joined); undefined when there are none. */
  readonly connectionLines: number[] | undefined;
  /** Whether there is a Keep-Alive line (hop-by-hop: the upstream's own timeouts, never the client's). */
  readonly keepAliveLine: boolean;
  /** [start, end) pairs of the Transfer-Encoding lines; undefined when there are none. */
  readonly transferEncodingLines: number[] | undefined;
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

const CR = 13, LF = 10, SP = 32, HT = 9, COLON = 58, COMMA = 44, DEL = 127;

// RFC 9110 tchar, as a lookup table: validating a name is one array read per character.
const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") TCHAR[c.charCodeAt(0)] = 1;

const H_OTHER = 0, H_HOST = 1, H_UPGRADE = 2, H_CONNECTION = 3, H_CONTENT_LENGTH = 4, H_TRANSFER_ENCODING = 5, H_REQUEST_ID = 6;
/**
 * The request headers parseRequestHead looks at, by first letter and length: only a name whose pair is
 * here is compared (in any case, from its bytes), so the many others (User-Agent, Accept-*,
 * Cookie…) cost one table read. `owned`: the proxy sets or strips it itself (`proxy`: httpoxy,
 * cleared as ingress-nginx does), so its line is dropped from the upstream head.
 */
const WATCHED: ({ name: string; kind: number; owned: boolean }[] | undefined)[] = [];
const watchedKey = (first: number, length: number): number => ((first & 31) << 5) | length;
for (const [name, kind, owned] of [
  ['host', H_HOST, false], ['content-length', H_CONTENT_LENGTH, false], ['transfer-encoding', H_TRANSFER_ENCODING, false],
  ['connection', H_CONNECTION, true], ['upgrade', H_UPGRADE, true], ['x-request-id', H_REQUEST_ID, true],
  ['keep-alive', H_OTHER, true], ['proxy', H_OTHER, true], ['proxy-connection', H_OTHER, true], ['te', H_OTHER, true],
  ['trailer', H_OTHER, true], ['x-forwarded-for', H_OTHER, true], ['x-forwarded-host', H_OTHER, true], ['x-forwarded-port', H_OTHER, true],
  ['x-forwarded-proto', H_OTHER, true], ['x-forwarded-scheme', H_OTHER, true], ['x-scheme', H_OTHER, true], ['x-real-ip', H_OTHER, true],
] as const) (WATCHED[watchedKey(name.charCodeAt(0), name.length)] ??= []).push({ name, kind, owned });

/**
 * A string of bytes that usually repeat (a method, a Host, a target): the last one made is kept and
 * handed out again while the bytes are the same, so a connection (or a thread's many connections)
 * asking for the same host makes no new string per request.
 */
class Latin1Memo {
  #last = '';
  of(buf: Buffer, from: number, to: number): string {
    const last = this.#last;
    if (to - from === last.length) {
      let k = 0;
      while (k < last.length && buf[from + k] === last.charCodeAt(k)) k++;
      if (k === last.length) return last;
    }
    return (this.#last = buf.toString('latin1', from, to));
  }
}
const methods = new Latin1Memo(), targets = new Latin1Memo(), hosts = new Latin1Memo();

function badRequest(message: string): never { throw new HeadError(400, message); }
/** Not all of the head is here: wait for more, unless there is already more than `max`. */
const incomplete = (n: number, max: number): undefined => { if (n > max) throw new HeadError(431, 'request header too large'); return undefined; };

/**
 * Where the line from `from` ends (its CR), or -1 when its end is not here yet; a bare CR or LF, or
 * a NUL, is refused with `fail`.
 */
function lineEnd(buf: Buffer, from: number, fail: (message: string) => never): number {
  const n = buf.length;
  for (let i = from; i < n; i++) {
    const c = buf[i]!;
    if (c > CR) continue;
    if (c === CR) {
      if (i + 1 === n) return -1;
      if (buf[i + 1] !== LF) fail('a bare CR or LF');
      return i;
    }
    if (c === LF || c === 0) fail('a bare CR or LF, or a NUL');
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

/** Where [from, to) starts once leading spaces and tabs are skipped. */
function skipSpace(buf: Buffer, from: number, to: number): number {
  while (from < to && (buf[from] === SP || buf[from] === HT)) from++;
  return from;
}

/** Where [from, to) ends once trailing spaces and tabs are dropped. */
function dropSpace(buf: Buffer, from: number, to: number): number {
  while (to > from && (buf[to - 1] === SP || buf[to - 1] === HT)) to--;
  return to;
}

/** Index of `byte` in buf[from, to), or `to`. */
function find(buf: Buffer, byte: number, from: number, to: number): number {
  while (from < to && buf[from] !== byte) from++;
  return from;
}

/** A Content-Length value of up to 15 digits (spaces around it allowed), or -1. */
function decimal(buf: Buffer, from: number, to: number): number {
  const s = skipSpace(buf, from, to), e = dropSpace(buf, s, to);
  if (e === s || e - s > 15) return -1;
  let v = 0;
  for (let i = s; i < e; i++) {
    const d = buf[i]! - 48;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v;
}

/** Whether the last of the comma-separated codings in [from, to) is chunked. */
function lastCodingIsChunked(buf: Buffer, from: number, to: number): boolean {
  let last = from;
  for (let i = find(buf, COMMA, from, to); i < to; i = find(buf, COMMA, i + 1, to)) last = i + 1;
  const s = skipSpace(buf, last, to), e = dropSpace(buf, s, to);
  return e - s === 7 && spells(buf, s, 'chunked');
}

const NO_TOKENS: readonly string[] = Object.freeze([]);

/**
 * The Connection header's tokens, lowercase, added to `to` (close, keep-alive and upgrade without
 * making a string). Returns the list: `to` grown, or a new one when `to` is NO_TOKENS (one exact-size
 * array for the usual single token instead of an empty one grown by push).
 */
const CLOSE_TOKENS: readonly string[] = Object.freeze(['close']);
const KEEP_ALIVE_TOKENS: readonly string[] = Object.freeze(['keep-alive']);

function connectionTokens(buf: Buffer, from: number, end: number, to: readonly string[]): readonly string[] {
  if (to === NO_TOKENS) {
    // The usual values, whole: a shared list, nothing made.
    const s = skipSpace(buf, from, end), e = dropSpace(buf, s, end);
    if (e - s === 5 && spells(buf, s, 'close')) return CLOSE_TOKENS;
    if (e - s === 10 && spells(buf, s, 'keep-alive')) return KEEP_ALIVE_TOKENS;
  }
  let out = to;
  while (from < end) {
    const comma = find(buf, COMMA, from, end);
    const s = skipSpace(buf, from, comma), e = dropSpace(buf, s, comma);
    let tok: string | undefined;
    if (e - s === 5 && spells(buf, s, 'close')) tok = 'close';
    else if (e - s === 10 && spells(buf, s, 'keep-alive')) tok = 'keep-alive';
    else if (e - s === 7 && spells(buf, s, 'upgrade')) tok = 'upgrade';
    else if (e > s) tok = buf.toString('latin1', s, e).toLowerCase();
    if (tok !== undefined) out = out === NO_TOKENS ? [tok] : [...out, tok];
    from = comma + 1;
  }
  return out;
}

/** `pairs` with [start, end) added: a new exact-size array for the first pair. */
function addRange(pairs: number[] | undefined, start: number, end: number): number[] {
  if (pairs === undefined) return [start, end];
  pairs.push(start, end);
  return pairs;
}

/**
 * addRange, a range that starts where the last ends joining it: Node's `Connection: keep-alive`
 * and `Keep-Alive: timeout=5` lines are one range, which the proxy rewrites in place.
 */
function addJoinedRange(pairs: number[] | undefined, start: number, end: number): number[] {
  if (pairs !== undefined && pairs[pairs.length - 1] === start) { pairs[pairs.length - 1] = end; return pairs; }
  return addRange(pairs, start, end);
}

/**
 * Parses the request head at the start of `buf` straight from its bytes: undefined while its end
 * is not here yet (throws 431 once that is more than `max` bytes). Throws HeadError (400, 501, 505)
 * for what nginx refuses too: a bare CR or LF, a NUL, obs-fold, whitespace before a colon, a name
 * that is not a token, bad or conflicting Content-Length, Transfer-Encoding with it or not ending
 * in chunked. Only the strings the proxy needs are made (method, target, Host and a few more).
 */
export function parseRequestHead(buf: Buffer, max: number): RequestHead | undefined {
  const n = buf.length;
  // RFC 9112: a server SHOULD ignore at least one empty line before the request line.
  let start = 0;
  while (start + 1 < n && buf[start] === CR && buf[start + 1] === LF) start += 2;
  if (start + 1 === n && buf[start] === CR) return incomplete(n, max); // the empty line's LF is still to come
  // method SP target SP HTTP/1.x CRLF
  let sp1 = start;
  while (sp1 < n && TCHAR[buf[sp1]!] === 1) sp1++;
  if (sp1 === n) return incomplete(n, max);
  if (buf[sp1] !== SP || sp1 === start) badRequest('invalid method');
  let sp2 = sp1 + 1;
  for (; sp2 < n; sp2++) {
    // Control characters (and DEL) in the target are refused, as nginx refuses them.
    const c = buf[sp2]!;
    if (c > SP && c !== DEL) continue;
    if (c === SP) break;
    badRequest(c === CR ? 'malformed request line' : 'a control character in the request target');
  }
  if (sp2 === n) return incomplete(n, max);
  if (sp2 === sp1 + 1) badRequest('invalid request target');
  const eol = lineEnd(buf, sp2 + 1, badRequest);
  if (eol < 0) return incomplete(n, max);
  let minorVersion: number;
  if (eol - sp2 === 9 && spellsExactly(buf, sp2 + 1, 'HTTP/1.') && (buf[eol - 1] === 48 || buf[eol - 1] === 49)) minorVersion = buf[eol - 1]! - 48;
  else if (/^HTTP\/\d\.\d$/.test(buf.toString('latin1', sp2 + 1, eol))) throw new HeadError(505, 'HTTP version not supported');
  else throw new HeadError(400, 'malformed request line');

  let contentLength = -1, te = false, chunked = false;
  let connection = NO_TOKENS;
  let host: string | undefined, upgrade: string | undefined, requestId: string | undefined, drops: number[] | undefined;
  let pos = eol + 2;
  for (;;) {
    if (pos >= n) return incomplete(n, max);
    const c0 = buf[pos]!;
    if (c0 === CR) {
      if (pos + 1 === n) return incomplete(n, max);
      if (buf[pos + 1] !== LF) badRequest('a bare CR');
      break;
    }
    if (c0 === SP || c0 === HT) badRequest('obsolete line folding');
    let colon = pos;
    while (colon < n && TCHAR[buf[colon]!] === 1) colon++;
    if (colon === n) return incomplete(n, max);
    if (buf[colon] !== COLON || colon === pos) badRequest(buf[colon] === CR || buf[colon] === LF ? 'malformed header line' : 'invalid header name');
    const end = lineEnd(buf, colon + 1, badRequest);
    if (end < 0) return incomplete(n, max);
    const length = colon - pos;
    const candidates = length < 32 ? WATCHED[watchedKey(c0, length)] : undefined;
    if (candidates !== undefined) {
      for (let k = 0; k < candidates.length; k++) {
        const h = candidates[k]!;
        if (!spells(buf, pos, h.name)) continue;
        switch (h.kind) {
          case H_HOST:
            if (host !== undefined) badRequest('duplicate Host');
            { const s = skipSpace(buf, colon + 1, end); host = hosts.of(buf, s, dropSpace(buf, s, end)); }
            break;
          case H_UPGRADE: { const s = skipSpace(buf, colon + 1, end); upgrade = buf.toString('latin1', s, dropSpace(buf, s, end)); break; }
          case H_CONNECTION: connection = connectionTokens(buf, colon + 1, end, connection); break;
          case H_CONTENT_LENGTH: {
            const v = decimal(buf, colon + 1, end);
            if (v < 0) badRequest('invalid Content-Length');
            if (contentLength !== -1 && contentLength !== v) badRequest('conflicting Content-Length');
            contentLength = v;
            break;
          }
          case H_TRANSFER_ENCODING: te = true; chunked = lastCodingIsChunked(buf, colon + 1, end); break;
          case H_REQUEST_ID: { const s = skipSpace(buf, colon + 1, end); requestId = buf.toString('latin1', s, dropSpace(buf, s, end)); break; }
        }
        if (h.owned) drops = addRange(drops, pos, end + 2);
        break;
      }
    }
    pos = end + 2;
  }
  const length = pos + 2;
  if (length > max) throw new HeadError(431, 'request header too large');
  if (te) {
    if (contentLength !== -1) badRequest('both Content-Length and Transfer-Encoding');
    if (!chunked) throw new HeadError(501, 'unsupported Transfer-Encoding');
    if (minorVersion === 0) badRequest('Transfer-Encoding in HTTP/1.0');
  }
  if (minorVersion === 1 && host === undefined) badRequest('missing Host');
  return {
    length, buf, method: methods.of(buf, start, sp1), target: targets.of(buf, sp1 + 1, sp2), minorVersion, lineStart: start, fieldsStart: eol + 2,
    contentLength, chunked, connection, host, upgrade, drops, requestId,
  };
}

/** The head as one that owns its bytes, to keep past the read that brought it. */
export function detachRequestHead(head: RequestHead): RequestHead {
  return { ...head, buf: Buffer.from(head.buf.subarray(0, head.length)) };
}

/**
 * Calls `each(name, value, start, end)` for every header line (names as sent, values trimmed,
 * [start, end) the line with its CRLF, as offsets into head.buf) until it returns true.
 */
function eachHeader(head: RequestHead, each: (name: string, value: string, start: number, end: number) => boolean | void): void {
  const t = head.buf.toString('latin1', 0, head.length - 2);
  for (let pos = head.fieldsStart; pos < t.length;) {
    const eol = t.indexOf('\r\n', pos);
    const colon = t.indexOf(':', pos);
    if (colon > pos && colon < eol && each(t.slice(pos, colon), t.slice(colon + 1, eol).trim(), pos, eol + 2)) return;
    pos = eol + 2;
  }
}

/** [start, end) pairs of the header lines whose lowercase names are in `lowerNames`, in order. */
export function headerLineRanges(head: RequestHead, lowerNames: readonly string[]): number[] {
  const out: number[] = [];
  eachHeader(head, (name, _value, start, end) => { if (lowerNames.includes(name.toLowerCase())) out.push(start, end); });
  return out;
}

/** A request header's value by lowercase name (first occurrence); for the rarely needed ones. */
export function requestHeader(head: RequestHead, lowerName: string): string | undefined {
  let found: string | undefined;
  eachHeader(head, (name, value) => {
    if (name.length !== lowerName.length || name.toLowerCase() !== lowerName) return false;
    found = value;
    return true;
  });
  return found;
}

/** Every header field of the head as [name, value], in order (names as sent). */
export function requestHeaderList(head: RequestHead): [string, string][] {
  const out: [string, string][] = [];
  eachHeader(head, (name, value) => { out.push([name, value]); });
  return out;
}

const upstreamError = (message: string): never => { throw new HeadError(502, `upstream sent ${message}`); };

/**
 * Parses the response head at the start of `buf` straight from its bytes (an upstream's head is
 * forwarded as it came, so no text is made of it): undefined while its end is not here yet. Throws
 * HeadError(502) when it is malformed or longer than `max` bytes.
 */
export function parseResponseHead(buf: Buffer, max: number): ResponseHead | undefined {
  const n = buf.length;
  const eol = lineEnd(buf, 0, upstreamError);
  if (eol < 0) return responseIncomplete(n, max);
  // "HTTP/1.x NNN" then a space or the end of the line.
  const minor = buf[7]! - 48;
  const d0 = buf[9]! - 48, d1 = buf[10]! - 48, d2 = buf[11]! - 48;
  if (eol < 12 || !spellsExactly(buf, 0, 'HTTP/1.') || (minor !== 0 && minor !== 1) || buf[8] !== SP ||
    !(d0 >= 1 && d0 <= 9 && d1 >= 0 && d1 <= 9 && d2 >= 0 && d2 <= 9) || (eol > 12 && buf[12] !== SP)) upstreamError('an invalid status line');
  const status = d0 * 100 + d1 * 10 + d2;
  let contentLength = -1;
  let te = false;
  let chunked = false;
  let connection = NO_TOKENS;
  let connectionLines: number[] | undefined, transferEncodingLines: number[] | undefined;
  let keepAliveLine = false;
  let pos = eol + 2;
  for (;;) {
    if (pos >= n) return responseIncomplete(n, max);
    const c0 = buf[pos]!;
    if (c0 === CR) {
      if (pos + 1 === n) return responseIncomplete(n, max);
      if (buf[pos + 1] !== LF) upstreamError('a bare CR or LF');
      break;
    }
    if (c0 === SP || c0 === HT) upstreamError('an invalid header (obsolete line folding)');
    // The name up to its colon, then the value up to CR: each byte looked at once.
    let colon = pos;
    while (colon < n && buf[colon]! > CR && buf[colon] !== COLON) colon++;
    if (colon === n) return responseIncomplete(n, max);
    if (buf[colon] !== COLON) {
      // A line without a colon, unless the byte that ended the name is a bare CR or LF, or a NUL.
      if (lineEnd(buf, colon, upstreamError) < 0) return responseIncomplete(n, max);
      upstreamError('an invalid header');
    }
    if (colon === pos || buf[colon - 1] === SP || buf[colon - 1] === HT) upstreamError('an invalid header');
    const end = lineEnd(buf, colon + 1, upstreamError);
    if (end < 0) return responseIncomplete(n, max);
    const len = colon - pos;
    if (len === 10 && spells(buf, pos, 'connection')) {
      connection = connectionTokens(buf, colon + 1, end, connection);
      connectionLines = addJoinedRange(connectionLines, pos, end + 2);
    } else if (len === 10 && spells(buf, pos, 'keep-alive')) {
      connectionLines = addJoinedRange(connectionLines, pos, end + 2);
      keepAliveLine = true;
    } else if (len === 14 && spells(buf, pos, 'content-length')) {
      const v = decimal(buf, colon + 1, end);
      if (v < 0) upstreamError('an invalid Content-Length');
      if (contentLength !== -1 && contentLength !== v) upstreamError('conflicting Content-Lengths');
      contentLength = v;
    } else if (len === 17 && spells(buf, pos, 'transfer-encoding')) {
      te = true;
      chunked = lastCodingIsChunked(buf, colon + 1, end);
      transferEncodingLines = addRange(transferEncodingLines, pos, end + 2);
    }
    pos = end + 2;
  }
  const length = pos + 2;
  if (length > max) upstreamError('a head that is too large');
  if (te && !chunked) return { length, status, minorVersion: minor, contentLength: -1, chunked: false, connection: ['close'], connectionLines, keepAliveLine, transferEncodingLines };
  // With both, Transfer-Encoding wins and the connection is not reusable (RFC 9112 §6.3).
  if (te && contentLength !== -1) connection = [...connection, 'close'];
  return { length, status, minorVersion: minor, contentLength: chunked ? -1 : contentLength, chunked, connection, connectionLines, keepAliveLine, transferEncodingLines };
}

/** Not all of the upstream's head is here: wait for more, unless there is already more than `max`. */
function responseIncomplete(n: number, max: number): undefined {
  if (n > max) upstreamError('a head that is too large');
  return undefined;
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

  /**
   * Consumes buf[start..]; returns the index just past the end of the message, or -1 if it goes on.
   * Throws HeadError(400) on bad framing. `onData`, when given, is told each run of chunk data
   * (buf[from, to)), to pass a body on decoded.
   */
  feed(buf: Buffer, start = 0, onData?: (from: number, to: number) => void): number {
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
          if (onData !== undefined && take > 0) onData(i, i + take);
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
