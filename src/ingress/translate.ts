// translate(): API objects in, one RouteTable out. Pure: no I/O, no clock, deterministic order
// (Ingresses by creation time, ties by namespace/name descending as ingress-nginx's
// sortIngressSlice breaks them; everything that reaches the table sorted), so the controller can
// compare two results and skip equal ones.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import type { ConfigMap, Secret, Service, ServicePort } from 'kubernetes-types/core/v1.d.ts';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.d.ts';
import type { Ingress, IngressBackend, IngressClass } from 'kubernetes-types/networking/v1.d.ts';
import { parseAnnotations, type CanaryPolicy } from './annotations.ts';
import type { Backend, Certificate, Endpoint, HostRedirect, HostRoutes, Passthrough, PathType, Problem, Route, RouteOptions, RouteTable, StreamService } from './route-table.ts';

export const CONTROLLER_NAME = 'podgate.io/ingress';
const DEFAULT_CLASS_ANNOTATION = 'ingressclass.kubernetes.io/is-default-class';
const LEGACY_CLASS_ANNOTATION = 'kubernetes.io/ingress.class';
const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

export interface TranslateInput {
  readonly ingresses: readonly Ingress[];
  readonly ingressClasses: readonly IngressClass[];
  readonly services: readonly Service[];
  readonly endpointSlices: readonly EndpointSlice[];
  readonly secrets: readonly Secret[];
  readonly configMaps?: readonly ConfigMap[];
}

export interface TranslateOptions {
  /** spec.controller of the IngressClasses we own (default podgate.io/ingress). */
  readonly controllerName?: string;
  /** Class names served even without an IngressClass object (default ["nginx"]). */
  readonly classes?: readonly string[];
  /** Serve Ingresses with no class at all (ingress-nginx's --watch-ingress-without-class). */
  readonly watchWithoutClass?: boolean;
  /** "namespace/name" of the tcp-services / udp-services ConfigMaps. */
  readonly tcpServicesConfigMap?: string;
  readonly udpServicesConfigMap?: string;
}

export interface Indexes {
  services: Map<string, Service>;
  slices: Map<string, EndpointSlice[]>;
  secrets: Map<string, Secret>;
}

/** Builds the whole route table; bad input becomes `problems`, never an exception. */
export function translate(input: TranslateInput, opts: TranslateOptions = {}): RouteTable {
  const idx = buildIndexes(input);
  const problems: Problem[] = [];
  const classes = servedClasses(input.ingressClasses, opts);
  const ingresses = byAge(input.ingresses.filter((ing) => isServed(ing, classes, opts)));

  const hosts = new Map<string, HostEntry>();
  const hostEntry = (h: string) => {
    let e = hosts.get(h);
    if (!e) hosts.set(h, (e = { routes: [], tls: false }));
    return e;
  };
  const certs = new Map<string, Certificate>();
  const passthrough = new Map<string, Passthrough>();
  const seenRoute = new Set<string>();
  let defaultRoute: Route | undefined;
  const canaries: CanaryIngress[] = [];
  const serviceBackend = serviceBackendResolver(idx);

  for (const ing of ingresses) {
    const ns = ing.metadata?.namespace ?? 'default';
    const name = ing.metadata?.name ?? '';
    const key = `${ns}/${name}`;
    const obj = { kind: 'Ingress', namespace: ns, name };
    const report = (reason: string, message: string) => problems.push({ object: obj, reason, message });
    const parsed = parseAnnotations(ing.metadata?.annotations, ns, (n, s) => idx.secrets.get(`${n}/${s}`));
    for (const p of parsed.problems) report(p.reason, p.message);
    if (parsed.canary) {
      // ingress-nginx never routes a canary Ingress itself: once the others are in, its paths
      // become alternative backends of theirs (mergeAlternativeBackends).
      canaries.push({ ing, key, ns, policy: parsed.canary, serviceUpstream: parsed.serviceUpstream === true, hashBy: parsed.upstreamHashBy, report });
      continue;
    }
    let options = parsed.options;
    const auth = options.externalAuth;
    const authService = auth ? clusterService(auth.host) : undefined;
    if (auth && authService) {
      // podgate has no cluster DNS: "NAME.NAMESPACE.svc[.cluster.local]" goes to the Service's ready endpoints.
      const r = resolveBackend(idx, authService.namespace, authService.name, auth.backend.endpoints[0]!.port);
      if (r.problem) report('BackendProblem', `auth-url: ${r.problem}`);
      if (r.backend) options = { ...options, externalAuth: { ...auth, backend: r.backend } };
    }

    const toBackend = (b: IngressBackend, where: string): Backend | undefined => {
      if (b.resource) {
        report('UnsupportedBackend', `${where}: resource backends (${b.resource.kind} ${b.resource.name}) are not supported; only service backends are`);
        return undefined;
      }
      if (!b.service) { report('InvalidBackend', `${where}: backend has no service`); return undefined; }
      const r = serviceBackend(ns, b.service.name, b.service.port?.number ?? b.service.port?.name ?? '', parsed.serviceUpstream === true, parsed.upstreamHashBy, (m) => report('ServiceUpstreamProblem', `${where}: ${m}`));
      if (r.problem) report('BackendProblem', `${where}: ${r.problem}`);
      return r.backend;
    };
    const makeRoute = (host: string, path: string, pathType: PathType, backend: Backend): Route =>
      ({ id: `${key}|${host}|${pathType}|${path}`, ingress: key, host, path, pathType, backend, options });

    const spec = ing.spec ?? {};
    let ingFallback: Route | undefined;
    if (spec.defaultBackend) {
      const b = toBackend(spec.defaultBackend, 'spec.defaultBackend');
      if (b) {
        ingFallback = makeRoute('', '/', 'Prefix', b);
        // Only an Ingress without rules sets the catch-all server (the oldest such one), as in
        // ingress-nginx's createServers; redirect, rewrite and app-root are not applied there.
        if (!spec.rules?.length) {
          const { redirect: _r, rewriteTarget: _t, appRoot: _a, ...rest } = options;
          defaultRoute ??= { ...ingFallback, id: `${key}|*|default`, options: rest };
        }
      }
    }

    const tlsHosts: string[] = [];
    for (const [i, t] of (spec.tls ?? []).entries()) {
      const names = (t.hosts?.length ? t.hosts : (spec.rules ?? []).map((r) => r.host ?? '').filter(Boolean)).map((h) => h.toLowerCase());
      tlsHosts.push(...names);
      if (!t.secretName) continue; // served with the default certificate
      const c = loadCertificate(idx, ns, t.secretName, names);
      if ('problem' in c) { report(c.reason, `spec.tls[${i}]: ${c.problem}; the default certificate is served instead`); continue; }
      for (const h of names) if (!certs.has(h)) certs.set(h, c);
    }

    for (const [ri, rule] of (spec.rules ?? []).entries()) {
      const host = (rule.host ?? '').toLowerCase();
      const isNewHost = !hosts.has(host);
      const entry = hostEntry(host);
      // A host's root location belongs to the Ingress that created its server (the oldest naming
      // it); rules without a host are on the catch-all server, which always exists.
      if (ingFallback && isNewHost && host !== '') entry.fallback = { ...ingFallback, host, id: `${key}|${host}|default` };
      // ingress-nginx's createServers: the first Ingress naming the host with aliases gives them.
      if (parsed.serverAliases) {
        if (!entry.aliases) entry.aliases = { names: parsed.serverAliases, report };
        else report('AliasIgnored', `annotation server-alias: host ${JSON.stringify(host)} already has the aliases of an older Ingress; ignored`);
      }
      if (options.sslPassthrough && host) {
        // ingress-nginx hands the whole TLS connection for the host to the backend of the "/" path (or the first one).
        const paths = rule.http?.paths ?? [];
        const chosen = paths.find((p) => (p.path ?? '/') === '/') ?? paths[0];
        const b = chosen ? toBackend(chosen.backend, `spec.rules[${ri}]`) : ingFallback?.backend;
        if (b && !passthrough.has(host)) passthrough.set(host, { host, backend: b });
        continue;
      }
      for (const [pi, p] of (rule.http?.paths ?? []).entries()) {
        const where = `spec.rules[${ri}].http.paths[${pi}]`;
        const pathType = (p.pathType ?? 'ImplementationSpecific') as PathType;
        if (pathType !== 'Exact' && pathType !== 'Prefix' && pathType !== 'ImplementationSpecific') { report('InvalidPath', `${where}: unknown pathType ${String(p.pathType)}`); continue; }
        const path = p.path || '/';
        if (!path.startsWith('/')) { report('InvalidPath', `${where}: path ${JSON.stringify(path)} must start with "/"`); continue; }
        if (usesRegex(options, path)) {
          try { new RegExp(`^${path}`, 'i'); } catch { report('InvalidPath', `${where}: path ${JSON.stringify(path)} is not a valid regular expression`); continue; }
        }
        const b = toBackend(p.backend, where);
        if (!b) continue;
        const route = makeRoute(host, path, pathType, b);
        // The same host+path in two Ingresses: the older one keeps it, as ingress-nginx does.
        const dup = `${host}|${pathType}|${pathKey(path, pathType)}`;
        if (seenRoute.has(dup)) { report('DuplicatePath', `${where}: host ${JSON.stringify(host)} path ${path} is already served by an older Ingress`); continue; }
        seenRoute.add(dup);
        entry.routes.push(route);
        // A location this Ingress adds with from-to-www-redirect turns the redirect server on
        // (ingress-nginx's createServers sets it only where the location is added).
        if (parsed.fromToWwwRedirect) entry.wwwRedirect ??= report;
      }
    }
    for (const h of tlsHosts) if (hosts.has(h)) hostEntry(h).tls = true;
    // A wildcard TLS host covers the concrete hosts below it.
    for (const h of tlsHosts) if (h.startsWith('*.')) for (const [name, e] of hosts) if (wildcardCovers(h, name)) e.tls = true;
  }

  for (const c of canaries) {
    const defaultHost = hosts.get('');
    mergeCanary(c, serviceBackend, {
      isPassthrough: (host) => passthrough.has(host),
      find: (host, path, pathType) => {
        const e = hosts.get(host);
        const slots: RouteSlot[] = [];
        // Rules without a host share the catch-all server with the default backend, its root.
        if (host === '' && defaultRoute && path === '/' && pathType === 'Prefix' && !e?.routes.some((r) => r.path === '/' && r.pathType === 'Prefix')) {
          slots.push({ route: defaultRoute, set: (n) => { defaultRoute = n; } });
        }
        if (!e) return slots;
        e.routes.forEach((r, i) => { if (r.path === path && r.pathType === pathType) slots.push({ route: r, set: (n) => { e.routes[i] = n; } }); });
        // A host's root location is its Ingress's defaultBackend until a rule claims "/" (Prefix).
        if (e.fallback && path === '/' && pathType === 'Prefix' && !slots.length) slots.push({ route: e.fallback, set: (n) => { e.fallback = n; } });
        return slots;
      },
      // The catch-all server's locations: its root (the default backend) and the rules without a host.
      catchAll: () => [
        ...(defaultRoute ? [{ route: defaultRoute, set: (n: Route) => { defaultRoute = n; } }] : []),
        ...(defaultHost?.routes ?? []).map((r, i) => ({ route: r, set: (n: Route) => { defaultHost!.routes[i] = n; } })),
      ],
    });
  }

  const hostRedirects = wwwRedirects(hosts);
  const aliases = resolveAliases(hosts, hostRedirects);
  for (const [to, names] of [...aliases, ...hostRedirects.map((r) => [r.to, [r.from]] as const)]) shareCertificate(certs, to, names);
  const hostList: HostRoutes[] = [...hosts.entries()].sort(([a], [b]) => cmp(a, b)).map(([host, e]) => ({
    host, routes: e.routes, tls: e.tls, ...(e.fallback ? { fallback: e.fallback } : {}), ...(aliases.get(host)?.length ? { aliases: aliases.get(host)! } : {}),
  }));
  const certificates = dedupeCertificates([...certs.entries()]);
  const streams = [
    ...streamServices(input.configMaps ?? [], opts.tcpServicesConfigMap, 'TCP', idx, problems),
    ...streamServices(input.configMaps ?? [], opts.udpServicesConfigMap, 'UDP', idx, problems),
  ];
  return {
    hosts: hostList,
    ...(defaultRoute ? { defaultRoute } : {}),
    ...(hostRedirects.length ? { hostRedirects } : {}),
    certificates,
    passthrough: [...passthrough.values()].sort((a, b) => cmp(a.host, b.host)),
    streams,
    served: ingresses.map((i) => `${i.metadata?.namespace ?? 'default'}/${i.metadata?.name ?? ''}`).sort(),
    problems,
  };
}

/** A host (an nginx server) while the table is built. */
interface HostEntry {
  routes: Route[];
  fallback?: Route;
  tls: boolean;
  /** server-alias of the first Ingress giving some, and how to report on that Ingress. */
  aliases?: { readonly names: readonly string[]; readonly report: Report };
  /** Set (to report on the first Ingress asking) when from-to-www-redirect is on for a path of the host. */
  wwwRedirect?: Report;
}

type Report = (reason: string, message: string) => void;

/** Resolves a Service port to a backend: its endpoints, or with service-upstream its cluster IP. */
type ServiceBackend = (ns: string, svcName: string, port: number | string, serviceUpstream: boolean, hashBy: string | undefined, warn: (message: string) => void) => { backend?: Backend; problem?: string };

/**
 * ingress-nginx keeps one upstream per Service port, made by the oldest Ingress naming it
 * (createUpstreams): that Ingress's service-upstream and upstream-hash-by decide for every path
 * sending traffic there. Ingresses come here oldest first, so the first answer for a Service port is
 * kept (canary Ingresses last).
 */
function serviceBackendResolver(idx: Indexes): ServiceBackend {
  const mode = new Map<string, boolean>();
  const hashes = new Map<string, string | undefined>();
  return (ns, svcName, port, serviceUpstream, hashBy, warn) => {
    const k = `${ns}/${svcName}:${port}`;
    const useClusterIp = mode.get(k) ?? serviceUpstream;
    mode.set(k, useClusterIp);
    if (!hashes.has(k)) hashes.set(k, hashBy);
    const hash = hashes.get(k);
    const withHash = (r: { backend?: Backend; problem?: string }) => (hash !== undefined && r.backend ? { ...r, backend: { ...r.backend, hashBy: hash } } : r);
    if (useClusterIp) {
      const r = clusterIpBackend(idx, ns, svcName, port);
      if ('backend' in r) return withHash(r);
      // As ingress-nginx (getServiceClusterEndpoint failing): reported, and the endpoints are used.
      if (r.problem) warn(`service-upstream: ${r.problem}; its endpoints are used`);
    }
    return withHash(resolveBackend(idx, ns, svcName, port));
  };
}

/**
 * service-upstream: the Service's cluster IP and port as the one endpoint (ingress-nginx's
 * getServiceClusterEndpoint): a numbered port is taken as written, a named one from the Service.
 * Headless and ExternalName Services have no cluster IP; a missing Service gives no problem here
 * (resolveBackend reports it).
 */
function clusterIpBackend(idx: Indexes, ns: string, svcName: string, port: number | string): { backend: Backend } | { problem?: string } {
  const svc = idx.services.get(`${ns}/${svcName}`);
  if (!svc) return {};
  const ip = svc.spec?.clusterIP;
  if (!ip || ip === 'None') return { problem: `no ClusterIP found for Service ${ns}/${svcName}` };
  const p = typeof port === 'number' ? port : (svc.spec?.ports ?? []).find((sp) => sp.name === port)?.port;
  if (p === undefined) return { problem: `service ${ns}/${svcName} does not have a port named ${JSON.stringify(port)}` };
  return { backend: { name: `${ns}/${svcName}:${port}`, endpoints: [{ address: ip, port: p }] } };
}

/**
 * ingress-nginx's BuildRedirects: a host with from-to-www-redirect gets a redirect server for its
 * other name (www.example.com ↔ example.com), unless a host of that name exists. A wildcard or
 * empty host has no other name in podgate (nginx would refuse the server name ingress-nginx writes).
 */
function wwwRedirects(hosts: ReadonlyMap<string, HostEntry>): HostRedirect[] {
  const out: HostRedirect[] = [];
  for (const [to, e] of [...hosts.entries()].sort(([a], [b]) => cmp(a, b))) {
    if (!e.wwwRedirect) continue;
    if (to === '' || to.startsWith('*.')) { e.wwwRedirect('RedirectIgnored', `annotation from-to-www-redirect: host ${JSON.stringify(to)} has no www counterpart; no redirect`); continue; }
    const from = to.startsWith('www.') ? to.slice(4) : `www.${to}`;
    if (hosts.has(from)) { e.wwwRedirect('RedirectIgnored', `annotation from-to-www-redirect: a rule already serves host ${JSON.stringify(from)}; no redirect from it to ${JSON.stringify(to)}`); continue; }
    out.push({ from, to });
  }
  return out;
}

/**
 * ingress-nginx's alias pass at the end of createServers: an alias that is the host itself or the
 * host of another rule (any Ingress, whatever its age) is dropped. Two hosts claiming one alias:
 * nginx keeps the first server in its configuration (hosts sorted), as podgate does. A
 * from-to-www-redirect name wins over an alias (its server comes first in nginx.conf).
 */
function resolveAliases(hosts: ReadonlyMap<string, HostEntry>, redirects: readonly HostRedirect[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const claimed = new Map<string, string>(redirects.map((r) => [r.from, `the from-to-www-redirect of ${JSON.stringify(r.to)}`]));
  for (const [host, e] of [...hosts.entries()].sort(([a], [b]) => cmp(a, b))) {
    if (!e.aliases) continue;
    const kept: string[] = [];
    for (const alias of e.aliases.names) {
      if (alias === host) continue;
      const owner = hosts.has(alias) ? 'a host of its own' : claimed.get(alias);
      if (owner !== undefined) { e.aliases.report('AliasIgnored', `annotation server-alias: ${JSON.stringify(alias)} (alias of host ${JSON.stringify(host)}) is already ${owner}; ignored`); continue; }
      claimed.set(alias, `an alias of host ${JSON.stringify(host)}`);
      kept.push(alias);
    }
    out.set(host, kept);
  }
  return out;
}

/**
 * The certificate of a host serves its aliases and its from-to-www-redirect name too when it is
 * valid for them (ingress-nginx's configureCertificates); otherwise they get the default one.
 */
function shareCertificate(certs: Map<string, Certificate>, host: string, names: readonly string[]): void {
  const dot = host.indexOf('.');
  const c = certs.get(host) ?? (dot > 0 ? certs.get(`*${host.slice(dot)}`) : undefined);
  if (!c) return;
  let x: X509Certificate | undefined;
  for (const n of names) {
    if (certs.has(n)) continue;
    x ??= new X509Certificate(c.certPem);
    if (x.checkHost(n) !== undefined) certs.set(n, c);
  }
}

interface CanaryIngress {
  readonly ing: Ingress;
  readonly key: string;
  readonly ns: string;
  readonly policy: CanaryPolicy;
  /** Its own service-upstream, for a Service port no older Ingress named. */
  readonly serviceUpstream: boolean;
  readonly hashBy: string | undefined;
  readonly report: (reason: string, message: string) => void;
}

/** A route of a non-canary Ingress, and how to replace it in the table being built. */
interface RouteSlot {
  readonly route: Route;
  readonly set: (r: Route) => void;
}

/**
 * ingress-nginx's mergeAlternativeBackends: each path of a canary Ingress (its defaultBackend for the
 * catch-all server) becomes the alternative backend of the non-canary routes with the same host,
 * path and path type. The first canary a route gets (the oldest) is the one used, as ingress-nginx's
 * balancer uses only the first alternative backend; a canary path that matches no route is not
 * served. Two differences from ingress-nginx, whose alternative backends and their policy hang off
 * Services: the split applies to the matched routes only (there it reaches every path sending
 * traffic to the primary's Service), and a canary path that matches nothing leaves the canary's
 * other paths split (there it removes the canary Service's backend, switching every path of it off).
 */
function mergeCanary(c: CanaryIngress, serviceBackend: ServiceBackend, table: { find(host: string, path: string, pathType: PathType): RouteSlot[] | undefined; catchAll(): RouteSlot[]; isPassthrough(host: string): boolean }): void {
  const spec = c.ing.spec ?? {};
  const merge = (slots: readonly RouteSlot[], b: IngressBackend, where: string, what: string) => {
    if (!b.service) { c.report('InvalidBackend', `${where}: a canary backend must be a service`); return; }
    const r = serviceBackend(c.ns, b.service.name, b.service.port?.number ?? b.service.port?.name ?? '', c.serviceUpstream, c.hashBy, (m) => c.report('ServiceUpstreamProblem', `${where}: ${m}`));
    if (r.problem) c.report('BackendProblem', `${where}: ${r.problem}`);
    const backend = r.backend!;
    let merged = false;
    for (const slot of slots) {
      const primary = slot.route;
      if (primary.backend.name === backend.name) {
        c.report('CanaryIsPrimary', `${where}: ${backend.name} is already the primary backend of ${what} in Ingress ${primary.ingress}; no canary split`);
        return;
      }
      if (primary.canary) {
        if (primary.canary.ingress !== c.key) c.report('CanaryIgnored', `${where}: ${what} already has canary Ingress ${primary.canary.ingress}; only the oldest canary of a path is used`);
        merged = true;
        continue;
      }
      // ingress-nginx copies the primary's session affinity to the canary's backend unless the canary
      // asks for the legacy behaviour; its own affinity annotations are never read.
      const affinity = c.policy.legacyAffinity ? undefined : primary.options.affinity;
      const { legacyAffinity: _l, ...policy } = c.policy;
      slot.set({ ...primary, canary: { ingress: c.key, backend, ...policy, ...(affinity ? { affinity } : {}) } });
      merged = true;
    }
    if (!merged) c.report('CanaryWithoutPrimary', `${where}: no non-canary Ingress serves ${what}; the canary path is not served`);
  };
  const passthroughNote = (host: string) => (table.isPassthrough(host) ? ' (an ssl-passthrough host has no HTTP routes in podgate)' : '');
  if (spec.defaultBackend) merge(table.catchAll(), spec.defaultBackend, 'spec.defaultBackend', 'the default backend');
  for (const [ri, rule] of (spec.rules ?? []).entries()) {
    const host = (rule.host ?? '').toLowerCase();
    for (const [pi, p] of (rule.http?.paths ?? []).entries()) {
      const path = p.path || '/';
      const pathType = (p.pathType ?? 'ImplementationSpecific') as PathType;
      const what = `host ${JSON.stringify(host)} path ${path} (${pathType})${passthroughNote(host)}`;
      merge(table.find(host, path, pathType) ?? [], p.backend, `spec.rules[${ri}].http.paths[${pi}]`, what);
    }
  }
}

/** "NAME.NAMESPACE.svc" and "NAME.NAMESPACE.svc.<cluster domain>": the DNS names of a Service. */
export function clusterService(host: string): { namespace: string; name: string } | undefined {
  const m = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)\.([a-z0-9]([-a-z0-9]*[a-z0-9])?)\.svc(\.[a-z0-9.-]+)?\.?$/.exec(host.toLowerCase());
  return m ? { name: m[1]!, namespace: m[3]! } : undefined;
}

/**
 * Whether a path puts its host in regex mode: use-regex, or a rewrite-target other than the path
 * itself (ingress-nginx's needsRewrite and enforceRegexModifier; `rewrite-target: /` on path `/`
 * rewrites nothing).
 */
export function usesRegex(o: RouteOptions, path: string): boolean {
  return o.useRegex || (o.rewriteTarget !== undefined && o.rewriteTarget !== path);
}

function pathKey(path: string, t: PathType): string {
  return t === 'Prefix' ? path.replace(/\/+$/, '') : path;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Oldest first; ties (creation times are to the second) by "namespace/name" descending, as
 * ingress-nginx's sortIngressSlice orders them (`in > jn`). Each key is made once, not in every
 * comparison: with 1,000 Ingresses the sort alone made 20k strings per rebuild.
 */
function byAge(list: readonly Ingress[]): Ingress[] {
  const keyed = list.map((ing) => ({ ing, time: ing.metadata?.creationTimestamp ?? '', name: `${ing.metadata?.namespace}/${ing.metadata?.name}` }));
  keyed.sort((a, b) => (a.time !== b.time ? cmp(a.time, b.time) : cmp(b.name, a.name)));
  return keyed.map((k) => k.ing);
}

export function buildIndexes(input: TranslateInput): Indexes {
  const services = new Map<string, Service>();
  for (const s of input.services) services.set(`${s.metadata?.namespace ?? 'default'}/${s.metadata?.name}`, s);
  const slices = new Map<string, EndpointSlice[]>();
  for (const es of input.endpointSlices) {
    const svc = es.metadata?.labels?.[SERVICE_NAME_LABEL];
    if (!svc) continue;
    const k = `${es.metadata?.namespace ?? 'default'}/${svc}`;
    let l = slices.get(k);
    if (!l) slices.set(k, (l = []));
    l.push(es);
  }
  const secrets = new Map<string, Secret>();
  for (const s of input.secrets) secrets.set(`${s.metadata?.namespace ?? 'default'}/${s.metadata?.name}`, s);
  return { services, slices, secrets };
}

/** Class names this controller serves, and whether it owns the default class. */
function servedClasses(classes: readonly IngressClass[], opts: TranslateOptions): { names: Set<string>; isDefault: boolean } {
  const controller = opts.controllerName ?? CONTROLLER_NAME;
  const names = new Set(opts.classes ?? ['nginx']);
  let isDefault = false;
  for (const c of classes) {
    if (c.spec?.controller !== controller || !c.metadata?.name) continue;
    names.add(c.metadata.name);
    if (c.metadata.annotations?.[DEFAULT_CLASS_ANNOTATION] === 'true') isDefault = true;
  }
  return { names, isDefault };
}

function isServed(ing: Ingress, classes: { names: Set<string>; isDefault: boolean }, opts: TranslateOptions): boolean {
  // spec.ingressClassName first, then the legacy annotation (ingress-nginx's GetIngressClass).
  const cls = ing.spec?.ingressClassName ?? ing.metadata?.annotations?.[LEGACY_CLASS_ANNOTATION];
  if (cls === undefined || cls === '') return classes.isDefault || opts.watchWithoutClass === true;
  return classes.names.has(cls);
}

/** Resolves a Service port (number or name) to ready pod endpoints through its EndpointSlices. */
export function resolveBackend(idx: Indexes, ns: string, svcName: string, port: number | string): { backend?: Backend; problem?: string } {
  const name = `${ns}/${svcName}:${port}`;
  const svc = idx.services.get(`${ns}/${svcName}`);
  if (!svc) return { backend: { name, endpoints: [] }, problem: `service ${ns}/${svcName} not found` };
  const sp: ServicePort | undefined = (svc.spec?.ports ?? []).find((p) => (typeof port === 'number' ? p.port === port : p.name === port));
  if (svc.spec?.type === 'ExternalName' && svc.spec.externalName) {
    // ingress-nginx proxies to the external name itself (resolved when connecting).
    const p = typeof port === 'number' ? port : sp?.port;
    if (p === undefined) return { backend: { name, endpoints: [] }, problem: `service ${ns}/${svcName} has no port ${port}` };
    return { backend: { name, endpoints: [{ address: svc.spec.externalName, port: p }] } };
  }
  if (!sp) return { backend: { name, endpoints: [] }, problem: `service ${ns}/${svcName} has no port ${JSON.stringify(port)}` };
  const portName = sp.name ?? '';
  const seen = new Set<string>();
  const endpoints: Endpoint[] = [];
  for (const es of idx.slices.get(`${ns}/${svcName}`) ?? []) {
    const ep = (es.ports ?? []).find((p) => (p.name ?? '') === portName);
    if (ep?.port === undefined) continue;
    for (const e of es.endpoints ?? []) {
      // A nil ready condition means ready (discovery.k8s.io/v1 semantics); terminating pods are not ready.
      if (e.conditions?.ready === false) continue;
      const address = e.addresses[0];
      if (!address) continue;
      const k = `${address}|${ep.port}`;
      if (seen.has(k)) continue;
      seen.add(k);
      endpoints.push({ address, port: ep.port });
    }
  }
  endpoints.sort((a, b) => cmp(a.address, b.address) || a.port - b.port);
  return { backend: { name, endpoints } };
}

export function loadCertificate(idx: Indexes, ns: string, secretName: string, hosts: string[]): Certificate | { problem: string; reason: string } {
  const s = idx.secrets.get(`${ns}/${secretName}`);
  if (!s) return { problem: `secret ${ns}/${secretName} not found`, reason: 'MissingSecret' };
  const crt = s.data?.['tls.crt'];
  const key = s.data?.['tls.key'];
  if (!crt || !key) return { problem: `secret ${ns}/${secretName} has no tls.crt/tls.key`, reason: 'InvalidSecret' };
  const certPem = Buffer.from(crt, 'base64').toString('utf8');
  const keyPem = Buffer.from(key, 'base64').toString('utf8');
  try {
    const x = new X509Certificate(certPem);
    if (!x.checkPrivateKey(createPrivateKey(keyPem))) return { problem: `secret ${ns}/${secretName}: tls.key does not match tls.crt`, reason: 'InvalidSecret' };
  } catch (err) {
    return { problem: `secret ${ns}/${secretName}: ${err instanceof Error ? err.message : String(err)}`, reason: 'InvalidSecret' };
  }
  return { secret: `${ns}/${secretName}`, hosts: [...hosts].sort(), certPem, keyPem };
}

function dedupeCertificates(entries: [string, Certificate][]): Certificate[] {
  const bySecret = new Map<string, { c: Certificate; hosts: Set<string> }>();
  for (const [host, c] of entries) {
    const k = `${c.secret}|${c.certPem}`;
    let e = bySecret.get(k);
    if (!e) bySecret.set(k, (e = { c, hosts: new Set() }));
    e.hosts.add(host);
  }
  return [...bySecret.values()].map(({ c, hosts }) => ({ ...c, hosts: [...hosts].sort() })).sort((a, b) => cmp(a.secret, b.secret) || cmp(a.hosts[0] ?? '', b.hosts[0] ?? ''));
}

/** "*.foo.com" covers "bar.foo.com" but not "foo.com" or "a.bar.foo.com" (one label, as the Ingress spec says). */
export function wildcardCovers(wildcard: string, host: string): boolean {
  if (!wildcard.startsWith('*.')) return false;
  const dot = host.indexOf('.');
  return dot > 0 && host.slice(dot + 1) === wildcard.slice(2);
}

/**
 * ingress-nginx's tcp-services / udp-services ConfigMap: "port": "namespace/service:port[:PROXY[:PROXY]]".
 * The fields after the port are read as ingress-nginx reads them (getStreamServices): the first, when
 * it is PROXY (any case), decodes PROXY protocol from clients; the second, when it is PROXY and the
 * last field, sends it to the backend; both only for TCP. Whatever else is there is ignored, as
 * ingress-nginx ignores it, and reported.
 */
function streamServices(cms: readonly ConfigMap[], ref: string | undefined, protocol: 'TCP' | 'UDP', idx: Indexes, problems: Problem[]): StreamService[] {
  if (!ref) return [];
  const [ns, name] = ref.includes('/') ? ref.split('/', 2) as [string, string] : ['default', ref];
  const cm = cms.find((c) => c.metadata?.namespace === ns && c.metadata?.name === name);
  if (!cm) return [];
  const out: StreamService[] = [];
  const report = (message: string) => problems.push({ object: { kind: 'ConfigMap', namespace: ns, name }, reason: 'InvalidStreamService', message });
  for (const [k, v] of Object.entries(cm.data ?? {}).sort(([a], [b]) => Number(a) - Number(b))) {
    const port = Number(k);
    if (!/^\d+$/.test(k) || port < 1 || port > 65535) { report(`key ${JSON.stringify(k)} is not a port`); continue; }
    const m = /^([^/\s]+)\/([^:\s]+):([^:\s]+)(:.*)?$/.exec(v.trim());
    if (!m) { report(`${k}: ${JSON.stringify(v)} is not "namespace/service:port"`); continue; }
    const svcPort = /^\d+$/.test(m[3]!) ? Number(m[3]) : m[3]!;
    const r = resolveBackend(idx, m[1]!, m[2]!, svcPort);
    // As ingress-nginx: an entry whose Service or port does not exist is skipped (nothing listens,
    // clients are refused); one whose Service has no ready endpoint yet listens.
    if (r.problem) { report(`${k}: ${r.problem}`); continue; }
    const suffix = m[4]?.slice(1) ?? '';
    const fields = m[4] === undefined ? [] : suffix.split(':');
    const isProxy = (f: string | undefined) => f?.toUpperCase() === 'PROXY';
    const decode = protocol === 'TCP' && isProxy(fields[0]);
    const send = protocol === 'TCP' && fields.length === 2 && isProxy(fields[1]);
    if (protocol === 'UDP' && fields.some((f) => f !== '')) report(`${k}: ${JSON.stringify(suffix)} is ignored: PROXY protocol is for TCP services only`);
    else if (fields.length > 2 || fields.some((f) => f !== '' && !isProxy(f))) {
      report(`${k}: ${JSON.stringify(suffix)} is not "[PROXY][:PROXY]"; read as ingress-nginx reads it: PROXY protocol decode ${decode ? 'on' : 'off'}, send ${send ? 'on' : 'off'}`);
    }
    if (r.backend) out.push({ protocol, port, backend: r.backend, ...(decode ? { decodeProxyProtocol: true } : {}), ...(send ? { sendProxyProtocol: true } : {}) });
  }
  return out;
}
