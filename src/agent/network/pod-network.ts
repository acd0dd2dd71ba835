// The I/O edge of a node's pod network: runs what plan.ts, ipam.ts and node-ruleset.ts decide,
// through the injected Exec. See index.ts for the contract.
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { formatCidr } from './cidr.ts';
import { type Exec, isExistsError, isNotFoundError, runCommand } from '../../util/exec.ts';
import { type NetworkState, type PodAllocation, allocate, emptyState, parseState, release, serializeState } from './ipam.ts';
import { type HostPortMapping, findHostPortConflicts, renderDeleteRuleset, renderNodeRuleset, validateHostPorts } from './node-ruleset.ts';
import {
  BRIDGE_NAME, NETNS_DIR, type NodePlan, describePlan, hostVethName, netnsMountWarning, planBridge, planNode, planPodWiring, planSysctls, podNetnsName,
} from './plan.ts';
import { writeFileAtomic } from '../../util/write-file-atomic.ts';

export interface PodNetworkOptions {
  readonly nodeName: string;
  /** The node's InternalIP; reported in logs. hostPort mappings without hostIP answer on every local address, this one included. */
  readonly nodeIP: string;
  /** This node's pod range, e.g. 10.244.0.0/24: the bridge takes the first address, pods the rest. */
  readonly podCIDR: string;
  /** The whole cluster's pod range, e.g. 10.244.0.0/16: pod traffic leaving it is masqueraded. */
  readonly clusterCIDR: string;
  /** Where the allocation file (pod-network.json) lives. */
  readonly stateDir: string;
  readonly log: (message: string) => void;
  /** Runs `ip`, `nft` and `sysctl`; defaults to the real commands. Wrap with inNetns to manage a node living in a named netns. */
  readonly exec?: Exec;
}

export interface PodRef {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
}

export interface PodAttachment {
  readonly ip: string;
  /** Name under /run/netns (for `ip netns exec` / `ip -n`). */
  readonly netns: string;
  /** Path for setns(2) / `nsenter --net=`. */
  readonly netnsPath: string;
}

export const STATE_FILE = 'pod-network.json';

export class PodNetwork {
  readonly #plan: NodePlan;
  readonly #nodeIP: string;
  readonly #statePath: string;
  readonly #stateDir: string;
  readonly #log: (m: string) => void;
  readonly #exec: Exec;
  #state: NetworkState | undefined;
  /** Serialises IPAM changes and state writes. */
  #ipamChain: Promise<unknown> = Promise.resolve();
  /** Serialises nft transactions. */
  #nftChain: Promise<unknown> = Promise.resolve();
  /** Serialises wiring per pod uid; different pods are wired concurrently. */
  readonly #podChains = new Map<string, Promise<unknown>>();
  #appliedRuleset: string | undefined;

  constructor(opts: PodNetworkOptions) {
    this.#plan = planNode(opts);
    this.#nodeIP = opts.nodeIP;
    this.#stateDir = opts.stateDir;
    this.#statePath = join(opts.stateDir, STATE_FILE);
    this.#log = opts.log;
    this.#exec = opts.exec ?? runCommand;
  }

  get gateway(): string {
    return this.#plan.gateway;
  }

  /** Creates or repairs the bridge, sysctls and nft table (re-applying the last persisted hostPorts). Idempotent; throws CommandError when a command fails. */
  async setupNode(): Promise<void> {
    await this.#ipam(async () => { await this.#load(); });
    try {
      await this.#exec(['ip', 'link', 'add', BRIDGE_NAME, 'type', 'bridge']);
    } catch (err) {
      if (!isExistsError(err)) throw err;
    }
    const current = await this.#bridgeAddresses();
    await this.#ipBatch(planBridge(this.#plan, current));
    await this.#exec(['sysctl', '-q', '-w', ...planSysctls()]);
    this.#appliedRuleset = undefined;
    await this.#applyRuleset();
    const warning = netnsMountWarning(await readFile('/proc/self/mountinfo', 'utf8').catch(() => ''));
    if (warning) this.#log(`pod network: warning: ${warning}`);
    this.#log(`pod network ready on node ${this.#plan.nodeName} (${this.#nodeIP}): ${describePlan(this.#plan)}`);
  }

  /**
   * Gives the pod its network namespace, veth pair and address. Idempotent: the same uid gets the
   * same netns and IP, and a half-wired pod is repaired. On failure the netns is removed again
   * (when this call allocated it) and the error rethrown; PoolExhaustedError when the range is full.
   */
  async addPod(pod: PodRef): Promise<PodAttachment> {
    if (!pod.uid) throw new Error('pod network: pod uid is required');
    const netns = podNetnsName(this.#plan.nodeName, pod.uid);
    const { allocation, created } = await this.#ipam(async () => {
      const state = await this.#load();
      const r = allocate(state, this.#plan, pod.uid, { netns, namespace: pod.namespace, name: pod.name });
      if (r.created) await this.#save(r.state);
      return r;
    });
    try {
      await this.#perPod(pod.uid, () => this.#wire(pod.uid, allocation));
    } catch (err) {
      if (created) {
        await this.removePod(pod.uid).catch((e: unknown) => this.#log(`pod network: cleanup after failed addPod of ${pod.namespace}/${pod.name}: ${String(e)}`));
      }
      throw err;
    }
    if (created) this.#log(`pod network: ${pod.namespace}/${pod.name} → ${allocation.ip} in netns ${netns}`);
    return { ip: allocation.ip, netns, netnsPath: `${NETNS_DIR}/${netns}` };
  }

  /** Removes the pod's veth and netns (it kills nothing: stop the pod's processes first) and frees its IP. Unknown uids are a no-op. */
  async removePod(uid: string): Promise<void> {
    await this.#perPod(uid, async () => {
      const known = await this.#ipam(async () => (await this.#load()).pods[uid]);
      await this.#unwire(uid, known?.netns ?? podNetnsName(this.#plan.nodeName, uid));
      await this.#ipam(async () => {
        const state = await this.#load();
        const next = release(state, uid);
        if (next !== state) await this.#save(next);
      });
      if (known) this.#log(`pod network: released ${known.ip} of ${known.namespace}/${known.name}`);
    });
  }

  /**
   * Replaces every hostPort mapping of the node (CNI portmap behaviour, see node-ruleset.ts) in
   * one nft transaction, and persists them. Throws on an invalid mapping before changing anything;
   * conflicting mappings are logged and the first in sort order wins.
   */
  async setHostPorts(mappings: readonly HostPortMapping[]): Promise<void> {
    const sorted = validateHostPorts(mappings);
    for (const c of findHostPortConflicts(sorted)) {
      this.#log(`pod network: hostPort ${c.hostIP || '*'}:${c.hostPort}/${c.protocol} → ${c.podIP}:${c.containerPort} ignored, the port is already mapped`);
    }
    await this.#ipam(async () => {
      const state = await this.#load();
      if (JSON.stringify(state.hostPorts) !== JSON.stringify(sorted)) await this.#save({ ...state, hostPorts: sorted });
    });
    await this.#applyRuleset();
  }

  /** Uids of the pods that have an address (as recorded in the state file), sorted. */
  async listPods(): Promise<string[]> {
    const state = await this.#ipam(() => this.#load());
    return Object.keys(state.pods).sort();
  }

  /** Names of this node's pod netns that exist now (also those the state file lost track of), sorted. */
  async listPodNetns(): Promise<string[]> {
    const { stdout } = await this.#exec(['ip', 'netns', 'list']);
    return stdout.split('\n')
      .map((l) => l.trim().split(/\s+/)[0] ?? '')
      .filter((n) => n.startsWith(this.#plan.netnsPrefix))
      .sort();
  }

  /** After a restart: removes every pod netns and allocation whose uid is not in `keepUids`; returns the netns removed. */
  async collectGarbage(keepUids: Iterable<string>): Promise<string[]> {
    const keep = new Set(keepUids);
    const state = await this.#ipam(() => this.#load());
    const keptNetns = new Set([...keep].map((uid) => podNetnsName(this.#plan.nodeName, uid)));
    const removed: string[] = [];
    for (const [uid, a] of Object.entries(state.pods).sort(([a], [b]) => a.localeCompare(b))) {
      if (keep.has(uid)) continue;
      await this.removePod(uid);
      removed.push(a.netns);
    }
    for (const netns of await this.listPodNetns()) {
      if (keptNetns.has(netns) || removed.includes(netns)) continue;
      await this.#deleteNetns(netns);
      removed.push(netns);
    }
    return removed.sort();
  }

  /** Removes every pod netns of this node, the bridge, the nft table and the state file. Idempotent. */
  async teardownNode(): Promise<void> {
    const state = await this.#ipam(() => this.#load());
    const names = new Set([...Object.values(state.pods).map((p) => p.netns), ...(await this.listPodNetns())]);
    // One `ip -force -batch` for every deletion (one process instead of two per pod); lines for
    // what is already gone fail harmlessly, so success is judged by what is left afterwards.
    const lines = [
      ...Object.keys(state.pods).sort().map((uid) => `link del dev ${hostVethName(uid)}`),
      ...[...names].sort().map((n) => `netns del ${n}`),
      `link del dev ${BRIDGE_NAME}`,
    ];
    await this.#exec(['ip', '-force', '-batch', '-'], { input: `${lines.join('\n')}\n` }).catch(() => undefined);
    const left = await this.listPodNetns();
    if (left.length) throw new Error(`pod network: teardown left network namespaces behind: ${left.join(', ')}`);
    await this.#enqueueNft(() => this.#exec(['nft', '-f', '-'], { input: renderDeleteRuleset() }));
    this.#appliedRuleset = undefined;
    await this.#ipam(async () => {
      await rm(this.#statePath, { force: true });
      this.#state = emptyState(formatCidr(this.#plan.podCIDR));
    });
    this.#log(`pod network of node ${this.#plan.nodeName} torn down`);
  }

  async #wire(uid: string, a: PodAllocation): Promise<void> {
    const veth = hostVethName(uid);
    const plan = planPodWiring(this.#plan, { netns: a.netns, veth, ip: a.ip });
    try {
      await this.#exec(['ip', 'netns', 'add', a.netns]);
    } catch (err) {
      if (!isExistsError(err)) throw err;
    }
    try {
      await this.#exec(plan.createVeth);
    } catch (err) {
      if (!isExistsError(err)) throw err;
    }
    await this.#ipBatch(plan.node);
    await this.#ipBatch(plan.pod, a.netns);
  }

  async #unwire(uid: string, netns: string): Promise<void> {
    // Deleting the host side first disconnects the pod even if a straggling process keeps the
    // namespace alive after its name is gone.
    await this.#deleteLink(hostVethName(uid));
    await this.#deleteNetns(netns);
  }

  async #deleteLink(name: string): Promise<void> {
    try {
      await this.#exec(['ip', 'link', 'del', 'dev', name]);
    } catch (err) {
      if (!isNotFoundError(err)) throw err;
    }
  }

  async #deleteNetns(name: string): Promise<void> {
    try {
      await this.#exec(['ip', 'netns', 'del', name]);
    } catch (err) {
      if (!isNotFoundError(err)) throw err;
    }
  }

  async #bridgeAddresses(): Promise<string[]> {
    const { stdout } = await this.#exec(['ip', '-j', '-4', 'address', 'show', 'dev', BRIDGE_NAME]);
    const links = JSON.parse(stdout || '[]') as { addr_info?: { local?: string; prefixlen?: number }[] }[];
    return links.flatMap((l) => (l.addr_info ?? []).map((i) => `${i.local}/${i.prefixlen}`));
  }

  async #ipBatch(lines: readonly string[], netns?: string): Promise<void> {
    if (lines.length === 0) return;
    await this.#exec(['ip', ...(netns ? ['-n', netns] : []), '-batch', '-'], { input: `${lines.join('\n')}\n` });
  }

  /** Renders the table from the current state and applies it unless it is what was applied last. */
  async #applyRuleset(): Promise<void> {
    await this.#enqueueNft(async () => {
      const state = await this.#ipam(() => this.#load());
      const script = renderNodeRuleset(this.#plan, state.hostPorts);
      if (script === this.#appliedRuleset) return;
      await this.#exec(['nft', '-f', '-'], { input: script });
      this.#appliedRuleset = script;
    });
  }

  #enqueueNft<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#nftChain.then(fn, fn);
    this.#nftChain = run.catch(() => undefined);
    return run;
  }

  #ipam<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#ipamChain.then(fn, fn);
    this.#ipamChain = run.catch(() => undefined);
    return run;
  }

  async #perPod<T>(uid: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#podChains.get(uid) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.#podChains.set(uid, tail);
    try {
      return await run;
    } finally {
      if (this.#podChains.get(uid) === tail) this.#podChains.delete(uid);
    }
  }

  /** Loads the state file once (call inside #ipam). A missing file is an empty state; an unreadable one is logged and replaced. */
  async #load(): Promise<NetworkState> {
    if (this.#state) return this.#state;
    let text: string | undefined;
    try {
      text = await readFile(this.#statePath, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    let state = emptyState(formatCidr(this.#plan.podCIDR));
    if (text !== undefined) {
      try {
        const parsed = parseState(text, this.#plan);
        state = parsed.state;
        if (parsed.dropped.length) this.#log(`pod network: dropped allocations that do not fit podCIDR ${state.podCIDR}: ${parsed.dropped.join(', ')}`);
      } catch (err) {
        this.#log(`pod network: ignoring unreadable ${this.#statePath}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    this.#state = state;
    return state;
  }

  async #save(state: NetworkState): Promise<void> {
    await mkdir(this.#stateDir, { recursive: true });
    await writeFileAtomic(this.#statePath, serializeState(state), 0o600);
    this.#state = state;
  }
}
