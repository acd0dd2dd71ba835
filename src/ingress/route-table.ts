// The route table: the whole desired state of the L7 proxy as one plain, immutable value.
// translate() builds it from API objects; the router compiles it; the controller compares two of
// them with isSameRouteTable() and skips the swap when nothing changed (Traefik's pattern).
import { isDeepStrictEqual } from 'node:util';

export type PathType = 'Exact' | 'Prefix' | 'ImplementationSpecific';

/** One ready endpoint of a backend (a pod IP and the resolved target port). */
export interface Endpoint {
  readonly address: string;
  readonly port: number;
}

export interface Backend {
  /** "namespace/service:port" as written in the Ingress; names the backend in logs and limits. */
  readonly name: string;
  /** Ready endpoints, sorted; empty means 503. */
  readonly endpoints: readonly Endpoint[];
  /**
   * upstream-hash-by of the oldest Ingress naming this Service port (ingress-nginx keeps it per
   * upstream): an nginx variable expression whose value picks the endpoint by consistent hashing.
   */
  readonly hashBy?: string;
}

export interface CookieAffinity {
  readonly name: string;
  readonly path?: string;
  readonly maxAgeSeconds?: number;
  readonly expiresSeconds?: number;
  readonly sameSite?: 'None' | 'Lax' | 'Strict';
  readonly secure: boolean;
  readonly changeOnFailure: boolean;
}

export interface Cors {
  /** ['*'], or origins as written where one `*` stands for a DNS label (`https://*.example.com`). */
  readonly allowOrigins: readonly string[];
  readonly allowMethods: string;
  readonly allowHeaders: string;
  readonly exposeHeaders: string;
  readonly allowCredentials: boolean;
  readonly maxAgeSeconds: number;
}

export interface BasicAuth {
  readonly realm: string;
  /** user → htpasswd hash, from the auth Secret. */
  readonly users: Readonly<Record<string, string>>;
}

/**
 * auth-url: a subrequest before proxying, as ingress-nginx's auth_request location. Strings may
 * hold nginx variables ($host, $request_uri, $escaped_request_uri, …), expanded per request.
 */
export interface ExternalAuth {
  /** The auth-url as written. */
  readonly url: string;
  readonly protocol: 'HTTP' | 'HTTPS';
  /** The Host header sent: the URL's host name, without the port (as ingress-nginx sets it). */
  readonly host: string;
  /** Path and query of the URL. */
  readonly target: string;
  /** Where the subrequest connects: a cluster Service's endpoints when the host names one, else the host and port. */
  readonly backend: Backend;
  /** auth-method; the subrequest is a GET without it (nginx subrequests are GETs). */
  readonly method?: string;
  /** auth-response-headers: copied from the auth response into the upstream request. */
  readonly responseHeaders: readonly string[];
  /** auth-signin: a 401 becomes a 302 to it, with `<redirect param>=<original URL>` added. */
  readonly signinUrl?: string;
  readonly signinRedirectParam: string;
  /** auth-request-redirect: the X-Auth-Request-Redirect value (default: the request URI). */
  readonly requestRedirect?: string;
  /** auth-always-set-cookie: the auth response's Set-Cookie on every response, not only 2xx/3xx. */
  readonly alwaysSetCookie: boolean;
}

/** Per-route behaviour from `nginx.ingress.kubernetes.io/*` annotations, validated. */
export interface RouteOptions {
  readonly rewriteTarget?: string;
  readonly useRegex: boolean;
  readonly sslRedirect: boolean;
  readonly forceSslRedirect: boolean;
  readonly backendProtocol: 'HTTP' | 'HTTPS';
  readonly affinity?: CookieAffinity;
  /** Bytes; 0 means unlimited. */
  readonly maxBodyBytes: number;
  readonly connectTimeoutMs: number;
  readonly readTimeoutMs: number;
  readonly sendTimeoutMs: number;
  readonly allowSourceRanges?: readonly string[];
  /** denylist-source-range: checked before the allow list, as ingress-nginx writes its `deny` lines first. */
  readonly denySourceRanges?: readonly string[];
  /**
   * temporal-redirect, else permanent-redirect (ingress-nginx's redirect parser): `return <code> <url>`,
   * the URL with nginx variables ($request_uri, $scheme, $host, …) expanded per request.
   */
  readonly redirect?: { readonly url: string; readonly code: number };
  /** Applies to the whole host: `if ($uri = /)` at server level in ingress-nginx's template. */
  readonly appRoot?: string;
  readonly cors?: Cors;
  readonly basicAuth?: BasicAuth;
  readonly externalAuth?: ExternalAuth;
  readonly limitRps?: number;
  /** limit-rpm: a second limit_req zone counted per minute; burst is limit-rpm × limit-burst-multiplier. */
  readonly limitRpm?: number;
  readonly limitBurstMultiplier: number;
  readonly limitConnections?: number;
  readonly sslPassthrough: boolean;
  /**
   * upstream-vhost: the Host header sent upstream (ingress-nginx's `proxy_set_header Host`), with
   * nginx variables expanded per request; X-Forwarded-Host keeps the client's Host.
   */
  readonly upstreamVhost?: string;
  /**
   * x-forwarded-prefix: the X-Forwarded-Prefix header sent upstream, `$1`-style captures and nginx
   * variables expanded per request. Only sent where rewrite-target rewrites, as ingress-nginx writes
   * it inside its rewrite block.
   */
  readonly xForwardedPrefix?: string;
  /** Set when a security annotation (auth, source ranges) is unusable: the route answers 503, as ingress-nginx's denied locations do. */
  readonly denied?: string;
}

/** ingress-nginx's traffic-shaping policy of a canary (its canary-* annotations), validated. */
export interface TrafficShaping {
  /** canary-weight: this many requests in `weightTotal` go to the canary. */
  readonly weight: number;
  /** canary-weight-total; ingress-nginx counts anything under 100 as 100. */
  readonly weightTotal: number;
  /** canary-by-header, lowercase. */
  readonly header?: string;
  readonly headerValue?: string;
  /** canary-by-header-pattern as written (PCRE-style, unanchored). */
  readonly headerPattern?: string;
  readonly cookie?: string;
}

/**
 * A canary Ingress's share of another Ingress's path: ingress-nginx's alternative backend and its
 * traffic-shaping policy (canary-by-header[-value|-pattern], canary-by-cookie, canary-weight). The
 * request otherwise keeps the primary route's options, as ingress-nginx ignores a canary's other
 * annotations.
 */
export interface Canary extends TrafficShaping {
  /** "namespace/name" of the canary Ingress. */
  readonly ingress: string;
  readonly backend: Backend;
  /** The canary backend's session affinity: the primary's, or none under affinity-canary-behavior: legacy. */
  readonly affinity?: CookieAffinity;
}

export interface Route {
  /** Stable identity: "namespace/ingress|host|pathType|path"; keys rate limits and metrics. */
  readonly id: string;
  /** "namespace/name" of the Ingress it came from. */
  readonly ingress: string;
  readonly host: string; // '' = any host
  readonly path: string;
  readonly pathType: PathType;
  readonly backend: Backend;
  readonly options: RouteOptions;
  /** The first canary Ingress (oldest) naming this host, path and path type. */
  readonly canary?: Canary;
}

/**
 * Gateway API (gateway.networking.k8s.io/v1 HTTPRoute) matching, filters and weighted backends.
 * Kept apart from Route so a host with only Ingress paths compiles and routes exactly as before:
 * the router consults these only for requests no Ingress path of the host matched.
 */
export type GatewayPathType = 'Exact' | 'PathPrefix' | 'RegularExpression';

/** One HTTPRouteMatch: every condition must hold (HTTPRouteMatch: "ANDed together"). */
export interface GatewayMatch {
  readonly path: { readonly type: GatewayPathType; readonly value: string };
  /** Header names lowercase (HTTPHeaderMatch: names are case-insensitive). */
  readonly headers: readonly { readonly type: 'Exact' | 'RegularExpression'; readonly name: string; readonly value: string }[];
  /** Query parameter names as written (HTTPQueryParamMatch: case-sensitive). */
  readonly queryParams: readonly { readonly type: 'Exact' | 'RegularExpression'; readonly name: string; readonly value: string }[];
  readonly method?: string;
}

/** HTTPHeaderFilter: set replaces, add appends, remove drops (names lowercase in `remove`). */
export interface HeaderEdits {
  readonly set: readonly (readonly [string, string])[];
  readonly add: readonly (readonly [string, string])[];
  readonly remove: readonly string[];
}

export interface PathModifier {
  readonly type: 'ReplaceFullPath' | 'ReplacePrefixMatch';
  readonly value: string;
}

export interface GatewayFilters {
  readonly requestHeaders?: HeaderEdits;
  readonly responseHeaders?: HeaderEdits;
  readonly redirect?: {
    readonly scheme?: 'http' | 'https';
    readonly hostname?: string;
    readonly port?: number;
    readonly path?: PathModifier;
    readonly statusCode: number;
  };
  readonly rewrite?: { readonly hostname?: string; readonly path?: PathModifier };
}

/** A backendRef with its weight; `backend` absent: the reference is invalid and its share answers 500. */
export interface WeightedBackend {
  readonly weight: number;
  readonly backend?: Backend;
}

/** One (rule, match) of an HTTPRoute, on one host; HostRoutes.gateway lists them in precedence order. */
export interface GatewayRule {
  /** "namespace/route|rule index|match index". */
  readonly id: string;
  /** "namespace/name" of the HTTPRoute. */
  readonly route: string;
  readonly match: GatewayMatch;
  readonly backends: readonly WeightedBackend[];
  readonly filters: GatewayFilters;
  /** The options every proxied request of the rule gets (timeouts, protocol): the defaults. */
  readonly options: RouteOptions;
  /** From an HTTPS listener (requests on the HTTPS port) or an HTTP one (the HTTP port). */
  readonly secure: boolean;
}

export interface HostRoutes {
  readonly host: string; // exact, "*.suffix" or '' (rules without a host)
  /** In the order Ingresses were created; the router orders them for matching. */
  readonly routes: readonly Route[];
  /** Route for requests on this host that match no path (the host's Ingress defaultBackend). */
  readonly fallback?: Route;
  /** Listed in some Ingress's spec.tls: plain HTTP is redirected unless ssl-redirect is false. */
  readonly tls: boolean;
  /** server-alias: more exact host names served by this host's routes (none of them a host of its own). */
  readonly aliases?: readonly string[];
  /** HTTPRoute rules for this host, in the Gateway API's precedence order; tried after the Ingress paths. */
  readonly gateway?: readonly GatewayRule[];
}

/** from-to-www-redirect: requests for `from` are redirected to the same URI on host `to`. */
export interface HostRedirect {
  readonly from: string;
  readonly to: string;
}

export interface Certificate {
  /** "namespace/secret". */
  readonly secret: string;
  readonly hosts: readonly string[];
  readonly certPem: string;
  readonly keyPem: string;
}

export interface Passthrough {
  readonly host: string;
  readonly backend: Backend;
}

export interface StreamService {
  readonly protocol: 'TCP' | 'UDP';
  readonly port: number;
  readonly backend: Backend;
  /**
   * TCP only, the entry's first `:PROXY`: every client connection must start with a PROXY protocol
   * header (v1 or v2), which is read and not forwarded; one without is closed (nginx's `listen ...
   * proxy_protocol`). Absent: off.
   */
  readonly decodeProxyProtocol?: boolean;
  /**
   * TCP only, the entry's second `:PROXY`: each upstream connection starts with a PROXY protocol v1
   * line for the client connection (nginx's `proxy_protocol on`). Absent: off.
   */
  readonly sendProxyProtocol?: boolean;
}

export interface Problem {
  /** "Kind/namespace/name" of the object the event goes on. */
  readonly object: { readonly kind: string; readonly namespace: string; readonly name: string };
  readonly reason: string;
  readonly message: string;
}

export interface RouteTable {
  readonly hosts: readonly HostRoutes[];
  /** For hosts no rule names: the oldest Ingress's spec.defaultBackend. */
  readonly defaultRoute?: Route;
  /** from-to-www-redirect servers, by `from`. */
  readonly hostRedirects?: readonly HostRedirect[];
  readonly certificates: readonly Certificate[];
  readonly passthrough: readonly Passthrough[];
  readonly streams: readonly StreamService[];
  /** "namespace/name" of every Ingress this controller serves (their status gets our address). */
  readonly served: readonly string[];
  readonly problems: readonly Problem[];
}

export const emptyRouteTable: RouteTable = { hosts: [], certificates: [], passthrough: [], streams: [], served: [], problems: [] };

/** Whether two tables would route every request the same way (problems included). */
export function isSameRouteTable(a: RouteTable, b: RouteTable): boolean {
  return isDeepStrictEqual(a, b);
}
