// What the cluster DNS answers (pure): one question and the cluster view in, a plan out — records
// to send, a name to forward upstream, or an ExternalName target to resolve upstream first.
//
// It follows the Kubernetes DNS specification (kubernetes/dns docs/specification.md, schema 1.1.0)
// as CoreDNS's kubernetes plugin implements it with kubeadm's Corefile
// (`kubernetes cluster.local in-addr.arpa ip6.arpa { pods insecure; fallthrough in-addr.arpa ip6.arpa; ttl 30 }`):
// handler.go (ServeDNS: which types are answered and NXDOMAIN vs NODATA), parse.go (parseRequest),
// kubernetes.go (Records, findServices, findPods, endpointHostname), reverse.go, ns.go, and the
// generic plugin/backend_lookup.go (A, SRV, SOA, BackendError).
import { isIP, isIPv4, isIPv6 } from 'node:net';
import type { Answer } from 'dns-packet';
import type { ClusterView, DnsEndpointAddress } from './cluster-view.ts';

/** The schema version this server implements (spec section 2.1, CoreDNS's DNSSchemaVersion). */
export const DNS_SCHEMA_VERSION = '1.1.0';

export type PodsMode = 'insecure' | 'verified' | 'disabled';

export interface RecordOptions {
  /** The cluster domain, e.g. `cluster.local` (no trailing dot). */
  readonly zone: string;
  /** TTL of every cluster record (kubeadm's Corefile: `ttl 30`). */
  readonly ttl: number;
  /** CoreDNS's `pods` option: kubeadm sets `insecure` (any `a-b-c-d.ns.pod` name answers). */
  readonly podsMode: PodsMode;
  /** Addresses for `ns.dns.<zone>`: the kube-dns Service's cluster IPs. */
  readonly nameserverIPs: readonly string[];
}

export interface DnsQuestion {
  readonly name: string;
  readonly type: string;
  readonly class?: string;
}

export type Rcode = 'NOERROR' | 'FORMERR' | 'SERVFAIL' | 'NXDOMAIN' | 'NOTIMP' | 'REFUSED';

export interface ReplyPlan {
  readonly kind: 'reply';
  readonly rcode: Rcode;
  readonly authoritative: boolean;
  readonly answers: readonly Answer[];
  readonly authorities: readonly Answer[];
  readonly additionals: readonly Answer[];
}

/** A name outside the cluster domain (or a reverse name the cluster does not hold): ask upstream. */
export interface ForwardPlan {
  readonly kind: 'forward';
}

/**
 * An ExternalName Service: the CNAME chain so far, and the target to look up upstream. The reply is
 * the chain plus the upstream's answer section, even an empty one; `empty` (NODATA, CoreDNS drops
 * the CNAME then) only when the lookup fails.
 */
export interface ChasePlan {
  readonly kind: 'chase';
  readonly chain: readonly Answer[];
  readonly target: string;
  readonly type: 'A' | 'AAAA';
  readonly empty: ReplyPlan;
}

export type Plan = ReplyPlan | ForwardPlan | ChasePlan;

/** CoreDNS's maxCnameChainLength. */
const MAX_CNAME_CHAIN = 10;
/** TTL of `dns-version` (CoreDNS: 28800). */
const VERSION_TTL = 28800;

/** A record source, as CoreDNS's msg.Service: an address or a CNAME target, a port, and its owner name. */
interface Found {
  readonly host: string;
  readonly port: number;
  /** The name SRV records point at (`svc.ns.svc.zone` or `endpoint.svc.ns.svc.zone`). */
  readonly owner: string;
}

/** Records lookup result: a name error (NXDOMAIN) or the records (empty: NODATA). */
type Lookup = { readonly nameError: true } | { readonly nameError: false; readonly found: readonly Found[] };

const NAME_ERROR: Lookup = { nameError: true };
const found = (f: readonly Found[]): Lookup => ({ nameError: false, found: f });

function normalize(name: string): string {
  return name.toLowerCase().replace(/\.+$/, '');
}

/** The part of `name` left of `zone` ('' for the apex), or undefined when `name` is not under it. */
function trimZone(name: string, zone: string): string | undefined {
  if (name === zone) return '';
  return name.endsWith(`.${zone}`) ? name.slice(0, -zone.length - 1) : undefined;
}

/**
 * CoreDNS's endpointHostname: the endpoint's hostname, else its address with `.` (or `:`) as `-`
 * (`10-244-0-5`), which is also the name SRV records of headless Services point at.
 */
export function endpointName(a: DnsEndpointAddress): string {
  if (a.hostname) return a.hostname;
  if (a.ip.includes('.')) return a.ip.replaceAll('.', '-');
  const v6 = a.ip.replaceAll(':', '-');
  return v6.endsWith('-') ? `${v6}0` : v6;
}

function matchPortAndProtocol(wantPort: string, port: string, wantProtocol: string, protocol: string): boolean {
  return (wantPort === '' || wantPort === port.toLowerCase()) && (wantProtocol === '' || wantProtocol === protocol.toLowerCase());
}

const strip = (label: string) => (label.startsWith('_') ? label.slice(1) : label);

/**
 * CoreDNS's Records (parseRequest + findServices/findPods) for a name under the zone: which
 * addresses or CNAME targets the name has, or a name error.
 */
function lookupRecords(view: ClusterView, name: string, o: RecordOptions): Lookup {
  const base = trimZone(name, o.zone)!;
  // The apex, `svc.<zone>` and `pod.<zone>` exist and hold nothing (NODATA).
  if (base === '' || base === 'svc' || base === 'pod') return found([]);
  const segs = base.split('.');
  const kind = segs.at(-1)!;
  if (kind !== 'svc' && kind !== 'pod') return NAME_ERROR;
  const namespace = segs.at(-2)!;
  if (!view.namespaces.has(namespace)) return NAME_ERROR;
  const service = segs.at(-3);
  // `<ns>.svc.<zone>` of a namespace that exists: NODATA.
  if (service === undefined) return found([]);
  const rest = segs.length - 3;
  let endpoint = '';
  let port = '';
  let protocol = '';
  if (rest === 1) endpoint = segs[0]!;
  else if (rest === 2) { port = strip(segs[0]!); protocol = strip(segs[1]!); }
  // Longer names are "too long to answer" in parseRequest: NXDOMAIN.
  else if (rest > 2) return NAME_ERROR;
  return kind === 'pod' ? findPod(view, namespace, service, o) : findService(view, { namespace, service, endpoint, port, protocol }, o);
}

/** CoreDNS's findPods: `a-b-c-d.<ns>.pod.<zone>` is that address (insecure: any; verified: a pod of the namespace has it). */
function findPod(view: ClusterView, namespace: string, podName: string, o: RecordOptions): Lookup {
  if (o.podsMode === 'disabled') return NAME_ERROR;
  const ip = (podName.split('-').length - 1 === 3 && !podName.includes('--')) ? podName.replaceAll('-', '.') : podName.replaceAll('-', ':');
  if (isIP(ip) === 0) return NAME_ERROR;
  if (o.podsMode === 'verified' && !view.podIPs.get(ip)?.has(namespace)) return NAME_ERROR;
  return found([{ host: ip, port: 0, owner: `${podName}.${namespace}.pod.${o.zone}` }]);
}

function findService(view: ClusterView, r: { namespace: string; service: string; endpoint: string; port: string; protocol: string }, o: RecordOptions): Lookup {
  const key = `${r.namespace}/${r.service}`;
  const svc = view.services.get(key);
  if (!svc) return NAME_ERROR;
  const owner = `${svc.name}.${svc.namespace}.svc.${o.zone}`;
  if (svc.type === 'ExternalName') {
    // No endpoints, no SRV pseudo-names; an address in externalName is not a CNAME (NXDOMAIN).
    if (r.endpoint || r.port || r.protocol || !svc.externalName || isIP(svc.externalName) !== 0) return NAME_ERROR;
    return found([{ host: normalize(svc.externalName), port: 0, owner }]);
  }
  if (svc.headless || r.endpoint !== '') {
    const out: Found[] = [];
    for (const set of view.endpoints.get(key) ?? []) {
      for (const a of set.addresses) {
        const epName = endpointName(a);
        if (r.endpoint !== '' && r.endpoint !== epName.toLowerCase()) continue;
        for (const p of set.ports) {
          if (!matchPortAndProtocol(r.port, p.name, r.protocol, p.protocol)) continue;
          out.push({ host: a.ip, port: p.port, owner: `${epName}.${owner}` });
        }
      }
    }
    // A headless Service without ready endpoints (or no endpoint of that name) is a name error.
    return out.length ? found(out) : NAME_ERROR;
  }
  const out: Found[] = [];
  let anyPort = false;
  for (const p of svc.ports) {
    if (!matchPortAndProtocol(r.port, p.name, r.protocol, p.protocol)) continue;
    anyPort = true;
    for (const ip of svc.clusterIPs) out.push({ host: ip, port: p.port, owner });
  }
  return anyPort ? found(out) : NAME_ERROR;
}

/** CoreDNS's Services wrapper: `ns.dns.<zone>` is the DNS Service itself (ns.go: isDefaultNS). */
function lookupServices(view: ClusterView, name: string, o: RecordOptions): Lookup {
  if (name === `ns.dns.${o.zone}`) return found(o.nameserverIPs.map((ip) => ({ host: ip, port: 0, owner: name })));
  return lookupRecords(view, name, o);
}

function soa(zoneName: string, o: RecordOptions, serial: number): Answer {
  // plugin/backend_lookup.go SOA: ns.dns.<zone>, hostmaster.<zone>, TTL min(ttl, 300), minimum = ttl.
  return {
    name: zoneName, type: 'SOA', class: 'IN', ttl: Math.min(o.ttl, 300),
    data: { mname: `ns.dns.${zoneName}`, rname: `hostmaster.${zoneName}`, serial, refresh: 7200, retry: 1800, expire: 86400, minimum: o.ttl },
  };
}

interface Ctx {
  readonly view: ClusterView;
  readonly o: RecordOptions;
  /** The zone as the client spelled it (CoreDNS keeps the question's case). */
  readonly zoneName: string;
}

function reply(rcode: Rcode, answers: readonly Answer[], additionals: readonly Answer[] = [], authorities: readonly Answer[] = []): ReplyPlan {
  return { kind: 'reply', rcode, authoritative: true, answers, authorities, additionals };
}

/** BackendError: NXDOMAIN or NODATA, authoritative, with the zone's SOA in the authority section. */
function negative(ctx: Ctx, rcode: 'NXDOMAIN' | 'NOERROR' | 'SERVFAIL'): ReplyPlan {
  return reply(rcode, [], [], [soa(ctx.zoneName, ctx.o, ctx.view.serial)]);
}

/** plugin.A/AAAA: addresses, following CNAMEs (ExternalName) inside the zone; an external target is chased upstream. */
function addresses(ctx: Ctx, qname: string, type: 'A' | 'AAAA', chain: readonly Answer[]): { nameError: boolean; records: Answer[]; chase?: { chain: Answer[]; target: string } } {
  const l = lookupServices(ctx.view, normalize(qname), ctx.o);
  if (l.nameError) return { nameError: true, records: [] };
  const records: Answer[] = [];
  const seen = new Set<string>();
  let chase: { chain: Answer[]; target: string } | undefined;
  for (const f of l.found) {
    const family = isIP(f.host);
    if (family === 0) {
      if (f.host === normalize(qname) || chain.length > MAX_CNAME_CHAIN) continue;
      const cname: Answer = { name: qname, type: 'CNAME', class: 'IN', ttl: ctx.o.ttl, data: f.host };
      if (chain.some((c) => c.type === 'CNAME' && c.data === f.host)) continue;
      if (trimZone(f.host, ctx.o.zone) !== undefined) {
        const next = addresses(ctx, f.host, type, [...chain, cname]);
        if (!next.nameError && next.records.length) records.push(cname, ...next.records);
        if (next.chase) chase = { chain: [cname, ...next.chase.chain], target: next.chase.target };
        continue;
      }
      chase = { chain: [cname], target: f.host };
      continue;
    }
    if ((type === 'A' && family === 4) || (type === 'AAAA' && family === 6)) {
      if (seen.has(f.host)) continue;
      seen.add(f.host);
      records.push({ name: qname, type, class: 'IN', ttl: ctx.o.ttl, data: f.host });
    }
  }
  return { nameError: false, records, ...(chase ? { chase } : {}) };
}

/** plugin.SRV: one SRV per (target, port), weights shared out per priority, the targets' addresses as extra records. */
function srv(ctx: Ctx, qname: string): { nameError: boolean; answers: Answer[]; extra: Answer[] } {
  const l = lookupServices(ctx.view, normalize(qname), ctx.o);
  if (l.nameError) return { nameError: true, answers: [], extra: [] };
  // CoreDNS answers SRV only for addresses: an ExternalName Service (a host name, not an IP) gets none, here as there.
  const internal = l.found.filter((f) => isIP(f.host) !== 0);
  const total = internal.length * 100;
  const weight = Math.max(1, Math.floor((100 / total) * 100));
  const answers: Answer[] = [];
  const extra: Answer[] = [];
  const seenSrv = new Set<string>();
  const seenAddr = new Set<string>();
  for (const f of internal) {
    if (f.port === -1) continue;
    const k = `${f.owner} ${f.port}`;
    if (!seenSrv.has(k)) {
      seenSrv.add(k);
      answers.push({ name: qname, type: 'SRV', class: 'IN', ttl: ctx.o.ttl, data: { priority: 0, weight, port: f.port, target: f.owner } });
    }
    const a = `${f.owner} ${f.host}`;
    if (!seenAddr.has(a)) {
      seenAddr.add(a);
      extra.push({ name: f.owner, type: isIPv4(f.host) ? 'A' : 'AAAA', class: 'IN', ttl: ctx.o.ttl, data: f.host });
    }
  }
  return { nameError: false, answers, extra };
}

/** The address a reverse name stands for (`4.3.2.1.in-addr.arpa`, 32 nibbles of `ip6.arpa`), or undefined. */
export function addressFromReverse(name: string): string | undefined {
  const n = normalize(name);
  if (n.endsWith('.in-addr.arpa')) {
    const parts = n.slice(0, -'.in-addr.arpa'.length).split('.');
    if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255 && String(Number(p)) === p)) return undefined;
    return parts.reverse().join('.');
  }
  if (n.endsWith('.ip6.arpa')) {
    const nibbles = n.slice(0, -'.ip6.arpa'.length).split('.');
    if (nibbles.length !== 32 || !nibbles.every((x) => /^[0-9a-f]$/.test(x))) return undefined;
    const hex = nibbles.reverse().join('');
    const groups = hex.match(/.{4}/g)!.map((g) => g.replace(/^0+(?=.)/, ''));
    const ip = groups.join(':');
    return isIPv6(ip) ? ip : undefined;
  }
  return undefined;
}

function isReverseName(name: string): boolean {
  return name === 'in-addr.arpa' || name.endsWith('.in-addr.arpa') || name === 'ip6.arpa' || name.endsWith('.ip6.arpa');
}

/**
 * CoreDNS's serviceRecordForIP: the Service holding the cluster IP (`svc.ns.svc.zone`), else every
 * ready endpoint with the address (`endpoint.svc.ns.svc.zone`).
 */
export function reverseNames(view: ClusterView, ip: string, zone: string): string[] {
  const svc = view.byClusterIP.get(ip)?.[0];
  if (svc) {
    const [ns, name] = svc.split('/') as [string, string];
    return [`${name}.${ns}.svc.${zone}`];
  }
  const out: string[] = [];
  for (const e of view.byEndpointIP.get(ip) ?? []) {
    const [ns, name] = e.service.split('/') as [string, string];
    const n = `${endpointName(e.address)}.${name}.${ns}.svc.${zone}`;
    if (!out.includes(n)) out.push(n);
  }
  return out;
}

/**
 * Plans the answer to one question (pure). `view` undefined means the caches have not synced yet:
 * names in the cluster domain get SERVFAIL (CoreDNS answers so rather than a wrong NXDOMAIN), the
 * rest is forwarded.
 */
export function planAnswer(view: ClusterView | undefined, q: DnsQuestion, o: RecordOptions): Plan {
  const name = normalize(q.name);
  const base = trimZone(name, o.zone);
  if (base === undefined) {
    // The reverse zones are the kubernetes plugin's too, with `fallthrough`: a PTR of a Service or
    // endpoint address is answered, anything else goes on to `forward`.
    if (view && q.type === 'PTR' && isReverseName(name)) {
      const ip = addressFromReverse(name);
      const names = ip === undefined ? [] : reverseNames(view, ip, o.zone);
      if (names.length) return reply('NOERROR', names.map((n) => ({ name: q.name, type: 'PTR', class: 'IN', ttl: o.ttl, data: n }) as Answer));
    }
    return { kind: 'forward' };
  }
  const zoneName = q.name.replace(/\.+$/, '').slice(-o.zone.length);
  if (!view) {
    return { kind: 'reply', rcode: 'SERVFAIL', authoritative: false, answers: [], authorities: [], additionals: [] };
  }
  const ctx: Ctx = { view, o, zoneName };
  if (q.class !== undefined && q.class !== 'IN' && q.class !== 'ANY') return { kind: 'reply', rcode: 'REFUSED', authoritative: false, answers: [], authorities: [], additionals: [] };
  switch (q.type) {
    case 'A':
    case 'AAAA': {
      const r = addresses(ctx, q.name, q.type, []);
      if (r.nameError) return negative(ctx, 'NXDOMAIN');
      if (r.records.length) return reply('NOERROR', r.records);
      if (r.chase) return { kind: 'chase', chain: r.chase.chain, target: r.chase.target, type: q.type, empty: negative(ctx, 'NOERROR') };
      return negative(ctx, 'NOERROR');
    }
    case 'TXT': {
      // Only `dns-version.<zone>` has a TXT record; other names that exist are NODATA.
      if (base === 'dns-version') return reply('NOERROR', [{ name: q.name, type: 'TXT', class: 'IN', ttl: VERSION_TTL, data: DNS_SCHEMA_VERSION }]);
      const l = lookupRecords(view, name, o);
      return negative(ctx, !l.nameError && l.found.length > 0 ? 'NOERROR' : 'NXDOMAIN');
    }
    case 'CNAME': {
      const l = lookupServices(view, name, o);
      if (l.nameError) return negative(ctx, 'NXDOMAIN');
      const first = l.found[0];
      if (first && isIP(first.host) === 0) return reply('NOERROR', [{ name: q.name, type: 'CNAME', class: 'IN', ttl: o.ttl, data: first.host }]);
      return negative(ctx, 'NOERROR');
    }
    case 'SRV': {
      const r = srv(ctx, q.name);
      if (r.nameError) return negative(ctx, 'NXDOMAIN');
      return r.answers.length ? reply('NOERROR', r.answers, r.extra) : negative(ctx, 'NOERROR');
    }
    case 'SOA':
      // Only the apex has one; any other name is NODATA (CoreDNS does not check it exists).
      return base === '' ? reply('NOERROR', [soa(zoneName, o, view.serial)]) : negative(ctx, 'NOERROR');
    case 'NS':
      if (base === '') {
        const ns = `ns.dns.${zoneName}`;
        return reply('NOERROR', [{ name: q.name, type: 'NS', class: 'IN', ttl: o.ttl, data: ns }],
          o.nameserverIPs.map((ip) => ({ name: ns, type: isIPv4(ip) ? 'A' : 'AAAA', class: 'IN', ttl: o.ttl, data: ip }) as Answer));
      }
      break;
    case 'AXFR':
    case 'IXFR':
      return { kind: 'reply', rcode: 'REFUSED', authoritative: false, answers: [], authorities: [], additionals: [] };
  }
  // Any other type (PTR, MX, HTTPS, …): a fake A lookup tells NXDOMAIN from NODATA.
  return negative(ctx, lookupServices(view, name, o).nameError ? 'NXDOMAIN' : 'NOERROR');
}
