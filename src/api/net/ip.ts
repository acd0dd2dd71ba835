// IPv4 and IPv6 addresses as bigints, and MetalLB's address ranges (a CIDR or `start-end`), so
// pools can be walked in address order as MetalLB's allocator walks them (ipaddr.Cursor).
import { isIP } from 'node:net';

export type Family = 4 | 6;

export interface IpRange {
  readonly family: Family;
  readonly first: bigint;
  readonly last: bigint;
  /** As written in the pool. */
  readonly text: string;
}

/** Parses an IPv4 or IPv6 address; undefined when it is not one. */
export function parseIp(text: string): { family: Family; value: bigint } | undefined {
  const s = text.trim();
  const kind = isIP(s);
  if (kind === 4) {
    let v = 0n;
    for (const part of s.split('.')) v = (v << 8n) | BigInt(Number(part));
    return { family: 4, value: v };
  }
  if (kind === 6) {
    let head = s;
    let tail4: bigint | undefined;
    // An IPv4 tail (::ffff:1.2.3.4) stands for the last two groups.
    const lastColon = head.lastIndexOf(':');
    if (head.slice(lastColon + 1).includes('.')) {
      tail4 = parseIp(head.slice(lastColon + 1))!.value;
      head = `${head.slice(0, lastColon + 1)}0:0`;
    }
    const [left, right] = head.includes('::') ? head.split('::') as [string, string] : [head, undefined];
    const l = left ? left.split(':') : [];
    const r = right !== undefined && right !== '' ? right.split(':') : [];
    const groups = right === undefined ? l : [...l, ...Array<string>(8 - l.length - r.length).fill('0'), ...r];
    let v = 0n;
    for (const g of groups) v = (v << 16n) | BigInt(parseInt(g, 16));
    if (tail4 !== undefined) v = (v & ~0xffffffffn) | tail4;
    return { family: 6, value: v };
  }
  return undefined;
}

/** The canonical text of an address (dotted quad; RFC 5952 for IPv6, as Go's net.IP.String). */
export function formatIp(family: Family, value: bigint): string {
  if (family === 4) return [24n, 16n, 8n, 0n].map((s) => String((value >> s) & 0xffn)).join('.');
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((value >> BigInt(i * 16)) & 0xffffn));
  // The longest run of two or more zero groups becomes "::" (the first one on a tie).
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j;
  }
  const hex = (gs: number[]) => gs.map((g) => g.toString(16)).join(':');
  if (best < 0) return hex(groups);
  return `${hex(groups.slice(0, best))}::${hex(groups.slice(best + bestLen))}`;
}

/** The canonical form of an address text, or undefined when it is not an address. */
export function canonicalIp(text: string): string | undefined {
  const p = parseIp(text);
  return p ? formatIp(p.family, p.value) : undefined;
}

/**
 * Parses one entry of an IPAddressPool's `addresses`: a CIDR (`192.168.1.0/24`, every address in
 * it, network and broadcast included, as MetalLB hands them out) or a range (`a-b`, both ends
 * included, same family). Throws with MetalLB's wording when malformed.
 */
export function parseRange(text: string): IpRange {
  const s = text.trim();
  if (s.includes('-')) {
    const [a, b, ...rest] = s.split('-').map((x) => x.trim());
    const start = parseIp(a ?? '');
    const end = parseIp(b ?? '');
    if (rest.length || !start) throw new Error(`invalid IP range ${JSON.stringify(s)}: invalid start IP ${JSON.stringify(a ?? '')}`);
    if (!end) throw new Error(`invalid IP range ${JSON.stringify(s)}: invalid end IP ${JSON.stringify(b ?? '')}`);
    if (start.family !== end.family) throw new Error(`invalid IP range ${JSON.stringify(s)}: IP range has mixed families`);
    if (end.value < start.value) throw new Error(`invalid IP range ${JSON.stringify(s)}: start IP ${JSON.stringify(a)} is after the end IP ${JSON.stringify(b)}`);
    return { family: start.family, first: start.value, last: end.value, text: s };
  }
  const slash = s.indexOf('/');
  const ip = parseIp(slash < 0 ? s : s.slice(0, slash));
  const bits = ip?.family === 6 ? 128 : 32;
  const prefix = slash < 0 ? Number.NaN : Number(s.slice(slash + 1));
  if (!ip || !Number.isInteger(prefix) || prefix < 0 || prefix > bits || !/^\d+$/.test(s.slice(slash + 1))) {
    throw new Error(`invalid CIDR ${JSON.stringify(s)} in pool`);
  }
  const hostBits = BigInt(bits - prefix);
  const first = (ip.value >> hostBits) << hostBits;
  return { family: ip.family, first, last: first + (1n << hostBits) - 1n, text: s };
}

/** Whether the address is in the range. */
export function rangeContains(r: IpRange, family: Family, value: bigint): boolean {
  return r.family === family && value >= r.first && value <= r.last;
}

/**
 * MetalLB's ipConfusesBuggyFirmwares: IPv4 addresses ending in .0 or .255 confuse smurf
 * protection on some CPE firmware, so `avoidBuggyIPs` pools never hand them out.
 */
export function isBuggyIp(family: Family, value: bigint): boolean {
  if (family !== 4) return false;
  const last = value & 0xffn;
  return last === 0n || last === 255n;
}

/** Whether `ip` lies in `cidr` (`10.0.0.0/24`); false for malformed input. */
export function cidrContains(cidr: string, ip: string): boolean {
  const a = parseIp(ip);
  if (!a) return false;
  try {
    return rangeContains(parseRange(cidr), a.family, a.value);
  } catch {
    return false;
  }
}
