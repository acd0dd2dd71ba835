// The request-time view of a RouteTable: built once per table (maps of exact and wildcard hosts,
// per-host maps of Exact and Prefix paths, regex lists ordered as ingress-nginx orders its
// locations), then answering host+path in O(path depth) map lookups. Immutable once built; the
// proxy swaps whole routers, so a request keeps the router it started with.
import { createHash } from 'node:crypto';
import { BlockList, isIPv6 } from 'node:net';
import type { Backend, Canary, Endpoint, ExternalAuth, GatewayRule, HostRoutes, Route, RouteTable } from './route-table.ts';
import { compileExpression, corsOriginRegex, type Expression } from './request-policy.ts';
import { usesRegex } from './translate.ts';
import { escapeRegExp, guardRegExpBacktracking } from '../util/regexp.ts';

/**
 * A backend with its round-robin cursor and sticky-cookie index. The sticky cookie's value is
 * "<endpoint>|<backend>", as ingress-nginx's sticky balancer writes it: the endpoint by a hash (so
 * any replica resolves it), the backend by ingress-nginx's backend key, which tells whether a
 * request is already pinned to a canary's backend or its primary's.
 */
export class BackendPool {
  readonly backend: Backend;
  readonly endpoints: readonly Endpoint[];
  /** ingress-nginx's backend_key: md5(md5(name) .. name) of its upstream name "namespace-service-port". */
  readonly key: string;
  readonly #byCookie = new Map<string, Endpoint>();
  readonly #cookieOf = new Map<string, string>();
  /** upstream-hash-by: the key expression and the ring of the endpoints, made with the pool. */
  readonly hash: HashRing | undefined;
  #next = 0;

  constructor(backend: Backend, rings?: (hashBy: string, endpoints: readonly Endpoint[]) => HashRing) {
    this.backend = backend;
    this.endpoints = backend.endpoints;
    this.hash = backend.hashBy !== undefined && backend.endpoints.length > 0 ? (rings?.(backend.hashBy, backend.endpoints) ?? new HashRing(compileExpression(backend.hashBy), backend.endpoints)) : undefined;
    const upstream = backend.name.replace('/', '-').replace(/:([^:]*)$/, '-$1');
    const md5 = (s: string) => createHash('md5').update(s).digest('hex');
    this.key = md5(md5(upstream) + upstream);
    for (const e of backend.endpoints) {
      const h = createHash('sha1').update(`${e.address}:${e.port}`).digest('hex').slice(0, 32);
      this.#byCookie.set(h, e);
      this.#cookieOf.set(`${e.address}:${e.port}`, `${h}|${this.key}`);
    }
  }

  /** Next endpoint in round-robin order; undefined when none is ready. */
  next(): Endpoint | undefined {
    const n = this.endpoints.length;
    if (n === 0) return undefined;
    const e = this.endpoints[this.#next % n]!;
    this.#next = (this.#next + 1) % n;
    return e;
  }

  /** The cookie value naming an endpoint (by address and port: sockets outlive route tables). */
  cookieFor(ep: Endpoint): string {
    return this.#cookieOf.get(`${ep.address}:${ep.port}`) ?? '';
  }

  /** The endpoint a sticky cookie's value names (its part before "|"). */
  byCookie(value: string): Endpoint | undefined {
    const bar = value.indexOf('|');
    return this.#byCookie.get(bar < 0 ? value : value.slice(0, bar));
  }

  /** Whether a sticky cookie's value was written for this backend (ingress-nginx's is_affinitized). */
  pins(value: string): boolean {
    const bar = value.indexOf('|');
    return bar >= 0 && value.slice(bar + 1) === this.key;
  }
}

/** Points per endpoint on the ring (resty.chash's CONSISTENT_POINTS, for weight 1). */
const RING_POINTS = 160;

/** Room for endpoint positions in a packed ring point (hash × span + position, exact in a double). */
const POSITION_SPAN = 2 ** 20;

/**
 * upstream-hash-by's consistent hash: a ring of 160 points per endpoint, each point a 32-bit mix of
 * the endpoint's "address:port" hash and the point's number, so an endpoint's points depend on it
 * alone; a request's key is hashed (FNV-1a with murmur3's finalizer, over its UTF-16 code units: no
 * allocation) and goes to the first point at or after it. A key keeps its endpoint while the
 * endpoints stay; adding or removing one moves only the keys of the points it gains or loses. Not
 * resty.chash's exact layout (crc32 points), so a key need not land on the endpoint ingress-nginx
 * would pick. Built once per route table, and reused by the next table while its key and endpoints
 * stay (ringFor): the points are packed into one Float64Array and sorted numerically, about
 * 30 ms for 1,000 endpoints.
 */
export class HashRing {
  /** The compiled upstream-hash-by expression. */
  readonly key: Expression;
  readonly #points: Uint32Array;
  readonly #owners: readonly Endpoint[];

  constructor(key: Expression, endpoints: readonly Endpoint[]) {
    this.key = key;
    const ids = endpoints.map((e) => `${e.address}:${e.port}`);
    // Ties (rare) go to the lower address, so the ring does not depend on the endpoints' order.
    const order = ids.map((_, j) => j).sort((a, b) => (ids[a]! < ids[b]! ? -1 : ids[a]! > ids[b]! ? 1 : 0));
    const packed = new Float64Array(order.length * RING_POINTS);
    let k = 0;
    for (let pos = 0; pos < order.length; pos++) {
      const base = hashKey(ids[order[pos]!]!);
      for (let i = 0; i < RING_POINTS; i++) packed[k++] = mix32((base + Math.imul(i, 0x9e3779b9)) >>> 0) * POSITION_SPAN + pos;
    }
    packed.sort();
    const points = new Uint32Array(packed.length);
    const owners = new Array<Endpoint>(packed.length);
    for (let x = 0; x < packed.length; x++) {
      const pos = packed[x]! % POSITION_SPAN;
      points[x] = (packed[x]! - pos) / POSITION_SPAN;
      owners[x] = endpoints[order[pos]!]!;
    }
    this.#points = points;
    this.#owners = owners;
  }

  /** The endpoint for a key. */
  pick(key: string): Endpoint {
    const pts = this.#points;
    const h = hashKey(key);
    let lo = 0, hi = pts.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (pts[mid]! < h) lo = mid + 1;
      else hi = mid;
    }
    return this.#owners[lo === pts.length ? 0 : lo]!;
  }
}

/** 32-bit FNV-1a over the UTF-16 code units, then murmur3's finalizer to spread short keys over the ring. */
function hashKey(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return mix32(h >>> 0);
}

/** murmur3's fmix32: a bijection on 32-bit values that spreads their bits. */
function mix32(x: number): number {
  let h = x;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * The rings of the current route table, by key expression and endpoints: the next table reuses the
 * ones it still needs (most swaps change other Services), so a rolling update elsewhere costs no
 * ring building. One per thread; each Router replaces it with the rings it uses.
 */
let currentRings = new Map<string, HashRing>();

/** A route's canary: the same route on the canary's backend, and when to take it. */
export interface CompiledCanary {
  readonly spec: Canary;
  readonly route: CompiledRoute;
  /** canary-by-header-pattern; undefined when set but not a pattern JavaScript can run (no header value matches then). */
  readonly headerPattern?: RegExp;
}

export interface CompiledRoute {
  readonly route: Route;
  readonly pool: BackendPool;
  /** Case-insensitive `^path` when the host is in regex mode. */
  readonly regex?: RegExp;
  readonly allow?: BlockList;
  /** denylist-source-range; checked before `allow`. */
  readonly deny?: BlockList;
  /** enable-cors with explicit origins: the Origin values allowed (undefined: any, `*`). */
  readonly corsOrigin?: RegExp;
  /** Whether plain-HTTP requests go to https (ssl-redirect on a TLS host, or force-ssl-redirect). */
  readonly redirectToHttps: boolean;
  /** auth-url and the endpoints its subrequests go to. */
  readonly auth?: { readonly spec: ExternalAuth; readonly pool: BackendPool };
  readonly canary?: CompiledCanary;
}

/** An HTTPRoute (rule, match) ready for requests: its regular expressions and its backends' routes. */
export interface CompiledGatewayRule {
  readonly rule: GatewayRule;
  /** RegularExpression path: the whole normalised path must match. */
  readonly pathRegex?: RegExp;
  /** Per header / query match, its expression when the type is RegularExpression. */
  readonly headerRegex: readonly (RegExp | undefined)[];
  readonly queryRegex: readonly (RegExp | undefined)[];
  /** Each backendRef's route (undefined: an invalid reference, 500) and its weight. */
  readonly backends: readonly { readonly weight: number; readonly route: CompiledRoute | undefined }[];
  readonly totalWeight: number;
}

interface CompiledHost {
  readonly exact: Map<string, CompiledRoute>;
  readonly prefix: Map<string, CompiledRoute>;
  /** ImplementationSpecific without regex: nginx's plain `location /path` (string prefix), longest first. */
  readonly stringPrefix: CompiledRoute[];
  /** Regex mode: every path, Exact ones too, as `~* ^path`, longest path first. */
  readonly regex: CompiledRoute[];
  readonly fallback?: CompiledRoute;
  /** The route whose app-root answers `/` on the whole host (server-level `if ($uri = /)`). */
  readonly appRoot?: CompiledRoute;
  /** A from-to-www-redirect server: every request goes to this host instead. */
  readonly redirectTo?: string;
  /** HTTPRoute rules, in precedence order, for requests no Ingress path matched. */
  readonly gateway?: readonly CompiledGatewayRule[];
}

export type Decision =
  | {
    readonly kind: 'route';
    readonly route: CompiledRoute;
    readonly match?: RegExpExecArray;
    /** Set when the request is `/` on a host with app-root: a 302 there, before any location. */
    readonly appRoot?: string;
  }
  | { readonly kind: 'not-found' }
  /**
   * The host has HTTPRoute rules and no Ingress path matched: request-policy picks the first rule
   * whose conditions hold (they need the method, headers and query), else `otherwise`.
   */
  | { readonly kind: 'gateway'; readonly rules: readonly CompiledGatewayRule[]; readonly otherwise: Decision }
  /** from-to-www-redirect: the request's host is the other name of `to`. */
  | { readonly kind: 'host-redirect'; readonly to: string };

export class Router {
  readonly table: RouteTable;
  readonly #exact = new Map<string, CompiledHost>();
  readonly #wildcard = new Map<string, CompiledHost>();
  /**
   * HTTPRoute rules of wildcard hosts, for names more than one label below the suffix: a Gateway
   * API wildcard matches any number of labels (`*.example.com` takes `a.b.example.com`), an
   * Ingress one exactly one, so only the HTTPRoute rules answer there.
   */
  readonly #deepWildcard = new Map<string, CompiledHost>();
  readonly #anyHost: CompiledHost | undefined;
  readonly #default: CompiledRoute | undefined;
  readonly #passthrough = new Map<string, BackendPool>();
  readonly #pools = new Map<string, BackendPool>();
  /** The upstream-hash-by rings this table uses (they become the ones the next table may reuse). */
  readonly #rings = new Map<string, HashRing>();
  /** The last Host header routed, and its host (see decide). */
  #lastHeader: string | undefined;
  #lastHost: CompiledHost | undefined;

  constructor(table: RouteTable) {
    // Path and header patterns run on what clients send (see guardRegExpBacktracking).
    guardRegExpBacktracking();
    this.table = table;
    let anyHost: CompiledHost | undefined;
    for (const h of table.hosts) {
      const c = this.#compileHost(h);
      if (h.host === '') anyHost = c;
      else if (h.host.startsWith('*.')) {
        this.#wildcard.set(h.host.slice(2), c);
        if (c.gateway) this.#deepWildcard.set(h.host.slice(2), { ...EMPTY_HOST, gateway: c.gateway });
      } else this.#exact.set(h.host, c);
    }
    // ingress-nginx writes the redirect servers before the others, so for nginx they come first
    // when a name is both a redirect and another host's alias.
    for (const r of table.hostRedirects ?? []) if (!this.#exact.has(r.from)) this.#exact.set(r.from, { ...EMPTY_HOST, redirectTo: r.to });
    for (const h of table.hosts) {
      const c = h.host === '' ? anyHost : h.host.startsWith('*.') ? this.#wildcard.get(h.host.slice(2)) : this.#exact.get(h.host);
      for (const a of h.aliases ?? []) if (c && !this.#exact.has(a)) this.#exact.set(a, c);
    }
    this.#anyHost = anyHost;
    this.#default = table.defaultRoute ? this.#compileRoute(table.defaultRoute, false) : undefined;
    for (const p of table.passthrough) this.#passthrough.set(p.host, this.#pool(p.backend));
    currentRings = this.#rings;
  }

  /** Routes a request: exact host, then `*.` wildcard (one label), then rules without a host, then the default backend. */
  decide(hostHeader: string, path: string): Decision {
    let h: CompiledHost | undefined;
    // A connection's requests, and most connections, name the same host: the last lookup is kept
    // (comparing the header costs less than normalizing and hashing it).
    if (hostHeader === this.#lastHeader) h = this.#lastHost;
    else {
      h = this.#hostFor(normalizeHost(hostHeader));
      this.#lastHeader = hostHeader;
      this.#lastHost = h;
    }
    if (h) {
      if (h.redirectTo !== undefined) return { kind: 'host-redirect', to: h.redirectTo };
      if (h.appRoot && path === '/') return { kind: 'route', route: h.appRoot, appRoot: h.appRoot.route.options.appRoot! };
      const d = matchHost(h, path);
      if (d) return d;
      if (h.gateway !== undefined) return { kind: 'gateway', rules: h.gateway, otherwise: this.#unmatched(h) };
      return this.#unmatched(h);
    }
    return this.#default ? { kind: 'route', route: this.#default } : NOT_FOUND;
  }

  /** A request on host `h` that no path of it matched: the host's fallback, else the default backend for the catch-all host. */
  #unmatched(h: CompiledHost): Decision {
    if (h.fallback) return { kind: 'route', route: h.fallback };
    if (h !== this.#anyHost) return NOT_FOUND;
    return this.#default ? { kind: 'route', route: this.#default } : NOT_FOUND;
  }

  #hostFor(host: string): CompiledHost | undefined {
    let h = this.#exact.get(host);
    if (!h) {
      const dot = host.indexOf('.');
      if (dot > 0) h = this.#wildcard.get(host.slice(dot + 1));
      // Deeper names, only when some HTTPRoute has a wildcard host: the longest suffix first.
      if (!h && dot > 0 && this.#deepWildcard.size > 0) {
        for (let d = host.indexOf('.', dot + 1); !h && d > 0; d = host.indexOf('.', d + 1)) h = this.#deepWildcard.get(host.slice(d + 1));
      }
    }
    return h ?? this.#anyHost;
  }

  /** The backend for an ssl-passthrough host (SNI), if any. */
  passthrough(serverName: string): BackendPool | undefined {
    return this.#passthrough.get(serverName.toLowerCase());
  }

  get hasPassthrough(): boolean {
    return this.#passthrough.size > 0;
  }

  #compileHost(h: HostRoutes): CompiledHost {
    const regexMode = h.routes.some((r) => usesRegex(r.options, r.path));
    const exact = new Map<string, CompiledRoute>();
    const prefix = new Map<string, CompiledRoute>();
    const stringPrefix: CompiledRoute[] = [];
    const regex: CompiledRoute[] = [];
    const fallback = h.fallback ? this.#compileRoute(h.fallback, h.tls) : undefined;
    for (const r of h.routes) {
      // ingress-nginx's buildLocation returns `~* "^path"` for every location of a regex host,
      // before it looks at the path type: Exact paths become prefixes there too.
      if (regexMode) { regex.push(this.#compileRoute(r, h.tls, pathRegex(r.path))); continue; }
      if (r.pathType === 'Exact') { if (!exact.has(r.path)) exact.set(r.path, this.#compileRoute(r, h.tls)); continue; }
      const c = this.#compileRoute(r, h.tls);
      if (r.pathType === 'Prefix') { const k = r.path.replace(/\/+$/, ''); if (!prefix.has(k)) prefix.set(k, c); }
      else stringPrefix.push(c);
    }
    // ingress-nginx sorts locations by path length, longest first; a stable sort keeps older Ingresses first on ties.
    stringPrefix.sort((a, b) => b.route.path.length - a.route.path.length);
    regex.sort((a, b) => b.route.path.length - a.route.path.length);
    // Its server-level app-root `if`s follow the location order (the host's root location last);
    // the first one answers.
    const ordered = [...h.routes].sort((a, b) => b.path.length - a.path.length);
    const withAppRoot = ordered.find((r) => r.options.appRoot !== undefined) ?? (h.fallback?.options.appRoot !== undefined ? h.fallback : undefined);
    const appRoot = withAppRoot === undefined ? undefined : withAppRoot === h.fallback ? fallback : this.#compileRoute(withAppRoot, h.tls);
    const gateway = h.gateway?.length ? h.gateway.map((g) => this.#compileGatewayRule(h.host, g)) : undefined;
    return { exact, prefix, stringPrefix, regex, ...(fallback ? { fallback } : {}), ...(appRoot ? { appRoot } : {}), ...(gateway ? { gateway } : {}) };
  }

  #compileGatewayRule(host: string, g: GatewayRule): CompiledGatewayRule {
    // Patterns that do not compile were refused by the translation; this guards a hand-made table.
    const re = (p: string, whole: boolean): RegExp => { try { return new RegExp(whole ? `^(?:${p})$` : p); } catch { return /(?!)/; } };
    const backends = g.backends.map((b) => ({
      weight: b.weight,
      route: b.backend ? this.#compileRoute({ id: g.id, ingress: g.route, host, path: g.match.path.value, pathType: 'Prefix', backend: b.backend, options: g.options }, false) : undefined,
    }));
    return {
      rule: g,
      ...(g.match.path.type === 'RegularExpression' ? { pathRegex: re(g.match.path.value, true) } : {}),
      // Header and query expressions are unanchored, as Envoy's safe_regex on a value is not: a
      // full match is what Gateway implementations built on Envoy do, so anchor them too.
      headerRegex: g.match.headers.map((m) => (m.type === 'RegularExpression' ? re(m.value, true) : undefined)),
      queryRegex: g.match.queryParams.map((m) => (m.type === 'RegularExpression' ? re(m.value, true) : undefined)),
      backends,
      totalWeight: backends.reduce((n, b) => n + b.weight, 0),
    };
  }

  #pool(b: Backend): BackendPool {
    // Routes naming the same Service port share one round-robin cursor; the same name can stand for
    // the pods or (service-upstream) the cluster IP, so the endpoints are part of the key.
    const key = `${b.name}|${b.endpoints.map((e) => `${e.address}:${e.port}`).join(',')}|${b.hashBy ?? ''}`;
    let p = this.#pools.get(key);
    if (!p) this.#pools.set(key, (p = new BackendPool(b, (hashBy, endpoints) => this.#ringFor(hashBy, endpoints))));
    return p;
  }

  /** The ring for a key expression and endpoints: the previous table's when it had the same. */
  #ringFor(hashBy: string, endpoints: readonly Endpoint[]): HashRing {
    const key = `${hashBy}|${endpoints.map((e) => `${e.address}:${e.port}`).join(',')}`;
    let ring = this.#rings.get(key) ?? currentRings.get(key);
    if (!ring) ring = new HashRing(compileExpression(hashBy), endpoints);
    this.#rings.set(key, ring);
    return ring;
  }

  #compileRoute(r: Route, hostHasTls: boolean, regex?: RegExp): CompiledRoute {
    const canary = r.canary ? this.#compileCanary(r, r.canary, hostHasTls, regex) : undefined;
    const allow = r.options.allowSourceRanges ? blockList(r.options.allowSourceRanges) : undefined;
    const deny = r.options.denySourceRanges ? blockList(r.options.denySourceRanges) : undefined;
    const corsOrigin = r.options.cors ? corsOriginRegex(r.options.cors.allowOrigins) : undefined;
    return {
      route: r, pool: this.#pool(r.backend),
      ...(regex ? { regex } : {}), ...(allow ? { allow } : {}), ...(deny ? { deny } : {}), ...(corsOrigin ? { corsOrigin } : {}),
      ...(r.options.externalAuth ? { auth: { spec: r.options.externalAuth, pool: this.#pool(r.options.externalAuth.backend) } } : {}),
      redirectToHttps: r.options.forceSslRedirect || (hostHasTls && r.options.sslRedirect),
      ...(canary ? { canary } : {}),
    };
  }

  /** The canary's route: the primary's path and options on the canary's backend, with the canary's affinity. */
  #compileCanary(primary: Route, c: Canary, hostHasTls: boolean, regex: RegExp | undefined): CompiledCanary {
    const { canary: _c, ...base } = primary;
    const { affinity: _a, ...options } = primary.options;
    const route: Route = { ...base, backend: c.backend, options: c.affinity ? { ...options, affinity: c.affinity } : options };
    return {
      spec: c, route: this.#compileRoute(route, hostHasTls, regex),
      ...(c.headerPattern !== undefined ? pcrePattern(c.headerPattern) : {}),
    };
  }
}

/**
 * A PCRE pattern as a RegExp, for ngx.re.match: a leading `(?i)` (which JavaScript does not know)
 * becomes the `i` flag; a pattern JavaScript cannot compile gives none.
 */
function pcrePattern(p: string): { headerPattern?: RegExp } {
  const i = p.startsWith('(?i)');
  try { return { headerPattern: new RegExp(i ? p.slice(4) : p, i ? 'i' : '') }; } catch { return {}; }
}

const NOT_FOUND: Decision = { kind: 'not-found' };

const EMPTY_HOST: CompiledHost = { exact: new Map(), prefix: new Map(), stringPrefix: [], regex: [] };

function blockList(cidrs: readonly string[]): BlockList {
  const l = new BlockList();
  for (const c of cidrs) {
    const [ip, bits] = c.split('/') as [string, string];
    l.addSubnet(ip, Number(bits), isIPv6(ip) ? 'ipv6' : 'ipv4');
  }
  return l;
}

/**
 * `~* "^path"`. A path that is no valid regular expression (translate() refuses those only in the
 * Ingress asking for regex mode; another Ingress can switch the host) is matched literally.
 */
function pathRegex(path: string): RegExp {
  try { return new RegExp(`^${path}`, 'i'); } catch { return new RegExp(`^${escapeRegExp(path)}`, 'i'); }
}

function matchHost(h: CompiledHost, path: string): Decision | undefined {
  const exact = h.exact.get(path);
  if (exact) return { kind: 'route', route: exact };
  if (h.regex.length) {
    for (const r of h.regex) {
      const m = r.regex!.exec(path);
      if (m) return { kind: 'route', route: r, match: m };
    }
    return undefined;
  }
  // Prefix by whole path elements: try the path, then each parent, down to the root ("").
  let best: CompiledRoute | undefined;
  let bestLen = -1;
  if (h.prefix.size) {
    let end = path.length;
    while (end > 0 && path.charCodeAt(end - 1) === 47 /* / */) end--;
    let key = end === path.length ? path : path.slice(0, end);
    for (;;) {
      const r = h.prefix.get(key);
      if (r) { best = r; bestLen = key.length; break; }
      if (key === '') break;
      key = key.slice(0, key.lastIndexOf('/'));
    }
  }
  for (const r of h.stringPrefix) {
    if (r.route.path.length <= bestLen) break;
    if (path.startsWith(r.route.path)) { best = r; break; }
  }
  return best ? { kind: 'route', route: best } : undefined;
}

/** Lowercases and drops the port (and IPv6 brackets stay as they are). */
export function normalizeHost(h: string): string {
  let s = h;
  if (s.startsWith('[')) { const end = s.indexOf(']'); s = end > 0 ? s.slice(0, end + 1) : s; }
  else { const colon = s.lastIndexOf(':'); if (colon >= 0) s = s.slice(0, colon); }
  if (s.endsWith('.')) s = s.slice(0, -1);
  // Most Host headers are already lowercase; avoid the copy then.
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 65 && c <= 90) return s.toLowerCase();
  }
  return s;
}
