// From "addresses this node should hold" to the `ip addr` changes that get there. Pure: the links
// as `ip -j addr show` lists them and what we added before come in, add/remove lists go out.
// Addresses we did not add are never removed, and never added twice.
import { parseIp, rangeContains, parseRange } from '../api/net/ip.ts';

export interface LinkAddress {
  readonly ip: string;
  readonly prefixLen: number;
  /** Seconds until the kernel removes it; absent for a permanent address. */
  readonly validLifetime?: number;
}

export interface Link {
  readonly name: string;
  readonly addresses: readonly LinkAddress[];
}

/** One address on one interface, as we add it (/32 or /128). */
export interface Placement {
  readonly ip: string;
  readonly iface: string;
}

export interface LinkPlan {
  readonly add: readonly Placement[];
  /** Ours and already where it belongs: its lifetime is renewed. */
  readonly keep: readonly Placement[];
  readonly remove: readonly Placement[];
  /** What we hold after the plan is applied (the next state file). */
  readonly owned: readonly Placement[];
  /** Desired addresses we cannot place, with why. */
  readonly skipped: readonly { ip: string; reason: string }[];
}

const byIp = (a: Placement, b: Placement) => a.ip.localeCompare(b.ip) || a.iface.localeCompare(b.iface);

/**
 * The interface an address belongs on: among the allowed ones ([] = every interface but lo), the
 * one with a subnet holding the address (so the kernel answers ARP where the clients are); when
 * none does, the first allowed interface named by the L2Advertisement.
 */
export function chooseInterface(ip: string, allowed: readonly string[], links: readonly Link[]): string | undefined {
  const a = parseIp(ip);
  if (!a) return undefined;
  const candidates = links.filter((l) => l.name !== 'lo' && (allowed.length === 0 || allowed.includes(l.name)));
  for (const l of [...candidates].sort((x, y) => x.name.localeCompare(y.name))) {
    for (const addr of l.addresses) {
      const bits = a.family === 4 ? 32 : 128;
      if (addr.prefixLen >= bits) continue;
      try {
        if (rangeContains(parseRange(`${addr.ip}/${addr.prefixLen}`), a.family, a.value)) return l.name;
      } catch { /* not an address of this family */ }
    }
  }
  return allowed.find((n) => candidates.some((l) => l.name === n));
}

export function planLinks(desired: ReadonlyMap<string, readonly string[]>, links: readonly Link[], owned: readonly Placement[]): LinkPlan {
  const present = new Map<string, string>(); // ip -> iface
  for (const l of links) for (const a of l.addresses) if (!present.has(a.ip)) present.set(a.ip, l.name);
  const add: Placement[] = [];
  const remove: Placement[] = [];
  const keep: Placement[] = [];
  const skipped: { ip: string; reason: string }[] = [];
  const ownedIps = new Map(owned.map((o) => [o.ip, o]));
  for (const [ip, allowed] of desired) {
    const ours = ownedIps.get(ip);
    const where = present.get(ip);
    if (ours && where === ours.iface) { keep.push(ours); continue; }
    if (where !== undefined && !ours) { skipped.push({ ip, reason: `already on ${where} (not added by podgate)` }); continue; }
    const iface = chooseInterface(ip, allowed, links);
    if (!iface) {
      skipped.push({ ip, reason: allowed.length ? `none of the interfaces ${allowed.join(', ')} exists` : 'no interface has a subnet holding it' });
      continue;
    }
    add.push({ ip, iface });
  }
  for (const o of owned) {
    if (desired.has(o.ip) && keep.some((k) => k.ip === o.ip)) continue;
    // Ours but no longer wanted (or to be moved): take it away if it is still there.
    if (present.get(o.ip) === o.iface) remove.push(o);
  }
  return { add: add.sort(byIp), keep: [...keep].sort(byIp), remove: remove.sort(byIp), owned: [...keep, ...add].sort(byIp), skipped };
}
