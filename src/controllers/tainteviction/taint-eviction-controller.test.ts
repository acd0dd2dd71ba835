// The controller against the in-process API server, with a clock and timers that move only when
// the test says so: a pod that does not tolerate a NoExecute taint goes at once, one with the
// default 300 s toleration after 300 s and not before, and none when the taint goes first; a pod
// left Terminating on its dead node is not evicted again when the node's taints change.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Event, Pod, Taint } from 'kubernetes-types/core/v1.d.ts';
import type { KObject } from '../../api/object.ts';
import { resources } from '../../api/resources.ts';
import { startInProcessApiServer, type InProcessApiServer } from '../../apiserver/in-process.ts';
import { EventRecorder } from '../../client/event-recorder.ts';
import type { KubeClient } from '../../client/rest-client.ts';
import { until } from '../../util/test-wait.ts';
import { TaintEvictionController, type TaintEvictionTimers } from './index.ts';

const r = (name: string) => resources.find((x) => x.resource === name)!;
const T0 = Date.parse('2025-01-01T00:00:00Z');

/** Timers that fire only when the test moves the clock. */
class FakeClock implements TaintEvictionTimers {
  now = T0;
  #next = 1;
  readonly #due = new Map<number, { at: number; fn: () => void }>();
  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.#next++;
    this.#due.set(id, { at: this.now + ms, fn });
    return id;
  }
  clearTimeout(h: unknown): void {
    this.#due.delete(h as number);
  }
  get pending(): number {
    return this.#due.size;
  }
  advance(seconds: number): void {
    this.now += seconds * 1000;
    for (const [id, t] of [...this.#due].sort((a, b) => a[1].at - b[1].at)) {
      if (t.at <= this.now && this.#due.delete(id)) t.fn();
    }
  }
}

/** The default recorder, also noting every event as it is asked for (the API write is fire and forget). */
class NotingRecorder extends EventRecorder {
  readonly noted: string[] = [];
  override event(obj: KObject, type: 'Normal' | 'Warning', reason: string, message: string, fieldPath?: string): void {
    this.noted.push(`${obj.metadata.name}: ${message}`);
    super.event(obj, type, reason, message, fieldPath);
  }
}

describe('TaintEvictionController', () => {
  let api: InProcessApiServer;
  let client: KubeClient;
  let ctrl: TaintEvictionController;
  const clock = new FakeClock();
  const logs: string[] = [];
  /** The controller's pod DELETEs and pods/status PATCHes, as `verb ns/name`. */
  const calls: string[] = [];
  let recorder: NotingRecorder;

  const taint = (node: string, taints: Taint[]) => client.patch(r('nodes'), undefined, node, { spec: { taints: taints.length ? taints : null } }, 'merge');
  const getPod = async (name: string) => (await client.get(r('pods'), 'default', name)) as unknown as Pod;
  const deleting = async (name: string) => Boolean((await getPod(name)).metadata?.deletionTimestamp);
  const events = async () => ((await client.list(r('events'), 'default')).items as unknown as Event[])
    .filter((e) => e.reason === 'TaintManagerEviction').map((e) => `${e.involvedObject.name}: ${e.message}`).sort();
  const unreachable: Taint = { key: 'node.kubernetes.io/unreachable', effect: 'NoExecute', timeAdded: new Date(T0).toISOString() };

  before(async () => {
    api = await startInProcessApiServer();
    client = api.client;
    for (const name of ['n1', 'n2', 'n3']) await client.create(r('nodes'), undefined, { apiVersion: 'v1', kind: 'Node', metadata: { name } } as KObject);
    // Every pod gets the DefaultTolerationSeconds defaults (not-ready and unreachable, 300 s).
    for (const [pod, node] of [['web', 'n1'], ['strict', 'n2'], ['patient', 'n2'], ['brief', 'n3']] as const) {
      await client.create(r('pods'), 'default', {
        apiVersion: 'v1', kind: 'Pod', metadata: { name: pod, namespace: 'default' },
        spec: {
          nodeName: node, containers: [{ name: 'c', image: 'nginx' }],
          ...(pod === 'patient' ? { tolerations: [{ key: 'example.com/drain', operator: 'Exists', effect: 'NoExecute' }] } : {}),
        },
      } as unknown as KObject);
    }
    const realDelete = client.delete.bind(client);
    client.delete = (...args: Parameters<KubeClient['delete']>) => {
      if (args[0].resource === 'pods') calls.push(`delete ${args[1]}/${args[2]}`);
      return realDelete(...args);
    };
    const realPatch = client.patch.bind(client);
    client.patch = (...args: Parameters<KubeClient['patch']>) => {
      if (args[0].resource === 'pods' && args[5] === 'status') calls.push(`patch-status ${args[1]}/${args[2]}`);
      return realPatch(...args);
    };
    recorder = new NotingRecorder({ client, source: { component: 'taint-eviction-controller' }, now: () => new Date(clock.now) });
    ctrl = new TaintEvictionController({ client, events: recorder, now: () => new Date(clock.now), timers: clock, log: (m) => logs.push(m) });
    await ctrl.start();
  });
  after(async () => {
    await ctrl.stop();
    await api.stop();
  });

  it('the default tolerations are on every pod', async () => {
    assert.deepEqual((await getPod('web')).spec!.tolerations!.map((t) => `${t.key}:${t.effect}:${t.tolerationSeconds}`),
      ['node.kubernetes.io/not-ready:NoExecute:300', 'node.kubernetes.io/unreachable:NoExecute:300']);
  });

  it('deletes a pod that does not tolerate a NoExecute taint at once, marked DisruptionTarget', async () => {
    await taint('n2', [{ key: 'example.com/drain', effect: 'NoExecute' }]);
    await until('strict to be deleted', async () => ((await deleting('strict')) ? true : undefined));
    await ctrl.idle();
    const c = (await getPod('strict')).status!.conditions!.find((x) => x.type === 'DisruptionTarget');
    assert.deepEqual(c, { type: 'DisruptionTarget', status: 'True', reason: 'DeletionByTaintManager', message: 'Taint manager: deleting due to NoExecute taint', lastTransitionTime: '2025-01-01T00:00:00Z' });
    assert.equal(await deleting('patient'), false, 'the pod tolerating it forever stays');
    assert.equal(ctrl.scheduledEviction('default/patient'), undefined);
    await until('the eviction event', async () => ((await events()).includes('strict: Marking for deletion Pod default/strict') ? true : undefined));
  });

  it('deletes a pod tolerating unreachable for 300 s after 300 s, not before', async () => {
    await taint('n1', [unreachable]);
    await until('the eviction of web to be scheduled', () => ctrl.scheduledEviction('default/web'));
    assert.equal(ctrl.scheduledEviction('default/web')!.getTime(), T0 + 300_000);
    clock.advance(299);
    await ctrl.idle();
    assert.equal(await deleting('web'), false);
    clock.advance(1);
    await ctrl.idle();
    assert.equal(await deleting('web'), true);
    await until('the eviction event', async () => ((await events()).includes('web: Marking for deletion Pod default/web') ? true : undefined));
  });

  it('cancels the eviction when the taint goes first', async () => {
    await taint('n3', [unreachable]);
    await until('the eviction of brief to be scheduled', () => ctrl.scheduledEviction('default/brief'));
    clock.advance(200);
    await taint('n3', []);
    await until('the eviction of brief to be cancelled', () => (ctrl.scheduledEviction('default/brief') ? undefined : true));
    clock.advance(200);
    await ctrl.idle();
    assert.equal(await deleting('brief'), false);
    assert.equal(clock.pending, 0);
    await until('the cancel event', async () => ((await events()).includes('brief: Cancelling deletion of Pod default/brief') ? true : undefined));
  });

  it('does not evict a pod again that stays Terminating while its node swaps unreachable for not-ready', async () => {
    // Its own node; the test's pods are bound, so the API server keeps a deleted one Terminating
    // (graceful deletion) until a kubelet confirms, which a dead node's never does.
    for (const name of ['n4', 'n5']) await client.create(r('nodes'), undefined, { apiVersion: 'v1', kind: 'Node', metadata: { name } } as KObject);
    for (const [pod, node] of [['stuck', 'n4'], ['marker', 'n5']] as const) {
      await client.create(r('pods'), 'default', { apiVersion: 'v1', kind: 'Pod', metadata: { name: pod, namespace: 'default' }, spec: { nodeName: node, containers: [{ name: 'c', image: 'nginx' }] } } as unknown as KObject);
    }
    await taint('n4', [unreachable]);
    await until('the eviction of stuck to be scheduled', () => ctrl.scheduledEviction('default/stuck'));
    clock.advance(300);
    await ctrl.idle();
    assert.equal(await deleting('stuck'), true);
    const forStuck = () => calls.filter((c) => c.endsWith(' default/stuck'));
    assert.deepEqual(forStuck(), ['patch-status default/stuck', 'delete default/stuck']);

    // The node lifecycle controller swaps the taint (the node answers, not ready), then a taint on
    // n5 on the same ordered node watch: once marker's eviction is scheduled, the swap was seen.
    await taint('n4', [{ key: 'node.kubernetes.io/not-ready', effect: 'NoExecute', timeAdded: new Date(clock.now).toISOString() }]);
    await taint('n5', [unreachable]);
    await until('the eviction of marker to be scheduled', () => ctrl.scheduledEviction('default/marker'));
    assert.equal(ctrl.scheduledEviction('default/stuck'), undefined, 'no second eviction for the Terminating pod');
    assert.equal(await deleting('stuck'), true, 'stuck is still Terminating');
    clock.advance(300);
    await ctrl.idle();
    assert.equal(await deleting('marker'), true);
    assert.deepEqual(forStuck(), ['patch-status default/stuck', 'delete default/stuck'], 'one DisruptionTarget patch and one DELETE');
    assert.deepEqual(recorder.noted.filter((e) => e.startsWith('stuck: ')), ['stuck: Marking for deletion Pod default/stuck']);
  });
});
