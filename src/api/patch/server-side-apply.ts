// Server-side apply (`application/apply-patch+yaml`, `kubectl apply --server-side`), simplified.
//
// Kubernetes merges the applied configuration into the live object with structured-merge-diff and
// records who owns each field in metadata.managedFields; a field another manager owns is a 409
// conflict unless forced, and a field the same manager applied before but leaves out now is removed.
// podgate keeps neither record. It merges the applied configuration into the live object with the
// merge keys of strategic merge patch and keeps every field the configuration does not mention:
//   - maps merge recursively; scalars and atomic lists from the configuration replace live ones;
//   - keyed lists (containers by name, ports by port, …) merge item by item, new items are added,
//     live items the configuration leaves out are kept (never pruned, since ownership is unknown);
//   - primitive merge lists (finalizers) become the union;
//   - `null` in the configuration means "not mentioned"; `$patch`-style directives have no meaning
//     and are stored as ordinary fields;
//   - no conflict detection, no managedFields written, `force` is irrelevant.
// Service ports are keyed by port alone here; real apply keys them by (port, protocol).
import { errors } from '../errors.ts';
import { isRecord } from '../object.ts';
import { childPath, itemPath, patchSchemaFor, type GroupVersionKind, type PatchSchema } from './patch-meta.ts';
import { noMergeKey } from './patch-errors.ts';
import { dedupe, elementKind, findByMergeKey, orderMergedList, type JsonMap } from './list-order.ts';

/**
 * Merges the applied configuration into `live` (undefined when the object does not exist yet) and
 * returns the new object; inputs are not mutated. Throws StatusError 400 when the configuration is
 * not an object, names another apiVersion, or carries metadata.managedFields (kube's wording).
 */
export function applyServerSideApply(live: unknown, applied: unknown, gvk: GroupVersionKind): unknown {
  if (!isRecord(applied)) throw errors.badRequest('error decoding patch: the apply configuration must be an object');
  const expected = gvk.group ? `${gvk.group}/${gvk.version}` : gvk.version;
  const specified = typeof applied['apiVersion'] === 'string' ? applied['apiVersion'] : '';
  if (specified !== expected) {
    throw errors.badRequest(`Incorrect version specified in apply patch. Specified patch version: ${specified}, expected: ${expected}`);
  }
  const metadata = applied['metadata'];
  if (isRecord(metadata) && metadata['managedFields'] !== undefined && metadata['managedFields'] !== null) {
    throw errors.badRequest('metadata.managedFields must be nil');
  }
  const schema = patchSchemaFor(gvk) ?? {};
  const config = withoutNulls(applied) as JsonMap;
  if (!isRecord(live)) return config;
  return mergeMap(structuredClone(live), config, '', schema);
}

function mergeMap(live: JsonMap, config: JsonMap, path: string, schema: PatchSchema): JsonMap {
  for (const [key, value] of Object.entries(config)) {
    const fieldPath = childPath(path, key);
    const current = live[key];
    const meta = schema[fieldPath];
    if (isRecord(current) && isRecord(value) && meta?.strategy !== 'replace') {
      live[key] = mergeMap(current, value, fieldPath, schema);
    } else if (Array.isArray(current) && Array.isArray(value) && meta?.strategy === 'merge') {
      live[key] = mergeList(current, value, fieldPath, meta.mergeKey ?? '', schema);
    } else {
      live[key] = value;
    }
  }
  return live;
}

function mergeList(live: unknown[], config: unknown[], path: string, mergeKey: string, schema: PatchSchema): unknown[] {
  if (config.length === 0) return live;
  const kind = elementKind([live, config], mergeKey ? 'map' : 'string');
  if (kind !== 'map') return orderMergedList(dedupe([...live, ...config]), config, live, '', kind);
  if (!mergeKey) return config;
  const merged = [...live];
  for (const item of config) {
    if (!isRecord(item) || !(mergeKey in item)) throw noMergeKey(item, mergeKey);
    const at = findByMergeKey(merged, mergeKey, item[mergeKey]);
    const existing = at >= 0 ? merged[at] : undefined;
    if (isRecord(existing)) merged[at] = mergeMap(existing, item, itemPath(path), schema);
    else merged.push(item);
  }
  return orderMergedList(merged, config, live, mergeKey, kind);
}

/** A copy without null map values (an applied `null` says nothing about the field here). */
function withoutNulls(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(withoutNulls);
  if (!isRecord(v)) return v;
  const out: JsonMap = {};
  for (const [k, x] of Object.entries(v)) if (x !== null) out[k] = withoutNulls(x);
  return out;
}
