// What to do with one request once its head is known: the annotation behaviour of
// ingress-nginx, in nginx's phase order (app-root in the server's rewrite phase, body size at
// find-config, then the location's rewrite phase: CORS preflight, the redirect annotations, then
// the SSL redirect of its rewrite_by_lua; then limit_req/limit_conn, then deny/allow and
// auth_basic), and the upstream URI after rewrite-target. Shared by the HTTP/1.1 fast path and the HTTP/2 path.
import { gatewayAction } from './gateway-policy.ts';
import { verifyPassword } from './htpasswd.ts';
import type { CompiledCanary, CompiledRoute, Decision } from './router.ts';
import type { Limits } from './shared-limits.ts';
import type { Cors, Endpoint, HeaderEdits, Route } from './route-table.ts';
import { escapeRegExp } from '../util/regexp.ts';

export interface RequestFacts {
  readonly method: string;
  /** Path without the query, as sent. */
  readonly path: string;
  /** The path normalised as nginx's $uri (%XX decoded, slashes merged, dot segments resolved); routes match it. */
  readonly uri: string;
  /** '' or '?…'. */
  readonly query: string;
  /** The Host header as sent (port included). */
  readonly host: string;
  readonly secure: boolean;
  /** The port the connection came to (nginx's $server_port). */
  readonly port: string;
  readonly remoteAddress: string;
  /** -1 when unknown (chunked or absent). */
  readonly contentLength: number;
  /** A request header by lowercase name. */
  header(name: string): string | undefined;
}

export type Action =
  | { readonly kind: 'respond'; readonly status: number; readonly headers: readonly (readonly [string, string])[]; readonly body: string }
  | {
    readonly kind: 'proxy';
    readonly route: CompiledRoute;
    /** Path and query to send upstream. */
    readonly target: string;
    /** The endpoint named by a valid affinity cookie. */
    readonly sticky?: Endpoint;
    /**
     * upstream-hash-by's endpoint for the request's key. Retries go to it again: ingress-nginx's
     * chash balancer returns the same peer on every try of proxy_next_upstream.
     */
    readonly hashed: Endpoint | undefined;
    /** The affinity cookie names its endpoint but not in the current "endpoint|backend" form: it is written again. */
    readonly renewCookie: boolean;
    /** Headers added to the response (CORS). */
    readonly responseHeaders: readonly (readonly [string, string])[];
    /** Must be called when the request ends (releases limit-connections). */
    readonly release?: () => void;
    /** upstream-vhost, expanded: the Host header sent upstream instead of the client's. */
    readonly upstreamHost: string | undefined;
    /** x-forwarded-prefix, expanded: replaces the client's X-Forwarded-Prefix ('' sends none). */
    readonly forwardedPrefix: string | undefined;
    /** HTTPRoute RequestHeaderModifier: the request headers set, added and removed (undefined for Ingress routes). */
    readonly requestEdits: HeaderEdits | undefined;
    /** HTTPRoute ResponseHeaderModifier: upstream response headers (lowercase) replaced or removed; its set/add lines are in responseHeaders. */
    readonly responseDrops: readonly string[] | undefined;
  }
  | {
    /** auth-url: ask the auth service first (external-auth.ts), then proxyAction() decides. */
    readonly kind: 'auth';
    readonly decision: Extract<Decision, { kind: 'route' }>;
    readonly responseHeaders: readonly (readonly [string, string])[];
    readonly release?: () => void;
  };

export type ProxyAction = Extract<Action, { kind: 'proxy' }>;

/** nginx's ngx_http_status_lines; codes it has no line for get an empty reason ("HTTP/1.1 300 "). */
const REASONS: Record<number, string> = {
  200: 'OK', 201: 'Created', 202: 'Accepted', 204: 'No Content', 206: 'Partial Content',
  301: 'Moved Permanently', 302: 'Moved Temporarily', 303: 'See Other', 304: 'Not Modified', 307: 'Temporary Redirect', 308: 'Permanent Redirect',
  400: 'Bad Request', 401: 'Unauthorized', 402: 'Payment Required', 403: 'Forbidden', 404: 'Not Found', 405: 'Not Allowed', 406: 'Not Acceptable',
  408: 'Request Time-out', 409: 'Conflict', 410: 'Gone', 411: 'Length Required', 412: 'Precondition Failed', 413: 'Request Entity Too Large',
  414: 'Request-URI Too Large', 415: 'Unsupported Media Type', 416: 'Requested Range Not Satisfiable', 421: 'Misdirected Request', 429: 'Too Many Requests',
  // Not nginx's: it answers an oversized head with 400 "Request Header Or Cookie Too Large".
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error', 501: 'Not Implemented', 502: 'Bad Gateway', 503: 'Service Temporarily Unavailable', 504: 'Gateway Time-out',
  505: 'HTTP Version Not Supported', 507: 'Insufficient Storage',
};

/** The reason phrase of nginx's status line for `status` ('' when nginx has none). */
export function reasonPhrase(status: number): string {
  return REASONS[status] ?? '';
}

/** nginx's own status for a plain HTTP request on an HTTPS port (NGX_HTTP_TO_HTTPS): it goes out as 400. */
export const HTTP_TO_HTTPS = 497;

/** The end of nginx's error pages (ngx_http_error_tail), naming podgate where nginx names itself. */
const PAGE_END = '<hr><center>podgate</center>\r\n</body>\r\n</html>\r\n';

/** Why nginx answers 400, for its own statuses that go out as 400 with a page saying so. */
const BAD_REQUEST_WHY: Readonly<Record<number, string>> = { [HTTP_TO_HTTPS]: 'The plain HTTP request was sent to HTTPS port' };

/**
 * nginx's built-in error page, which ingress-nginx's default backend answers with too. For
 * HTTP_TO_HTTPS it is the page of nginx's 400 to a plain HTTP request on an HTTPS port.
 */
export function errorBody(status: number): string {
  const why = BAD_REQUEST_WHY[status];
  // ngx_http_error_497_page: the title says why, the heading is the status line's, a line says why again.
  if (why !== undefined) return `<html>\r\n<head><title>400 ${why}</title></head>\r\n<body>\r\n<center><h1>400 Bad Request</h1></center>\r\n<center>${why}</center>\r\n${PAGE_END}`;
  // The page title differs from the status line only for 401 (ngx_http_error_401_page).
  const t = status === 401 ? '401 Authorization Required' : `${status} ${reasonPhrase(status)}`.trimEnd();
  return `<html>\r\n<head><title>${t}</title></head>\r\n<body>\r\n<center><h1>${t}</h1></center>\r\n${PAGE_END}`;
}

export function respond(status: number, headers: (readonly [string, string])[] = []): Extract<Action, { kind: 'respond' }> {
  return { kind: 'respond', status, headers: [['Content-Type', 'text/html'], ...headers], body: errorBody(status) };
}

function redirect(status: number, location: string): Action {
  return respond(status, [['Location', location]]);
}

/** Decides one request: a ready-made response, or where and how to proxy it. */
export function decideAction(d: Decision, req: RequestFacts, limits: Limits, httpsPort: number): Action {
  // nginx refuses these itself, whatever the route: TRACE (it would echo credentials) and CONNECT
  // (a proxy is not a tunnel to anywhere).
  if (req.method === 'TRACE' || req.method === 'CONNECT') return respond(405);
  if (d.kind === 'not-found') return respond(404);
  // HTTPRoute rules of the host (no Ingress path matched): they decide, or hand back the host's fallback.
  if (d.kind === 'gateway') return gatewayAction(d, req, (next) => decideAction(next, req, limits, httpsPort));
  if (d.kind === 'host-redirect') return redirect(308, hostRedirectLocation(d.to, req));
  if (d.appRoot !== undefined) return redirect(302, `${req.secure ? 'https' : 'http'}://${req.host}${d.appRoot}`);
  const r = d.route;
  const o = r.route.options;
  if (o.maxBodyBytes > 0 && req.contentLength > o.maxBodyBytes) return respond(413);
  if (o.denied) return respond(503);
  let corsHeaders: (readonly [string, string])[] = [];
  if (o.cors) {
    corsHeaders = corsResponseHeaders(o.cors, r.corsOrigin, req.header('origin'));
    // Only an allowed origin's preflight is answered; any other OPTIONS goes on like a request.
    if (req.method === 'OPTIONS' && corsHeaders.length) {
      return { kind: 'respond', status: 204, headers: [...corsHeaders, ['Content-Type', 'text/plain charset=UTF-8']], body: '' };
    }
  }
  // The annotation's `return` runs in nginx's rewrite phase, before the SSL redirect of ingress-nginx's rewrite_by_lua.
  if (o.redirect) return redirect(o.redirect.code, expandRedirectVariables(o.redirect.url, req, d.match));
  if (!req.secure && r.redirectToHttps) {
    return redirect(308, `https://${hostName(req.host)}${httpsPort === 443 ? '' : `:${httpsPort}`}${req.path}${req.query}`);
  }
  // One zone per Ingress and client, as ingress-nginx names its limit_req/limit_conn zones after
  // the Ingress: every path of it counts against the same limit.
  if (o.limitRps !== undefined && !limits.allowRequest(`${r.route.ingress}|${req.remoteAddress}`, o.limitRps, Math.floor(o.limitRps * o.limitBurstMultiplier))) return respond(503);
  // limit-rpm is a zone of its own (rate N/m, burst N × multiplier), checked after limit-rps.
  if (o.limitRpm !== undefined && !limits.allowRequest(`${r.route.ingress}|rpm|${req.remoteAddress}`, o.limitRpm / 60, Math.floor(o.limitRpm * o.limitBurstMultiplier))) return respond(503);
  let release: (() => void) | undefined;
  if (o.limitConnections !== undefined) {
    release = limits.acquireConnection(`${r.route.ingress}|${req.remoteAddress}`, o.limitConnections);
    if (!release) return respond(503);
  }
  const refuse = (a: Action): Action => { release?.(); return a; };
  if (r.deny || r.allow) {
    const addr = stripV4Mapped(req.remoteAddress);
    const family = req.remoteAddress.includes(':') && !req.remoteAddress.startsWith('::ffff:') ? 'ipv6' : 'ipv4';
    // nginx's `deny` lines (denylist) come before the `allow` lines and `deny all` (allowlist).
    if (r.deny?.check(addr, family) || (r.allow && !r.allow.check(addr, family))) return refuse(respond(403));
  }
  if (o.basicAuth && !isAuthorized(o.basicAuth.users, req.header('authorization'))) {
    return refuse(respond(401, [['WWW-Authenticate', `Basic realm="${o.basicAuth.realm.replace(/"/g, '')}"`]]));
  }
  // auth_request runs in nginx's access phase with allow/deny and auth_basic (satisfy all).
  if (r.auth) return { kind: 'auth', decision: d, responseHeaders: corsHeaders, ...(release ? { release } : {}) };
  return proxyAction(d, req, corsHeaders, release);
}

/**
 * from-to-www-redirect: ingress-nginx's redirect server answers `return 308 $redirect_to`, which its
 * ngx_srv_redirect.lua makes `$scheme://<to>:$server_port$request_uri` with one trailing slash of
 * the URI dropped (so `/` gives no path at all). The port is always written, 80 and 443 too.
 */
export function hostRedirectLocation(to: string, req: RequestFacts): string {
  const uri = req.path + req.query;
  return `${req.secure ? 'https' : 'http'}://${to}:${req.port}${uri.endsWith('/') ? uri.slice(0, -1) : uri}`;
}

/**
 * nginx variables in a redirect annotation's URL (`return 301 https://new.example.com$request_uri`);
 * unknown ones stay as written; `$1`-style captures are the location regex's (empty without one), as
 * the annotation's `return` sits in the location block.
 */
export function expandRedirectVariables(url: string, req: RequestFacts, match?: RegExpExecArray): string {
  // $uri is %XX-decoded: a CR or LF it brings back must not end the Location line and start a
  // header of the client's choosing (nginx's own `return 301 …$uri` would), so controls are
  // %-encoded again.
  return expandVariables(url, req, match, undefined).replace(/[\x00-\x1f\x7f]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
}

const VARIABLE = /\$(?:(\d)|\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))/g;

/**
 * nginx variables in an annotation's value, as nginx expands them in `return` and
 * `proxy_set_header`: `$1`-style captures of the location's regex (`match`), request variables, and
 * the variables ingress-nginx sets in each location (`route`: $namespace, $ingress_name,
 * $service_name, $service_port, $location_path). Unknown ones stay as written.
 */
export function expandVariables(text: string, req: RequestFacts, match: RegExpExecArray | undefined, route: Route | undefined): string {
  if (!text.includes('$')) return text;
  return text.replace(VARIABLE, (whole, digit: string | undefined, braced: string | undefined, plain: string | undefined) => {
    // A capture the location's regex does not have (or a location without one) is empty in nginx.
    if (digit !== undefined) return match?.[Number(digit)] ?? '';
    // nginx looks variables up by their lower-case name (ngx_http_get_variable_index): $HTTP_HOST is $http_host.
    return variable((braced ?? plain!).toLowerCase(), req, route) ?? whole;
  });
}

function variable(name: string, req: RequestFacts, route: Route | undefined): string | undefined {
  switch (name) {
    case 'request_uri': return req.path + req.query;
    case 'uri': case 'document_uri': return req.uri;
    case 'args': case 'query_string': return req.query.slice(1);
    case 'is_args': return req.query ? '?' : '';
    case 'scheme': return req.secure ? 'https' : 'http';
    case 'http_host': return req.host;
    case 'host': return hostName(req.host);
    case 'server_port': return req.port;
    case 'request_method': return req.method;
    case 'remote_addr': return req.remoteAddress;
  }
  if (name.startsWith('http_')) return req.header(name.slice(5).replace(/_/g, '-').toLowerCase()) ?? '';
  return route ? locationVariable(name, route) : undefined;
}

/**
 * An nginx variable expression compiled once (ingress-nginx's util.parse_complex_value): literal
 * text, `$name`/`${name}` variables and `$1`-style captures, expanded per request by
 * evaluateExpression without a regular expression. Variables podgate does not know expand to
 * nothing, as ngx.var gives nil for them.
 */
export type Expression = readonly ExpressionPart[];
type ExpressionPart =
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'capture'; readonly n: number }
  | { readonly kind: 'header'; readonly name: string }
  | { readonly kind: 'arg'; readonly name: string }
  | { readonly kind: 'cookie'; readonly name: string }
  | { readonly kind: 'var'; readonly name: string };

const EXPRESSION_PART = /\$\{([0-9A-Za-z_]+)\}|\$([0-9A-Za-z_]+)|(\$|[^$]+)/g;
const REQUEST_VARIABLES = new Set(['request_uri', 'uri', 'document_uri', 'args', 'query_string', 'is_args', 'scheme', 'http_host', 'host', 'server_port', 'request_method', 'remote_addr']);
const LOCATION_VARIABLES = new Set(['namespace', 'ingress_name', 'service_name', 'service_port', 'location_path']);

export function compileExpression(text: string): Expression {
  const parts: ExpressionPart[] = [];
  for (const m of text.matchAll(EXPRESSION_PART)) {
    // Lower-cased as lua-nginx-module's ngx.var lookup does ($HTTP_X_USER is $http_x_user).
    const name = (m[1] ?? m[2])?.toLowerCase();
    if (name === undefined) parts.push({ kind: 'text', text: m[3]! });
    else if (/^\d+$/.test(name)) parts.push({ kind: 'capture', n: Number(name) });
    else if (name.startsWith('http_')) parts.push({ kind: 'header', name: name.slice(5).replace(/_/g, '-').toLowerCase() });
    else if (name.startsWith('arg_')) parts.push({ kind: 'arg', name: name.slice(4).toLowerCase() });
    else if (name.startsWith('cookie_')) parts.push({ kind: 'cookie', name: name.slice(7).toLowerCase() });
    else parts.push({ kind: 'var', name });
  }
  return parts;
}

/** The variables of an expression podgate cannot expand (they give '' per request). */
export function unknownVariables(e: Expression): string[] {
  return e.flatMap((p) => (p.kind === 'var' && !REQUEST_VARIABLES.has(p.name) && !LOCATION_VARIABLES.has(p.name) ? [`$${p.name}`] : []));
}

/** An expression's value for a request; `route` gives the location variables ($namespace, …). */
export function evaluateExpression(e: Expression, req: RequestFacts, match: RegExpExecArray | undefined, route: Route): string {
  // The common case, one variable (`$request_uri`, `$http_x_user`): its value, no concatenation.
  if (e.length === 1) return partValue(e[0]!, req, match, route);
  let s = '';
  for (let i = 0; i < e.length; i++) s += partValue(e[i]!, req, match, route);
  return s;
}

function partValue(p: ExpressionPart, req: RequestFacts, match: RegExpExecArray | undefined, route: Route): string {
  switch (p.kind) {
    case 'text': return p.text;
    case 'capture': return match?.[p.n] ?? '';
    case 'header': return req.header(p.name) ?? '';
    case 'arg': return queryArgument(req.query, p.name);
    case 'cookie': return cookieNamed(req.header('cookie'), p.name);
    case 'var': return variable(p.name, req, route) ?? '';
  }
}

/** nginx's $arg_NAME: the first `NAME=value` of the query (name case-insensitive, value as sent). */
function queryArgument(query: string, name: string): string {
  let i = 1; // after '?'
  while (i < query.length) {
    let end = query.indexOf('&', i);
    if (end < 0) end = query.length;
    const eq = i + name.length;
    if (eq < end && query.charCodeAt(eq) === 61 /* = */ && sameLowercase(query, i, name)) return query.slice(eq + 1, end);
    i = end + 1;
  }
  return '';
}

/** nginx's $cookie_NAME: the first cookie of that name (`name` lowercase; case-insensitive, as nginx) in the Cookie header. */
function cookieNamed(header: string | undefined, name: string): string {
  if (header === undefined) return '';
  let i = 0;
  while (i < header.length) {
    while (i < header.length && (header.charCodeAt(i) === 32 || header.charCodeAt(i) === 9)) i++;
    let end = header.indexOf(';', i);
    if (end < 0) end = header.length;
    const eq = i + name.length;
    if (eq < end && header.charCodeAt(eq) === 61 /* = */ && sameLowercase(header, i, name)) {
      let stop = end;
      while (stop > eq + 1 && header.charCodeAt(stop - 1) === 32) stop--;
      return header.slice(eq + 1, stop);
    }
    i = end + 1;
  }
  return '';
}

/** Whether `s` at `at` holds `lower` (lowercase ASCII), ignoring ASCII case. */
function sameLowercase(s: string, at: number, lower: string): boolean {
  for (let k = 0; k < lower.length; k++) {
    let c = s.charCodeAt(at + k);
    if (c >= 65 && c <= 90) c += 32;
    if (c !== lower.charCodeAt(k)) return false;
  }
  return true;
}

/** The `set $namespace …` lines of ingress-nginx's location block, from the route. */
function locationVariable(name: string, route: Route): string | undefined {
  const slash = route.ingress.indexOf('/');
  const colon = route.backend.name.lastIndexOf(':');
  switch (name) {
    case 'namespace': return route.ingress.slice(0, slash);
    case 'ingress_name': return route.ingress.slice(slash + 1);
    case 'service_name': return route.backend.name.slice(route.backend.name.indexOf('/') + 1, colon);
    case 'service_port': return route.backend.name.slice(colon + 1);
    case 'location_path': return route.path;
  }
  return undefined;
}

/** nginx's $host: the Host header lowercased, without its port. */
function hostName(h: string): string {
  const s = h.startsWith('[') ? h.slice(0, h.indexOf(']') + 1) : h.replace(/:\d+$/, '');
  return s.toLowerCase();
}

/** The content phase: which endpoint and URI, or 503 when the backend has no ready endpoint. */
export function proxyAction(d: Extract<Decision, { kind: 'route' }>, req: RequestFacts, responseHeaders: readonly (readonly [string, string])[], release: (() => void) | undefined): Action {
  // ingress-nginx answers 503 when the location's own backend has no endpoint, whatever its canary would say.
  if (d.route.pool.endpoints.length === 0) { release?.(); return respond(503); }
  const r = d.route.canary && takesCanary(d.route, d.route.canary, req) ? d.route.canary.route : d.route;
  const o = r.route.options;
  let sticky: Endpoint | undefined;
  let hashed: Endpoint | undefined;
  let renewCookie = false;
  if (o.affinity) {
    const v = cookieValue(req.header('cookie'), o.affinity.name);
    if (v) {
      sticky = r.pool.byCookie(v);
      renewCookie = sticky !== undefined && !r.pool.pins(v);
    }
  } else if (r.pool.hash !== undefined) {
    // ingress-nginx's get_implementation: the sticky balancer wins over chash.
    hashed = r.pool.hash.pick(evaluateExpression(r.pool.hash.key, req, d.match, d.route.route));
  }
  const upstreamHost = o.upstreamVhost === undefined ? undefined : headerValue(o.upstreamVhost, req, d.match, d.route.route) || undefined;
  const forwardedPrefix = o.xForwardedPrefix === undefined ? undefined : forwardedPrefixFor(d.route, o.xForwardedPrefix, d.match, req);
  // One object literal with every field (no spreads: this runs for every proxied request).
  return { kind: 'proxy', route: r, target: upstreamTarget(r, d.match, req.path, req.query), responseHeaders, sticky, hashed, renewCookie, release, upstreamHost, forwardedPrefix, requestEdits: undefined, responseDrops: undefined };
}

/**
 * ingress-nginx sets X-Forwarded-Prefix only in the block that rewrites (buildProxyPass): with no
 * rewrite, or a rewrite-target equal to the path, the client's own header goes on untouched.
 */
function forwardedPrefixFor(r: CompiledRoute, prefix: string, match: RegExpExecArray | undefined, req: RequestFacts): string | undefined {
  const target = r.route.options.rewriteTarget;
  if (target === undefined || target === r.route.path) return undefined;
  return headerValue(prefix, req, match ?? new RegExp(`^${r.route.path}`, 'i').exec(req.path) ?? undefined, r.route);
}

/**
 * An annotation's value for a request header, variables expanded. Control characters a variable
 * brings in ($uri is %XX-decoded) are removed: they would end the header line early.
 */
function headerValue(text: string, req: RequestFacts, match: RegExpExecArray | undefined, route: Route): string {
  if (!text.includes('$')) return text;
  return expandVariables(text, req, match, route).replace(/[\x00-\x08\x0a-\x1f\x7f]/g, '');
}

/**
 * ingress-nginx's route_to_alternative_balancer: a canary without endpoints takes nothing; a request
 * pinned by its sticky cookie stays on that backend; otherwise canary-by-header (`always`/`never`, or the exact canary-by-header-value,
 * or a canary-by-header-pattern match), then canary-by-cookie (`always`/`never`), then
 * canary-weight out of canary-weight-total at random. A header value that decides nothing falls
 * through to the cookie and the weight.
 */
function takesCanary(primary: CompiledRoute, canary: CompiledCanary, req: RequestFacts): boolean {
  // A canary without endpoints has no balancer in ingress-nginx (sync_backend drops it): no split.
  if (canary.route.pool.endpoints.length === 0) return false;
  const pa = primary.route.options.affinity;
  if (pa) {
    const v = cookieValue(req.header('cookie'), pa.name);
    if (v && primary.pool.pins(v)) return false;
  }
  const ca = canary.route.route.options.affinity;
  if (ca) {
    const v = cookieValue(req.header('cookie'), ca.name);
    if (v && canary.route.pool.pins(v)) return true;
  }
  const s = canary.spec;
  if (s.header) {
    const h = req.header(s.header);
    if (h !== undefined) {
      if (s.headerValue) { if (h === s.headerValue) return true; }
      else if (s.headerPattern) {
        // A pattern that cannot be matched is an error in ingress-nginx, and an error means the primary.
        if (!canary.headerPattern) return false;
        if (canary.headerPattern.test(h)) return true;
      }
      else if (h === 'always') return true;
      else if (h === 'never') return false;
    }
  }
  if (s.cookie) {
    const v = cookieValue(req.header('cookie'), s.cookie);
    if (v === 'always') return true;
    if (v === 'never') return false;
  }
  // Lua's math.random(total) <= weight: an integer from 1 to total.
  return s.weight > 0 && Math.floor(Math.random() * s.weightTotal) + 1 <= s.weight;
}

function stripV4Mapped(a: string): string {
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}

/** The URI sent upstream: nginx's `rewrite "(?i)^path" target break;` replaces the whole URI and appends the arguments. */
export function upstreamTarget(r: CompiledRoute, match: RegExpExecArray | undefined, path: string, query: string): string {
  const target = r.route.options.rewriteTarget;
  // ingress-nginx's buildProxyPass writes no rewrite when the target is the path itself.
  if (target === undefined || target === r.route.path) return path + query;
  const m = match ?? new RegExp(`^${r.route.path}`, 'i').exec(path);
  if (!m) return path + query;
  const out = target.replace(/\$(\d)/g, (_, n: string) => m[Number(n)] ?? '');
  if (out.includes('?')) return query ? `${out}&${query.slice(1)}` : out;
  return out + query;
}

/**
 * ingress-nginx's CORS template: with `*` every response gets `Access-Control-Allow-Origin: *`;
 * otherwise only an Origin matching the list (case-insensitive) gets the headers, with its own value.
 */
function corsResponseHeaders(c: Cors, allowed: RegExp | undefined, origin: string | undefined): (readonly [string, string])[] {
  let allow: string | undefined;
  if (!allowed) allow = '*';
  else if (origin && allowed.test(origin)) allow = origin;
  if (!allow) return [];
  const h: [string, string][] = [['Access-Control-Allow-Origin', allow]];
  if (c.allowCredentials) h.push(['Access-Control-Allow-Credentials', 'true']);
  h.push(['Access-Control-Allow-Methods', c.allowMethods], ['Access-Control-Allow-Headers', c.allowHeaders]);
  if (c.exposeHeaders) h.push(['Access-Control-Expose-Headers', c.exposeHeaders]);
  h.push(['Access-Control-Max-Age', String(c.maxAgeSeconds)]);
  return h;
}

/**
 * The origins of cors-allow-origin as one case-insensitive regular expression (ingress-nginx's
 * buildCorsOriginRegex: the first `*` of an origin stands for one DNS label); undefined for `*`.
 * Anchored at both ends (ingress-nginx anchors only the end; browsers send nothing before the scheme).
 */
export function corsOriginRegex(origins: readonly string[]): RegExp | undefined {
  if (origins.includes('*')) return undefined;
  const alts = origins.map((o) => escapeRegExp(o).replace('\\*', '[A-Za-z0-9\\-]+'));
  return new RegExp(`^(${alts.length ? alts.join('|') : '(?!)'})$`, 'i');
}

function isAuthorized(users: Readonly<Record<string, string>>, authorization: string | undefined): boolean {
  if (!authorization || !/^basic /i.test(authorization)) return false;
  const decoded = Buffer.from(authorization.slice(6).trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return false;
  const hash = Object.hasOwn(users, decoded.slice(0, colon)) ? users[decoded.slice(0, colon)] : undefined;
  return hash !== undefined && verifyPassword(decoded.slice(colon + 1), hash);
}

export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** The Set-Cookie value for sticky sessions (ingress-nginx: HttpOnly, path of the location unless set). */
export function affinityCookie(r: CompiledRoute, value: string, secure: boolean, now: number): string {
  const a = r.route.options.affinity!;
  const path = a.path ?? (r.regex ? '/' : r.route.path);
  let s = `${a.name}=${value}; Path=${path}; HttpOnly`;
  if (a.expiresSeconds !== undefined) s += `; Expires=${new Date(now + a.expiresSeconds * 1000).toUTCString()}`;
  if (a.maxAgeSeconds !== undefined) s += `; Max-Age=${a.maxAgeSeconds}`;
  if (a.secure || (secure && a.sameSite === 'None')) s += '; Secure';
  if (a.sameSite) s += `; SameSite=${a.sameSite}`;
  return s;
}
