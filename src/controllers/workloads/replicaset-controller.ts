// The ReplicaSet controller (kube's pkg/controller/replicaset): keeps spec.replicas pods of each
// ReplicaSet's template running, adopting and releasing pods by selector, and reports the counts in
// status. Watch events only mark ReplicaSets dirty; planReplicaSet decides; this file does the I/O.
import type { ReplicaSet } from 'kubernetes-types/apps/v1.d.ts';
import type { Pod } from 'kubernetes-types/core/v1.d.ts';
import { StatusError } from '../../api/errors.ts';
import type { KObject } from '../../api/object.ts';
import { resources } from '../../api/resources.ts';
import type { EventRecorder } from '../../client/event-recorder.ts';
import { Informer, objectKey, stripReadOnly } from '../../client/informer.ts';
import type { KubeClient } from '../../client/rest-client.ts';
import { WorkQueue } from '../../client/work-queue.ts';
import { controllerRefOf, newControllerRef, selectorMatches } from './pods.ts';
import { planReplicaSet, podFromTemplate, replicaSetStatus } from './replicaset-plan.ts';

const podsInfo = resources.find((r) => r.resource === 'pods')!;
const rsInfo = resources.find((r) => r.resource === 'replicasets')!;

/** controller.ExpectationsTimeout: writes not seen after this long are no longer waited for. */
const expectationsTimeoutMs = 5 * 60_000;

/**
 * kube's ControllerExpectations: pods created (a count, names are the server's) and deleted (by
 * name) that the pod informer has not shown yet; until it has, the ReplicaSet is not resized again.
 */
class Expectations {
  readonly #m = new Map<string, { adds: number; deletes: Set<string>; at: number }>();

  expect(key: string, adds: number, deletes: readonly string[], now: number): void {
    const e = this.#m.get(key) ?? { adds: 0, deletes: new Set<string>(), at: now };
    e.adds += adds;
    for (const d of deletes) e.deletes.add(d);
    e.at = now;
    this.#m.set(key, e);
  }

  createObserved(key: string): void {
    const e = this.#m.get(key);
    if (e && e.adds > 0) e.adds--;
  }

  deleteObserved(key: string, podName: string): void {
    this.#m.get(key)?.deletes.delete(podName);
  }

  satisfied(key: string, now: number): boolean {
    const e = this.#m.get(key);
    if (!e || (e.adds <= 0 && e.deletes.size === 0)) return true;
    return now - e.at > expectationsTimeoutMs;
  }

  forget(key: string): void {
    this.#m.delete(key);
  }
}

export interface ReplicaSetControllerOptions {
  client: KubeClient;
  events: EventRecorder;
  log?: (m: string) => void;
  now?: () => Date;
}

export class ReplicaSetController {
  readonly #client: KubeClient;
  readonly #events: EventRecorder;
  readonly #log: (m: string) => void;
  readonly #now: () => Date;
  readonly #replicaSets: Informer;
  readonly #pods: Informer;
  readonly #queue: WorkQueue;
  readonly #expectations = new Expectations();

  constructor(opts: ReplicaSetControllerOptions) {
    this.#client = opts.client;
    this.#events = opts.events;
    this.#log = opts.log ?? (() => {});
    this.#now = opts.now ?? (() => new Date());
    const onErr = (what: string) => (e: unknown) => this.#log(`replicaset ${what}: ${String(e)}`);
    this.#replicaSets = new Informer({ client: opts.client, resource: rsInfo, onError: onErr('informer') });
    this.#pods = new Informer({ client: opts.client, resource: podsInfo, onError: onErr('pods'), transform: stripReadOnly });
    this.#queue = new WorkQueue({ process: (k) => this.#sync(k), workers: 4, baseDelayMs: 100, maxDelayMs: 30_000,
      onError: (k, e) => this.#log(`replicaset ${k}: ${e instanceof Error ? e.message : String(e)}`) });
    const rsKey = (o: KObject) => this.#queue.add(objectKey(o));
    this.#replicaSets.addHandlers({
      onAdd: rsKey,
      onUpdate: rsKey,
      onDelete: (o) => { this.#expectations.forget(objectKey(o)); rsKey(o); },
    });
    this.#pods.addHandlers({
      onAdd: (o) => this.#podAdded(o as unknown as Pod),
      onUpdate: (o, old) => this.#podUpdated(o as unknown as Pod, old as unknown as Pod),
      onDelete: (o) => this.#podDeleted(o as unknown as Pod),
    });
  }

  async start(): Promise<void> {
    this.#replicaSets.start();
    this.#pods.start();
    await Promise.all([this.#replicaSets.waitForSync(), this.#pods.waitForSync()]);
    for (const rs of this.#replicaSets.list()) this.#queue.add(objectKey(rs));
  }

  async stop(): Promise<void> {
    this.#queue.stop();
    await Promise.all([this.#replicaSets.stop(), this.#pods.stop()]);
  }

  /** The ReplicaSet controlling the pod (by its controller reference), as a queue key. */
  #ownerKey(pod: Pod): string | undefined {
    const ref = controllerRefOf(pod);
    if (!ref || ref.kind !== 'ReplicaSet' || ref.apiVersion?.split('/')[0] !== 'apps') return undefined;
    const key = `${pod.metadata?.namespace}/${ref.name}`;
    const rs = this.#replicaSets.get(key);
    return rs && rs.metadata.uid === ref.uid ? key : undefined;
  }

  /** An orphan pod: every ReplicaSet that would adopt it looks at it (getPodReplicaSets). */
  #enqueueSelecting(pod: Pod): void {
    for (const rs of this.#replicaSets.list()) {
      if (rs.metadata.namespace !== pod.metadata?.namespace) continue;
      if (selectorMatches((rs as unknown as ReplicaSet).spec?.selector, pod.metadata?.labels)) this.#queue.add(objectKey(rs));
    }
  }

  #podAdded(pod: Pod): void {
    if (pod.metadata?.deletionTimestamp) {
      // A pod seen first while already being deleted (after a relist) counts as deleted.
      this.#podDeleted(pod);
      return;
    }
    const key = this.#ownerKey(pod);
    if (key) {
      this.#expectations.createObserved(key);
      this.#queue.add(key);
    } else if (!controllerRefOf(pod)) {
      this.#enqueueSelecting(pod);
    }
  }

  #podUpdated(pod: Pod, old: Pod): void {
    const key = this.#ownerKey(pod);
    if (pod.metadata?.deletionTimestamp && !old.metadata?.deletionTimestamp && key) this.#expectations.deleteObserved(key, pod.metadata.name ?? '');
    const oldKey = this.#ownerKey(old);
    if (oldKey && oldKey !== key) this.#queue.add(oldKey);
    if (key) this.#queue.add(key);
    else if (!controllerRefOf(pod) && JSON.stringify(pod.metadata?.labels ?? {}) !== JSON.stringify(old.metadata?.labels ?? {})) this.#enqueueSelecting(pod);
    else if (!controllerRefOf(pod) && controllerRefOf(old)) this.#enqueueSelecting(pod);
  }

  #podDeleted(pod: Pod): void {
    const key = this.#ownerKey(pod);
    if (!key) return;
    this.#expectations.deleteObserved(key, pod.metadata?.name ?? '');
    this.#queue.add(key);
  }

  /** The pods of every ReplicaSet with the same controller (getIndirectlyRelatedPods), for ranking deletions. */
  #relatedPods(rs: ReplicaSet, nsPods: readonly Pod[]): Pod[] {
    const ref = controllerRefOf(rs);
    if (!ref) return [];
    const seen = new Set<string>();
    const out: Pod[] = [];
    for (const o of this.#replicaSets.list()) {
      const other = o as unknown as ReplicaSet;
      if (other.metadata?.namespace !== rs.metadata?.namespace || controllerRefOf(other)?.uid !== ref.uid) continue;
      for (const p of nsPods) {
        if (seen.has(p.metadata?.uid ?? '') || !selectorMatches(other.spec?.selector, p.metadata?.labels)) continue;
        seen.add(p.metadata?.uid ?? '');
        out.push(p);
      }
    }
    return out;
  }

  async #sync(key: string): Promise<void> {
    const cached = this.#replicaSets.get(key) as unknown as ReplicaSet | undefined;
    if (!cached) {
      this.#expectations.forget(key);
      return;
    }
    const now = this.#now();
    const namespace = cached.metadata!.namespace!;
    const nsPods = this.#pods.list().filter((p) => p.metadata.namespace === namespace) as unknown as Pod[];
    const plan = planReplicaSet({
      rs: cached, pods: nsPods, relatedPods: this.#relatedPods(cached, nsPods), now,
      waitingForOwnWrites: !this.#expectations.satisfied(key, now.getTime()),
    });
    const rsObj = cached as unknown as KObject;
    if (plan.adopt.length) await this.#adopt(cached, plan.adopt);
    for (const pod of plan.release) {
      await this.#ignoreNotFound(this.#client.patch(podsInfo, namespace, pod.metadata!.name!,
        { metadata: { ownerReferences: [{ $patch: 'delete', uid: cached.metadata!.uid }], uid: pod.metadata!.uid } }, 'strategic'));
    }
    let manageError: string | undefined;
    if (plan.create > 0) manageError = await this.#createPods(key, cached, plan.create);
    if (plan.delete.length) manageError = (await this.#deletePods(key, cached, plan.delete)) ?? manageError;
    const status = manageError === undefined ? plan.status : replicaSetStatus(cached, plan.controlled, manageError, now);
    if (manageError !== undefined || plan.statusChanged) await this.#writeStatus(rsObj, status);
    if (manageError !== undefined) throw new Error(manageError);
    if (plan.requeueAfterMs !== undefined) this.#queue.addAfter(key, plan.requeueAfterMs);
  }

  /** Adoption needs the ReplicaSet as it is now, not as cached: never adopt for one being deleted (RecheckDeletionTimestamp). */
  async #adopt(rs: ReplicaSet, pods: readonly Pod[]): Promise<void> {
    const fresh = await this.#client.get(rsInfo, rs.metadata!.namespace, rs.metadata!.name!);
    // ClaimPods fails, and the sync stops before manageReplicas: the plan counted these pods as ours.
    if (fresh.metadata.uid !== rs.metadata!.uid || fresh.metadata.deletionTimestamp) {
      throw new Error(`not adopting pods for replica set ${rs.metadata!.namespace}/${rs.metadata!.name}: it is being deleted or was replaced`);
    }
    const ref = newControllerRef(rs, 'apps/v1', 'ReplicaSet');
    for (const pod of pods) {
      await this.#ignoreNotFound(this.#client.patch(podsInfo, pod.metadata!.namespace, pod.metadata!.name!,
        { metadata: { ownerReferences: [ref], uid: pod.metadata!.uid } }, 'strategic'));
    }
  }

  /** slowStartBatch: 1, 2, 4… pods at a time, stopping at the first batch with a failure. */
  async #createPods(key: string, rs: ReplicaSet, count: number): Promise<string | undefined> {
    this.#expectations.expect(key, count, [], this.#now().getTime());
    const template = podFromTemplate(rs);
    const rsObj = rs as unknown as KObject;
    let remaining = count;
    let batch = 1;
    while (remaining > 0) {
      const size = Math.min(batch, remaining);
      const results = await Promise.allSettled(Array.from({ length: size }, () =>
        this.#client.create(podsInfo, rs.metadata!.namespace, structuredClone(template) as unknown as KObject)));
      remaining -= size;
      let failure: string | undefined;
      for (const r of results) {
        if (r.status === 'fulfilled') {
          this.#events.event(rsObj, 'Normal', 'SuccessfulCreate', `Created pod: ${r.value.metadata.name}`);
        } else {
          this.#expectations.createObserved(key);
          // A namespace being deleted refuses every create; that is not the ReplicaSet's failure (kube returns nil).
          const err = r.reason;
          if (err instanceof StatusError && err.details?.causes?.some((c) => c.reason === 'NamespaceTerminating')) continue;
          this.#events.event(rsObj, 'Warning', 'FailedCreate', `Error creating: ${err instanceof Error ? err.message : String(err)}`);
          failure ??= err instanceof Error ? err.message : String(err);
        }
      }
      if (failure !== undefined) {
        for (let i = 0; i < remaining; i++) this.#expectations.createObserved(key);
        return failure;
      }
      batch *= 2;
    }
    return undefined;
  }

  async #deletePods(key: string, rs: ReplicaSet, pods: readonly Pod[]): Promise<string | undefined> {
    const names = pods.map((p) => p.metadata!.name!);
    this.#expectations.expect(key, 0, names, this.#now().getTime());
    const rsObj = rs as unknown as KObject;
    let failure: string | undefined;
    await Promise.all(names.map(async (name) => {
      try {
        await this.#client.delete(podsInfo, rs.metadata!.namespace, name);
        this.#events.event(rsObj, 'Normal', 'SuccessfulDelete', `Deleted pod: ${name}`);
      } catch (err) {
        this.#expectations.deleteObserved(key, name);
        if (err instanceof StatusError && err.code === 404) return;
        this.#events.event(rsObj, 'Warning', 'FailedDelete', `Error deleting: ${err instanceof Error ? err.message : String(err)}`);
        failure ??= err instanceof Error ? err.message : String(err);
      }
    }));
    return failure;
  }

  /** updateReplicaSetStatus: PUT /status, once more with the latest object after a conflict. */
  async #writeStatus(rs: KObject, status: unknown): Promise<void> {
    let current = rs;
    for (let attempt = 0; ; attempt++) {
      try {
        await this.#client.update(rsInfo, { ...current, status }, 'status');
        return;
      } catch (err) {
        if (err instanceof StatusError && err.code === 404) return;
        if (!(err instanceof StatusError && err.code === 409) || attempt > 0) throw err;
        current = await this.#client.get(rsInfo, rs.metadata.namespace, rs.metadata.name!);
        // Counts made for another generation are not this one's.
        if (current.metadata.generation !== rs.metadata.generation) return;
      }
    }
  }

  async #ignoreNotFound(p: Promise<unknown>): Promise<void> {
    try { await p; } catch (err) { if (!(err instanceof StatusError && err.code === 404)) throw err; }
  }
}
