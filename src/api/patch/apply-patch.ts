// The one entry the PATCH handler calls: picks the patch engine from the Content-Type, as
// kube-apiserver's PatchResource does, with its wording for bodies it cannot read.
import { parse as parseYaml } from 'yaml';
import { StatusError, errors } from '../errors.ts';
import { applyJsonMergePatch } from './json-merge-patch.ts';
import { applyJsonPatch } from './json-patch.ts';
import type { GroupVersionKind } from './patch-meta.ts';
import { applyServerSideApply } from './server-side-apply.ts';
import { applyStrategicMergePatch } from './strategic-merge-patch.ts';

export const patchContentTypes = {
  jsonPatch: 'application/json-patch+json',
  mergePatch: 'application/merge-patch+json',
  strategicMergePatch: 'application/strategic-merge-patch+json',
  applyPatch: 'application/apply-patch+yaml',
} as const;

export type PatchContentType = (typeof patchContentTypes)[keyof typeof patchContentTypes];

/** In the order kube-apiserver lists them (k8s.io/apiserver/pkg/endpoints/installer.go). */
export const supportedPatchTypes: readonly PatchContentType[] = [
  patchContentTypes.jsonPatch,
  patchContentTypes.mergePatch,
  patchContentTypes.strategicMergePatch,
  patchContentTypes.applyPatch,
];

/** The 415 kube-apiserver answers for a PATCH whose Content-Type it does not take. */
export function unsupportedPatchType(): StatusError {
  return new StatusError(
    415,
    'UnsupportedMediaType',
    `the body of the request was in an unknown format - accepted media types include: ${supportedPatchTypes.join(', ')}`,
  );
}

/** The media type without parameters, lower-cased: `application/merge-patch+json; charset=utf-8` → `application/merge-patch+json`. */
export function patchTypeOf(contentType: string): PatchContentType | undefined {
  const base = (contentType.split(';')[0] ?? '').trim().toLowerCase();
  return (supportedPatchTypes as readonly string[]).includes(base) ? (base as PatchContentType) : undefined;
}

/**
 * Applies a PATCH body to `original` (undefined only for server-side apply creating the object)
 * and returns the new object. `patchBody` is either the decoded body or its raw text/bytes.
 * Inputs are not mutated. Throws StatusError: 415 for an unknown Content-Type, 400 for a body that
 * does not decode, and whatever the chosen engine throws.
 */
export function applyPatch(contentType: string, original: unknown, patchBody: unknown, gvk: GroupVersionKind): unknown {
  const type = patchTypeOf(contentType);
  if (type === undefined) throw unsupportedPatchType();
  const body = decodeBody(type, patchBody);
  switch (type) {
    case patchContentTypes.jsonPatch:
      return applyJsonPatch(original, body);
    case patchContentTypes.mergePatch:
      // evanphx/json-patch MergePatch: a patch that is not a JSON object is ErrBadJSONPatch.
      if (body === null || typeof body !== 'object' || Array.isArray(body)) throw errors.badRequest('Invalid JSON Patch');
      return applyJsonMergePatch(original, body);
    case patchContentTypes.strategicMergePatch:
      return applyStrategicMergePatch(original, body, gvk);
    case patchContentTypes.applyPatch:
      return applyServerSideApply(original, body, gvk);
  }
}

function decodeBody(type: PatchContentType, body: unknown): unknown {
  let text: string;
  if (typeof body === 'string') text = body;
  else if (body instanceof Uint8Array) text = new TextDecoder().decode(body);
  else return body;

  if (type === patchContentTypes.applyPatch) {
    try {
      return parseYaml(text) as unknown;
    } catch (err) {
      throw errors.badRequest(`error encoding patch: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw errors.badRequest('invalid JSON patch');
  }
}
