// The pod garbage collector (kube 1.32's pkg/controller/podgc, kube-controller-manager's
// pod-garbage-collector): every 20 s it force-deletes (grace period 0) the pods nothing else will
// ever finish deleting:
//  - gcTerminated: terminated pods beyond --terminated-pod-gc-threshold, evicted and oldest first;
//  - gcTerminating: terminating pods on a node that is not Ready and carries the out-of-service
//    taint (the administrator said the machine is gone, so no kubelet will confirm the deletion);
//  - gcOrphaned: pods bound to a node that no longer exists, after a quarantine and a fresh GET of
//    the node, marked with the DisruptionTarget condition first;
//  - gcUnscheduledTerminating: terminating pods never bound to a node.
// Before each deletion a pod not yet Succeeded or Failed is set Failed through pods/status (kube's
// markFailedAndDeletePod), so whoever watches it (a Job) sees it end.
//
// The passes read the informer caches as kube's read their listers; only the node GET, the status
// patches and the deletions talk to the API server. Not here: kube's metrics.
import type { Node, Pod, PodCondition } from 'kubernetes-types/core/v1.d.ts';
import { StatusError } from '../../api/errors.ts';
import { resources } from '../../api/resources.ts';
import { Informer } from '../../client/informer.ts';
import type { KubeClient } from '../../client/rest-client.ts';
import {
  DEFAULT_GC_PERIOD_MS, DEFAULT_QUARANTINE_MS, DEFAULT_TERMINATED_POD_THRESHOLD, failedStatusPatch, missingNodeNames, ORPHANED_CONDITION,
  selectOrphaned, selectTerminated, selectTerminatingOutOfService, selectUnscheduledTerminating, TAINT_OUT_OF_SERVICE,
} from './gc-decisions.ts';
import { NodeQuarantine } from './quarantine.ts';

const nodesInfo = resources.find((r) => r.resource === 'nodes')!;
const podsInfo = resources.find((r) => r.resource === 'pods')!;

export interface PodGcTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const REAL_TIMERS: PodGcTimers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export interface PodGcControllerOptions {
  client: KubeClient;
  log?: (m: string) => void;
  now?: () => Date;
  /** --terminated-pod-gc-threshold: terminated pods kept before the oldest go (default 12500; ≤ 0 turns that pass off). */
  terminatedPodThreshold?: number;
  /** How long a node missing from the cache is waited for before its pods go (kube's quarantineTime, 40 s). */
  quarantineMs?: number;
  /** How often the passes run (kube's gcCheckPeriod, 20 s). */
  periodMs?: number;
  /** When the next pass runs; tests pass fake ones (or none fire and they call gc()). */
  timers?: PodGcTimers;
}

function isNotFound(err: unknown): boolean {
  return err instanceof StatusError && err.code === 404;
}

const podName = (p: Pod) => `${p.metadata!.namespace}/${p.metadata!.name}`;

export class PodGcController {
  readonly #client: KubeClient;
  readonly #log: (m: string) => void;
  readonly #now: () => Date;
  readonly #timers: PodGcTimers;
  readonly #threshold: number;
  readonly #periodMs: number;
  readonly #quarantine: NodeQuarantine;
  readonly #nodes: Informer;
  readonly #pods: Informer;
  #pass: Promise<void> = Promise.resolve();
  #timer: unknown;
  #stopped = false;

  constructor(opts: PodGcControllerOptions) {
    this.#client = opts.client;
    this.#log = opts.log ?? (() => {});
    this.#now = opts.now ?? (() => new Date());
    this.#timers = opts.timers ?? REAL_TIMERS;
    this.#threshold = opts.terminatedPodThreshold ?? DEFAULT_TERMINATED_POD_THRESHOLD;
    this.#periodMs = opts.periodMs ?? DEFAULT_GC_PERIOD_MS;
    this.#quarantine = new NodeQuarantine(opts.quarantineMs ?? DEFAULT_QUARANTINE_MS);
    this.#nodes = new Informer({ client: opts.client, resource: nodesInfo, onError: (e) => this.#log(`pod gc nodes: ${String(e)}`) });
    this.#pods = new Informer({ client: opts.client, resource: podsInfo, onError: (e) => this.#log(`pod gc pods: ${String(e)}`) });
  }

  /** Fills both caches (kube's WaitForNamedCacheSync), then runs gc() now and every period after the last one ended (wait.Until). */
  async start(): Promise<void> {
    this.#nodes.start();
    this.#pods.start();
    await Promise.all([this.#nodes.waitForSync(), this.#pods.waitForSync()]);
    const tick = () => {
      if (this.#stopped) return;
      void this.gc().finally(() => {
        if (!this.#stopped) this.#timer = this.#timers.setTimeout(tick, this.#periodMs);
      });
    };
    tick();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) this.#timers.clearTimeout(this.#timer);
    await this.#pass;
    await Promise.all([this.#nodes.stop(), this.#pods.stop()]);
  }

  /** The nodes in quarantine (tests). */
  quarantinedNodes(): string[] {
    return this.#quarantine.waiting();
  }

  /** Whether the caches show the pod / node (tests wait on them before a pass). */
  cachedPod(key: string): Pod | undefined {
    return this.#pods.get(key) as unknown as Pod | undefined;
  }
  cachedNode(name: string): Node | undefined {
    return this.#nodes.get(name) as unknown as Node | undefined;
  }

  /** One run of every pass, in kube's order; runs never overlap. Failures are logged, never thrown. */
  gc(): Promise<void> {
    const run = this.#pass.then(() => this.#gc()).catch((e: unknown) => this.#log(`pod gc: ${String(e)}`));
    this.#pass = run;
    return run;
  }

  async #gc(): Promise<void> {
    if (this.#stopped) return;
    const pods = this.#pods.list() as unknown as Pod[];
    const nodes = this.#nodes.list() as unknown as Node[];
    const terminated = selectTerminated(pods, this.#threshold);
    if (terminated.length) {
      this.#log(`pod gc: garbage collecting ${terminated.length} terminated pods (threshold ${this.#threshold})`);
      await Promise.all(terminated.map((p) => this.#markFailedAndDelete(p, undefined)));
    }
    const terminating = selectTerminatingOutOfService(pods, (n) => this.#nodes.get(n) as unknown as Node | undefined);
    if (terminating.length) {
      this.#log(`pod gc: garbage collecting ${terminating.length} pods terminating on nodes tainted ${TAINT_OUT_OF_SERVICE}`);
      await Promise.all(terminating.map((p) => this.#markFailedAndDelete(p, undefined)));
    }
    await this.#gcOrphaned(pods, new Set(nodes.map((n) => n.metadata!.name!)));
    for (const p of selectUnscheduledTerminating(pods)) {
      this.#log(`pod gc: found unscheduled terminating pod ${podName(p)} not assigned to any node, deleting`);
      if (await this.#markFailedAndDelete(p, undefined)) this.#log(`pod gc: forced deletion of unscheduled terminating pod ${podName(p)} succeeded`);
    }
  }

  async #gcOrphaned(pods: readonly Pod[], existing: ReadonlySet<string>): Promise<void> {
    const nowMs = this.#now().getTime();
    for (const n of missingNodeNames(pods, existing)) this.#quarantine.add(n, nowMs);
    // discoverDeletedNodes: a node that appeared in the cache meanwhile is simply let go; one still
    // missing is only believed gone on the API server's word (the cache may lag behind it).
    const deleted = new Set<string>();
    for (const name of this.#quarantine.takeReady(nowMs)) {
      if (existing.has(name)) continue;
      try {
        await this.#client.get(nodesInfo, undefined, name);
      } catch (err) {
        if (isNotFound(err)) deleted.add(name);
        // Otherwise it is quarantined again on the next pass that still sees it missing.
        else this.#log(`pod gc: error while getting node ${name}: ${String(err)}`);
      }
    }
    for (const p of selectOrphaned(pods, deleted)) {
      this.#log(`pod gc: found orphaned pod ${podName(p)} assigned to the node ${p.spec!.nodeName}, deleting`);
      if (await this.#markFailedAndDelete(p, ORPHANED_CONDITION)) this.#log(`pod gc: forced deletion of orphaned pod ${podName(p)} succeeded`);
    }
  }

  /**
   * markFailedAndDeletePodWithCondition: the Failed phase (and condition) through pods/status, then
   * a deletion with grace period 0, which the API server carries out at once (no kubelet is waited
   * for; only finalizers keep the pod). True when both writes succeeded; a pod already gone is no error.
   */
  async #markFailedAndDelete(pod: Pod, condition: PodCondition | undefined): Promise<boolean> {
    const ns = pod.metadata!.namespace!, name = pod.metadata!.name!;
    this.#log(`pod gc: force deleting pod ${ns}/${name}`);
    try {
      const patch = failedStatusPatch(pod, condition, this.#now());
      if (patch) await this.#client.patch(podsInfo, ns, name, patch, 'strategic', 'status');
      await this.#client.delete(podsInfo, ns, name, { gracePeriodSeconds: 0 });
      return true;
    } catch (err) {
      if (!isNotFound(err)) this.#log(`pod gc: deleting pod ${ns}/${name}: ${String(err)}`);
      return false;
    }
  }
}
