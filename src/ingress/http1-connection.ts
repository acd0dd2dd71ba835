// The HTTP/1.1 fast path: one client connection, one request at a time. Only heads are parsed
// (http-head.ts); bodies are counted and passed through as bytes between the client socket and a
// pooled upstream socket, and an upstream response that needs no added header goes to the client
// in the very buffers it arrived in. This is what lets a Node proxy approach nginx: node:http's
// request/response objects, header maps and re-chunking are never built.
import { Buffer } from 'node:buffer';
import { randomBytes } from 'node:crypto';
import { checkExternalAuth, shouldSetAuthCookie, type AuthOutcome } from './external-auth.ts';
import { ChunkedScanner, HeadError, detachRequestHead, findHeadEnd, headerLineRanges, parseRequestHead, parseResponseHead, requestHeader, requestHeaderList, type RequestHead, type ResponseHead } from './http-head.ts';
import { affinityCookie, decideAction, errorBody, proxyAction, reasonPhrase, type Action, type ProxyAction, type RequestFacts } from './request-policy.ts';
import { normalizePath } from './normalize-path.ts';
import type { Conn, ConnHandler } from './conn.ts';
import type { Endpoint, Route } from './route-table.ts';
import type { RequestMetrics } from './metrics.ts';
import type { Limits } from './shared-limits.ts';
import type { Router } from './router.ts';
import type { UpstreamOwner, UpstreamPool, UpstreamSocket } from './upstream-pool.ts';

/** What a connection needs from its server; `router` is read once per request. */
export interface ProxyContext {
  readonly router: Router;
  readonly pool: UpstreamPool;
  readonly limits: Limits;
  readonly httpsPort: number;
  readonly maxHeadBytes: number;
  /** ingress-nginx keep-alive 75 s. */
  readonly clientIdleTimeoutMs: number;
  /**
   * ingress-nginx's client-header-timeout (60 s): the whole head must be in within this time of its
   * first bytes. The idle timeout alone would let a client trickling one byte at a time hold the
   * connection forever.
   */
  readonly clientHeaderTimeoutMs: number;
  now(): number;
  /** Monotonic milliseconds for durations (may be the time the current I/O callback began). */
  elapsed(): number;
  /** Counts every request (per Ingress and Service). */
  readonly metrics: RequestMetrics;
  onAccess?(entry: AccessEntry): void;
}

export interface AccessEntry {
  readonly remoteAddress: string;
  readonly method: string;
  readonly host: string;
  readonly target: string;
  readonly status: number;
  readonly ingress?: string;
  readonly backend?: string;
  readonly upstream?: string;
  readonly durationMs: number;
}

// nginx retries a failed upstream on the next one up to proxy-next-upstream-tries (3 in ingress-nginx).
const MAX_TRIES = 3;
const MAX_RESPONSE_HEAD = 64 * 1024;
// nginx's lingering_timeout and lingering_time.
const LINGERING_TIMEOUT_MS = 5000;
const LINGERING_TIME_MS = 30_000;
const NO_ENDPOINTS: readonly Endpoint[] = Object.freeze([]);
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);
// Unique request IDs without a random draw per request: a random per-process prefix and a counter
// (32 hex digits, the shape of nginx's $request_id), kept as its digits and counted up in place.
const lastId = Buffer.from(randomBytes(8).toString('hex') + '0'.repeat(16), 'latin1');
/** The next request ID's 32 digits (lastId, changed in place: copy what you keep). */
function nextId(): Buffer {
  for (let i = 31; i >= 16; i--) {
    const c = lastId[i]!;
    if (c === 102 /* f */) { lastId[i] = 48 /* 0 */; continue; }
    lastId[i] = c === 57 /* 9 */ ? 97 /* a */ : c + 1;
    break;
  }
  return lastId;
}
function requestIdFor(): string {
  return nextId().toString('latin1');
}
/** Writes the next request ID into `out` at `at`; returns the end. */
function writeRequestId(out: Buffer, at: number): number {
  const id = nextId();
  for (let i = 0; i < 32; i++) out[at + i] = id[i]!;
  return at + 32;
}

const X_REQUEST_ID = Buffer.from('X-Request-ID: ', 'latin1');
const CONNECTION_CLOSE = 'Connection: close\r\n';
const CONNECTION_CLOSE_BYTES = Buffer.from(CONNECTION_CLOSE, 'latin1');
// The client's header lines upstream-vhost and x-forwarded-prefix replace (made once, not per request).
const HOST_HEADER: readonly string[] = ['host'], PREFIX_HEADER: readonly string[] = ['x-forwarded-prefix'];
const HOST_AND_PREFIX_HEADERS: readonly string[] = ['host', 'x-forwarded-prefix'];

/**
 * Copies src[from, to) into dst at `at`; returns the end. Head pieces are short, and for those a
 * loop is cheaper than Buffer#copy, which makes a typed array view per call.
 */
function copyRange(src: Buffer, from: number, to: number, dst: Buffer, at: number): number {
  if (to - from > 48) return at + src.copy(dst, at, from, to);
  for (let i = from; i < to; i++) dst[at++] = src[i]!;
  return at;
}

/** Writes latin1 `text` into dst at `at`; returns the end. Connection: close, the usual one, from its bytes. */
function putLatin1(text: string, dst: Buffer, at: number): number {
  if (text === CONNECTION_CLOSE) return copyRange(CONNECTION_CLOSE_BYTES, 0, CONNECTION_CLOSE_BYTES.length, dst, at);
  return at + dst.write(text, at, 'latin1');
}
/**
 * The X-Real-IP … X-Scheme lines for the last client address, host, port and scheme seen (the same
 * for all of a connection's requests, and for most connections): made once, copied into each head.
 */
const forwarded = { remote: '', host: '', port: '', secure: false, lines: Buffer.alloc(0) };
function forwardedLines(remote: string, host: string, port: string, secure: boolean): Buffer {
  const f = forwarded;
  if (f.remote === remote && f.host === host && f.port === port && f.secure === secure && f.lines.length) return f.lines;
  const scheme = secure ? 'https' : 'http';
  // X-Forwarded-For is the peer address (use-forwarded-headers off), as ingress-nginx sets it.
  f.lines = Buffer.from(`X-Real-IP: ${remote}\r\nX-Forwarded-For: ${remote}\r\nX-Forwarded-Host: ${host}\r\nX-Forwarded-Port: ${port}\r\n` +
    `X-Forwarded-Proto: ${scheme}\r\nX-Forwarded-Scheme: ${scheme}\r\nX-Scheme: ${scheme}\r\n`, 'latin1');
  f.remote = remote; f.host = host; f.port = port; f.secure = secure;
  return f.lines;
}

/** A Connection token naming a header (other than the ones the proxy answers for itself). */
const namesHeader = (token: string): boolean => token !== 'close' && token !== 'keep-alive' && token !== 'upgrade';

function mergeRanges(a: number[] | undefined, b: number[]): number[] | undefined {
  if (!b.length) return a;
  const pairs: [number, number][] = [];
  for (const r of [a ?? [], b]) for (let i = 0; i < r.length; i += 2) pairs.push([r[i]!, r[i + 1]!]);
  pairs.sort((x, y) => x[0] - y[0]);
  const out: number[] = [];
  for (const [s, e] of pairs) if (!out.length || s >= out[out.length - 1]!) out.push(s, e);
  return out;
}

/** [start, end) of each line of a response head (buf[0..end), status line excluded) whose field name is in `lowerNames`. */
function responseHeaderLineRanges(buf: Buffer, end: number, lowerNames: readonly string[]): number[] {
  const out: number[] = [];
  let pos = buf.indexOf(10) + 1;
  while (pos > 0 && pos < end - 2) {
    let nl = buf.indexOf(10, pos);
    if (nl < 0 || nl >= end) nl = end - 1;
    const colon = buf.indexOf(58, pos);
    if (colon > pos && colon < nl && lowerNames.includes(buf.toString('latin1', pos, colon).trim().toLowerCase())) out.push(pos, nl + 1);
    pos = nl + 1;
  }
  return out;
}

const ST_HEAD = 0, ST_PROXY = 1, ST_TUNNEL = 2, ST_CLOSED = 3, ST_AUTH = 4;

/** What a passed auth-url check adds to the proxied request and its response. */
interface AuthGrant {
  readonly requestId: string;
  readonly outcome: Extract<AuthOutcome, { kind: 'allow' }>;
}

export class Http1Connection implements UpstreamOwner, ConnHandler {
  readonly #ctx: ProxyContext;
  readonly #sock: Conn;
  readonly #secure: boolean;
  readonly #remote: string;
  readonly #localPort: string;
  #state = ST_HEAD;
  /** Client bytes not yet handled (a partial head, or a pipelined request waiting its turn). */
  #buf: Buffer | undefined;

  // The request in flight.
  #req: RequestHead | undefined;
  #action: ProxyAction | undefined;
  /** Set only for routes with auth-url. */
  #grant: AuthGrant | undefined;
  #keepAlive = true;
  #started = 0;
  #reqLeft = 0;
  #reqChunks: ChunkedScanner | undefined;
  #reqDone = true;
  #isUpgrade = false;
  /** Head and first body bytes, kept until the upstream answers so a failed connect can be retried. */
  #replay: Buffer | undefined;
  #replayBody: Buffer | undefined;
  /** Endpoints tried for the request (a new list per try: usually one, made exactly). */
  #tried: readonly Endpoint[] = NO_ENDPOINTS;
  #up: UpstreamSocket | undefined;
  #resBuf: Buffer | undefined;
  #res: ResponseHead | undefined;
  #resLeft = 0;
  #resChunks: ChunkedScanner | undefined;
  #resUntilClose = false;
  /** A chunked body for an HTTP/1.0 client: passed on decoded, ended by the close. */
  #resDechunk = false;
  #resBytesOut = 0;
  /** Status of the response being relayed, logged when it ends. */
  #pendingAccess: number | undefined;
  #upReusable = true;
  /** proxy-send-timeout: armed only while the upstream is not taking request bytes (a write returned false). */
  #sendTimer: NodeJS.Timeout | undefined;
  /** nginx's lingering_time cap on a closing connection. */
  #lingerTimer: NodeJS.Timeout | undefined;
  /** The client sent FIN: requests it sent before are still answered, then the connection ends. */
  #clientEnded = false;
  /** The chunk being handled, when it is a view of the client read buffer. */
  #transient: Buffer | undefined;
  /** Set while #processHeads runs: requests answered here come back to its loop, never recurse. */
  #inHeads = false;
  /** The head in #buf was found incomplete: look for its end (memchr-fast) before parsing it again. */
  #partialHead = false;
  /** When the head being read (#partialHead) began arriving (ctx.elapsed()). */
  #headSince = 0;

  readonly #onClosed: (() => void) | undefined;

  /**
   * `localPort`: the listener's port (X-Forwarded-Port), known to the server, so no getsockname(2)
   * per connection. `onClosed`: called once the client connection is gone.
   */
  constructor(ctx: ProxyContext, sock: Conn, secure: boolean, localPort: string, onClosed?: () => void) {
    this.#ctx = ctx;
    this.#onClosed = onClosed;
    this.#sock = sock;
    this.#secure = secure;
    this.#remote = sock.remoteAddress;
    this.#localPort = localPort;
    sock.setTimeout(ctx.clientIdleTimeoutMs);
    sock.setHandler(this);
  }

  // The client connection's events (ConnHandler).
  onDrain(): void {
    if (this.#up?.conn.paused) this.#up.conn.resume();
    if (this.#state === ST_HEAD && this.#buf) this.#processHeads();
  }
  onTimeout(): void { if (this.#state === ST_HEAD || this.#state === ST_CLOSED) this.#sock.destroy(); }
  /** A client that half-closes after its request still gets the answer, then the connection ends; in a tunnel the FIN goes on. */
  onEnd(): void {
    this.#clientEnded = true;
    // In ST_HEAD nothing whole is waiting (heads are handled as they come): done.
    if (this.#state === ST_HEAD) this.#endAfterClient();
    else if (this.#state === ST_TUNNEL) this.#up?.conn.end();
    // The body will never be whole: nginx's "client prematurely closed connection" (400), and the
    // upstream is let go at once instead of waiting for the rest until its timeout. An answer
    // already under way goes on.
    else if (this.#state === ST_PROXY && !this.#reqDone && !this.#res) this.#fail(400);
  }

  #endAfterClient(): void {
    this.#state = ST_CLOSED;
    this.#buf = undefined;
    this.#sock.end();
  }
  onClose(): void { this.#onClientClose(); this.#onClosed?.(); }

  onData(chunk: Buffer): void {
    // A raw client connection's chunks are views of one read buffer shared by the thread's clients:
    // whatever is kept or written on (a write may complete later) is copied by #keep.
    if (this.#sock.transientReads) this.#transient = chunk;
    switch (this.#state) {
      case ST_HEAD:
        this.#buf = this.#buf ? Buffer.concat([this.#buf, chunk]) : chunk;
        this.#processHeads();
        break;
      case ST_AUTH:
        // The auth subrequest is out: keep what comes and read no more.
        this.#buf = this.#buf ? Buffer.concat([this.#buf, chunk]) : chunk;
        this.#sock.pause();
        break;
      case ST_PROXY:
        if (!this.#reqDone) { this.#forwardBody(chunk); break; }
        // Pipelined: hold it until the response is done, and stop reading meanwhile.
        this.#buf = this.#buf ? Buffer.concat([this.#buf, chunk]) : chunk;
        this.#sock.pause();
        break;
      case ST_TUNNEL:
        if (this.#up && !this.#up.conn.write(this.#keep(chunk))) this.#sock.pause();
        break;
    }
    if (this.#buf) this.#buf = this.#keep(this.#buf);
    this.#transient = undefined;
  }

  /** `b`, copied if it is a view of the client read buffer. */
  #keep<T extends Buffer | undefined>(b: T): T {
    return b !== undefined && this.#transient !== undefined && b.buffer === this.#transient.buffer ? Buffer.from(b) as T : b;
  }

  #processHeads(): void {
    if (this.#inHeads) return;
    this.#inHeads = true;
    try {
      // A client that sends requests without reading the answers stops being served (and read)
      // until its answers are taken: pipelined requests cannot pile up answers here.
      while (this.#state === ST_HEAD && this.#buf && !this.#sock.needsDrain) {
        let head: RequestHead | undefined;
        try {
          // A head that comes in many small reads is not parsed again from its start for each.
          if (this.#partialHead && findHeadEnd(this.#buf, this.#ctx.maxHeadBytes) < 0) {
            // nginx closes a client whose head is not whole by client_header_timeout, without an
            // answer (its log says 408).
            if (this.#ctx.elapsed() - this.#headSince > this.#ctx.clientHeaderTimeoutMs) { this.#buf = undefined; this.#sock.destroy(); return; }
            break;
          }
          head = parseRequestHead(this.#buf, this.#ctx.maxHeadBytes);
          if (head === undefined) {
            if (!this.#partialHead) { this.#partialHead = true; this.#headSince = this.#ctx.elapsed(); }
            break;
          }
          this.#partialHead = false;
        } catch (err) {
          this.#buf = undefined;
          // nginx's error page, as for any error it answers itself.
          const status = err instanceof HeadError ? err.status : 400;
          this.#localResponse(status, [['Content-Type', 'text/html']], errorBody(status), false, 'GET');
          return;
        }
        const rest = head.length < this.#buf.length ? this.#buf.subarray(head.length) : undefined;
        this.#buf = undefined;
        this.#handleRequest(head, rest);
      }
    } finally {
      this.#inHeads = false;
    }
    if (this.#state !== ST_HEAD) return;
    if (this.#sock.needsDrain && this.#buf) this.#sock.pause();
    else if (this.#clientEnded) this.#endAfterClient();
    else if (this.#sock.paused) this.#sock.resume();
  }

  /** Ready for the client's next request: one already here, or read on. */
  #nextRequest(): void {
    this.#state = ST_HEAD;
    if (this.#buf) this.#processHeads();
    else if (this.#clientEnded) this.#endAfterClient();
    else if (this.#sock.paused) this.#sock.resume();
  }

  #handleRequest(head: RequestHead, rest: Buffer | undefined): void {
    this.#started = this.#ctx.elapsed();
    this.#req = head;
    this.#keepAlive = head.minorVersion === 1 ? !head.connection.includes('close') : head.connection.includes('keep-alive');
    let target = head.target;
    let host = head.host ?? '';
    if (target.charCodeAt(0) !== 47 /* / */) {
      // absolute-form (RFC 9112 §3.2.2): its authority replaces Host.
      const m = /^https?:\/\/([^/?#]*)(.*)$/i.exec(target);
      if (m) { host = m[1]!; target = m[2] || '/'; }
    }
    const q = target.indexOf('?');
    const path = q < 0 ? target : target.slice(0, q);
    const query = q < 0 ? '' : target.slice(q);
    // Routes match the normalised path, as nginx's locations do; the raw one goes upstream.
    const routed = normalizePath(path);
    if (routed === undefined) {
      this.#buf = undefined;
      this.#access(400, host, target);
      this.#localResponse(400, [['Content-Type', 'text/html']], errorBody(400), false, head.method);
      return;
    }
    const facts: RequestFacts = {
      method: head.method, path, uri: routed, query, host, secure: this.#secure, port: this.#localPort, remoteAddress: this.#remote,
      contentLength: head.chunked ? -1 : head.contentLength, header: (n) => requestHeader(head, n),
    };
    const router = this.#ctx.router;
    const decision = router.decide(host, routed);
    const action = decideAction(decision, facts, this.#ctx.limits, this.#ctx.httpsPort);
    if (action.kind === 'respond') { this.#respond(action, head, rest, host, target, decision.kind === 'route' ? decision.route.route : undefined); return; }
    if (action.kind === 'auth') { this.#authenticate(action, head, rest, facts, target); return; }
    this.#proxy(action, head, rest, host, undefined);
  }

  #respond(action: Extract<Action, { kind: 'respond' }>, head: RequestHead, rest: Buffer | undefined, host: string, target: string, route?: Route): void {
    // The unread body would be taken for the next request: close instead of draining it.
    if (head.chunked || head.contentLength > 0) this.#keepAlive = false;
    if (!this.#keepAlive) this.#sock.pause();
    this.#buf = rest;
    this.#access(action.status, host, target, route);
    this.#localResponse(action.status, action.headers, action.body, this.#keepAlive, head.method);
  }

  /** auth-url: the subrequest first (client reads paused), then answer or proxy as it says. */
  #authenticate(action: Extract<Action, { kind: 'auth' }>, head: RequestHead, rest: Buffer | undefined, facts: RequestFacts, target: string): void {
    this.#state = ST_AUTH;
    this.#buf = rest;
    this.#sock.pause();
    // The answer comes after this read's buffer is reused: the head (read again by proxyAction's
    // header lookups and the upstream head) gets its own bytes.
    head = detachRequestHead(head);
    this.#req = head;
    facts = { ...facts, header: (n) => requestHeader(head, n) };
    const auth = action.decision.route.auth!;
    const requestId = head.requestId || requestIdFor();
    const input = { method: head.method, requestUri: target, host: facts.host, secure: this.#secure, remoteAddress: this.#remote, requestId, headers: requestHeaderList(head) };
    void checkExternalAuth(auth.spec, auth.pool, input, (ep, p) => this.#ctx.pool.connect(ep, p)).then((outcome) => {
      if (this.#state !== ST_AUTH || this.#req !== head) { action.release?.(); return; } // the client left meanwhile
      const pending = this.#buf;
      this.#buf = undefined;
      const route = action.decision.route.route;
      if (outcome.kind === 'deny') { action.release?.(); this.#respond(outcome.action, head, pending, facts.host, target, route); return; }
      const next = proxyAction(action.decision, facts, action.responseHeaders, action.release);
      if (next.kind !== 'proxy') { this.#respond(next as Extract<Action, { kind: 'respond' }>, head, pending, facts.host, target, route); return; }
      this.#proxy(next, head, pending, facts.host, { requestId, outcome });
    }).catch(() => {
      // A bug on this path must cost this connection only, never the process.
      action.release?.();
      this.#sock.destroy();
    });
  }

  #proxy(action: ProxyAction, head: RequestHead, rest: Buffer | undefined, host: string, grant: AuthGrant | undefined): void {
    this.#grant = grant;
    this.#state = ST_PROXY;
    this.#action = action;
    this.#isUpgrade = head.upgrade !== undefined && head.connection.includes('upgrade');
    // Request framing, and the first body bytes that came with the head.
    let first: Buffer | undefined;
    this.#reqChunks = undefined;
    if (head.chunked) {
      this.#reqChunks = new ChunkedScanner();
      this.#reqLeft = -1;
      this.#reqDone = false;
      if (rest) {
        let end: number;
        try { end = this.#reqChunks.feed(rest); } catch { this.#fail(400); return; }
        if (end >= 0) { first = rest.subarray(0, end); this.#buf = end < rest.length ? rest.subarray(end) : undefined; this.#reqDone = true; }
        else first = rest;
      }
    } else {
      this.#reqLeft = Math.max(0, head.contentLength);
      if (rest && this.#reqLeft > 0) {
        const take = Math.min(rest.length, this.#reqLeft);
        first = take === rest.length ? rest : rest.subarray(0, take);
        this.#reqLeft -= take;
        if (take < rest.length) this.#buf = rest.subarray(take);
      } else this.#buf = rest;
      this.#reqDone = this.#reqLeft === 0;
    }
    if (this.#buf && !this.#isUpgrade) this.#sock.pause();

    const headText = this.#upstreamHead(head, action, host, grant);
    this.#replay = headText;
    this.#replayBody = this.#keep(first);
    this.#tried = NO_ENDPOINTS;
    const maxBody = action.route.route.options.maxBodyBytes;
    if (this.#reqChunks && maxBody > 0 && this.#reqChunks.dataBytes > maxBody) { this.#fail(413); return; }
    this.#connect(action.sticky ?? action.hashed ?? action.route.pool.next()!);
  }

  /** The head sent upstream, as bytes: the client's (less the lines we own), then ours. */
  #upstreamHead(head: RequestHead, action: ProxyAction, host: string, grant: AuthGrant | undefined): Buffer {
    const target = action.target;
    const vhost = action.upstreamHost, prefix = action.forwardedPrefix;
    const bodyless = head.length - 2;
    let drops = head.drops;
    // Headers named in Connection are hop-by-hop too (RFC 9110 §7.6.1); rare, so found by a second scan.
    if (head.connection.some(namesHeader)) drops = mergeRanges(drops, headerLineRanges(head, head.connection.filter(namesHeader)));
    // auth-response-headers replace the client's own (proxy_set_header, set even when empty).
    if (grant && grant.outcome.drop.length) drops = mergeRanges(drops, headerLineRanges(head, grant.outcome.drop));
    // Basic auth's credentials stay here (ingress-nginx: proxy_set_header Authorization "").
    if (action.route.route.options.basicAuth) drops = mergeRanges(drops, headerLineRanges(head, ['authorization']));
    // upstream-vhost and x-forwarded-prefix replace the client's Host and X-Forwarded-Prefix (proxy_set_header).
    if (vhost !== undefined || prefix !== undefined) drops = mergeRanges(drops, headerLineRanges(head, vhost === undefined ? PREFIX_HEADER : prefix === undefined ? HOST_HEADER : HOST_AND_PREFIX_HEADERS));
    // HTTPRoute RequestHeaderModifier: set and remove drop the client's lines, set and add send ours.
    const edits = action.requestEdits;
    if (edits !== undefined) drops = mergeRanges(drops, headerLineRanges(head, [...edits.set.map(([k]) => k.toLowerCase()), ...edits.remove]));
    // The client's request line as it came (usually), or one of our own; then its header lines
    // less the dropped ones; then ours.
    const sameLine = target === head.target && head.minorVersion === 1 && head.lineStart === 0;
    const line = sameLine ? '' : `${head.method} ${target} HTTP/1.1\r\n${head.host === undefined && vhost === undefined ? `Host: ${host}\r\n` : ''}`;
    let extra = '';
    if (vhost !== undefined) extra += `Host: ${vhost}\r\n`;
    if (prefix) extra += `X-Forwarded-Prefix: ${prefix}\r\n`;
    if (grant) for (const [k, v] of grant.outcome.upstreamHeaders) extra += `${k}: ${v}\r\n`;
    if (edits !== undefined) for (const [k, v] of [...edits.set, ...edits.add]) extra += `${k}: ${v}\r\n`;
    // ingress-nginx keeps a client's X-Request-ID and otherwise makes one.
    const id = grant ? grant.requestId : head.requestId || undefined;
    const lines = forwardedLines(this.#remote, host, this.#localPort, this.#secure);
    const tail = this.#isUpgrade ? `Connection: upgrade\r\nUpgrade: ${head.upgrade}\r\n\r\n` : undefined;
    let dropped = 0;
    if (drops) for (let i = 0; i < drops.length; i += 2) dropped += drops[i + 1]! - drops[i]!;
    // The exact size (a view of a larger buffer would be one more object to make).
    const out = Buffer.allocUnsafe((sameLine ? head.fieldsStart : line.length) + bodyless - head.fieldsStart - dropped + extra.length + X_REQUEST_ID.length +
      (id === undefined ? 32 : id.length) + 2 + lines.length + (tail === undefined ? 2 : tail.length));
    let o = sameLine ? copyRange(head.buf, 0, head.fieldsStart, out, 0) : out.write(line, 0, 'latin1');
    let pos = head.fieldsStart;
    if (drops) for (let i = 0; i < drops.length; i += 2) { o = copyRange(head.buf, pos, drops[i]!, out, o); pos = drops[i + 1]!; }
    o = copyRange(head.buf, pos, bodyless, out, o);
    if (extra) o = putLatin1(extra, out, o);
    o = copyRange(X_REQUEST_ID, 0, X_REQUEST_ID.length, out, o);
    o = id === undefined ? writeRequestId(out, o) : o + out.write(id, o, 'latin1');
    out[o++] = 13; out[o++] = 10;
    out.set(lines, o);
    o += lines.length;
    if (tail === undefined) { out[o++] = 13; out[o++] = 10; } else o += out.write(tail, o, 'latin1');
    return o === out.length ? out : out.subarray(0, o);
  }

  #connect(ep: Endpoint): void {
    const o = this.#action!.route.route.options;
    this.#clearSendTimeout(); // a timer armed for the previous endpoint's socket
    this.#tried = this.#tried.length === 0 ? [ep] : [...this.#tried, ep];
    this.#resBuf = undefined;
    this.#res = undefined;
    this.#resBytesOut = 0;
    this.#upReusable = true;
    const up = this.#ctx.pool.acquire(ep, o.backendProtocol, this, o.connectTimeoutMs);
    this.#up = up;
    if (up.connected) up.setTimeout(o.readTimeoutMs);
    else if (!this.#reqDone) this.#sock.pause(); // no more body until we know this endpoint answers
    const taken = this.#replayBody ? up.conn.writeHeadAndBody(this.#replay!, this.#replayBody) : up.conn.write(this.#replay!);
    if (!up.connected || this.#reqDone) return;
    // A pooled connection takes the rest of the body at once, so the client must be read (it may
    // have been paused while this request waited behind a pipelined one); unless it is full already.
    if (taken) this.#sock.resume();
    else { this.#sock.pause(); this.#armSendTimeout(up); }
  }

  onUpstreamConnect(up: UpstreamSocket): void {
    if (up !== this.#up) return;
    up.setTimeout(this.#action!.route.route.options.readTimeoutMs);
    // Bytes written while it connected and still not taken: the send timeout runs from now.
    if (up.conn.needsDrain) this.#armSendTimeout(up);
    if (!this.#reqDone) this.#sock.resume();
  }

  #forwardBody(chunk: Buffer): void {
    let body = chunk;
    if (this.#reqChunks) {
      let end: number;
      try { end = this.#reqChunks.feed(chunk); } catch { this.#fail(400); return; }
      const maxBody = this.#action!.route.route.options.maxBodyBytes;
      if (maxBody > 0 && this.#reqChunks.dataBytes > maxBody) { this.#fail(413); return; }
      if (end >= 0) {
        body = chunk.subarray(0, end);
        if (end < chunk.length) { this.#buf = chunk.subarray(end); this.#sock.pause(); }
        this.#reqDone = true;
      }
    } else {
      if (chunk.length > this.#reqLeft) {
        body = chunk.subarray(0, this.#reqLeft);
        this.#buf = chunk.subarray(this.#reqLeft);
        this.#sock.pause();
      }
      this.#reqLeft -= body.length;
      if (this.#reqLeft === 0) this.#reqDone = true;
    }
    // Once body bytes beyond the first ones are sent, a failure can no longer be replayed.
    this.#replay = undefined;
    this.#replayBody = undefined;
    const up = this.#up!;
    if (!up.conn.write(this.#keep(body))) {
      this.#sock.pause();
      if (up.connected) this.#armSendTimeout(up);
    }
    if (this.#reqDone && this.#res && this.#resDoneFlag) this.#finish();
  }

  /**
   * nginx's proxy_send_timeout: the time allowed between two successive writes to the upstream,
   * counted while it takes nothing. The read timeout does not run meanwhile, as in nginx, where
   * proxy_read_timeout starts once the request is sent.
   */
  #armSendTimeout(up: UpstreamSocket): void {
    if (this.#sendTimer) return;
    up.setTimeout(0);
    this.#sendTimer = setTimeout(() => {
      this.#sendTimer = undefined;
      if (up !== this.#up) return;
      this.#upReusable = false;
      // "upstream timed out while sending request to upstream": 504 if nothing was answered yet.
      if (!this.#res && this.#resBytesOut === 0) this.#fail(504);
      else { up.owner = undefined; up.conn.destroy(); this.#up = undefined; this.#sock.destroy(); }
    }, this.#action!.route.route.options.sendTimeoutMs);
  }

  #clearSendTimeout(): void {
    if (this.#sendTimer) { clearTimeout(this.#sendTimer); this.#sendTimer = undefined; }
  }

  #resDoneFlag = false;

  onUpstreamDrain(up: UpstreamSocket): void {
    if (up !== this.#up) return;
    if (this.#sendTimer) { this.#clearSendTimeout(); up.setTimeout(this.#action!.route.route.options.readTimeoutMs); }
    if (!this.#reqDone || this.#state === ST_TUNNEL) this.#sock.resume();
  }

  holdsChunk(): boolean {
    return this.#sock.holdsWrittenBuffers;
  }

  onUpstreamData(up: UpstreamSocket, chunk: Buffer): void {
    if (up !== this.#up) return;
    if (this.#state === ST_TUNNEL) { if (!this.#sock.write(chunk)) up.conn.pause(); return; }
    this.#replay = undefined;
    if (!this.#res) {
      const buf = this.#resBuf ? Buffer.concat([this.#resBuf, chunk]) : chunk;
      this.#resBuf = undefined;
      this.#onResponseHead(up, buf);
      return;
    }
    this.#onResponseBody(up, chunk);
  }

  #onResponseHead(up: UpstreamSocket, buf: Buffer): void {
    let res: ResponseHead | undefined;
    try {
      res = parseResponseHead(buf, MAX_RESPONSE_HEAD);
    } catch {
      this.#upReusable = false;
      this.#fail(502);
      return;
    }
    // A partial head waits for the next read: copied, since the chunk's buffer is reused.
    if (!res) { this.#resBuf = Buffer.from(buf); return; }
    const end = res.length;
    const req = this.#req!;
    if (res.status >= 100 && res.status < 200 && res.status !== 101) {
      // Interim responses (100 Continue, 103) go through as they are, except to an HTTP/1.0
      // client, which must get none (RFC 9110 §15.2); the final head follows.
      if (req.minorVersion === 1) this.#sock.write(buf.subarray(0, end));
      if (end < buf.length) this.#onResponseHead(up, buf.subarray(end));
      return;
    }
    if (res.status === 101) {
      if (!this.#isUpgrade) { this.#upReusable = false; this.#fail(502); return; }
      this.#res = res;
      this.#state = ST_TUNNEL;
      // nginx's rule for upgraded connections: closed after proxy-read-timeout without a byte
      // either way (the upstream socket's idle timer counts what it reads and what it is written).
      this.#sock.setTimeout(0);
      up.setTimeout(this.#action!.route.route.options.readTimeoutMs);
      this.#sock.write(buf);
      this.#access(101);
      const pending = this.#buf;
      this.#buf = undefined;
      if (pending) up.conn.write(pending);
      this.#sock.resume();
      return;
    }
    this.#res = res;
    this.#resDoneFlag = false;
    const noBody = req.method === 'HEAD' || res.status === 204 || res.status === 304;
    this.#resChunks = undefined;
    this.#resUntilClose = false;
    this.#resDechunk = false;
    if (noBody) this.#resLeft = 0;
    else if (res.chunked) { this.#resChunks = new ChunkedScanner(); this.#resLeft = -1; this.#resDechunk = req.minorVersion === 0; }
    else if (res.contentLength >= 0) this.#resLeft = res.contentLength;
    else { this.#resUntilClose = true; this.#resLeft = -1; }
    if (res.connection.includes('close') || res.minorVersion === 0 || this.#resUntilClose) this.#upReusable = false;
    // A body delimited by the connection's end can only reach the client the same way; so does a
    // chunked one for an HTTP/1.0 client, which cannot read chunks (nginx decodes it the same way).
    if (this.#resUntilClose || this.#resDechunk) this.#keepAlive = false;
    // The status line the client gets says HTTP/1.1, as nginx's does, whatever the upstream spoke.
    if (res.minorVersion === 0) buf[7] = 49; // '1'

    // The upstream's Connection header speaks of the upstream connection: when it says the opposite
    // of what happens to the client's, it (and Keep-Alive, always the upstream's own) is replaced
    // by ours, as nginx does.
    const replace = res.keepAliveLine || this.#resDechunk || (this.#keepAlive ? res.connection.includes('close') : res.connection.includes('keep-alive'));
    const extra = this.#responseExtras(up, res, replace);
    // Logged and counted when the response is over, so the duration is nginx's $request_time.
    this.#pendingAccess = res.status;
    let drops = !replace ? undefined : this.#resDechunk ? mergeRanges(res.connectionLines, res.transferEncodingLines!) : res.connectionLines;
    // HTTPRoute ResponseHeaderModifier set/remove: the upstream's lines of those names go (rare: found by a scan).
    const resDrops = this.#action!.responseDrops;
    if (resDrops !== undefined) drops = mergeRanges(drops, responseHeaderLineRanges(buf, end, resDrops));
    if (drops !== undefined && drops.length === 2 && extra.length <= drops[1]! - drops[0]!) {
      // The usual case (nginx's one Connection line, and ours no longer than it): the head is
      // rewritten in the upstream's read buffer, which is ours. Our lines end where the upstream's
      // ended, and what came before them moves up by the difference; the rest of the head and the
      // body stay where they are, so the answer goes out in one piece, with no buffer made for it.
      const lineStart = drops[0]!, lineEnd = drops[1]!;
      const start = lineEnd - lineStart - extra.length;
      putLatin1(extra, buf, lineEnd - extra.length);
      if (start > 0) buf.copyWithin(start, 0, lineStart);
      this.#onResponseBody(up, buf, end, start);
    } else if (extra || replace || drops !== undefined) {
      // Insert our headers before the blank line; the rest of the head stays byte for byte.
      let dropped = 0;
      if (drops) for (let i = 0; i < drops.length; i += 2) dropped += drops[i + 1]! - drops[i]!;
      const head = Buffer.allocUnsafe(end - dropped + extra.length);
      let o = 0, pos = 0;
      if (drops) for (let i = 0; i < drops.length; i += 2) { o = copyRange(buf, pos, drops[i]!, head, o); pos = drops[i + 1]!; }
      o = copyRange(buf, pos, end - 2, head, o);
      o = putLatin1(extra, head, o);
      head[o++] = 13; head[o] = 10;
      this.#onResponseBody(up, buf.subarray(end), 0, head);
    } else {
      this.#onResponseBody(up, buf, end);
    }
  }

  /** Headers added to the upstream's; `replace`: its Connection and Keep-Alive lines are dropped, so ours are always said. */
  #responseExtras(up: UpstreamSocket, res: ResponseHead, replace: boolean): string {
    const a = this.#action!;
    let extra = '';
    for (const [k, v] of a.responseHeaders) extra += `${k}: ${v}\r\n`;
    const aff = a.route.route.options.affinity;
    if (aff && (a.renewCookie || !(a.sticky && a.sticky.address === up.endpoint.address && a.sticky.port === up.endpoint.port))) {
      extra += `Set-Cookie: ${affinityCookie(a.route, a.route.pool.cookieFor(up.endpoint), this.#secure, this.#ctx.now())}\r\n`;
    }
    const grant = this.#grant;
    if (grant && grant.outcome.cookies.length && shouldSetAuthCookie(a.route.auth!.spec, res.status)) for (const c of grant.outcome.cookies) extra += `Set-Cookie: ${c}\r\n`;
    const req = this.#req!;
    if (req.minorVersion === 0 && this.#keepAlive && (replace || !res.connection.includes('keep-alive'))) extra += 'Connection: keep-alive\r\n';
    if (!this.#keepAlive && (replace || !res.connection.includes('close'))) extra += CONNECTION_CLOSE;
    return extra;
  }

  /**
   * Writes the response's body bytes buf[from..] and notices the end of the message. `head` is what
   * goes out before them: a buffer of its own, or where in buf it starts (the head being
   * buf[head, from); `from` itself when there is none).
   */
  #onResponseBody(up: UpstreamSocket, buf: Buffer, from = 0, head: Buffer | number = 0): void {
    let out = buf;
    let done = false;
    if (this.#resUntilClose) {
      // ends when the upstream closes
    } else if (this.#resDechunk) {
      this.#onDechunkedBody(up, buf, from, head);
      return;
    } else if (this.#resChunks) {
      let end: number;
      try { end = this.#resChunks.feed(buf, from); } catch { this.#upReusable = false; this.#sock.destroy(); return; }
      if (end >= 0) { done = true; if (end < buf.length) { out = buf.subarray(0, end); this.#upReusable = false; } }
    } else {
      const avail = buf.length - from;
      if (avail >= this.#resLeft) {
        done = true;
        if (avail > this.#resLeft) { out = buf.subarray(0, from + this.#resLeft); this.#upReusable = false; }
        this.#resLeft = 0;
      } else this.#resLeft -= avail;
    }
    if (typeof head !== 'number') {
      this.#resBytesOut += head.length + out.length;
      if (!this.#sock.writeHeadAndBody(head, out) && !done) up.conn.pause();
    } else if (out.length > head) {
      if (head > 0) out = out.subarray(head);
      this.#resBytesOut += out.length;
      if (!this.#sock.write(out) && !done) up.conn.pause();
    }
    if (done) {
      this.#resDoneFlag = true;
      this.#finish();
    }
  }

  /** A chunked body for an HTTP/1.0 client: only the chunks' data goes out (after the head), then the close ends it. */
  #onDechunkedBody(up: UpstreamSocket, buf: Buffer, from: number, head: Buffer | number): void {
    const parts: Buffer[] = [];
    if (typeof head !== 'number') parts.push(head);
    else if (from > head) parts.push(buf.subarray(head, from));
    let end: number;
    try { end = this.#resChunks!.feed(buf, from, (a, b) => { parts.push(buf.subarray(a, b)); }); } catch { this.#upReusable = false; this.#sock.destroy(); return; }
    let writable = true;
    for (const p of parts) { this.#resBytesOut += p.length; writable = this.#sock.write(p); }
    if (end < 0) { if (!writable) up.conn.pause(); return; }
    this.#upReusable = false; // a 1.0 exchange: not worth keeping
    this.#resDoneFlag = true;
    this.#finish();
  }

  onUpstreamTimeout(up: UpstreamSocket): void {
    if (up !== this.#up) return;
    this.#upReusable = false;
    up.conn.destroy();
    this.#up = undefined;
    if (!this.#res && this.#resBytesOut === 0) this.#fail(504);
    else this.#sock.destroy();
  }

  onUpstreamClose(up: UpstreamSocket, err: Error | undefined): void {
    if (up !== this.#up) return;
    this.#up = undefined;
    if (this.#state === ST_TUNNEL) { this.#sock.end(); return; }
    if (this.#state !== ST_PROXY) return;
    if (this.#res && this.#resUntilClose && !err) {
      this.#resDoneFlag = true;
      this.#finish();
      return;
    }
    if (!this.#res && this.#resBytesOut === 0 && this.#replay) {
      // Retry: always when the connect failed (nothing was sent, as nginx's proxy_next_upstream
      // error), and for idempotent methods when a reused keep-alive connection was closed under us.
      const connectFailed = !up.connected;
      if (!connectFailed && up.uses > 1 && IDEMPOTENT.has(this.#req!.method)) {
        // A cached keep-alive connection the endpoint had already closed: not the endpoint's
        // fault, so it costs no try (nginx's peer.cached rule); the pool drops dead sockets.
        this.#tried = this.#tried.slice(0, -1);
        this.#connect(up.endpoint);
        return;
      }
      if (connectFailed || IDEMPOTENT.has(this.#req!.method)) {
        const next = this.#nextEndpoint();
        if (next) { this.#connect(next); return; }
      }
    }
    if (!this.#res && this.#resBytesOut === 0) { this.#fail(502); return; }
    this.#sock.destroy();
  }

  #nextEndpoint(): Endpoint | undefined {
    const a = this.#action!;
    // upstream-hash-by: ingress-nginx's chash balancer gives the same peer on every try, so the
    // retries go to the hashed endpoint again (ingress-nginx issues #10730, #11852).
    if (a.hashed) return this.#tried.length < MAX_TRIES ? a.hashed : undefined;
    const eps = a.route.pool.endpoints;
    if (this.#tried.length >= Math.min(MAX_TRIES, eps.length)) return undefined;
    for (let i = 0; i < eps.length; i++) {
      const e = a.route.pool.next()!;
      if (!this.#tried.includes(e)) return e;
    }
    return undefined;
  }

  /** The response (and the request) is over: recycle the upstream, then serve the next request. */
  #finish(): void {
    this.#flushAccess();
    this.#clearSendTimeout();
    if (!this.#reqDone) {
      // The upstream answered before reading the whole body: neither side can be reused.
      this.#upReusable = false;
      this.#keepAlive = false;
    }
    const up = this.#up;
    this.#up = undefined;
    if (up) {
      if (this.#upReusable && up.usable) this.#ctx.pool.release(up);
      else { up.owner = undefined; up.conn.destroy(); }
    }
    this.#endRequest();
  }

  #endRequest(): void {
    this.#action?.release?.();
    this.#action = undefined;
    this.#grant = undefined;
    this.#req = undefined;
    this.#res = undefined;
    this.#replay = undefined;
    if (!this.#keepAlive) {
      this.#state = ST_CLOSED;
      // The request was read whole and nothing followed it: close as soon as the answer is out
      // (nginx's default). Otherwise linger: FIN, then read until the client ends. A client we
      // stopped reading (pipelined requests) may have more in the kernel, which a close would
      // answer with a reset that can destroy the answer in flight: linger for it too.
      // TLS closes as it ends (close_notify, then reading the client's): it lingers in either case.
      if (this.#buf || !this.#reqDone || this.#sock.paused) { this.#sock.end(); this.#linger(); }
      else { this.#sock.close(); if (this.#secure) this.#linger(); }
      this.#buf = undefined;
      return;
    }
    this.#nextRequest();
  }

  /** A locally generated error while proxying: answer it if nothing went out yet, then close. */
  #fail(status: number): void {
    this.#clearSendTimeout();
    const up = this.#up;
    this.#up = undefined;
    if (up) { up.owner = undefined; up.conn.destroy(); }
    const method = this.#req?.method ?? 'GET';
    // Once a response has started, the entry keeps its status; otherwise the error is the answer.
    if (this.#pendingAccess !== undefined) this.#flushAccess();
    else this.#access(status);
    this.#action?.release?.();
    this.#action = undefined;
    if (this.#resBytesOut > 0) { this.#sock.destroy(); return; }
    this.#localResponse(status, [['Content-Type', 'text/html']], errorBody(status), false, method);
  }

  #localResponse(status: number, headers: readonly (readonly [string, string])[], body: string, keepAlive: boolean, method: string): void {
    let s = `HTTP/1.1 ${status} ${reasonPhrase(status)}\r\nServer: podgate\r\nDate: ${new Date(this.#ctx.now()).toUTCString()}\r\n`;
    for (const [k, v] of headers) s += `${k}: ${v}\r\n`;
    const len = Buffer.byteLength(body);
    // A 204 or 304 has no body and says no length, as nginx's do (RFC 9110 §8.6).
    if (status !== 204 && status !== 304) s += `Content-Length: ${len}\r\n`;
    s += `Connection: ${keepAlive ? 'keep-alive' : 'close'}\r\n\r\n`;
    if (method !== 'HEAD') s += body;
    this.#req = undefined;
    if (keepAlive) {
      this.#sock.write(s);
      this.#nextRequest();
    } else {
      this.#state = ST_CLOSED;
      this.#buf = undefined;
      this.#sock.end(s);
      this.#linger();
    }
  }

  /**
   * nginx's lingering close, after end(): read and drop what the client still sends (an unread
   * body, pipelined requests, TLS close_notify), so that closing with unread bytes does not reset
   * the connection before the answer is read; 5 s without a byte, 30 s in all at most.
   */
  #linger(): void {
    this.#sock.resume();
    this.#sock.setTimeout(LINGERING_TIMEOUT_MS);
    const sock = this.#sock;
    this.#lingerTimer ??= setTimeout(() => sock.destroy(), LINGERING_TIME_MS).unref();
  }

  #flushAccess(): void {
    const status = this.#pendingAccess;
    if (status === undefined) return;
    this.#pendingAccess = undefined;
    this.#access(status);
  }

  /** One access entry; `answeredRoute` names the route of a request answered here (redirect, 503, 401…). */
  #access(status: number, host?: string, target?: string, answeredRoute?: Route): void {
    const req = this.#req;
    const route = this.#action?.route.route ?? answeredRoute;
    const method = req?.method ?? '-';
    const h = host ?? req?.host ?? '';
    const durationMs = this.#ctx.elapsed() - this.#started;
    this.#ctx.metrics.observe(route, method, status, durationMs);
    const cb = this.#ctx.onAccess;
    if (!cb) return;
    cb({
      remoteAddress: this.#remote, method, host: h, target: target ?? req?.target ?? '',
      status, durationMs,
      ...(route ? { ingress: route.ingress, backend: route.backend.name } : {}),
      ...(this.#up ? { upstream: `${this.#up.endpoint.address}:${this.#up.endpoint.port}` } : {}),
    });
  }

  #onClientClose(): void {
    if (this.#lingerTimer) clearTimeout(this.#lingerTimer);
    this.#flushAccess(); // a response cut short is logged with the status it started with
    this.#state = ST_CLOSED;
    this.#clearSendTimeout();
    this.#action?.release?.();
    this.#action = undefined;
    const up = this.#up;
    this.#up = undefined;
    if (up) { up.owner = undefined; up.conn.destroy(); }
  }
}
