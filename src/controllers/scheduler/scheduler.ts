// The scheduler: binds pending pods (schedulerName default-scheduler, no nodeName) to a node through
// pods/binding, or marks them Unschedulable with a FailedScheduling event, and tries again when
// nodes or pods change.
import type { Node, Pod } from 'kubernetes-types/core/v1.d.ts';
import { StatusError } from '../../api/errors.ts';
import type { KObject } from '../../api/object.ts';
import { resources } from '../../api/resources.ts';
import type { EventRecorder } from '../../client/event-recorder.ts';
import { Informer, objectKey } from '../../client/informer.ts';
import { KubeClient } from '../../client/rest-client.ts';
import { WorkQueue } from '../../client/work-queue.ts';
import { schedulePod } from './schedule.ts';

const podsInfo = resources.find((r) => r.resource === 'pods')!;
const nodesInfo = resources.find((r) => r.resource === 'nodes')!;

function isPending(o: KObject): boolean {
  const p = o as unknown as Pod;
  return !p.spec?.nodeName && !o.metadata.deletionTimestamp && (p.spec?.schedulerName ?? 'default-scheduler') === 'default-scheduler' &&
    p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed';
}

export class Scheduler {
  readonly #client: KubeClient;
  readonly #events: EventRecorder;
  readonly #pods: Informer;
  readonly #nodes: Informer;
  readonly #queue: WorkQueue;
  /** Pods bound by us whose binding the informer has not shown yet (so their ports count). */
  readonly #assumed = new Map<string, { node: string; pod: Pod }>();
  readonly #lastMessage = new Map<string, string>();
  #retry: NodeJS.Timeout | undefined;

  constructor(opts: { client: KubeClient; events: EventRecorder; log?: (m: string) => void; retryIntervalMs?: number }) {
    this.#client = opts.client;
    this.#events = opts.events;
    const log = opts.log ?? (() => {});
    this.#pods = new Informer({ client: opts.client, resource: podsInfo, onError: (e) => log(`scheduler pods: ${String(e)}`) });
    this.#nodes = new Informer({ client: opts.client, resource: nodesInfo, onError: (e) => log(`scheduler nodes: ${String(e)}`) });
    // Several binds in flight: choosing a node and recording the assumption happen in one turn of
    // the event loop, so two pods never get the same host port.
    this.#queue = new WorkQueue({ process: (k) => this.#schedule(k), workers: 8, baseDelayMs: 100, maxDelayMs: 10_000, onError: (k, e) => log(`schedule ${k}: ${String(e)}`) });
    const onPod = (o: KObject) => {
      const k = objectKey(o);
      if ((o as unknown as Pod).spec?.nodeName) this.#assumed.delete(k);
      if (isPending(o)) this.#queue.add(k);
    };
    this.#pods.addHandlers({ onAdd: onPod, onUpdate: onPod, onDelete: (o) => { this.#assumed.delete(objectKey(o)); this.#lastMessage.delete(objectKey(o)); this.#requeuePending(); } });
    this.#nodes.addHandlers({ onAdd: () => this.#requeuePending(), onUpdate: (n, old) => { if (JSON.stringify(n.spec) !== JSON.stringify(old.spec) || readiness(n) !== readiness(old)) this.#requeuePending(); }, onDelete: () => this.#requeuePending() });
    this.#retryMs = opts.retryIntervalMs ?? 5_000;
  }

  readonly #retryMs: number;

  async start(): Promise<void> {
    this.#pods.start();
    this.#nodes.start();
    await Promise.all([this.#pods.waitForSync(), this.#nodes.waitForSync()]);
    this.#requeuePending();
    const tick = () => { this.#requeuePending(); this.#retry = setTimeout(tick, this.#retryMs); };
    this.#retry = setTimeout(tick, this.#retryMs);
  }

  async stop(): Promise<void> {
    if (this.#retry) clearTimeout(this.#retry);
    this.#queue.stop();
    await Promise.all([this.#pods.stop(), this.#nodes.stop()]);
  }

  #requeuePending(): void {
    if (!this.#pods.hasSynced() || !this.#nodes.hasSynced()) return;
    for (const p of this.#pods.list()) if (isPending(p)) this.#queue.add(objectKey(p));
  }

  async #schedule(key: string): Promise<void> {
    const obj = this.#pods.get(key);
    if (!obj || !isPending(obj) || this.#assumed.has(key)) return;
    const pod = obj as unknown as Pod;
    const byNode = new Map<string, Pod[]>();
    for (const o of this.#pods.list()) {
      const p = o as unknown as Pod;
      const n = p.spec?.nodeName ?? this.#assumed.get(objectKey(o))?.node;
      if (!n || o.metadata.deletionTimestamp && !p.spec?.nodeName) continue;
      if (p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed') continue;
      let list = byNode.get(n);
      if (!list) byNode.set(n, (list = []));
      list.push(p);
    }
    const nodes = this.#nodes.list() as unknown as Node[];
    const result = schedulePod(pod, nodes, byNode);
    if ('node' in result) {
      this.#assumed.set(key, { node: result.node, pod });
      try {
        await this.#client.request('POST', `/api/v1/namespaces/${obj.metadata.namespace}/pods/${obj.metadata.name}/binding`, {
          apiVersion: 'v1', kind: 'Binding', metadata: { name: obj.metadata.name, namespace: obj.metadata.namespace },
          target: { apiVersion: 'v1', kind: 'Node', name: result.node },
        });
      } catch (err) {
        this.#assumed.delete(key);
        if (err instanceof StatusError && (err.code === 404 || err.code === 409)) return;
        throw err;
      }
      this.#lastMessage.delete(key);
      this.#events.event(obj, 'Normal', 'Scheduled', `Successfully assigned ${obj.metadata.namespace}/${obj.metadata.name} to ${result.node}`);
      return;
    }
    if (this.#lastMessage.get(key) === result.unschedulable) return;
    this.#lastMessage.set(key, result.unschedulable);
    this.#events.event(obj, 'Warning', 'FailedScheduling', result.unschedulable);
    const conditions = (pod.status?.conditions ?? []).filter((c) => c.type !== 'PodScheduled');
    conditions.push({ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: result.unschedulable, lastProbeTime: null as unknown as string, lastTransitionTime: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z') });
    try {
      await this.#client.patch(podsInfo, obj.metadata.namespace, obj.metadata.name!, { status: { conditions } }, 'merge', 'status');
    } catch (err) {
      if (!(err instanceof StatusError && err.code === 404)) throw err;
    }
  }
}

function readiness(n: KObject): string {
  return (n as unknown as Node).status?.conditions?.find((c) => c.type === 'Ready')?.status ?? '';
}
