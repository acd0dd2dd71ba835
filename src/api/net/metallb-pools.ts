// MetalLB's configuration kinds (metallb.io/v1beta1 IPAddressPool and L2Advertisement) read into
// the plain shapes the allocator and the announcer work with. Pure.
import type { KObject } from '../object.ts';
import { fromLabelSelectorObject, matchesLabels, type LabelSelector } from '../selectors.ts';
import { isBuggyIp, parseIp, parseRange, rangeContains, type IpRange } from './ip.ts';

type SelectorObject = Parameters<typeof fromLabelSelectorObject>[0];

export interface IPAddressPoolSpec {
  addresses?: string[];
  autoAssign?: boolean;
  avoidBuggyIPs?: boolean;
  serviceAllocation?: {
    priority?: number;
    namespaces?: string[];
    namespaceSelectors?: SelectorObject[];
    serviceSelectors?: SelectorObject[];
  };
}

export interface L2AdvertisementSpec {
  ipAddressPools?: string[];
  ipAddressPoolSelectors?: SelectorObject[];
  nodeSelectors?: SelectorObject[];
  interfaces?: string[];
}

export interface ServiceAllocation {
  /** Lower wins; 0 (unset) comes after every pool with a priority (MetalLB sortPools). */
  readonly priority: number;
  readonly namespaces: readonly string[];
  readonly namespaceSelectors: readonly LabelSelector[];
  readonly serviceSelectors: readonly LabelSelector[];
}

export interface PoolConfig {
  readonly name: string;
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly ranges: readonly IpRange[];
  readonly autoAssign: boolean;
  readonly avoidBuggyIPs: boolean;
  readonly serviceAllocation?: ServiceAllocation;
}

export interface L2Config {
  readonly name: string;
  readonly ipAddressPools: readonly string[];
  readonly ipAddressPoolSelectors: readonly LabelSelector[];
  readonly nodeSelectors: readonly LabelSelector[];
  readonly interfaces: readonly string[];
}

/** Reads an IPAddressPool; throws (with the pool's name) when an address entry is malformed. */
export function poolFromObject(obj: KObject): PoolConfig {
  const spec = (obj.spec ?? {}) as IPAddressPoolSpec;
  const name = obj.metadata.name ?? '';
  const ranges = (spec.addresses ?? []).map((a) => {
    try {
      return parseRange(a);
    } catch (err) {
      throw new Error(`IPAddressPool ${name}: ${(err as Error).message}`);
    }
  });
  const sa = spec.serviceAllocation;
  return {
    name, namespace: obj.metadata.namespace ?? '', labels: obj.metadata.labels ?? {}, ranges,
    autoAssign: spec.autoAssign ?? true,
    avoidBuggyIPs: spec.avoidBuggyIPs ?? false,
    ...(sa ? {
      serviceAllocation: {
        priority: sa.priority ?? 0,
        namespaces: sa.namespaces ?? [],
        namespaceSelectors: (sa.namespaceSelectors ?? []).map(fromLabelSelectorObject),
        serviceSelectors: (sa.serviceSelectors ?? []).map(fromLabelSelectorObject),
      },
    } : {}),
  };
}

/**
 * Reads every pool, sorted by name (MetalLB ranges over a Go map; podgate is deterministic).
 * Malformed pools are left out and reported in `errors`; a pool whose name is taken twice (pools
 * in several namespaces) keeps the first namespace in sort order.
 */
export function readPools(objs: readonly KObject[]): { pools: PoolConfig[]; errors: string[] } {
  const pools: PoolConfig[] = [];
  const errors: string[] = [];
  const sorted = [...objs].sort((a, b) => (a.metadata.name ?? '').localeCompare(b.metadata.name ?? '') || (a.metadata.namespace ?? '').localeCompare(b.metadata.namespace ?? ''));
  for (const o of sorted) {
    if (pools.some((p) => p.name === o.metadata.name)) {
      errors.push(`IPAddressPool ${o.metadata.namespace}/${o.metadata.name}: duplicate pool name, ignored`);
      continue;
    }
    try {
      pools.push(poolFromObject(o));
    } catch (err) {
      errors.push((err as Error).message);
    }
  }
  return { pools, errors };
}

export function l2FromObject(obj: KObject): L2Config {
  const spec = (obj.spec ?? {}) as L2AdvertisementSpec;
  return {
    name: obj.metadata.name ?? '',
    ipAddressPools: spec.ipAddressPools ?? [],
    ipAddressPoolSelectors: (spec.ipAddressPoolSelectors ?? []).map(fromLabelSelectorObject),
    nodeSelectors: (spec.nodeSelectors ?? []).map(fromLabelSelectorObject),
    interfaces: [...(spec.interfaces ?? [])].sort(),
  };
}

/** Whether an address lies in the pool (skipping .0/.255 when the pool avoids buggy IPs). */
export function poolContains(pool: PoolConfig, ip: string): boolean {
  const a = parseIp(ip);
  if (!a) return false;
  if (pool.avoidBuggyIPs && isBuggyIp(a.family, a.value)) return false;
  return pool.ranges.some((r) => rangeContains(r, a.family, a.value));
}

/** MetalLB poolFor: the first pool (by name) holding every one of the addresses. */
export function poolFor(pools: readonly PoolConfig[], ips: readonly string[]): PoolConfig | undefined {
  if (ips.length === 0) return undefined;
  return pools.find((p) => ips.every((ip) => poolContains(p, ip)));
}

/**
 * Whether an L2Advertisement covers a pool: named in ipAddressPools, or selected by
 * ipAddressPoolSelectors, or, when it names and selects nothing, every pool (MetalLB's rule).
 */
export function l2SelectsPool(l2: L2Config, pool: PoolConfig): boolean {
  if (l2.ipAddressPools.length === 0 && l2.ipAddressPoolSelectors.length === 0) return true;
  return l2.ipAddressPools.includes(pool.name) || l2.ipAddressPoolSelectors.some((s) => matchesLabels(s, pool.labels));
}

/** Whether an L2Advertisement lets a node announce: no nodeSelectors means every node. */
export function l2SelectsNode(l2: L2Config, nodeLabels: Readonly<Record<string, string>> | undefined): boolean {
  return l2.nodeSelectors.length === 0 || l2.nodeSelectors.some((s) => matchesLabels(s, nodeLabels));
}
