import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { KObject } from '../api/object.ts';
import { resources } from '../api/resources.ts';
import { Informer, stripReadOnly } from './informer.ts';
import type { KubeClient } from './rest-client.ts';

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';
const applied = (name: string, rv: string): KObject => ({
  apiVersion: 'v1', kind: 'Secret',
  metadata: {
    name, namespace: 'default', resourceVersion: rv,
    annotations: { [LAST_APPLIED]: '{"data":{"tls.crt":"…"}}', team: 'web' },
    managedFields: [{ manager: 'kubectl-client-side-apply', operation: 'Update' }],
  },
  data: { 'tls.crt': 'Y2VydA==' },
});

describe('stripReadOnly', () => {
  it('drops managedFields and the last-applied annotation, keeps every other field, and leaves its input alone', () => {
    const o = applied('a', '1');
    const before = structuredClone(o);
    const s = stripReadOnly(o);
    assert.deepEqual(s, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'a', namespace: 'default', resourceVersion: '1', annotations: { team: 'web' } }, data: { 'tls.crt': 'Y2VydA==' } });
    assert.deepEqual(o, before);
  });

  it('returns an object with neither as it is', () => {
    const o: KObject = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'a', annotations: { team: 'web' } } };
    assert.equal(stripReadOnly(o), o);
  });
});

describe('Informer transform', () => {
  it('caches, and hands handlers, objects from the list and the watch as the transform made them', async () => {
    const client = {
      list: async () => ({ apiVersion: 'v1', kind: 'SecretList', metadata: { resourceVersion: '1' }, items: [applied('listed', '1')] }),
      watch: (_r: unknown, _ns: unknown, _q: unknown, onEvent: (ev: { type: string; object: KObject }) => void, signal: AbortSignal) => {
        onEvent({ type: 'ADDED', object: applied('watched', '2') });
        return new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve()));
      },
    } as unknown as KubeClient;
    const secrets = resources.find((r) => r.group === '' && r.resource === 'secrets')!;
    const inf = new Informer({ client, resource: secrets, transform: stripReadOnly });
    const added: KObject[] = [];
    const watched = new Promise<void>((resolve) => inf.addHandlers({ onAdd: (o) => { added.push(o); if (added.length === 2) resolve(); } }));
    inf.start();
    await watched;
    await inf.stop();
    for (const o of [...added, ...inf.list()]) {
      assert.equal(o.metadata.managedFields, undefined);
      assert.deepEqual(o.metadata.annotations, { team: 'web' });
    }
    assert.deepEqual(inf.list().map((o) => o.metadata.name).sort(), ['listed', 'watched']);
  });
});

describe('Informer retries', () => {
  it('backs off while the API server is away (doubling waits), and stops at once while waiting', async () => {
    let lists = 0;
    const client = { list: async () => { lists++; throw new Error('connect ECONNREFUSED'); } } as unknown as KubeClient;
    const secrets = resources.find((r) => r.group === '' && r.resource === 'secrets')!;
    const inf = new Informer({ client, resource: secrets, retryDelayMs: 10 });
    inf.start();
    await new Promise((r) => setTimeout(r, 320));
    // Waits of 10, 20, 40, 80, 160 ms: six tries in 320 ms at most (a fixed 10 ms would make ~30).
    assert.ok(lists >= 2 && lists <= 7, `${lists} lists in 320 ms`);
    await inf.stop(); // in a wait of 320 ms or more: must not sit it out
  });
});
