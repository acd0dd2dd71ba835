// The controller against podgate's API server in-process (the same client a real cluster would
// get): routes appear after the caches sync, change with the objects, status.loadBalancer is
// written once, problems become events.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import type { KObject } from '../api/object.ts';
import { resources } from '../api/resources.ts';
import { EventRecorder } from '../client/event-recorder.ts';
import { KubeClient } from '../client/rest-client.ts';
import { IngressController, MIN_REBUILD_INTERVAL_MS, REBUILD_BURST } from './controller.ts';
import { makeIngress, makeService, makeSlice, path, rule } from './test-builders.ts';
import { type InProcessApiServer, startInProcessApiServer } from '../apiserver/in-process.ts';

const r = (name: string) => resources.find((x) => x.resource === name)!;
/** Drops what the API server assigns itself. */
function fresh<T extends { metadata?: unknown }>(o: T): T {
  const m = o.metadata as Record<string, unknown>;
  delete m.uid;
  delete m.creationTimestamp;
  return o;
}

function get(port: number, host: string, p: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: p, headers: { host }, agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function eventually<T>(f: () => Promise<T>, ok: (v: T) => boolean, ms = 3000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (ok(v) || Date.now() > end) return v;
    await new Promise((res) => setTimeout(res, 20));
  }
}

describe('IngressController', () => {
  let api: InProcessApiServer;
  let client: KubeClient;
  let controller: IngressController;
  let backend: http.Server;
  let backendPort: number;
  let patches = 0;

  before(async () => {
    api = await startInProcessApiServer({ historyCapacity: 200 });
    client = api.client;
    const realPatch = client.patch.bind(client);
    client.patch = (...args: Parameters<KubeClient['patch']>) => { if (args[5] === 'status') patches++; return realPatch(...args); };
    backend = http.createServer((req, res) => res.end(`backend ${req.url}`));
    await new Promise<void>((res) => backend.listen(0, '127.0.0.1', res));
    backendPort = (backend.address() as net.AddressInfo).port;
    controller = new IngressController({
      client, addresses: ['192.0.2.10'], httpPort: 0, httpsPort: null, bindAddress: '127.0.0.1',
      events: new EventRecorder({ client, source: { component: 'podgate-ingress' } }),
      // The API server refuses loopback endpoints, so pod IPs are mapped to the local backend here.
      proxy: { connector: (ep) => net.connect({ host: '127.0.0.1', port: ep.port }) },
    });
    await controller.start();
  });

  after(async () => {
    await controller.stop();
    backend.close();
    await api.stop();
  });

  it('serves an Ingress created after start and writes its status once', async () => {
    await client.create(r('services'), 'default', makeService('default', 'web', [{ name: 'http', port: 80, targetPort: 8080 }]) as unknown as KObject);
    await client.create(r('endpointslices'), 'default', makeSlice('default', 'web', ['10.244.0.5'], [{ name: 'http', port: backendPort }]) as unknown as KObject);
    await client.create(r('ingresses'), 'default', fresh(makeIngress('default', 'web', (i) => {
      i.metadata!.annotations = { 'kubernetes.io/ingress.class': 'nginx' };
      delete i.spec!.ingressClassName;
      i.spec!.rules = [rule('web.example.com', path('/', 'web', 'http'))];
    })) as unknown as KObject);
    await controller.ready();
    const port = controller.proxy.httpPort!;
    const res = await eventually(() => get(port, 'web.example.com', '/hello'), (v) => v.status === 200);
    assert.deepEqual(res, { status: 200, body: 'backend /hello' });
    const ing = await eventually(() => client.get(r('ingresses'), 'default', 'web'), (o) => !!(o as { status?: { loadBalancer?: { ingress?: unknown[] } } }).status?.loadBalancer?.ingress?.length);
    assert.deepEqual((ing as { status?: unknown }).status, { loadBalancer: { ingress: [{ ip: '192.0.2.10' }] } });
    const before = patches;
    // An unrelated change rebuilds an equal table: no swap matters, and no second status write.
    await client.create(r('configmaps'), 'default', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'noise' } });
    await client.create(r('services'), 'default', makeService('default', 'other') as unknown as KObject);
    await controller.ready();
    assert.equal(patches, before);
  });

  it('a status-only update does not rebuild the route table; a status someone else changed is written back', async () => {
    await client.create(r('services'), 'default', makeService('default', 'quiet', [{ name: 'http', port: 80 }]) as unknown as KObject);
    await client.create(r('endpointslices'), 'default', makeSlice('default', 'quiet', ['10.244.0.6'], [{ name: 'http', port: backendPort }]) as unknown as KObject);
    await client.create(r('ingresses'), 'default', fresh(makeIngress('default', 'quiet', (i) => { i.spec!.rules = [rule('quiet.example.com', path('/', 'quiet', 'http'))]; })) as unknown as KObject);
    const lbIp = (o: unknown) => (o as { status?: { loadBalancer?: { ingress?: { ip?: string }[] } } }).status?.loadBalancer?.ingress?.[0]?.ip;
    // Its route answering means every earlier Service, slice and Ingress event has arrived (each watch is ordered).
    assert.equal((await eventually(() => get(controller.proxy.httpPort!, 'quiet.example.com', '/'), (v) => v.status === 200)).status, 200);
    await eventually(() => client.get(r('ingresses'), 'default', 'quiet'), (o) => lbIp(o) === '192.0.2.10');
    const rebuilds = controller.rebuilds;
    const writes = patches;
    await client.patch(r('ingresses'), 'default', 'quiet', { status: { loadBalancer: { ingress: [{ ip: '198.51.100.7' }] } } }, 'merge', 'status');
    const ing = await eventually(() => client.get(r('ingresses'), 'default', 'quiet'), (o) => lbIp(o) === '192.0.2.10');
    assert.deepEqual((ing as { status?: unknown }).status, { loadBalancer: { ingress: [{ ip: '192.0.2.10' }] } });
    // The foreign write, ours putting it back, and ours coming back: status-only updates, no rebuild.
    assert.equal(patches, writes + 2);
    assert.equal(controller.rebuilds, rebuilds);
    // A change that translate reads still rebuilds.
    await client.patch(r('ingresses'), 'default', 'quiet', { metadata: { annotations: { 'nginx.ingress.kubernetes.io/proxy-read-timeout': '30' } } }, 'merge');
    assert.ok(await eventually(async () => controller.rebuilds, (n) => n > rebuilds) > rebuilds);
  });

  it(`rebuilds a burst of changes together: ${REBUILD_BURST} at once, then at most one every ${MIN_REBUILD_INTERVAL_MS} ms (more for a costly table), and serves every one of them`, async () => {
    const port = controller.proxy.httpPort!;
    await new Promise((res) => setTimeout(res, REBUILD_BURST * MIN_REBUILD_INTERVAL_MS)); // the bucket full again
    const rebuilds = controller.rebuilds;
    const t0 = performance.now();
    const n = 100;
    await Promise.all(Array.from({ length: n }, (_, i) => client.create(r('ingresses'), 'default',
      fresh(makeIngress('default', `burst-${i}`, (ing) => { ing.spec!.rules = [rule(`burst-${i}.example.com`, path('/', 'quiet', 'http'))]; })) as unknown as KObject)));
    for (let i = 0; i < n; i++) {
      const res = await eventually(() => get(port, `burst-${i}.example.com`, '/'), (v) => v.status === 200);
      assert.equal(res.status, 200, `burst-${i}: ${res.status} ${res.body.slice(0, 80)}`);
    }
    const elapsed = performance.now() - t0;
    const made = controller.rebuilds - rebuilds;
    // The bucket's burst at once, then one per interval at most (without the limit: about one per two Ingresses).
    assert.ok(made >= 1 && made <= REBUILD_BURST + Math.ceil(elapsed / MIN_REBUILD_INTERVAL_MS), `${made} rebuilds in ${elapsed.toFixed(0)} ms for ${n} Ingresses`);
  });

  it('follows endpoint changes and reports a missing Service as an event', async () => {
    await client.delete(r('endpointslices'), 'default', 'web-abc');
    const port = controller.proxy.httpPort!;
    assert.equal((await eventually(() => get(port, 'web.example.com', '/'), (v) => v.status === 503)).status, 503);
    await client.create(r('ingresses'), 'default', fresh(makeIngress('default', 'broken', (i) => {
      i.spec!.rules = [rule('broken.example.com', path('/', 'missing', 80))];
      i.metadata!.annotations = { 'nginx.ingress.kubernetes.io/proxy-body-size': 'lots' };
    })) as unknown as KObject);
    const events = await eventually(() => client.list(r('events'), 'default'), (l) => l.items.filter((e) => (e as { involvedObject?: { name?: string } }).involvedObject?.name === 'broken').length >= 2);
    const reasons = events.items.filter((e) => (e as { involvedObject?: { name?: string } }).involvedObject?.name === 'broken').map((e) => (e as { reason?: string }).reason).sort();
    assert.deepEqual(reasons, ['BackendProblem', 'InvalidAnnotation']);
    assert.equal((await get(port, 'broken.example.com', '/')).status, 503);
  });
});
