// ObjectMeta rules shared by every kind (apimachinery pkg/api/validation/objectmeta.go plus the
// core wrapper that checks finalizer names).
import type { FieldError } from '../errors.ts';
import type { ObjectMeta } from '../object.ts';
import { isDNS1035Label, isDNS1123Label, isDNS1123Subdomain, isLabelValue, isQualifiedName } from './format.ts';
import { child, forbidden, goQuote, goValue, index, invalid, required, tooLong } from './field-errors.ts';

/** Checks a name (or, with prefix, a generateName whose trailing dash is allowed). */
export type NameValidator = (name: string, prefix: boolean) => string[];

function maskTrailingDash(name: string): string {
  return name.length > 1 && name.endsWith('-') ? `${name.slice(0, -2)}a` : name;
}

export const nameIsDNSSubdomain: NameValidator = (n, prefix) => isDNS1123Subdomain(prefix ? maskTrailingDash(n) : n);
export const nameIsDNSLabel: NameValidator = (n, prefix) => isDNS1123Label(prefix ? maskTrailingDash(n) : n);
export const nameIsDNS1035Label: NameValidator = (n, prefix) => isDNS1035Label(prefix ? maskTrailingDash(n) : n);

export const totalAnnotationSizeLimitB = 256 * 1024;
const standardFinalizers = new Set(['kubernetes', 'orphan', 'foregroundDeletion']);

export function validateLabels(labels: Record<string, string> | undefined, path: string): FieldError[] {
  const errs: FieldError[] = [];
  for (const [k, v] of Object.entries(labels ?? {})) {
    for (const m of isQualifiedName(k)) errs.push(invalid(path, k, m));
    for (const m of isLabelValue(String(v))) errs.push(invalid(path, v, m));
  }
  return errs;
}

export function validateAnnotations(annotations: Record<string, string> | undefined, path: string): FieldError[] {
  const errs: FieldError[] = [];
  let total = 0;
  for (const [k, v] of Object.entries(annotations ?? {})) {
    for (const m of isQualifiedName(k.toLowerCase())) errs.push(invalid(path, k, m));
    total += Buffer.byteLength(k) + Buffer.byteLength(String(v));
  }
  if (total > totalAnnotationSizeLimitB) errs.push(tooLong(path, totalAnnotationSizeLimitB));
  return errs;
}

function validateFinalizers(finalizers: readonly string[] | undefined, path: string): FieldError[] {
  const errs: FieldError[] = [];
  const list = finalizers ?? [];
  for (const f of list) for (const m of isQualifiedName(f)) errs.push(invalid(path, f, m));
  if (list.includes('orphan') && list.includes('foregroundDeletion')) {
    errs.push(invalid(path, list, 'finalizer orphan and foregroundDeletion cannot be both set', goSliceOf(list)));
  }
  // The core wrapper: an unqualified name must be one of the standard finalizers.
  list.forEach((f, i) => {
    if (!f.includes('/') && !standardFinalizers.has(f)) {
      errs.push(invalid(index(path, i), f, 'name is neither a standard finalizer name nor is it fully qualified'));
    }
  });
  return errs;
}

function goSliceOf(list: readonly string[]): string {
  return `[]string{${list.map(goQuote).join(', ')}}`;
}

function validateOwnerReferences(refs: ObjectMeta['ownerReferences'], path: string): FieldError[] {
  const errs: FieldError[] = [];
  let firstController = '';
  (refs ?? []).forEach((r, i) => {
    const p = index(path, i);
    if (!r.apiVersion) errs.push(required(child(p, 'apiVersion'), 'must not be empty'));
    if (!r.kind) errs.push(required(child(p, 'kind'), 'must not be empty'));
    if (!r.name) errs.push(required(child(p, 'name'), 'must not be empty'));
    if (!r.uid) errs.push(required(child(p, 'uid'), 'must not be empty'));
    if (r.controller) {
      const cur = `${r.kind}/${r.name}`;
      if (firstController) {
        errs.push(invalid(path, refs, `Only one reference can have Controller set to true. Found "true" in references for ${firstController} and ${cur}`, '[]v1.OwnerReference{...}'));
      } else {
        firstController = cur;
      }
    }
  });
  return errs;
}

export interface MetaRules {
  /** Namespaced kinds need metadata.namespace (the API server fills it from the URL first). */
  readonly namespaced: boolean;
  readonly nameFn: NameValidator;
}

/** ValidateObjectMeta: name/generateName, namespace, labels, annotations, owners, finalizers. */
export function validateObjectMeta(meta: ObjectMeta | undefined, rules: MetaRules, path = 'metadata'): FieldError[] {
  const m = meta ?? {};
  const errs: FieldError[] = [];
  if (m.generateName) {
    for (const msg of rules.nameFn(m.generateName, true)) errs.push(invalid(child(path, 'generateName'), m.generateName, msg));
  }
  if (!m.name) {
    errs.push(required(child(path, 'name'), 'name or generateName is required'));
  } else {
    for (const msg of rules.nameFn(m.name, false)) errs.push(invalid(child(path, 'name'), m.name, msg));
  }
  if (rules.namespaced) {
    if (!m.namespace) errs.push(required(child(path, 'namespace')));
    else for (const msg of nameIsDNSLabel(m.namespace, false)) errs.push(invalid(child(path, 'namespace'), m.namespace, msg));
  } else if (m.namespace) {
    errs.push(forbidden(child(path, 'namespace'), 'not allowed on this type'));
  }
  if (typeof m.generation === 'number' && m.generation < 0) {
    errs.push(invalid(child(path, 'generation'), m.generation, 'must be greater than or equal to 0'));
  }
  errs.push(...validateLabels(m.labels, child(path, 'labels')));
  errs.push(...validateAnnotations(m.annotations, child(path, 'annotations')));
  errs.push(...validateOwnerReferences(m.ownerReferences, child(path, 'ownerReferences')));
  errs.push(...validateFinalizers(m.finalizers, child(path, 'finalizers')));
  return errs;
}

/** metav1.Time renders through time.Time.String(): `2026-11-22 04:07:49 +0000 UTC`. */
function goTime(t: string | undefined): string {
  if (!t) return '0001-01-01 00:00:00 +0000 UTC';
  const d = new Date(t);
  if (Number.isNaN(d.getTime())) return goQuote(t);
  return `${d.toISOString().slice(0, 19).replace('T', ' ')} +0000 UTC`;
}

function immutable(path: string, now: unknown, before: unknown, rendered?: string): FieldError[] {
  if (JSON.stringify(now ?? null) === JSON.stringify(before ?? null)) return [];
  return [invalid(path, now, 'field is immutable', rendered)];
}

/** ValidateObjectMetaUpdate: identity fields may not change; resourceVersion must be sent. */
export function validateObjectMetaUpdate(meta: ObjectMeta | undefined, old: ObjectMeta | undefined, path = 'metadata'): FieldError[] {
  const m = meta ?? {};
  const o = old ?? {};
  const errs: FieldError[] = [];
  if (o.deletionTimestamp) {
    const extra = [...new Set(m.finalizers ?? [])].filter((f) => !(o.finalizers ?? []).includes(f)).sort();
    if (extra.length) {
      errs.push(forbidden(child(path, 'finalizers'), `no new finalizers can be added if the object is being deleted, found new finalizers ${goSliceOf(extra)}`));
    }
  }
  if (!m.resourceVersion) errs.push(invalid(child(path, 'resourceVersion'), m.resourceVersion ?? '', 'must be specified for an update'));
  if ((m.generation ?? 0) < (o.generation ?? 0)) errs.push(invalid(child(path, 'generation'), m.generation ?? 0, 'must not be decremented'));
  errs.push(...immutable(child(path, 'name'), m.name ?? '', o.name ?? ''));
  errs.push(...immutable(child(path, 'namespace'), m.namespace ?? '', o.namespace ?? ''));
  errs.push(...immutable(child(path, 'uid'), m.uid ?? '', o.uid ?? ''));
  errs.push(...immutable(child(path, 'creationTimestamp'), m.creationTimestamp ?? '', o.creationTimestamp ?? '', goTime(m.creationTimestamp)));
  errs.push(...immutable(child(path, 'deletionTimestamp'), m.deletionTimestamp, o.deletionTimestamp, m.deletionTimestamp ? goTime(m.deletionTimestamp) : 'null'));
  errs.push(...immutable(child(path, 'deletionGracePeriodSeconds'), m.deletionGracePeriodSeconds, o.deletionGracePeriodSeconds, goValue(m.deletionGracePeriodSeconds)));
  errs.push(...validateLabels(m.labels, child(path, 'labels')));
  errs.push(...validateAnnotations(m.annotations, child(path, 'annotations')));
  errs.push(...validateOwnerReferences(m.ownerReferences, child(path, 'ownerReferences')));
  return errs;
}
