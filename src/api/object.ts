// The generic shape of every stored object. Typed views come from `kubernetes-types`;
// objects are validated where they enter (HTTP body, store read) and trusted inside.
import type { ObjectMeta as KubeObjectMeta } from 'kubernetes-types/meta/v1.d.ts';

/** ObjectMeta without kubernetes-types' readonly markers: the server fills these fields in. */
export type ObjectMeta = { -readonly [K in keyof KubeObjectMeta]: KubeObjectMeta[K] };

export interface KObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  [field: string]: unknown;
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Deep copy of a JSON value (objects in the store and caches are never shared mutably). */
export function cloneJson<T>(v: T): T {
  return structuredClone(v);
}
