// What one Deployment sync should do (pure). It follows kube's pkg/controller/deployment step by
// step (syncDeployment → sync / rolloutRolling / rolloutRecreate, getNewReplicaSet, scale,
// reconcileNewReplicaSet, reconcileOldReplicaSets, cleanupDeployment, syncRolloutStatus) on
// in-memory copies of the Deployment and its ReplicaSets, recording each write kube would make,
// in order, instead of making it. Later steps see the earlier steps' results, as kube's do.
import type { Deployment, DeploymentStatus, ReplicaSet } from 'kubernetes-types/apps/v1.d.ts';
import type { Pod } from 'kubernetes-types/core/v1.d.ts';
import { jsonEqual } from '../../api/validation/pod.ts';
import {
  actualReplicas, activeReplicaSets, availableReplicas, byCreation, byRevision, bySizeNewer, bySizeOlder, computeHash,
  deploymentComplete, deploymentProgressing, deploymentTimedOut, desiredReplicasAnnotation, findNewReplicaSet, getCondition,
  hasProgressDeadline, isRollingUpdate, k8sTime, maxReplicasAnnotation, maxRevision, maxSurge, maxUnavailable, newCondition,
  normalizeDeploymentStatus, podTemplateHashLabel, readyReplicas, reasons, removeCondition, replicasAnnotationsNeedUpdate,
  replicasOf, revisionAnnotation, scaledValue, setCondition, setDeploymentRevision, setNewReplicaSetAnnotations,
  setReplicasAnnotations, specReplicas,
} from './deployment-util.ts';
import { controllerRefOf, newControllerRef, selectorMatches } from './pods.ts';

export type DeploymentAction =
  | { readonly kind: 'createReplicaSet'; readonly rs: ReplicaSet }
  | { readonly kind: 'updateReplicaSet'; readonly rs: ReplicaSet }
  | { readonly kind: 'deleteReplicaSet'; readonly rs: ReplicaSet }
  /** Set (adopt) or remove (release) our controller reference on a ReplicaSet. */
  | { readonly kind: 'adoptReplicaSet' | 'releaseReplicaSet'; readonly rs: ReplicaSet }
  | { readonly kind: 'event'; readonly type: 'Normal' | 'Warning'; readonly reason: string; readonly message: string };

export interface DeploymentPlan {
  /** ReplicaSet writes and events, in the order kube makes them; stop at the first failed write. */
  readonly actions: DeploymentAction[];
  /** The Deployment to write through /status (new revision annotation, status), when it changed. */
  readonly status: Deployment | undefined;
  /** Look again this much later (a progress deadline to check). */
  readonly requeueAfterMs: number | undefined;
}

export interface DeploymentSyncInput {
  readonly deployment: Deployment;
  /** Every ReplicaSet in the Deployment's namespace, from the cache. */
  readonly replicaSets: readonly ReplicaSet[];
  /** Every pod in the namespace (Recreate waits for the old ones to be gone). */
  readonly pods: readonly Pod[];
  readonly now: Date;
}

const gvk = { apiVersion: 'apps/v1', kind: 'Deployment' } as const;

/** One sync in progress: the working copies and the writes recorded so far. */
class Sync {
  readonly actions: DeploymentAction[] = [];
  readonly d: Deployment;
  readonly now: Date;
  readonly #pods: readonly Pod[];
  readonly #allInNamespace: readonly ReplicaSet[];
  requeueAfterMs: number | undefined;

  constructor(input: DeploymentSyncInput) {
    this.d = structuredClone(input.deployment);
    this.now = input.now;
    this.#pods = input.pods;
    this.#allInNamespace = input.replicaSets;
  }

  event(reason: string, message: string, type: 'Normal' | 'Warning' = 'Normal'): void {
    this.actions.push({ kind: 'event', type, reason, message });
  }

  /** getReplicaSetsForDeployment: claim the ReplicaSets the selector picks (ClaimReplicaSets). */
  claimReplicaSets(): ReplicaSet[] {
    const uid = this.d.metadata?.uid;
    const deleting = Boolean(this.d.metadata?.deletionTimestamp);
    const out: ReplicaSet[] = [];
    for (const cached of this.#allInNamespace) {
      if (cached.metadata?.namespace !== this.d.metadata?.namespace) continue;
      const matches = selectorMatches(this.d.spec?.selector, cached.metadata?.labels);
      const ref = controllerRefOf(cached);
      const rs = structuredClone(cached);
      if (ref) {
        if (ref.uid !== uid) continue;
        if (matches) out.push(rs);
        else if (!deleting) {
          rs.metadata!.ownerReferences = (rs.metadata!.ownerReferences ?? []).filter((r) => r.uid !== uid);
          this.actions.push({ kind: 'releaseReplicaSet', rs });
        }
        continue;
      }
      if (deleting || !matches || rs.metadata?.deletionTimestamp) continue;
      rs.metadata!.ownerReferences = [...(rs.metadata!.ownerReferences ?? []), newControllerRef(this.d, gvk.apiVersion, gvk.kind)];
      this.actions.push({ kind: 'adoptReplicaSet', rs });
      out.push(rs);
    }
    return out;
  }

  /** getAllReplicaSetsAndSyncRevision: the new ReplicaSet (made when `create` and missing) and the old ones. */
  newAndOld(rsList: ReplicaSet[], create: boolean): { newRS: ReplicaSet | undefined; oldRSs: ReplicaSet[] } {
    const existing = findNewReplicaSet(this.d, rsList);
    const oldRSs = rsList.filter((rs) => rs !== existing);
    const newRS = this.#newReplicaSet(existing, rsList, oldRSs, create);
    return { newRS, oldRSs };
  }

  #newReplicaSet(existing: ReplicaSet | undefined, rsList: ReplicaSet[], oldRSs: ReplicaSet[], create: boolean): ReplicaSet | undefined {
    const d = this.d;
    const newRevision = maxRevision(oldRSs) + 1;
    if (existing) {
      const annotationsUpdated = setNewReplicaSetAnnotations(d, existing, newRevision, true);
      const minReadyUpdate = (existing.spec!.minReadySeconds ?? 0) !== (d.spec?.minReadySeconds ?? 0);
      if (annotationsUpdated || minReadyUpdate) {
        existing.spec!.minReadySeconds = d.spec?.minReadySeconds ?? 0;
        if (!existing.spec!.minReadySeconds) delete existing.spec!.minReadySeconds;
        this.actions.push({ kind: 'updateReplicaSet', rs: structuredClone(existing) });
        // kube returns here with the updated ReplicaSet; the Deployment's revision follows next sync.
        return existing;
      }
      setDeploymentRevision(d, existing.metadata?.annotations?.[revisionAnnotation]);
      if (hasProgressDeadline(d) && !getCondition(d.status, 'Progressing')) {
        setCondition(this.#status(), newCondition('Progressing', 'True', reasons.foundNewRS, `Found new replica set "${existing.metadata?.name}"`, this.now));
      }
      return existing;
    }
    if (!create) return undefined;
    const collisionCount = d.status?.collisionCount ?? undefined;
    const hash = computeHash(d.spec?.template, collisionCount);
    const template = structuredClone(d.spec?.template ?? {});
    const labels = { ...(template.metadata?.labels ?? {}), [podTemplateHashLabel]: hash };
    (template.metadata ??= {}).labels = labels;
    const selector = structuredClone(d.spec?.selector ?? {});
    selector.matchLabels = { ...(selector.matchLabels ?? {}), [podTemplateHashLabel]: hash };
    const name = `${d.metadata?.name}-${hash}`;
    // A ReplicaSet of that name is a hash collision (getNewReplicaSet's AlreadyExists branch): had it
    // our template, findNewReplicaSet would have chosen it, so it is someone else's, or ours with a
    // template edited since. Count the collision and try the next name.
    if (this.#allInNamespace.some((rs) => rs.metadata?.name === name)) {
      this.#status().collisionCount = (d.status?.collisionCount ?? 0) + 1;
      this.requeueAfterMs = 0;
      return undefined;
    }
    const rs: ReplicaSet = {
      apiVersion: 'apps/v1', kind: 'ReplicaSet',
      metadata: { name, namespace: d.metadata?.namespace, ownerReferences: [newControllerRef(d, gvk.apiVersion, gvk.kind)], labels: { ...labels } },
      spec: { replicas: 0, selector, template },
    };
    if (d.spec?.minReadySeconds) rs.spec!.minReadySeconds = d.spec.minReadySeconds;
    const replicas = newRSNewReplicas(d, [...oldRSs, rs], rs);
    rs.spec!.replicas = replicas;
    setNewReplicaSetAnnotations(d, rs, newRevision, false);
    this.actions.push({ kind: 'createReplicaSet', rs: structuredClone(rs) });
    if (replicas > 0) this.event('ScalingReplicaSet', `Scaled up replica set ${name} from 0 to ${replicas}`);
    // The working copy stands for what the API server answers: created now, nothing running yet.
    Object.assign(rs.metadata!, { creationTimestamp: k8sTime(this.now) });
    Object.assign(rs, { status: { replicas: 0 } });
    setDeploymentRevision(d, String(newRevision));
    if (hasProgressDeadline(d)) {
      setCondition(this.#status(), newCondition('Progressing', 'True', reasons.newReplicaSet, `Created new replica set "${name}"`, this.now));
    }
    return rs;
  }

  #status(): DeploymentStatus {
    return (this.d.status ??= {});
  }

  /** scaleReplicaSetAndRecordEvent. */
  scaleAndRecord(rs: ReplicaSet, to: number): boolean {
    if (replicasOf(rs) === to) return false;
    return this.scale(rs, to);
  }

  /** scaleReplicaSet: size and replicas annotations in one update; an event when the size changed. */
  scale(rs: ReplicaSet, to: number): boolean {
    const d = this.d;
    const sizeChanges = replicasOf(rs) !== to;
    const max = replicasOf(d) + maxSurge(d);
    if (!sizeChanges && !replicasAnnotationsNeedUpdate(rs, replicasOf(d), max)) return false;
    const from = replicasOf(rs);
    rs.spec!.replicas = to;
    setReplicasAnnotations(rs, replicasOf(d), max);
    this.actions.push({ kind: 'updateReplicaSet', rs: structuredClone(rs) });
    if (sizeChanges) this.event('ScalingReplicaSet', `Scaled ${from < to ? 'up' : 'down'} replica set ${rs.metadata?.name} from ${from} to ${to}`);
    return sizeChanges;
  }

  /** isScalingEvent: an active ReplicaSet was sized for another replica count. */
  isScalingEvent(rsList: ReplicaSet[]): boolean {
    const { newRS, oldRSs } = this.newAndOld(rsList, false);
    for (const rs of activeReplicaSets([...oldRSs, newRS])) {
      const desired = rs.metadata?.annotations?.[desiredReplicasAnnotation];
      if (desired === undefined || !/^\d+$/.test(desired)) continue;
      if (Number(desired) !== replicasOf(this.d)) return true;
    }
    return false;
  }

  /** scale(): resize the active ReplicaSets for a new replica count, proportionally during a rollout. */
  scaleForReplicaCount(newRS: ReplicaSet | undefined, oldRSs: ReplicaSet[]): void {
    const d = this.d;
    const activeOrLatest = findActiveOrLatest(newRS, oldRSs);
    if (activeOrLatest) {
      if (replicasOf(activeOrLatest) !== replicasOf(d)) this.scaleAndRecord(activeOrLatest, replicasOf(d));
      return;
    }
    if (isSaturated(d, newRS)) {
      for (const old of activeReplicaSets(oldRSs)) this.scaleAndRecord(old, 0);
      return;
    }
    if (!isRollingUpdate(d)) return;
    const all = activeReplicaSets([...oldRSs, newRS]);
    const allReplicas = specReplicas(all);
    const allowed = replicasOf(d) > 0 ? replicasOf(d) + maxSurge(d) : 0;
    const toAdd = allowed - allReplicas;
    if (toAdd > 0) all.sort(bySizeNewer);
    else if (toAdd < 0) all.sort(bySizeOlder);
    let added = 0;
    const sizes = new Map<ReplicaSet, number>();
    for (const rs of all) {
      if (toAdd !== 0) {
        const p = proportion(rs, d, toAdd, added);
        sizes.set(rs, replicasOf(rs) + p);
        added += p;
      } else {
        sizes.set(rs, replicasOf(rs));
      }
    }
    all.forEach((rs, i) => {
      if (i === 0 && toAdd !== 0) sizes.set(rs, Math.max(0, sizes.get(rs)! + toAdd - added));
      this.scale(rs, sizes.get(rs)!);
    });
  }

  /** cleanupDeployment: delete the oldest empty ReplicaSets beyond revisionHistoryLimit. */
  cleanup(oldRSs: ReplicaSet[]): void {
    const limit = this.d.spec?.revisionHistoryLimit;
    if (limit === undefined || limit === null) return;
    const cleanable = oldRSs.filter((rs) => !rs.metadata?.deletionTimestamp);
    const diff = cleanable.length - limit;
    if (diff <= 0) return;
    cleanable.sort(byRevision);
    for (const rs of cleanable.slice(0, diff)) {
      if ((rs.status?.replicas ?? 0) !== 0 || replicasOf(rs) !== 0 || (rs.metadata?.generation ?? 0) > (rs.status?.observedGeneration ?? 0)) continue;
      this.actions.push({ kind: 'deleteReplicaSet', rs });
    }
  }

  /** calculateStatus: the counts summed over the ReplicaSets, and the Available condition. */
  calculateStatus(allRSs: (ReplicaSet | undefined)[], newRS: ReplicaSet | undefined): DeploymentStatus {
    const d = this.d;
    const available = availableReplicas(allRSs);
    const unavailable = Math.max(0, specReplicas(allRSs.filter((x) => x !== undefined)) - available);
    const status: DeploymentStatus = {
      observedGeneration: d.metadata?.generation ?? 0,
      replicas: actualReplicas(allRSs),
      updatedReplicas: actualReplicas([newRS]),
      readyReplicas: readyReplicas(allRSs),
      availableReplicas: available,
      unavailableReplicas: unavailable,
      conditions: [...(d.status?.conditions ?? [])],
    };
    if (d.status?.collisionCount !== undefined && d.status.collisionCount !== null) (status as { collisionCount?: number }).collisionCount = d.status.collisionCount;
    if (available >= replicasOf(d) - maxUnavailable(d)) {
      setCondition(status, newCondition('Available', 'True', reasons.minimumAvailable, 'Deployment has minimum availability.', this.now));
    } else {
      setCondition(status, newCondition('Available', 'False', reasons.minimumUnavailable, 'Deployment does not have minimum availability.', this.now));
    }
    return status;
  }

  /** syncDeploymentStatus: the recomputed status, nothing about progress. */
  syncStatus(allRSs: (ReplicaSet | undefined)[], newRS: ReplicaSet | undefined): void {
    this.d.status = this.calculateStatus(allRSs, newRS);
  }

  /** syncRolloutStatus: the status with the Progressing condition estimated. */
  syncRolloutStatus(allRSs: (ReplicaSet | undefined)[], newRS: ReplicaSet | undefined): void {
    const d = this.d;
    const status = this.calculateStatus(allRSs, newRS);
    if (!hasProgressDeadline(d)) removeCondition(status, 'Progressing');
    const current = getCondition(d.status, 'Progressing');
    const complete = (status.replicas ?? 0) === (status.updatedReplicas ?? 0) && current?.reason === reasons.newRSAvailable;
    if (hasProgressDeadline(d) && !complete) {
      const rsName = newRS?.metadata?.name;
      if (deploymentComplete(d, status)) {
        const msg = rsName ? `ReplicaSet "${rsName}" has successfully progressed.` : `Deployment "${d.metadata?.name}" has successfully progressed.`;
        setCondition(status, newCondition('Progressing', 'True', reasons.newRSAvailable, msg, this.now));
      } else if (deploymentProgressing(d, status)) {
        const msg = rsName ? `ReplicaSet "${rsName}" is progressing.` : `Deployment "${d.metadata?.name}" is progressing.`;
        let c = newCondition('Progressing', 'True', reasons.replicaSetUpdated, msg, this.now);
        // Progress refreshes lastUpdateTime even with the same reason; the transition time stays while True.
        if (current) {
          if (current.status === 'True') c = { ...c, lastTransitionTime: current.lastTransitionTime };
          removeCondition(status, 'Progressing');
        }
        setCondition(status, c);
      } else if (deploymentTimedOut(d, status, this.now)) {
        const msg = rsName ? `ReplicaSet "${rsName}" has timed out progressing.` : `Deployment "${d.metadata?.name}" has timed out progressing.`;
        setCondition(status, newCondition('Progressing', 'False', reasons.timedOut, msg, this.now));
      }
    }
    const failure = replicaFailure(allRSs, newRS);
    if (failure) setCondition(status, failure);
    else removeCondition(status, 'ReplicaFailure');
    if (jsonEqual(normalizeDeploymentStatus(d.status ?? {}), normalizeDeploymentStatus(status))) {
      this.requeueAfterMs = requeueStuck(d, status, this.now);
      return;
    }
    d.status = status;
  }

  /** checkPausedConditions: Progressing Unknown with DeploymentPaused / DeploymentResumed. */
  checkPaused(): void {
    const d = this.d;
    if (!hasProgressDeadline(d)) return;
    const c = getCondition(d.status, 'Progressing');
    if (c?.reason === reasons.timedOut) return;
    const pausedCond = c?.reason === reasons.paused;
    if (d.spec?.paused && !pausedCond) {
      setCondition(this.#status(), newCondition('Progressing', 'Unknown', reasons.paused, 'Deployment is paused', this.now));
    } else if (!d.spec?.paused && pausedCond) {
      setCondition(this.#status(), newCondition('Progressing', 'Unknown', reasons.resumed, 'Deployment is resumed', this.now));
    }
  }

  /** sync(): scaling and paused Deployments. */
  sync(rsList: ReplicaSet[]): void {
    const { newRS, oldRSs } = this.newAndOld(rsList, false);
    this.scaleForReplicaCount(newRS, oldRSs);
    if (this.d.spec?.paused) this.cleanup(oldRSs);
    this.syncStatus([...oldRSs, newRS], newRS);
  }

  /** rolloutRolling. */
  rolloutRolling(rsList: ReplicaSet[]): void {
    const { newRS, oldRSs } = this.newAndOld(rsList, true);
    if (!newRS) return; // a hash collision was recorded; try again
    const all = [...oldRSs, newRS];
    if (this.#reconcileNew(all, newRS)) return this.syncRolloutStatus(all, newRS);
    if (this.#reconcileOld(all, activeReplicaSets(oldRSs), newRS)) return this.syncRolloutStatus(all, newRS);
    if (deploymentComplete(this.d, this.d.status ?? {})) this.cleanup(oldRSs);
    this.syncRolloutStatus(all, newRS);
  }

  #reconcileNew(all: ReplicaSet[], newRS: ReplicaSet): boolean {
    const want = replicasOf(this.d);
    if (replicasOf(newRS) === want) return false;
    if (replicasOf(newRS) > want) return this.scaleAndRecord(newRS, want);
    return this.scaleAndRecord(newRS, newRSNewReplicas(this.d, all, newRS));
  }

  /** reconcileOldReplicaSets: scale old ReplicaSets down as far as maxUnavailable allows, unhealthy replicas first. */
  #reconcileOld(all: ReplicaSet[], oldRSs: ReplicaSet[], newRS: ReplicaSet): boolean {
    const d = this.d;
    if (specReplicas(oldRSs) === 0) return false;
    const allPods = specReplicas(all);
    const minAvailable = replicasOf(d) - maxUnavailable(d);
    const newUnavailable = replicasOf(newRS) - (newRS.status?.availableReplicas ?? 0);
    const maxScaledDown = allPods - minAvailable - newUnavailable;
    if (maxScaledDown <= 0) return false;
    // cleanupUnhealthyReplicas: first the replicas that are not available anyway.
    oldRSs.sort(byCreation);
    let cleaned = 0;
    for (const rs of oldRSs) {
      if (cleaned >= maxScaledDown) break;
      if (replicasOf(rs) === 0) continue;
      const avail = rs.status?.availableReplicas ?? 0;
      if (replicasOf(rs) === avail) continue;
      const down = Math.min(maxScaledDown - cleaned, replicasOf(rs) - avail);
      this.scaleAndRecord(rs, replicasOf(rs) - down);
      cleaned += down;
    }
    // scaleDownOldReplicaSetsForRollingUpdate: then as many available ones as keep minAvailable.
    let scaledDown = 0;
    const availableNow = availableReplicas([...oldRSs, newRS]);
    if (availableNow > minAvailable) {
      const total = availableNow - minAvailable;
      oldRSs.sort(byCreation);
      for (const rs of oldRSs) {
        if (scaledDown >= total) break;
        if (replicasOf(rs) === 0) continue;
        const down = Math.min(replicasOf(rs), total - scaledDown);
        this.scaleAndRecord(rs, replicasOf(rs) - down);
        scaledDown += down;
      }
    }
    return cleaned + scaledDown > 0;
  }

  /** rolloutRecreate: every old pod gone before the new ReplicaSet is scaled up. */
  rolloutRecreate(rsList: ReplicaSet[]): void {
    let { newRS, oldRSs } = this.newAndOld(rsList, false);
    let all: (ReplicaSet | undefined)[] = [...oldRSs, newRS];
    let scaledDown = false;
    for (const rs of activeReplicaSets(oldRSs)) if (this.scaleAndRecord(rs, 0)) scaledDown = true;
    if (scaledDown) return this.syncRolloutStatus(all, newRS);
    if (this.#oldPodsRunning(newRS, oldRSs, rsList)) return this.syncRolloutStatus(all, newRS);
    if (!newRS) {
      ({ newRS, oldRSs } = this.newAndOld(rsList, true));
      if (!newRS) return;
      all = [...oldRSs, newRS];
    }
    this.scaleAndRecord(newRS, replicasOf(this.d));
    if (deploymentComplete(this.d, this.d.status ?? {})) this.cleanup(oldRSs);
    this.syncRolloutStatus(all, newRS);
  }

  /** oldPodsRunning: old ReplicaSets still count replicas, or a pod of one is not finished. */
  #oldPodsRunning(newRS: ReplicaSet | undefined, oldRSs: ReplicaSet[], rsList: ReplicaSet[]): boolean {
    if (actualReplicas(oldRSs) > 0) return true;
    const owners = new Set(rsList.filter((rs) => rs !== newRS).map((rs) => rs.metadata?.uid));
    return this.#pods.some((p) => {
      const ref = controllerRefOf(p);
      if (!ref || !owners.has(ref.uid)) return false;
      return p.status?.phase !== 'Failed' && p.status?.phase !== 'Succeeded';
    });
  }
}

/** NewRSNewReplicas: how far the new ReplicaSet may grow now (RollingUpdate: within maxSurge). */
export function newRSNewReplicas(d: Deployment, all: ReplicaSet[], newRS: ReplicaSet): number {
  if (!isRollingUpdate(d)) return replicasOf(d);
  const surge = scaledValue(d.spec?.strategy?.rollingUpdate?.maxSurge, replicasOf(d), true);
  const current = specReplicas(all);
  const maxTotal = replicasOf(d) + surge;
  if (current >= maxTotal) return replicasOf(newRS);
  return replicasOf(newRS) + Math.min(maxTotal - current, replicasOf(d) - replicasOf(newRS));
}

/** FindActiveOrLatest: the one active ReplicaSet, or the newest when none is active; undefined for several. */
function findActiveOrLatest(newRS: ReplicaSet | undefined, oldRSs: ReplicaSet[]): ReplicaSet | undefined {
  if (!newRS && oldRSs.length === 0) return undefined;
  const sortedOld = [...oldRSs].sort(byCreation).reverse();
  const active = activeReplicaSets([...sortedOld, newRS]);
  if (active.length === 0) return newRS ?? sortedOld[0];
  return active.length === 1 ? active[0] : undefined;
}

/** IsSaturated: the new ReplicaSet is full size, sized for this count, and all of it available. */
function isSaturated(d: Deployment, rs: ReplicaSet | undefined): boolean {
  if (!rs) return false;
  const desired = rs.metadata?.annotations?.[desiredReplicasAnnotation];
  if (desired === undefined || !/^\d+$/.test(desired)) return false;
  return replicasOf(rs) === replicasOf(d) && Number(desired) === replicasOf(d) && (rs.status?.availableReplicas ?? 0) === replicasOf(d);
}

/** Go's math.Round: halves away from zero. */
const goRound = (x: number): number => Math.sign(x) * Math.round(Math.abs(x));

/** GetReplicaSetProportion / getReplicaSetFraction: this ReplicaSet's share of a resize. */
function proportion(rs: ReplicaSet, d: Deployment, toAdd: number, added: number): number {
  if (replicasOf(rs) === 0 || toAdd === 0 || toAdd === added) return 0;
  let fraction: number;
  if (replicasOf(d) === 0) {
    fraction = -replicasOf(rs);
  } else {
    const maxNow = replicasOf(d) + maxSurge(d);
    const annotated = rs.metadata?.annotations?.[maxReplicasAnnotation];
    let before = annotated !== undefined && /^\d+$/.test(annotated) ? Number(annotated) : 0;
    if (before === 0) before = d.status?.replicas || maxNow;
    fraction = goRound((replicasOf(rs) * maxNow) / before) - replicasOf(rs);
  }
  const allowed = toAdd - added;
  return toAdd > 0 ? Math.min(fraction, allowed) : Math.max(fraction, allowed);
}

/** getReplicaFailures: the new ReplicaSet's ReplicaFailure condition, else the first old one's. */
function replicaFailure(all: (ReplicaSet | undefined)[], newRS: ReplicaSet | undefined) {
  const fromRS = (rs: ReplicaSet | undefined) => {
    const c = rs?.status?.conditions?.find((x) => x.type === 'ReplicaFailure');
    return c && { type: 'ReplicaFailure', status: c.status, lastUpdateTime: c.lastTransitionTime, lastTransitionTime: c.lastTransitionTime, reason: c.reason, message: c.message };
  };
  const mine = fromRS(newRS);
  if (mine) return mine;
  for (const rs of all) {
    if (rs === newRS) continue;
    const c = fromRS(rs);
    if (c) return c;
  }
  return undefined;
}

/** requeueStuckDeployment: when to look again for a progress deadline, if the rollout is under way. */
function requeueStuck(d: Deployment, status: DeploymentStatus, now: Date): number | undefined {
  const c = getCondition(d.status, 'Progressing');
  if (!hasProgressDeadline(d) || !c) return undefined;
  if (deploymentComplete(d, status) || c.reason === reasons.timedOut) return undefined;
  const after = Date.parse(c.lastUpdateTime ?? '') + (d.spec?.progressDeadlineSeconds ?? 600) * 1000 - now.getTime();
  if (Number.isNaN(after)) return undefined;
  return after < 1000 ? 1000 : after + 1000;
}

/**
 * Plans one sync of a Deployment (syncDeployment) from the cache: the ReplicaSet writes and the
 * status write kube's controller would make. Never throws.
 */
export function planDeployment(input: DeploymentSyncInput): DeploymentPlan {
  const s = new Sync(input);
  const rsList = s.claimReplicaSets();
  const d = s.d;
  if (d.metadata?.deletionTimestamp) {
    const { newRS, oldRSs } = s.newAndOld(rsList, false);
    s.syncStatus([...oldRSs, newRS], newRS);
  } else {
    s.checkPaused();
    if (d.spec?.paused) s.sync(rsList);
    else if (s.isScalingEvent(rsList)) s.sync(rsList);
    else if (d.spec?.strategy?.type === 'Recreate') s.rolloutRecreate(rsList);
    else s.rolloutRolling(rsList);
  }
  const original = input.deployment;
  const changed = !jsonEqual(normalizeDeploymentStatus(original.status ?? {}), normalizeDeploymentStatus(d.status ?? {})) ||
    !jsonEqual(original.metadata?.annotations ?? {}, d.metadata?.annotations ?? {});
  if (changed) d.status = normalizeDeploymentStatus(d.status ?? {});
  return { actions: s.actions, status: changed ? d : undefined, requeueAfterMs: s.requeueAfterMs };
}
