// The taint eviction controller (kube 1.32's pkg/controller/tainteviction, the NoExecuteTaintManager
// that kube-controller-manager runs as taint-eviction-controller): deletes the pods on a node with
// NoExecute taints they do not tolerate at once, and those that tolerate them for a while
// (tolerationSeconds; 300 s for not-ready/unreachable from the DefaultTolerationSeconds admission
// defaults) when that time has passed. The eviction is cancelled when the taint goes first. This is
// what replaces a Deployment's pods on a node the node lifecycle controller found dead.
//
// kube hands node and pod changes to sharded workers; here the informer handlers run the
// (in-memory, I/O-free) decision at once, reading the informer caches as kube's workers read
// their listers. Only the deletion talks to the API server.
import type { Node, Pod, PodCondition, Taint } from 'kubernetes-types/core/v1.d.ts';
import { isDeepStrictEqual } from 'node:util';
import { StatusError } from '../../api/errors.ts';
import type { KObject } from '../../api/object.ts';
import { resources } from '../../api/resources.ts';
import { EventRecorder } from '../../client/event-recorder.ts';
import { Informer } from '../../client/informer.ts';
import type { KubeClient } from '../../client/rest-client.ts';
import { clampTimerMs } from '../../util/timer.ts';
import { decideEviction, noExecuteTaints, type ScheduledEviction } from './eviction-plan.ts';

const nodesInfo = resources.find((r) => r.resource === 'nodes')!;
const podsInfo = resources.find((r) => r.resource === 'pods')!;

/** kube's `retries`: attempts at marking and deleting one pod. */
const DELETE_ATTEMPTS = 5;
/** The pause between those attempts (kube sleeps 10 ms). */
const RETRY_DELAY_MS = 10;

export interface TaintEvictionTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const REAL_TIMERS: TaintEvictionTimers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export interface TaintEvictionControllerOptions {
  client: KubeClient;
  /** Where Events go; by default a recorder reporting as `taint-eviction-controller`, as kube's does. */
  events?: EventRecorder;
  log?: (m: string) => void;
  now?: () => Date;
  /** When evictions fire; tests pass fake ones that move with `now`. */
  timers?: TaintEvictionTimers;
}

interface Scheduled extends ScheduledEviction {
  /** The pending timer; undefined once the deletion runs (no longer cancellable). */
  timer: unknown;
  /**
   * The deletion succeeded: the entry stays as a tombstone (kube's `workers[key] = nil`, kept "to
   * avoid duplicated calls") until the pod's delete event or a cancel removes it, so a pod left
   * Terminating on a dead node is not given a new eviction by the next change of its node's taints.
   */
  done?: boolean;
}

/** The ObjectReference kube's emitPodDeletionEvent builds: no uid, no resourceVersion. */
function podRef(key: string): KObject {
  const [namespace, name] = key.split('/') as [string, string];
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace } } as KObject;
}

const podKey = (p: Pod) => `${p.metadata!.namespace}/${p.metadata!.name}`;

export class TaintEvictionController {
  readonly #client: KubeClient;
  readonly #events: EventRecorder;
  readonly #log: (m: string) => void;
  readonly #now: () => Date;
  readonly #timers: TaintEvictionTimers;
  readonly #nodes: Informer;
  readonly #pods: Informer;
  /** Node name → its NoExecute taints, for nodes that have some (kube's taintedNodes). */
  readonly #tainted = new Map<string, Taint[]>();
  /** Pod key `ns/name` → its eviction, or the tombstone of one that ran (kube's taintEvictionQueue). */
  readonly #scheduled = new Map<string, Scheduled>();
  readonly #running = new Set<Promise<void>>();
  /** Changes are looked at once both caches are full, as kube's workers start after WaitForNamedCacheSync. */
  #synced = false;
  #stopped = false;

  constructor(opts: TaintEvictionControllerOptions) {
    this.#client = opts.client;
    this.#log = opts.log ?? (() => {});
    this.#now = opts.now ?? (() => new Date());
    this.#timers = opts.timers ?? REAL_TIMERS;
    this.#events = opts.events ?? new EventRecorder({ client: opts.client, source: { component: 'taint-eviction-controller' }, now: this.#now, log: this.#log });
    this.#nodes = new Informer({ client: opts.client, resource: nodesInfo, onError: (e) => this.#log(`taint eviction nodes: ${String(e)}`) });
    this.#pods = new Informer({ client: opts.client, resource: podsInfo, onError: (e) => this.#log(`taint eviction pods: ${String(e)}`) });
    // NodeUpdated: only a change of the NoExecute taints matters.
    this.#nodes.addHandlers({
      onAdd: (o) => this.#nodeChanged(o.metadata.name!),
      onUpdate: (o, old) => {
        if (!isDeepStrictEqual(noExecuteTaints((o as unknown as Node).spec?.taints), noExecuteTaints((old as unknown as Node).spec?.taints))) this.#nodeChanged(o.metadata.name!);
      },
      onDelete: (o) => this.#nodeChanged(o.metadata.name!),
    });
    // PodUpdated: only a change of the tolerations or of the node matters.
    this.#pods.addHandlers({
      onAdd: (o) => this.#podChanged(o as unknown as Pod),
      onUpdate: (o, old) => {
        const p = o as unknown as Pod;
        const was = old as unknown as Pod;
        if (p.spec?.nodeName === was.spec?.nodeName && isDeepStrictEqual(p.spec?.tolerations ?? [], was.spec?.tolerations ?? [])) return;
        this.#podChanged(p);
      },
      onDelete: (o) => this.#podChanged(o as unknown as Pod),
    });
  }

  /** Fills both caches, then looks at every node's taints once. */
  async start(): Promise<void> {
    this.#nodes.start();
    this.#pods.start();
    await Promise.all([this.#nodes.waitForSync(), this.#pods.waitForSync()]);
    if (this.#stopped) return;
    this.#synced = true;
    for (const n of this.#nodes.list()) this.#nodeChanged(n.metadata.name!);
  }

  /** Cancels every pending eviction and waits for the deletions under way. */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const s of this.#scheduled.values()) if (s.timer !== undefined) this.#timers.clearTimeout(s.timer);
    this.#scheduled.clear();
    await Promise.all([this.#nodes.stop(), this.#pods.stop()]);
    await this.idle();
  }

  /** Resolves when no deletion is under way (for tests). */
  async idle(): Promise<void> {
    while (this.#running.size) await Promise.all([...this.#running]);
  }

  /** When the eviction of pod `ns/name` fires, if one is scheduled (for tests and status). */
  scheduledEviction(key: string): Date | undefined {
    const s = this.#scheduled.get(key);
    return s && !s.done ? new Date(s.fireAt) : undefined;
  }

  /** handleNodeUpdate. */
  #nodeChanged(name: string): void {
    if (!this.#synced || this.#stopped) return;
    const node = this.#nodes.get(name) as unknown as Node | undefined;
    if (!node) { this.#tainted.delete(name); return; }
    const taints = noExecuteTaints(node.spec?.taints);
    // Updated before the pods are read: a pod seen later finds the taints here (kube's ordering note).
    if (taints.length) this.#tainted.set(name, taints);
    else this.#tainted.delete(name);
    const pods = (this.#pods.list() as unknown as Pod[]).filter((p) => p.spec?.nodeName === name);
    if (!taints.length) {
      for (const p of pods) this.#cancel(podKey(p));
      return;
    }
    const now = this.#now().getTime();
    for (const p of pods) this.#processPod(podKey(p), p, taints, now);
  }

  /** handlePodUpdate. */
  #podChanged(changed: Pod): void {
    if (!this.#synced || this.#stopped) return;
    const key = podKey(changed);
    const pod = this.#pods.get(key) as unknown as Pod | undefined;
    if (!pod) { this.#cancel(key); return; }
    const nodeName = pod.spec?.nodeName;
    if (!nodeName) return;
    // The node was deleted or its taints removed: cancelling, if needed, happened then.
    const taints = this.#tainted.get(nodeName);
    if (!taints) return;
    this.#processPod(key, pod, taints, this.#now().getTime());
  }

  #processPod(key: string, pod: Pod, taints: readonly Taint[], now: number): void {
    // GetWorkerUnsafe: a tombstone is no scheduled eviction.
    const entry = this.#scheduled.get(key);
    const scheduled = entry && !entry.done ? entry : undefined;
    const d = decideEviction(taints, pod.spec?.tolerations, scheduled, now);
    if (d.action === 'keep') return;
    // kube cancels (dropping a tombstone too) before an immediate eviction and for a toleration
    // that lasts forever, but before a tolerationSeconds one only when an eviction is scheduled:
    // a tombstone then stays, and #schedule (AddWork) refuses the key.
    if (d.action === 'cancel' || d.why === 'untolerated' || scheduled) this.#cancel(key);
    if (d.action === 'cancel') return;
    if (d.why === 'untolerated') this.#log(`taint eviction: not all taints of node ${pod.spec?.nodeName} are tolerated by pod ${key}; deleting it`);
    this.#schedule(key, d.createdAt, d.fireAt, now);
  }

  /** TimedWorkerQueue.AddWork: nothing when the pod already has an eviction, or the tombstone of one. */
  #schedule(key: string, createdAt: number, fireAt: number, now: number): void {
    if (this.#scheduled.has(key)) return;
    const entry: Scheduled = { createdAt, fireAt, timer: undefined };
    this.#scheduled.set(key, entry);
    if (fireAt <= now) { this.#fire(key, entry); return; }
    entry.timer = this.#timers.setTimeout(() => this.#fire(key, entry), clampTimerMs(fireAt - now));
  }

  /** cancelWorkWithEvent: the event only for an eviction still waiting on its timer; a tombstone just goes. */
  #cancel(key: string): void {
    const s = this.#scheduled.get(key);
    if (!s) return;
    this.#scheduled.delete(key);
    if (s.timer === undefined) return;
    this.#timers.clearTimeout(s.timer);
    this.#events.event(podRef(key), 'Normal', 'TaintManagerEviction', `Cancelling deletion of Pod ${key}`);
  }

  #fire(key: string, entry: Scheduled): void {
    if (this.#stopped || this.#scheduled.get(key) !== entry) return;
    entry.timer = undefined;
    const run = this.#deletePod(key)
      .then(() => true, (e: unknown) => { this.#log(`taint eviction: pod ${key} not deleted: ${String(e)}`); return false; })
      .then((deleted) => {
        // Deleted: keep the key as a tombstone (see Scheduled.done); failed: forget it, so that
        // the next change may schedule the pod again (kube deletes the key on an error).
        if (this.#scheduled.get(key) === entry) {
          if (deleted) entry.done = true;
          else this.#scheduled.delete(key);
        }
      })
      .finally(() => this.#running.delete(run));
    this.#running.add(run);
  }

  /** deletePodHandler: the event, then up to five tries at addConditionAndDeletePod. */
  async #deletePod(key: string): Promise<void> {
    this.#log(`taint eviction: deleting pod ${key}`);
    this.#events.event(podRef(key), 'Normal', 'TaintManagerEviction', `Marking for deletion Pod ${key}`);
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#addConditionAndDelete(key);
        return;
      } catch (err) {
        // Gone already: the eviction is done (kube would try four more times and fail the same way).
        if (err instanceof StatusError && err.code === 404) return;
        if (attempt >= DELETE_ATTEMPTS || this.#stopped) throw err;
        await new Promise<void>((resolve) => this.#timers.setTimeout(resolve, RETRY_DELAY_MS));
      }
    }
  }

  /**
   * addConditionAndDeletePod: the DisruptionTarget condition through pods/status (a strategic
   * merge patch with the uid as precondition, as utilpod.PatchPodStatus sends), then the delete.
   */
  async #addConditionAndDelete(key: string): Promise<void> {
    const [namespace, name] = key.split('/') as [string, string];
    const pod = await this.#client.get(podsInfo, namespace, name) as unknown as Pod;
    const condition = disruptionCondition(pod, this.#now());
    if (condition) {
      await this.#client.patch(podsInfo, namespace, name, { metadata: { uid: pod.metadata?.uid }, status: { conditions: [condition] } }, 'strategic', 'status');
    }
    await this.#client.delete(podsInfo, namespace, name);
  }
}

const DISRUPTION_REASON = 'DeletionByTaintManager';
const DISRUPTION_MESSAGE = 'Taint manager: deleting due to NoExecute taint';

/**
 * The DisruptionTarget condition apipod.UpdatePodCondition would write, or undefined when the pod
 * has it already (same status, reason and message; lastTransitionTime kept unless the status changes).
 */
export function disruptionCondition(pod: Pod, now: Date): PodCondition | undefined {
  const old = pod.status?.conditions?.find((c) => c.type === 'DisruptionTarget');
  if (old && old.status === 'True' && old.reason === DISRUPTION_REASON && old.message === DISRUPTION_MESSAGE) return undefined;
  const lastTransitionTime = old?.status === 'True' && old.lastTransitionTime ? old.lastTransitionTime : now.toISOString().replace(/\.\d{3}Z$/, 'Z');
  return { type: 'DisruptionTarget', status: 'True', reason: DISRUPTION_REASON, message: DISRUPTION_MESSAGE, lastTransitionTime };
}
