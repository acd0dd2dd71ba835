// translateGateway(): Gateway API objects in (gateway.networking.k8s.io/v1 GatewayClass, Gateway,
// HTTPRoute and ReferenceGrant, plus the Services, EndpointSlices, Secrets and Namespaces they name), out: the
// per-host HTTPRoute rules the ingress proxy serves and the status every object should have.
// Pure: no I/O, no clock (the caller passes `now` for condition times), deterministic order.
// Spec: https://gateway-api.sigs.k8s.io/reference/spec/ (v1 GatewayClass, Gateway, HTTPRoute, ReferenceGrant).
import { runsInLinearTime } from '../util/regexp.ts';
import type { Namespace, Secret, Service } from 'kubernetes-types/core/v1.d.ts';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.d.ts';
import type { IGateway } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/Gateway';
import type { IGatewayClass } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/GatewayClass';
import type { IHTTPRoute } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/HTTPRoute';
import type { IReferenceGrant } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/ReferenceGrant';
import { fromLabelSelectorObject, matchesLabels } from '../api/selectors.ts';
import { parseAnnotations } from '../ingress/annotations.ts';
import type { Certificate, GatewayFilters, GatewayMatch, GatewayRule, HeaderEdits, PathModifier, RouteOptions, WeightedBackend } from '../ingress/route-table.ts';
import { buildIndexes, loadCertificate, resolveBackend } from '../ingress/translate.ts';

export const GATEWAY_CONTROLLER_NAME = 'podgate.io/gateway-controller';
export const GATEWAY_GROUP = 'gateway.networking.k8s.io';

export type Gateway = IGateway;
export type GatewayClass = IGatewayClass;
export type HTTPRoute = IHTTPRoute;
/** v1 and v1beta1 ReferenceGrants have one schema; the informer hands over v1. */
export type ReferenceGrant = IReferenceGrant;

export interface GatewayInput {
  readonly gatewayClasses: readonly GatewayClass[];
  readonly gateways: readonly Gateway[];
  readonly httpRoutes: readonly HTTPRoute[];
  readonly services: readonly Service[];
  readonly endpointSlices: readonly EndpointSlice[];
  readonly secrets: readonly Secret[];
  /** For allowedRoutes.namespaces.from: Selector. */
  readonly namespaces?: readonly Namespace[];
  /** The grants that permit cross-namespace backendRefs and certificateRefs (none: all refused). */
  readonly referenceGrants?: readonly ReferenceGrant[];
}

export interface GatewayOptions {
  readonly controllerName?: string;
  /** The ingress proxy's ports: the only ones a listener can be programmed on (null: not served). */
  readonly httpPort: number | null;
  readonly httpsPort: number | null;
  /** The node addresses, as Ingress status reports them; they become status.addresses. */
  readonly addresses: readonly string[];
  /** RFC 3339 time for lastTransitionTime of conditions that change. */
  readonly now: string;
}

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  observedGeneration?: number;
  lastTransitionTime: string;
}

/** One host's HTTPRoute rules, in the spec's precedence order. */
export interface GatewayHost {
  readonly host: string; // exact, "*.suffix" or '' (any host)
  readonly rules: readonly GatewayRule[];
}

export interface GatewayPlan {
  readonly hosts: readonly GatewayHost[];
  readonly certificates: readonly Certificate[];
  /** Desired status by key: GatewayClass "name", Gateway and HTTPRoute "namespace/name". */
  readonly classStatus: ReadonlyMap<string, { conditions: Condition[] }>;
  readonly gatewayStatus: ReadonlyMap<string, Record<string, unknown>>;
  /** Only the parents this controller owns; the writer keeps other controllers' entries. */
  readonly routeParents: ReadonlyMap<string, Record<string, unknown>[]>;
}

type Listener = NonNullable<NonNullable<Gateway['spec']>['listeners']>[number];
type ParentRef = NonNullable<NonNullable<HTTPRoute['spec']>['parentRefs']>[number];
type Rule = NonNullable<NonNullable<HTTPRoute['spec']>['rules']>[number];

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const keyOf = (o: { metadata?: { namespace?: string; name?: string } }): string => `${o.metadata?.namespace ?? 'default'}/${o.metadata?.name ?? ''}`;

/** Builds the plan; bad input becomes status conditions, never an exception. */
export function translateGateway(input: GatewayInput, opts: GatewayOptions): GatewayPlan {
  const controller = opts.controllerName ?? GATEWAY_CONTROLLER_NAME;
  const grants = grantIndex(input.referenceGrants ?? []);
  const idx = buildIndexes({ ingresses: [], ingressClasses: [], services: input.services, endpointSlices: input.endpointSlices, secrets: input.secrets });
  const cond = (gen: number | undefined, type: string, ok: boolean, reason: string, message: string, previous?: readonly Condition[]): Condition =>
    condition(gen, type, ok ? 'True' : 'False', reason, message, opts.now, previous);

  // GatewayClass: ours are Accepted (GatewayClassConditionReason Accepted).
  const classStatus = new Map<string, { conditions: Condition[] }>();
  const ourClasses = new Set<string>();
  for (const gc of input.gatewayClasses) {
    if (gc.spec?.controllerName !== controller) continue;
    const name = gc.metadata?.name ?? '';
    ourClasses.add(name);
    const prev = (gc.status?.conditions ?? []) as Condition[];
    classStatus.set(name, { conditions: [cond(gc.metadata?.generation, 'Accepted', true, 'Accepted', `Handled by ${controller}`, prev)] });
  }

  // Gateways and their listeners. A listener is `programmable` (served by the proxy) when it is
  // Accepted, its certificate resolves and at least one of its route kinds is supported; routes
  // attach to any listener (valid or not: ListenerStatus.attachedRoutes "MUST be set for Listeners,
  // even if the Accepted condition of an individual Listener is set to False").
  const gateways = new Map<string, { gw: Gateway; listeners: ListenerState[] }>();
  // host -> certificate, first listener (Gateway namespace/name, then listener order) wins.
  const certByHost = new Map<string, Certificate>();
  const listenerOrder: ListenerState[] = [];
  for (const gw of [...input.gateways].sort((a, b) => cmp(keyOf(a), keyOf(b)))) {
    if (!ourClasses.has(gw.spec?.gatewayClassName ?? '')) continue;
    const ns = gw.metadata?.namespace ?? 'default';
    const gen = gw.metadata?.generation;
    const prev = (gw.status?.listeners ?? []);
    const listeners: ListenerState[] = [];
    for (const l of gw.spec?.listeners ?? []) {
      const old = (prev.find((p) => p.name === l.name)?.conditions ?? []) as Condition[];
      const c = (type: string, ok: boolean, reason: string, message: string) => cond(gen, type, ok, reason, message, old);
      let notAccepted: { reason: string; message: string } | undefined;
      const refProblems: { reason: string; message: string }[] = [];
      const secure = l.protocol === 'HTTPS';
      const httpish = l.protocol === 'HTTP' || l.protocol === 'HTTPS';
      if (!httpish) {
        notAccepted = { reason: 'UnsupportedProtocol', message: `protocol ${l.protocol} is not supported; podgate serves HTTP and HTTPS listeners` };
      } else if (l.port !== (secure ? opts.httpsPort : opts.httpPort)) {
        notAccepted = { reason: 'PortUnavailable', message: `${l.protocol} listeners must use port ${secure ? opts.httpsPort : opts.httpPort} (the ingress proxy's ${l.protocol} port), not ${l.port}` };
      } else if (secure && (l.tls?.mode ?? 'Terminate') !== 'Terminate') {
        notAccepted = { reason: 'UnsupportedValue', message: 'only TLS mode Terminate is supported' };
      }
      // ListenerStatus.supportedKinds: "If kinds are specified in Spec that are not supported, they
      // MUST NOT appear in this list and an implementation MUST set the ResolvedRefs condition to
      // False with the InvalidRouteKinds reason. If both valid and invalid Route kinds are
      // specified, the implementation MUST reference the valid Route kinds" (conformance
      // GatewayInvalidRouteKind). Unspecified kinds follow the protocol (AllowedRoutes.kinds).
      const specKinds = l.allowedRoutes?.kinds ?? [];
      const isHttpRoute = (k: { group?: string; kind: string }) => httpish && (k.group ?? GATEWAY_GROUP) === GATEWAY_GROUP && k.kind === 'HTTPRoute';
      const supportedKinds = httpish && (specKinds.length === 0 || specKinds.some(isHttpRoute)) ? [{ group: GATEWAY_GROUP, kind: 'HTTPRoute' }] : [];
      const badKinds = specKinds.filter((k) => !isHttpRoute(k));
      if (badKinds.length) refProblems.push({ reason: 'InvalidRouteKinds', message: `route kinds ${badKinds.map((k) => `${k.group ?? GATEWAY_GROUP}/${k.kind}`).join(', ')} are not supported on this listener${supportedKinds.length ? '; HTTPRoute is' : ''}` });
      let cert: Certificate | undefined;
      let certProblem = false;
      if (secure && (l.tls?.mode ?? 'Terminate') === 'Terminate') {
        const tls = l.tls;
        const certProblemOf = (): { reason: string; message: string } | undefined => {
          if (!tls?.certificateRefs?.length) return { reason: 'InvalidCertificateRef', message: 'an HTTPS listener needs certificateRefs' };
          for (const ref of tls.certificateRefs) {
            const refNs = ref.namespace ?? ns;
            if ((ref.group ?? '') !== '' || (ref.kind ?? 'Secret') !== 'Secret') return { reason: 'InvalidCertificateRef', message: `certificateRef ${ref.kind}/${ref.name} is not a Secret` };
            // A Secret in another namespace needs a ReferenceGrant there from Gateways of this
            // namespace (SecretObjectReference.namespace; ListenerReasonRefNotPermitted).
            if (!referencePermitted(grants, { group: GATEWAY_GROUP, kind: 'Gateway', namespace: ns }, { group: '', kind: 'Secret', namespace: refNs, name: ref.name })) {
              return { reason: 'RefNotPermitted', message: `certificateRef to Secret ${refNs}/${ref.name} is not permitted: no ReferenceGrant in namespace ${refNs} allows it from Gateways in namespace ${ns}` };
            }
            const loaded = loadCertificate(idx, refNs, ref.name, []);
            if ('problem' in loaded) return { reason: 'InvalidCertificateRef', message: loaded.problem };
            cert ??= loaded;
          }
          return undefined;
        };
        const p = certProblemOf();
        if (p) { refProblems.unshift(p); certProblem = true; cert = undefined; }
      }
      const programmable = notAccepted === undefined && !certProblem && supportedKinds.length > 0;
      const conditions = [
        c('Accepted', notAccepted === undefined, notAccepted?.reason ?? 'Accepted', notAccepted?.message ?? 'Listener is accepted'),
        c('Conflicted', false, 'NoConflicts', 'No conflicts'),
        c('Programmed', programmable, programmable ? 'Programmed' : 'Invalid', programmable ? 'Listener is programmed' : 'Listener is not programmed'),
        c('ResolvedRefs', refProblems.length === 0, refProblems[0]?.reason ?? 'ResolvedRefs', refProblems.length ? refProblems.map((p) => p.message).join('; ') : 'All references are resolved'),
      ];
      const state: ListenerState = { gw, l, programmable, secure, supportedKinds, clean: notAccepted === undefined && refProblems.length === 0, ...(cert && programmable ? { cert } : {}), routeHosts: new Set(), conditions, attached: 0 };
      listeners.push(state);
      listenerOrder.push(state);
      // A listener hostname gets its certificate whether or not routes are attached yet.
      if (state.cert && l.hostname && !certByHost.has(l.hostname.toLowerCase())) certByHost.set(l.hostname.toLowerCase(), state.cert);
    }
    gateways.set(keyOf(gw), { gw, listeners });
  }

  // HTTPRoutes: attachment per parentRef, statuses, and the rules per effective host.
  const nsLabels = new Map((input.namespaces ?? []).map((n) => [n.metadata?.name ?? '', n.metadata?.labels ?? {}]));
  const options = defaultOptions();
  const byHost = new Map<string, Ranked[]>();
  const routeParents = new Map<string, Record<string, unknown>[]>();
  const routes = [...input.httpRoutes].sort((a, b) => cmp(a.metadata?.creationTimestamp ?? '', b.metadata?.creationTimestamp ?? '') || cmp(keyOf(a), keyOf(b)));
  for (const [age, route] of routes.entries()) {
    const rns = route.metadata?.namespace ?? 'default';
    const rkey = keyOf(route);
    const gen = route.metadata?.generation;
    const parents: Record<string, unknown>[] = [];
    const resolved = resolveRules(route, idx, grants);
    const counted = new Set<ListenerState>();
    for (const ref of route.spec?.parentRefs ?? []) {
      if ((ref.group ?? GATEWAY_GROUP) !== GATEWAY_GROUP || (ref.kind ?? 'Gateway') !== 'Gateway') continue;
      const g = gateways.get(`${ref.namespace ?? rns}/${ref.name}`);
      if (!g) continue; // not a Gateway of ours: its controller (if any) writes this parent's status
      const old = ((route.status?.parents ?? []).find((p) => p.controllerName === controller && sameParent(p.parentRef, ref, rns))?.conditions ?? []) as Condition[];
      const c = (type: string, ok: boolean, reason: string, message: string) => cond(gen, type, ok, reason, message, old);
      const attach = attachTo(g.listeners, ref, route, rns, nsLabels);
      const accepted = attach.reason === undefined && resolved.invalid === undefined;
      parents.push({
        parentRef: { group: GATEWAY_GROUP, kind: 'Gateway', ...(ref.namespace ? { namespace: ref.namespace } : {}), name: ref.name, ...(ref.sectionName ? { sectionName: ref.sectionName } : {}), ...(ref.port !== undefined ? { port: ref.port } : {}) },
        controllerName: controller,
        conditions: [
          accepted ? c('Accepted', true, 'Accepted', 'Route is accepted')
            : attach.reason !== undefined ? c('Accepted', false, attach.reason, attach.message!) : c('Accepted', false, resolved.invalid!.reason, resolved.invalid!.message),
          resolved.refProblem ? c('ResolvedRefs', false, resolved.refProblem.reason, resolved.refProblem.message) : c('ResolvedRefs', true, 'ResolvedRefs', 'All references are resolved'),
        ],
      });
      // ListenerStatus.attachedRoutes counts the Routes "with the Accepted condition set to True"
      // attached to the listener, whatever the listener's own status; once per route.
      if (!accepted) continue;
      for (const a of attach.attached) {
        counted.add(a.listener);
        // Only programmed listeners serve the route.
        if (!a.listener.programmable) continue;
        if (a.listener.secure && !a.listener.l.hostname) for (const h of a.hosts) a.listener.routeHosts.add(h);
        for (const host of a.hosts) {
          for (const [ri, rule] of resolved.rules.entries()) {
            for (const [mi, match] of rule.matches.entries()) {
              const r: GatewayRule = { id: `${rkey}|${ri}|${mi}|${a.listener.secure ? 'https' : 'http'}`, route: rkey, match, backends: rule.backends, filters: rule.filters, options, secure: a.listener.secure };
              let list = byHost.get(host);
              if (!list) byHost.set(host, (list = []));
              if (!list.some((x) => x.rule.id === r.id)) list.push({ rule: r, age, ri, mi });
            }
          }
        }
      }
    }
    for (const l of counted) l.attached++;
    if (parents.length) routeParents.set(rkey, parents);
  }

  // An HTTPS listener without a hostname serves its certificate for the hostnames of the routes
  // attached to it ('' for a route without hostnames: any name; see GatewayPlan.certificates).
  for (const l of listenerOrder) {
    if (!l.cert || l.l.hostname) continue;
    for (const h of [...l.routeHosts].sort()) if (!certByHost.has(h)) certByHost.set(h, l.cert);
  }

  const gatewayStatus = new Map<string, Record<string, unknown>>();
  const addresses = [...new Set(opts.addresses)].sort().map((a) => (/^[\d.]+$|:/.test(a) ? { type: 'IPAddress', value: a } : { type: 'Hostname', value: a }));
  for (const [key, { gw, listeners }] of gateways) {
    const gen = gw.metadata?.generation;
    const prev = (gw.status?.conditions ?? []) as Condition[];
    const good = listeners.filter((l) => l.programmable).length;
    const allGood = listeners.every((l) => l.clean);
    gatewayStatus.set(key, {
      addresses,
      conditions: [
        // GatewayConditionReason ListenersNotValid "can be the reason when Accepted is True or False".
        cond(gen, 'Accepted', good > 0 || listeners.length === 0, allGood ? 'Accepted' : 'ListenersNotValid', allGood ? 'Gateway is accepted' : `${listeners.filter((l) => !l.clean).length} of ${listeners.length} listeners are not valid`, prev),
        cond(gen, 'Programmed', good > 0, good > 0 ? 'Programmed' : 'Invalid', good > 0 ? 'Gateway is programmed on the ingress proxy' : 'No listener could be programmed', prev),
      ],
      listeners: listeners.map((s) => ({
        name: s.l.name,
        supportedKinds: s.supportedKinds,
        attachedRoutes: s.attached,
        conditions: s.conditions,
      })),
    });
  }

  const hosts: GatewayHost[] = [...byHost.entries()].sort(([a], [b]) => cmp(a, b)).map(([host, list]) => ({ host, rules: list.sort(comparePrecedence).map((x) => x.rule) }));
  return { hosts, certificates: groupCertificates(certByHost), classStatus, gatewayStatus, routeParents };
}

interface ListenerState {
  readonly gw: Gateway; readonly l: Listener;
  /** Served by the proxy: Accepted, certificate resolved, a supported route kind. */
  readonly programmable: boolean;
  /** No condition False (for the Gateway's ListenersNotValid). */
  readonly clean: boolean;
  readonly secure: boolean;
  readonly supportedKinds: readonly { group: string; kind: string }[];
  /** An HTTPS listener's certificate (programmable listeners only). */
  readonly cert?: Certificate;
  /** The hostnames routes are served on through this listener (HTTPS listeners without a hostname). */
  readonly routeHosts: Set<string>;
  readonly conditions: Condition[];
  attached: number;
}

/** One Certificate per Secret with every host it serves, in a stable order. */
function groupCertificates(byHost: ReadonlyMap<string, Certificate>): Certificate[] {
  const bySecret = new Map<string, { c: Certificate; hosts: string[] }>();
  for (const [host, c] of byHost) {
    const k = `${c.secret}\n${c.certPem}`;
    let e = bySecret.get(k);
    if (!e) bySecret.set(k, (e = { c, hosts: [] }));
    e.hosts.push(host);
  }
  return [...bySecret.values()].map(({ c, hosts }) => ({ ...c, hosts: hosts.sort() }))
    .sort((a, b) => cmp(a.secret, b.secret) || cmp(a.hosts[0] ?? '', b.hosts[0] ?? ''));
}

interface Ranked { readonly rule: GatewayRule; readonly age: number; readonly ri: number; readonly mi: number }

/**
 * HTTPRouteRule's precedence, continuing on ties: an Exact path; then a RegularExpression path
 * (implementation-specific in the spec; podgate puts it before prefixes, longest first); then the
 * PathPrefix with the most characters; a method match; the most header matches; the most query
 * param matches; then the oldest Route; the first by "{namespace}/{name}"; then the first rule and
 * match in list order. `age` is the route's index in creation-time/name order.
 */
export function comparePrecedence(a: Ranked, b: Ranked): number {
  const rank = (m: GatewayMatch) => (m.path.type === 'Exact' ? 0 : m.path.type === 'RegularExpression' ? 1 : 2);
  const ma = a.rule.match, mb = b.rule.match;
  return rank(ma) - rank(mb) || mb.path.value.length - ma.path.value.length ||
    Number(mb.method !== undefined) - Number(ma.method !== undefined) ||
    mb.headers.length - ma.headers.length || mb.queryParams.length - ma.queryParams.length ||
    a.age - b.age || a.ri - b.ri || a.mi - b.mi;
}

/** Route options of HTTPRoute rules: the Ingress defaults, without ingress-nginx's 1 MiB body limit (the Gateway API has none). */
function defaultOptions(): RouteOptions {
  return { ...parseAnnotations(undefined, '', () => undefined).options, maxBodyBytes: 0 };
}

function sameParent(p: { group?: string; kind?: string; namespace?: string; name?: string; sectionName?: string; port?: number } | undefined, ref: ParentRef, rns: string): boolean {
  return !!p && p.name === ref.name && (p.namespace ?? rns) === (ref.namespace ?? rns) && (p.sectionName ?? '') === (ref.sectionName ?? '') && p.port === ref.port;
}

interface AttachResult {
  readonly attached: { readonly listener: ListenerState; readonly hosts: readonly string[] }[];
  readonly reason?: string;
  readonly message?: string;
}

/**
 * Which listeners of a Gateway a parentRef attaches the route to, and on which hostnames
 * (ParentReference sectionName/port; AllowedRoutes namespaces From Same/All/Selector and kinds;
 * Listener.hostname ∩ HTTPRoute.hostnames), else the reason the spec gives for refusing it.
 * Over every listener, valid or not: "Successful attachment of a Route to a Listener is based
 * solely on the combination of the AllowedRoutes field on the corresponding Listener and the
 * Route's ParentRefs field ... Listener or Route status does not impact successful attachment"
 * (ListenerStatus.attachedRoutes; conformance GatewayWithAttachedRoutes counts a route on a
 * listener whose certificate does not resolve).
 */
function attachTo(listeners: readonly ListenerState[], ref: ParentRef, route: HTTPRoute, rns: string, nsLabels: ReadonlyMap<string, Record<string, string>>): AttachResult {
  const named = listeners.filter((s) => (ref.sectionName === undefined || s.l.name === ref.sectionName) && (ref.port === undefined || s.l.port === ref.port));
  if (!named.length) return { attached: [], reason: 'NoMatchingParent', message: `no listener matches sectionName ${ref.sectionName ?? '(any)'} port ${ref.port ?? '(any)'}` };
  const kindAllowed = named.filter((s) => s.supportedKinds.some((k) => k.group === GATEWAY_GROUP && k.kind === 'HTTPRoute'));
  if (!kindAllowed.length) return { attached: [], reason: 'NotAllowedByListeners', message: 'no matching listener allows the kind HTTPRoute' };
  const allowed = kindAllowed.filter((s) => {
    const gwNs = s.gw.metadata?.namespace ?? 'default';
    const ns = s.l.allowedRoutes?.namespaces;
    switch (ns?.from ?? 'Same') {
      case 'All': return true;
      case 'Same': return rns === gwNs;
      case 'Selector': return ns?.selector !== undefined && matchesLabels(fromLabelSelectorObject(ns.selector as Parameters<typeof fromLabelSelectorObject>[0]), nsLabels.get(rns));
      default: return false;
    }
  });
  if (!allowed.length) return { attached: [], reason: 'NotAllowedByListeners', message: `no listener of the Gateway allows routes from namespace ${rns}` };
  const routeHosts = (route.spec?.hostnames ?? []).map((h) => h.toLowerCase());
  const attached = allowed.map((s) => ({ listener: s, hosts: intersectHostnames(s.l.hostname?.toLowerCase(), routeHosts) })).filter((a) => a.hosts.length > 0);
  if (!attached.length) return { attached: [], reason: 'NoMatchingListenerHostname', message: 'no listener hostname matches the route\'s hostnames' };
  return { attached };
}

/**
 * The hostnames a route serves on a listener (HTTPRoute spec.hostnames): no listener hostname
 * takes the route's (none: any host, ''); no route hostnames take the listener's; otherwise each
 * route hostname equal to, or matched by, the listener's wildcard, and the listener's hostname
 * where the route's wildcard matches it. Empty: no intersection.
 */
export function intersectHostnames(listener: string | undefined, route: readonly string[]): string[] {
  if (!route.length) return [listener ?? ''];
  if (listener === undefined) return [...route];
  const out = new Set<string>();
  for (const h of route) {
    if (h === listener) out.add(h);
    else if (listener.startsWith('*.') && wildcardMatches(listener, h)) out.add(h);
    else if (h.startsWith('*.') && wildcardMatches(h, listener)) out.add(listener);
  }
  return [...out].sort();
}

/** `*.example.com` matches `a.example.com`, `a.b.example.com` and the more specific wildcard `*.a.example.com`, not `example.com`. */
function wildcardMatches(wildcard: string, host: string): boolean {
  const suffix = wildcard.slice(1); // ".example.com"
  const h = host.startsWith('*.') ? host.slice(1) : host;
  return h.endsWith(suffix) && h.length > suffix.length;
}

interface ResolvedRule { readonly matches: GatewayMatch[]; readonly backends: WeightedBackend[]; readonly filters: GatewayFilters }

/**
 * The route's rules with backends resolved, the first reference problem (ResolvedRefs), and the
 * first invalid rule (Accepted False). A route with an invalid rule is not Accepted and none of it
 * is programmed: the spec's other choice, dropping the rule, needs Accepted True with a
 * PartiallyInvalid condition ("Dropped Rule ..."), and for ReplacePrefixMatch it says outright that
 * the Route gets Accepted False.
 */
function resolveRules(route: HTTPRoute, idx: ReturnType<typeof buildIndexes>, grants: GrantIndex): { rules: ResolvedRule[]; refProblem?: { reason: string; message: string }; invalid?: { reason: string; message: string } } {
  const rns = route.metadata?.namespace ?? 'default';
  let refProblem: { reason: string; message: string } | undefined;
  let invalid: { reason: string; message: string } | undefined;
  const bad = (ri: number, message: string, reason = 'UnsupportedValue') => { invalid ??= { reason, message: `spec.rules[${ri}]: ${message}` }; };
  const rules: ResolvedRule[] = [];
  for (const [ri, rule] of (route.spec?.rules ?? [{}] as Rule[]).entries()) {
    const matches = (rule.matches?.length ? rule.matches : [{}]).map((m): GatewayMatch => ({
      path: { type: m.path?.type ?? 'PathPrefix', value: m.path?.value ?? '/' },
      // HTTPHeaderMatch.name: "Subsequent entries with an equivalent header name MUST be ignored"
      // (case-insensitive); HTTPQueryParamMatch.name the same, names compared exactly.
      headers: firstByName((m.headers ?? []).map((h) => ({ type: h.type ?? 'Exact', name: h.name.toLowerCase(), value: h.value }))),
      queryParams: firstByName((m.queryParams ?? []).map((q) => ({ type: q.type ?? 'Exact', name: q.name, value: q.value }))),
      ...(m.method ? { method: m.method } : {}),
    }));
    for (const m of matches) {
      for (const p of [m.path.type === 'RegularExpression' ? m.path.value : undefined, ...m.headers.filter((h) => h.type === 'RegularExpression').map((h) => h.value), ...m.queryParams.filter((q) => q.type === 'RegularExpression').map((q) => q.value)]) {
        if (p === undefined) continue;
        const problem = regexProblem(p);
        if (problem) bad(ri, `${JSON.stringify(p)} ${problem}`);
      }
    }
    const filters: { requestHeaders?: HeaderEdits; responseHeaders?: HeaderEdits; redirect?: GatewayFilters['redirect']; rewrite?: GatewayFilters['rewrite'] } = {};
    const seenTypes = new Set<string>();
    for (const f of rule.filters ?? []) {
      // The CRD's CEL on HTTPRouteRule.filters: "<type> filter cannot be repeated".
      if (seenTypes.has(f.type)) bad(ri, `the ${f.type} filter cannot be repeated`);
      seenTypes.add(f.type);
      switch (f.type) {
        case 'RequestHeaderModifier':
        case 'ResponseHeaderModifier': {
          const spec = f.type === 'RequestHeaderModifier' ? f.requestHeaderModifier : f.responseHeaderModifier;
          const problem = headerEditsProblem(spec);
          if (problem) { bad(ri, `${f.type}: ${problem}`); break; }
          if (f.type === 'RequestHeaderModifier') filters.requestHeaders = headerEdits(spec);
          else filters.responseHeaders = headerEdits(spec);
          break;
        }
        case 'RequestRedirect': {
          const r = f.requestRedirect ?? {};
          filters.redirect = {
            ...(r.scheme === 'http' || r.scheme === 'https' ? { scheme: r.scheme } : {}),
            ...(r.hostname ? { hostname: r.hostname } : {}), ...(r.port !== undefined ? { port: r.port } : {}),
            ...(r.path ? { path: pathModifier(r.path) } : {}), statusCode: r.statusCode ?? 302,
          };
          break;
        }
        case 'URLRewrite': {
          const r = f.urlRewrite ?? {};
          filters.rewrite = { ...(r.hostname ? { hostname: r.hostname } : {}), ...(r.path ? { path: pathModifier(r.path) } : {}) };
          break;
        }
        default: bad(ri, `filter type ${f.type} is not supported`);
      }
    }
    // The CRD's CEL rules the served schema does not carry:
    // "May specify either httpRouteFilterRequestRedirect or httpRouteFilterRequestRewrite, but not
    // both" (RouteReasonIncompatibleFilters names this very case);
    if (seenTypes.has('RequestRedirect') && seenTypes.has('URLRewrite')) bad(ri, 'RequestRedirect and URLRewrite cannot be used together', 'IncompatibleFilters');
    // "RequestRedirect filter must not be used together with backendRefs";
    if (seenTypes.has('RequestRedirect') && rule.backendRefs?.length) bad(ri, 'a RequestRedirect filter cannot be used together with backendRefs', 'IncompatibleFilters');
    // HTTPPathModifier: "ReplacePrefixMatch is only compatible with a PathPrefix HTTPRouteMatch ...
    // the implementation setting the Accepted Condition for the Route to status: False"; the CEL:
    // "When using ... filter with path.replacePrefixMatch, exactly one PathPrefix match must be specified".
    for (const [name, m] of [['RequestRedirect', filters.redirect?.path], ['URLRewrite', filters.rewrite?.path]] as const) {
      if (m?.type === 'ReplacePrefixMatch' && (matches.length !== 1 || matches[0]!.path.type !== 'PathPrefix')) bad(ri, `${name} path ReplacePrefixMatch needs exactly one match, of path type PathPrefix`);
    }
    const backends: WeightedBackend[] = [];
    for (const b of rule.backendRefs ?? []) {
      const weight = b.weight ?? 1;
      const problem = backendProblem(b, rns, idx, grants);
      if (problem) { refProblem ??= problem; backends.push({ weight }); continue; }
      if (b.filters?.length) bad(ri, 'backendRef filters are not supported');
      const r = resolveBackend(idx, b.namespace ?? rns, b.name, b.port!);
      backends.push(r.backend ? { weight, backend: r.backend } : { weight });
    }
    rules.push({ matches, backends, filters });
  }
  return { rules, ...(refProblem ? { refProblem } : {}), ...(invalid ? { invalid } : {}) };
}

function firstByName<T extends { readonly name: string }>(list: readonly T[]): T[] {
  const seen = new Set<string>();
  return list.filter((x) => !seen.has(x.name) && !!seen.add(x.name));
}

/**
 * Why a RegularExpression match value cannot be served, or undefined. The router runs it as
 * `^(?:value)$` on what clients send; guardRegExpBacktracking (src/util/regexp.ts) moves a pattern
 * that backtracks too much to V8's linear-time engine, which cannot run backreferences, lookaheads
 * or counted repetitions over 16, so such a pattern (`(a|a)*\1b`) would stall a proxy thread. It is
 * refused unless V8 compiles it for the linear engine (flag `l`), as Envoy-based implementations
 * accept only RE2 (linear-time) expressions (RegexMatcher google_re2, with a program-size limit).
 * Without the flag (other V8 builds): backreferences and lookarounds are refused by their syntax.
 */
export function regexProblem(p: string): string | undefined {
  try { new RegExp(p); } catch { return 'is not a valid regular expression'; }
  const notLinear = 'cannot be matched in linear time (backreferences, lookaheads and counted repetitions over 16 are not supported)';
  const linear = runsInLinearTime(p);
  if (linear !== undefined) return linear ? undefined : notLinear;
  return /\\[1-9]|\\k<|\(\?<?[=!]/.test(p) ? notLinear : undefined;
}

/** Why a backendRef cannot be used (RouteConditionReason InvalidKind, RefNotPermitted, BackendNotFound), or undefined. */
function backendProblem(b: { group?: string; kind?: string; name: string; namespace?: string; port?: number }, rns: string, idx: ReturnType<typeof buildIndexes>, grants: GrantIndex): { reason: string; message: string } | undefined {
  if ((b.group ?? '') !== '' || (b.kind ?? 'Service') !== 'Service') return { reason: 'InvalidKind', message: `backendRef ${b.group ?? ''}/${b.kind} ${b.name}: only Services are supported` };
  const ns = b.namespace ?? rns;
  // BackendObjectReference.namespace: "a ReferenceGrant object is required in the referent
  // namespace to allow that namespace's owner to accept the reference". Checked before the
  // Service is looked up, so a refused reference says nothing of what the namespace holds.
  if (!referencePermitted(grants, { group: GATEWAY_GROUP, kind: 'HTTPRoute', namespace: rns }, { group: '', kind: 'Service', namespace: ns, name: b.name })) {
    return { reason: 'RefNotPermitted', message: `backendRef to Service ${ns}/${b.name} is not permitted: no ReferenceGrant in namespace ${ns} allows it from HTTPRoutes in namespace ${rns}` };
  }
  const svc = idx.services.get(`${ns}/${b.name}`);
  if (!svc) return { reason: 'BackendNotFound', message: `Service ${ns}/${b.name} not found` };
  if (b.port === undefined) return { reason: 'UnsupportedValue', message: `backendRef to Service ${ns}/${b.name} needs a port` };
  if (!(svc.spec?.ports ?? []).some((p) => p.port === b.port)) return { reason: 'BackendNotFound', message: `Service ${ns}/${b.name} has no port ${b.port}` };
  return undefined;
}

/** ReferenceGrants by the namespace they live in (the namespace of the referents they permit). */
type GrantIndex = ReadonlyMap<string, readonly ReferenceGrant[]>;

function grantIndex(grants: readonly ReferenceGrant[]): GrantIndex {
  const byNs = new Map<string, ReferenceGrant[]>();
  for (const g of grants) {
    const ns = g.metadata?.namespace ?? 'default';
    let list = byNs.get(ns);
    if (!list) byNs.set(ns, (list = []));
    list.push(g);
  }
  return byNs;
}

/**
 * Whether an object of (group, kind) in `from.namespace` may refer to the object named in
 * `to` (ReferenceGrant): always within one namespace; across namespaces only when a ReferenceGrant
 * in the referent's namespace has a `from` entry with exactly that group, kind and namespace and a
 * `to` entry with that group and kind whose name is the referent's or unset (all of that kind in
 * the namespace). Entries are ORed (ReferenceGrantSpec.from / to); groups compare exactly, `""`
 * being the core group. With no grant left the reference is refused at the next translation:
 * implementations "MUST respond to the removal of a grant by revoking the access".
 */
export function referencePermitted(grants: GrantIndex, from: { group: string; kind: string; namespace: string }, to: { group: string; kind: string; namespace: string; name: string }): boolean {
  if (from.namespace === to.namespace) return true;
  return (grants.get(to.namespace) ?? []).some((g) =>
    (g.spec?.from ?? []).some((f) => (f.group ?? '') === from.group && f.kind === from.kind && f.namespace === from.namespace) &&
    (g.spec?.to ?? []).some((t) => (t.group ?? '') === to.group && t.kind === to.kind && (!t.name || t.name === to.name)));
}

type HeaderFilterSpec = { set?: { name: string; value: string }[]; add?: { name: string; value: string }[]; remove?: string[] } | undefined;

/**
 * Headers a filter may not touch: the ones that frame the message on a connection the proxy reuses
 * (RFC 9112 §6 Content-Length / Transfer-Encoding, the hop-by-hop headers of RFC 9110 §7.6.1), so
 * `set: Content-Length: 0` cannot make a backend read a POST body as a second request; and Host,
 * which URLRewrite hostname rewrites.
 */
const PROTECTED_HEADERS = new Set(['content-length', 'transfer-encoding', 'connection', 'keep-alive', 'te', 'trailer', 'upgrade', 'proxy-connection', 'host']);
/** The CRD's HeaderName pattern (RFC 7230 token). */
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$/;
/** Control characters other than horizontal tab (RFC 9110 §5.5 field-value). */
const HEADER_VALUE_CTL = /[\x00-\x08\x0a-\x1f\x7f]/;

/** Why a RequestHeaderModifier / ResponseHeaderModifier cannot be applied, naming the header, or undefined. */
export function headerEditsProblem(f: HeaderFilterSpec): string | undefined {
  const entries: [string, string, string | undefined][] = [
    ...(f?.set ?? []).map((h) => ['set', h.name, h.value] as [string, string, string]),
    ...(f?.add ?? []).map((h) => ['add', h.name, h.value] as [string, string, string]),
    ...(f?.remove ?? []).map((n) => ['remove', n, undefined] as [string, string, undefined]),
  ];
  for (const [action, name, value] of entries) {
    if (!HEADER_NAME.test(name)) return `${action}: ${JSON.stringify(name)} is not a valid header name`;
    if (PROTECTED_HEADERS.has(name.toLowerCase())) return `${action}: header ${name} cannot be modified${name.toLowerCase() === 'host' ? ' (URLRewrite hostname rewrites the host)' : ' (it frames the message on the connection)'}`;
    if (value !== undefined && HEADER_VALUE_CTL.test(value)) return `${action}: the value of header ${name} contains control characters`;
  }
  return undefined;
}

function headerEdits(f: HeaderFilterSpec): HeaderEdits {
  return {
    set: (f?.set ?? []).map((h) => [h.name, h.value] as const),
    add: (f?.add ?? []).map((h) => [h.name, h.value] as const),
    remove: (f?.remove ?? []).map((n) => n.toLowerCase()),
  };
}

function pathModifier(p: { type: string; replaceFullPath?: string; replacePrefixMatch?: string }): PathModifier {
  return p.type === 'ReplaceFullPath' ? { type: 'ReplaceFullPath', value: p.replaceFullPath ?? '/' } : { type: 'ReplacePrefixMatch', value: p.replacePrefixMatch ?? '/' };
}

/** A condition, keeping the previous lastTransitionTime when its status did not change (metav1.Condition semantics). */
function condition(generation: number | undefined, type: string, status: Condition['status'], reason: string, message: string, now: string, previous?: readonly Condition[]): Condition {
  const old = previous?.find((c) => c.type === type);
  const lastTransitionTime = old && old.status === status ? old.lastTransitionTime : now;
  return { type, status, reason, message, ...(generation !== undefined ? { observedGeneration: generation } : {}), lastTransitionTime };
}
