// Two nodes' controllers against one in-process API server, each given its own address, as
// `podgate up` and `podgate agent` start them: both report the addresses of the labelled Ready
// Nodes in Ingress and Gateway statuses, so they agree and stop writing instead of undoing each
// other's write; a Node the node lifecycle controller marks not Ready leaves the statuses. On a
// single node, the node's agent stopping (Ready=False), a late heartbeat (Unknown) and the start
// before the agent reports Ready leave the statuses as they are.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { KObject } from '../api/object.ts';
import { resources } from '../api/resources.ts';
import { type InProcessApiServer, startInProcessApiServer } from '../apiserver/in-process.ts';
import type { Informer } from '../client/informer.ts';
import { KubeClient } from '../client/rest-client.ts';
import { GatewaySource } from '../gateway/gateway-source.ts';
import { makeGateway, makeGatewayClass } from '../gateway/test-builders.ts';
import { IngressController } from './controller.ts';
import { INGRESS_NODE_LABEL, IngressNodes } from './ingress-nodes.ts';
import { path, rule } from './test-builders.ts';

const r = (name: string) => resources.find((x) => x.resource === name)!;

async function eventually<T>(f: () => Promise<T> | T, ok: (v: T) => boolean, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (ok(v) || Date.now() > end) return v;
    await new Promise((res) => setTimeout(res, 20));
  }
}

interface Node {
  readonly client: KubeClient;
  readonly controller: IngressController;
  readonly gateways: GatewaySource;
  /** Status writes this node's controller made, by "resource/name". */
  readonly writes: Map<string, number>;
}

describe('IngressController on several nodes', () => {
  let api: InProcessApiServer;
  const nodes: Node[] = [];
  let barrier = 0;

  const ingressIPs = async () => ((await api.client.get(r('ingresses'), 'default', 'web')).status as { loadBalancer?: { ingress?: { ip?: string }[] } } | undefined)?.loadBalancer?.ingress?.map((x) => x.ip) ?? [];
  const gatewayIPs = async () => ((await api.client.get(r('gateways'), 'infra', 'gw')).status as { addresses?: { value: string }[] } | undefined)?.addresses?.map((x) => x.value) ?? [];
  const resourceVersions = async () => [(await api.client.get(r('ingresses'), 'default', 'web')).metadata.resourceVersion, (await api.client.get(r('gateways'), 'infra', 'gw')).metadata.resourceVersion];
  const setReady = (name: string, status: string) => api.client.patch(r('nodes'), undefined, name, { status: { conditions: [{ type: 'Ready', status, reason: status === 'True' ? 'KubeletReady' : 'NodeStatusUnknown' }] } }, 'merge', 'status');
  const writeCounts = () => nodes.map((n) => [...n.writes].sort().join());

  /**
   * Returns once every controller's caches hold the Ingress and the Gateway as they are now (each
   * watch is ordered): the Ingress's new host is served, the Gateway's resourceVersion is cached.
   */
  async function caughtUp(): Promise<void> {
    const host = `web-${++barrier}.example.com`;
    await api.client.patch(r('ingresses'), 'default', 'web', { spec: { rules: [rule(host, path('/', 'web', 80))] } }, 'merge');
    const gwVersion = (await api.client.get(r('gateways'), 'infra', 'gw')).metadata.resourceVersion;
    for (const n of nodes) {
      assert.ok((await eventually(() => n.controller.routeTable, (t) => t.hosts.some((h) => h.host === host))).hosts.some((h) => h.host === host));
      assert.equal(await eventually(() => n.gateways.informers[1]!.get('infra/gw')?.metadata.resourceVersion, (v) => v === gwVersion), gwVersion);
    }
  }

  /** Status passes on every controller whose caches are current write nothing. */
  async function assertNoMoreWrites(): Promise<void> {
    await caughtUp();
    const rv = await resourceVersions();
    const counts = writeCounts();
    for (let round = 0; round < 2; round++) for (const n of nodes) await n.controller.ready();
    assert.deepEqual(await resourceVersions(), rv);
    assert.deepEqual(writeCounts(), counts);
  }

  before(async () => {
    api = await startInProcessApiServer({ historyCapacity: 200 });
    // Two nodes whose agents labelled them (their proxies listen), and one that runs no proxy.
    for (const [name, ip, labelled] of [['n1', '10.0.0.1', true], ['n2', '10.0.0.2', true], ['n3', '10.0.0.3', false]] as const) {
      await api.client.create(r('nodes'), undefined, { apiVersion: 'v1', kind: 'Node', metadata: { name, labels: { 'kubernetes.io/hostname': name, ...(labelled ? { [INGRESS_NODE_LABEL]: 'true' } : {}) } } });
      await api.client.patch(r('nodes'), undefined, name, { status: { addresses: [{ type: 'InternalIP', address: ip }, { type: 'Hostname', address: name }] } }, 'merge', 'status');
      await setReady(name, 'True');
    }
    await api.client.create(r('namespaces'), undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'infra' } });
    await api.client.create(r('gatewayclasses'), undefined, makeGatewayClass('podgate') as unknown as KObject);
    await api.client.create(r('gateways'), 'infra', makeGateway('infra', 'gw', [{ name: 'http', protocol: 'HTTP', port: 80 }]) as unknown as KObject);
    await api.client.create(r('ingresses'), 'default', { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { namespace: 'default', name: 'web' }, spec: { ingressClassName: 'nginx', rules: [rule('web.example.com', path('/', 'web', 80))] } });
    // Each controller has its own client (as each node has), and a different address of its own.
    for (const own of ['192.0.2.1', '192.0.2.2']) {
      const client = new KubeClient({ server: api.url });
      const writes = new Map<string, number>();
      const realPatch = client.patch.bind(client);
      client.patch = (...args: Parameters<KubeClient['patch']>) => {
        const k = `${args[0].resource}/${args[2]}`;
        if (args[5] === 'status') writes.set(k, (writes.get(k) ?? 0) + 1);
        return realPatch(...args);
      };
      const gateways = new GatewaySource({ client, addresses: [own], httpPort: 80, httpsPort: null });
      const controller = new IngressController({ client, addresses: [own], httpPort: 0, httpsPort: null, bindAddress: '127.0.0.1', routeSources: [gateways] });
      nodes.push({ client, controller, gateways, writes });
    }
    for (const n of nodes) await n.controller.start();
  });

  after(async () => {
    for (const n of nodes) { await n.controller.stop(); n.client.close(); }
    await api.stop();
  });

  it('both report the labelled Ready nodes, agree, and stop writing', async () => {
    const both = ['10.0.0.1', '10.0.0.2'];
    assert.deepEqual(await eventually(ingressIPs, (v) => v.join() === both.join()), both);
    assert.deepEqual(await eventually(gatewayIPs, (v) => v.join() === both.join()), both);
    for (const n of nodes) assert.deepEqual(n.controller.statusAddresses, both);
    // Two controllers writing their own address would undo each other's write forever.
    await assertNoMoreWrites();
    assert.deepEqual(await ingressIPs(), both);
    assert.deepEqual(await gatewayIPs(), both);
  });

  it('a node turning not Ready drops out, and comes back when Ready again', async () => {
    await setReady('n2', 'Unknown');
    for (const n of nodes) assert.deepEqual(await eventually(() => n.controller.statusAddresses, (v) => v.join() === '10.0.0.1'), ['10.0.0.1']);
    assert.deepEqual(await eventually(ingressIPs, (v) => v.join() === '10.0.0.1'), ['10.0.0.1']);
    assert.deepEqual(await eventually(gatewayIPs, (v) => v.join() === '10.0.0.1'), ['10.0.0.1']);
    await assertNoMoreWrites();
    await setReady('n2', 'True');
    assert.deepEqual(await eventually(ingressIPs, (v) => v.length === 2), ['10.0.0.1', '10.0.0.2']);
    assert.deepEqual(await eventually(gatewayIPs, (v) => v.length === 2), ['10.0.0.1', '10.0.0.2']);
  });
});

describe('IngressController on a single node', () => {
  let api: InProcessApiServer;
  let client: KubeClient;
  let controller: IngressController;
  let gateways: GatewaySource;
  const writes: string[] = [];
  let barrier = 0;

  const ingressIPs = async () => ((await api.client.get(r('ingresses'), 'default', 'web')).status as { loadBalancer?: { ingress?: { ip?: string }[] } } | undefined)?.loadBalancer?.ingress?.map((x) => x.ip) ?? [];
  const gatewayIPs = async () => ((await api.client.get(r('gateways'), 'infra', 'gw')).status as { addresses?: { value: string }[] } | undefined)?.addresses?.map((x) => x.value) ?? [];
  const resourceVersions = async () => [(await api.client.get(r('ingresses'), 'default', 'web')).metadata.resourceVersion, (await api.client.get(r('gateways'), 'infra', 'gw')).metadata.resourceVersion];
  const setReady = (status: string) => api.client.patch(r('nodes'), undefined, 'n1', { status: { conditions: [{ type: 'Ready', status, reason: status === 'True' ? 'KubeletReady' : status === 'False' ? 'KubeletNotReady' : 'NodeStatusUnknown' }] } }, 'merge', 'status');
  const readyIn = (inf: Informer) => ((inf.get('n1')?.status as { conditions?: { type: string; status: string }[] } | undefined)?.conditions ?? []).find((c) => c.type === 'Ready')?.status;

  /** Sets n1's Ready and returns once both Node informers (the Ingress's and the Gateway's) hold it, their handlers run. */
  async function setReadySeen(status: string): Promise<void> {
    await setReady(status);
    for (const inf of [controller.nodeInformer, gateways.informers[5]!]) assert.equal(await eventually(() => readyIn(inf), (v) => v === status), status);
  }

  /** The caches hold the Ingress and the Gateway as they are now (as caughtUp above). */
  async function caughtUp(): Promise<void> {
    const host = `web-${++barrier}.example.com`;
    await api.client.patch(r('ingresses'), 'default', 'web', { spec: { rules: [rule(host, path('/', 'web', 80))] } }, 'merge');
    const gwVersion = (await api.client.get(r('gateways'), 'infra', 'gw')).metadata.resourceVersion;
    assert.ok((await eventually(() => controller.routeTable, (t) => t.hosts.some((h) => h.host === host))).hosts.some((h) => h.host === host));
    assert.equal(await eventually(() => gateways.informers[1]!.get('infra/gw')?.metadata.resourceVersion, (v) => v === gwVersion), gwVersion);
  }

  /** Two status passes on current caches change no status: no write, the same resourceVersions. */
  async function assertUnchanged(): Promise<void> {
    await caughtUp();
    const rv = await resourceVersions();
    const before = writes.length;
    for (let round = 0; round < 2; round++) await controller.ready();
    assert.deepEqual(await resourceVersions(), rv);
    assert.deepEqual(writes.slice(before), []);
    assert.deepEqual(controller.statusAddresses, ['10.0.0.1']);
    assert.deepEqual(await ingressIPs(), ['10.0.0.1']);
    assert.deepEqual(await gatewayIPs(), ['10.0.0.1']);
  }

  before(async () => {
    api = await startInProcessApiServer({ historyCapacity: 200 });
    // The agent labelled its node, which is not Ready yet: `podgate up` starts the ingress first.
    await api.client.create(r('nodes'), undefined, { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1', labels: { 'kubernetes.io/hostname': 'n1', [INGRESS_NODE_LABEL]: 'true' } } });
    await api.client.patch(r('nodes'), undefined, 'n1', { status: { addresses: [{ type: 'InternalIP', address: '10.0.0.1' }, { type: 'Hostname', address: 'n1' }] } }, 'merge', 'status');
    await setReady('False');
    await api.client.create(r('namespaces'), undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'infra' } });
    await api.client.create(r('gatewayclasses'), undefined, makeGatewayClass('podgate') as unknown as KObject);
    await api.client.create(r('gateways'), 'infra', makeGateway('infra', 'gw', [{ name: 'http', protocol: 'HTTP', port: 80 }]) as unknown as KObject);
    await api.client.create(r('ingresses'), 'default', { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { namespace: 'default', name: 'web' }, spec: { ingressClassName: 'nginx', rules: [rule('web.example.com', path('/', 'web', 80))] } });
    client = new KubeClient({ server: api.url });
    const realPatch = client.patch.bind(client);
    client.patch = (...args: Parameters<KubeClient['patch']>) => {
      if (args[5] === 'status') writes.push(`${args[0].resource}/${args[2]}`);
      return realPatch(...args);
    };
    gateways = new GatewaySource({ client, addresses: ['192.0.2.1'], httpPort: 80, httpsPort: null });
    controller = new IngressController({ client, addresses: ['192.0.2.1'], httpPort: 0, httpsPort: null, bindAddress: '127.0.0.1', routeSources: [gateways] });
    await controller.start();
  });

  after(async () => {
    await controller.stop();
    client.close();
    await api.stop();
  });

  it('at start, the only labelled node not Ready yet: the statuses get its address', async () => {
    await controller.ready();
    assert.deepEqual(controller.statusAddresses, ['10.0.0.1']);
    assert.deepEqual(await eventually(ingressIPs, (v) => v.join() === '10.0.0.1'), ['10.0.0.1']);
    assert.deepEqual(await eventually(gatewayIPs, (v) => v.join() === '10.0.0.1'), ['10.0.0.1']);
    await assertUnchanged();
  });

  it('the node turning Ready, then Ready=False (the agent stopping) and Unknown (a late heartbeat), leaves the statuses unchanged', async () => {
    await setReadySeen('True');
    assert.deepEqual(await eventually(ingressIPs, (v) => v.join() === '10.0.0.1'), ['10.0.0.1']);
    assert.deepEqual(await eventually(gatewayIPs, (v) => v.join() === '10.0.0.1'), ['10.0.0.1']);
    await assertUnchanged();
    for (const status of ['False', 'True', 'Unknown', 'True']) {
      await setReadySeen(status);
      await assertUnchanged();
    }
  });
});

describe('IngressNodes', () => {
  it('reports a change in the addresses, not a heartbeat that leaves them equal', async () => {
    const api = await startInProcessApiServer({ historyCapacity: 200 });
    let tracked: IngressNodes | undefined;
    try {
      for (const [name, ip] of [['n1', '10.0.0.1'], ['n2', '10.0.0.2']] as const) {
        await api.client.create(r('nodes'), undefined, { apiVersion: 'v1', kind: 'Node', metadata: { name, labels: { [INGRESS_NODE_LABEL]: 'true' } } });
        await api.client.patch(r('nodes'), undefined, name, { status: { addresses: [{ type: 'InternalIP', address: ip }], conditions: [{ type: 'Ready', status: 'True' }] } }, 'merge', 'status');
      }
      let changes = 0;
      const t = new IngressNodes({ client: api.client, fallback: ['192.0.2.1'], onChange: () => { changes++; } });
      tracked = t;
      t.informer.start();
      await t.informer.waitForSync();
      assert.deepEqual(t.addresses, ['10.0.0.1', '10.0.0.2']);
      const synced = changes;
      for (let beat = 1; beat <= 3; beat++) {
        for (const name of ['n1', 'n2']) await api.client.patch(r('nodes'), undefined, name, { status: { conditions: [{ type: 'Ready', status: 'True', lastHeartbeatTime: `2026-01-01T00:00:0${beat}Z` }] } }, 'merge', 'status');
      }
      // After the heartbeats on the same (ordered) watch: once it is seen, they have been.
      await api.client.patch(r('nodes'), undefined, 'n2', { status: { conditions: [{ type: 'Ready', status: 'Unknown' }] } }, 'merge', 'status');
      assert.deepEqual(await eventually(() => t.addresses, (a) => a.length === 1), ['10.0.0.1']);
      assert.equal(changes - synced, 1);
      // The last labelled node loses its label: the fallback.
      await api.client.patch(r('nodes'), undefined, 'n1', { metadata: { labels: { [INGRESS_NODE_LABEL]: null } } }, 'merge');
      await api.client.patch(r('nodes'), undefined, 'n2', { metadata: { labels: { [INGRESS_NODE_LABEL]: null } } }, 'merge');
      assert.deepEqual(await eventually(() => t.addresses, (a) => a[0] === '192.0.2.1'), ['192.0.2.1']);
    } finally {
      await tracked?.informer.stop();
      await api.stop();
    }
  });
});
