// Request-time behaviour of Gateway API HTTPRoute rules (gateway.networking.k8s.io/v1): which
// (rule, match) a request takes, its filters (RequestRedirect, URLRewrite, header modifiers) and
// the weighted choice among its backendRefs. The router hands over the host's rules, already in
// the spec's precedence order (translated by src/gateway), so the first rule that matches wins.
// Reference: https://gateway-api.sigs.k8s.io/reference/spec/#httproutematch and
// #httproutefilter; conformance tests HTTPRouteRequestRedirect, HTTPRouteRewritePath,
// HTTPRouteRequestHeaderModifier, HTTPRouteWeight, HTTPRouteInvalidBackendRefUnknownKind.
import type { CompiledGatewayRule, CompiledRoute, Decision } from './router.ts';
import type { HeaderEdits, PathModifier } from './route-table.ts';
import { respond, type Action, type RequestFacts } from './request-policy.ts';

export type GatewayDecision = Extract<Decision, { kind: 'gateway' }>;

/** The first rule whose match holds for the request, or undefined. */
export function matchGatewayRule(rules: readonly CompiledGatewayRule[], req: RequestFacts): CompiledGatewayRule | undefined {
  for (const r of rules) if (isMatch(r, req)) return r;
  return undefined;
}

function isMatch(r: CompiledGatewayRule, req: RequestFacts): boolean {
  const m = r.rule.match;
  // A route attached to an HTTP listener answers on the HTTP port only, an HTTPS one on the HTTPS port.
  if (req.secure !== r.rule.secure) return false;
  if (m.method !== undefined && req.method !== m.method) return false;
  // Paths match the normalised path (%XX decoded, dot segments resolved), as Ingress paths do.
  const path = req.uri;
  switch (m.path.type) {
    case 'Exact': if (path !== m.path.value) return false; break;
    case 'PathPrefix': if (!hasPathPrefix(path, m.path.value)) return false; break;
    case 'RegularExpression': if (!r.pathRegex!.test(path)) return false; break;
  }
  for (let i = 0; i < m.headers.length; i++) {
    const h = m.headers[i]!;
    const v = req.header(h.name);
    if (v === undefined) return false;
    const re = r.headerRegex[i];
    if (re ? !re.test(v) : v !== h.value) return false;
  }
  for (let i = 0; i < m.queryParams.length; i++) {
    const q = m.queryParams[i]!;
    const v = queryParam(req.query, q.name);
    if (v === undefined) return false;
    const re = r.queryRegex[i];
    if (re ? !re.test(v) : v !== q.value) return false;
  }
  return true;
}

/**
 * PathPrefix matches by whole path elements, a trailing `/` of the value ignored
 * (HTTPPathMatch: "/abc" matches "/abc", "/abc/" and "/abc/def", not "/abcdef").
 */
export function hasPathPrefix(path: string, prefix: string): boolean {
  const p = prefix.length > 1 && prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
  if (p === '/') return true;
  return path.startsWith(p) && (path.length === p.length || path.charCodeAt(p.length) === 47 /* / */);
}

/**
 * The first value of a query parameter, %-decoded (HTTPQueryParamMatch: "If multiple entries
 * specify equivalent query param names, only the first entry with an equivalent name MUST be
 * considered"); `query` is '' or '?…'.
 */
export function queryParam(query: string, name: string): string | undefined {
  if (query.length < 2) return undefined;
  for (const part of query.slice(1).split('&')) {
    const eq = part.indexOf('=');
    const k = eq < 0 ? part : part.slice(0, eq);
    if (decode(k) === name) return eq < 0 ? '' : decode(part.slice(eq + 1));
  }
  return undefined;
}

function decode(s: string): string {
  try { return decodeURIComponent(s.replace(/\+/g, ' ')); } catch { return s; }
}

/**
 * ReplacePrefixMatch: the matched prefix replaced, the rest kept by path elements
 * ("/foo" → "/bar": "/foo/x" → "/bar/x"; "/foo" → "/": "/foo/x" → "/x").
 */
export function replacePrefix(path: string, prefix: string, replacement: string): string {
  const p = prefix.length > 1 && prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
  const rest = p === '/' ? path : path.slice(p.length);
  if (rest === '' || rest === '/') return replacement === '' ? '/' : rest === '/' && !replacement.endsWith('/') ? `${replacement}/` : replacement;
  const base = replacement.endsWith('/') ? replacement.slice(0, -1) : replacement;
  const out = base + (rest.startsWith('/') ? rest : `/${rest}`);
  return out === '' ? '/' : out;
}

/**
 * The request's path with a path modifier applied. The prefix was matched on the normalised path
 * (`req.uri`: decoded, dot segments resolved), so it is cut from that one, encoded again for the
 * wire; cutting its length off the raw path would cut elsewhere (`/strip%2Dprefix/x`, `/a/../strip-prefix/x`).
 * A raw path that already reads as its normalised form is kept byte for byte.
 */
function modifiedPath(m: PathModifier, rule: CompiledGatewayRule, req: RequestFacts): string {
  if (m.type === 'ReplaceFullPath') return m.value;
  // ReplacePrefixMatch is only valid with a PathPrefix match (the CRD's CEL rule).
  const path = req.path === req.uri ? req.path : encodePath(req.uri);
  return replacePrefix(path, rule.rule.match.path.value, m.value);
}

/** A decoded path encoded for a request line: everything but RFC 3986's pchar set and `/` is %-encoded. */
export function encodePath(decoded: string): string {
  return decoded.replace(/[^A-Za-z0-9\-._~!$&'()*+,;=:@/]/gu, (c) => encodeURIComponent(c));
}

/** Decides a request for a host with HTTPRoute rules: a response, a proxy action, or the host's Ingress fallback. */
export function gatewayAction(d: GatewayDecision, req: RequestFacts, rest: (d: Decision) => Action, random: () => number = Math.random): Action {
  const r = matchGatewayRule(d.rules, req);
  if (r === undefined) return rest(d.otherwise);
  const f = r.rule.filters;
  if (f.redirect) return respond(f.redirect.statusCode, [['Location', redirectLocation(r, req)]]);
  // Weighted choice (HTTPBackendRef weight: "proportional to the sum of all weights in this
  // backendRefs list"); a share whose reference is invalid answers 500 (HTTPRouteRule backendRefs:
  // "requests that would have otherwise been routed to an invalid backend MUST receive a 500").
  let chosen: CompiledRoute | undefined;
  if (r.totalWeight > 0) {
    let x = random() * r.totalWeight;
    for (const b of r.backends) {
      if (b.weight <= 0) continue;
      if (x < b.weight) { chosen = b.route; break; }
      x -= b.weight;
    }
    // Rounding at the very end of the range: the last backend with weight.
    if (x >= 0 && chosen === undefined) chosen = [...r.backends].reverse().find((b) => b.weight > 0)?.route;
  }
  if (chosen === undefined) return respond(500);
  // A Service with no ready endpoints: 503, as for Ingress.
  if (chosen.pool.endpoints.length === 0) return respond(503);
  const target = f.rewrite?.path ? modifiedPath(f.rewrite.path, r, req) + req.query : req.path + req.query;
  const respEdits = f.responseHeaders;
  return {
    kind: 'proxy', route: chosen, target, responseHeaders: respEdits ? [...respEdits.set, ...respEdits.add] : NO_HEADERS,
    sticky: undefined, hashed: undefined, renewCookie: false, release: undefined,
    upstreamHost: f.rewrite?.hostname, forwardedPrefix: undefined,
    requestEdits: f.requestHeaders, responseDrops: respEdits ? responseDrops(respEdits) : undefined,
  };
}

const NO_HEADERS: readonly (readonly [string, string])[] = [];

/** The upstream response headers a ResponseHeaderModifier replaces or removes (lowercase), or undefined for none. */
function responseDrops(e: HeaderEdits): readonly string[] | undefined {
  const names = [...e.set.map(([k]) => k.toLowerCase()), ...e.remove];
  return names.length ? names : undefined;
}

/**
 * HTTPRequestRedirectFilter's Location: scheme, hostname, port and path as configured, the rest
 * the request's. Port when not set: the scheme's well-known port when a scheme is set, else the
 * listener's; and it is left out of the Location when it is the scheme's well-known one (80 for
 * http, 443 for https), as the spec says implementations SHOULD.
 */
export function redirectLocation(r: CompiledGatewayRule, req: RequestFacts): string {
  const red = r.rule.filters.redirect!;
  const scheme = red.scheme ?? (req.secure ? 'https' : 'http');
  const host = red.hostname ?? hostOnly(req.host);
  const port = red.port ?? (red.scheme !== undefined ? (red.scheme === 'https' ? 443 : 80) : Number(req.port) || (req.secure ? 443 : 80));
  const showPort = !((scheme === 'http' && port === 80) || (scheme === 'https' && port === 443));
  const path = red.path ? modifiedPath(red.path, r, req) : req.path;
  return `${scheme}://${host}${showPort ? `:${port}` : ''}${path}${req.query}`;
}

function hostOnly(h: string): string {
  const s = h.startsWith('[') ? h.slice(0, h.indexOf(']') + 1) : h.replace(/:\d+$/, '');
  return s.toLowerCase();
}
