// LoadBalancer addresses from MetalLB IPAddressPools, as MetalLB's internal/allocator does it:
// in memory, no I/O; the durable record is each Service's status.loadBalancer.ingress, and the
// allocator is rebuilt from it on start (assign() the addresses Services already hold) so an
// address is never handed out twice across restarts. Every decision returns a reason in
// MetalLB's words instead of a bare boolean.
import { matchesLabels } from '../../api/selectors.ts';
import { formatIp, isBuggyIp, parseIp, type Family } from '../../api/net/ip.ts';
import { poolFor, type PoolConfig } from '../../api/net/metallb-pools.ts';

/** One port a Service uses on its address: two Services on one address may not share one. */
export interface Port {
  readonly proto: string;
  readonly port: number;
}

/** What a Service asks of the allocator (built from the Service by claimFor in plan.ts). */
export interface Claim {
  /** "namespace/name". */
  readonly key: string;
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
  /** The Service namespace's labels, for serviceAllocation.namespaceSelectors. */
  readonly namespaceLabels: Readonly<Record<string, string>>;
  readonly family: Family;
  readonly ports: readonly Port[];
  /** metallb.io/allow-shared-ip; '' = no sharing. */
  readonly sharingKey: string;
  /** MetalLB k8salloc.BackendKey: the selector for externalTrafficPolicy Local, '' for Cluster. */
  readonly backendKey: string;
}

export type Decision =
  | { readonly ok: true; readonly ips: readonly string[]; readonly pool: string }
  | { readonly ok: false; readonly reason: string };

interface Alloc {
  pool: string;
  ips: string[];
  ports: Port[];
  sharing: string;
  backend: string;
}

const portText = (p: Port) => `${p.proto}/${p.port}`;

/** Go's %q of a []net.IP: ["1.2.3.4" "::1"]. */
export function quoteIps(ips: readonly string[]): string {
  return `[${ips.map((ip) => JSON.stringify(ip)).join(' ')}]`;
}

export class LbAllocator {
  #pools: PoolConfig[] = [];
  readonly #allocated = new Map<string, Alloc>(); // svc -> alloc
  readonly #keyForIp = new Map<string, { sharing: string; backend: string }>();
  readonly #portsInUse = new Map<string, Map<string, string>>(); // ip -> "TCP/80" -> svc
  readonly #servicesOnIp = new Map<string, Set<string>>(); // ip -> svcs

  get pools(): readonly PoolConfig[] {
    return this.#pools;
  }

  /**
   * Replaces the pools. Allocations whose addresses no pool holds any more are dropped (their
   * keys are returned, sorted, so the caller re-converges them); the rest move to the pool that
   * now holds them (MetalLB SetPools).
   */
  setPools(pools: readonly PoolConfig[]): string[] {
    this.#pools = [...pools].sort((a, b) => a.name.localeCompare(b.name));
    const dropped: string[] = [];
    for (const [svc, a] of [...this.#allocated]) {
      const p = poolFor(this.#pools, a.ips);
      if (!p) {
        this.unassign(svc);
        dropped.push(svc);
      } else {
        a.pool = p.name;
      }
    }
    return dropped.sort();
  }

  /** The addresses held by the service, or [] (sorted as assigned). */
  ips(svc: string): readonly string[] {
    return this.#allocated.get(svc)?.ips ?? [];
  }

  /** The pool the service's addresses came from, or ''. */
  pool(svc: string): string {
    return this.#allocated.get(svc)?.pool ?? '';
  }

  /** Every service holding an address, sorted. */
  services(): string[] {
    return [...this.#allocated.keys()].sort();
  }

  /** Addresses in use and still free in a pool (what MetalLB reports in the pool's status). */
  counters(poolName: string): { assigned: number; available: number } {
    const pool = this.#pools.find((p) => p.name === poolName);
    if (!pool) return { assigned: 0, available: 0 };
    const used = new Set<string>();
    for (const a of this.#allocated.values()) if (a.pool === poolName) for (const ip of a.ips) used.add(ip);
    let size = 0n;
    for (const r of pool.ranges) {
      size += r.last - r.first + 1n;
      if (pool.avoidBuggyIPs && r.family === 4) {
        for (let v = r.first - (r.first & 0xffn); v <= r.last; v += 256n) {
          if (v >= r.first) size--;
          if (v + 255n <= r.last && v + 255n >= r.first) size--;
        }
      }
    }
    const total = size > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(size);
    return { assigned: used.size, available: total - used.size };
  }

  /**
   * Gives the service exactly these addresses if the configuration allows them and sharing
   * permits (same non-empty sharing key, same backend key, no port in use by another service).
   * Idempotent for what the service already holds.
   */
  assign(claim: Claim, ips: readonly string[]): Decision {
    const canon = ips.map((ip) => { const p = parseIp(ip); return p ? formatIp(p.family, p.value) : ip; });
    const pool = poolFor(this.#pools, canon);
    if (!pool) return { ok: false, reason: `${quoteIps(canon)} is not allowed in config` };
    if (!this.isPoolCompatible(pool, claim)) return { ok: false, reason: `pool ${pool.name} not compatible for ip assignment` };
    if (canon.length > 2) return { ok: false, reason: `more than two addresses ${quoteIps(canon)}` };
    if (canon.length === 2 && parseIp(canon[0]!)!.family === parseIp(canon[1]!)!.family) {
      return { ok: false, reason: `${JSON.stringify(canon[0])} ${JSON.stringify(canon[1])} has the same family` };
    }
    for (const ip of canon) {
      const why = this.#checkSharing(claim, ip);
      if (why) return { ok: false, reason: why };
    }
    this.#assign(claim.key, { pool: pool.name, ips: canon, ports: [...claim.ports], sharing: claim.sharingKey, backend: claim.backendKey });
    return { ok: true, ips: canon, pool: pool.name };
  }

  /** Frees what the service holds; false when it held nothing. */
  unassign(svc: string): boolean {
    const a = this.#allocated.get(svc);
    if (!a) return false;
    this.#allocated.delete(svc);
    for (const ip of a.ips) {
      const ports = this.#portsInUse.get(ip);
      for (const p of a.ports) if (ports?.get(portText(p)) === svc) ports.delete(portText(p));
      const on = this.#servicesOnIp.get(ip);
      on?.delete(svc);
      if (!on || on.size === 0) {
        this.#servicesOnIp.delete(ip);
        this.#portsInUse.delete(ip);
        this.#keyForIp.delete(ip);
      }
    }
    return true;
  }

  /** The first free address of the named pool (MetalLB AllocateFromPool). */
  allocateFromPool(claim: Claim, poolName: string): Decision {
    const held = this.#allocated.get(claim.key);
    if (held) return this.assign(claim, held.ips);
    const pool = this.#pools.find((p) => p.name === poolName);
    if (!pool) return { ok: false, reason: `unknown pool ${JSON.stringify(poolName)}` };
    const ip = this.#firstFree(pool, claim);
    if (!ip) return { ok: false, reason: `no available IPs in pool ${JSON.stringify(poolName)}` };
    return this.assign(claim, [ip]);
  }

  /**
   * The first free address of the best pool (MetalLB Allocate): first the pools pinned to the
   * service by serviceAllocation (namespace or service selectors), by priority; then every
   * autoAssign pool without a serviceAllocation, by name. `autoAssign: false` pools are only used
   * on explicit request.
   */
  allocate(claim: Claim): Decision {
    const held = this.#allocated.get(claim.key);
    if (held) return this.assign(claim, held.ips);
    const pinned = this.#pools.filter((p) => p.autoAssign && p.serviceAllocation && this.isPoolCompatible(p, claim) && this.#pinnedTo(p, claim));
    pinned.sort((a, b) => {
      const pa = a.serviceAllocation!.priority;
      const pb = b.serviceAllocation!.priority;
      if (pa > 0 && pb > 0 && pa !== pb) return pa - pb;
      if ((pa === 0) !== (pb === 0)) return pa === 0 ? 1 : -1;
      return a.name.localeCompare(b.name);
    });
    const rest = this.#pools.filter((p) => p.autoAssign && !p.serviceAllocation);
    for (const pool of [...pinned, ...rest]) {
      const ip = this.#firstFree(pool, claim);
      if (!ip) continue;
      const d = this.assign(claim, [ip]);
      if (d.ok) return d;
    }
    return { ok: false, reason: 'no available IPs' };
  }

  /** MetalLB isPoolCompatibleWithService: the pool's serviceAllocation admits the service. */
  isPoolCompatible(pool: PoolConfig, claim: Claim): boolean {
    const sa = pool.serviceAllocation;
    if (!sa) return true;
    if ((sa.namespaces.length > 0 || sa.namespaceSelectors.length > 0) && !this.#inNamespaces(pool, claim)) return false;
    if (sa.serviceSelectors.length > 0) return sa.serviceSelectors.some((s) => matchesLabels(s, claim.labels));
    return true;
  }

  #inNamespaces(pool: PoolConfig, claim: Claim): boolean {
    const sa = pool.serviceAllocation!;
    return sa.namespaces.includes(claim.namespace) || sa.namespaceSelectors.some((s) => matchesLabels(s, claim.namespaceLabels));
  }

  // MetalLB pinnedPoolsForService: pools listed for the namespace, or with service selectors.
  #pinnedTo(pool: PoolConfig, claim: Claim): boolean {
    const sa = pool.serviceAllocation!;
    return this.#inNamespaces(pool, claim) || sa.serviceSelectors.length > 0;
  }

  #firstFree(pool: PoolConfig, claim: Claim): string | undefined {
    for (const r of pool.ranges) {
      if (r.family !== claim.family) continue;
      for (let v = r.first; v <= r.last; v++) {
        if (pool.avoidBuggyIPs && isBuggyIp(r.family, v)) continue;
        const ip = formatIp(r.family, v);
        if (!this.#checkSharing(claim, ip)) return ip;
      }
    }
    return undefined;
  }

  /** '' when the service may use the address next to its current users; otherwise why not. */
  #checkSharing(claim: Claim, ip: string): string {
    const existing = this.#keyForIp.get(ip);
    if (!existing) return '';
    const why = sharingProblem(existing, { sharing: claim.sharingKey, backend: claim.backendKey });
    if (why) {
      // The only user of the address may change its own sharing key in place.
      const others = [...(this.#servicesOnIp.get(ip) ?? [])].filter((s) => s !== claim.key).sort();
      if (others.length > 0) return `can't change sharing key for ${JSON.stringify(claim.key)}, address also in use by ${others.join(',')}`;
    }
    const ports = this.#portsInUse.get(ip);
    for (const p of claim.ports) {
      const cur = ports?.get(portText(p));
      if (cur !== undefined && cur !== claim.key) return `port ${portText(p)} is already in use on ${JSON.stringify(ip)}`;
    }
    return '';
  }

  #assign(svc: string, a: Alloc): void {
    this.unassign(svc);
    this.#allocated.set(svc, a);
    for (const ip of a.ips) {
      this.#keyForIp.set(ip, { sharing: a.sharing, backend: a.backend });
      let ports = this.#portsInUse.get(ip);
      if (!ports) this.#portsInUse.set(ip, (ports = new Map()));
      for (const p of a.ports) ports.set(portText(p), svc);
      let on = this.#servicesOnIp.get(ip);
      if (!on) this.#servicesOnIp.set(ip, (on = new Set()));
      on.add(svc);
    }
  }
}

/** MetalLB sharingOK, with its messages. */
function sharingProblem(existing: { sharing: string; backend: string }, next: { sharing: string; backend: string }): string {
  if (existing.sharing === '') return 'existing service does not allow sharing';
  if (next.sharing === '') return 'new service does not allow sharing';
  if (existing.sharing !== next.sharing) return `sharing key ${JSON.stringify(next.sharing)} does not match existing sharing key ${JSON.stringify(existing.sharing)}`;
  if (existing.backend !== next.backend) return `backend key ${JSON.stringify(next.backend)} does not match existing sharing key ${JSON.stringify(existing.backend)}`;
  return '';
}
