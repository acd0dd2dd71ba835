// One behaviour suite for every Store backend (the embedded one now, etcd later).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CompactedError, KeyExistsError, KeyNotFoundError, RevisionConflictError, type Store, type StoreEvent } from './store.ts';

export function runStoreCases(name: string, open: () => Promise<{ store: Store; reopen?: () => Promise<Store> }>): void {
  describe(`store contract: ${name}`, () => {
    it('creates, gets and lists in key order with monotonic revisions', async () => {
      const { store } = await open();
      const r1 = await store.create('/a/2', '"two"');
      const r2 = await store.create('/a/1', '"one"');
      await store.create('/b/1', '"other"');
      assert.ok(r2 > r1);
      const e = await store.get('/a/2');
      assert.equal(e?.value, '"two"');
      assert.equal(e?.createRevision, r1);
      const l = await store.list('/a/');
      assert.deepEqual(l.entries.map((x) => x.key), ['/a/1', '/a/2']);
      assert.equal(l.revision, store.currentRevision());
      await store.close();
    });

    it('refuses a second create of one key', async () => {
      const { store } = await open();
      await store.create('/k', '1');
      await assert.rejects(store.create('/k', '2'), KeyExistsError);
      assert.equal((await store.get('/k'))?.value, '1');
      await store.close();
    });

    it('updates with and without a precondition', async () => {
      const { store } = await open();
      const r1 = await store.create('/k', '1');
      const r2 = await store.update('/k', '2', r1);
      await assert.rejects(store.update('/k', '3', r1), RevisionConflictError);
      await assert.rejects(store.update('/nope', '3'), KeyNotFoundError);
      const r3 = await store.update('/k', '4');
      assert.ok(r3 > r2);
      const e = await store.get('/k');
      assert.equal(e?.value, '4');
      assert.equal(e?.createRevision, r1);
      assert.equal(e?.modRevision, r3);
      await store.close();
    });

    it('deletes and reports the last value', async () => {
      const { store } = await open();
      const r1 = await store.create('/k', '1');
      await assert.rejects(store.delete('/k', r1 + 100), RevisionConflictError);
      const d = await store.delete('/k', r1);
      assert.equal(d.prev.value, '1');
      assert.ok(d.revision > r1);
      assert.equal(await store.get('/k'), undefined);
      await assert.rejects(store.delete('/k'), KeyNotFoundError);
      await store.close();
    });

    it('pages a list with limit and startAfter', async () => {
      const { store } = await open();
      for (let i = 0; i < 5; i++) await store.create(`/p/${i}`, String(i));
      const first = await store.list('/p/', { limit: 2 });
      assert.deepEqual(first.entries.map((e) => e.key), ['/p/0', '/p/1']);
      assert.equal(first.more, true);
      const rest = await store.list('/p/', { startAfter: '/p/1', limit: 10 });
      assert.deepEqual(rest.entries.map((e) => e.key), ['/p/2', '/p/3', '/p/4']);
      assert.equal(rest.more, false);
      await store.close();
    });

    it('watches from a revision: replays history then delivers live events in order', async () => {
      const { store } = await open();
      const r0 = await store.create('/w/a', '1');
      await store.update('/w/a', '2');
      await store.create('/x/other', '0');
      const seen: StoreEvent[] = [];
      const w = store.watch('/w/', r0, (ev) => seen.push(ev));
      await store.create('/w/b', '3');
      await store.delete('/w/a');
      // Live events are fanned out after the write returns (never inside it).
      await new Promise((r) => setImmediate(r));
      w.stop();
      await store.create('/w/c', 'after stop');
      assert.deepEqual(seen.map((e) => [e.type, e.key, e.value]), [
        ['update', '/w/a', '2'], ['create', '/w/b', '3'], ['delete', '/w/a', '2'],
      ]);
      assert.equal(seen[0]?.prevValue, '1');
      const revs = seen.map((e) => e.revision);
      assert.deepEqual([...revs].sort((a, b) => a - b), revs);
      await store.close();
    });

    it('answers a watch from before its history with CompactedError', async () => {
      const { store, reopen } = await open();
      await store.create('/h/1', '1');
      const r = await store.create('/h/2', '2');
      if (!reopen) { await store.close(); return; }
      await store.close();
      const again = await reopen();
      assert.equal(again.currentRevision(), r, 'revision survives a restart');
      assert.throws(() => again.watch('/h/', r - 1, () => {}), CompactedError);
      const w = again.watch('/h/', r, () => {});
      w.stop();
      const r3 = await again.create('/h/3', '3');
      assert.ok(r3 > r, 'revisions never repeat after a restart');
      await again.close();
    });
  });
}
