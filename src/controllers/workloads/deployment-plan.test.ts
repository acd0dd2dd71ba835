import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Deployment, ReplicaSet } from 'kubernetes-types/apps/v1.d.ts';
import type { Pod } from 'kubernetes-types/core/v1.d.ts';
import { type DeploymentAction, type DeploymentPlan, planDeployment } from './deployment-plan.ts';
import { computeHash, maxSurge, maxUnavailable, resolveFenceposts, setNewReplicaSetAnnotations } from './deployment-util.ts';

const t0 = Date.parse('2026-01-01T00:00:00Z');
const at = (s: number) => new Date(t0 + s * 1000);
const iso = (s: number) => at(s).toISOString().replace(/\.\d{3}Z$/, 'Z');

function deployment(f: (d: Deployment & { spec: NonNullable<Deployment['spec']> }) => void = () => {}): Deployment {
  const d = {
    apiVersion: 'apps/v1', kind: 'Deployment',
    metadata: { name: 'web', namespace: 'default', uid: 'd-uid', generation: 1, creationTimestamp: iso(0) },
    spec: {
      replicas: 3, selector: { matchLabels: { app: 'web' } },
      template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'v1' }] } },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } },
      revisionHistoryLimit: 10, progressDeadlineSeconds: 600,
    },
    status: {},
  } as Deployment & { spec: NonNullable<Deployment['spec']> };
  f(d);
  return d;
}

const kinds = (p: DeploymentPlan) => p.actions.map((a) => (a.kind === 'event' ? `event:${a.message}` : `${a.kind}:${a.rs.metadata?.name}:${a.rs.spec?.replicas}`));

/**
 * A tiny cluster for rollouts: applies a plan's ReplicaSet writes, then lets the ReplicaSet
 * controller and kubelets catch up — every pod a ReplicaSet wants exists at once and becomes
 * available `readyAfter` syncs later.
 */
class FakeCluster {
  d: Deployment;
  rss: ReplicaSet[] = [];
  #clock = 1;
  #uid = 0;
  /** name → list of pod ages (in syncs) */
  #pods = new Map<string, number[]>();

  readonly readyAfter: number;

  constructor(d: Deployment, readyAfter = 1) { this.d = d; this.readyAfter = readyAfter; }

  sync(): DeploymentPlan {
    const plan = planDeployment({ deployment: this.d, replicaSets: this.rss, pods: [], now: at(this.#clock++) });
    for (const a of plan.actions) this.#apply(a);
    if (plan.status) this.d = { ...this.d, metadata: plan.status.metadata, status: plan.status.status };
    this.#kubelet();
    return plan;
  }

  #apply(a: DeploymentAction): void {
    if (a.kind === 'event') return;
    const rs = structuredClone(a.rs);
    if (a.kind === 'createReplicaSet') {
      Object.assign(rs.metadata!, { uid: `rs-${++this.#uid}`, creationTimestamp: iso(this.#clock), generation: 1 });
      Object.assign(rs, { status: { replicas: 0, observedGeneration: 1 } });
      this.rss.push(rs);
    } else if (a.kind === 'updateReplicaSet') {
      const i = this.rss.findIndex((x) => x.metadata?.name === rs.metadata?.name);
      this.rss[i] = { ...this.rss[i]!, metadata: rs.metadata, spec: rs.spec };
    } else if (a.kind === 'deleteReplicaSet') {
      this.rss = this.rss.filter((x) => x.metadata?.name !== rs.metadata?.name);
    }
  }

  #kubelet(): void {
    for (const rs of this.rss) {
      const name = rs.metadata!.name!;
      const want = rs.spec?.replicas ?? 0;
      let ages = (this.#pods.get(name) ?? []).map((x) => x + 1);
      // Scale down removes the youngest first (not ready before ready, newer before older).
      ages.sort((a, b) => b - a);
      ages = ages.slice(0, want);
      while (ages.length < want) ages.push(0);
      this.#pods.set(name, ages);
      const available = ages.filter((x) => x >= this.readyAfter).length;
      Object.assign(rs, { status: { replicas: ages.length, readyReplicas: available, availableReplicas: available, observedGeneration: rs.metadata?.generation } });
    }
  }

  wanted(): number { return this.rss.reduce((n, rs) => n + (rs.spec?.replicas ?? 0), 0); }
  available(): number { return this.rss.reduce((n, rs) => n + (rs.status?.availableReplicas ?? 0), 0); }
}

describe('deployment fenceposts (ResolveFenceposts)', () => {
  const cases: [surge: number | string, unavailable: number | string, desired: number, want: [number, number]][] = [
    ['25%', '25%', 3, [1, 0]],
    ['25%', '25%', 4, [1, 1]],
    ['25%', '25%', 10, [3, 2]],
    [0, 0, 5, [0, 1]],
    ['0%', '10%', 5, [0, 1]], // both round to 0: maxUnavailable becomes 1
    [2, '50%', 5, [2, 2]],
    ['100%', 0, 1, [1, 0]],
  ];
  for (const [surge, unavailable, desired, want] of cases) {
    it(`maxSurge ${surge}, maxUnavailable ${unavailable} of ${desired} → ${want.join('/')}`, () => {
      assert.deepEqual(resolveFenceposts(surge, unavailable, desired), want);
    });
  }
  it('Recreate has neither; maxUnavailable never exceeds the replicas', () => {
    assert.equal(maxSurge(deployment((d) => { d.spec.strategy = { type: 'Recreate' }; })), 0);
    assert.equal(maxUnavailable(deployment((d) => { d.spec.replicas = 2; d.spec.strategy!.rollingUpdate = { maxSurge: 0, maxUnavailable: 5 }; })), 2);
    assert.equal(maxUnavailable(deployment((d) => { d.spec.replicas = 0; })), 0);
  });
});

describe('pod-template-hash (ComputeHash)', () => {
  it('is kube-shaped, stable under key order and nulls, and changes with the template and collision count', () => {
    const t = deployment().spec!.template;
    const h = computeHash(t, undefined);
    assert.match(h, /^[bcdfghjklmnpqrstvwxz2456789]{6,10}$/);
    assert.equal(computeHash({ spec: t.spec, metadata: { creationTimestamp: null, labels: { app: 'web' } } as never }, undefined), h);
    assert.notEqual(computeHash({ ...t, spec: { containers: [{ name: 'c', image: 'v2' }] } }, undefined), h);
    assert.notEqual(computeHash(t, 1), h);
  });
});

describe('revision annotations (SetNewReplicaSetAnnotations)', () => {
  it('raises the revision of a reused ReplicaSet and keeps the one it replaced in revision-history', () => {
    const rs: ReplicaSet = { metadata: { annotations: { 'deployment.kubernetes.io/revision': '1' } } };
    const d = deployment((x) => { x.metadata!.annotations = { 'kubernetes.io/change-cause': 'undo', 'deployment.kubernetes.io/revision': '2' }; });
    assert.equal(setNewReplicaSetAnnotations(d, rs, 3, true), true);
    assert.deepEqual(rs.metadata!.annotations, {
      'deployment.kubernetes.io/revision': '3', 'deployment.kubernetes.io/revision-history': '1', 'kubernetes.io/change-cause': 'undo',
    });
    assert.equal(setNewReplicaSetAnnotations(d, rs, 3, true), false, 'nothing new the second time');
    setNewReplicaSetAnnotations(d, rs, 5, true);
    assert.equal(rs.metadata!.annotations!['deployment.kubernetes.io/revision-history'], '1,3');
  });
});

describe('planDeployment', () => {
  it('counts a collision when its own ReplicaSet of the new name had its template edited (getNewReplicaSet), instead of creating it again', () => {
    const first = planDeployment({ deployment: deployment(), replicaSets: [], pods: [], now: at(1) });
    const rs = structuredClone((first.actions[0] as { rs: ReplicaSet }).rs);
    Object.assign(rs.metadata!, { uid: 'rs-1' });
    rs.spec!.template!.spec!.containers[0]!.image = 'edited-by-hand';
    const plan = planDeployment({ deployment: deployment(), replicaSets: [rs], pods: [], now: at(2) });
    assert.ok(!plan.actions.some((a) => a.kind === 'createReplicaSet'), JSON.stringify(kinds(plan)));
    assert.equal(plan.status?.status?.collisionCount, 1);
  });
  it('creates the first ReplicaSet as kube does: hash label and selector, owner, annotations, all replicas at once', () => {
    const plan = planDeployment({ deployment: deployment(), replicaSets: [], pods: [], now: at(1) });
    const hash = computeHash(deployment().spec!.template, undefined);
    assert.deepEqual(kinds(plan), [`createReplicaSet:web-${hash}:3`, `event:Scaled up replica set web-${hash} from 0 to 3`]);
    const rs = (plan.actions[0] as { rs: ReplicaSet }).rs;
    assert.deepEqual(rs.metadata, {
      name: `web-${hash}`, namespace: 'default',
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: 'd-uid', controller: true, blockOwnerDeletion: true }],
      labels: { app: 'web', 'pod-template-hash': hash },
      annotations: { 'deployment.kubernetes.io/revision': '1', 'deployment.kubernetes.io/desired-replicas': '3', 'deployment.kubernetes.io/max-replicas': '4' },
    });
    assert.deepEqual(rs.spec?.selector, { matchLabels: { app: 'web', 'pod-template-hash': hash } });
    assert.deepEqual(rs.spec?.template?.metadata?.labels, { app: 'web', 'pod-template-hash': hash });
    assert.equal(plan.status?.metadata?.annotations?.['deployment.kubernetes.io/revision'], '1');
    assert.deepEqual(plan.status?.status?.conditions?.map((c) => [c.type, c.status, c.reason, c.message]), [
      ['Progressing', 'True', 'NewReplicaSetCreated', `Created new replica set "web-${hash}"`],
      ['Available', 'False', 'MinimumReplicasUnavailable', 'Deployment does not have minimum availability.'],
    ]);
    assert.equal(plan.status?.status?.observedGeneration, 1);
  });

  it('reports a finished rollout as NewReplicaSetAvailable / MinimumReplicasAvailable with every count', () => {
    const c = new FakeCluster(deployment());
    for (let i = 0; i < 4; i++) c.sync();
    const s = c.d.status!;
    assert.deepEqual({ ...s, conditions: undefined }, { observedGeneration: 1, replicas: 3, updatedReplicas: 3, readyReplicas: 3, availableReplicas: 3, conditions: undefined });
    // Progressing is re-added on each step of progress, so it ends up after Available, as on a real cluster.
    assert.deepEqual(s.conditions?.map((x) => [x.type, x.status, x.reason]), [
      ['Available', 'True', 'MinimumReplicasAvailable'], ['Progressing', 'True', 'NewReplicaSetAvailable'],
    ]);
    assert.equal(c.sync().status, undefined, 'nothing to write once settled');
  });

  const rollouts: { name: string; replicas: number; surge: number | string; unavailable: number | string; readyAfter: number }[] = [
    { name: '3 replicas at 25%/25% (surge 1, unavailable 0)', replicas: 3, surge: '25%', unavailable: '25%', readyAfter: 1 },
    { name: '10 replicas, surge 3, unavailable 2', replicas: 10, surge: 3, unavailable: 2, readyAfter: 2 },
    { name: '4 replicas, surge 0, unavailable 1 (replace in place)', replicas: 4, surge: 0, unavailable: 1, readyAfter: 1 },
    { name: '5 replicas, surge 100%, unavailable 0 (blue-green)', replicas: 5, surge: '100%', unavailable: 0, readyAfter: 3 },
  ];
  for (const r of rollouts) {
    it(`rolls a new template out within maxSurge and maxUnavailable at every step: ${r.name}`, () => {
      const c = new FakeCluster(deployment((d) => { d.spec.replicas = r.replicas; d.spec.strategy!.rollingUpdate = { maxSurge: r.surge, maxUnavailable: r.unavailable }; }), r.readyAfter);
      for (let i = 0; i < 10; i++) c.sync();
      assert.equal(c.available(), r.replicas);
      const [surge, unavailable] = resolveFenceposts(r.surge, r.unavailable, r.replicas);
      c.d = { ...c.d, metadata: { ...c.d.metadata, generation: 2 }, spec: { ...c.d.spec!, template: { ...c.d.spec!.template, spec: { containers: [{ name: 'c', image: 'v2' }] } } } };
      for (let i = 0; i < 60; i++) {
        c.sync();
        assert.ok(c.wanted() <= r.replicas + surge, `step ${i}: ${c.wanted()} pods wanted`);
        assert.ok(c.available() >= r.replicas - unavailable, `step ${i}: only ${c.available()} available`);
      }
      const [oldRS, newRS] = c.rss;
      assert.equal(oldRS?.spec?.replicas, 0);
      assert.equal(newRS?.spec?.replicas, r.replicas);
      assert.equal(newRS?.metadata?.annotations?.['deployment.kubernetes.io/revision'], '2');
      assert.equal(c.d.metadata?.annotations?.['deployment.kubernetes.io/revision'], '2');
      assert.equal(c.d.status?.updatedReplicas, r.replicas);
      assert.equal(c.d.status?.conditions?.find((x) => x.type === 'Progressing')?.reason, 'NewReplicaSetAvailable');
    });
  }

  it('takes one rolling step as reconcileNewReplicaSet and reconcileOldReplicaSets compute it', () => {
    // 10 replicas, surge 3, unavailable 2; the old ReplicaSet has 10 available, the new one 3 not yet available.
    const d = deployment((x) => { x.spec.replicas = 10; x.spec.strategy!.rollingUpdate = { maxSurge: 3, maxUnavailable: 2 }; x.spec.template!.spec!.containers[0]!.image = 'v2'; });
    const old: ReplicaSet = {
      metadata: { name: 'web-old', namespace: 'default', uid: 'o', creationTimestamp: iso(0), ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: 'd-uid', controller: true }],
        labels: { app: 'web' }, annotations: { 'deployment.kubernetes.io/revision': '1', 'deployment.kubernetes.io/desired-replicas': '10', 'deployment.kubernetes.io/max-replicas': '13' } },
      spec: { replicas: 10, selector: { matchLabels: { app: 'web' } }, template: deployment().spec!.template },
      status: { replicas: 10, availableReplicas: 10, readyReplicas: 10 },
    };
    const first = planDeployment({ deployment: d, replicaSets: [old], pods: [], now: at(1) });
    const created = (first.actions[0] as { rs: ReplicaSet }).rs;
    // The new ReplicaSet starts at 3 (the surge); in the same sync the old one goes down by 2 (the unavailability budget).
    assert.deepEqual(kinds(first), [`createReplicaSet:${created.metadata?.name}:3`, `event:Scaled up replica set ${created.metadata?.name} from 0 to 3`,
      'updateReplicaSet:web-old:8', 'event:Scaled down replica set web-old from 10 to 8']);
    const newRS: ReplicaSet = { ...created, metadata: { ...created.metadata, uid: 'n', creationTimestamp: iso(1) }, status: { replicas: 3 } };
    const old8: ReplicaSet = { ...old, spec: { ...old.spec!, replicas: 8 }, status: { replicas: 8, availableReplicas: 8, readyReplicas: 8 } };
    const next = { ...d, metadata: first.status!.metadata, status: first.status!.status };
    // 11 wanted of 13 allowed: the new ReplicaSet takes the 2 freed by the old one, available or not.
    assert.deepEqual(kinds(planDeployment({ deployment: next, replicaSets: [old8, newRS], pods: [], now: at(2) })),
      [`updateReplicaSet:${created.metadata?.name}:5`, `event:Scaled up replica set ${created.metadata?.name} from 3 to 5`]);
    // 13 wanted, 2 new available: 10 available, 8 is the floor, so 2 old pods go.
    const new5: ReplicaSet = { ...newRS, spec: { ...newRS.spec!, replicas: 5 }, status: { replicas: 5, availableReplicas: 2, readyReplicas: 2 } };
    assert.deepEqual(kinds(planDeployment({ deployment: next, replicaSets: [old8, new5], pods: [], now: at(3) })),
      ['updateReplicaSet:web-old:6', 'event:Scaled down replica set web-old from 8 to 6']);
    // None of the new pods available: the floor is held, nothing moves.
    const new5cold: ReplicaSet = { ...new5, status: { replicas: 5 } };
    assert.deepEqual(kinds(planDeployment({ deployment: next, replicaSets: [old8, new5cold], pods: [], now: at(3) })), []);
  });

  it('scales proportionally when the replica count changes in the middle of a rollout (a scaling event)', () => {
    const tmpl = (image: string) => ({ metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image }] } });
    const owner = [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: 'd-uid', controller: true }];
    const ann = (rev: string) => ({ 'deployment.kubernetes.io/revision': rev, 'deployment.kubernetes.io/desired-replicas': '10', 'deployment.kubernetes.io/max-replicas': '13' });
    const old: ReplicaSet = { metadata: { name: 'web-a', namespace: 'default', uid: 'a', creationTimestamp: iso(0), ownerReferences: owner, labels: { app: 'web' }, annotations: ann('1') },
      spec: { replicas: 8, selector: { matchLabels: { app: 'web' } }, template: tmpl('v1') }, status: { replicas: 8, availableReplicas: 8 } };
    const cur: ReplicaSet = { metadata: { name: 'web-b', namespace: 'default', uid: 'b', creationTimestamp: iso(1), ownerReferences: owner, labels: { app: 'web' }, annotations: ann('2') },
      spec: { replicas: 5, selector: { matchLabels: { app: 'web' } }, template: tmpl('v2') }, status: { replicas: 5, availableReplicas: 2 } };
    // 10 → 20 replicas, surge 3: 13 allowed before, 23 now; +10 split 8:5 → +6 (rounded) and +4.
    const d = deployment((x) => { x.spec.replicas = 20; x.spec.template = tmpl('v2'); x.spec.strategy!.rollingUpdate = { maxSurge: 3, maxUnavailable: 2 }; });
    const plan = planDeployment({ deployment: d, replicaSets: [old, cur], pods: [], now: at(5) });
    assert.deepEqual(kinds(plan).filter((k) => !k.startsWith('event')), ['updateReplicaSet:web-a:14', 'updateReplicaSet:web-b:9']);
    const updated = plan.actions.filter((a) => a.kind === 'updateReplicaSet').map((a) => (a as { rs: ReplicaSet }).rs.metadata?.annotations?.['deployment.kubernetes.io/desired-replicas']);
    assert.deepEqual(updated, ['20', '20']);
  });

  it('Recreate scales the old ReplicaSet to 0 and waits for its pods to be gone before creating the new one', () => {
    const d = deployment((x) => { x.spec.strategy = { type: 'Recreate' }; });
    const c = new FakeCluster(d);
    c.sync();
    c.sync();
    const v2 = { ...c.d, metadata: { ...c.d.metadata, generation: 2 }, spec: { ...c.d.spec!, template: { ...c.d.spec!.template, spec: { containers: [{ name: 'c', image: 'v2' }] } } } };
    const oldRS = c.rss[0]!;
    const pod: Pod = { metadata: { name: 'p', namespace: 'default', ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: oldRS.metadata!.name!, uid: oldRS.metadata!.uid!, controller: true }], deletionTimestamp: iso(2) }, status: { phase: 'Running' } };
    const down = planDeployment({ deployment: v2, replicaSets: c.rss, pods: [pod], now: at(3) });
    assert.deepEqual(kinds(down), [`updateReplicaSet:${oldRS.metadata?.name}:0`, `event:Scaled down replica set ${oldRS.metadata?.name} from 3 to 0`]);
    const stopped: ReplicaSet = { ...oldRS, spec: { ...oldRS.spec!, replicas: 0 }, status: { replicas: 0 } };
    const waiting = planDeployment({ deployment: v2, replicaSets: [stopped], pods: [pod], now: at(4) });
    assert.deepEqual(kinds(waiting), [], 'a terminating old pod still runs');
    const go = planDeployment({ deployment: v2, replicaSets: [stopped], pods: [], now: at(5) });
    assert.match(kinds(go)[0]!, /^createReplicaSet:web-\w+:3$/);
  });

  it('deletes the oldest empty ReplicaSets beyond revisionHistoryLimit once the rollout is complete', () => {
    const c = new FakeCluster(deployment((d) => { d.spec.revisionHistoryLimit = 1; }));
    for (const image of ['v1', 'v2', 'v3']) {
      c.d = { ...c.d, metadata: { ...c.d.metadata, generation: (c.d.metadata?.generation ?? 0) + 1 }, spec: { ...c.d.spec!, template: { ...c.d.spec!.template, spec: { containers: [{ name: 'c', image }] } } } };
      for (let i = 0; i < 15; i++) c.sync();
    }
    assert.deepEqual(c.rss.map((rs) => [rs.spec?.template?.spec?.containers[0]?.image, rs.spec?.replicas]), [['v2', 0], ['v3', 3]]);
  });

  it('reuses the matching old ReplicaSet on a rollback (rollout undo) with the next revision', () => {
    const c = new FakeCluster(deployment());
    for (let i = 0; i < 5; i++) c.sync();
    const v1 = c.d.spec!.template;
    c.d = { ...c.d, metadata: { ...c.d.metadata, generation: 2 }, spec: { ...c.d.spec!, template: { ...v1, spec: { containers: [{ name: 'c', image: 'v2' }] } } } };
    for (let i = 0; i < 8; i++) c.sync();
    // kubectl rollout undo puts the old template back, with creationTimestamp: null in it.
    c.d = { ...c.d, metadata: { ...c.d.metadata, generation: 3 }, spec: { ...c.d.spec!, template: { metadata: { creationTimestamp: null, labels: { app: 'web' } } as never, spec: v1!.spec } } };
    for (let i = 0; i < 8; i++) c.sync();
    assert.equal(c.rss.length, 2);
    assert.deepEqual(c.rss.map((rs) => [rs.spec?.replicas, rs.metadata?.annotations?.['deployment.kubernetes.io/revision'], rs.metadata?.annotations?.['deployment.kubernetes.io/revision-history']]),
      [[3, '3', '1'], [0, '2', undefined]]);
    assert.equal(c.d.metadata?.annotations?.['deployment.kubernetes.io/revision'], '3');
  });

  it('reports ProgressDeadlineExceeded when a rollout makes no progress for progressDeadlineSeconds, and asks to look again before that', () => {
    const c = new FakeCluster(deployment((d) => { d.spec.progressDeadlineSeconds = 60; }), 1000); // pods never become available
    c.sync();
    c.sync();
    const stuck = c.d;
    const progressing = stuck.status?.conditions?.find((x) => x.type === 'Progressing');
    assert.equal(progressing?.reason, 'ReplicaSetUpdated');
    const updated = Date.parse(progressing!.lastUpdateTime!);
    const early = planDeployment({ deployment: stuck, replicaSets: c.rss, pods: [], now: new Date(updated + 30_000) });
    assert.equal(early.status, undefined);
    assert.equal(early.requeueAfterMs, 31_000, 'the deadline, plus a second');
    const late = planDeployment({ deployment: stuck, replicaSets: c.rss, pods: [], now: new Date(updated + 61_000) });
    const cond = late.status?.status?.conditions?.find((x) => x.type === 'Progressing');
    assert.deepEqual([cond?.status, cond?.reason, cond?.message], ['False', 'ProgressDeadlineExceeded', `ReplicaSet "${c.rss[0]!.metadata!.name}" has timed out progressing.`]);
  });

  it('marks a paused Deployment Progressing Unknown (DeploymentPaused) and neither rolls out nor creates', () => {
    const c = new FakeCluster(deployment());
    for (let i = 0; i < 4; i++) c.sync();
    c.d = { ...c.d, metadata: { ...c.d.metadata, generation: 2 }, spec: { ...c.d.spec!, paused: true, template: { ...c.d.spec!.template, spec: { containers: [{ name: 'c', image: 'v2' }] } } } };
    const plan = c.sync();
    assert.deepEqual(kinds(plan), []);
    assert.deepEqual(c.d.status?.conditions?.find((x) => x.type === 'Progressing')?.reason, 'DeploymentPaused');
    assert.equal(c.d.status?.observedGeneration, 2);
  });

  it('adopts an orphan ReplicaSet its selector picks, releases one it no longer picks, ignores one another controller owns', () => {
    const rs = (name: string, labels: Record<string, string>, owner?: string): ReplicaSet => ({
      metadata: { name, namespace: 'default', uid: name, labels, creationTimestamp: iso(0),
        ...(owner ? { ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'x', uid: owner, controller: true }] } : {}) },
      spec: { replicas: 0, selector: { matchLabels: labels }, template: { metadata: { labels }, spec: { containers: [{ name: 'c', image: 'old' }] } } },
    });
    const plan = planDeployment({ deployment: deployment(), replicaSets: [rs('orphan', { app: 'web' }), rs('moved', { app: 'db' }, 'd-uid'), rs('theirs', { app: 'web' }, 'other')], pods: [], now: at(1) });
    const ownership = plan.actions.filter((a) => a.kind === 'adoptReplicaSet' || a.kind === 'releaseReplicaSet').map((a) => `${a.kind}:${(a as { rs: ReplicaSet }).rs.metadata?.name}`);
    assert.deepEqual(ownership, ['adoptReplicaSet:orphan', 'releaseReplicaSet:moved']);
  });
});
