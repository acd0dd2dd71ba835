// The Deployment controller (kube's pkg/controller/deployment): rolls a Deployment's pod template
// out through ReplicaSets (RollingUpdate within maxSurge/maxUnavailable, or Recreate), scales them,
// keeps revisionHistoryLimit old ones, and reports progress in status. planDeployment decides;
// this file runs its writes in order and records its events.
import type { Deployment, ReplicaSet } from 'kubernetes-types/apps/v1.d.ts';
import type { Pod } from 'kubernetes-types/core/v1.d.ts';
import { StatusError } from '../../api/errors.ts';
import type { KObject } from '../../api/object.ts';
import { resources } from '../../api/resources.ts';
import type { EventRecorder } from '../../client/event-recorder.ts';
import { Informer, objectKey } from '../../client/informer.ts';
import type { KubeClient } from '../../client/rest-client.ts';
import { WorkQueue } from '../../client/work-queue.ts';
import { hasProgressDeadline, newCondition, reasons, setCondition } from './deployment-util.ts';
import { planDeployment } from './deployment-plan.ts';
import { controllerRefOf, selectorMatches } from './pods.ts';

const deploymentsInfo = resources.find((r) => r.resource === 'deployments')!;
const rsInfo = resources.find((r) => r.resource === 'replicasets')!;
const podsInfo = resources.find((r) => r.resource === 'pods')!;

function podOwnerAndPhase(o: KObject): KObject {
  const m = o.metadata;
  return {
    apiVersion: o.apiVersion, kind: o.kind,
    metadata: { name: m.name, namespace: m.namespace, uid: m.uid, resourceVersion: m.resourceVersion, ownerReferences: m.ownerReferences, deletionTimestamp: m.deletionTimestamp },
    status: { phase: (o.status as { phase?: string } | undefined)?.phase },
  };
}

export interface DeploymentControllerOptions {
  client: KubeClient;
  events: EventRecorder;
  log?: (m: string) => void;
  now?: () => Date;
}

export class DeploymentController {
  readonly #client: KubeClient;
  readonly #events: EventRecorder;
  readonly #log: (m: string) => void;
  readonly #now: () => Date;
  readonly #deployments: Informer;
  readonly #replicaSets: Informer;
  readonly #pods: Informer;
  readonly #queue: WorkQueue;

  constructor(opts: DeploymentControllerOptions) {
    this.#client = opts.client;
    this.#events = opts.events;
    this.#log = opts.log ?? (() => {});
    this.#now = opts.now ?? (() => new Date());
    const onErr = (what: string) => (e: unknown) => this.#log(`deployment ${what}: ${String(e)}`);
    this.#deployments = new Informer({ client: opts.client, resource: deploymentsInfo, onError: onErr('informer') });
    this.#replicaSets = new Informer({ client: opts.client, resource: rsInfo, onError: onErr('replicasets') });
    // Recreate only needs to know which ReplicaSet's pods still exist and whether they finished.
    this.#pods = new Informer({ client: opts.client, resource: podsInfo, onError: onErr('pods'), transform: podOwnerAndPhase });
    this.#queue = new WorkQueue({ process: (k) => this.#sync(k), workers: 4, baseDelayMs: 100, maxDelayMs: 30_000,
      onError: (k, e) => this.#log(`deployment ${k}: ${e instanceof Error ? e.message : String(e)}`) });
    const dKey = (o: KObject) => this.#queue.add(objectKey(o));
    this.#deployments.addHandlers({ onAdd: dKey, onUpdate: dKey, onDelete: dKey });
    const rsChanged = (o: KObject, old?: KObject) => {
      this.#enqueueFor(o as unknown as ReplicaSet);
      if (old && controllerRefOf(old)?.uid !== controllerRefOf(o)?.uid) this.#enqueueFor(old as unknown as ReplicaSet);
    };
    this.#replicaSets.addHandlers({ onAdd: (o) => rsChanged(o), onUpdate: rsChanged, onDelete: (o) => rsChanged(o) });
    // Recreate waits for the old pods to be gone (deletePod enqueues the Deployment).
    this.#pods.addHandlers({ onDelete: (o) => this.#podDeleted(o as unknown as Pod) });
  }

  async start(): Promise<void> {
    for (const i of [this.#deployments, this.#replicaSets, this.#pods]) i.start();
    await Promise.all([this.#deployments, this.#replicaSets, this.#pods].map((i) => i.waitForSync()));
    for (const d of this.#deployments.list()) this.#queue.add(objectKey(d));
  }

  async stop(): Promise<void> {
    this.#queue.stop();
    await Promise.all([this.#deployments, this.#replicaSets, this.#pods].map((i) => i.stop()));
  }

  /** The Deployment controlling a ReplicaSet, or for an orphan every Deployment that would adopt it. */
  #enqueueFor(rs: ReplicaSet): void {
    const ref = controllerRefOf(rs);
    const ns = rs.metadata?.namespace;
    if (ref) {
      if (ref.kind !== 'Deployment') return;
      const d = this.#deployments.get(`${ns}/${ref.name}`);
      if (d && d.metadata.uid === ref.uid) this.#queue.add(objectKey(d));
      return;
    }
    for (const d of this.#deployments.list()) {
      if (d.metadata.namespace === ns && selectorMatches((d as unknown as Deployment).spec?.selector, rs.metadata?.labels)) this.#queue.add(objectKey(d));
    }
  }

  #podDeleted(pod: Pod): void {
    const ref = controllerRefOf(pod);
    if (!ref || ref.kind !== 'ReplicaSet') return;
    const rs = this.#replicaSets.get(`${pod.metadata?.namespace}/${ref.name}`) as unknown as ReplicaSet | undefined;
    if (!rs) return;
    const dRef = controllerRefOf(rs);
    const d = dRef && this.#deployments.get(`${pod.metadata?.namespace}/${dRef.name}`);
    if (d && (d as unknown as Deployment).spec?.strategy?.type === 'Recreate') this.#queue.add(objectKey(d));
  }

  async #sync(key: string): Promise<void> {
    const cached = this.#deployments.get(key) as unknown as Deployment | undefined;
    if (!cached) return;
    const namespace = cached.metadata!.namespace!;
    const inNs = (o: KObject) => o.metadata.namespace === namespace;
    const plan = planDeployment({
      deployment: cached,
      replicaSets: this.#replicaSets.list().filter(inNs) as unknown as ReplicaSet[],
      pods: this.#pods.list().filter(inNs) as unknown as Pod[],
      now: this.#now(),
    });
    const dObj = cached as unknown as KObject;
    // Each ReplicaSet is written with the resourceVersion its last write answered (two writes in one sync).
    const versions = new Map<string, string>();
    for (const a of plan.actions) {
      switch (a.kind) {
        case 'event':
          this.#events.event(dObj, a.type, a.reason, a.message);
          break;
        case 'createReplicaSet':
          try {
            await this.#client.create(rsInfo, namespace, a.rs as unknown as KObject);
          } catch (err) {
            await this.#createFailed(cached, a.rs, err);
            throw err;
          }
          break;
        case 'updateReplicaSet': {
          const name = a.rs.metadata!.name!;
          const body = structuredClone(a.rs) as unknown as KObject;
          body.metadata.resourceVersion = versions.get(name) ?? a.rs.metadata?.resourceVersion;
          const out = await this.#client.update(rsInfo, body);
          versions.set(name, out.metadata.resourceVersion!);
          break;
        }
        case 'deleteReplicaSet':
          await this.#ignoreNotFound(this.#client.request('DELETE', `/apis/apps/v1/namespaces/${namespace}/replicasets/${a.rs.metadata!.name}`,
            { kind: 'DeleteOptions', apiVersion: 'v1', preconditions: { uid: a.rs.metadata!.uid } }));
          break;
        case 'adoptReplicaSet': {
          // RecheckDeletionTimestamp: adopt only for a Deployment that is not being deleted now.
          const fresh = await this.#client.get(deploymentsInfo, namespace, cached.metadata!.name!);
          // ClaimReplicaSets fails and the sync stops: the rest of the plan counted this ReplicaSet as ours.
          if (fresh.metadata.uid !== cached.metadata!.uid || fresh.metadata.deletionTimestamp) {
            throw new Error(`not adopting replica sets for deployment ${namespace}/${cached.metadata!.name}: it is being deleted or was replaced`);
          }
          const ref = a.rs.metadata!.ownerReferences!.find((r) => r.uid === cached.metadata!.uid);
          await this.#ignoreNotFound(this.#client.patch(rsInfo, namespace, a.rs.metadata!.name!,
            { metadata: { ownerReferences: [ref], uid: a.rs.metadata!.uid } }, 'strategic'));
          break;
        }
        case 'releaseReplicaSet':
          await this.#ignoreNotFound(this.#client.patch(rsInfo, namespace, a.rs.metadata!.name!,
            { metadata: { ownerReferences: [{ $patch: 'delete', uid: cached.metadata!.uid }], uid: a.rs.metadata!.uid } }, 'strategic'));
          break;
      }
    }
    if (plan.status) await this.#writeStatus(key, plan.status);
    if (plan.requeueAfterMs !== undefined) this.#queue.addAfter(key, plan.requeueAfterMs);
  }

  /** getNewReplicaSet's failure branch: Progressing False with ReplicaSetCreateError and a Warning. */
  async #createFailed(d: Deployment, rs: ReplicaSet, err: unknown): Promise<void> {
    if (err instanceof StatusError && err.code === 409) return; // our cache is behind; the next sync finds it
    if (err instanceof StatusError && err.details?.causes?.some((c) => c.reason === 'NamespaceTerminating')) return;
    const msg = `Failed to create new replica set "${rs.metadata?.name}": ${err instanceof Error ? err.message : String(err)}`;
    this.#events.event(d as unknown as KObject, 'Warning', reasons.failedRSCreate, msg);
    if (!hasProgressDeadline(d)) return;
    const next = structuredClone(d);
    const status = (next.status ??= {});
    setCondition(status, newCondition('Progressing', 'False', reasons.failedRSCreate, msg, this.#now()));
    await this.#client.update(deploymentsInfo, next as unknown as KObject, 'status').catch(() => {});
  }

  async #writeStatus(key: string, d: Deployment): Promise<void> {
    try {
      await this.#client.update(deploymentsInfo, d as unknown as KObject, 'status');
    } catch (err) {
      if (err instanceof StatusError && err.code === 404) return;
      // Our copy was behind: the informer brings the newer one and that syncs again.
      if (err instanceof StatusError && err.code === 409) { this.#queue.addAfter(key, 100); return; }
      throw err;
    }
  }

  async #ignoreNotFound(p: Promise<unknown>): Promise<void> {
    try { await p; } catch (err) { if (!(err instanceof StatusError && err.code === 404)) throw err; }
  }
}
