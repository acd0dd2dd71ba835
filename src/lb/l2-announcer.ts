// The node side of LoadBalancer addresses, as MetalLB's speaker in layer-2 mode: the node elected
// for an address (announce.ts) puts it on its link as a /32 so the kernel answers ARP for it, sends
// a gratuitous ARP when it takes the address over or starts with it (so neighbours forget the
// previous owner), and takes it away when the Service goes or another node wins it. What it added
// is kept in a state file so a restart removes leftovers, and never an address it did not add.
// The addresses carry a lifetime renewed only while this announcer works (link-addresses.ts), so
// a killed agent stops answering ARP by itself; except those no other node could take over, held
// forever. Every command runs under a kill timeout (command-timeout.ts): the sync loop that renews
// must never wait on a hung one.
import type { Service } from 'kubernetes-types/core/v1.d.ts';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.d.ts';
import type { Node } from 'kubernetes-types/core/v1.d.ts';
import { resources } from '../api/resources.ts';
import { Informer, stripReadOnly } from '../client/informer.ts';
import type { KubeClient } from '../client/rest-client.ts';
import { WorkQueue } from '../client/work-queue.ts';
import { type Exec, inNetns, runCommand } from '../util/exec.ts';
import { announcements } from './announce.ts';
import { withCommandTimeout } from './command-timeout.ts';
import type { Placement } from './link-plan.ts';
import { LinkAddresses } from './link-addresses.ts';
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
  /**
   * Seconds an address stays on the link unless renewed (default 30). A killed or wedged agent's
   * addresses are gone within this; keep it below the node monitor grace period (50 s), after
   * which another node takes them.
   */
  addressLifetimeSeconds?: number;
  /** How often the addresses are renewed (default a third of the lifetime, so two renewals may fail). */
  refreshIntervalMs?: number;
  /** Each `ip` and `arping` is killed after this long (default 5000). */
  commandTimeoutMs?: number;
}

export { parseIpAddrJson } from './link-addresses.ts';

export class L2Announcer {
  readonly #nodeName: string;
  readonly #links: LinkAddresses;
  readonly #log: (m: string) => void;
  readonly #releaseOnStop: boolean;
  readonly #refreshMs: number;
  readonly #services: Informer;
  readonly #pools: Informer;
  readonly #l2s: Informer;
  readonly #nodes: Informer;
  readonly #slices: Informer;
  readonly #queue: WorkQueue;
  #ready = false;
  #refreshTimer: NodeJS.Timeout | undefined;

  constructor(opts: L2AnnouncerOptions) {
    this.#nodeName = opts.nodeName;
    this.#log = opts.log ?? (() => {});
    this.#releaseOnStop = opts.releaseOnStop ?? true;
    const lifetimeSeconds = opts.addressLifetimeSeconds ?? 30;
    this.#refreshMs = opts.refreshIntervalMs ?? Math.round((lifetimeSeconds * 1000) / 3);
    if (!(this.#refreshMs > 0 && this.#refreshMs < lifetimeSeconds * 1000)) throw new Error(`l2 announcer: refresh interval ${this.#refreshMs} ms must be shorter than the address lifetime (${lifetimeSeconds} s)`);
    const exec = withCommandTimeout(opts.exec ?? runCommand, { timeoutMs: opts.commandTimeoutMs ?? 5000 });
    this.#links = new LinkAddresses({ exec, nodeName: opts.nodeName, stateDir: opts.stateDir, lifetimeSeconds, refreshSeconds: this.#refreshMs / 1000, log: this.#log });
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
    await this.#links.load();
    for (const i of this.#informers()) i.start();
    await Promise.all(this.#informers().map((i) => i.waitForSync()));
    this.#ready = true;
    this.#queue.add('sync');
    // Renewal is a sync like any other, through the one queue: only an announcer whose caches
    // synced and whose sync loop still turns keeps its addresses alive.
    this.#refreshTimer = setInterval(() => { if (this.#ready) this.#queue.add('sync'); }, this.#refreshMs);
    this.#refreshTimer.unref();
    await this.#queue.idle();
  }

  async stop(): Promise<void> {
    this.#ready = false;
    clearInterval(this.#refreshTimer);
    this.#queue.stop();
    await this.#queue.idle();
    await Promise.all(this.#informers().map((i) => i.stop()));
    if (this.#releaseOnStop) await this.#links.apply(new Map());
    await this.#links.arpsSent();
  }

  /** Resolves when the last change has been applied (tests). */
  idle(): Promise<void> {
    return this.#queue.idle();
  }

  /** The addresses this node holds now, sorted. */
  owned(): readonly Placement[] {
    return this.#links.owned();
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
    const { addresses, sole } = announcements(this.#nodeName, services, world);
    await this.#links.apply(addresses, sole);
  }
}
