// The patch engine: pure functions from (object, PATCH body) to the patched object.
export { applyPatch, patchContentTypes, patchTypeOf, supportedPatchTypes, unsupportedPatchType, type PatchContentType } from './apply-patch.ts';
export { applyStrategicMergePatch } from './strategic-merge-patch.ts';
export { applyJsonMergePatch } from './json-merge-patch.ts';
export { applyJsonPatch, maxJsonPatchOperations } from './json-patch.ts';
export { applyServerSideApply } from './server-side-apply.ts';
export { hasPatchSchema, patchSchemaFor, type FieldPatchMeta, type GroupVersionKind, type PatchSchema } from './patch-meta.ts';
