// IPv4 arithmetic for the pod network. Addresses are unsigned 32-bit numbers inside; strings at
// the edges. IPv6 is not handled: podgate's pod network is IPv4-only today.

export interface Cidr {
  /** The network address (host bits cleared), as a number. */
  readonly base: number;
  readonly prefix: number;
}

/** Parses a dotted-quad IPv4 address; throws on anything else. */
export function parseIPv4(text: string): number {
  const parts = text.split('.');
  if (parts.length !== 4) throw new Error(`invalid IPv4 address "${text}"`);
  let n = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) throw new Error(`invalid IPv4 address "${text}"`);
    n = n * 256 + Number(p);
  }
  return n;
}

export function formatIPv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** Parses "a.b.c.d/n"; throws when malformed or when host bits are set (as Kubernetes rejects such CIDRs). */
export function parseCidr(text: string): Cidr {
  const m = /^([^/]+)\/(\d{1,2})$/.exec(text);
  if (!m) throw new Error(`invalid CIDR "${text}"`);
  const prefix = Number(m[2]);
  if (prefix > 32) throw new Error(`invalid CIDR "${text}"`);
  const addr = parseIPv4(m[1]!);
  const base = (addr & maskOf(prefix)) >>> 0;
  if (base !== addr) throw new Error(`invalid CIDR "${text}": host bits set (did you mean ${formatIPv4(base)}/${prefix}?)`);
  return { base, prefix };
}

export function formatCidr(c: Cidr): string {
  return `${formatIPv4(c.base)}/${c.prefix}`;
}

export function cidrSize(c: Cidr): number {
  return 2 ** (32 - c.prefix);
}

export function cidrContains(c: Cidr, ip: number): boolean {
  return ((ip & maskOf(c.prefix)) >>> 0) === c.base;
}

/** True when every address of `inner` lies in `outer`. */
export function cidrWithin(inner: Cidr, outer: Cidr): boolean {
  return inner.prefix >= outer.prefix && cidrContains(outer, inner.base);
}

/** The subnet an interface address lies in: `10.250.3.11` with prefix 24 → 10.250.3.0/24. */
export function cidrOfAddress(ip: number, prefix: number): Cidr {
  return { base: (ip & maskOf(prefix)) >>> 0, prefix };
}

/** True when the two ranges share an address (one contains the other: CIDRs never partly overlap). */
export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  return cidrWithin(a, b) || cidrWithin(b, a);
}
