// podgate's kube-proxy: Services and EndpointSlices from the Kubernetes API (informers only, so it
// runs against any cluster) → a pure Ruleset → one nft transaction per sync: full syncs through
// `nft -f`, incremental ones through a long-running `nft -i` (nft-session.ts; `nft -f` when it fails).
//
// Change tracking follows kube-proxy's servicechangetracker: events only mark Service keys dirty;
// one sync at a time (a single-key work queue coalesces bursts and re-runs when dirtied during a
// sync); a sync recomputes only the dirty Services' fragments and sends the difference. The first
// sync, and every sync after a failure, replaces the whole table (needFullSync).
import type { Service } from 'kubernetes-types/core/v1.d.ts';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.d.ts';
import type { KObject } from '../api/object.ts';
import { resources, type ResourceInfo } from '../api/resources.ts';
import { Informer, objectKey, stripReadOnly } from '../client/informer.ts';
import type { KubeClient } from '../client/rest-client.ts';
import { WorkQueue } from '../client/work-queue.ts';
import { staleConntrackCommands } from './conntrack.ts';
import { CommandError, type Exec, runCommand } from '../util/exec.ts';
import { computeHealthChecks, HealthCheckServers } from './health-check.ts';
import { NftSession, NftSessionUnavailableError } from './nft-session.ts';
import { NeedsFullSyncError, renderDelete, renderDiff, renderNft } from './render-nft.ts';
import {
  type ProxyNode, type Ruleset, type RulesetOptions, type ServiceUpdate,
  computeRuleset, computeServiceFragment, serviceKey, updateRuleset,
} from './ruleset.ts';
import { SERVICE_NAME_LABEL, servicePortsOf } from './service-ports.ts';

export interface ServiceProxyOptions {
  readonly client: KubeClient;
  readonly nodeName: string;
  readonly nodeAddresses: readonly string[];
  /** `--nodeport-addresses` CIDRs; default: the node's addresses. */
  readonly nodePortAddresses?: readonly string[];
  /** The pod range (kube-proxy --cluster-cidr): cluster-IP traffic from outside it is masqueraded. */
  readonly clusterCIDR?: string;
  /**
   * The Service range(s) (--service-cluster-ip-range): traffic to an address in them that no
   * Service holds is dropped at once. Default: none known (such traffic is routed as usual).
   */
  readonly serviceCIDRs?: readonly string[];
  /** Leave SCTP ports out (a kernel without SCTP conntrack). Default: SCTP is programmed. */
  readonly sctp?: boolean;
  /** Runs nft and conntrack; wrap with inNetns for a node in a named network namespace. */
  readonly exec?: Exec;
  /** Where healthCheckNodePort servers listen (in this process's network namespace); null: none. Default 0.0.0.0. */
  readonly healthCheckBindAddress?: string | null;
  /**
   * A long-running `nft -i` for incremental syncs (full syncs use `nft -f`); when it dies or
   * stalls, that sync falls back to `nft -f`. Default: one running `nft -i` when `exec` is the
   * default, none (every sync through `exec`) when `exec` is given; false: none.
   */
  readonly nftSession?: NftSession | false;
  readonly log?: (msg: string) => void;
}

export interface SyncStats {
  readonly full: boolean;
  /** Services recomputed (all of them on a full sync). */
  readonly services: number;
  /** Lines of the nft script sent; 0 when nothing changed. */
  readonly scriptLines: number;
  readonly computeMs: number;
  readonly applyMs: number;
}

const SYNC_KEY = 'sync';
const resource = (plural: string, group: string): ResourceInfo => {
  const r = resources.find((x) => x.resource === plural && x.group === group);
  if (!r) throw new Error(`resource ${group}/${plural} is not known`);
  return r;
};

export class ServiceProxy {
  readonly #exec: Exec;
  readonly #log: (msg: string) => void;
  readonly #node: ProxyNode;
  readonly #rulesetOptions: RulesetOptions;
  readonly #services: Informer;
  readonly #slices: Informer;
  /** Service key → slice key → slice: the informer cache indexed by owning Service. */
  readonly #slicesByService = new Map<string, Map<string, EndpointSlice>>();
  readonly #queue: WorkQueue;
  readonly #health: HealthCheckServers | undefined;
  readonly #session: NftSession | undefined;
  #dirty = new Set<string>();
  #needFullSync = true;
  #applied: Ruleset | undefined;
  #started = false;
  #stopped = false;
  #conntrackMissingLogged = false;
  #scheduled = false;
  #lastSync: SyncStats | undefined;
  #syncWaiters: (() => void)[] = [];

  constructor(opts: ServiceProxyOptions) {
    this.#exec = opts.exec ?? runCommand;
    this.#session = opts.nftSession === false ? undefined : opts.nftSession ?? (opts.exec ? undefined : new NftSession());
    this.#log = opts.log ?? (() => {});
    this.#node = { name: opts.nodeName, addresses: opts.nodeAddresses, ...(opts.nodePortAddresses ? { nodePortAddresses: opts.nodePortAddresses } : {}) };
    this.#rulesetOptions = {
      ...(opts.clusterCIDR ? { clusterCIDR: opts.clusterCIDR } : {}),
      ...(opts.sctp === false ? { sctp: false } : {}),
      ...(opts.serviceCIDRs?.length ? { serviceCIDRs: opts.serviceCIDRs } : {}),
    };
    const onError = (what: string) => (err: unknown) => this.#log(`${what}: ${(err as Error).message}`);
    this.#services = new Informer({ client: opts.client, resource: resource('services', ''), transform: stripReadOnly, onError: onError('services watch') });
    this.#slices = new Informer({ client: opts.client, resource: resource('endpointslices', 'discovery.k8s.io'), transform: stripReadOnly, onError: onError('endpointslices watch') });
    this.#services.addHandlers({
      onAdd: (o) => this.#markDirty(objectKey(o)),
      onUpdate: (o) => this.#markDirty(objectKey(o)),
      onDelete: (o) => this.#markDirty(objectKey(o)),
    });
    this.#slices.addHandlers({
      onAdd: (o) => this.#indexSlice(o, undefined),
      onUpdate: (o, old) => this.#indexSlice(o, old),
      onDelete: (o) => this.#indexSlice(undefined, o),
    });
    this.#queue = new WorkQueue({
      process: () => this.#sync(),
      baseDelayMs: 100,
      maxDelayMs: 10_000,
      onError: (_k, err) => this.#log(`sync failed, next sync rebuilds the table: ${(err as Error).message}`),
    });
    this.#health = opts.healthCheckBindAddress === null ? undefined : new HealthCheckServers({ bindAddress: opts.healthCheckBindAddress ?? '0.0.0.0', log: this.#log });
  }

  /** Starts watching; resolves after both caches synced and the first (full) sync was applied. Rejects if that sync fails (it is retried in the background). */
  async start(): Promise<void> {
    if (this.#started) throw new Error('ServiceProxy already started');
    this.#started = true;
    this.#services.start();
    this.#slices.start();
    // "To avoid updating nftables with some partial data after restart" (kube-proxy): nothing
    // is programmed before both caches are complete.
    await Promise.all([this.#services.waitForSync(), this.#slices.waitForSync()]);
    await this.#runSync();
    // Events that arrived during the first sync.
    if (this.#dirty.size) this.#queue.add(SYNC_KEY);
  }

  /**
   * Stops watching and removes the proxy's table (established connections keep their conntrack
   * NAT). `keepTable` leaves the rules in the kernel for a successor (a restart), which replaces
   * them atomically on its first sync.
   */
  async stop(opts: { keepTable?: boolean } = {}): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#queue.stop();
    await Promise.all([this.#services.stop(), this.#slices.stop()]);
    await this.#queue.idle();
    await this.#health?.close();
    this.#session?.close();
    if (this.#applied && !opts.keepTable) {
      try {
        await this.#exec(['nft', '-f', '-'], { input: renderDelete() });
      } catch (err) {
        this.#log(`removing table: ${(err as Error).message}`);
      }
    }
    this.#applied = undefined;
  }

  /** The ruleset the kernel holds (after the last successful sync). */
  get applied(): Ruleset | undefined {
    return this.#applied;
  }

  get lastSync(): SyncStats | undefined {
    return this.#lastSync;
  }

  /** Resolves after the next sync that starts after this call has finished (tests; "programmed by now"). */
  async synced(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.#syncWaiters.push(resolve);
      this.#queue.add(SYNC_KEY);
    });
  }

  #markDirty(key: string): void {
    this.#dirty.add(key);
    if (!this.#started || !this.#applied || this.#scheduled) return;
    // The queue starts a sync synchronously; deferring lets the handler finish (a slice update is
    // a removal then an addition) and coalesces every event of this tick into one sync.
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.#queue.add(SYNC_KEY);
    });
  }

  #indexSlice(cur: KObject | undefined, old: KObject | undefined): void {
    const owner = (o: KObject) => {
      const name = o.metadata.labels?.[SERVICE_NAME_LABEL];
      return name ? `${o.metadata.namespace ?? 'default'}/${name}` : undefined;
    };
    if (old) {
      const k = owner(old);
      const m = k ? this.#slicesByService.get(k) : undefined;
      if (k && m) {
        m.delete(objectKey(old));
        if (!m.size) this.#slicesByService.delete(k);
        this.#markDirty(k);
      }
    }
    if (cur) {
      const k = owner(cur);
      if (k) {
        let m = this.#slicesByService.get(k);
        if (!m) this.#slicesByService.set(k, (m = new Map()));
        m.set(objectKey(cur), cur as unknown as EndpointSlice);
        this.#markDirty(k);
      }
    }
  }

  async #sync(): Promise<void> {
    const waiters = this.#syncWaiters.splice(0);
    try {
      await this.#runSync();
    } finally {
      for (const w of waiters) w();
    }
  }

  async #runSync(): Promise<void> {
    if (this.#stopped) return;
    const t0 = performance.now();
    const dirty = this.#dirty;
    this.#dirty = new Set();
    const prev = this.#applied;
    let next: Ruleset;
    let script: string;
    let full = this.#needFullSync || !prev;
    if (!full && prev) {
      next = updateRuleset(prev, this.#fragmentsFor(dirty));
      try {
        script = renderDiff(prev, next);
      } catch (err) {
        if (!(err instanceof NeedsFullSyncError)) throw err;
        full = true;
      }
    }
    if (full) {
      const services = this.#services.list() as unknown as Service[];
      const slices = [...this.#slicesByService.values()].flatMap((m) => [...m.values()]);
      next = computeRuleset(services, slices, this.#node, this.#rulesetOptions);
      script = renderNft(next);
    }
    const t1 = performance.now();
    try {
      if (script! && !full && this.#session) await this.#applyIncremental(script!);
      else if (script!) await this.#exec(['nft', '-f', '-'], { input: script! });
    } catch (err) {
      this.#needFullSync = true;
      for (const k of dirty) this.#dirty.add(k);
      throw err;
    }
    this.#needFullSync = false;
    this.#applied = next!;
    const t2 = performance.now();
    this.#lastSync = { full, services: full ? next!.services.size : dirty.size, scriptLines: script! ? script!.split('\n').length - 1 : 0, computeMs: t1 - t0, applyMs: t2 - t1 };
    if (prev) await this.#clearConntrack(prev, next!);
    if (this.#health) await this.#health.update(computeHealthChecks(this.#services.list() as unknown as Service[], next!.ports));
  }

  async #applyIncremental(script: string): Promise<void> {
    try {
      await this.#session!.run(script);
    } catch (err) {
      if (!(err instanceof NftSessionUnavailableError)) throw err;
      this.#log(`${err.message}; using nft -f`);
      await this.#exec(['nft', '-f', '-'], { input: script });
    }
  }

  #fragmentsFor(keys: Iterable<string>): Map<string, ServiceUpdate> {
    const out = new Map<string, ServiceUpdate>();
    for (const key of keys) {
      const svc = this.#services.get(key) as unknown as Service | undefined;
      if (!svc) { out.set(key, undefined); continue; }
      const ports = servicePortsOf(svc, [...(this.#slicesByService.get(serviceKey(svc))?.values() ?? [])], this.#node.name, this.#rulesetOptions);
      out.set(key, ports.length ? { ports, fragment: computeServiceFragment(ports, this.#rulesetOptions, this.#node) } : undefined);
    }
    return out;
  }

  /** Best effort: a missing conntrack binary is logged once, never fatal. */
  async #clearConntrack(prev: Ruleset, next: Ruleset): Promise<void> {
    for (const argv of staleConntrackCommands(prev.ports, next.ports)) {
      try {
        await this.#exec(argv);
      } catch (err) {
        if (err instanceof CommandError && err.notFound) {
          if (!this.#conntrackMissingLogged) this.#log('conntrack is not installed (apt-get install -y conntrack): stale UDP flows to removed endpoints are not cleared');
          this.#conntrackMissingLogged = true;
          return;
        }
        // conntrack exits 1 when no entry matched: nothing to clear.
        if (err instanceof CommandError && /0 flow entries/.test(err.stderr)) continue;
        this.#log(`${argv.join(' ')}: ${(err as Error).message}`);
      }
    }
  }
}

