// The I/O half of the layer-2 announcer: puts the addresses this node wins on its links, renews
// them, announces them, and takes away the ones it no longer wins, remembering in a state file
// what it added so it never touches an address it did not add.
//
// Every address another node could take over goes on with a finite lifetime (`valid_lft`),
// renewed about once per refresh interval. MetalLB's speaker answers ARP from its own process
// (speaker/layer2 arp.go), so its answers stop when it dies; a kernel address would outlive a
// SIGKILLed agent and keep answering after another node took the address over. With a lifetime, a
// dead agent's addresses leave the link by themselves. An address no other node is eligible for
// is held forever instead: letting it expire would hand it to nobody, while the pods and rules
// behind it keep serving after the agent dies.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseIp } from '../api/net/ip.ts';
import { type Exec, tryCommand } from '../util/exec.ts';
import { planLinks, type Link, type Placement } from './link-plan.ts';

export interface LinkAddressesOptions {
  readonly exec: Exec;
  readonly nodeName: string;
  /** Where the list of addresses we added is kept (the node's data dir). */
  readonly stateDir: string;
  /** Seconds an address stays on the link unless renewed (an integer ≥ 1). */
  readonly lifetimeSeconds: number;
  /** How often apply() runs to renew (default a third of the lifetime): renewals are spaced by it. */
  readonly refreshSeconds?: number;
  readonly log: (m: string) => void;
}

const STATE_FILE = 'l2-announced.json';
/** The kernel's "forever" in `ip -j addr` lifetimes (INFINITY_LIFE_TIME). */
const FOREVER = 0xffffffff;

/** `ip -j addr show` → links with their addresses (and the lifetime of those that have one). */
export function parseIpAddrJson(text: string): Link[] {
  const raw = JSON.parse(text || '[]') as { ifname?: string; addr_info?: { local?: string; prefixlen?: number; valid_life_time?: number }[] }[];
  return raw.filter((l) => l.ifname).map((l) => ({
    name: l.ifname!,
    addresses: (l.addr_info ?? []).filter((a) => a.local).map((a) => ({
      ip: a.local!,
      prefixLen: a.prefixlen ?? 32,
      ...(typeof a.valid_life_time === 'number' && a.valid_life_time !== FOREVER ? { validLifetime: a.valid_life_time } : {}),
    })),
  }));
}

/**
 * The command that adds the address or renews it: `replace` does both, and turns a permanent
 * address of ours into one with a lifetime and back ('forever').
 */
export function addressArgv(p: Placement, lifetimeSeconds: number | 'forever'): string[] {
  const v6 = parseIp(p.ip)?.family === 6;
  const lft = String(lifetimeSeconds);
  // nodad: an IPv6 address must answer at once, not after duplicate address detection.
  return ['ip', 'addr', 'replace', `${p.ip}/${hostBits(p.ip)}`, 'dev', p.iface, 'valid_lft', lft, 'preferred_lft', lft, ...(v6 ? ['nodad'] : [])];
}

/** Unsolicited ARP (sender = target = the address, iputils arping), giving up after 1 s (`-w`). */
export function gratuitousArpArgv(p: Placement): string[] {
  return ['arping', '-U', '-c', '1', '-w', '1', '-I', p.iface, p.ip];
}

/**
 * Whether an address of ours already in place needs `ip addr replace`: when it should be held
 * forever and has a lifetime, when it should have a lifetime and is permanent (or holds a longer
 * one than configured), and when a refresh interval has passed since it was last set. The kernel
 * counts the remaining lifetime in whole seconds and the syncs drift a little from the timer, so
 * the last is "remaining ≤ lifetime − refresh + 1": renewed at each refresh tick, not every other.
 */
export function needsRenewal(remaining: number | undefined, forever: boolean, lifetimeSeconds: number, refreshSeconds: number): boolean {
  if (forever) return remaining !== undefined;
  if (remaining === undefined || remaining > lifetimeSeconds) return true;
  return remaining <= lifetimeSeconds - refreshSeconds + 1;
}

const key = (p: Placement) => `${p.ip}@${p.iface}`;

export class LinkAddresses {
  readonly #exec: Exec;
  readonly #nodeName: string;
  readonly #stateDir: string;
  readonly #statePath: string;
  readonly #lifetime: number;
  readonly #refresh: number;
  readonly #log: (m: string) => void;
  #owned: Placement[] = [];
  /** Addresses this process has sent a gratuitous ARP for (empty at start, so a restart announces again). */
  readonly #announced = new Set<string>();
  #arpingMissing = false;
  /** Gratuitous ARPs go out one at a time off the sync path: a slow arping never delays a renewal. */
  #arps: Promise<void> = Promise.resolve();
  #lastSkipped = '';

  constructor(opts: LinkAddressesOptions) {
    if (!Number.isInteger(opts.lifetimeSeconds) || opts.lifetimeSeconds < 1) throw new Error(`l2 announcer: address lifetime must be a whole number of seconds ≥ 1, not ${opts.lifetimeSeconds}`);
    this.#exec = opts.exec;
    this.#nodeName = opts.nodeName;
    this.#stateDir = opts.stateDir;
    this.#statePath = join(opts.stateDir, STATE_FILE);
    this.#lifetime = opts.lifetimeSeconds;
    this.#refresh = opts.refreshSeconds ?? opts.lifetimeSeconds / 3;
    this.#log = opts.log;
  }

  /** Reads what an earlier run added (an unreadable state file counts as nothing, and is logged). */
  async load(): Promise<void> {
    this.#owned = await this.#readState();
  }

  /** The addresses this node holds now, sorted. */
  owned(): readonly Placement[] {
    return this.#owned;
  }

  /** Resolves when the gratuitous ARPs sent so far are done. */
  arpsSent(): Promise<void> {
    return this.#arps;
  }

  /**
   * Makes the links hold exactly `desired` (ip → interfaces allowed, [] = any) among the addresses
   * we add: adds, renews when due and removes, queues a gratuitous ARP for each address added or
   * not yet announced by this process, saves the state file. Addresses in `forever` are held
   * without a lifetime. Goes on past a failed command and throws all failures at the end.
   */
  async apply(desired: ReadonlyMap<string, readonly string[]>, forever: ReadonlySet<string> = new Set()): Promise<void> {
    const listed = await tryCommand(this.#exec, ['ip', '-j', 'addr', 'show']);
    if (listed.code !== 0) throw new Error(`ip -j addr show: exit ${listed.code}: ${listed.stderr.trim()}${listed.code === 127 ? ' (apt-get install -y iproute2)' : ''}`);
    const links = parseIpAddrJson(listed.stdout);
    const plan = planLinks(desired, links, this.#owned);
    const lifetime = (p: Placement) => (forever.has(p.ip) ? 'forever' as const : this.#lifetime);
    const skipped = plan.skipped.map((s) => `${s.ip}: ${s.reason}`).join('; ');
    if (skipped && skipped !== this.#lastSkipped) this.#log(`l2 announcer: not announcing ${skipped}`);
    this.#lastSkipped = skipped;
    const errors: string[] = [];
    let owned = [...this.#owned];
    for (const p of plan.remove) {
      const res = await tryCommand(this.#exec, ['ip', 'addr', 'del', `${p.ip}/${hostBits(p.ip)}`, 'dev', p.iface]);
      // Gone already (expired, or someone else removed it) is as good as removed.
      if (res.code !== 0 && !/Cannot assign requested address|No such device/.test(res.stderr)) errors.push(`remove ${p.ip} from ${p.iface}: ${res.stderr.trim()}`);
      else this.#log(`l2 announcer: released ${p.ip} from ${p.iface}`);
      owned = owned.filter((o) => !(o.ip === p.ip && o.iface === p.iface));
      this.#announced.delete(key(p));
    }
    for (const p of plan.keep) {
      const remaining = links.find((l) => l.name === p.iface)?.addresses.find((a) => a.ip === p.ip)?.validLifetime;
      if (needsRenewal(remaining, forever.has(p.ip), this.#lifetime, this.#refresh)) {
        // A failed renewal leaves the address ours (it is still on the link) until it expires.
        const res = await tryCommand(this.#exec, addressArgv(p, lifetime(p)));
        if (res.code !== 0) { errors.push(`renew ${p.ip} on ${p.iface}: ${res.stderr.trim()}`); continue; }
      }
      // Kept from before a restart: MetalLB announces on every new announcement, restarts
      // included, so a neighbour still pointing at another node is corrected.
      if (!this.#announced.has(key(p))) this.#announce(p, ' (already on the link)');
    }
    for (const p of plan.add) {
      const res = await tryCommand(this.#exec, addressArgv(p, lifetime(p)));
      if (res.code !== 0) {
        errors.push(`add ${p.ip} to ${p.iface}: ${res.stderr.trim()}`);
        continue;
      }
      owned = [...owned.filter((o) => o.ip !== p.ip), p];
      // Saved before the announcement: an address on the link is never one we forgot we added.
      await this.#writeState(owned);
      this.#announce(p, '');
    }
    this.#owned = owned.sort((a, b) => a.ip.localeCompare(b.ip));
    await this.#writeState(this.#owned);
    if (errors.length) throw new Error(errors.join('; '));
  }

  #announce(p: Placement, why: string): void {
    this.#log(`l2 announcer: announcing ${p.ip} on ${p.iface}${why}`);
    this.#announced.add(key(p));
    if (parseIp(p.ip)?.family !== 6) this.#arps = this.#arps.then(() => this.#gratuitousArp(p)).catch((err: unknown) => this.#log(`l2 announcer: arping ${p.ip}: ${String(err)}`));
  }

  // Sent so switches and neighbours learn the owner at once instead of when their cache entry
  // for the previous one expires.
  async #gratuitousArp(p: Placement): Promise<void> {
    if (this.#arpingMissing) return;
    const res = await tryCommand(this.#exec, gratuitousArpArgv(p));
    if (res.code === 127 || /No such file|not found|ENOENT/.test(res.stderr)) {
      this.#arpingMissing = true;
      this.#log('l2 announcer: arping not found, no gratuitous ARP will be sent (apt-get install -y iputils-arping)');
    } else if (res.code !== 0 && res.code !== 1) {
      // iputils arping -U exits 1 when no reply came, which an unsolicited ARP never gets.
      this.#log(`l2 announcer: arping ${p.ip} on ${p.iface}: exit ${res.code}: ${res.stderr.trim()}`);
    }
  }

  async #readState(): Promise<Placement[]> {
    try {
      const s = JSON.parse(await readFile(this.#statePath, 'utf8')) as { addresses?: Placement[] };
      return (s.addresses ?? []).filter((p) => typeof p.ip === 'string' && typeof p.iface === 'string' && parseIp(p.ip));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.#log(`l2 announcer: ignoring unreadable ${this.#statePath}: ${String(err)}`);
      return [];
    }
  }

  async #writeState(owned: readonly Placement[]): Promise<void> {
    await mkdir(this.#stateDir, { recursive: true });
    const tmp = `${this.#statePath}.tmp`;
    await writeFile(tmp, `${JSON.stringify({ node: this.#nodeName, addresses: owned }, null, 2)}\n`);
    await rename(tmp, this.#statePath);
  }
}

function hostBits(ip: string): number {
  return parseIp(ip)?.family === 6 ? 128 : 32;
}
