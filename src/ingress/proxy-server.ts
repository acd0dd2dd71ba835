// The L7 proxy's I/O edge: the HTTP and HTTPS listeners, TLS by SNI from the current route table,
// HTTP/2 by ALPN, ssl-passthrough by peeking at the ClientHello, and the tcp/udp-services
// listeners. setRoutes() swaps the router in one assignment: each request reads the router once,
// so requests in flight finish on the table they started with. A plain HTTP request on the HTTPS
// port gets nginx's 400 "The plain HTTP request was sent to HTTPS port".
import { performance } from 'node:perf_hooks';
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import type { CertKeyPem } from '../pki/certificates.ts';
import { LiveList } from '../util/live-list.ts';
import { readClientHelloSni, startsTls } from './client-hello.ts';
import { H2Handler } from './h2-handler.ts';
import { StreamConn, type Conn } from './conn.ts';
import { findHeadEnd, HeadError, parseRequestHead, type RequestHead } from './http-head.ts';
import { Http1Connection, type AccessEntry, type ProxyContext } from './http1-connection.ts';
import { rawTcp } from './raw-conn.ts';
import { emptyRouteTable, type RouteTable } from './route-table.ts';
import { Router } from './router.ts';
import { RequestMetrics, type MetricsSnapshot } from './metrics.ts';
import { errorBody, HTTP_TO_HTTPS, reasonPhrase } from './request-policy.ts';
import { type Limits, SharedLimits } from './shared-limits.ts';
import { StreamProxy } from './stream-proxy.ts';
import { generateDefaultCertificate, TlsStore, CIPHERS } from './tls-store.ts';
import { UpstreamPool, type Connector } from './upstream-pool.ts';

export interface ProxyServerOptions {
  /** 0 picks a free port (tests); undefined or null disables the listener. */
  readonly httpPort?: number | null;
  readonly httpsPort?: number | null;
  /** Address to listen on; all addresses when omitted. */
  readonly bindAddress?: string;
  /** Port written into HTTPS redirects (defaults to the HTTPS listener's port). */
  readonly publicHttpsPort?: number;
  readonly defaultCertificate?: CertKeyPem;
  readonly now?: () => number;
  readonly connector?: Connector;
  readonly maxHeadBytes?: number;
  readonly clientIdleTimeoutMs?: number;
  /** The whole request head must be in within this time of its first bytes (ingress-nginx's client-header-timeout, 60 s). */
  readonly clientHeaderTimeoutMs?: number;
  readonly upstreamIdleTimeoutMs?: number;
  readonly onAccess?: (e: AccessEntry) => void;
  readonly log?: (msg: string) => void;
  /** SO_REUSEPORT on the listeners, so several threads can each listen on the same ports. */
  readonly reusePort?: boolean;
  /** limit-rps / limit-connections state; shared between worker threads (shared-limits.ts). */
  readonly limits?: Limits;
}

// How long a new connection to the HTTPS port may be silent before its first bytes are in (all of
// the ClientHello with ssl-passthrough on); the TLS handshake's own timeout runs after that.
const PEEK_TIMEOUT_MS = 10_000;
// nginx's lingering_timeout and lingering_time, for a plain HTTP client answered on the HTTPS port.
const LINGERING_TIMEOUT_MS = 5000;
const LINGERING_TIME_MS = 30_000;

export class ProxyServer {
  readonly #opts: ProxyServerOptions;
  readonly #now: () => number;
  #router = new Router(emptyRouteTable);
  readonly #limits: Limits;
  readonly #metrics = new RequestMetrics();
  readonly #pool: UpstreamPool;
  readonly #streams: StreamProxy;
  #tlsStore: TlsStore | undefined;
  #http: net.Server | undefined;
  #https: net.Server | undefined;
  #tlsServer: tls.Server | undefined;
  #h2Server: http2.Http2Server | undefined;
  #h2: H2Handler | undefined;
  // What is open, to close on stop(): lists, not Sets (see LiveList).
  readonly #clients = new LiveList<net.Socket>();
  /** HTTP/1.1 clients on raw handles (raw-conn.ts). */
  readonly #rawClients = new LiveList<Conn>();
  readonly #h2Sessions = new LiveList<http2.Http2Session>();
  readonly #ctx: { -readonly [K in keyof ProxyContext]: ProxyContext[K] };
  #redirectPort = 443;
  #httpPortText = '';
  #httpsPortText = '';
  #lastAcceptLog = -Infinity;

  constructor(opts: ProxyServerOptions) {
    this.#opts = opts;
    this.#now = opts.now ?? Date.now;
    this.#limits = opts.limits ?? new SharedLimits({ now: this.#now });
    this.#pool = new UpstreamPool({ ...(opts.connector ? { connector: opts.connector } : {}), ...(opts.upstreamIdleTimeoutMs ? { idleTimeoutMs: opts.upstreamIdleTimeoutMs } : {}) });
    this.#streams = new StreamProxy({ ...(opts.bindAddress ? { bindAddress: opts.bindAddress } : {}), ...(opts.log ? { log: opts.log } : {}) });
    // Read on every request: plain data properties in one literal (no getters, no spread), so the
    // connections' loads of them stay monomorphic inline loads. router and httpsPort are assigned
    // here when they change.
    this.#ctx = {
      router: this.#router,
      pool: this.#pool,
      limits: this.#limits,
      // Set at start, since Server.address() is a getsockname(2) call.
      httpsPort: this.#redirectPort,
      maxHeadBytes: opts.maxHeadBytes ?? 32 * 1024,
      clientIdleTimeoutMs: opts.clientIdleTimeoutMs ?? 75_000,
      clientHeaderTimeoutMs: opts.clientHeaderTimeoutMs ?? 60_000,
      now: this.#now,
      elapsed: rawTcp?.eventTime ?? (() => performance.now()),
      metrics: this.#metrics,
      onAccess: opts.onAccess,
    };
  }

  /** The router new requests use. */
  get router(): Router {
    return this.#router;
  }

  /** Installs a new route table: certificates, stream listeners, then the router in one assignment. */
  async setRoutes(table: RouteTable): Promise<void> {
    this.#tlsStore?.update(table.certificates);
    this.#router = this.#ctx.router = new Router(table);
    await this.#streams.update(table.streams);
  }

  get httpPort(): number | undefined {
    const a = this.#http?.address();
    return a && typeof a === 'object' ? a.port : undefined;
  }

  get httpsPort(): number | undefined {
    const a = this.#https?.address();
    return a && typeof a === 'object' ? a.port : undefined;
  }

  /** Request counts and durations per Ingress and Service since start. */
  async metrics(): Promise<MetricsSnapshot> {
    return this.#metrics.snapshot();
  }

  /** Bound port of a tcp-services entry (for tests). */
  tcpServicePort(port: number): number | undefined {
    return this.#streams.tcpPort(port);
  }

  get pool(): UpstreamPool {
    return this.#pool;
  }

  /** Listens on the configured ports; rejects when a port cannot be bound. */
  async start(): Promise<void> {
    const { httpPort, httpsPort, bindAddress } = this.#opts;
    if (httpPort !== undefined && httpPort !== null) {
      // allowHalfOpen: a client FIN must not end our side before its requests are answered (onEnd).
      this.#http = net.createServer({ noDelay: true, allowHalfOpen: true }, (sock) => this.#track(sock) && new Http1Connection(this.#ctx, new StreamConn(sock), false, this.#httpPortText));
      await listen(this.#http, httpPort, bindAddress, this.#opts.reusePort);
      this.#httpPortText = String(this.httpPort);
      this.#http.on('error', (err) => this.#acceptFailed(err));
      // Accepted connections go straight to raw handles: no net.Socket per client.
      rawTcp?.takeOver(this.#http, (conn) => {
        const entry = this.#rawClients.add(conn);
        new Http1Connection(this.#ctx, conn, false, this.#httpPortText, () => this.#rawClients.remove(entry));
      }, (err) => this.#acceptFailed(err));
    }
    if (httpsPort !== undefined && httpsPort !== null) {
      const cert = this.#opts.defaultCertificate ?? await generateDefaultCertificate(new Date(this.#now()));
      this.#tlsStore = new TlsStore(cert);
      this.#tlsStore.update(this.#router.table.certificates);
      const store = this.#tlsStore;
      this.#tlsServer = tls.createServer({
        allowHalfOpen: true,
        cert: cert.certPem, key: cert.keyPem, minVersion: 'TLSv1.2', ciphers: CIPHERS, honorCipherOrder: true,
        ALPNProtocols: ['h2', 'http/1.1'],
        SNICallback: (name, cb) => cb(null, store.contextFor(name)),
      });
      this.#tlsServer.on('secureConnection', (s) => this.#onSecure(s));
      this.#tlsServer.on('tlsClientError', (_err, s) => s.destroy());
      this.#h2 = new H2Handler(this.#ctx);
      this.#h2Server = http2.createServer({ settings: { enableConnectProtocol: false } });
      this.#h2Server.on('session', (s) => { const entry = this.#h2Sessions.add(s); s.on('close', () => this.#h2Sessions.remove(entry)); });
      this.#h2Server.on('stream', (stream, headers) => this.#h2!.handle(stream, headers));
      this.#https = net.createServer({ noDelay: true, allowHalfOpen: true }, (sock) => { if (this.#track(sock)) this.#onTlsConnection(sock); });
      await listen(this.#https, httpsPort, bindAddress, this.#opts.reusePort);
      this.#https.on('error', (err) => this.#acceptFailed(err));
      this.#httpsPortText = String(this.httpsPort);
    }
    this.#redirectPort = this.#ctx.httpsPort = this.#opts.publicHttpsPort ?? this.httpsPort ?? 443;

  }

  /** Stops listening and closes every connection it holds. */
  async stop(): Promise<void> {
    const closing = [this.#http, this.#https].filter((s): s is net.Server => !!s).map((s) => new Promise<void>((r) => s.close(() => r())));
    for (const s of this.#h2Sessions.values()) s.destroy();
    for (const c of this.#clients.values()) c.destroy();
    for (const c of this.#rawClients.values()) c.destroy();
    this.#pool.destroy();
    this.#h2?.close();
    await this.#streams.close();
    await Promise.all(closing);
  }

  /**
   * A listener could not accept: logged (at most once a second for both listeners), and it keeps
   * listening, as nginx does. (Out of file descriptors, libuv itself accepts and closes what waits.)
   */
  #acceptFailed(err: Error): void {
    const now = this.#now();
    if (now - this.#lastAcceptLog < 1000) return;
    this.#lastAcceptLog = now;
    this.#opts.log?.(`ingress proxy: accept failed: ${err.message}`);
  }

  #track(sock: net.Socket): boolean {
    const entry = this.#clients.add(sock);
    sock.on('close', () => this.#clients.remove(entry));
    return true;
  }

  #onTlsConnection(sock: net.Socket): void {
    // The first byte tells TLS from plain HTTP (as nginx tells them), so every connection is peeked
    // at. With ssl-passthrough on, TLS is peeked at until the ClientHello's SNI is read; then it is
    // either spliced to the backend or terminated here.
    const passthrough = this.#router.hasPassthrough;
    let buf: Buffer | undefined;
    const onTimeout = () => sock.destroy();
    sock.setTimeout(PEEK_TIMEOUT_MS, onTimeout);
    const onData = (c: Buffer) => {
      buf = buf ? Buffer.concat([buf, c]) : c;
      const plain = !startsTls(buf[0]!);
      const r = passthrough && !plain ? readClientHelloSni(buf) : undefined;
      if (r?.kind === 'incomplete' && buf.length < 16 * 1024 + 5) return;
      sock.removeListener('data', onData);
      sock.removeListener('end', onEnd);
      sock.pause();
      sock.setTimeout(0, onTimeout);
      if (plain) { answerPlainHttp(sock, buf, this.#ctx); return; }
      const pool = r?.kind === 'done' && r.serverName ? this.#router.passthrough(r.serverName) : undefined;
      if (pool) { this.#passthrough(sock, buf, pool.next()); return; }
      // Terminated here: the TLS socket takes over the paused socket and first reads what is
      // buffered in it. No resume(): a flowing socket with no 'data' listener would drop the
      // unshifted ClientHello before TLS sees it, and the handshake would hang.
      sock.unshift(buf);
      this.#tlsServer!.emit('connection', sock);
    };
    // A client that goes before its first bytes (a TCP health check) is let go at once; the
    // listener is half-open, so nothing else would close it before the peek timeout.
    const onEnd = () => sock.destroy();
    sock.on('data', onData);
    sock.once('end', onEnd);
    sock.on('error', () => {});
  }

  #passthrough(client: net.Socket, first: Buffer, ep: { address: string; port: number } | undefined): void {
    if (!ep) { client.destroy(); return; }
    const up = net.connect({ host: ep.address, port: ep.port, noDelay: true });
    up.on('error', () => client.destroy());
    client.on('close', () => up.destroy());
    up.on('close', () => client.destroy());
    up.once('connect', () => {
      up.write(first);
      client.pipe(up);
      up.pipe(client);
      client.resume();
    });
  }

  #onSecure(s: tls.TLSSocket): void {
    if (s.alpnProtocol === 'h2') { this.#h2Server!.emit('connection', s); return; }
    // HTTP/1.1 over TLS: the TLS handle is driven directly too (raw-conn.ts), node:tls otherwise.
    const conn = rawTcp?.adoptTls(s);
    if (conn) {
      const entry = this.#rawClients.add(conn);
      new Http1Connection(this.#ctx, conn, true, this.#httpsPortText, () => this.#rawClients.remove(entry));
      return;
    }
    new Http1Connection(this.#ctx, new StreamConn(s), true, this.#httpsPortText);
  }
}

/**
 * A plain HTTP request on the HTTPS port. nginx reads it as it would on an HTTP port and, once the
 * head is whole, answers 400 with the page of its status 497 ("The plain HTTP request was sent to
 * HTTPS port") and closes; a head that does not parse gets the error page of its status instead
 * (and, as on the HTTP port, no access log entry). Until then it is an HTTP client like any: an
 * idle one, or one that ends, is let go without a word.
 */
function answerPlainHttp(sock: net.Socket, first: Buffer, ctx: ProxyContext): void {
  const started = ctx.elapsed();
  let buf = first;
  let answered = false;
  let partial = false;
  const tryAnswer = () => {
    const verdict = plainHttpVerdict(buf, ctx.maxHeadBytes, partial);
    if (verdict === undefined) { partial = true; return; }
    answered = true;
    if (verdict.head) logPlainHttp(ctx, sock, verdict.head, started);
    closeWith(sock, closingAnswer(verdict.status, errorBody(verdict.page), verdict.head?.method ?? 'GET', ctx.now()));
  };
  sock.on('timeout', () => sock.destroy());
  sock.setTimeout(ctx.clientIdleTimeoutMs);
  // The head must be whole by client-header-timeout, however slowly it trickles in (as on the HTTP port).
  const deadline = setTimeout(() => { if (!answered) sock.destroy(); }, ctx.clientHeaderTimeoutMs);
  sock.once('close', () => clearTimeout(deadline));
  // After the answer, what the client still sends (a body, more requests) is read and dropped.
  sock.on('data', (c: Buffer) => { if (!answered) { buf = Buffer.concat([buf, c]); tryAnswer(); } });
  sock.on('end', () => { if (!answered) sock.end(); });
  tryAnswer();
  sock.resume();
}

/**
 * What a plain HTTP request on the HTTPS port earns: undefined while its head is not whole; the
 * status line's status and the page to send (HTTP_TO_HTTPS's, or the status's own for a head that
 * does not parse); the head when there is one. `partial`: buf held no whole head last time.
 */
function plainHttpVerdict(buf: Buffer, maxHeadBytes: number, partial: boolean): { status: number; page: number; head?: RequestHead } | undefined {
  try {
    // A head that comes in many small reads is not parsed again from its start for each.
    if (partial && findHeadEnd(buf, maxHeadBytes) < 0) return undefined;
    const head = parseRequestHead(buf, maxHeadBytes);
    return head && { status: 400, page: HTTP_TO_HTTPS, head };
  } catch (err) {
    const status = err instanceof HeadError ? err.status : 400;
    return { status, page: status };
  }
}

/**
 * The access log entry nginx writes for its 400 to a plain HTTP request. It is not counted in the
 * metrics: ingress-nginx counts requests in its locations' log_by_lua, and nginx answers this one
 * before it looks for a location.
 */
function logPlainHttp(ctx: ProxyContext, sock: net.Socket, head: RequestHead, started: number): void {
  ctx.onAccess?.({ remoteAddress: sock.remoteAddress ?? '', method: head.method, host: head.host ?? '', target: head.target, status: 400, durationMs: ctx.elapsed() - started });
}

/** A local answer that closes the connection, in the shape of Http1Connection's: no body for HEAD. */
function closingAnswer(status: number, body: string, method: string, now: number): string {
  const head = `HTTP/1.1 ${status} ${reasonPhrase(status)}\r\nServer: podgate\r\nDate: ${new Date(now).toUTCString()}\r\n` +
    `Content-Type: text/html\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n`;
  return method === 'HEAD' ? head : head + body;
}

/**
 * Sends `answer` and ends the connection with nginx's lingering close: the client's unread bytes
 * are read and dropped until it ends, so the close does not reset the connection before the answer
 * is read; 5 s without a byte, 30 s in all at most.
 */
function closeWith(sock: net.Socket, answer: string): void {
  sock.end(answer, 'latin1');
  sock.setTimeout(LINGERING_TIMEOUT_MS);
  const cap = setTimeout(() => sock.destroy(), LINGERING_TIME_MS).unref();
  sock.once('close', () => clearTimeout(cap));
}

function listen(server: net.Server, port: number, host: string | undefined, reusePort = false): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, ...(host ? { host } : {}), ...(reusePort ? { reusePort } : {}) }, () => { server.removeListener('error', reject); resolve(); });
  });
}
