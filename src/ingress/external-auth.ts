// auth-url: ingress-nginx's external authentication (nginx's auth_request). Before a request is
// proxied, a subrequest without body goes to the auth URL with the client's headers and those
// ingress-nginx's internal auth location sets (X-Original-URL, X-Original-Method,
// X-Auth-Request-Redirect, …). A 2xx lets the request through with the auth-response-headers
// copied into it; 401 and 403 are answered to the client (a 401 becomes a 302 to auth-signin when
// set); any other status, or no answer at all, is a 500 — auth_request's rules.
import http from 'node:http';
import type net from 'node:net';
import { respond, type Action } from './request-policy.ts';
import type { Endpoint, ExternalAuth } from './route-table.ts';
import type { BackendPool } from './router.ts';

/** What the subrequest and the variables need from the client's request. */
export interface AuthRequestInput {
  readonly method: string;
  /** nginx's $request_uri: the path and query as sent. */
  readonly requestUri: string;
  /** nginx's $http_host: the Host header (or :authority) as sent. */
  readonly host: string;
  readonly secure: boolean;
  readonly remoteAddress: string;
  /** The X-Request-ID sent upstream too. */
  readonly requestId: string;
  /** The client's header fields, names as sent. */
  readonly headers: readonly (readonly [string, string])[];
}

export type AuthOutcome =
  | {
    readonly kind: 'allow';
    /** Lowercase auth-response-headers names: the client's own copies never reach the upstream. */
    readonly drop: readonly string[];
    /** Those the auth service answered with a non-empty value. */
    readonly upstreamHeaders: readonly (readonly [string, string])[];
    /** The auth response's Set-Cookie values (nginx's $auth_cookie). */
    readonly cookies: readonly string[];
  }
  | { readonly kind: 'deny'; readonly action: Extract<Action, { kind: 'respond' }> };

/** Opens a socket to an endpoint (the proxy's connector seam). */
export type AuthConnector = (ep: Endpoint, protocol: 'HTTP' | 'HTTPS') => net.Socket;

// ingress-nginx's internal auth location inherits the server's defaults, not the location's annotations.
const CONNECT_TIMEOUT_MS = 5000;
const READ_TIMEOUT_MS = 60_000;
// Not passed on: framing and hop-by-hop fields (nginx's proxy module drops or replaces them) and
// those the auth location sets itself.
const NOT_PASSED = new Set(['host', 'connection', 'keep-alive', 'proxy', 'proxy-connection', 'te', 'upgrade', 'transfer-encoding', 'content-length', 'expect',
  'x-forwarded-proto', 'x-request-id', 'x-original-url', 'x-original-method', 'x-sent-from', 'x-real-ip', 'x-forwarded-for', 'x-auth-request-redirect',
  'x-original-uri', 'x-scheme']);
/** What node:http refuses in a header value (its checkInvalidHeaderChar). */
const INVALID_VALUE = /[^\t\x20-\x7e\x80-\xff]/;
/** add_header without `always` only adds to these statuses (nginx's ngx_http_headers_filter). */
const ADD_HEADER_STATUSES = new Set([200, 201, 204, 206, 301, 302, 303, 304, 307, 308]);

/** Whether the auth response's cookies go on a client response with this status. */
export function shouldSetAuthCookie(spec: ExternalAuth, status: number): boolean {
  return spec.alwaysSetCookie || ADD_HEADER_STATUSES.has(status);
}

/** set-misc's set_escape_uri (nginx's NGX_ESCAPE_URI_COMPONENT): everything but unreserved characters is %-escaped. */
export function escapeUriComponent(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** nginx variables as ingress-nginx's templates use them; unknown ones stay as written. */
export function expandVariables(template: string, input: AuthRequestInput): string {
  if (!template.includes('$')) return template;
  const scheme = input.secure ? 'https' : 'http';
  const q = input.requestUri.indexOf('?');
  const args = q < 0 ? '' : input.requestUri.slice(q + 1);
  return template.replace(/\$([A-Za-z_][A-Za-z0-9_]*)/g, (whole, written: string) => {
    // nginx looks variables up by their lower-case name (ngx_http_get_variable_index).
    const name = written.toLowerCase();
    switch (name) {
      case 'scheme': case 'pass_access_scheme': return scheme;
      case 'host': case 'best_http_host': return name === 'host' ? hostName(input.host) : input.host;
      case 'http_host': return input.host;
      case 'request_uri': return input.requestUri;
      case 'escaped_request_uri': return escapeUriComponent(input.requestUri);
      case 'uri': return q < 0 ? input.requestUri : input.requestUri.slice(0, q);
      case 'args': case 'query_string': return args;
      case 'is_args': return q < 0 ? '' : '?';
      case 'request_method': return input.method;
      case 'remote_addr': return input.remoteAddress;
      case 'request_id': case 'req_id': return input.requestId;
      default:
        if (name.startsWith('http_')) {
          const want = name.slice(5).replace(/_/g, '-').toLowerCase();
          return input.headers.find(([k]) => k.toLowerCase() === want)?.[1] ?? '';
        }
        return whole;
    }
  });
}

function hostName(h: string): string {
  const s = h.startsWith('[') ? h.slice(0, h.indexOf(']') + 1) : h.replace(/:\d+$/, '');
  return s.toLowerCase();
}

/** The headers of the subrequest: the client's, then those ingress-nginx's auth location sets. */
export function authRequestHeaders(spec: ExternalAuth, input: AuthRequestInput): http.OutgoingHttpHeaders {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of input.headers) {
    const name = k.toLowerCase();
    // Values Node would refuse to send (control characters) are left out rather than failing the check.
    if (NOT_PASSED.has(name) || INVALID_VALUE.test(v)) continue;
    const prev = out[name];
    if (prev === undefined) out[name] = v;
    else if (name === 'cookie') out[name] = `${String(prev)}; ${v}`;
    else out[name] = Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  const scheme = input.secure ? 'https' : 'http';
  out.host = spec.host;
  out['x-request-id'] = input.requestId;
  if (spec.method !== undefined) {
    out['x-original-uri'] = input.requestUri;
    out['x-scheme'] = scheme;
  }
  out['x-original-url'] = `${scheme}://${input.host}${input.requestUri}`;
  out['x-original-method'] = input.method;
  out['x-sent-from'] = 'nginx-ingress-controller';
  out['x-real-ip'] = input.remoteAddress;
  out['x-forwarded-for'] = input.remoteAddress;
  out['x-auth-request-redirect'] = spec.requestRedirect !== undefined ? expandVariables(spec.requestRedirect, input) : input.requestUri;
  return out;
}

/** ingress-nginx's buildAuthSignURL: `rd=$pass_access_scheme://$http_host$escaped_request_uri` added unless the URL already sets it. */
export function signinLocation(spec: ExternalAuth, input: AuthRequestInput): string {
  const url = spec.signinUrl!;
  const param = spec.signinRedirectParam;
  const q = url.indexOf('?');
  const query = q < 0 ? '' : url.slice(q + 1);
  let withRedirect: string;
  if (query === '') withRedirect = `${url}?${param}=$pass_access_scheme://$http_host$escaped_request_uri`;
  else if (query.split('&').some((kv) => { const eq = kv.indexOf('='); return eq > 0 && kv.slice(0, eq) === param && kv.length > eq + 1; })) withRedirect = url;
  else withRedirect = `${url}&${param}=$pass_access_scheme://$http_host$escaped_request_uri`;
  return expandVariables(withRedirect, input);
}

const list = (v: string | string[] | undefined): string[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/** auth_request's decision from the auth response's status and headers. */
export function authOutcome(spec: ExternalAuth, status: number, headers: http.IncomingHttpHeaders, input: AuthRequestInput): AuthOutcome {
  const cookies = list(headers['set-cookie']);
  if (status >= 200 && status < 300) {
    const upstreamHeaders: [string, string][] = [];
    for (const name of spec.responseHeaders) {
      const v = headers[name.toLowerCase()];
      const value = Array.isArray(v) ? v[0] : v;
      if (value) upstreamHeaders.push([name, value]);
    }
    return { kind: 'allow', drop: spec.responseHeaders.map((h) => h.toLowerCase()), upstreamHeaders, cookies };
  }
  if (status === 401) {
    if (spec.signinUrl !== undefined) {
      return { kind: 'deny', action: respond(302, [['Location', signinLocation(spec, input)], ...cookies.map((c) => ['Set-Cookie', c] as const)]) };
    }
    return { kind: 'deny', action: respond(401, list(headers['www-authenticate']).map((v) => ['WWW-Authenticate', v] as const)) };
  }
  if (status === 403) return { kind: 'deny', action: respond(403) };
  return { kind: 'deny', action: respond(500) };
}

/** Sends the subrequest to one endpoint of the auth backend; never rejects (no answer is a 500). */
export function checkExternalAuth(spec: ExternalAuth, pool: BackendPool, input: AuthRequestInput, connect: AuthConnector,
  timeouts: { readonly connectMs: number; readonly readMs: number } = { connectMs: CONNECT_TIMEOUT_MS, readMs: READ_TIMEOUT_MS }): Promise<AuthOutcome> {
  const ep = pool.next();
  if (!ep) return Promise.resolve(authOutcome(spec, 502, {}, input));
  return new Promise((resolve) => {
    let settled = false;
    const done = (o: AuthOutcome) => { if (!settled) { settled = true; resolve(o); } };
    let req: http.ClientRequest;
    try {
      req = http.request({
        method: spec.method ?? 'GET', path: expandVariables(spec.target, input), headers: authRequestHeaders(spec, input),
        // No agent: createConnection is used only then (one connection per check, as ingress-nginx's default auth-keepalive 0).
        createConnection: () => {
          const s = connect(ep, spec.protocol);
          s.setTimeout(timeouts.connectMs);
          s.once(spec.protocol === 'HTTPS' ? 'secureConnect' : 'connect', () => s.setTimeout(timeouts.readMs));
          // A ClientRequest passes a socket's timeout on only after req.setTimeout(); end it here.
          s.on('timeout', () => s.destroy(new Error('auth request timed out')));
          return s;
        },
      });
    } catch {
      // Node refuses some header values it is given (ERR_INVALID_CHAR): no answer, so a 500.
      done(authOutcome(spec, 502, {}, input));
      return;
    }
    req.on('response', (res) => {
      done(authOutcome(spec, res.statusCode ?? 502, res.headers, input));
      res.resume(); // the body is not used
      res.on('error', () => {});
    });
    req.on('error', () => done(authOutcome(spec, 502, {}, input)));
    req.end();
  });
}
