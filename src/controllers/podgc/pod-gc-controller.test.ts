// The pod garbage collector against the in-process API server, with a fake clock and passes driven
// by the test: an orphaned pod is kept through the quarantine and then marked and force-deleted, a
// pod on a live node is left alone, a terminating pod on a dead out-of-service node and an
// unscheduled terminating pod are force-deleted. The client records the writes, to check their order.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Pod } from 'kubernetes-types/core/v1.d.ts';
import type { KObject } from '../../api/object.ts';
import { resources, type ResourceInfo } from '../../api/resources.ts';
import { KubeClient, type ListQuery, type ObjectList, type WatchEvent } from '../../client/rest-client.ts';
import { type InProcessApiServer, startInProcessApiServer } from '../../apiserver/in-process.ts';
import { until } from '../../util/test-wait.ts';
import { PodGcController, type PodGcTimers } from './index.ts';

const r = (name: string) => resources.find((x) => x.resource === name)!;
const T0 = Date.parse('2025-03-01T12:00:00Z');

/**
 * A client that notes every pod write the controller makes, in order, and hides the node `hidden`
 * from lists and watches (a node the informer has not caught up with).
 */
class RecordingClient extends KubeClient {
  readonly writes: string[] = [];
  override async list(res: ResourceInfo, namespace?: string, q: ListQuery = {}): Promise<ObjectList> {
    const l = await super.list(res, namespace, q);
    return res.resource === 'nodes' ? { ...l, items: l.items.filter((o) => o.metadata.name !== 'hidden') } : l;
  }
  override watch(res: ResourceInfo, namespace: string | undefined, q: Parameters<KubeClient['watch']>[2], onEvent: (ev: WatchEvent) => void, signal?: AbortSignal): Promise<void> {
    return super.watch(res, namespace, q, (ev) => { if (!(res.resource === 'nodes' && ev.object.metadata?.name === 'hidden')) onEvent(ev); }, signal);
  }
  override patch(res: ResourceInfo, namespace: string | undefined, name: string, patch: unknown, type?: 'merge' | 'strategic' | 'json', sub?: string): Promise<KObject> {
    if (res.resource === 'pods') this.writes.push(`patch ${sub ?? ''} ${namespace}/${name} ${JSON.stringify(patch)}`);
    return super.patch(res, namespace, name, patch, type, sub);
  }
  override delete(res: ResourceInfo, namespace: string | undefined, name: string, opts: { gracePeriodSeconds?: number; preconditions?: { uid?: string } } = {}): Promise<KObject> {
    if (res.resource === 'pods') this.writes.push(`delete ${namespace}/${name} ${JSON.stringify(opts)}`);
    return super.delete(res, namespace, name, opts);
  }
}

describe('pod gc controller', () => {
  let api: InProcessApiServer;
  let client: KubeClient;
  let recorder: RecordingClient;
  let ctrl: PodGcController;
  let clock = T0;
  const scheduled: { fn: () => void; ms: number }[] = [];
  const timers: PodGcTimers = { setTimeout: (fn, ms) => { scheduled.push({ fn, ms }); return scheduled.length; }, clearTimeout: () => {} };
  const logs: string[] = [];

  const makePod = async (name: string, nodeName: string | undefined, extra: { finalizers?: string[] } = {}) => {
    await client.create(r('pods'), 'default', {
      apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default', ...extra },
      spec: { ...(nodeName ? { nodeName } : {}), containers: [{ name: 'c', image: 'nginx' }] },
    } as unknown as KObject);
    if (nodeName) await client.patch(r('pods'), 'default', name, { status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] } }, 'merge', 'status');
  };
  const getPod = async (name: string) => {
    try { return (await client.get(r('pods'), 'default', name)) as unknown as Pod; } catch { return undefined; }
  };
  /** Waits until the controller's cache shows the pod as the server has it now. */
  const cached = async (name: string) => {
    const rv = (await getPod(name))?.metadata?.resourceVersion;
    await until(`${name} in the cache`, () => (ctrl.cachedPod(`default/${name}`)?.metadata?.resourceVersion === rv ? true : undefined));
  };
  const pass = async (atSeconds: number) => {
    clock = T0 + atSeconds * 1000;
    recorder.writes.length = 0;
    await ctrl.gc();
  };

  before(async () => {
    api = await startInProcessApiServer();
    client = api.client;
    recorder = new RecordingClient({ server: api.url });
    for (const name of ['n1', 'n2']) {
      await client.create(r('nodes'), undefined, { apiVersion: 'v1', kind: 'Node', metadata: { name } } as KObject);
      await client.patch(r('nodes'), undefined, name, { status: { conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady' }] } }, 'merge', 'status');
    }
    await makePod('web-1', 'n1');
    await makePod('orphan', 'gone');
    ctrl = new PodGcController({ client: recorder, now: () => new Date(clock), timers, log: (m) => logs.push(m) });
    await ctrl.start();
  });
  after(async () => {
    if (process.env.PODGC_TEST_LOGS) console.log(logs.join('\n'));
    await ctrl.stop();
    recorder.close();
    await api.stop();
  });

  it('runs a pass at start and schedules the next one gcCheckPeriod later', async () => {
    await until('the first pass', () => (scheduled.length ? true : undefined));
    assert.equal(scheduled[0]!.ms, 20_000);
    assert.deepEqual(ctrl.quarantinedNodes(), ['gone'], 'the first pass saw the missing node at T0');
  });

  it('keeps an orphaned pod within the quarantine', async () => {
    await pass(20);
    await pass(39);
    assert.deepEqual(recorder.writes, []);
    assert.equal((await getPod('orphan'))?.status?.phase, 'Running');
  });

  it('marks an orphaned pod Failed with DisruptionTarget, then force-deletes it, once the quarantine is over', async () => {
    await pass(40);
    assert.equal(recorder.writes.length, 2, recorder.writes.join('\n'));
    assert.match(recorder.writes[0]!, /^patch status default\/orphan .*"phase":"Failed".*"reason":"DeletionByPodGC","message":"PodGC: node no longer exists"/);
    assert.equal(recorder.writes[1], 'delete default/orphan {"gracePeriodSeconds":0}');
    assert.equal(await getPod('orphan'), undefined, 'a grace period of 0 removes the pod at once');
    assert.deepEqual(ctrl.quarantinedNodes(), []);
  });

  it('leaves a pod on an existing node alone', async () => {
    const pod = await getPod('web-1');
    assert.equal(pod?.status?.phase, 'Running');
    assert.equal(pod?.metadata?.deletionTimestamp, undefined);
    assert.ok(!recorder.writes.some((w) => w.includes('web-1')));
  });

  it('keeps the pods of a node that shows up in the cache during the quarantine', async () => {
    await makePod('early', 'n3');
    await cached('early');
    await pass(100);
    assert.deepEqual(ctrl.quarantinedNodes(), ['n3']);
    await client.create(r('nodes'), undefined, { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n3' } } as KObject);
    await until('n3 in the cache', () => ctrl.cachedNode('n3'));
    await pass(140);
    assert.deepEqual(recorder.writes, []);
    assert.deepEqual(ctrl.quarantinedNodes(), []);
    assert.equal((await getPod('early'))?.status?.phase, 'Running');
  });

  it('keeps the pods of a node the cache lacks but a GET finds (kube re-checks before deleting)', async () => {
    await client.create(r('nodes'), undefined, { apiVersion: 'v1', kind: 'Node', metadata: { name: 'hidden' } } as KObject);
    await makePod('on-hidden', 'hidden');
    await cached('on-hidden');
    assert.equal(ctrl.cachedNode('hidden'), undefined, 'the recording client hides it from the informer');
    await pass(200);
    await pass(240);
    assert.deepEqual(recorder.writes, []);
    assert.equal((await getPod('on-hidden'))?.status?.phase, 'Running');
    assert.deepEqual(ctrl.quarantinedNodes(), [], 'quarantined again only by the next pass that sees it missing');
  });

  it('force-deletes a terminating pod on a not Ready node tainted out-of-service', async () => {
    await makePod('stuck', 'n2');
    await client.delete(r('pods'), 'default', 'stuck');
    assert.equal((await getPod('stuck'))?.metadata?.deletionGracePeriodSeconds, 30, 'waiting for a kubelet that will not come');
    await cached('stuck');
    await pass(300);
    assert.ok(await getPod('stuck'), 'a Ready node: its kubelet may still finish the pod');
    await client.patch(r('nodes'), undefined, 'n2', { status: { conditions: [{ type: 'Ready', status: 'Unknown', reason: 'NodeStatusUnknown' }] } }, 'merge', 'status');
    await until('n2 not ready in the cache', () => (ctrl.cachedNode('n2')?.status?.conditions?.[0]?.status === 'Unknown' ? true : undefined));
    await pass(310);
    assert.ok(await getPod('stuck'), 'not ready alone is not enough');
    await client.patch(r('nodes'), undefined, 'n2', { spec: { taints: [{ key: 'node.kubernetes.io/out-of-service', value: 'nodeshutdown', effect: 'NoExecute' }] } }, 'merge');
    await until('n2 tainted in the cache', () => (ctrl.cachedNode('n2')?.spec?.taints?.length ? true : undefined));
    await pass(320);
    // kube's gcTerminating writes no DisruptionTarget of its own: the taint eviction controller
    // already set DeletionByTaintManager when it deleted the pod for the NoExecute taint.
    assert.deepEqual(recorder.writes.map((w) => w.replace(/"uid":"[^"]+"/, '"uid":"U"')), [
      'patch status default/stuck {"metadata":{"uid":"U"},"status":{"phase":"Failed"}}',
      'delete default/stuck {"gracePeriodSeconds":0}',
    ]);
    assert.equal(await getPod('stuck'), undefined);
  });

  it('force-deletes an unscheduled terminating pod', async () => {
    // Only a finalizer keeps an unscheduled pod terminating (its grace period is 0), so it stays
    // after the forced deletion too, as in kube; what is checked is the deletion asked for.
    await makePod('pending', undefined, { finalizers: ['example.com/hold'] });
    await client.delete(r('pods'), 'default', 'pending');
    await cached('pending');
    await pass(400);
    assert.deepEqual(recorder.writes.map((w) => w.replace(/"uid":"[^"]+"/, '"uid":"U"')), [
      'patch status default/pending {"metadata":{"uid":"U"},"status":{"phase":"Failed"}}',
      'delete default/pending {"gracePeriodSeconds":0}',
    ]);
    await client.patch(r('pods'), 'default', 'pending', { metadata: { finalizers: null } }, 'merge');
    assert.equal(await getPod('pending'), undefined);
  });
});
