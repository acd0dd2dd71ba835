// The garbage collector against the real API server in-process: deleting an owner in the
// background, orphaning, and in the foreground (the owner waits for a blocking dependent).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { StatusError } from '../../api/errors.ts';
import type { KObject } from '../../api/object.ts';
import { resources } from '../../api/resources.ts';
import { startInProcessApiServer, type InProcessApiServer } from '../../apiserver/in-process.ts';
import type { KubeClient } from '../../client/rest-client.ts';
import { GarbageCollector } from './garbage-collector.ts';

const cms = resources.find((r) => r.resource === 'configmaps')!;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('garbage collector with the API server', () => {
  let api: InProcessApiServer;
  let client: KubeClient;
  let gc: GarbageCollector;

  before(async () => {
    api = await startInProcessApiServer();
    client = api.client;
    gc = new GarbageCollector({ client, resources: [cms] });
    await gc.start();
  });
  after(async () => {
    await gc.stop();
    await api.stop();
  });

  const owner = (name: string) => client.create(cms, 'default', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name } });
  const dependent = (name: string, o: KObject, extra: Record<string, unknown> = {}) => client.create(cms, 'default', {
    apiVersion: 'v1', kind: 'ConfigMap',
    metadata: { name, ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: o.metadata.name!, uid: o.metadata.uid!, controller: true, blockOwnerDeletion: true }], ...extra },
  });
  const exists = async (name: string) => {
    try { return await client.get(cms, 'default', name); } catch (err) { if (err instanceof StatusError && err.code === 404) return undefined; throw err; }
  };
  const until = async (what: string, f: () => Promise<boolean>) => {
    for (let i = 0; i < 100; i++) { if (await f()) return; await sleep(50); }
    throw new Error(`timed out: ${what}`);
  };
  const del = (name: string, policy?: string) => client.request('DELETE', `/api/v1/namespaces/default/configmaps/${name}`, { kind: 'DeleteOptions', apiVersion: 'v1', ...(policy ? { propagationPolicy: policy } : {}) });

  it('deletes the dependents of an owner deleted in the background, and leaves dependents whose owner exists', async () => {
    const o = await owner('bg-owner');
    await dependent('bg-dep', o);
    await sleep(300);
    assert.ok(await exists('bg-dep'), 'an owned object with its owner present stays');
    await del('bg-owner');
    await until('bg-dep deleted', async () => !(await exists('bg-dep')));
  });

  it('deletes an object created with an owner that never existed (a dangling reference)', async () => {
    await dependent('dangling', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'ghost', uid: '00000000-0000-0000-0000-000000000000' } });
    await until('dangling deleted', async () => !(await exists('dangling')));
  });

  it('orphans: the dependents lose their reference and stay, the owner goes', async () => {
    const o = await owner('or-owner');
    await dependent('or-dep', o);
    await del('or-owner', 'Orphan');
    await until('or-owner gone', async () => !(await exists('or-owner')));
    const dep = await exists('or-dep');
    assert.ok(dep);
    assert.equal(dep.metadata.ownerReferences, undefined);
  });

  it('foreground: the owner stays (with foregroundDeletion) until its blocking dependent is gone', async () => {
    const o = await owner('fg-owner');
    // A finalizer of someone else's keeps the dependent around for a while.
    await dependent('fg-dep', o, { finalizers: ['example.com/hold'] });
    await del('fg-owner', 'Foreground');
    await until('fg-dep being deleted', async () => Boolean((await exists('fg-dep'))?.metadata.deletionTimestamp));
    await sleep(300);
    assert.deepEqual((await exists('fg-owner'))?.metadata.finalizers, ['foregroundDeletion'], 'the owner waits for its dependent');
    await client.patch(cms, 'default', 'fg-dep', { metadata: { finalizers: null } });
    await until('fg-owner gone', async () => !(await exists('fg-owner')));
  });
});
