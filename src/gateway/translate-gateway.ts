// translateGateway(): Gateway API objects in (gateway.networking.k8s.io/v1 GatewayClass, Gateway,
// HTTPRoute, plus the Services, EndpointSlices, Secrets and Namespaces they name), out: the
// per-host HTTPRoute rules the ingress proxy serves and the status every object should have.
// Pure: no I/O, no clock (the caller passes `now` for condition times), deterministic order.
// Spec: https://gateway-api.sigs.k8s.io/reference/spec/ (v1 GatewayClass, Gateway, HTTPRoute).
import type { Namespace, Secret, Service } from 'kubernetes-types/core/v1.d.ts';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.d.ts';
import type { IGateway } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/Gateway';
import type { IGatewayClass } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/GatewayClass';
import type { IHTTPRoute } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/HTTPRoute';
import { fromLabelSelectorObject, matchesLabels } from '../api/selectors.ts';
import { parseAnnotations } from '../ingress/annotations.ts';
import type { Certificate, GatewayFilters, GatewayMatch, GatewayRule, HeaderEdits, PathModifier, RouteOptions, WeightedBackend } from '../ingress/route-table.ts';
import { buildIndexes, loadCertificate, resolveBackend } from '../ingress/translate.ts';

export const GATEWAY_CONTROLLER_NAME = 'podgate.io/gateway-controller';
export const GATEWAY_GROUP = 'gateway.networking.k8s.io';

export type Gateway = IGateway;
export type GatewayClass = IGatewayClass;
export type HTTPRoute = IHTTPRoute;

export interface GatewayInput {
  readonly gatewayClasses: readonly GatewayClass[];
  readonly gateways: readonly Gateway[];
  readonly httpRoutes: readonly HTTPRoute[];
  readonly services: readonly Service[];
  readonly endpointSlices: readonly EndpointSlice[];
  readonly secrets: readonly Secret[];
  /** For allowedRoutes.namespaces.from: Selector. */
  readonly namespaces?: readonly Namespace[];
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

  // Gateways and their listeners.
  interface ListenerState {
    readonly gw: Gateway; readonly l: Listener; readonly valid: boolean; readonly secure: boolean;
    readonly conditions: Condition[]; attached: number;
  }
  const gateways = new Map<string, { gw: Gateway; listeners: ListenerState[] }>();
  const certificates = new Map<string, Certificate>();
  for (const gw of [...input.gateways].sort((a, b) => cmp(keyOf(a), keyOf(b)))) {
    if (!ourClasses.has(gw.spec?.gatewayClassName ?? '')) continue;
    const ns = gw.metadata?.namespace ?? 'default';
    const gen = gw.metadata?.generation;
    const prev = (gw.status?.listeners ?? []);
    const listeners: ListenerState[] = [];
    for (const l of gw.spec?.listeners ?? []) {
      const old = (prev.find((p) => p.name === l.name)?.conditions ?? []) as Condition[];
      const c = (type: string, ok: boolean, reason: string, message: string) => cond(gen, type, ok, reason, message, old);
      let problem: { type: 'Accepted' | 'ResolvedRefs'; reason: string; message: string } | undefined;
      const secure = l.protocol === 'HTTPS';
      const kinds = l.allowedRoutes?.kinds ?? [];
      if (l.protocol !== 'HTTP' && l.protocol !== 'HTTPS') {
        problem = { type: 'Accepted', reason: 'UnsupportedProtocol', message: `protocol ${l.protocol} is not supported; podgate serves HTTP and HTTPS listeners` };
      } else if (l.port !== (secure ? opts.httpsPort : opts.httpPort)) {
        problem = { type: 'Accepted', reason: 'PortUnavailable', message: `${l.protocol} listeners must use port ${secure ? opts.httpsPort : opts.httpPort} (the ingress proxy's ${l.protocol} port), not ${l.port}` };
      } else if (kinds.some((k) => (k.group ?? GATEWAY_GROUP) !== GATEWAY_GROUP || k.kind !== 'HTTPRoute')) {
        problem = { type: 'ResolvedRefs', reason: 'InvalidRouteKinds', message: 'only HTTPRoute can attach to this listener' };
      } else if (secure) {
        const tls = l.tls;
        if ((tls?.mode ?? 'Terminate') !== 'Terminate') problem = { type: 'Accepted', reason: 'UnsupportedValue', message: 'only TLS mode Terminate is supported' };
        else if (!tls?.certificateRefs?.length) problem = { type: 'ResolvedRefs', reason: 'InvalidCertificateRef', message: 'an HTTPS listener needs certificateRefs' };
        else {
          for (const ref of tls.certificateRefs) {
            const refNs = ref.namespace ?? ns;
            if ((ref.group ?? '') !== '' || (ref.kind ?? 'Secret') !== 'Secret') { problem = { type: 'ResolvedRefs', reason: 'InvalidCertificateRef', message: `certificateRef ${ref.kind}/${ref.name} is not a Secret` }; break; }
            // Cross-namespace references need a ReferenceGrant, which podgate does not serve yet.
            if (refNs !== ns) { problem = { type: 'ResolvedRefs', reason: 'RefNotPermitted', message: `certificateRef to namespace ${refNs} is not permitted (no ReferenceGrant support)` }; break; }
            const hosts = l.hostname ? [l.hostname.toLowerCase()] : [];
            const cert = loadCertificate(idx, refNs, ref.name, hosts);
            if ('problem' in cert) { problem = { type: 'ResolvedRefs', reason: 'InvalidCertificateRef', message: cert.problem }; break; }
            for (const h of hosts) if (!certificates.has(h)) certificates.set(h, cert);
          }
        }
      }
      const valid = problem === undefined;
      const conditions = [
        c('Accepted', problem?.type !== 'Accepted', problem?.type === 'Accepted' ? problem.reason : 'Accepted', problem?.type === 'Accepted' ? problem.message : 'Listener is accepted'),
        c('Conflicted', false, 'NoConflicts', 'No conflicts'),
        c('Programmed', valid, valid ? 'Programmed' : 'Invalid', valid ? 'Listener is programmed' : 'Listener is not programmed'),
        c('ResolvedRefs', problem?.type !== 'ResolvedRefs', problem?.type === 'ResolvedRefs' ? problem.reason : 'ResolvedRefs', problem?.type === 'ResolvedRefs' ? problem.message : 'All references are resolved'),
      ];
      listeners.push({ gw, l, valid, secure, conditions, attached: 0 });
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
    const resolved = resolveRules(route, idx);
    for (const ref of route.spec?.parentRefs ?? []) {
      if ((ref.group ?? GATEWAY_GROUP) !== GATEWAY_GROUP || (ref.kind ?? 'Gateway') !== 'Gateway') continue;
      const g = gateways.get(`${ref.namespace ?? rns}/${ref.name}`);
      if (!g) continue; // not a Gateway of ours: its controller (if any) writes this parent's status
      const old = ((route.status?.parents ?? []).find((p) => p.controllerName === controller && sameParent(p.parentRef, ref, rns))?.conditions ?? []) as Condition[];
      const c = (type: string, ok: boolean, reason: string, message: string) => cond(gen, type, ok, reason, message, old);
      const attach = attachTo(g.listeners, ref, route, rns, nsLabels);
      const accepted = attach.reason === undefined && resolved.unsupported === undefined;
      parents.push({
        parentRef: { group: GATEWAY_GROUP, kind: 'Gateway', ...(ref.namespace ? { namespace: ref.namespace } : {}), name: ref.name, ...(ref.sectionName ? { sectionName: ref.sectionName } : {}), ...(ref.port !== undefined ? { port: ref.port } : {}) },
        controllerName: controller,
        conditions: [
          accepted ? c('Accepted', true, 'Accepted', 'Route is accepted')
            : attach.reason !== undefined ? c('Accepted', false, attach.reason, attach.message!) : c('Accepted', false, 'UnsupportedValue', resolved.unsupported!),
          resolved.refProblem ? c('ResolvedRefs', false, resolved.refProblem.reason, resolved.refProblem.message) : c('ResolvedRefs', true, 'ResolvedRefs', 'All references are resolved'),
        ],
      });
      if (!accepted) continue;
      for (const a of attach.attached) {
        a.listener.attached++;
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
    if (parents.length) routeParents.set(rkey, parents);
  }

  const gatewayStatus = new Map<string, Record<string, unknown>>();
  const addresses = [...new Set(opts.addresses)].sort().map((a) => (/^[\d.]+$|:/.test(a) ? { type: 'IPAddress', value: a } : { type: 'Hostname', value: a }));
  for (const [key, { gw, listeners }] of gateways) {
    const gen = gw.metadata?.generation;
    const prev = (gw.status?.conditions ?? []) as Condition[];
    const good = listeners.filter((l) => l.valid).length;
    const allGood = good === listeners.length;
    gatewayStatus.set(key, {
      addresses,
      conditions: [
        // GatewayConditionReason ListenersNotValid "can be the reason when Accepted is True or False".
        cond(gen, 'Accepted', good > 0 || listeners.length === 0, allGood ? 'Accepted' : 'ListenersNotValid', allGood ? 'Gateway is accepted' : `${listeners.length - good} of ${listeners.length} listeners are not valid`, prev),
        cond(gen, 'Programmed', good > 0, good > 0 ? 'Programmed' : 'Invalid', good > 0 ? 'Gateway is programmed on the ingress proxy' : 'No listener could be programmed', prev),
      ],
      listeners: listeners.map((s) => ({
        name: s.l.name,
        supportedKinds: s.l.protocol === 'HTTP' || s.l.protocol === 'HTTPS' ? [{ group: GATEWAY_GROUP, kind: 'HTTPRoute' }] : [],
        attachedRoutes: s.attached,
        conditions: s.conditions,
      })),
    });
  }

  const hosts: GatewayHost[] = [...byHost.entries()].sort(([a], [b]) => cmp(a, b)).map(([host, list]) => ({ host, rules: list.sort(comparePrecedence).map((x) => x.rule) }));
  return { hosts, certificates: [...certificates.values()], classStatus, gatewayStatus, routeParents };
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

function defaultOptions(): RouteOptions {
  return parseAnnotations(undefined, '', () => undefined).options;
}

function sameParent(p: { group?: string; kind?: string; namespace?: string; name?: string; sectionName?: string; port?: number } | undefined, ref: ParentRef, rns: string): boolean {
  return !!p && p.name === ref.name && (p.namespace ?? rns) === (ref.namespace ?? rns) && (p.sectionName ?? '') === (ref.sectionName ?? '') && p.port === ref.port;
}

interface AttachResult {
  readonly attached: { readonly listener: { attached: number; readonly secure: boolean }; readonly hosts: readonly string[] }[];
  readonly reason?: string;
  readonly message?: string;
}

/**
 * Which listeners of a Gateway a parentRef attaches the route to, and on which hostnames
 * (ParentReference sectionName/port; AllowedRoutes namespaces From Same/All/Selector and kinds;
 * Listener.hostname ∩ HTTPRoute.hostnames), else the reason the spec gives for refusing it.
 */
function attachTo(listeners: readonly { readonly gw: Gateway; readonly l: Listener; readonly valid: boolean; readonly secure: boolean; attached: number }[], ref: ParentRef, route: HTTPRoute, rns: string, nsLabels: ReadonlyMap<string, Record<string, string>>): AttachResult {
  const named = listeners.filter((s) => (ref.sectionName === undefined || s.l.name === ref.sectionName) && (ref.port === undefined || s.l.port === ref.port));
  if (!named.length) return { attached: [], reason: 'NoMatchingParent', message: `no listener matches sectionName ${ref.sectionName ?? '(any)'} port ${ref.port ?? '(any)'}` };
  const usable = named.filter((s) => s.valid);
  if (!usable.length) return { attached: [], reason: 'NoMatchingParent', message: 'the matching listeners are not valid' };
  const allowed = usable.filter((s) => {
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

/** The route's rules with backends resolved, the first reference problem, and any unsupported filter. */
function resolveRules(route: HTTPRoute, idx: ReturnType<typeof buildIndexes>): { rules: ResolvedRule[]; refProblem?: { reason: string; message: string }; unsupported?: string } {
  const rns = route.metadata?.namespace ?? 'default';
  let refProblem: { reason: string; message: string } | undefined;
  let unsupported: string | undefined;
  const rules: ResolvedRule[] = [];
  for (const [ri, rule] of (route.spec?.rules ?? [{}] as Rule[]).entries()) {
    const matches = (rule.matches?.length ? rule.matches : [{}]).map((m): GatewayMatch => ({
      path: { type: m.path?.type ?? 'PathPrefix', value: m.path?.value ?? '/' },
      headers: (m.headers ?? []).map((h) => ({ type: h.type ?? 'Exact', name: h.name.toLowerCase(), value: h.value })),
      queryParams: (m.queryParams ?? []).map((q) => ({ type: q.type ?? 'Exact', name: q.name, value: q.value })),
      ...(m.method ? { method: m.method } : {}),
    }));
    for (const m of matches) {
      for (const p of [m.path.type === 'RegularExpression' ? m.path.value : undefined, ...m.headers.filter((h) => h.type === 'RegularExpression').map((h) => h.value), ...m.queryParams.filter((q) => q.type === 'RegularExpression').map((q) => q.value)]) {
        if (p === undefined) continue;
        try { new RegExp(p); } catch { unsupported ??= `spec.rules[${ri}]: ${JSON.stringify(p)} is not a valid regular expression`; }
      }
    }
    const filters: { requestHeaders?: HeaderEdits; responseHeaders?: HeaderEdits; redirect?: GatewayFilters['redirect']; rewrite?: GatewayFilters['rewrite'] } = {};
    for (const f of rule.filters ?? []) {
      switch (f.type) {
        case 'RequestHeaderModifier': filters.requestHeaders = headerEdits(f.requestHeaderModifier); break;
        case 'ResponseHeaderModifier': filters.responseHeaders = headerEdits(f.responseHeaderModifier); break;
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
        default: unsupported ??= `spec.rules[${ri}]: filter type ${f.type} is not supported`;
      }
    }
    const backends: WeightedBackend[] = [];
    for (const b of rule.backendRefs ?? []) {
      const weight = b.weight ?? 1;
      const problem = backendProblem(b, rns, idx);
      if (problem) { refProblem ??= problem; backends.push({ weight }); continue; }
      if (b.filters?.length) unsupported ??= `spec.rules[${ri}]: backendRef filters are not supported`;
      const r = resolveBackend(idx, b.namespace ?? rns, b.name, b.port!);
      backends.push(r.backend ? { weight, backend: r.backend } : { weight });
    }
    rules.push({ matches, backends, filters });
  }
  return { rules, ...(refProblem ? { refProblem } : {}), ...(unsupported ? { unsupported } : {}) };
}

/** Why a backendRef cannot be used (RouteConditionReason InvalidKind, RefNotPermitted, BackendNotFound), or undefined. */
function backendProblem(b: { group?: string; kind?: string; name: string; namespace?: string; port?: number }, rns: string, idx: ReturnType<typeof buildIndexes>): { reason: string; message: string } | undefined {
  if ((b.group ?? '') !== '' || (b.kind ?? 'Service') !== 'Service') return { reason: 'InvalidKind', message: `backendRef ${b.group ?? ''}/${b.kind} ${b.name}: only Services are supported` };
  const ns = b.namespace ?? rns;
  // A backendRef into another namespace needs a ReferenceGrant there; podgate does not serve ReferenceGrant yet.
  if (ns !== rns) return { reason: 'RefNotPermitted', message: `backendRef to Service ${ns}/${b.name} is not permitted (no ReferenceGrant support)` };
  const svc = idx.services.get(`${ns}/${b.name}`);
  if (!svc) return { reason: 'BackendNotFound', message: `Service ${ns}/${b.name} not found` };
  if (b.port === undefined) return { reason: 'UnsupportedValue', message: `backendRef to Service ${ns}/${b.name} needs a port` };
  if (!(svc.spec?.ports ?? []).some((p) => p.port === b.port)) return { reason: 'BackendNotFound', message: `Service ${ns}/${b.name} has no port ${b.port}` };
  return undefined;
}

function headerEdits(f: { set?: { name: string; value: string }[]; add?: { name: string; value: string }[]; remove?: string[] } | undefined): HeaderEdits {
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
