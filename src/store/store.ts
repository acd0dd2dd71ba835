// The versioned key-value store behind the API server. One global, monotonic revision
// counter: every write gets the next revision, which becomes the object's resourceVersion.
// Backends: embedded (node:sqlite, default) and later etcd; both pass store.case.test.ts.

export interface Entry {
  readonly key: string;
  readonly value: string; // the object as JSON
  readonly createRevision: number;
  readonly modRevision: number;
}

export type WatchEventType = 'create' | 'update' | 'delete';

export interface StoreEvent {
  readonly type: WatchEventType;
  readonly key: string;
  /** The value after the write; for deletes, the last value before it. */
  readonly value: string;
  readonly prevValue: string | undefined;
  readonly revision: number;
}

export interface ListResult {
  readonly entries: Entry[];
  /** The store revision the list was read at. */
  readonly revision: number;
  /** True when `limit` cut the list short. */
  readonly more: boolean;
}

export interface ListOptions {
  /** Return keys strictly greater than this one (for continue tokens). */
  readonly startAfter?: string;
  readonly limit?: number;
}

export interface Watch {
  stop(): void;
}

export type WatchListener = (ev: StoreEvent) => void;

/** Failure classes the API server maps to Status errors. */
export class KeyExistsError extends Error {
  readonly key: string;
  constructor(key: string) { super(`key exists: ${key}`); this.key = key; this.name = 'KeyExistsError'; }
}
export class KeyNotFoundError extends Error {
  readonly key: string;
  constructor(key: string) { super(`key not found: ${key}`); this.key = key; this.name = 'KeyNotFoundError'; }
}
export class RevisionConflictError extends Error {
  readonly key: string;
  readonly actual: number;
  constructor(key: string, actual: number) { super(`revision conflict on ${key}: now ${actual}`); this.key = key; this.actual = actual; this.name = 'RevisionConflictError'; }
}
export class CompactedError extends Error {
  readonly requested: number;
  readonly oldest: number;
  constructor(requested: number, oldest: number) {
    super(`revision ${requested} is older than the oldest kept (${oldest})`);
    this.requested = requested; this.oldest = oldest; this.name = 'CompactedError';
  }
}

export interface Store {
  /** The revision of the last write (0 for an empty new store). */
  currentRevision(): number;
  get(key: string): Promise<Entry | undefined>;
  /** Keys starting with `prefix`, in key order. */
  list(prefix: string, opts?: ListOptions): Promise<ListResult>;
  /** Creates `key`; fails with KeyExistsError if present. Resolves to the new revision. */
  create(key: string, value: string): Promise<number>;
  /**
   * Replaces `key`; with `expectedRevision`, fails with RevisionConflictError unless the key's
   * modRevision equals it. Fails with KeyNotFoundError when absent.
   */
  update(key: string, value: string, expectedRevision?: number): Promise<number>;
  /** Deletes `key` (same precondition rules as update). Resolves to the deleting revision and last entry. */
  delete(key: string, expectedRevision?: number): Promise<{ revision: number; prev: Entry }>;
  /**
   * Delivers every event under `prefix` with revision > `afterRevision`, first the kept history then
   * live ones, in revision order. Throws CompactedError when that history is no longer kept.
   */
  watch(prefix: string, afterRevision: number, listener: WatchListener): Watch;
  close(): Promise<void>;
}
