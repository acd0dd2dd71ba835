// IPv4 CIDR and node port range parsing for the service allocators. Pure helpers, no I/O.

/** An IPv4 network: `base` is the network address as an unsigned 32-bit integer. */
export interface Ipv4Cidr {
  readonly base: number;
  readonly prefix: number;
  /** Number of addresses in the network, network and broadcast included (2^(32-prefix)). */
  readonly size: number;
  /** Canonical text, e.g. `10.96.0.0/12` (host bits masked as Go's net.IPNet.String does). */
  readonly text: string;
}

/** A node port range as k8s.io/apimachinery/pkg/util/net.PortRange: ports base..base+size-1. */
export interface PortRange {
  readonly base: number;
  readonly size: number;
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** Parses a dotted-quad IPv4 address to an unsigned integer; undefined when it is not one. */
export function parseIpv4(text: string): number | undefined {
  const m = IPV4.exec(text);
  if (!m) return undefined;
  let n = 0;
  for (let i = 1; i <= 4; i++) {
    const octet = Number(m[i]);
    if (octet > 255) return undefined;
    n = n * 256 + octet;
  }
  return n;
}

export function formatIpv4(n: number): string {
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

/** True for anything that looks like an IPv6 literal (the allocator is IPv4-only). */
export function looksLikeIpv6(text: string): boolean {
  return text.includes(':');
}

/** Parses `a.b.c.d/n`; throws on anything else (a startup configuration error). */
export function parseCidr(text: string): Ipv4Cidr {
  const slash = text.indexOf('/');
  const addr = slash < 0 ? undefined : parseIpv4(text.slice(0, slash));
  const prefixText = slash < 0 ? '' : text.slice(slash + 1);
  const prefix = /^\d{1,2}$/.test(prefixText) ? Number(prefixText) : NaN;
  if (addr === undefined || !(prefix >= 0 && prefix <= 32)) {
    throw new Error(`invalid service CIDR ${JSON.stringify(text)}: want an IPv4 CIDR such as 10.96.0.0/12`);
  }
  const size = 2 ** (32 - prefix);
  const base = addr - (addr % size);
  return { base, prefix, size, text: `${formatIpv4(base)}/${prefix}` };
}

/**
 * Parses a port range the way net.ParsePortRange does: `30000-32767`, `30000+2767` or `30000`.
 * Throws on anything else.
 */
export function parsePortRange(text: string): PortRange {
  const t = text.trim();
  let m: RegExpExecArray | null;
  let base: number;
  let last: number;
  if ((m = /^(\d+)-(\d+)$/.exec(t))) {
    base = Number(m[1]);
    last = Number(m[2]);
  } else if ((m = /^(\d+)\+(\d+)$/.exec(t))) {
    base = Number(m[1]);
    last = base + Number(m[2]);
  } else if (/^\d+$/.test(t)) {
    base = Number(t);
    last = base;
  } else {
    throw new Error(`invalid port range ${JSON.stringify(text)}: want e.g. 30000-32767`);
  }
  if (base < 0 || last > 65535 || last < base) throw new Error(`invalid port range ${JSON.stringify(text)}`);
  return { base, size: last - base + 1 };
}

/** The text kube-apiserver prints for a port range (PortRange.String): `30000-32767`. */
export function formatPortRange(r: PortRange): string {
  return r.size === 0 ? '' : `${r.base}-${r.base + r.size - 1}`;
}
