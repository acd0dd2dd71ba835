// Patch failures worded as kube-apiserver words them. The strategic-merge-patch package returns
// plain Go errors; the apiserver's patch handler (k8s.io/apiserver/pkg/endpoints/handlers/patch.go,
// interpretStrategicMergePatchError) maps a few sentinels to 400 or 422 and lets the rest through,
// which the response writer turns into a 500 carrying the error text as the message.
import { StatusError, errors } from '../errors.ts';

/** The text NewGenericServerResponse puts on every 422 it builds; the underlying error is dropped. */
export const genericInvalidMessage = 'the server rejected our request due to an error in our request';

/** mergepatch sentinel errors (k8s.io/apimachinery/pkg/util/mergepatch/errors.go). */
export const mergePatchMessages = {
  badJSONDoc: 'invalid JSON document',
  noListOfLists: 'lists of lists are not supported',
  badPrimitiveList: 'invalid patch format of primitive list',
  badRetainKeys: 'invalid patch format of retainKeys',
  badSetElementOrder: 'invalid patch format of setElementOrder list',
  unsupportedFormat: 'strategic merge patch format is not supported',
} as const;

/** A malformed directive: 400 BadRequest with the sentinel's text. */
export function badPatch(message: string): StatusError {
  return errors.badRequest(message);
}

/** What NewGenericServerResponse(422, …) produces: reason Invalid, a fixed message, empty details. */
export function unprocessablePatch(): StatusError {
  return new StatusError(422, 'Invalid', genericInvalidMessage, {});
}

/**
 * Any other patch error. kube-apiserver answers 500 with the raw error text and an empty reason;
 * podgate's reasons have no empty value, so this carries `InternalError` with the same text.
 */
export function patchFailure(message: string): StatusError {
  return new StatusError(500, 'InternalError', message);
}

/** Go's reflect type name of a decoded JSON value (kube decodes integers as int64). */
export function goTypeName(v: unknown): string {
  if (v === null || v === undefined) return '<nil>';
  if (Array.isArray(v)) return '[]interface {}';
  switch (typeof v) {
    case 'string':
      return 'string';
    case 'boolean':
      return 'bool';
    case 'number':
      return Number.isInteger(v) ? 'int64' : 'float64';
    case 'object':
      return 'map[string]interface {}';
    default:
      return typeof v;
  }
}

/** Renders a decoded JSON value like Go's `%v`: `map[a:1 b:[x y]]`, keys sorted. */
export function goFormat(v: unknown): string {
  if (v === null || v === undefined) return '<nil>';
  if (Array.isArray(v)) return `[${v.map(goFormat).join(' ')}]`;
  if (typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `map[${entries.map(([k, x]) => `${k}:${goFormat(x)}`).join(' ')}]`;
  }
  return String(v);
}

/** mergepatch.ErrBadArgType: `expected a []interface {}, but received a string`. */
export function badArgType(expected: 'map' | 'slice', actual: unknown): StatusError {
  const want = expected === 'map' ? 'map[string]interface {}' : '[]interface {}';
  return patchFailure(`expected a ${want}, but received a ${goTypeName(actual)}`);
}

/** mergepatch.ErrNoMergeKey. */
export function noMergeKey(item: unknown, mergeKey: string): StatusError {
  return patchFailure(`map: ${goFormat(item)} does not contain declared merge key: ${mergeKey}`);
}
