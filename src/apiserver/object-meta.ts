// Small helpers on stored objects shared by the registry and the handlers.
import type { KObject } from '../api/object.ts';
import { apiVersionOf, type ResourceInfo } from '../api/resources.ts';

/** RFC 3339 with second precision, as metav1.Time marshals. */
export function k8sTime(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function storageKey(r: ResourceInfo, namespace: string | undefined, name?: string): string {
  const base = `/registry/${r.group || 'core'}/${r.resource}/`;
  if (!r.namespaced) return name === undefined ? base : base + name;
  if (namespace === undefined) return base;
  return name === undefined ? `${base}${namespace}/` : `${base}${namespace}/${name}`;
}

/** Parses a stored value and stamps the identity and resourceVersion the store knows. */
export function decodeStored(r: ResourceInfo, value: string, modRevision: number): KObject {
  const obj = JSON.parse(value) as KObject;
  obj.apiVersion = apiVersionOf(r.group, r.version);
  obj.kind = r.kind;
  obj.metadata.resourceVersion = String(modRevision);
  return obj;
}

/** The stored form: no resourceVersion (the store's revision is the source of truth). */
export function encodeStored(obj: KObject): string {
  const { resourceVersion: _rv, ...meta } = obj.metadata;
  return JSON.stringify({ ...obj, metadata: meta });
}
