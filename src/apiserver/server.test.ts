// The API server in-process over plain HTTP with an in-memory store: the REST semantics kubectl
// and controllers rely on, checked through our own client (the e2e tests use the real kubectl).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { StatusError } from '../api/errors.ts';
import type { KObject } from '../api/object.ts';
import { resources } from '../api/resources.ts';
import { KubeClient, type WatchEvent } from '../client/rest-client.ts';
import { SqliteStore } from '../store/sqlite-store.ts';
import { bootstrapCluster } from './bootstrap.ts';
import { defaultMachinery } from './default-machinery.ts';
import { Registry } from './registry/registry.ts';
import { ServiceAllocator } from './registry/service-allocator.ts';
import { defaultStrategies } from './registry/strategies.ts';
import { ApiServer } from './server.ts';

const r = (name: string) => resources.find((x) => x.resource === name)!;
const cm = (name: string, labels: Record<string, string> = {}): KObject => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, labels }, data: { a: 'b' } });

async function rejectsWith(p: Promise<unknown>, code: number, message?: RegExp): Promise<StatusError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof StatusError, `expected a StatusError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (message) assert.match(err.message, message);
    return err;
  }
  throw new Error(`expected HTTP ${code}`);
}

describe('API server REST semantics', () => {
  let store: SqliteStore;
  let server: ApiServer;
  let client: KubeClient;
  let base: string;
  let registry: Registry;

  before(async () => {
    store = new SqliteStore({ path: ':memory:', historyCapacity: 50 });
    const machinery = defaultMachinery();
    const allocator = new ServiceAllocator({ random: Math.random });
    registry = new Registry({ store, strategies: defaultStrategies({ serviceAllocator: allocator }), applyDefaults: machinery.applyDefaults, validate: machinery.validate });
    await bootstrapCluster(registry, { serviceIP: '10.96.0.1', apiAddress: '192.0.2.1', apiPort: 6443 });
    server = new ApiServer({ registry, machinery, bindAddress: '127.0.0.1', port: 0, advertiseHost: '127.0.0.1', bookmarkIntervalMs: 50 });
    const addr = await server.listen();
    base = `http://127.0.0.1:${addr.port}`;
    client = new KubeClient({ server: base });
  });
  after(async () => {
    client.close();
    await server.close();
    await store.close();
  });

  it('creates with generateName, uid and creationTimestamp', async () => {
    const o = await client.create(r('configmaps'), 'default', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { generateName: 'gen-' } });
    assert.match(o.metadata.name!, /^gen-[a-z0-9]{5}$/);
    assert.match(o.metadata.uid!, /^[0-9a-f-]{36}$/);
    assert.match(o.metadata.creationTimestamp!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  });

  it('answers requests while many watches are open on the same client (regression: a 32-socket limit queued them forever)', async () => {
    const ac = new AbortController();
    const watches = Array.from({ length: 40 }, () => client.watch(r('configmaps'), 'default', {}, () => {}, ac.signal));
    try {
      await new Promise((res) => setTimeout(res, 100));
      const got = await client.get(r('namespaces'), undefined, 'default');
      assert.equal(got.metadata.name, 'default');
    } finally {
      ac.abort();
      await Promise.all(watches);
    }
  });

  it('refuses a stale update with 409 Conflict and kube\'s words', async () => {
    const o = await client.create(r('configmaps'), 'default', cm('cas'));
    await client.update(r('configmaps'), { ...o, data: { a: 'c' } });
    await rejectsWith(client.update(r('configmaps'), { ...o, data: { a: 'd' } }), 409,
      /^Operation cannot be fulfilled on configmaps "cas": the object has been modified; please apply your changes to the latest version and try again$/);
  });

  it('pages a list with limit and continue, and filters by label and field', async () => {
    for (let i = 0; i < 5; i++) await client.create(r('configmaps'), 'default', cm(`page-${i}`, { page: 'yes', n: String(i) }));
    const first = await client.list(r('configmaps'), 'default', { labelSelector: 'page=yes', limit: 2 });
    assert.equal(first.items.length, 2);
    assert.ok(first.metadata.continue);
    const rest = await client.list(r('configmaps'), 'default', { labelSelector: 'page=yes', continue: first.metadata.continue });
    assert.deepEqual([...first.items, ...rest.items].map((o) => o.metadata.name), ['page-0', 'page-1', 'page-2', 'page-3', 'page-4']);
    const one = await client.list(r('configmaps'), 'default', { fieldSelector: 'metadata.name=page-3' });
    assert.deepEqual(one.items.map((o) => o.metadata.name), ['page-3']);
    const notin = await client.list(r('configmaps'), 'default', { labelSelector: 'page=yes,n notin (0,1,2)' });
    assert.deepEqual(notin.items.map((o) => o.metadata.name), ['page-3', 'page-4']);
    await rejectsWith(client.list(r('configmaps'), 'default', { fieldSelector: 'data.a=b' }), 400, /not a known field selector/);
  });

  it('watches from a resourceVersion with selector transitions and bookmarks', async () => {
    const start = await client.list(r('configmaps'), 'default');
    const events: WatchEvent[] = [];
    const ac = new AbortController();
    const done = client.watch(r('configmaps'), 'default', { resourceVersion: start.metadata.resourceVersion, labelSelector: 'w=1', allowWatchBookmarks: true }, (e) => events.push(e), ac.signal);
    const o = await client.create(r('configmaps'), 'default', cm('watched', { w: '1' }));
    await client.patch(r('configmaps'), 'default', 'watched', { metadata: { labels: { w: '2' } } });
    await client.patch(r('configmaps'), 'default', 'watched', { metadata: { labels: { w: '1' } } });
    await client.delete(r('configmaps'), 'default', 'watched');
    await client.create(r('configmaps'), 'default', cm('unwatched', { w: '0' }));
    const end = Date.now() + 3000;
    while ((events.filter((e) => e.type !== 'BOOKMARK').length < 4 || !events.some((e) => e.type === 'BOOKMARK')) && Date.now() < end) {
      await new Promise((res) => setTimeout(res, 20));
    }
    ac.abort();
    await done;
    const seen = events.filter((e) => e.type !== 'BOOKMARK').map((e) => `${e.type} ${e.object.metadata.name}`);
    // Leaving the selector is a DELETED, coming back an ADDED, as kube-apiserver sends them.
    assert.deepEqual(seen, ['ADDED watched', 'DELETED watched', 'ADDED watched', 'DELETED watched']);
    assert.equal(events.find((e) => e.type === 'ADDED')!.object.metadata.uid, o.metadata.uid);
    assert.ok(events.some((e) => e.type === 'BOOKMARK'), 'a bookmark arrived');
  });

  it('answers a watch from a revision older than the kept history with 410', async () => {
    for (let i = 0; i < 60; i++) await client.create(r('configmaps'), 'default', cm(`churn-${i}`));
    const err = await rejectsWith(client.watch(r('configmaps'), 'default', { resourceVersion: '1' }, () => {}), 410, /too old resource version: 1/);
    assert.equal(err.reason, 'Expired');
  });

  it('keeps an object with finalizers until the last one is removed', async () => {
    await client.create(r('configmaps'), 'default', { ...cm('fin'), metadata: { name: 'fin', finalizers: ['example.com/keep'] } });
    const marked = await client.delete(r('configmaps'), 'default', 'fin');
    assert.ok(marked.metadata.deletionTimestamp);
    const still = await client.get(r('configmaps'), 'default', 'fin');
    assert.deepEqual(still.metadata.finalizers, ['example.com/keep']);
    await client.patch(r('configmaps'), 'default', 'fin', { metadata: { finalizers: null } });
    await rejectsWith(client.get(r('configmaps'), 'default', 'fin'), 404, /configmaps "fin" not found/);
  });

  it('refuses bad bodies with 4xx and stores nothing', async () => {
    const raw = (method: string, path: string, body: string | Buffer, contentType: string) => new Promise<{ code: number; body: string }>((resolve, reject) => {
      const req = http.request(`${base}${path}`, { method, headers: { 'Content-Type': contentType } }, (res) => {
        let b = '';
        res.on('data', (d: Buffer) => { b += d.toString(); });
        res.on('end', () => resolve({ code: res.statusCode ?? 0, body: b }));
      });
      req.on('error', reject);
      req.end(body);
    });
    const path = '/api/v1/namespaces/default/configmaps';
    assert.equal((await raw('POST', path, '{"apiVersion":"v1","kind":"ConfigMap",', 'application/json')).code, 400);
    assert.equal((await raw('POST', path, 'kind: [', 'application/yaml')).code, 400);
    assert.equal((await raw('POST', path, '{}', 'text/plain')).code, 415);
    const wrongKind = await raw('POST', path, '{"apiVersion":"v1","kind":"Secret","metadata":{"name":"x"}}', 'application/json');
    assert.equal(wrongKind.code, 400);
    const big = Buffer.alloc(4 * 1024 * 1024, 'a');
    assert.equal((await raw('POST', path, big, 'application/json')).code, 413);
    const yaml = await raw('POST', path, 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-yaml\n', 'application/yaml');
    assert.equal(yaml.code, 201);
    const list = await client.list(r('configmaps'), 'default', { fieldSelector: 'metadata.name=x' });
    assert.equal(list.items.length, 0);
  });

  it('allocates Service addresses and answers 422 with causes', async () => {
    const svc = await client.create(r('services'), 'default', { apiVersion: 'v1', kind: 'Service', metadata: { name: 's1' }, spec: { type: 'NodePort', selector: { a: 'b' }, ports: [{ port: 80 }] } });
    const spec = svc.spec as { clusterIP: string; ports: { nodePort: number; protocol: string; targetPort: number }[] };
    assert.match(spec.clusterIP, /^10\.(9[6-9]|10\d|11[01])\./);
    assert.ok(spec.ports[0]!.nodePort >= 30000 && spec.ports[0]!.nodePort <= 32767);
    assert.equal(spec.ports[0]!.protocol, 'TCP');
    assert.equal(spec.ports[0]!.targetPort, 80);
    const err = await rejectsWith(client.create(r('services'), 'default', { apiVersion: 'v1', kind: 'Service', metadata: { name: 's2' },
      spec: { type: 'NodePort', selector: { a: 'b' }, ports: [{ port: 80, nodePort: spec.ports[0]!.nodePort }] } }), 422);
    assert.equal(err.details?.causes?.[0]?.field, 'spec.ports[0].nodePort');
    await client.delete(r('services'), 'default', 's1');
    // The port is free again once the Service is gone.
    await client.create(r('services'), 'default', { apiVersion: 'v1', kind: 'Service', metadata: { name: 's2' },
      spec: { type: 'NodePort', selector: { a: 'b' }, ports: [{ port: 80, nodePort: spec.ports[0]!.nodePort }] } });
  });

  it('advertises the port it listens on, and a bootstrap on another port moves the kubernetes Service and its endpoints there', async () => {
    const api = await (await fetch(`${base}/api`)).json() as { serverAddressByClientCIDRs: { serverAddress: string }[] };
    assert.equal(api.serverAddressByClientCIDRs[0]!.serverAddress, `127.0.0.1:${new URL(base).port}`);
    await bootstrapCluster(registry, { serviceIP: '10.96.0.1', apiAddress: '192.0.2.1', apiPort: 7443 });
    const svc = await client.get(r('services'), 'default', 'kubernetes') as KObject & { spec: { clusterIP: string; ports: { port: number; targetPort: number }[] } };
    assert.deepEqual([svc.spec.clusterIP, svc.spec.ports[0]!.port, svc.spec.ports[0]!.targetPort], ['10.96.0.1', 443, 7443]);
    const ep = await client.get(r('endpoints'), 'default', 'kubernetes') as KObject & { subsets: { ports: { port: number }[] }[] };
    assert.equal(ep.subsets[0]!.ports[0]!.port, 7443);
    const slice = await client.get(r('endpointslices'), 'default', 'kubernetes') as KObject & { ports: { port: number }[] };
    assert.equal(slice.ports[0]!.port, 7443);
    await bootstrapCluster(registry, { serviceIP: '10.96.0.1', apiAddress: '192.0.2.1', apiPort: 6443 });
  });

  /** A raw request; resolves with the status code and the parsed JSON answer. */
  const call = async (method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<{ code: number; json: Record<string, unknown> }> => {
    const r2 = await fetch(`${base}${path}`, { method, headers: { 'content-type': contentType }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    return { code: r2.status, json: await r2.json() as Record<string, unknown> };
  };
  const cmPath = '/api/v1/namespaces/default/configmaps';

  it('refuses the write options kube-apiserver refuses, in its words, and changes nothing', async () => {
    const created = await call('POST', `${cmPath}?dryRun=true`, cm('mistyped-dry-run'));
    assert.equal(created.code, 422);
    assert.equal(created.json.message, 'CreateOptions.meta.k8s.io "" is invalid: dryRun: Unsupported value: []string{"true"}: supported values: "All"');
    assert.equal((await call('GET', `${cmPath}/mistyped-dry-run`)).code, 404);
    await client.create(r('configmaps'), 'default', cm('opts'));
    const cases: [string, string, unknown, string, string][] = [
      ['PATCH', `${cmPath}/opts?force=true`, { data: { a: 'c' } }, 'application/merge-patch+json', 'PatchOptions.meta.k8s.io "" is invalid: force: Forbidden: may not be specified for non-apply patch'],
      ['PATCH', `${cmPath}/opts`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'opts' } }, 'application/apply-patch+yaml', 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch'],
      ['PUT', `${cmPath}/opts?fieldValidation=Bogus`, cm('opts'), 'application/json', 'UpdateOptions.meta.k8s.io "" is invalid: fieldValidation: Unsupported value: "Bogus": supported values: "", "Ignore", "Strict", "Warn"'],
      ['DELETE', `${cmPath}/opts?propagationPolicy=Bogus`, undefined, 'application/json', 'DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Unsupported value: "Bogus": supported values: "Foreground", "Background", "Orphan", "nil"'],
      ['GET', `${cmPath}?resourceVersionMatch=Exact`, undefined, 'application/json', 'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided'],
      ['GET', `${cmPath}?sendInitialEvents=true`, undefined, 'application/json', 'ListOptions.meta.k8s.io "" is invalid: sendInitialEvents: Forbidden: sendInitialEvents is forbidden for list'],
      ['GET', `${cmPath}?watch=true&resourceVersionMatch=NotOlderThan&resourceVersion=0`, undefined, 'application/json', 'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided'],
      ['GET', `${cmPath}?watch=true&sendInitialEvents=true`, undefined, 'application/json', 'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan'],
    ];
    for (const [method, path, body, ct, message] of cases) {
      const got = await call(method, path, body, ct);
      assert.deepEqual([got.code, got.json.message], [422, message], `${method} ${path}`);
    }
    assert.deepEqual((await client.get(r('configmaps'), 'default', 'opts')).data, { a: 'b' });
  });

  it('deletes a collection with the DeleteOptions of its body: a dry run or a failed precondition deletes nothing', async () => {
    for (const n of ['dc-1', 'dc-2']) await client.create(r('configmaps'), 'default', cm(n, { grp: 'dc' }));
    const names = async () => (await client.list(r('configmaps'), 'default', { labelSelector: 'grp=dc' })).items.map((o) => o.metadata.name).sort();
    const dry = await call('DELETE', `${cmPath}?labelSelector=grp%3Ddc`, { kind: 'DeleteOptions', apiVersion: 'v1', dryRun: ['All'] });
    assert.equal(dry.code, 200);
    assert.deepEqual(await names(), ['dc-1', 'dc-2']);
    const pre = await call('DELETE', `${cmPath}?labelSelector=grp%3Ddc`, { kind: 'DeleteOptions', apiVersion: 'v1', preconditions: { resourceVersion: '1' } });
    assert.equal(pre.code, 409, JSON.stringify(pre.json));
    assert.deepEqual(await names(), ['dc-1', 'dc-2']);
    assert.equal((await call('DELETE', `${cmPath}?labelSelector=grp%3Ddc`)).code, 200);
    assert.deepEqual(await names(), []);
  });

  it('takes a PUT without resourceVersion as an update of what is stored, refuses one naming another uid, and a patch changing the uid', async () => {
    const first = await client.create(r('configmaps'), 'default', cm('uncond'));
    const put = await call('PUT', `${cmPath}/uncond`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'uncond' }, data: { i: '1' } });
    assert.equal(put.code, 200, JSON.stringify(put.json));
    assert.deepEqual(put.json.data, { i: '1' });
    const otherUid = '11111111-1111-1111-1111-111111111111';
    const stale = await call('PUT', `${cmPath}/uncond`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'uncond', uid: otherUid }, data: { i: '2' } });
    assert.deepEqual([stale.code, stale.json.message], [409, `Operation cannot be fulfilled on configmaps "uncond": Precondition failed: UID in precondition: ${otherUid}, UID in object meta: ${first.metadata.uid}`]);
    const patched = await call('PATCH', `${cmPath}/uncond`, { metadata: { uid: otherUid } }, 'application/merge-patch+json');
    assert.equal(patched.code, 422);
    assert.match(String(patched.json.message), /metadata\.uid: Invalid value: "11111111-1111-1111-1111-111111111111": field is immutable/);
    assert.deepEqual((await client.get(r('configmaps'), 'default', 'uncond')).data, { i: '1' });
  });

  it('cuts a long generateName to fit, and refuses new content in a terminating namespace in NamespaceLifecycle\'s words', async () => {
    const base = `${'g'.repeat(59)}-`;
    const made = await client.create(r('configmaps'), 'default', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { generateName: base } });
    assert.equal(made.metadata.name!.length, 63);
    assert.ok(made.metadata.name!.startsWith(base.slice(0, 58)));
    await client.create(r('namespaces'), undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'ending' } });
    await client.delete(r('namespaces'), undefined, 'ending'); // Terminating: no namespace controller runs here
    const refused = await call('POST', '/api/v1/namespaces/ending/configmaps', cm('late'));
    assert.equal(refused.code, 403);
    assert.equal(refused.json.message, 'configmaps "late" is forbidden: unable to create new content in namespace ending because it is being terminated');
    assert.deepEqual((refused.json.details as { causes: unknown[] }).causes, [{ reason: 'NamespaceTerminating', message: 'namespace ending is being terminated', field: 'metadata.namespace' }]);
  });

  it('refuses a body with a value of the wrong JSON type as kube\'s decoder does (400; 422 naming the patch), storing nothing', async () => {
    const typo = await call('POST', cmPath, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'typo' }, data: { DEBUG: true } });
    assert.deepEqual([typo.code, typo.json.message], [400, 'ConfigMap in version "v1" cannot be handled as a ConfigMap: json: cannot unmarshal bool into Go struct field ConfigMap.data of type string']);
    assert.equal((await call('GET', `${cmPath}/typo`)).code, 404);
    const finalizers = await call('POST', cmPath, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'typo', finalizers: 'abc' } });
    assert.deepEqual([finalizers.code, finalizers.json.message], [400, 'ConfigMap in version "v1" cannot be handled as a ConfigMap: json: cannot unmarshal string into Go struct field ObjectMeta.metadata.finalizers of type []string']);
    await client.create(r('configmaps'), 'default', cm('typed'));
    const patched = await call('PATCH', `${cmPath}/typed`, { data: { a: 5 } }, 'application/merge-patch+json');
    assert.equal(patched.code, 422);
    assert.match(String(patched.json.message), /^ "" is invalid: patch: Invalid value: ".*": json: cannot unmarshal number into Go struct field ConfigMap\.data of type string$/);
    assert.deepEqual((await client.get(r('configmaps'), 'default', 'typed')).data, { a: 'b' });
  });
});
