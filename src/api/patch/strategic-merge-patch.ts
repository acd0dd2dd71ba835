// Strategic merge patch as kube-apiserver applies it (k8s.io/apimachinery/pkg/util/strategicpatch,
// StrategicMergeMapPatch with MergeParallelList and IgnoreUnmatchedNulls): JSON merge patch, except
// that lists tagged `merge` merge item by item by their merge key, and the directives `$patch`,
// `$retainKeys`, `$setElementOrder/<list>` and `$deleteFromPrimitiveList/<list>` are honoured.
//
// Where podgate differs on purpose: values the patch adds wholesale (a new key, a replaced list, a
// `$patch: replace` map) are stored without nulls and directive keys, because podgate stores
// untyped JSON where kube would drop them while decoding into Go structs; and a `$patch: replace`
// map under a key the original lacks keeps its content (kube drops the key).
import { isRecord } from '../object.ts';
import { childPath, itemPath, patchSchemaFor, type FieldPatchMeta, type GroupVersionKind, type PatchSchema } from './patch-meta.ts';
import {
  badArgType,
  badPatch,
  goFormat,
  mergePatchMessages,
  noMergeKey,
  patchFailure,
} from './patch-errors.ts';
import { dedupe, directiveTarget, elementKind, findByMergeKey, orderMergedList, type JsonMap } from './list-order.ts';

const patchDirective = '$patch';
const retainKeysDirective = '$retainKeys';
const setElementOrderPrefix = '$setElementOrder';
const deleteFromPrimitiveListPrefix = '$deleteFromPrimitiveList';

/**
 * Applies a strategic merge patch to `original` for an object of kind `gvk` and returns the result.
 * Unknown kinds merge with JSON merge patch semantics (every list replaced; directives still work).
 * Inputs are not mutated. Throws StatusError: 400 for a malformed patch or directive, 422 for lists
 * of lists, 500 (kube's wording) for merge-key and type mismatches.
 */
export function applyStrategicMergePatch(original: unknown, patch: unknown, gvk: GroupVersionKind): unknown {
  return applyStrategicMergePatchWithSchema(original, patch, patchSchemaFor(gvk) ?? {});
}

/** applyStrategicMergePatch with an explicit schema (field path → list strategy); same promises. */
export function applyStrategicMergePatchWithSchema(original: unknown, patch: unknown, schema: PatchSchema): unknown {
  if (!isRecord(patch)) throw badPatch(`json: cannot unmarshal ${goJsonKind(patch)} into Go value of type map[string]interface {}`);
  const base = isRecord(original) ? structuredClone(original) : {};
  return mergeMap(base, structuredClone(patch), '', schema);
}

function goJsonKind(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'object') return 'object';
  return typeof v;
}

/** Merges `patch` into `original` (both owned by the caller, mutated) and returns the result. */
function mergeMap(original: JsonMap, patch: JsonMap, path: string, schema: PatchSchema): JsonMap {
  if (patchDirective in patch) return mapDirective(patch[patchDirective], patch);

  applyRetainKeys(original, patch);
  applySetElementOrder(original, patch, path, schema);

  for (const [rawKey, patchV] of Object.entries(patch)) {
    let key = rawKey;
    let isDeleteList = false;
    if (rawKey.startsWith(deleteFromPrimitiveListPrefix)) {
      key = directiveTarget(rawKey, deleteFromPrimitiveListPrefix);
      isDeleteList = true;
    }
    if (patchV === null) {
      delete original[key];
      continue;
    }
    const fieldPath = childPath(path, key);
    const current = original[key];
    if (!(key in original) || shapeOf(current) !== shapeOf(patchV)) {
      if (!isDeleteList) setCleaned(original, key, patchV);
      continue;
    }
    const meta = schema[fieldPath];
    if (isRecord(current) && isRecord(patchV)) {
      original[key] = meta?.strategy === 'replace' ? cleanMap(patchV) : mergeMap(current, patchV, fieldPath, schema);
    } else if (Array.isArray(current) && Array.isArray(patchV)) {
      original[key] = mergeListField(current, patchV, fieldPath, meta, isDeleteList, schema);
    } else {
      setCleaned(original, key, patchV);
    }
  }
  return original;
}

/** `$patch` inside a map: `replace` → the patch itself, `delete` → an empty map, anything else fails. */
function mapDirective(directive: unknown, patch: JsonMap): JsonMap {
  if (directive === 'replace') {
    const { [patchDirective]: _, ...rest } = patch;
    return cleanMap(rest);
  }
  if (directive === 'delete') return {};
  throw patchFailure(`unknown patch type: ${goFormat(directive)} in map: ${goFormat(patch)}`);
}

/** `$retainKeys`: keys of `original` not listed are cleared; every key the patch sets must be listed. */
function applyRetainKeys(original: JsonMap, patch: JsonMap): void {
  if (!(retainKeysDirective in patch)) return;
  const list = patch[retainKeysDirective];
  delete patch[retainKeysDirective];
  if (!Array.isArray(list)) throw badPatch(mergePatchMessages.badRetainKeys);
  const keep = new Set<unknown>(list);
  for (const [k, v] of Object.entries(patch)) {
    if (v === null || k.startsWith(deleteFromPrimitiveListPrefix) || k.startsWith(setElementOrderPrefix)) continue;
    if (!keep.has(k)) throw badPatch(mergePatchMessages.badRetainKeys);
  }
  for (const k of Object.keys(original)) if (!keep.has(k)) delete original[k];
}

/**
 * `$setElementOrder/<list>`: merges the list (if the patch has it) and orders the result: items in
 * the order list follow it, server-only items keep their live positions relative to them.
 */
function applySetElementOrder(original: JsonMap, patch: JsonMap, path: string, schema: PatchSchema): void {
  for (const directiveKey of Object.keys(patch)) {
    if (!directiveKey.startsWith(setElementOrderPrefix)) continue;
    const order = patch[directiveKey];
    delete patch[directiveKey];
    if (!Array.isArray(order)) throw badArgType('slice', order);
    const key = directiveTarget(directiveKey, setElementOrderPrefix);
    const fieldPath = childPath(path, key);
    const meta = schema[fieldPath];
    const mergeKey = meta?.mergeKey ?? '';

    const hasOriginal = key in original;
    const hasPatch = key in patch;
    const originalList = hasOriginal ? original[key] : [];
    const patchList = hasPatch ? patch[key] : [];
    if (!Array.isArray(originalList)) throw badArgType('slice', originalList);
    if (!Array.isArray(patchList)) throw badArgType('slice', patchList);
    validateAgainstOrder(patchList, order, mergeKey);

    let merged: unknown[];
    if (hasOriginal && !hasPatch) merged = originalList;
    else if (!hasOriginal && hasPatch) merged = cleanList(patchList);
    else if (hasOriginal && hasPatch) merged = mergeListField(originalList, patchList, fieldPath, meta, false, schema);
    else continue;

    const kind = elementKind([originalList, patchList], mergeKey ? 'map' : 'string');
    if (kind === 'map' && !mergeKey) {
      // An atomic list of maps has no identity to order by (kube would panic); leave it as merged.
      original[key] = merged;
    } else {
      const serverOrder = kind === 'map' && hasOriginal && hasPatch && meta?.strategy === 'merge' ? goAliasedLiveOrder(originalList, patchList, mergeKey) : originalList;
      original[key] = orderMergedList(merged, order, serverOrder, mergeKey, kind);
    }
    delete patch[key];
  }
}

/**
 * The live list as kube's ordering step sees it after merging. Go's mergeSlice deletes items in
 * place (`append(l[:i], l[i+1:]...)`) and appends new items into the freed capacity, and that
 * backing array is the one mergePatchIntoOriginal then orders server-only items by. So positions
 * freed by `$patch: delete` items hold the first new items (or stale copies of the last live ones).
 * Reproduced here because it decides where kept items land when kubectl apply removes one
 * container and adds another in the same patch.
 */
function goAliasedLiveOrder(live: readonly unknown[], patch: readonly unknown[], mergeKey: string): unknown[] {
  const backing = [...live];
  let length = backing.length;
  for (const item of patch) {
    if (!isRecord(item) || item[patchDirective] !== 'delete') continue;
    for (;;) {
      const at = backing.slice(0, length).findIndex((v) => isRecord(v) && mergeKey in v && v[mergeKey] === item[mergeKey]);
      if (at < 0) break;
      backing.copyWithin(at, at + 1, length); // the last slot keeps its stale value, as in Go
      length--;
    }
  }
  if (patch.some((item) => isRecord(item) && item[patchDirective] === 'replace')) return backing;
  const current = backing.slice(0, length);
  for (const item of patch) {
    if (!isRecord(item) || patchDirective in item) continue;
    if (current.some((v) => isRecord(v) && v[mergeKey] === item[mergeKey])) continue;
    current.push(item);
    if (length < backing.length) backing[length++] = item;
    else break; // Go reallocates: later appends no longer touch the live backing array
  }
  return backing;
}

/**
 * validatePatchWithSetOrderList: the patch list's items (deletions aside) must appear in the order
 * list, in the same relative order.
 */
function validateAgainstOrder(patchList: readonly unknown[], order: readonly unknown[], mergeKey: string): void {
  if (order.length === 0 || patchList.length === 0) return;
  let items = patchList;
  if (mergeKey) {
    for (const v of patchList) if (!isRecord(v)) throw badArgType('map', v);
    items = patchList.filter((v) => !(isRecord(v) && v[patchDirective] === 'delete'));
  }
  let p = 0;
  let o = 0;
  while (p < items.length && o < order.length) {
    const item = items[p];
    if (isRecord(item) && patchDirective in item) {
      p++;
      continue;
    }
    if (sameIdentity(item, order[o], mergeKey)) p++;
    o++;
  }
  if (p < items.length && o >= order.length) {
    throw patchFailure(`The order in patch list:\n${goFormat(patchList)}\n doesn't match ${setElementOrderPrefix} list:\n${goFormat(order)}\n`);
  }
}

function sameIdentity(left: unknown, right: unknown, mergeKey: string): boolean {
  if (!mergeKey) return left === right;
  if (!isRecord(left)) throw badArgType('map', left);
  if (!isRecord(right)) throw badArgType('map', right);
  if (!(mergeKey in left)) throw noMergeKey(left, mergeKey);
  if (!(mergeKey in right)) throw noMergeKey(right, mergeKey);
  return left[mergeKey] === right[mergeKey];
}

/** A list field present in both: merged when tagged `merge` (or a deletion list), else replaced. */
function mergeListField(
  original: unknown[],
  patch: unknown[],
  path: string,
  meta: FieldPatchMeta | undefined,
  isDeleteList: boolean,
  schema: PatchSchema,
): unknown[] {
  if (meta?.strategy === 'merge' || isDeleteList) return mergeList(original, patch, path, meta?.mergeKey ?? '', isDeleteList, schema);
  return cleanList(patch);
}

function mergeList(original: unknown[], patch: unknown[], path: string, mergeKey: string, isDeleteList: boolean, schema: PatchSchema): unknown[] {
  if (original.length === 0 && patch.length === 0) return original;
  const kind = elementKind([original, patch], 'string');

  if (kind !== 'map') {
    if (isDeleteList) {
      const doomed = new Set(patch);
      return original.filter((v) => !doomed.has(v));
    }
    return orderMergedList(dedupe([...original, ...patch]), patch, original, '', kind);
  }

  if (!mergeKey) throw patchFailure(`cannot merge lists without merge key for ${path}`);
  const { base, items } = applyListDirectives(original, patch as JsonMap[], mergeKey);
  const merged = [...base];
  for (const item of items) {
    if (!(mergeKey in item)) throw noMergeKey(item, mergeKey);
    const at = findByMergeKey(merged, mergeKey, item[mergeKey]);
    const existing = at >= 0 ? merged[at] : undefined;
    if (isRecord(existing)) merged[at] = mergeMap(existing, item, itemPath(path), schema);
    else merged.push(cleanMap(item));
  }
  return orderMergedList(merged, items, base, mergeKey, kind);
}

/**
 * mergeSliceWithSpecialElements: `{$patch: delete, <key>: v}` items remove every original item with
 * that key; a `{$patch: replace}` item makes the rest of the patch list the whole list.
 */
function applyListDirectives(original: unknown[], patch: JsonMap[], mergeKey: string): { base: unknown[]; items: JsonMap[] } {
  let base = original;
  let replace = false;
  const items: JsonMap[] = [];
  for (const item of patch) {
    if (!(patchDirective in item)) {
      items.push(item);
      continue;
    }
    const directive = item[patchDirective];
    if (directive === 'delete') {
      if (!(mergeKey in item)) throw noMergeKey(item, mergeKey);
      const value = item[mergeKey];
      base = base.filter((v) => {
        if (!isRecord(v)) throw patchFailure(`value for key ${base.indexOf(v)} is not a map`);
        return !(mergeKey in v && v[mergeKey] === value);
      });
    } else if (directive === 'replace') {
      replace = true;
    } else if (directive === 'merge') {
      throw patchFailure('merging lists cannot yet be specified in the patch');
    } else {
      throw patchFailure(`unknown patch type: ${goFormat(directive)} in map: ${goFormat(item)}`);
    }
  }
  if (replace) return { base: items.map(cleanMap), items: [] };
  return { base, items };
}

/** Values of different shapes do not merge: the patch value replaces (kube compares Go types). */
function shapeOf(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (Array.isArray(v)) return 'list';
  if (typeof v === 'object') return 'map';
  return `scalar:${typeof v}`;
}

function setCleaned(target: JsonMap, key: string, value: unknown): void {
  const cleaned = clean(value, false);
  if (cleaned.keep) target[key] = cleaned.value;
  else delete target[key];
}

/**
 * A patch value taken as is (nothing to merge with): nulls dropped from maps, directive keys dropped,
 * list items carrying `$patch` dropped, a `$patch: delete` map dropped, a `$patch: replace` map kept.
 */
function clean(value: unknown, inList: boolean): { keep: boolean; value: unknown } {
  if (Array.isArray(value)) return { keep: true, value: cleanList(value) };
  if (!isRecord(value)) return { keep: true, value };
  if (patchDirective in value) {
    if (inList || value[patchDirective] !== 'replace') return { keep: false, value: undefined };
  }
  return { keep: true, value: cleanMap(value) };
}

function cleanMap(map: JsonMap): JsonMap {
  const out: JsonMap = {};
  for (const [k, v] of Object.entries(map)) {
    if (v === null || isDirectiveKey(k)) continue;
    const cleaned = clean(v, false);
    if (cleaned.keep) out[k] = cleaned.value;
  }
  return out;
}

function cleanList(list: readonly unknown[]): unknown[] {
  const out: unknown[] = [];
  for (const v of list) {
    const cleaned = clean(v, true);
    if (cleaned.keep) out.push(cleaned.value);
  }
  return out;
}

function isDirectiveKey(k: string): boolean {
  return k === patchDirective || k === retainKeysDirective || k.startsWith(`${setElementOrderPrefix}/`) || k.startsWith(`${deleteFromPrimitiveListPrefix}/`);
}
