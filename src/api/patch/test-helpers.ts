// Helpers for the patch tests: frozen inputs prove the engines never mutate what they are given.
import assert from 'node:assert/strict';
import { StatusError } from '../errors.ts';

export function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null) {
    for (const x of Object.values(v)) deepFreeze(x);
    Object.freeze(v);
  }
  return v;
}

/** Asserts that `fn` throws a StatusError with this code, reason and (when given) message. */
export function assertStatusError(fn: () => unknown, code: number, reason: string, message?: string | RegExp): StatusError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof StatusError, `expected a StatusError, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  assert.equal(caught.reason, reason);
  if (typeof message === 'string') assert.equal(caught.message, message);
  else if (message) assert.match(caught.message, message);
  return caught;
}
