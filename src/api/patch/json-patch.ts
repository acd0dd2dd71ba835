// JSON patch, RFC 6902, for `application/json-patch+json`, with kube-apiserver's failure modes
// (k8s.io/apiserver/pkg/endpoints/handlers/patch.go, jsonPatcher.applyJSPatch): a body that is not
// a list of operations is a 400, more than 10000 operations a 413, and any operation that fails to
// apply (a failed `test`, a missing path, an unknown `op`) a 422 whose message is the fixed text of
// NewGenericServerResponse: the reason for the failure is not given back, as in Kubernetes.
import jsonpatch from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';
import { StatusError, errors } from '../errors.ts';
import { unprocessablePatch } from './patch-errors.ts';

/** kube-apiserver's maxJSONPatchOperations. */
export const maxJsonPatchOperations = 10000;

/**
 * Applies RFC 6902 operations to `original` and returns the result; inputs are not mutated.
 * Throws StatusError 400 (not a list of operation objects), 413 (too many), 422 (an operation failed).
 */
export function applyJsonPatch(original: unknown, ops: unknown): unknown {
  // Go decodes `null` into an empty patch.
  if (ops === null) return structuredClone(original);
  if (!Array.isArray(ops)) throw errors.badRequest(`json: cannot unmarshal ${jsonKind(ops)} into Go value of type jsonpatch.Patch`);
  for (const op of ops) {
    if (typeof op !== 'object' || op === null || Array.isArray(op)) {
      throw errors.badRequest(`json: cannot unmarshal ${jsonKind(op)} into Go value of type jsonpatch.Operation`);
    }
  }
  if (ops.length > maxJsonPatchOperations) {
    throw new StatusError(413, 'RequestEntityTooLarge', `The allowed maximum operations in a JSON patch is ${maxJsonPatchOperations}, got ${ops.length}`);
  }
  try {
    // Both are copied: fast-json-patch inserts operation values into the document by reference.
    const result = jsonpatch.applyPatch(structuredClone(original), structuredClone(ops) as Operation[], true, true, true);
    return result.newDocument;
  } catch {
    throw unprocessablePatch();
  }
}

function jsonKind(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'object') return 'object';
  if (typeof v === 'boolean') return 'bool';
  return typeof v;
}
