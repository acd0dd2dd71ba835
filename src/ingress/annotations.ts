// Parses and validates ingress-nginx's `nginx.ingress.kubernetes.io/*` annotations into
// RouteOptions. Defaults are ingress-nginx's (its ConfigMap defaults): ssl-redirect true,
// proxy-body-size 1m, connect 5 s, read and send 60 s, limit-burst-multiplier 5, cookie
// INGRESSCOOKIE, the CORS defaults of its docs. An invalid value is reported and the default kept;
// an unusable or unsupported security annotation (auth, client certificates, source ranges) denies
// the route instead of opening it.
import { isIPv4, isIPv6 } from 'node:net';
import type { Secret } from 'kubernetes-types/core/v1.d.ts';
import { hashScheme, parseHtpasswd } from './htpasswd.ts';
import { compileExpression, unknownVariables } from './request-policy.ts';
import type { BasicAuth, CookieAffinity, Cors, ExternalAuth, RouteOptions, TrafficShaping } from './route-table.ts';

export const ANNOTATION_PREFIX = 'nginx.ingress.kubernetes.io/';

export const defaultRouteOptions: RouteOptions = {
  useRegex: false,
  sslRedirect: true,
  forceSslRedirect: false,
  backendProtocol: 'HTTP',
  maxBodyBytes: 1024 * 1024,
  connectTimeoutMs: 5000,
  readTimeoutMs: 60_000,
  sendTimeoutMs: 60_000,
  limitBurstMultiplier: 5,
  sslPassthrough: false,
};

const CORS_DEFAULTS: Cors = {
  allowOrigins: ['*'],
  allowMethods: 'GET, PUT, POST, DELETE, PATCH, OPTIONS',
  allowHeaders: 'DNT,Keep-Alive,User-Agent,X-Requested-With,If-Modified-Since,Cache-Control,Content-Type,Range,Authorization',
  exposeHeaders: '',
  allowCredentials: true,
  maxAgeSeconds: 1728000,
};

export interface AnnotationProblem {
  readonly reason: string;
  readonly message: string;
}

/** A canary Ingress's annotations, validated: its traffic shaping and affinity behaviour. */
export interface CanaryPolicy extends TrafficShaping {
  /**
   * affinity-canary-behavior: legacy. The canary's backend is then never sticky: ingress-nginx copies
   * the primary's affinity to it only in the default (sticky) behaviour, and never reads the canary's own.
   */
  readonly legacyAffinity: boolean;
}

export interface ParsedAnnotations {
  readonly options: RouteOptions;
  readonly problems: readonly AnnotationProblem[];
  /** `canary: "true"`: an alternative backend for another Ingress's paths, never routes of its own. */
  readonly canary?: CanaryPolicy;
  /** server-alias: lowercase, deduplicated and sorted, as ingress-nginx's alias parser returns them. */
  readonly serverAliases?: readonly string[];
  /** from-to-www-redirect: "true". */
  readonly fromToWwwRedirect?: boolean;
  /** service-upstream: "true": the Services' cluster IP and port instead of their endpoints. */
  readonly serviceUpstream?: boolean;
  /**
   * upstream-hash-by: the nginx variable expression whose value picks the endpoint (consistent
   * hashing). Like service-upstream it belongs to the Service port's upstream, set by the oldest
   * Ingress naming it.
   */
  readonly upstreamHashBy?: string;
}

const TRUE = new Set(['1', 't', 'T', 'TRUE', 'true', 'True']);
const FALSE = new Set(['0', 'f', 'F', 'FALSE', 'false', 'False']);

/** ingress-nginx's BasicCharsRegex, which canary-by-header, -header-value and -cookie must match. */
const BASIC_CHARS = /^[/\-._~a-zA-Z0-9:]*$/;
/** ingress-nginx's IsValidRegex: what canary-by-header-pattern, upstream-vhost and server-alias may contain. */
const REGEX_CHARS = /^[/\-._~a-zA-Z0-9:^$[\](){}*+?|&=\\]*$/;
/** ingress-nginx's hashByRegex (upstreamhashby/main.go): what upstream-hash-by may contain (spaces removed first). */
const HASH_BY = /^[A-Za-z0-9\-_${}]*$/;
/** ingress-nginx's RegexPathWithCapture: what x-forwarded-prefix may contain (spaces removed first). */
const PATH_WITH_CAPTURE = /^\/?[-._~a-zA-Z0-9/:$]*$/;

/** Finds a Secret by namespace and name (from the informer cache). */
export type SecretLookup = (namespace: string, name: string) => Secret | undefined;

/** Never throws: every bad value becomes a problem and the default stays. */
export function parseAnnotations(annotations: Readonly<Record<string, string>> | undefined, namespace: string, secret: SecretLookup): ParsedAnnotations {
  const a = new Map<string, string>();
  for (const [k, v] of Object.entries(annotations ?? {})) if (k.startsWith(ANNOTATION_PREFIX)) a.set(k.slice(ANNOTATION_PREFIX.length), v.trim());
  const problems: AnnotationProblem[] = [];
  const bad = (name: string, value: string, why: string) =>
    problems.push({ reason: 'InvalidAnnotation', message: `annotation ${ANNOTATION_PREFIX}${name}: ${JSON.stringify(value)} ${why}` });
  const o: { -readonly [K in keyof RouteOptions]: RouteOptions[K] } = { ...defaultRouteOptions };

  const bool = (name: string): boolean | undefined => {
    const v = a.get(name);
    if (v === undefined) return undefined;
    // Go's strconv.ParseBool, which ingress-nginx's GetBoolAnnotation uses.
    if (TRUE.has(v)) return true;
    if (FALSE.has(v)) return false;
    bad(name, v, 'is not "true" or "false"');
    return undefined;
  };
  const int = (name: string, min: number): number | undefined => {
    const v = a.get(name);
    if (v === undefined) return undefined;
    if (/^\d+$/.test(v) && Number(v) >= min) return Number(v);
    bad(name, v, `is not an integer ≥ ${min}`);
    return undefined;
  };
  const num = (name: string): number | undefined => {
    const v = a.get(name);
    if (v === undefined) return undefined;
    if (/^\d+(\.\d+)?$/.test(v) && Number(v) > 0) return Number(v);
    bad(name, v, 'is not a positive number');
    return undefined;
  };

  const target = a.get('rewrite-target');
  if (target !== undefined && target !== '') o.rewriteTarget = target;
  o.useRegex = bool('use-regex') ?? false;
  o.sslRedirect = bool('ssl-redirect') ?? true;
  o.forceSslRedirect = bool('force-ssl-redirect') ?? false;
  const proto = a.get('backend-protocol');
  if (proto !== undefined) {
    const p = proto.toUpperCase();
    if (p === 'HTTP' || p === 'HTTPS') o.backendProtocol = p;
    else bad('backend-protocol', proto, 'is not supported (HTTP or HTTPS)');
  }

  const body = a.get('proxy-body-size');
  if (body !== undefined) {
    const n = parseNginxSize(body);
    if (n === undefined) bad('proxy-body-size', body, 'is not an nginx size (like 8m, 512k or 0)');
    else o.maxBodyBytes = n;
  }
  for (const [name, field] of [['proxy-connect-timeout', 'connectTimeoutMs'], ['proxy-read-timeout', 'readTimeoutMs'], ['proxy-send-timeout', 'sendTimeoutMs']] as const) {
    const s = int(name, 1);
    if (s !== undefined) o[field] = s * 1000;
  }

  const cidrList = (name: string, value: string): string[] | undefined => {
    const list = value.split(',').map((s) => s.trim()).filter(Boolean);
    const wrong = list.filter((c) => !isCidr(c));
    if (!wrong.length) return list.map(normalizeCidr);
    bad(name, value, `has invalid CIDR ${wrong.join(', ')}; the location is denied`);
    o.denied = `invalid ${name}`;
    return undefined;
  };
  const ranges = a.get('whitelist-source-range') ?? a.get('allowlist-source-range');
  if (ranges !== undefined) {
    const list = cidrList('whitelist-source-range', ranges);
    if (list) o.allowSourceRanges = list;
  }
  const denyRanges = a.get('denylist-source-range');
  if (denyRanges !== undefined) {
    const list = cidrList('denylist-source-range', denyRanges);
    if (list?.length) o.denySourceRanges = list;
  }

  // ingress-nginx's redirect parser: temporal-redirect first (its code 300–307, else 302), then
  // permanent-redirect (300–308, else 301); only one of them ever applies.
  for (const [name, max, dflt] of [['temporal-redirect', 307, 302], ['permanent-redirect', 308, 301]] as const) {
    const url = a.get(name);
    if (url === undefined || url === '') continue;
    if (!/^(https?:\/\/|\/)/.test(url)) { bad(name, url, 'is not an http(s) URL or absolute path'); continue; }
    let code: number = dflt;
    const c = a.get(`${name}-code`);
    if (c !== undefined) {
      if (/^\d+$/.test(c) && Number(c) >= 300 && Number(c) <= max) code = Number(c);
      else bad(`${name}-code`, c, `is not a redirect status code from 300 to ${max}; using ${dflt}`);
    }
    o.redirect = { url, code };
    break;
  }

  const appRoot = a.get('app-root');
  if (appRoot !== undefined) {
    if (appRoot.startsWith('/')) o.appRoot = appRoot;
    else bad('app-root', appRoot, 'must start with "/"');
  }

  if (bool('enable-cors')) o.cors = parseCors(a, bad);

  if (a.has('affinity')) {
    const aff = a.get('affinity')!;
    if (aff === 'cookie') o.affinity = parseAffinity(a, bad, int);
    else bad('affinity', aff, 'is not supported (only "cookie")');
  }

  const authType = a.get('auth-type');
  if (authType !== undefined) {
    const r = parseBasicAuth(a, authType, namespace, secret);
    if ('denied' in r) {
      problems.push({ reason: r.reason, message: r.denied });
      o.denied = r.denied;
    } else o.basicAuth = r;
  }

  // Client certificates are not supported: serving the route without them would open what the
  // Ingress closes, so it is refused (503) instead, like an unusable auth-url. As in ingress-nginx,
  // only auth-tls-secret turns the check on (verify-client alone does nothing), and `off` turns it off.
  const tlsVerify = a.get('auth-tls-verify-client');
  if (a.get('auth-tls-secret') && tlsVerify !== 'off') {
    const denied = `annotation ${ANNOTATION_PREFIX}auth-tls-secret/auth-tls-verify-client: client certificate authentication is not supported by podgate; the location is denied`;
    problems.push({ reason: 'UnsupportedAnnotation', message: denied });
    o.denied = denied;
  }

  if (a.get('auth-url')) {
    const r = parseExternalAuth(a, bad);
    if ('denied' in r) {
      problems.push({ reason: 'InvalidAnnotation', message: r.denied });
      o.denied = r.denied;
    } else o.externalAuth = r;
  }

  const rps = num('limit-rps');
  if (rps !== undefined) o.limitRps = rps;
  const rpm = num('limit-rpm');
  if (rpm !== undefined) o.limitRpm = rpm;
  const burst = num('limit-burst-multiplier');
  if (burst !== undefined) o.limitBurstMultiplier = burst;
  const conns = int('limit-connections', 1);
  if (conns !== undefined) o.limitConnections = conns;
  o.sslPassthrough = bool('ssl-passthrough') ?? false;
  parseUpstreamHeaders(a, o, bad, (m) => problems.push({ reason: 'IgnoredAnnotation', message: m }));

  const canary = parseCanary(a, bad, bool);
  const serverAliases = parseServerAliases(a, bad);
  const fromToWwwRedirect = bool('from-to-www-redirect') ?? false;
  const serviceUpstream = bool('service-upstream') ?? false;
  const upstreamHashBy = parseUpstreamHashBy(a, o, bad, (m) => problems.push({ reason: 'IgnoredAnnotation', message: m }));
  return {
    options: o, problems, ...(canary ? { canary } : {}), ...(serverAliases.length ? { serverAliases } : {}),
    ...(fromToWwwRedirect ? { fromToWwwRedirect } : {}), ...(serviceUpstream ? { serviceUpstream } : {}),
    ...(upstreamHashBy !== undefined ? { upstreamHashBy } : {}),
  };
}

/**
 * upstream-hash-by, validated as ingress-nginx does (hashByRegex after removing spaces); an empty
 * value is none (its JSON drops it, so the balancer stays round robin). With affinity: cookie the
 * sticky balancer wins (balancer.lua get_implementation), so the hash does nothing there.
 */
function parseUpstreamHashBy(a: Map<string, string>, o: RouteOptions, bad: (n: string, v: string, why: string) => void, ignored: (message: string) => void): string | undefined {
  const v = a.get('upstream-hash-by');
  if (v === undefined || v === '') return undefined;
  if (!HASH_BY.test(v.replaceAll(' ', ''))) { bad('upstream-hash-by', v, 'has characters ingress-nginx does not allow there (letters, digits, "-_${}"); requests are balanced round robin'); return undefined; }
  const unknown = unknownVariables(compileExpression(v));
  if (unknown.length) bad('upstream-hash-by', v, `uses variables podgate does not know (${unknown.join(', ')}); they expand to nothing`);
  if (o.affinity) ignored(`annotation ${ANNOTATION_PREFIX}upstream-hash-by: has no effect with affinity: cookie (as in ingress-nginx, the sticky balancer wins)`);
  const subset = a.get('upstream-hash-by-subset');
  if (subset !== undefined && TRUE.has(subset)) ignored(`annotation ${ANNOTATION_PREFIX}upstream-hash-by-subset: not supported by podgate; each key is hashed onto one endpoint instead of a subset`);
  return v;
}

/**
 * upstream-vhost (ingress-nginx validates it with ValidateServerName) and x-forwarded-prefix
 * (RegexPathWithCapture, spaces removed); an empty value is no value, as the template tests `empty`.
 */
function parseUpstreamHeaders(a: Map<string, string>, o: { upstreamVhost?: string; xForwardedPrefix?: string; rewriteTarget?: string },
  bad: (n: string, v: string, why: string) => void, ignored: (message: string) => void): void {
  const vhost = a.get('upstream-vhost');
  if (vhost) {
    if (REGEX_CHARS.test(vhost)) o.upstreamVhost = vhost;
    else bad('upstream-vhost', vhost, 'is not a valid server name; ignored');
  }
  const prefix = a.get('x-forwarded-prefix');
  if (prefix) {
    if (!PATH_WITH_CAPTURE.test(prefix.replaceAll(' ', ''))) bad('x-forwarded-prefix', prefix, 'is not a path (letters, digits, "-._~/:" and $1-style captures); ignored');
    else {
      o.xForwardedPrefix = prefix;
      // ingress-nginx writes the header next to the rewrite only: without one it is never sent.
      if (o.rewriteTarget === undefined) ignored(`annotation ${ANNOTATION_PREFIX}x-forwarded-prefix: has no effect without rewrite-target (as in ingress-nginx)`);
    }
  }
}

/**
 * ingress-nginx's alias parser: comma-separated names, trimmed, empty ones skipped, deduplicated
 * and sorted; one name its validator refuses drops the whole annotation. podgate serves exact
 * names only: nginx's wildcard (`*.example.com`, `.example.com`) and regex (`~…`) server names are
 * skipped with a warning.
 */
function parseServerAliases(a: Map<string, string>, bad: (n: string, v: string, why: string) => void): string[] {
  const v = a.get('server-alias');
  if (!v) return [];
  const names = v.split(',').map((s) => s.trim()).filter(Boolean);
  const invalid = names.filter((n) => !REGEX_CHARS.test(n));
  if (invalid.length) { bad('server-alias', v, `has invalid server names ${invalid.join(', ')}; ignored`); return []; }
  const unsupported = names.filter((n) => !isExactHostName(n));
  if (unsupported.length) bad('server-alias', v, `has names podgate does not support (only exact host names, no wildcards or regular expressions): ${unsupported.join(', ')}; they are skipped`);
  return [...new Set(names.filter(isExactHostName).map((n) => n.toLowerCase()))].sort();
}

/** A DNS name without wildcard or regular expression characters. */
function isExactHostName(n: string): boolean {
  return /^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/.test(n);
}

/**
 * ingress-nginx's canary parser: a value its validator refuses is dropped (weight 0, total 100, no
 * header or cookie); canary-* annotations without `canary: "true"` are an error, and the Ingress is
 * an ordinary one.
 */
function parseCanary(a: Map<string, string>, bad: (n: string, v: string, why: string) => void, bool: (n: string) => boolean | undefined): CanaryPolicy | undefined {
  const enabled = bool('canary') ?? false;
  const str = (name: string, valid: RegExp): string | undefined => {
    const v = a.get(name);
    if (v === undefined || v === '') return undefined;
    if (valid.test(v)) return v;
    bad(name, v, 'has characters ingress-nginx does not allow there; ignored');
    return undefined;
  };
  const count = (name: string): number | undefined => {
    const v = a.get(name);
    if (v === undefined) return undefined;
    if (/^\d+$/.test(v)) return Number(v);
    bad(name, v, 'is not an integer ≥ 0; ignored');
    return undefined;
  };
  const weight = count('canary-weight') ?? 0;
  const header = str('canary-by-header', BASIC_CHARS);
  const headerValue = str('canary-by-header-value', BASIC_CHARS);
  const headerPattern = str('canary-by-header-pattern', REGEX_CHARS);
  const cookie = str('canary-by-cookie', BASIC_CHARS);
  if (!enabled) {
    if (weight > 0 || header || headerValue || headerPattern || cookie) bad('canary', a.get('canary') ?? '', 'is not "true" but other canary annotations are set; the Ingress is not a canary');
    return undefined;
  }
  if (headerPattern !== undefined) {
    // A leading (?i) is PCRE's case-insensitive flag (the router turns it into JavaScript's).
    try { new RegExp(headerPattern.replace(/^\(\?i\)/, '')); } catch { bad('canary-by-header-pattern', headerPattern, 'is not a valid regular expression; a request with the header stays on the primary, as ingress-nginx treats a match error'); }
  }
  const behavior = a.get('affinity-canary-behavior');
  if (behavior !== undefined && behavior !== 'sticky' && behavior !== 'legacy') bad('affinity-canary-behavior', behavior, 'is not "sticky" or "legacy"; using sticky');
  return {
    weight,
    weightTotal: Math.max(100, count('canary-weight-total') ?? 100),
    ...(header ? { header: header.toLowerCase() } : {}),
    ...(headerValue ? { headerValue } : {}),
    ...(headerPattern ? { headerPattern } : {}),
    ...(cookie ? { cookie } : {}),
    legacyAffinity: behavior === 'legacy',
  };
}

const AUTH_RESPONSE_HEADERS_REFUSED = new Set(['content-length', 'transfer-encoding', 'host', 'connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'upgrade', 'expect']);
const AUTH_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE']);

/**
 * ingress-nginx's authreq parser: an unusable auth-url or auth-method, or a bad header list,
 * denies the location (LocationDenied); a bad auth-signin is dropped with a warning.
 */
function parseExternalAuth(a: Map<string, string>, bad: (n: string, v: string, why: string) => void): ExternalAuth | { denied: string } {
  const raw = a.get('auth-url')!;
  const deny = (why: string) => ({ denied: `annotation ${ANNOTATION_PREFIX}auth-url: ${JSON.stringify(raw)}: ${why}; the location is denied` });
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)([^#]*)$/.exec(raw);
  if (!m) return deny(/^[A-Za-z][A-Za-z0-9+.-]*:/.test(raw) ? 'could not parse auth-url annotation: url host is empty' : 'could not parse auth-url annotation: url scheme is empty');
  const scheme = m[1]!.toLowerCase();
  const authority = m[2]!;
  if (scheme !== 'http' && scheme !== 'https') return deny(`could not parse auth-url annotation: url scheme ${JSON.stringify(scheme)} is not http or https`);
  if (authority === '') return deny('could not parse auth-url annotation: url host is empty');
  if (authority.includes('..')) return deny('could not parse auth-url annotation: invalid url host');
  if (authority.includes('$')) return deny('nginx variables in the host of auth-url are not supported by podgate');
  if (authority.includes('@')) return deny('could not parse auth-url annotation: user information in the url is not supported');
  let url: URL;
  try { url = new URL(`${scheme}://${authority}/`); } catch { return deny('could not parse auth-url annotation: invalid url host'); }
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const port = url.port ? Number(url.port) : scheme === 'https' ? 443 : 80;
  const target = m[3] === '' ? '/' : m[3]!.startsWith('?') ? `/${m[3]}` : m[3]!;
  if (/[\s"]/.test(target)) return deny('could not parse auth-url annotation: invalid characters in the path');

  const method = a.get('auth-method');
  if (method !== undefined && !AUTH_METHODS.has(method)) return { denied: `annotation ${ANNOTATION_PREFIX}auth-method: ${JSON.stringify(method)}: invalid HTTP method; the location is denied` };
  const responseHeaders: string[] = [];
  const hs = a.get('auth-response-headers');
  if (hs !== undefined) {
    for (const h of hs.split(',').map((x) => x.trim()).filter(Boolean)) {
      if (!/^[A-Za-z0-9_-]+$/.test(h)) return { denied: `annotation ${ANNOTATION_PREFIX}auth-response-headers: ${JSON.stringify(hs)}: invalid headers list; the location is denied` };
      // Framing, hop-by-hop and routing fields copied from the auth service would re-frame the
      // client's request on a shared upstream connection (request smuggling).
      if (AUTH_RESPONSE_HEADERS_REFUSED.has(h.toLowerCase())) return { denied: `annotation ${ANNOTATION_PREFIX}auth-response-headers: ${JSON.stringify(h)} cannot be copied into the upstream request (framing or hop-by-hop header); the location is denied` };
      responseHeaders.push(h);
    }
  }
  let signinUrl = a.get('auth-signin') || undefined;
  if (signinUrl !== undefined && !/^(https?:\/\/[^\s"]+|\/[^\s"]*|\$[a-z_]+[^\s"]*)$/.test(signinUrl)) {
    bad('auth-signin', signinUrl, 'is not a URL; it is ignored');
    signinUrl = undefined;
  }
  let param = a.get('auth-signin-redirect-param') || 'rd';
  if (!/^[A-Za-z0-9_.~-]+$/.test(param)) { bad('auth-signin-redirect-param', param, 'is not a URL parameter name; using "rd"'); param = 'rd'; }
  const requestRedirect = a.get('auth-request-redirect') || undefined;
  const always = a.get('auth-always-set-cookie');
  if (always !== undefined && always !== 'true' && always !== 'false') bad('auth-always-set-cookie', always, 'is not "true" or "false"');
  return {
    url: raw, protocol: scheme === 'https' ? 'HTTPS' : 'HTTP', host, target,
    backend: { name: `${host}:${port}`, endpoints: [{ address: host, port }] },
    ...(method !== undefined ? { method } : {}), responseHeaders,
    ...(signinUrl !== undefined ? { signinUrl } : {}), signinRedirectParam: param,
    ...(requestRedirect !== undefined ? { requestRedirect } : {}), alwaysSetCookie: always === 'true',
  };
}

/** nginx sizes: bytes, k/K, m/M, g/G; "0" disables the limit. */
export function parseNginxSize(v: string): number | undefined {
  const m = /^(\d+)([kKmMgG]?)$/.exec(v);
  if (!m) return undefined;
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2]!.toLowerCase()]!;
  return Number(m[1]) * mult;
}

function isCidr(c: string): boolean {
  const [ip, bits, extra] = c.split('/');
  if (extra !== undefined || ip === undefined) return false;
  const max = isIPv4(ip) ? 32 : isIPv6(ip) ? 128 : -1;
  if (max < 0) return false;
  return bits === undefined || (/^\d+$/.test(bits) && Number(bits) <= max);
}

function normalizeCidr(c: string): string {
  if (c.includes('/')) return c;
  return isIPv4(c) ? `${c}/32` : `${c}/128`;
}

/** ingress-nginx's corsOriginRegex (less its empty and "*" alternatives, handled apart). */
const CORS_ORIGIN = /^([a-z]+:\/\/(\*\.)?[A-Za-z0-9\-.]*(:\d+)?|null)$/;

function parseCors(a: Map<string, string>, bad: (n: string, v: string, why: string) => void): Cors {
  const c: { -readonly [K in keyof Cors]: Cors[K] } = { ...CORS_DEFAULTS };
  const origin = a.get('cors-allow-origin');
  if (origin !== undefined) {
    // ingress-nginx's cors parser: "*" anywhere means any origin; an origin that is not
    // scheme://[*.]host[:port] or "null" is skipped; if none is left, no origin is allowed.
    const list = origin.split(',').map((s) => s.trim()).filter(Boolean);
    const wrong = list.filter((o) => o !== '*' && !CORS_ORIGIN.test(o));
    if (wrong.length) bad('cors-allow-origin', origin, `has invalid origins ${wrong.join(', ')}; they are skipped`);
    const ok = list.filter((o) => !wrong.includes(o));
    if (list.length && !ok.includes('*')) c.allowOrigins = ok;
  }
  const methods = a.get('cors-allow-methods');
  if (methods !== undefined) {
    if (/^[A-Za-z, ]+$/.test(methods)) c.allowMethods = methods;
    else bad('cors-allow-methods', methods, 'is not a list of methods');
  }
  const headers = a.get('cors-allow-headers');
  if (headers !== undefined) {
    if (/^[A-Za-z0-9_\-, *]+$/.test(headers)) c.allowHeaders = headers;
    else bad('cors-allow-headers', headers, 'is not a list of header names');
  }
  const expose = a.get('cors-expose-headers');
  if (expose !== undefined) {
    if (/^[A-Za-z0-9_\-, *]*$/.test(expose)) c.exposeHeaders = expose;
    else bad('cors-expose-headers', expose, 'is not a list of header names');
  }
  const cred = a.get('cors-allow-credentials');
  if (cred !== undefined) {
    if (cred === 'true' || cred === 'false') c.allowCredentials = cred === 'true';
    else bad('cors-allow-credentials', cred, 'is not "true" or "false"');
  }
  const maxAge = a.get('cors-max-age');
  if (maxAge !== undefined) {
    if (/^\d+$/.test(maxAge)) c.maxAgeSeconds = Number(maxAge);
    else bad('cors-max-age', maxAge, 'is not a number of seconds');
  }
  return c;
}

function parseAffinity(a: Map<string, string>, bad: (n: string, v: string, why: string) => void,
  int: (n: string, min: number) => number | undefined): CookieAffinity {
  let name = a.get('session-cookie-name') ?? 'INGRESSCOOKIE';
  if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(name)) { bad('session-cookie-name', name, 'is not a cookie name'); name = 'INGRESSCOOKIE'; }
  const path = a.get('session-cookie-path');
  let sameSite: CookieAffinity['sameSite'];
  const ss = a.get('session-cookie-samesite');
  if (ss !== undefined) {
    if (ss === 'None' || ss === 'Lax' || ss === 'Strict') sameSite = ss;
    else bad('session-cookie-samesite', ss, 'is not None, Lax or Strict');
  }
  const secure = a.get('session-cookie-secure');
  const change = a.get('session-cookie-change-on-failure');
  return {
    name,
    ...(path !== undefined && path.startsWith('/') ? { path } : {}),
    ...(int('session-cookie-max-age', 0) !== undefined ? { maxAgeSeconds: int('session-cookie-max-age', 0)! } : {}),
    ...(int('session-cookie-expires', 0) !== undefined ? { expiresSeconds: int('session-cookie-expires', 0)! } : {}),
    ...(sameSite ? { sameSite } : {}),
    // SameSite=None requires Secure in browsers; ingress-nginx adds it for the same reason.
    secure: secure === 'true' || sameSite === 'None',
    changeOnFailure: change === 'true',
  };
}

function parseBasicAuth(a: Map<string, string>, type: string, namespace: string, secret: SecretLookup): BasicAuth | { denied: string; reason: string } {
  if (type !== 'basic') return { denied: `auth-type ${JSON.stringify(type)} is not supported (only "basic"); the location is denied`, reason: 'InvalidAnnotation' };
  const ref = a.get('auth-secret');
  if (!ref) return { denied: 'auth-type basic without auth-secret; the location is denied', reason: 'InvalidAnnotation' };
  const [ns, name] = ref.includes('/') ? ref.split('/', 2) as [string, string] : [namespace, ref];
  const s = secret(ns, name);
  if (!s) return { denied: `auth-secret ${ns}/${name} not found; the location is denied`, reason: 'MissingSecret' };
  const data = s.data ?? {};
  const users: Record<string, string> = {};
  const secretType = a.get('auth-secret-type') ?? 'auth-file';
  if (secretType === 'auth-map') {
    for (const [u, h] of Object.entries(data)) users[u] = Buffer.from(h, 'base64').toString('utf8').trim();
  } else {
    const auth = data.auth;
    if (auth === undefined) return { denied: `auth-secret ${ns}/${name} has no "auth" key; the location is denied`, reason: 'InvalidSecret' };
    Object.assign(users, parseHtpasswd(Buffer.from(auth, 'base64').toString('utf8')));
  }
  const unsupported = Object.entries(users).filter(([, h]) => hashScheme(h) === 'unsupported').map(([u]) => u);
  if (Object.keys(users).length === 0) return { denied: `auth-secret ${ns}/${name} lists no users; the location is denied`, reason: 'InvalidSecret' };
  if (unsupported.length === Object.keys(users).length) {
    return { denied: `auth-secret ${ns}/${name}: no usable password hash (supported: $apr1$/$1$ MD5, $2y$/$2a$/$2b$ bcrypt, {SHA}, {SSHA}, {PLAIN}); the location is denied`, reason: 'InvalidSecret' };
  }
  return { realm: a.get('auth-realm') ?? 'Authentication Required', users };
}
