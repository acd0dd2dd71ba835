// JSON merge patch, RFC 7386: maps merge recursively, null removes a key, anything else (lists
// included) replaces. Used for `application/merge-patch+json`.
import { isRecord } from '../object.ts';

/** Applies an RFC 7386 merge patch and returns the result; a non-object patch is the result itself. Never throws, never mutates. */
export function applyJsonMergePatch(original: unknown, patch: unknown): unknown {
  return mergeInto(structuredClone(original), structuredClone(patch));
}

/** Merges `patch` into `target`; both are private copies. */
function mergeInto(target: unknown, patch: unknown): unknown {
  if (!isRecord(patch)) return patch;
  const result: Record<string, unknown> = isRecord(target) ? target : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = mergeInto(result[key], value);
  }
  return result;
}
