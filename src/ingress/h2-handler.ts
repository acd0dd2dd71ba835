// HTTP/2 (negotiated by ALPN on the TLS listener): node:http2 parses the streams and node:http
// carries each request to the endpoint over HTTP/1.1 with keep-alive agents. This is the
// general, slower path; the same request policy decides as on the HTTP/1.1 fast path.
import http from 'node:http';
import https from 'node:https';
import http2 from 'node:http2';
import { randomBytes } from 'node:crypto';
import type net from 'node:net';
import { checkExternalAuth, shouldSetAuthCookie, type AuthOutcome } from './external-auth.ts';
import { affinityCookie, decideAction, proxyAction, respond, type Action, type ProxyAction, type RequestFacts } from './request-policy.ts';
import { normalizePath } from './normalize-path.ts';
import type { Limits } from './shared-limits.ts';
import type { AccessEntry } from './http1-connection.ts';
import type { RequestMetrics } from './metrics.ts';
import type { Endpoint, Route } from './route-table.ts';
import type { Router } from './router.ts';
import { defaultConnector } from './upstream-pool.ts';

export interface H2Context {
  readonly router: Router;
  readonly limits: Limits;
  readonly httpsPort: number;
  /** Opens auth-url subrequest sockets (the proxy's connector seam); the default connector without it. */
  readonly pool?: { connect(ep: Endpoint, protocol: 'HTTP' | 'HTTPS'): net.Socket };
  now(): number;
  readonly metrics?: RequestMetrics;
  onAccess?(entry: AccessEntry): void;
}

// Hop-by-hop and connection-specific fields (RFC 9113 §8.2.2: HTTP/2 refuses them), and what the proxy sets itself.
const HOP = new Set(['connection', 'keep-alive', 'proxy', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'http2-settings',
  'x-forwarded-for', 'x-forwarded-host', 'x-forwarded-port', 'x-forwarded-proto', 'x-forwarded-scheme', 'x-scheme', 'x-real-ip', 'host']);
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

export class H2Handler {
  readonly #ctx: H2Context;
  readonly #httpAgent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  readonly #httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 256, rejectUnauthorized: false });

  constructor(ctx: H2Context) {
    this.#ctx = ctx;
  }

  close(): void {
    this.#httpAgent.destroy();
    this.#httpsAgent.destroy();
  }

  /** The route a stream's metrics and access log name: the canary's once the request goes there. */
  readonly #observed = new WeakMap<http2.ServerHttp2Stream, { route: Route | undefined }>();

  /** Metrics and the access log for one stream, once it is over (duration: until the stream closed). */
  #observe(stream: http2.ServerHttp2Stream, route: Route | undefined, method: string, host: string, target: string, remote: string): void {
    const { metrics, onAccess } = this.#ctx;
    if (!metrics && !onAccess) return;
    const started = this.#ctx.now();
    const seen = { route };
    this.#observed.set(stream, seen);
    stream.once('close', () => {
      const status = Number(stream.sentHeaders?.[':status'] ?? 0) || 499;
      const durationMs = this.#ctx.now() - started;
      const { route } = seen;
      metrics?.observe(route, method, status, durationMs);
      onAccess?.({ remoteAddress: remote, method, host, target, status, durationMs, ...(route ? { ingress: route.ingress, backend: route.backend.name } : {}) });
    });
  }

  handle(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    stream.on('error', () => {});
    const method = String(headers[':method'] ?? 'GET');
    const target = String(headers[':path'] ?? '/');
    const host = String(headers[':authority'] ?? headers.host ?? '');
    const q = target.indexOf('?');
    const path = q < 0 ? target : target.slice(0, q);
    const query = q < 0 ? '' : target.slice(q);
    const remote = stream.session?.socket?.remoteAddress ?? '';
    // Routes match the normalised path, as nginx's locations do; the raw one goes upstream.
    const routed = normalizePath(path);
    if (routed === undefined) { respondStream(stream, method, respond(400)); return; }
    const cl = headers['content-length'] !== undefined ? Number(headers['content-length']) : -1;
    const facts: RequestFacts = {
      method, path, uri: routed, query, host, secure: true, port: String(stream.session?.socket?.localPort ?? ''), remoteAddress: remote, contentLength: Number.isFinite(cl) ? cl : -1,
      header: (n) => { const v = headers[n]; return Array.isArray(v) ? v.join(', ') : v; },
    };
    const decision = this.#ctx.router.decide(host, routed);
    this.#observe(stream, decision.kind === 'route' ? decision.route.route : undefined, method, host, target, remote);
    const action = decideAction(decision, facts, this.#ctx.limits, this.#ctx.httpsPort);
    if (action.kind === 'respond') { respondStream(stream, method, action); return; }
    if (action.kind === 'auth') { this.#authenticate(stream, headers, facts, target, remote, action); return; }
    this.#proxy(stream, headers, facts, remote, action, undefined);
  }

  /** auth-url: the subrequest first (the request body waits in the stream), then answer or proxy. */
  #authenticate(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, facts: RequestFacts, target: string, remote: string, action: Extract<Action, { kind: 'auth' }>): void {
    const auth = action.decision.route.auth!;
    const list: [string, string][] = [];
    for (const [k, v] of Object.entries(headers)) {
      if (k.startsWith(':') || v === undefined) continue;
      for (const x of Array.isArray(v) ? v : [String(v)]) list.push([k, x]);
    }
    const rid = headers['x-request-id'];
    const requestId = typeof rid === 'string' && rid ? rid : randomBytes(16).toString('hex');
    const input = { method: facts.method, requestUri: target, host: facts.host, secure: true, remoteAddress: remote, requestId, headers: list };
    const connect = this.#ctx.pool ? (ep: Endpoint, p: 'HTTP' | 'HTTPS') => this.#ctx.pool!.connect(ep, p) : defaultConnector;
    void checkExternalAuth(auth.spec, auth.pool, input, connect).then((outcome) => {
      if (stream.closed || stream.destroyed) { action.release?.(); return; }
      if (outcome.kind === 'deny') { action.release?.(); respondStream(stream, facts.method, outcome.action); return; }
      const next = proxyAction(action.decision, facts, action.responseHeaders, action.release);
      if (next.kind !== 'proxy') { respondStream(stream, facts.method, next as Extract<Action, { kind: 'respond' }>); return; }
      this.#proxy(stream, headers, facts, remote, next, { requestId, outcome });
    }).catch(() => {
      // A bug on this path must cost this stream only, never the process.
      action.release?.();
      stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
    });
  }

  #proxy(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, facts: RequestFacts, remote: string, action: ProxyAction,
    grant: { readonly requestId: string; readonly outcome: Extract<AuthOutcome, { kind: 'allow' }> } | undefined): void {
    const { method, host } = facts;
    const seen = this.#observed.get(stream);
    if (seen) seen.route = action.route.route;
    const out: http.OutgoingHttpHeaders = {};
    for (const [k, v] of Object.entries(headers)) {
      if (k.startsWith(':') || HOP.has(k) || v === undefined) continue;
      if (k === 'cookie' && Array.isArray(v)) { out[k] = v.join('; '); continue; }
      out[k] = v;
    }
    // upstream-vhost replaces the Host; X-Forwarded-Host below stays the client's, as ingress-nginx's $best_http_host.
    out.host = action.upstreamHost ?? host;
    // x-forwarded-prefix replaces the client's own ('' sends none, as nginx's proxy_set_header with an empty value).
    if (action.forwardedPrefix !== undefined) {
      if (action.forwardedPrefix) out['x-forwarded-prefix'] = action.forwardedPrefix;
      else delete out['x-forwarded-prefix'];
    }
    // Basic auth's credentials stay here (ingress-nginx: proxy_set_header Authorization "").
    if (action.route.route.options.basicAuth) delete out.authorization;
    if (grant) {
      // auth-response-headers replace the client's own (proxy_set_header, set even when empty).
      for (const name of grant.outcome.drop) delete out[name];
      for (const [k, v] of grant.outcome.upstreamHeaders) out[k.toLowerCase()] = v;
      out['x-request-id'] = grant.requestId;
    }
    // HTTPRoute RequestHeaderModifier.
    const edits = action.requestEdits;
    if (edits !== undefined) {
      for (const n of edits.remove) delete out[n];
      for (const [k, v] of edits.set) out[k.toLowerCase()] = v;
      for (const [k, v] of edits.add) { const n = k.toLowerCase(); const prev = out[n]; out[n] = prev === undefined ? v : `${Array.isArray(prev) ? prev.join(', ') : String(prev)}, ${v}`; }
    }
    out['x-request-id'] ??= randomBytes(16).toString('hex');
    Object.assign(out, {
      'x-real-ip': remote, 'x-forwarded-for': remote, 'x-forwarded-host': host, 'x-forwarded-port': String(stream.session?.socket?.localPort ?? ''),
      'x-forwarded-proto': 'https', 'x-forwarded-scheme': 'https', 'x-scheme': 'https',
    });
    const o = action.route.route.options;
    const tried: Endpoint[] = [];
    let released = false;
    const release = () => { if (!released) { released = true; action.release?.(); } };
    /** The upstream failed or sent what HTTP/2 cannot carry: 502 (504 for a timeout) while nothing is sent, else the stream is reset. */
    const fail = (status: number) => {
      release();
      if (stream.closed) return;
      // Reset, not ended: close() would end the stream first (END_STREAM, the body taken for whole);
      // destroy with an error sends RST_STREAM(INTERNAL_ERROR) alone, as nginx does.
      if (stream.headersSent) { stream.destroy(new Error('the upstream response was cut short')); return; }
      stream.respond({ ':status': status, 'content-type': 'text/html' });
      stream.end();
      // Answered before the client finished its body: RST_STREAM(NO_ERROR) tells it to stop
      // sending (RFC 9113 §8.1), instead of letting it fill the session's memory.
      if (!stream.readableEnded) stream.once('finish', () => stream.close(http2.constants.NGHTTP2_NO_ERROR));
    };
    // Only bodyless requests are retried on another endpoint: a streamed body cannot be replayed.
    const bodyless = stream.endAfterHeaders;
    const attempt = (ep: Endpoint) => {
      tried.push(ep);
      const mod = o.backendProtocol === 'HTTPS' ? https : http;
      const req = mod.request({
        host: ep.address, port: ep.port, method, path: action.target, headers: out,
        agent: o.backendProtocol === 'HTTPS' ? this.#httpsAgent : this.#httpAgent, timeout: o.readTimeoutMs,
      });
      let responded = false;
      let response: http.IncomingMessage | undefined;
      // The client went away (RST_STREAM, or the session closed) before the answer was over: the
      // upstream request goes too, as nginx closes the upstream on a client abort.
      stream.once('close', () => { if (!req.destroyed && !(response?.complete ?? false)) req.destroy(); });
      // A 101 to a request that asked for no upgrade: nothing HTTP/2 can carry.
      req.on('upgrade', (_res, socket) => { responded = true; socket.destroy(); fail(502); });
      req.on('response', (res) => {
        responded = true;
        response = res;
        const status = res.statusCode ?? 502;
        if (status < 200 || status > 599) { res.destroy(); fail(502); return; }
        const h: http2.OutgoingHttpHeaders = { ':status': status };
        for (const [k, v] of Object.entries(res.headers)) if (!HOP.has(k) && v !== undefined) h[k] = v;
        if (action.responseDrops !== undefined) for (const n of action.responseDrops) delete h[n];
        for (const [k, v] of action.responseHeaders) h[k.toLowerCase()] = v;
        if (grant && grant.outcome.cookies.length && shouldSetAuthCookie(action.route.auth!.spec, res.statusCode ?? 502)) {
          const prev = h['set-cookie'];
          h['set-cookie'] = [...(prev === undefined ? [] : Array.isArray(prev) ? prev : [String(prev)]), ...grant.outcome.cookies];
        }
        if (o.affinity && (action.renewCookie || action.sticky !== ep)) {
          const c = affinityCookie(action.route, action.route.pool.cookieFor(ep), true, this.#ctx.now());
          const prev = h['set-cookie'];
          h['set-cookie'] = prev === undefined ? [c] : Array.isArray(prev) ? [...prev, c] : [String(prev), c];
        }
        if (stream.closed) { res.destroy(); release(); return; }
        try {
          stream.respond(h);
        } catch {
          // A field HTTP/2 refuses that the list above does not know: 502, never a thrown error.
          res.destroy();
          fail(502);
          return;
        }
        res.pipe(stream);
        res.on('end', release);
        // Cut short (the upstream closed or reset mid-body): the client must see it, not wait forever.
        res.on('close', () => { if (!res.complete) fail(502); });
      });
      req.on('timeout', () => req.destroy(new Error('upstream timeout')));
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (responded) { fail(502); return; }
        const retry = (err.code === 'ECONNREFUSED' || err.code === 'EHOSTUNREACH' || IDEMPOTENT.has(method)) && tried.length < (action.hashed ? 3 : Math.min(3, action.route.pool.endpoints.length)) && bodyless;
        // upstream-hash-by: the hashed endpoint again, as ingress-nginx's chash balancer answers every try.
        if (retry && action.hashed) { attempt(action.hashed); return; }
        if (retry) {
          for (let i = 0; i < action.route.pool.endpoints.length; i++) {
            const e = action.route.pool.next()!;
            if (!tried.includes(e)) { attempt(e); return; }
          }
        }
        fail(err.message === 'upstream timeout' ? 504 : 502);
      });
      if (bodyless) req.end();
      else pipeBody(stream, req, o.sendTimeoutMs, o.readTimeoutMs);
    };
    attempt(action.sticky ?? action.hashed ?? action.route.pool.next()!);
  }
}

function respondStream(stream: http2.ServerHttp2Stream, method: string, action: Extract<Action, { kind: 'respond' }>): void {
  if (stream.closed) return;
  const h: http2.OutgoingHttpHeaders = { ':status': action.status, server: 'podgate' };
  for (const [k, v] of action.headers) {
    const name = k.toLowerCase();
    const prev = h[name];
    // Set-Cookie and WWW-Authenticate may come more than once.
    h[name] = prev === undefined ? v : [...(Array.isArray(prev) ? prev : [String(prev)]), v];
  }
  stream.respond(h);
  stream.end(method === 'HEAD' ? undefined : action.body);
}

/**
 * stream.pipe(req) with nginx's proxy_send_timeout: while the upstream takes no bytes (a write
 * returned false) for `sendTimeoutMs`, the request fails as an upstream timeout (504); the read
 * timeout is off meanwhile, as nginx starts proxy_read_timeout only once the request is sent.
 */
function pipeBody(src: http2.ServerHttp2Stream, req: http.ClientRequest, sendTimeoutMs: number, readTimeoutMs: number): void {
  let timer: NodeJS.Timeout | undefined;
  const stop = () => { if (timer) { clearTimeout(timer); timer = undefined; } };
  src.on('data', (c: Buffer) => {
    // Once the upstream request is gone the rest of the body is read and dropped, so the client's
    // flow-control window keeps moving and it reads our answer instead of a stream error.
    if (req.destroyed || req.write(c) || timer) return;
    src.pause();
    req.setTimeout(0);
    timer = setTimeout(() => { timer = undefined; req.destroy(new Error('upstream timeout')); }, sendTimeoutMs);
  });
  req.on('drain', () => {
    if (timer) { stop(); req.setTimeout(readTimeoutMs); }
    src.resume();
  });
  src.on('end', () => req.end());
  src.on('close', () => { if (!src.readableEnded) req.destroy(); });
  req.on('close', () => { stop(); src.resume(); });
}
