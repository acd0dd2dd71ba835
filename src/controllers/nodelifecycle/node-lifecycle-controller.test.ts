// The node lifecycle controller against the in-process API server, with a fake clock: a node whose
// heartbeat stops turns Unknown and tainted after the grace period, its pods not ready, and the
// taints go when the heartbeat comes back. Monitor passes are driven by the test.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Event, Node, NodeCondition, Pod } from 'kubernetes-types/core/v1.d.ts';
import type { KObject } from '../../api/object.ts';
import { resources } from '../../api/resources.ts';
import type { KubeClient } from '../../client/rest-client.ts';
import { type InProcessApiServer, startInProcessApiServer } from '../../apiserver/in-process.ts';
import { NodeLifecycleController } from './index.ts';
import { until } from '../../util/test-wait.ts';

const r = (name: string) => resources.find((x) => x.resource === name)!;


const T0 = Date.parse('2025-03-01T12:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

describe('node lifecycle controller', () => {
  let api: InProcessApiServer;
  let client: KubeClient;
  let ctrl: NodeLifecycleController;
  let clock = T0;
  const logs: string[] = [];

  /** What the node agent writes every 10 s (node-status.ts): the kubelet's conditions with a fresh heartbeat. */
  const heartbeat = async (name: string) => {
    const now = iso(clock);
    const cur = (await client.get(r('nodes'), undefined, name)) as unknown as Node;
    const prev = (type: string, status: string) => {
      const c = cur.status?.conditions?.find((x) => x.type === type);
      return c && c.status === status && c.lastTransitionTime ? c.lastTransitionTime : now;
    };
    const make = (type: string, status: string, reason: string, message: string): NodeCondition =>
      ({ type, status, reason, message, lastHeartbeatTime: now, lastTransitionTime: prev(type, status) });
    const written = await client.patch(r('nodes'), undefined, name, {
      status: {
        conditions: [
          make('MemoryPressure', 'False', 'KubeletHasSufficientMemory', 'kubelet has sufficient memory available'),
          make('DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'),
          make('PIDPressure', 'False', 'KubeletHasSufficientPID', 'kubelet has sufficient PID available'),
          make('Ready', 'True', 'KubeletReady', 'kubelet is posting ready status'),
        ],
      },
    }, 'merge', 'status');
    await until(`the controller's cache to show ${name}'s heartbeat`, 
      () => (Number(ctrl.cachedNode(name)?.metadata?.resourceVersion ?? 0) >= Number(written.metadata.resourceVersion) ? true : undefined));
  };
  /** Time passes: the clock moves, n2 keeps heartbeating, and one monitor pass runs. */
  const advance = async (seconds: number, beating: string[]) => {
    clock += seconds * 1000;
    for (const n of beating) await heartbeat(n);
    await ctrl.monitorNodeHealth();
    await ctrl.idle();
  };
  const getNode = async (name: string) => (await client.get(r('nodes'), undefined, name)) as unknown as Node;
  const ready = async (name: string) => (await getNode(name)).status!.conditions!.find((c) => c.type === 'Ready')!;
  const taints = async (name: string) => ((await getNode(name)).spec?.taints ?? []).map((t) => `${t.key}:${t.effect}@${t.timeAdded}`).sort();
  const podReady = async (name: string) => ((await client.get(r('pods'), 'default', name)) as unknown as Pod).status?.conditions?.find((c) => c.type === 'Ready')?.status;

  before(async () => {
    api = await startInProcessApiServer();
    client = api.client;
    for (const name of ['n1', 'n2']) await client.create(r('nodes'), undefined, { apiVersion: 'v1', kind: 'Node', metadata: { name } } as KObject);
    for (const [pod, node] of [['web-1', 'n1'], ['web-2', 'n2']] as const) {
      await client.create(r('pods'), 'default', {
        apiVersion: 'v1', kind: 'Pod', metadata: { name: pod, namespace: 'default', labels: { app: 'web' } },
        spec: { nodeName: node, containers: [{ name: 'c', image: 'nginx' }] },
      } as unknown as KObject);
      await client.patch(r('pods'), 'default', pod, {
        status: { phase: 'Running', podIP: '10.244.0.5', conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: iso(T0) }, { type: 'ContainersReady', status: 'True', lastTransitionTime: iso(T0) }] },
      }, 'merge', 'status');
    }
    ctrl = new NodeLifecycleController({ client, now: () => new Date(clock), gracePeriodMs: 50_000, monitorPeriodMs: 3_600_000, log: (m) => logs.push(m) });
    await ctrl.start();
    for (const n of ['n1', 'n2']) await heartbeat(n);
    await ctrl.monitorNodeHealth();
    await ctrl.idle();
  });
  after(async () => {
    if (process.env.NODE_LIFECYCLE_TEST_LOGS) console.log(logs.join('\n'));
    await ctrl.stop();
    await api.stop();
  });

  it('leaves a node alone within the grace period', async () => {
    await advance(30, ['n2']);
    await advance(20, ['n2']); // 50 s without a heartbeat from n1: not yet more than the grace period
    assert.equal((await ready('n1')).status, 'True');
    assert.deepEqual(await taints('n1'), []);
    assert.equal(await podReady('web-1'), 'True');
  });

  it('turns Ready Unknown after the grace period, taints the node NoSchedule and marks its pods not ready', async () => {
    await advance(5, ['n2']);
    const c = await ready('n1');
    assert.deepEqual({ status: c.status, reason: c.reason, message: c.message, lastTransitionTime: c.lastTransitionTime, lastHeartbeatTime: c.lastHeartbeatTime },
      { status: 'Unknown', reason: 'NodeStatusUnknown', message: 'Kubelet stopped posting node status.', lastTransitionTime: iso(clock), lastHeartbeatTime: iso(T0) });
    const pressure = (await getNode('n1')).status!.conditions!.filter((x) => x.type !== 'Ready').map((x) => `${x.type}=${x.status}`);
    assert.deepEqual(pressure, ['MemoryPressure=Unknown', 'DiskPressure=Unknown', 'PIDPressure=Unknown']);
    await until('the unreachable NoSchedule taint', async () => ((await taints('n1')).length ? true : undefined));
    assert.deepEqual(await taints('n1'), [`node.kubernetes.io/unreachable:NoSchedule@${iso(clock)}`]);
    assert.equal(await podReady('web-1'), 'False');
    assert.equal(await podReady('web-2'), 'True', 'pods on the healthy node are left alone');
    assert.equal((await ready('n2')).status, 'True');
    assert.deepEqual(await taints('n2'), []);
    const events = ((await client.list(r('events'), 'default')).items as unknown as Event[]).map((e) => `${e.involvedObject.kind}/${e.involvedObject.name} ${e.type} ${e.reason}: ${e.message}`);
    await until('events', async () => {
      const ev = ((await client.list(r('events'), 'default')).items as unknown as Event[]).map((e) => `${e.involvedObject.kind}/${e.involvedObject.name} ${e.type} ${e.reason}: ${e.message}`);
      return ev.includes('Node/n1 Normal NodeNotReady: Node n1 status is now: NodeNotReady') && ev.includes('Pod/web-1 Warning NodeNotReady: Node is not ready') ? true : undefined;
    });
    assert.ok(!events.some((e) => e.startsWith('Node/n2 Normal NodeNotReady')));
  });

  it('adds the unreachable NoExecute taint on the next pass (TaintBasedEvictions)', async () => {
    const unknownSince = clock;
    await advance(5, ['n2']);
    assert.deepEqual(await taints('n1'), [`node.kubernetes.io/unreachable:NoExecute@${iso(clock)}`, `node.kubernetes.io/unreachable:NoSchedule@${iso(unknownSince)}`]);
    await advance(5, ['n2']);
    assert.equal((await taints('n1')).length, 2, 'nothing re-stamped');
  });

  it('marks a pod the informer shows bound to the dead node only later not ready (processPod)', async () => {
    // The pod's Ready condition comes before its binding here, so that the binding is the change seen.
    await client.create(r('pods'), 'default', {
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'late', namespace: 'default' }, spec: { containers: [{ name: 'c', image: 'nginx' }] },
    } as unknown as KObject);
    await client.patch(r('pods'), 'default', 'late', { status: { conditions: [{ type: 'Ready', status: 'True' }] } }, 'merge', 'status');
    await client.request('POST', '/api/v1/namespaces/default/pods/late/binding', {
      apiVersion: 'v1', kind: 'Binding', metadata: { name: 'late', namespace: 'default' }, target: { apiVersion: 'v1', kind: 'Node', name: 'n1' },
    });
    await until('late pod not ready', async () => ((await podReady('late')) === 'False' ? true : undefined));
  });

  it('removes the taints when the heartbeat resumes', async () => {
    await advance(5, ['n1', 'n2']);
    assert.equal((await ready('n1')).status, 'True');
    await until('no taints on n1', async () => ((await taints('n1')).length === 0 ? true : undefined));
    // The pods' readiness is the node agent's to report again (the kubelet's status manager does).
    assert.equal(await podReady('web-1'), 'False');
  });

  it('does not taint NoExecute when every node is down (master disruption mode)', async () => {
    await advance(60, []);
    await advance(5, []);
    for (const n of ['n1', 'n2']) {
      assert.equal((await ready(n)).status, 'Unknown');
      await until(`${n}: only the NoSchedule taint`, async () => {
        const t = await taints(n);
        return t.length === 1 && t[0]!.startsWith('node.kubernetes.io/unreachable:NoSchedule@') ? true : undefined;
      });
    }
    assert.ok(logs.some((l) => l.includes('entering master disruption mode')), logs.join('\n'));
  });

  it('marks the pods of a node whose agent stopped cleanly (it wrote Ready False itself) not ready', async () => {
    await advance(1, ['n1', 'n2']);
    // Both agents reported their pods ready again after the earlier tests.
    for (const pod of ['web-1', 'web-2']) await client.patch(r('pods'), 'default', pod, { status: { conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: iso(clock) }] } }, 'merge', 'status');
    // The agent's last status on stop: Ready False, its pods ended without a status of their own.
    await client.patch(r('nodes'), undefined, 'n2', {
      status: { conditions: [{ type: 'Ready', status: 'False', reason: 'KubeletNotReady', message: 'node agent stopped', lastHeartbeatTime: iso(clock), lastTransitionTime: iso(clock) }] },
    }, 'merge', 'status');
    await until('the cache to show n2 not ready', () => (ctrl.cachedNode('n2')?.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'False' ? true : undefined));
    await advance(5, ['n1']);
    await until('web-2 not ready', async () => ((await podReady('web-2')) === 'False' ? true : undefined));
    assert.equal(await podReady('web-1'), 'True');
  });
});
