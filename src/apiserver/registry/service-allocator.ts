// ClusterIP and nodePort allocation for Services, as kube-apiserver's service REST storage does it
// (pkg/registry/core/service/storage/alloc.go, storage.go beginCreate/beginUpdate, strategy.go
// dropTypeDependentFields), in memory and without I/O.
//
// The allocator never changes while planning: planCreate/planUpdate return the service with its
// allocations filled in and an explicit plan of what to take and what to free. The API server
// writes the store and only then calls commit(plan). When writes may interleave (an await between
// plan and commit), call hold(plan) right after planning instead, unhold on a failed write and
// finishRelease once the write is durable: held values are taken for every later plan.

import type { Service, ServicePort, ServiceStatus } from 'kubernetes-types/core/v1.d.ts';
import { field, type FieldError } from '../../api/errors.ts';
import { Bitmap } from './bitmap.ts';
import {
  formatIpv4,
  formatPortRange,
  looksLikeIpv6,
  parseCidr,
  parseIpv4,
  parsePortRange,
  type Ipv4Cidr,
  type PortRange,
} from '../../api/net/cidr.ts';

export interface ServiceAllocatorOptions {
  /** --service-cluster-ip-range; IPv4 only. Default 10.96.0.0/12. */
  serviceCIDR?: string;
  /** --service-node-port-range. Default 30000-32767. */
  nodePortRange?: PortRange | string;
  /** Uniform in [0, 1); the only source of randomness (Math.random in production). */
  random: () => number;
}

/** What a write takes and frees. Values are released only by commit, never while planning. */
export interface AllocationPlan {
  allocate: { ips: string[]; ports: number[] };
  release: { ips: string[]; ports: number[] };
}

export interface ServicePlanResult {
  /**
   * 422 causes (for errors.invalid('Service', '', name, errors)). Allocation errors come alone,
   * as kube returns them before validation runs; the validation-stage checks owned here
   * (clusterIPs immutability, nodePort on type ClusterIP) are reported only when allocation passed.
   */
  errors: FieldError[];
  /** Set when kube answers 500 (errors.internal(internalError)), e.g. `failed to allocate a nodePort: range is full`. */
  internalError: string | undefined;
  /** A copy of the input with clusterIP(s), ipFamilies, nodePorts and healthCheckNodePort filled in. */
  service: Service;
  plan: AllocationPlan;
}

export interface RebuildReport {
  /** Values held by more than one stored service (the store is already inconsistent). */
  duplicates: string[];
  /** Stored values outside the configured ranges; they are not tracked. */
  outOfRange: string[];
}

const DEFAULT_SERVICE_CIDR = '10.96.0.0/12';
const DEFAULT_NODE_PORT_RANGE = '30000-32767';

type ServiceType = 'ClusterIP' | 'NodePort' | 'LoadBalancer' | 'ExternalName';

function typeOf(svc: Service): ServiceType {
  return (svc.spec?.type ?? 'ClusterIP') as ServiceType;
}

function needsClusterIP(svc: Service): boolean {
  return typeOf(svc) !== 'ExternalName';
}

function needsNodePort(svc: Service): boolean {
  const t = typeOf(svc);
  return t === 'NodePort' || t === 'LoadBalancer';
}

/** apiservice.NeedsHealthCheck: only LoadBalancer with externalTrafficPolicy Local gets one. */
function needsHealthCheck(svc: Service): boolean {
  return typeOf(svc) === 'LoadBalancer' && svc.spec?.externalTrafficPolicy === 'Local';
}

function shouldAllocateNodePorts(svc: Service): boolean {
  const t = typeOf(svc);
  if (t === 'NodePort') return true;
  if (t === 'LoadBalancer') return svc.spec?.allocateLoadBalancerNodePorts !== false;
  return false;
}

function isHeadless(svc: Service): boolean {
  return svc.spec?.clusterIPs?.[0] === 'None' || (svc.spec?.clusterIPs === undefined && svc.spec?.clusterIP === 'None');
}

/** Go's %#v of a []string, as field.Invalid prints it: []string{"10.96.0.99"}. */
export function goStringSlice(values: readonly string[] | undefined): string {
  if (values === undefined) return '[]string(nil)';
  return `[]string{${values.map((v) => JSON.stringify(v)).join(', ')}}`;
}

function sameStrings(a: readonly string[] | undefined, b: readonly string[] | undefined): boolean {
  const x = a ?? [];
  const y = b ?? [];
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

function nodePortsOf(svc: Service): number[] {
  const out: number[] = [];
  for (const p of svc.spec?.ports ?? []) if (p.nodePort) out.push(p.nodePort);
  return out;
}

/** Bitmap offsets promised by one plan under construction; seen as taken by later picks in the same plan. */
class Draft {
  readonly ips = new Set<number>();
  readonly ports = new Set<number>();
  readonly releaseIps = new Set<number>();
  readonly releasePorts = new Set<number>();

  /** The plan in API terms; `ip` and `port` turn bitmap offsets back into values. */
  toPlan(ip: (offset: number) => string, port: (offset: number) => number): AllocationPlan {
    return {
      allocate: { ips: [...this.ips].map(ip), ports: [...this.ports].map(port) },
      release: { ips: [...this.releaseIps].map(ip), ports: [...this.releasePorts].map(port) },
    };
  }
}

/** An allocation failure: a 422 cause, or the text of a 500. */
type Failure = { kind: 'invalid'; error: FieldError } | { kind: 'internal'; message: string };

export class ServiceAllocator {
  readonly #cidr: Ipv4Cidr;
  readonly #ipMax: number;
  readonly #ipOffset: number;
  readonly #ips: Bitmap;
  readonly #portRange: PortRange;
  readonly #portOffset: number;
  readonly #ports: Bitmap;
  readonly #random: () => number;
  #kubernetesIPReserved = false;

  constructor(opts: ServiceAllocatorOptions) {
    this.#cidr = parseCidr(opts.serviceCIDR ?? DEFAULT_SERVICE_CIDR);
    // Usable addresses exclude the network and broadcast addresses (ipallocator Range).
    this.#ipMax = Math.max(0, this.#cidr.size - 2);
    this.#ipOffset = staticBand(this.#cidr.size, 16, 16, 256);
    this.#ips = new Bitmap(this.#ipMax);
    const range = opts.nodePortRange ?? DEFAULT_NODE_PORT_RANGE;
    this.#portRange = typeof range === 'string' ? parsePortRange(range) : range;
    this.#portOffset = staticBand(this.#portRange.size, 16, 32, 128);
    this.#ports = new Bitmap(this.#portRange.size);
    this.#random = opts.random;
  }

  /** The service CIDR as kube prints it in messages, e.g. `10.96.0.0/12`. */
  get serviceCIDR(): string {
    return this.#cidr.text;
  }

  get nodePortRange(): string {
    return formatPortRange(this.#portRange);
  }

  /** Counts of tracked values, for status and tests. */
  get used(): { ips: number; ports: number } {
    return { ips: this.#ips.count, ports: this.#ports.count };
  }

  /**
   * Reserves the first address of the range (10.96.0.1 by default) for the `kubernetes` Service and
   * returns it. It stays reserved across rebuild and release.
   */
  reserveKubernetesServiceIP(): string {
    this.#kubernetesIPReserved = true;
    this.#ips.set(0);
    return formatIpv4(this.#cidr.base + 1);
  }

  /** Forgets everything and marks what the stored services hold, so a restart never hands a value out twice. */
  rebuild(services: readonly Service[]): RebuildReport {
    this.#ips.reset();
    this.#ports.reset();
    if (this.#kubernetesIPReserved) this.#ips.set(0);
    const report: RebuildReport = { duplicates: [], outOfRange: [] };
    for (const svc of services) {
      const who = `${svc.metadata?.namespace ?? ''}/${svc.metadata?.name ?? ''}`;
      if (needsClusterIP(svc)) {
        const ips = svc.spec?.clusterIPs ?? (svc.spec?.clusterIP ? [svc.spec.clusterIP] : []);
        for (const ip of ips) {
          if (ip === 'None' || ip === '') continue;
          const off = this.#ipOffsetOf(ip);
          if (off === undefined) report.outOfRange.push(`${who}: clusterIP ${ip}`);
          else if (!this.#ips.set(off) && !(off === 0 && this.#kubernetesIPReserved)) report.duplicates.push(`${who}: clusterIP ${ip}`);
        }
      }
      // Within one service the same nodePort may serve TCP and UDP; count it once.
      const ports = new Set(nodePortsOf(svc));
      if (svc.spec?.healthCheckNodePort) ports.add(svc.spec.healthCheckNodePort);
      for (const port of ports) {
        const off = this.#portOffsetOf(port);
        if (off === undefined) report.outOfRange.push(`${who}: nodePort ${port}`);
        else if (!this.#ports.set(off)) report.duplicates.push(`${who}: nodePort ${port}`);
      }
    }
    return report;
  }

  /** Plans the allocations of a create (kube's beginCreate + allocateCreate). Does not change the allocator. */
  planCreate(input: Service): ServicePlanResult {
    const svc = structuredClone(input);
    const draft = new Draft();
    const spec = (svc.spec ??= {});
    // normalizeClusterIPs on create: an old client sets only the singular field.
    if (spec.clusterIP && !spec.clusterIPs?.length) spec.clusterIPs = [spec.clusterIP];

    const failure =
      this.#initIPFamilies(svc, undefined) ?? this.#allocClusterIPs(svc, draft) ?? this.#allocNodePortsOnCreate(svc, draft) ?? this.#allocHealthCheckNodePort(svc, draft);
    if (failure) return failed(svc, failure);
    return this.#finish(svc, forbiddenNodePorts(svc), draft);
  }

  /**
   * Plans the allocations of an update (kube's beginUpdate: patchAllocatedValues,
   * normalizeClusterIPs, allocateUpdate; then strategy.dropTypeDependentFields). Does not change
   * the allocator; values the update frees are in plan.release.
   */
  planUpdate(oldInput: Service, newInput: Service): ServicePlanResult {
    const old = oldInput;
    const svc = structuredClone(newInput);
    svc.spec ??= {};
    const draft = new Draft();
    patchAllocatedValues(svc, old);
    normalizeClusterIPsOnUpdate(svc, old);

    const failure =
      this.#initIPFamilies(svc, old) ?? this.#updateClusterIPs(svc, old, draft) ?? this.#updateNodePorts(svc, old, draft) ?? this.#updateHealthCheckNodePort(svc, old, draft);
    if (failure) return failed(svc, failure);
    dropTypeDependentFields(svc, old);
    const errors = [...clusterIPsImmutable(svc, old), ...forbiddenNodePorts(svc)];
    return this.#finish(svc, errors, draft);
  }

  /**
   * Applies a plan after the store write succeeded: hold + finishRelease. Returns the values that
   * were already taken (only possible when plans interleave); they stay marked, so nothing is
   * handed out twice.
   */
  commit(plan: AllocationPlan): string[] {
    const held = this.hold(plan);
    const conflicts = [
      ...plan.allocate.ips.filter((ip) => !held.ips.includes(ip)).map((ip) => `clusterIP ${ip}`),
      ...plan.allocate.ports.filter((p) => !held.ports.includes(p)).map((p) => `nodePort ${p}`),
    ];
    this.finishRelease(plan);
    return conflicts;
  }

  /**
   * Marks what a plan allocates before the store write (kube allocates before writing, too), so a
   * concurrent plan cannot pick the same value. Returns what this call newly marked: give exactly
   * that to unhold if the write fails. Values already taken are left out (a conflict).
   */
  hold(plan: AllocationPlan): AllocationPlan['allocate'] {
    const held: AllocationPlan['allocate'] = { ips: [], ports: [] };
    for (const ip of plan.allocate.ips) {
      const off = this.#ipOffsetOf(ip);
      if (off !== undefined && this.#ips.set(off)) held.ips.push(ip);
    }
    for (const port of plan.allocate.ports) {
      const off = this.#portOffsetOf(port);
      if (off !== undefined && this.#ports.set(off)) held.ports.push(port);
    }
    return held;
  }

  /** Undoes hold after a failed write. */
  unhold(held: AllocationPlan['allocate']): void {
    for (const ip of held.ips) this.#releaseIp(ip);
    for (const port of held.ports) this.#releasePort(port);
  }

  /** Frees what an update gave up; call only once the write is durable. */
  finishRelease(plan: AllocationPlan): void {
    for (const ip of plan.release.ips) this.#releaseIp(ip);
    for (const port of plan.release.ports) this.#releasePort(port);
  }

  /** Frees what a deleted service held (kube's releaseAllocatedResources). Unknown values are ignored. */
  release(svc: Service): void {
    if (needsClusterIP(svc) && !isHeadless(svc)) {
      for (const ip of svc.spec?.clusterIPs ?? (svc.spec?.clusterIP ? [svc.spec.clusterIP] : [])) this.#releaseIp(ip);
    }
    for (const port of nodePortsOf(svc)) this.#releasePort(port);
    if (needsHealthCheck(svc) && svc.spec?.healthCheckNodePort) this.#releasePort(svc.spec.healthCheckNodePort);
  }

  /** True when the address is tracked as allocated (for tests and diagnostics). */
  hasIP(ip: string): boolean {
    const off = this.#ipOffsetOf(ip);
    return off !== undefined && this.#ips.has(off);
  }

  hasNodePort(port: number): boolean {
    const off = this.#portOffsetOf(port);
    return off !== undefined && this.#ports.has(off);
  }

  /** A result with errors carries an empty plan, so committing it by mistake changes nothing. */
  #finish(svc: Service, errors: FieldError[], draft: Draft): ServicePlanResult {
    if (errors.length) return { errors, internalError: undefined, service: svc, plan: emptyPlan() };
    return { errors, internalError: undefined, service: svc, plan: this.#toPlan(draft) };
  }

  #toPlan(draft: Draft): AllocationPlan {
    return draft.toPlan(
      (off) => formatIpv4(this.#cidr.base + 1 + off),
      (off) => this.#portRange.base + off,
    );
  }

  // ---- addresses -------------------------------------------------------------------------

  #ipOffsetOf(ip: string): number | undefined {
    const n = parseIpv4(ip);
    if (n === undefined) return undefined;
    const off = n - this.#cidr.base - 1;
    return off >= 0 && off < this.#ipMax ? off : undefined;
  }

  #releaseIp(ip: string): void {
    const off = this.#ipOffsetOf(ip);
    if (off === undefined || (off === 0 && this.#kubernetesIPReserved)) return;
    this.#ips.clear(off);
  }

  /** ipallocator Allocate: the error text kube wraps in `failed to allocate IP …`, or undefined on success. */
  #takeIp(ip: string, draft: Draft): string | undefined {
    const off = this.#ipOffsetOf(ip);
    if (off === undefined) {
      return `the provided IP (${ip}) is not in the valid range. The range of valid IPs is ${this.#cidr.text}`;
    }
    if (this.#ips.has(off) || draft.ips.has(off)) return 'provided IP is already allocated';
    draft.ips.add(off);
    return undefined;
  }

  #takeNextIp(draft: Draft): string | undefined {
    const off = this.#ips.pickFree(this.#ipOffset, this.#random, (i) => !draft.ips.has(i));
    if (off === undefined) return undefined;
    draft.ips.add(off);
    return formatIpv4(this.#cidr.base + 1 + off);
  }

  // ---- ports -----------------------------------------------------------------------------

  #portOffsetOf(port: number): number | undefined {
    const off = port - this.#portRange.base;
    return Number.isInteger(off) && off >= 0 && off < this.#portRange.size ? off : undefined;
  }

  #releasePort(port: number): void {
    const off = this.#portOffsetOf(port);
    if (off !== undefined) this.#ports.clear(off);
  }

  /** portallocator Allocate: the error text, or undefined on success. */
  #takePort(port: number, draft: Draft): string | undefined {
    const off = this.#portOffsetOf(port);
    if (off === undefined) {
      return `provided port is not in the valid range. The range of valid ports is ${formatPortRange(this.#portRange)}`;
    }
    if (this.#ports.has(off) || draft.ports.has(off)) return 'provided port is already allocated';
    draft.ports.add(off);
    return undefined;
  }

  #takeNextPort(draft: Draft): number | undefined {
    const off = this.#ports.pickFree(this.#portOffset, this.#random, (i) => !draft.ports.has(i));
    if (off === undefined) return undefined;
    draft.ports.add(off);
    return this.#portRange.base + off;
  }

  // ---- the steps of allocateCreate / allocateUpdate --------------------------------------

  /** A single-stack IPv4 cut of initIPFamilyFields: defaults ipFamilyPolicy and ipFamilies. */
  #initIPFamilies(svc: Service, old: Service | undefined): Failure | undefined {
    if (!needsClusterIP(svc)) return undefined;
    const spec = svc.spec!;
    const headless = spec.clusterIP === 'None' || spec.clusterIPs?.[0] === 'None';
    const selectorless = Object.keys(spec.selector ?? {}).length === 0;
    spec.ipFamilyPolicy ??= old?.spec?.ipFamilyPolicy ?? (headless && selectorless ? 'RequireDualStack' : 'SingleStack');

    const ips = spec.clusterIPs ?? [];
    // Part of ValidateServiceClusterIPsRelatedFields, which kube runs here, before allocating.
    for (const [i, ip] of ips.entries()) {
      if (ip === 'None' || ip === '') continue;
      if (parseIpv4(ip) === undefined && !looksLikeIpv6(ip)) {
        return invalid(field.invalid(`spec.clusterIPs[${i}]`, ip, 'must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)'));
      }
    }
    const errs: FieldError[] = [];
    if (spec.ipFamilyPolicy === 'SingleStack') {
      const because = (what: string) => `must be 'RequireDualStack' or 'PreferDualStack' when multiple ${what} are specified`;
      if (ips.length === 2) errs.push(field.invalid('spec.ipFamilyPolicy', spec.ipFamilyPolicy, because('cluster IPs')));
      if ((spec.ipFamilies ?? []).length === 2) errs.push(field.invalid('spec.ipFamilyPolicy', spec.ipFamilyPolicy, because('IP families')));
    }
    const families = [...(spec.ipFamilies ?? [])];
    for (const [i, ip] of ips.entries()) {
      if (ip === 'None') break;
      if (i < families.length) continue;
      if (looksLikeIpv6(ip)) errs.push(field.invalid(`spec.clusterIPs[${i}]`, ips, 'IPv6 is not configured on this cluster', goStringSlice(ips)));
      else families.push('IPv4');
    }
    if (errs.length) return { kind: 'invalid', error: errs[0]! };

    // Headless and selectorless: any family goes, and a non-single-stack policy asks for both.
    if (headless && selectorless) {
      if (families.length === 0) families.push('IPv4');
      if (families.length < 2 && spec.ipFamilyPolicy !== 'SingleStack') families.push(families[0] === 'IPv4' ? 'IPv6' : 'IPv4');
      spec.ipFamilies = families;
      return undefined;
    }
    if (spec.ipFamilyPolicy === 'RequireDualStack') {
      errs.push(field.invalid('spec.ipFamilyPolicy', spec.ipFamilyPolicy, 'this cluster is not configured for dual-stack services'));
    }
    for (const [i, fam] of families.entries()) {
      if (fam !== 'IPv4') errs.push(field.invalid(`spec.ipFamilies[${i}]`, fam, 'not configured on this cluster'));
    }
    if (errs.length) return { kind: 'invalid', error: errs[0]! };
    if (families.length === 0) families.push('IPv4');
    spec.ipFamilies = families;
    return undefined;
  }

  /** allocClusterIPs: nothing for ExternalName or headless; the requested IP or the next free one. */
  #allocClusterIPs(svc: Service, draft: Draft): Failure | undefined {
    if (!needsClusterIP(svc)) return undefined;
    const spec = svc.spec!;
    if (spec.clusterIPs?.[0] === 'None') {
      spec.clusterIP = 'None';
      return undefined;
    }
    const requested = spec.clusterIPs?.[0] ?? '';
    if (requested === '') {
      const ip = this.#takeNextIp(draft);
      if (ip === undefined) return { kind: 'internal', message: 'failed to allocate a serviceIP: range is full' };
      spec.clusterIP = ip;
      spec.clusterIPs = [ip];
      return undefined;
    }
    const err = this.#takeIp(requested, draft);
    if (err) {
      const ips = spec.clusterIPs;
      return invalid(field.invalid('spec.clusterIPs', ips, `failed to allocate IP ${requested}: ${err}`, goStringSlice(ips)));
    }
    spec.clusterIP = requested;
    return undefined;
  }

  /**
   * initNodePorts: ports that share a port number share a nodePort (so TCP and UDP on port 53 may
   * both use 30053); a requested value is taken once, a clash with another port number fails.
   */
  #allocNodePortsOnCreate(svc: Service, draft: Draft): Failure | undefined {
    if (!needsNodePort(svc)) return undefined;
    const ports = svc.spec!.ports ?? [];
    const byServicePort = new Map<number, number>();
    for (const [i, sp] of ports.entries()) {
      if (!sp.nodePort && !shouldAllocateNodePorts(svc)) continue; // respect requests only
      const already = byServicePort.get(sp.port);
      if (already === undefined) {
        const requested = ports.find((p) => p.port === sp.port && p.nodePort)?.nodePort;
        if (requested) {
          const err = this.#takePort(requested, draft);
          if (err) return invalid(field.invalid(`spec.ports[${i}].nodePort`, requested, err));
          sp.nodePort = requested;
          byServicePort.set(sp.port, requested);
        } else {
          const next = this.#takeNextPort(draft);
          if (next === undefined) return { kind: 'internal', message: 'failed to allocate a nodePort: range is full' };
          sp.nodePort = next;
          byServicePort.set(sp.port, next);
        }
      } else if (sp.nodePort !== already) {
        if (!sp.nodePort) {
          sp.nodePort = already;
        } else {
          const err = this.#takePort(sp.nodePort, draft);
          if (err) return invalid(field.invalid(`spec.ports[${i}].nodePort`, sp.nodePort, err));
        }
      }
    }
    return undefined;
  }

  /** allocHealthCheckNodePort; kube reports these failures as 500s, not 422s. */
  #allocHealthCheckNodePort(svc: Service, draft: Draft): Failure | undefined {
    if (!needsHealthCheck(svc)) return undefined;
    const spec = svc.spec!;
    if (spec.healthCheckNodePort) {
      const err = this.#takePort(spec.healthCheckNodePort, draft);
      if (err) return { kind: 'internal', message: `failed to allocate requested HealthCheck NodePort ${spec.healthCheckNodePort}: ${err}` };
      return undefined;
    }
    const next = this.#takeNextPort(draft);
    if (next === undefined) return { kind: 'internal', message: 'failed to allocate a HealthCheck NodePort 0: range is full' };
    spec.healthCheckNodePort = next;
    return undefined;
  }

  /** updateClusterIPs for a single-stack cluster: allocate leaving ExternalName, release entering it. */
  #updateClusterIPs(svc: Service, old: Service, draft: Draft): Failure | undefined {
    if (!needsClusterIP(old) && needsClusterIP(svc)) return this.#allocClusterIPs(svc, draft);
    if (isHeadless(old)) return undefined;
    if (needsClusterIP(old) && !needsClusterIP(svc)) {
      for (const ip of old.spec?.clusterIPs ?? []) {
        const off = this.#ipOffsetOf(ip);
        if (off !== undefined) draft.releaseIps.add(off);
      }
    }
    return undefined;
  }

  /** txnUpdateNodePorts without the health check part. */
  #updateNodePorts(svc: Service, old: Service, draft: Draft): Failure | undefined {
    const oldNumbers = nodePortsOf(old);
    const releaseLater = (port: number) => {
      const off = this.#portOffsetOf(port);
      if (off !== undefined) draft.releasePorts.add(off);
    };
    if (needsNodePort(old) && !needsNodePort(svc)) {
      for (const port of oldNumbers) releaseLater(port);
      return undefined;
    }
    if (!needsNodePort(svc)) return undefined;

    const seen = new Set<string>();
    const taken = new Set<number>();
    for (const [i, sp] of (svc.spec!.ports ?? []).entries()) {
      if (!sp.nodePort && !shouldAllocateNodePorts(svc)) continue;
      if (sp.nodePort) {
        if (!oldNumbers.includes(sp.nodePort) && !taken.has(sp.nodePort)) {
          const err = this.#takePort(sp.nodePort, draft);
          if (err) return invalid(field.invalid(`spec.ports[${i}].nodePort`, sp.nodePort, err));
          taken.add(sp.nodePort);
        }
      } else {
        const next = this.#takeNextPort(draft);
        if (next === undefined) return { kind: 'internal', message: 'failed to allocate a nodePort: range is full' };
        sp.nodePort = next;
      }
      // The same nodePort twice is fine only for different protocols (TCP and UDP on 30053).
      const protocol = sp.protocol ?? 'TCP';
      const key = `${protocol}/${sp.nodePort}`;
      if (seen.has(key)) return { kind: 'internal', message: `duplicate nodePort: {${protocol} ${sp.nodePort}}` };
      seen.add(key);
    }
    const newNumbers = nodePortsOf(svc);
    for (const port of oldNumbers) if (!newNumbers.includes(port)) releaseLater(port);
    return undefined;
  }

  #updateHealthCheckNodePort(svc: Service, old: Service, draft: Draft): Failure | undefined {
    const needed = needsHealthCheck(old);
    const needs = needsHealthCheck(svc);
    if (!needed && needs) return this.#allocHealthCheckNodePort(svc, draft);
    if (needed && !needs && old.spec?.healthCheckNodePort) {
      const off = this.#portOffsetOf(old.spec.healthCheckNodePort);
      if (off !== undefined) draft.releasePorts.add(off);
    }
    return undefined;
  }
}

/** KEP-3070 calculateRangeOffset: min(max(min, size/step), max), or 0 for tiny ranges. */
function staticBand(size: number, min: number, step: number, max: number): number {
  if (size <= min) return 0;
  return Math.min(Math.max(min, Math.floor(size / step)), max);
}

function invalid(error: FieldError): Failure {
  return { kind: 'invalid', error };
}

function emptyPlan(): AllocationPlan {
  return { allocate: { ips: [], ports: [] }, release: { ips: [], ports: [] } };
}

function failed(svc: Service, failure: Failure): ServicePlanResult {
  if (failure.kind === 'internal') return { errors: [], internalError: failure.message, service: svc, plan: emptyPlan() };
  return { errors: [failure.error], internalError: undefined, service: svc, plan: emptyPlan() };
}

/**
 * storage.go patchAllocatedValues: a client that resubmits what it created (no clusterIP, no
 * nodePort) keeps what was allocated. NodePorts are matched by port *name*, as kube does.
 */
export function patchAllocatedValues(svc: Service, old: Service): void {
  const spec = (svc.spec ??= {});
  if (needsClusterIP(old) && needsClusterIP(svc)) {
    if (!spec.clusterIP && old.spec?.clusterIP) spec.clusterIP = old.spec.clusterIP;
    if (!spec.clusterIPs?.length && old.spec?.clusterIPs?.length) spec.clusterIPs = [...old.spec.clusterIPs];
  }
  if (needsNodePort(old) && needsNodePort(svc)) {
    const newUsed = new Set(nodePortsOf(svc));
    const used = new Set(nodePortsOf(old).filter((p) => newUsed.has(p)));
    const byName = new Map<string, number>();
    for (const p of old.spec?.ports ?? []) byName.set(p.name ?? '', p.nodePort ?? 0);
    for (const p of spec.ports ?? []) {
      if (p.nodePort) continue;
      const oldVal = byName.get(p.name ?? '') ?? 0;
      if (oldVal && !used.has(oldVal)) p.nodePort = oldVal;
    }
  }
  if (needsHealthCheck(old) && needsHealthCheck(svc) && !spec.healthCheckNodePort && old.spec?.healthCheckNodePort) {
    spec.healthCheckNodePort = old.spec.healthCheckNodePort;
  }
}

/** storage.go normalizeClusterIPs for updates: keep clusterIP and clusterIPs in step. */
function normalizeClusterIPsOnUpdate(svc: Service, old: Service): void {
  const spec = svc.spec!;
  const oldSpec = old.spec ?? {};
  if (oldSpec.clusterIPs?.length && !spec.clusterIPs?.length && (oldSpec.clusterIP ?? '') === (spec.clusterIP ?? '')) {
    spec.clusterIPs = [...oldSpec.clusterIPs];
  }
  if ((oldSpec.clusterIP ?? '') !== (spec.clusterIP ?? '')) {
    if (oldSpec.clusterIP && !spec.clusterIP) {
      if (sameStrings(oldSpec.clusterIPs, spec.clusterIPs)) delete spec.clusterIPs;
    } else if (sameStrings(oldSpec.clusterIPs, spec.clusterIPs) && spec.clusterIP) {
      spec.clusterIPs = [spec.clusterIP];
    }
  }
}

/**
 * strategy.go dropTypeDependentFields: on a type change, wipe what the old type needed and the
 * user did not touch (nodePorts when going to ClusterIP, clusterIPs when going to ExternalName, …).
 */
export function dropTypeDependentFields(svc: Service, old: Service): void {
  const spec = (svc.spec ??= {});
  const oldSpec = old.spec ?? {};
  if (needsClusterIP(old) && !needsClusterIP(svc)) {
    if ((oldSpec.clusterIP ?? '') === (spec.clusterIP ?? '') && sameStrings(oldSpec.clusterIPs, spec.clusterIPs)) {
      delete spec.clusterIP;
      delete spec.clusterIPs;
    }
    if (sameStrings(oldSpec.ipFamilies, spec.ipFamilies)) delete spec.ipFamilies;
    if ((oldSpec.ipFamilyPolicy ?? '') === (spec.ipFamilyPolicy ?? '')) delete spec.ipFamilyPolicy;
  }
  if (needsNodePort(old) && !needsNodePort(svc)) {
    const oldPorts = new Set(nodePortsOf(old));
    // Only when the user added no net-new nodePort; otherwise validation rejects it.
    if (nodePortsOf(svc).every((p) => oldPorts.has(p))) for (const p of spec.ports ?? []) delete (p as ServicePort).nodePort;
  }
  if (needsHealthCheck(old) && !needsHealthCheck(svc) && (oldSpec.healthCheckNodePort ?? 0) === (spec.healthCheckNodePort ?? 0)) {
    delete spec.healthCheckNodePort;
  }
  if (typeOf(old) === 'LoadBalancer' && typeOf(svc) !== 'LoadBalancer') {
    if (spec.allocateLoadBalancerNodePorts !== undefined && spec.allocateLoadBalancerNodePorts === oldSpec.allocateLoadBalancerNodePorts) {
      delete spec.allocateLoadBalancerNodePorts;
    }
    if ((spec.loadBalancerClass ?? null) === (oldSpec.loadBalancerClass ?? null)) delete spec.loadBalancerClass;
  }
  if (needsNodePort(old) && !needsNodePort(svc) && spec.externalTrafficPolicy === oldSpec.externalTrafficPolicy) {
    delete spec.externalTrafficPolicy;
  }
  // kubernetes-types marks status read-only; here it is our own copy.
  if (typeOf(svc) !== 'LoadBalancer' && svc.status) (svc as { status?: ServiceStatus }).status = { ...svc.status, loadBalancer: {} };
}

/** validateUpgradeDowngradeClusterIPs (validation stage): the primary clusterIP may not change. */
export function clusterIPsImmutable(svc: Service, old: Service): FieldError[] {
  if (!needsClusterIP(svc) || !needsClusterIP(old)) return [];
  if (isHeadless(old) && isHeadless(svc)) return [];
  const before = old.spec?.clusterIPs ?? [];
  const after = svc.spec?.clusterIPs ?? [];
  const errs: FieldError[] = [];
  const changed = (i: number) => field.invalid(`spec.clusterIPs[${i}]`, after, 'may not change once set', goStringSlice(svc.spec?.clusterIPs));
  if (before.length === after.length) {
    for (const [i, ip] of before.entries()) if (ip !== after[i]) errs.push(changed(i));
  } else if (before.length > after.length) {
    if (after.length === 0) {
      errs.push(field.invalid('spec.clusterIPs[0]', after, 'primary clusterIP can not be unset', goStringSlice(svc.spec?.clusterIPs)));
    } else if (after[0] !== before[0]) {
      errs.push(changed(0));
    }
  } else if (before.length > 0 && after[0] !== before[0]) {
    errs.push(changed(0));
  }
  return errs;
}

/** ValidateService (validation stage): nodePort is forbidden on type ClusterIP. */
export function forbiddenNodePorts(svc: Service): FieldError[] {
  if (typeOf(svc) !== 'ClusterIP') return [];
  const errs: FieldError[] = [];
  for (const [i, p] of (svc.spec?.ports ?? []).entries()) {
    if (p.nodePort) errs.push(field.forbidden(`spec.ports[${i}].nodePort`, "may not be used when `type` is 'ClusterIP'"));
  }
  return errs;
}
