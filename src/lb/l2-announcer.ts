// The node side of LoadBalancer addresses, as MetalLB's speaker in layer-2 mode: the node elected
// for an address (announce.ts) puts it on its link as a /32 so the kernel answers ARP for it, sends
// a gratuitous ARP when it takes the address over (so neighbours forget the previous owner), and
// takes it away when the Service goes or another node wins it. What it added is kept in a state
// file so a restart removes leftovers, and never an address it did not add.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Service } from 'kubernetes-types/core/v1.d.ts';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.d.ts';
import type { Node } from 'kubernetes-types/core/v1.d.ts';
import { resources } from '../api/resources.ts';
import { Informer, stripReadOnly } from '../client/informer.ts';
import type { KubeClient } from '../client/rest-client.ts';
import { WorkQueue } from '../client/work-queue.ts';
import { type Exec, inNetns, runCommand, tryCommand } from '../util/exec.ts';
import { desiredAddresses } from './announce.ts';
import { parseIp } from '../api/net/ip.ts';
import { planLinks, type Link, type Placement } from './link-plan.ts';
import { l2FromObject, readPools } from '../api/net/metallb-pools.ts';

const r = (name: string) => resources.find((x) => x.resource === name)!;

/** Runs commands inside a named network namespace (`/run/netns/NAME`), for nodes living in one. */
export function netnsExec(netns: string): Exec {
  return inNetns(runCommand, netns);
}

export interface L2AnnouncerOptions {
  client: KubeClient;
  nodeName: string;
  /** Where the list of addresses we added is kept (the node's data dir). */
  stateDir: string;
  exec?: Exec;
  log?: (m: string) => void;
  /** Take our addresses away on stop (default true: a stopped node must not keep answering ARP). */
  releaseOnStop?: boolean;
}

const STATE_FILE = 'l2-announced.json';

/** `ip -j addr show` → links with their addresses. */
export function parseIpAddrJson(text: string): Link[] {
  const raw = JSON.parse(text || '[]') as { ifname?: string; addr_info?: { local?: string; prefixlen?: number }[] }[];
  return raw.filter((l) => l.ifname).map((l) => ({
    name: l.ifname!,
    addresses: (l.addr_info ?? []).filter((a) => a.local).map((a) => ({ ip: a.local!, prefixLen: a.prefixlen ?? 32 })),
  }));
}

export class L2Announcer {
  readonly #nodeName: string;
  readonly #statePath: string;
  readonly #stateDir: string;
  readonly #exec: Exec;
  readonly #log: (m: string) => void;
  readonly #releaseOnStop: boolean;
  readonly #services: Informer;
  readonly #pools: Informer;
  readonly #l2s: Informer;
  readonly #nodes: Informer;
  readonly #slices: Informer;
  readonly #queue: WorkQueue;
  #owned: Placement[] = [];
  #ready = false;
  #arpingMissing = false;
  #lastSkipped = '';

  constructor(opts: L2AnnouncerOptions) {
    this.#nodeName = opts.nodeName;
    this.#stateDir = opts.stateDir;
    this.#statePath = join(opts.stateDir, STATE_FILE);
    this.#exec = opts.exec ?? runCommand;
    this.#log = opts.log ?? (() => {});
    this.#releaseOnStop = opts.releaseOnStop ?? true;
    const informer = (resource: string) => new Informer({ client: opts.client, resource: r(resource), transform: stripReadOnly, onError: (e) => this.#log(`l2 announcer ${resource}: ${String(e)}`) });
    this.#services = informer('services');
    this.#pools = informer('ipaddresspools');
    this.#l2s = informer('l2advertisements');
    this.#nodes = informer('nodes');
    this.#slices = informer('endpointslices');
    // Every change recomputes the whole node's addresses: one key, bursts coalesce.
    this.#queue = new WorkQueue({ process: () => this.#sync(), workers: 1, baseDelayMs: 200, maxDelayMs: 10_000, onError: (_k, e) => this.#log(`l2 announcer: ${String(e)}`) });
    const dirty = () => { if (this.#ready) this.#queue.add('sync'); };
    for (const i of this.#informers()) i.addHandlers({ onAdd: dirty, onUpdate: dirty, onDelete: dirty });
  }

  async start(): Promise<void> {
    this.#owned = await this.#readState();
    for (const i of this.#informers()) i.start();
    await Promise.all(this.#informers().map((i) => i.waitForSync()));
    this.#ready = true;
    this.#queue.add('sync');
    await this.#queue.idle();
  }

  async stop(): Promise<void> {
    this.#ready = false;
    this.#queue.stop();
    await this.#queue.idle();
    await Promise.all(this.#informers().map((i) => i.stop()));
    if (this.#releaseOnStop) await this.#apply(new Map());
  }

  /** Resolves when the last change has been applied (tests). */
  idle(): Promise<void> {
    return this.#queue.idle();
  }

  /** The addresses this node holds now, sorted. */
  owned(): readonly Placement[] {
    return this.#owned;
  }

  #informers(): Informer[] {
    return [this.#services, this.#pools, this.#l2s, this.#nodes, this.#slices];
  }

  async #sync(): Promise<void> {
    const { pools, errors } = readPools(this.#pools.list());
    if (errors.length) this.#log(`l2 announcer: ${errors.join('; ')}`);
    const world = {
      pools,
      l2s: this.#l2s.list().map(l2FromObject).sort((a, b) => a.name.localeCompare(b.name)),
      nodes: this.#nodes.list() as unknown as Node[],
      slices: this.#slices.list() as unknown as EndpointSlice[],
    };
    const services = (this.#services.list() as unknown as Service[])
      .sort((a, b) => `${a.metadata?.namespace}/${a.metadata?.name}`.localeCompare(`${b.metadata?.namespace}/${b.metadata?.name}`));
    await this.#apply(desiredAddresses(this.#nodeName, services, world));
  }

  /** The only I/O: list links, add and remove addresses, announce, save what we hold. */
  async #apply(desired: ReadonlyMap<string, readonly string[]>): Promise<void> {
    const listed = await tryCommand(this.#exec, ['ip', '-j', 'addr', 'show']);
    if (listed.code !== 0) throw new Error(`ip -j addr show: exit ${listed.code}: ${listed.stderr.trim()}${listed.code === 127 ? ' (apt-get install -y iproute2)' : ''}`);
    const plan = planLinks(desired, parseIpAddrJson(listed.stdout), this.#owned);
    const skipped = plan.skipped.map((s) => `${s.ip}: ${s.reason}`).join('; ');
    if (skipped && skipped !== this.#lastSkipped) this.#log(`l2 announcer: not announcing ${skipped}`);
    this.#lastSkipped = skipped;
    const errors: string[] = [];
    let owned = [...this.#owned];
    for (const p of plan.remove) {
      const res = await tryCommand(this.#exec, ['ip', 'addr', 'del', `${p.ip}/${hostBits(p.ip)}`, 'dev', p.iface]);
      // Gone already (someone else removed it) is as good as removed.
      if (res.code !== 0 && !/Cannot assign requested address|No such device/.test(res.stderr)) errors.push(`remove ${p.ip} from ${p.iface}: ${res.stderr.trim()}`);
      else this.#log(`l2 announcer: released ${p.ip} from ${p.iface}`);
      owned = owned.filter((o) => !(o.ip === p.ip && o.iface === p.iface));
    }
    for (const p of plan.add) {
      const v6 = parseIp(p.ip)?.family === 6;
      // nodad: an IPv6 address must answer at once, not after duplicate address detection.
      const res = await tryCommand(this.#exec, ['ip', 'addr', 'add', `${p.ip}/${hostBits(p.ip)}`, 'dev', p.iface, ...(v6 ? ['nodad'] : [])]);
      if (res.code !== 0 && !/File exists/.test(res.stderr)) {
        errors.push(`add ${p.ip} to ${p.iface}: ${res.stderr.trim()}`);
        continue;
      }
      owned = [...owned.filter((o) => o.ip !== p.ip), p];
      // Saved before the announcement: an address on the link is never one we forgot we added.
      await this.#writeState(owned);
      this.#log(`l2 announcer: announcing ${p.ip} on ${p.iface}`);
      if (!v6) await this.#gratuitousArp(p);
    }
    this.#owned = owned.sort((a, b) => a.ip.localeCompare(b.ip));
    await this.#writeState(this.#owned);
    if (errors.length) throw new Error(errors.join('; '));
  }

  // Unsolicited ARP (sender = target = the address) so switches and neighbours learn the new
  // owner at once instead of when their cache entry for the old one expires.
  async #gratuitousArp(p: Placement): Promise<void> {
    if (this.#arpingMissing) return;
    const res = await tryCommand(this.#exec, ['arping', '-U', '-c', '1', '-I', p.iface, p.ip]);
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
