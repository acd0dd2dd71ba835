// The node lifecycle controller (kube's pkg/controller/nodelifecycle): watches the nodes' heartbeats
// and, when one stops, sets the node's Ready condition Unknown, taints the node (NoSchedule for the
// scheduler, NoExecute as TaintBasedEvictions does) and marks its pods not ready so Services stop
// sending them traffic. The taints go again when the node is Ready.
//
// Evicting pods once their toleration of the NoExecute taints runs out (300 s from the
// DefaultTolerationSeconds defaults) is the taint eviction controller's (src/controllers/tainteviction),
// as in kube. Not here: the rate limit on NoExecute tainting (--node-eviction-rate).
import type { Node, Pod, Taint } from 'kubernetes-types/core/v1.d.ts';
import { StatusError } from '../../api/errors.ts';
import type { KObject } from '../../api/object.ts';
import { resources } from '../../api/resources.ts';
import { EventRecorder } from '../../client/event-recorder.ts';
import { Informer, objectKey } from '../../client/informer.ts';
import type { KubeClient } from '../../client/rest-client.ts';
import { WorkQueue } from '../../client/work-queue.ts';
import {
  computeZoneState, DEFAULT_GRACE_PERIOD_MS, DEFAULT_MONITOR_PERIOD_MS, DEFAULT_STARTUP_GRACE_PERIOD_MS, excludedFromDisruption,
  markPodNotReady, noExecuteTaintingPass, noScheduleTaintingPass, type NodeHealth, tryUpdateNodeHealth, zoneKey, type ZoneState,
} from './health.ts';

const nodesInfo = resources.find((r) => r.resource === 'nodes')!;
const podsInfo = resources.find((r) => r.resource === 'pods')!;

/** How often a write that lost a race is recomputed from a fresh read (kube's NodeHealthUpdateRetry). */
const UPDATE_RETRIES = 5;

export interface NodeLifecycleControllerOptions {
  client: KubeClient;
  /** Where Events go; by default a recorder reporting as `node-controller`, as kube's does. */
  events?: EventRecorder;
  /** --node-monitor-grace-period: how long a node may go without a heartbeat before it is Unknown (default 50 s). */
  gracePeriodMs?: number;
  /** --node-startup-grace-period: the same for a node that never posted a Ready condition (default 60 s). */
  startupGracePeriodMs?: number;
  /** --node-monitor-period: how often the heartbeats are checked (default 5 s). */
  monitorPeriodMs?: number;
  now?: () => Date;
  log?: (m: string) => void;
}

function isConflict(err: unknown): boolean {
  return err instanceof StatusError && err.code === 409;
}

function isNotFound(err: unknown): boolean {
  return err instanceof StatusError && err.code === 404;
}

/** The ObjectReference kube's RecordNodeEvent builds: kind Node, name and uid (the event lands in "default"). */
function nodeRef(node: Node): KObject {
  return { apiVersion: 'v1', kind: 'Node', metadata: { name: node.metadata!.name!, uid: node.metadata?.uid } } as KObject;
}

export class NodeLifecycleController {
  readonly #client: KubeClient;
  readonly #events: EventRecorder;
  readonly #log: (m: string) => void;
  readonly #now: () => Date;
  readonly #gracePeriodMs: number;
  readonly #startupGracePeriodMs: number;
  readonly #monitorPeriodMs: number;
  readonly #nodes: Informer;
  readonly #pods: Informer;
  /** Keys `node/NAME` (the NoSchedule tainting pass) and `pod/NS/NAME` (a pod newly bound to a node). */
  readonly #queue: WorkQueue;
  readonly #health = new Map<string, NodeHealth>();
  readonly #known = new Map<string, Node>();
  /** Nodes whose pods could not all be marked not ready: tried again next pass. */
  readonly #toRetry = new Set<string>();
  readonly #zoneStates = new Map<string, ZoneState>();
  /** Every zone has no Ready node: NoExecute taints are neither added nor kept (kube's master disruption mode). */
  #fullDisruption = false;
  #pass: Promise<void> = Promise.resolve();
  #passing = false;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(opts: NodeLifecycleControllerOptions) {
    this.#client = opts.client;
    this.#log = opts.log ?? (() => {});
    this.#now = opts.now ?? (() => new Date());
    this.#events = opts.events ?? new EventRecorder({ client: opts.client, source: { component: 'node-controller' }, now: this.#now, log: this.#log });
    this.#gracePeriodMs = opts.gracePeriodMs ?? DEFAULT_GRACE_PERIOD_MS;
    this.#startupGracePeriodMs = opts.startupGracePeriodMs ?? DEFAULT_STARTUP_GRACE_PERIOD_MS;
    this.#monitorPeriodMs = opts.monitorPeriodMs ?? DEFAULT_MONITOR_PERIOD_MS;
    this.#nodes = new Informer({ client: opts.client, resource: nodesInfo, onError: (e) => this.#log(`node lifecycle nodes: ${String(e)}`) });
    this.#pods = new Informer({ client: opts.client, resource: podsInfo, onError: (e) => this.#log(`node lifecycle pods: ${String(e)}`) });
    this.#queue = new WorkQueue({ process: (k) => this.#process(k), workers: 4, baseDelayMs: 100, maxDelayMs: 10_000, onError: (k, e) => this.#log(`node lifecycle ${k}: ${String(e)}`) });
    const nodeChanged = (o: KObject) => this.#queue.add(`node/${o.metadata.name}`);
    this.#nodes.addHandlers({ onAdd: nodeChanged, onUpdate: nodeChanged, onDelete: (o) => this.#toRetry.delete(o.metadata.name!) });
    // podUpdated: a pod newly bound to a node that is not Ready is marked not ready at once.
    this.#pods.addHandlers({
      onAdd: (o) => { if ((o as unknown as Pod).spec?.nodeName) this.#queue.add(`pod/${objectKey(o)}`); },
      onUpdate: (o, old) => {
        const n = (o as unknown as Pod).spec?.nodeName;
        if (n && n !== (old as unknown as Pod).spec?.nodeName) this.#queue.add(`pod/${objectKey(o)}`);
      },
    });
  }

  async start(): Promise<void> {
    this.#nodes.start();
    this.#pods.start();
    await Promise.all([this.#nodes.waitForSync(), this.#pods.waitForSync()]);
    const tick = () => {
      if (this.#stopped) return;
      if (!this.#passing) void this.monitorNodeHealth().catch((e: unknown) => this.#log(`node lifecycle: ${String(e)}`));
      this.#timer = setTimeout(tick, this.#monitorPeriodMs);
    };
    tick();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#queue.stop();
    await this.#pass.catch(() => {});
    await Promise.all([this.#nodes.stop(), this.#pods.stop()]);
  }

  /** Resolves when the event-driven work (NoSchedule taints, newly bound pods) is done (tests). */
  idle(): Promise<void> {
    return this.#queue.idle();
  }

  /** The node as the controller's cache holds it (tests wait on it before a pass). */
  cachedNode(name: string): Node | undefined {
    return this.#nodes.get(name) as unknown as Node | undefined;
  }

  /** One pass of monitorNodeHealth; passes never overlap (the periodic one runs every monitor period). */
  monitorNodeHealth(): Promise<void> {
    const run = this.#pass.catch(() => {}).then(async () => {
      this.#passing = true;
      try { await this.#monitor(); } finally { this.#passing = false; }
    });
    this.#pass = run;
    return run;
  }

  async #monitor(): Promise<void> {
    if (this.#stopped) return;
    const nodes = this.#nodes.list() as unknown as Node[];
    const names = new Set(nodes.map((n) => n.metadata!.name!));
    for (const node of nodes) {
      const name = node.metadata!.name!;
      if (this.#known.has(name)) continue;
      this.#events.event(nodeRef(node), 'Normal', 'RegisteredNode', `Node ${name} event: Registered Node ${name} in Controller`);
      this.#known.set(name, node);
      await this.#writeTaints(node, (n) => noExecuteTaintingPass(n, 'True', this.#now())).catch((e: unknown) => this.#log(`node lifecycle ${name}: ${String(e)}`));
    }
    for (const [name, node] of [...this.#known]) {
      if (names.has(name)) continue;
      this.#events.event(nodeRef(node), 'Normal', 'RemovingNode', `Node ${name} event: Removing Node ${name} from Controller`);
      this.#known.delete(name);
      this.#health.delete(name);
      this.#toRetry.delete(name);
    }

    const podsByNode = new Map<string, Pod[]>();
    for (const o of this.#pods.list()) {
      const p = o as unknown as Pod;
      const n = p.spec?.nodeName;
      if (!n) continue;
      let l = podsByNode.get(n);
      if (!l) podsByNode.set(n, (l = []));
      l.push(p);
    }

    const checked = await Promise.all(nodes.map((n) => this.#updateHealth(n).catch((e: unknown) => {
      this.#log(`node lifecycle: health of node ${n.metadata!.name} not updated, skipping it: ${String(e)}`);
      return undefined;
    })));
    this.#handleDisruption(checked.filter((c) => c !== undefined), nodes);

    await Promise.all(checked.map(async (c) => {
      if (!c?.currentReady) return;
      const name = c.node.metadata!.name!;
      const observed = c.observedReady.status;
      await this.#writeTaints(c.node, (n) => noExecuteTaintingPass(n, observed, this.#now(), { fullDisruption: this.#fullDisruption }))
        .catch((e: unknown) => this.#log(`node lifecycle ${name}: NoExecute taints not updated, trying again next pass: ${String(e)}`));
      const transition = c.currentReady.status !== 'True' && observed === 'True';
      if (transition) {
        this.#events.event(nodeRef(c.node), 'Normal', 'NodeNotReady', `Node ${name} status is now: NodeNotReady`);
        this.#log(`node ${name}: Ready is now ${c.currentReady.status} (${c.currentReady.reason ?? ''})`);
      }
      // On every pass while the node is not Ready, not only on the change (kube marks them on the
      // change): an agent stopped cleanly writes Ready False itself and ends its pods without
      // writing theirs, so the change this controller sees is False → Unknown, never True → not.
      if (transition || observed !== 'True') {
        try {
          await this.#markPodsNotReady(podsByNode.get(name) ?? [], name);
        } catch (err) {
          this.#log(`node lifecycle: unable to mark all pods NotReady on node ${name}: ${String(err)}; queuing for retry`);
          this.#toRetry.add(name);
          return;
        }
      }
      this.#toRetry.delete(name);
    }));
  }

  /** tryUpdateNodeHealth with its status write; a lost race is recomputed from a fresh read. */
  async #updateHealth(node0: Node) {
    let node = node0;
    const name = node.metadata!.name!;
    for (let attempt = 0; ; attempt++) {
      const d = tryUpdateNodeHealth(node, this.#health.get(name), this.#now(), { gracePeriodMs: this.#gracePeriodMs, startupGracePeriodMs: this.#startupGracePeriodMs });
      if (!d.status) {
        this.#health.set(name, d.health);
        return { node, observedReady: d.observedReady, currentReady: d.currentReady };
      }
      try {
        const written = await this.#client.update(nodesInfo, { ...node, status: d.status } as unknown as KObject, 'status') as unknown as Node;
        this.#health.set(name, d.health);
        return { node: written, observedReady: d.observedReady, currentReady: d.currentReady };
      } catch (err) {
        if (!isConflict(err) || attempt >= UPDATE_RETRIES) throw err;
        node = await this.#client.get(nodesInfo, undefined, name) as unknown as Node;
      }
    }
  }

  /** handleDisruption, the part that matters without eviction rate limits: entering and leaving full disruption. */
  #handleDisruption(checked: readonly { node: Node; currentReady?: { status: string } }[], nodes: readonly Node[]): void {
    const byZone = new Map<string, (string | undefined)[]>();
    for (const c of checked) {
      if (excludedFromDisruption(c.node)) continue;
      const z = zoneKey(c.node);
      let l = byZone.get(z);
      if (!l) byZone.set(z, (l = []));
      l.push(c.currentReady?.status);
    }
    const newStates = new Map([...byZone].map(([z, l]) => [z, computeZoneState(l)] as const));
    const allAre = [...newStates.values()].every((s) => s === 'FullDisruption');
    for (const z of byZone.keys()) if (!this.#zoneStates.has(z)) this.#zoneStates.set(z, 'Initial');
    let allWas = true;
    for (const [z, s] of [...this.#zoneStates]) {
      if (!byZone.has(z)) { this.#zoneStates.delete(z); continue; }
      if (s !== 'FullDisruption') allWas = false;
    }
    if (allAre && allWas) return;
    if (allAre) {
      this.#log('node lifecycle: every node is not Ready; entering master disruption mode (no NoExecute taints)');
      this.#fullDisruption = true;
      for (const z of this.#zoneStates.keys()) this.#zoneStates.set(z, 'FullDisruption');
      return;
    }
    if (allWas && this.#fullDisruption) {
      this.#log('node lifecycle: some nodes are Ready; exiting master disruption mode');
      // Every node gets a fresh grace period.
      const now = this.#now().getTime();
      for (const n of nodes) {
        const h = this.#health.get(n.metadata!.name!);
        if (h) this.#health.set(n.metadata!.name!, { ...h, probeTimestamp: now, readyTransitionTimestamp: now });
      }
    }
    this.#fullDisruption = false;
    for (const [z, s] of newStates) this.#zoneStates.set(z, s);
  }

  /** MarkPodsNotReady: Ready=False through pods/status, and a NodeNotReady event on each pod. */
  async #markPodsNotReady(pods: readonly Pod[], nodeName: string): Promise<void> {
    const errors: unknown[] = [];
    for (const pod of pods) {
      const status = markPodNotReady(pod, nodeName, this.#now());
      if (!status) continue;
      try {
        const written = await this.#client.update(podsInfo, { ...pod, status } as unknown as KObject, 'status');
        this.#events.event(written, 'Warning', 'NodeNotReady', 'Node is not ready');
      } catch (err) {
        if (isNotFound(err)) continue;
        errors.push(err);
      }
    }
    if (errors.length) throw errors.length === 1 ? errors[0] : new AggregateError(errors, errors.map(String).join('; '));
  }

  /**
   * Writes the taints `decide` wants (undefined: nothing to do) as kube's PatchNodeTaints does: a
   * patch naming the resourceVersion it was computed from, recomputed from a fresh read on conflict.
   */
  async #writeTaints(node0: Node, decide: (n: Node) => Taint[] | undefined): Promise<void> {
    let node = node0;
    for (let attempt = 0; ; attempt++) {
      const taints = decide(node);
      if (!taints) return;
      try {
        await this.#client.patch(nodesInfo, undefined, node.metadata!.name!, {
          metadata: { resourceVersion: node.metadata!.resourceVersion },
          spec: { taints: taints.length ? taints : null },
        }, 'merge');
        return;
      } catch (err) {
        if (isNotFound(err)) return;
        if (!isConflict(err) || attempt >= UPDATE_RETRIES) throw err;
        node = await this.#client.get(nodesInfo, undefined, node.metadata!.name!) as unknown as Node;
      }
    }
  }

  async #process(key: string): Promise<void> {
    if (key.startsWith('node/')) {
      // doNoScheduleTaintingPass.
      const node = this.#nodes.get(key.slice('node/'.length)) as unknown as Node | undefined;
      if (node) await this.#writeTaints(node, (n) => noScheduleTaintingPass(n, this.#now()));
      return;
    }
    // processPod: a pod bound to a node the controller knows is not Ready.
    const pod = this.#pods.get(key.slice('pod/'.length)) as unknown as Pod | undefined;
    const nodeName = pod?.spec?.nodeName;
    if (!pod || !nodeName) return;
    const ready = this.#health.get(nodeName)?.savedReady;
    if (!ready) return;
    if (!this.#nodes.get(nodeName)) throw new Error(`node ${nodeName} of pod ${key.slice(4)} not in the cache yet`);
    if (ready.status !== 'True') await this.#markPodsNotReady([pod], nodeName);
  }
}
