import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { runStoreCases } from './store.cases.ts';
import { SqliteStore } from './sqlite-store.ts';
import { CompactedError } from './store.ts';

const dirs: string[] = [];
after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

runStoreCases('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'podgate-store-'));
  dirs.push(dir);
  const path = join(dir, 'state.db');
  return { store: new SqliteStore({ path }), reopen: async () => new SqliteStore({ path }) };
});

describe('sqlite store history window', () => {
  it('drops the oldest events past its capacity and says so to late watchers', async () => {
    const store = new SqliteStore({ path: ':memory:', historyCapacity: 3 });
    for (let i = 0; i < 6; i++) await store.create(`/k/${i}`, String(i));
    assert.throws(() => store.watch('/k/', 1, () => {}), CompactedError);
    const seen: number[] = [];
    store.watch('/k/', 3, (e) => seen.push(e.revision)).stop();
    assert.deepEqual(seen, [4, 5, 6]);
    await store.close();
  });
});
