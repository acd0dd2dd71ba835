// Ordering of merged lists, shared by strategic merge patch and server-side apply. Follows the
// rule of k8s.io/apimachinery/pkg/util/strategicpatch (normalizeElementOrder, mergeSortedSlice):
// items named by the patch keep the patch's order, items only the server has keep the live order,
// and the two runs are interleaved using the live order where both items appear in it.
import { isRecord } from '../object.ts';
import { badArgType, noMergeKey, patchFailure, goFormat, badPatch, mergePatchMessages, unprocessablePatch } from './patch-errors.ts';

export type JsonMap = Record<string, unknown>;

/** What the items of one or more lists are: maps, or one primitive type. */
export type ElementKind = 'map' | 'string' | 'number' | 'boolean' | 'null';

function kindOf(v: unknown): ElementKind | 'list' {
  if (v === null || v === undefined) return 'null';
  if (Array.isArray(v)) return 'list';
  if (typeof v === 'object') return 'map';
  if (typeof v === 'string') return 'string';
  if (typeof v === 'boolean') return 'boolean';
  return 'number';
}

/**
 * The common element kind of the lists (sliceElementType). Lists of lists fail with 422 as in kube;
 * mixed kinds fail like kube's `list element types are not identical`. Empty lists give `fallback`
 * (kube errors there, but only in cases kubectl never produces).
 */
export function elementKind(lists: readonly (readonly unknown[])[], fallback: ElementKind): ElementKind {
  let kind: ElementKind | undefined;
  for (const list of lists) {
    for (const v of list) {
      const k = kindOf(v);
      if (k === 'list') throw unprocessablePatch();
      if (kind === undefined) kind = k;
      else if (kind !== k) throw patchFailure(`list element types are not identical: ${goFormat(lists)}`);
    }
  }
  return kind ?? fallback;
}

/** The identity of an item for ordering: its merge key value for maps, itself for primitives. */
function identity(item: unknown, mergeKey: string, kind: ElementKind): unknown {
  if (kind !== 'map') return item;
  return isRecord(item) ? item[mergeKey] : undefined;
}

function indexIn(list: readonly unknown[], item: unknown, mergeKey: string, kind: ElementKind): number {
  const id = identity(item, mergeKey, kind);
  return list.findIndex((x) => identity(x, mergeKey, kind) === id);
}

/** findMapInSliceBasedOnKeyValue: the index of the map whose merge key equals `value`, or -1. */
export function findByMergeKey(list: readonly unknown[], mergeKey: string, value: unknown): number {
  for (let i = 0; i < list.length; i++) {
    const item = list[i];
    if (!isRecord(item)) throw patchFailure(`value for key ${i} is not a map`);
    if (mergeKey in item && item[mergeKey] === value) return i;
  }
  return -1;
}

function requireMergeKeys(mergeKey: string, ...lists: (readonly unknown[])[]): void {
  for (const list of lists) {
    for (const item of list) {
      if (!isRecord(item)) throw badArgType('map', item);
      if (!(mergeKey in item)) throw noMergeKey(item, mergeKey);
    }
  }
}

/** Sorts `items` by their position in `order` (stable; items absent from `order` keep their place). */
function sortByOrder(items: readonly unknown[], order: readonly unknown[], mergeKey: string, kind: ElementKind): unknown[] {
  let toSort = [...items];
  let toDelete: unknown[] = [];
  if (kind === 'map') {
    requireMergeKeys(mergeKey, toSort, order);
    toDelete = toSort.filter((v) => isRecord(v) && v['$patch'] === 'delete');
    toSort = toSort.filter((v) => !(isRecord(v) && v['$patch'] === 'delete'));
  }
  const positions = new Map<unknown, number>();
  for (const item of toSort) positions.set(item, indexIn(order, item, mergeKey, kind));
  toSort.sort((a, b) => {
    const pa = positions.get(a) ?? -1;
    const pb = positions.get(b) ?? -1;
    return pa >= 0 && pb >= 0 ? pa - pb : 0;
  });
  return [...toSort, ...toDelete];
}

/**
 * Puts the server-only items (`left`) among the patch items (`right`): each left item goes before
 * the first right item that comes after it in `serverOrder`. Relative orders of both runs are kept.
 */
function interleave(left: readonly unknown[], right: readonly unknown[], serverOrder: readonly unknown[], mergeKey: string, kind: ElementKind): unknown[] {
  const out: unknown[] = [];
  let i = 0;
  let j = 0;
  while (i < left.length || j < right.length) {
    if (i >= left.length) out.push(right[j++]);
    else if (j >= right.length) out.push(left[i++]);
    else {
      const li = indexIn(serverOrder, left[i], mergeKey, kind);
      const ri = indexIn(serverOrder, right[j], mergeKey, kind);
      if (li >= 0 && ri >= 0 && li < ri) out.push(left[i++]);
      else out.push(right[j++]);
    }
  }
  return out;
}

/**
 * Orders a merged list: items present in `patchOrder` follow it, the others follow `serverOrder`,
 * and the two are interleaved by the live order.
 */
export function orderMergedList(
  merged: readonly unknown[],
  patchOrder: readonly unknown[],
  serverOrder: readonly unknown[],
  mergeKey: string,
  kind: ElementKind,
): unknown[] {
  const inPatch: unknown[] = [];
  const serverOnly: unknown[] = [];
  for (const item of merged) {
    if (kind === 'map') {
      if (!isRecord(item)) throw badArgType('map', item);
      if (!(mergeKey in item)) throw noMergeKey(item, mergeKey);
      (findByMergeKey(patchOrder, mergeKey, item[mergeKey]) >= 0 ? inPatch : serverOnly).push(item);
    } else {
      (patchOrder.includes(item) ? inPatch : serverOnly).push(item);
    }
  }
  const patchSorted = sortByOrder(inPatch, patchOrder, mergeKey, kind);
  const serverSorted = sortByOrder(serverOnly, serverOrder, mergeKey, kind);
  return interleave(serverSorted, patchSorted, serverOrder, mergeKey, kind);
}

/** Removes duplicates from a primitive list, keeping first occurrences. */
export function dedupe(list: readonly unknown[]): unknown[] {
  const seen = new Set<unknown>();
  const out: unknown[] = [];
  for (const v of list) {
    if (seen.has(v)) continue;
    seen.add(v);
    out.push(v);
  }
  return out;
}

/** `$setElementOrder/x` and `$deleteFromPrimitiveList/x` → `x`; a bare prefix is a 400 as in kube. */
export function directiveTarget(key: string, prefix: '$setElementOrder' | '$deleteFromPrimitiveList'): string {
  const slash = key.indexOf('/');
  if (slash < 0 || key.slice(0, slash) !== prefix) {
    throw badPatch(prefix === '$setElementOrder' ? mergePatchMessages.badSetElementOrder : mergePatchMessages.badPrimitiveList);
  }
  return key.slice(slash + 1);
}
