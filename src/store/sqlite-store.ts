import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { EventLog } from './event-log.ts';
import {
  KeyExistsError, KeyNotFoundError, RevisionConflictError,
  type Entry, type ListOptions, type ListResult, type Store, type StoreEvent, type Watch, type WatchListener,
} from './store.ts';

interface Row {
  key: string;
  value: string;
  create_rev: number;
  mod_rev: number;
}

export interface SqliteStoreOptions {
  /** Database file, or ':memory:' for tests. */
  path: string;
  /** How many recent events a watch can resume from. */
  historyCapacity?: number;
}

/**
 * The embedded store: one SQLite file in WAL mode with synchronous=FULL, so every write is on disk
 * before it is acknowledged and survives kill -9 (and power loss). The revision counter lives in
 * the same transaction as the write, so revisions never repeat after a crash.
 */
export class SqliteStore implements Store {
  readonly #db: DatabaseSync;
  readonly #log: EventLog;
  #revision: number;
  #pending: PendingWrite[] = [];
  readonly #q: {
    get: StatementSync; list: StatementSync; listLimit: StatementSync; insert: StatementSync;
    update: StatementSync; delete: StatementSync; setRev: StatementSync;
  };

  constructor(opts: SqliteStoreOptions) {
    if (opts.path !== ':memory:') mkdirSync(dirname(opts.path), { recursive: true, mode: 0o700 });
    this.#db = new DatabaseSync(opts.path);
    this.#db.exec(`
      PRAGMA journal_mode = WAL;
      PRAGMA synchronous = FULL;
      CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, create_rev INTEGER NOT NULL, mod_rev INTEGER NOT NULL) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
      INSERT OR IGNORE INTO meta(name, value) VALUES ('revision', 0);
    `);
    const rev = this.#db.prepare(`SELECT value FROM meta WHERE name = 'revision'`).get() as { value: number };
    this.#revision = Number(rev.value);
    this.#log = new EventLog({ capacity: opts.historyCapacity, startRevision: this.#revision });
    this.#q = {
      get: this.#db.prepare('SELECT key, value, create_rev, mod_rev FROM kv WHERE key = ?'),
      list: this.#db.prepare('SELECT key, value, create_rev, mod_rev FROM kv WHERE key >= ? AND key < ? AND key > ? ORDER BY key'),
      listLimit: this.#db.prepare('SELECT key, value, create_rev, mod_rev FROM kv WHERE key >= ? AND key < ? AND key > ? ORDER BY key LIMIT ?'),
      insert: this.#db.prepare('INSERT INTO kv(key, value, create_rev, mod_rev) VALUES (?, ?, ?, ?)'),
      update: this.#db.prepare('UPDATE kv SET value = ?, mod_rev = ? WHERE key = ?'),
      delete: this.#db.prepare('DELETE FROM kv WHERE key = ?'),
      setRev: this.#db.prepare(`UPDATE meta SET value = ? WHERE name = 'revision'`),
    };
  }

  currentRevision(): number {
    return this.#revision;
  }

  async get(key: string): Promise<Entry | undefined> {
    const row = this.#q.get.get(key) as Row | undefined;
    return row ? toEntry(row) : undefined;
  }

  async list(prefix: string, opts: ListOptions = {}): Promise<ListResult> {
    const end = prefixEnd(prefix);
    const after = opts.startAfter ?? '';
    let rows: Row[];
    let more = false;
    if (opts.limit !== undefined && opts.limit > 0) {
      rows = this.#q.listLimit.all(prefix, end, after, opts.limit + 1) as unknown as Row[];
      if (rows.length > opts.limit) { rows.pop(); more = true; }
    } else {
      rows = this.#q.list.all(prefix, end, after) as unknown as Row[];
    }
    return { entries: rows.map(toEntry), revision: this.#revision, more };
  }

  async create(key: string, value: string): Promise<number> {
    return this.#write(() => {
      if (this.#q.get.get(key)) throw new KeyExistsError(key);
      const rev = this.#revision + 1;
      this.#q.insert.run(key, value, rev, rev);
      return { type: 'create', key, value, prevValue: undefined, revision: rev };
    });
  }

  async update(key: string, value: string, expectedRevision?: number): Promise<number> {
    return this.#write(() => {
      const cur = this.#q.get.get(key) as Row | undefined;
      if (!cur) throw new KeyNotFoundError(key);
      if (expectedRevision !== undefined && Number(cur.mod_rev) !== expectedRevision) {
        throw new RevisionConflictError(key, Number(cur.mod_rev));
      }
      const rev = this.#revision + 1;
      this.#q.update.run(value, rev, key);
      return { type: 'update', key, value, prevValue: cur.value, revision: rev };
    });
  }

  async delete(key: string, expectedRevision?: number): Promise<{ revision: number; prev: Entry }> {
    let prev: Entry | undefined;
    const revision = await this.#write(() => {
      const cur = this.#q.get.get(key) as Row | undefined;
      if (!cur) throw new KeyNotFoundError(key);
      if (expectedRevision !== undefined && Number(cur.mod_rev) !== expectedRevision) {
        throw new RevisionConflictError(key, Number(cur.mod_rev));
      }
      prev = toEntry(cur);
      const rev = this.#revision + 1;
      this.#q.delete.run(key);
      return { type: 'delete', key, value: cur.value, prevValue: cur.value, revision: rev };
    });
    return { revision, prev: prev! };
  }

  watch(prefix: string, afterRevision: number, listener: WatchListener): Watch {
    return this.#log.watch(prefix, afterRevision, listener);
  }

  async close(): Promise<void> {
    if (this.#pending.length) this.#flush();
    this.#log.closeAll();
    this.#db.close();
  }

  /**
   * Queues one write; writes queued in the same turn of the event loop are committed together in
   * one transaction (group commit: one fsync for the batch instead of one per write, which would
   * otherwise block the event loop for every write). Each write runs in its own savepoint, so a
   * failing one (conflict, exists) changes nothing and the others still land. Resolves with the
   * write's revision once the batch is durable.
   */
  #write(fn: () => StoreEvent): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#pending.push({ fn, resolve, reject });
      if (this.#pending.length === 1) setImmediate(() => this.#flush());
    });
  }

  #flush(): void {
    const batch = this.#pending;
    this.#pending = [];
    const before = this.#revision;
    const done: { op: PendingWrite; ev?: StoreEvent; err?: unknown }[] = [];
    try {
      this.#db.exec('BEGIN IMMEDIATE');
      for (const op of batch) {
        this.#db.exec('SAVEPOINT write');
        try {
          const ev = op.fn();
          this.#revision = ev.revision;
          this.#db.exec('RELEASE write');
          done.push({ op, ev });
        } catch (err) {
          this.#db.exec('ROLLBACK TO write');
          this.#db.exec('RELEASE write');
          done.push({ op, err });
        }
      }
      if (this.#revision !== before) this.#q.setRev.run(this.#revision);
      this.#db.exec('COMMIT');
    } catch (err) {
      try { this.#db.exec('ROLLBACK'); } catch { /* the transaction is already gone */ }
      this.#revision = before;
      for (const op of batch) op.reject(err);
      return;
    }
    for (const d of done) {
      if (d.ev) {
        this.#log.append(d.ev);
        d.op.resolve(d.ev.revision);
      } else {
        d.op.reject(d.err);
      }
    }
  }
}

interface PendingWrite {
  fn: () => StoreEvent;
  resolve: (revision: number) => void;
  reject: (err: unknown) => void;
}

function toEntry(row: Row): Entry {
  return { key: row.key, value: row.value, createRevision: Number(row.create_rev), modRevision: Number(row.mod_rev) };
}

/** The smallest string greater than every string that starts with `prefix`. */
function prefixEnd(prefix: string): string {
  return prefix + '\u{10FFFF}';
}
