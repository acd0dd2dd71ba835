// The options of a write (CreateOptions, UpdateOptions, PatchOptions, DeleteOptions) and of a list,
// read from the query (and a DeleteOptions body) and refused as kube-apiserver refuses them, with
// apimachinery's ValidateXOptions words: a mistyped `dryRun=true` must fail, never write for real.
import { errors, type FieldError } from '../../api/errors.ts';
import { isRecord } from '../../api/object.ts';
import { goQuote, goSlice } from '../../api/validation/field-errors.ts';

export type FieldValidation = 'Ignore' | 'Warn' | 'Strict';

export interface WriteOptions {
  readonly dryRun: boolean;
  readonly fieldValidation: FieldValidation;
}

export interface DeleteRequestOptions {
  readonly dryRun: boolean;
  readonly gracePeriodSeconds: number | undefined;
  readonly preconditions: { uid?: string; resourceVersion?: string } | undefined;
  /** Orphan, Background or Foreground; undefined lets the object's finalizers and kind decide. */
  readonly propagationPolicy: string | undefined;
}

type OptionsKind = 'CreateOptions' | 'UpdateOptions' | 'PatchOptions' | 'DeleteOptions' | 'ListOptions';

const FIELD_VALIDATION = ['', 'Ignore', 'Strict', 'Warn']; // sorted, as sets.List() gives them

function refuse(kind: OptionsKind, errs: FieldError[]): void {
  if (errs.length) throw errors.invalid(kind, 'meta.k8s.io', '', errs);
}

/** ValidateDryRun: every value must be "All". */
function dryRunErrors(values: readonly string[]): FieldError[] {
  if (values.every((v) => v === 'All')) return [];
  return [{ type: 'FieldValueNotSupported', field: 'dryRun', message: `Unsupported value: ${goSlice('string', values)}: supported values: "All"` }];
}

/** ValidateFieldManager: at most 128 characters, all printable. */
function fieldManagerErrors(manager: string): FieldError[] {
  const errs: FieldError[] = [];
  if (manager.length > 128) errs.push({ type: 'FieldValueTooLong', field: 'fieldManager', message: 'Too long: may not be more than 128 bytes' });
  if (/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u.test(manager)) errs.push({ type: 'FieldValueInvalid', field: 'fieldManager', message: `Invalid value: ${goQuote(manager)}: invalid character` });
  return errs;
}

/**
 * The options of a create, update or patch. `patchType`: the patch's media type, for PatchOptions'
 * own rules (force only with apply, and apply needs a fieldManager).
 */
export function writeOptions(kind: 'CreateOptions' | 'UpdateOptions' | 'PatchOptions', url: URL, patchType?: string): WriteOptions {
  const q = url.searchParams;
  const dryRun = q.getAll('dryRun');
  const fieldValidation = q.get('fieldValidation') ?? '';
  const fieldManager = q.get('fieldManager') ?? '';
  const errs: FieldError[] = [];
  if (kind === 'PatchOptions') {
    if (patchType !== 'application/apply-patch+yaml') {
      if (q.has('force')) errs.push({ type: 'FieldValueForbidden', field: 'force', message: 'Forbidden: may not be specified for non-apply patch' });
    } else if (!fieldManager) {
      errs.push({ type: 'FieldValueRequired', field: 'fieldManager', message: 'Required value: is required for apply patch' });
    }
  }
  errs.push(...fieldManagerErrors(fieldManager), ...dryRunErrors(dryRun));
  if (!FIELD_VALIDATION.includes(fieldValidation)) {
    errs.push({ type: 'FieldValueNotSupported', field: 'fieldValidation', message: `Unsupported value: ${goQuote(fieldValidation)}: supported values: ${FIELD_VALIDATION.map(goQuote).join(', ')}` });
  }
  refuse(kind, errs);
  return { dryRun: dryRun.length > 0, fieldValidation: (fieldValidation || 'Warn') as FieldValidation };
}

/** DeleteOptions from the body (what client-go sends) and the query (what kubectl sends), the query winning. */
export function deleteOptions(url: URL, body: Record<string, unknown>): DeleteRequestOptions {
  const q = url.searchParams;
  const dryRun = q.has('dryRun') ? q.getAll('dryRun') : Array.isArray(body.dryRun) ? body.dryRun.map(String) : [];
  const policy = q.get('propagationPolicy') ?? (typeof body.propagationPolicy === 'string' ? body.propagationPolicy : undefined);
  const graceText = q.get('gracePeriodSeconds');
  let gracePeriodSeconds = typeof body.gracePeriodSeconds === 'number' ? body.gracePeriodSeconds : undefined;
  if (graceText !== null) {
    if (!/^-?\d+$/.test(graceText)) throw errors.badRequest(`gracePeriodSeconds: strconv.ParseInt: parsing ${goQuote(graceText)}: invalid syntax`);
    gracePeriodSeconds = Number(graceText);
  }
  const errs: FieldError[] = [];
  if (policy !== undefined && policy !== 'Foreground' && policy !== 'Background' && policy !== 'Orphan') {
    errs.push({ type: 'FieldValueNotSupported', field: 'propagationPolicy', message: `Unsupported value: ${goQuote(policy)}: supported values: "Foreground", "Background", "Orphan", "nil"` });
  }
  // The deprecated orphanDependents field (ValidateDeleteOptions: not together with a policy).
  const orphanText = q.get('orphanDependents');
  const orphan = orphanText !== null ? orphanText === 'true' : typeof body.orphanDependents === 'boolean' ? body.orphanDependents : undefined;
  if (orphan !== undefined && policy !== undefined) {
    errs.push({ type: 'FieldValueInvalid', field: 'propagationPolicy', message: `Invalid value: ${goQuote(policy)}: orphanDependents and deletionPropagation cannot be both set` });
  }
  errs.push(...dryRunErrors(dryRun));
  refuse('DeleteOptions', errs);
  const pre = isRecord(body.preconditions) ? body.preconditions as { uid?: string; resourceVersion?: string } : undefined;
  const propagationPolicy = policy ?? (orphan === undefined ? undefined : orphan ? 'Orphan' : 'Background');
  return { dryRun: dryRun.length > 0, gracePeriodSeconds, preconditions: pre, propagationPolicy };
}

/**
 * apimachinery's ValidateListOptions (a list) and validateWatchOptions (`watch`, with the WatchList
 * feature on: podgate serves sendInitialEvents), in kube's words; then the storage's own rule
 * that a continue token carries its revision.
 */
export function checkListOptions(url: URL, watch = false): void {
  const q = url.searchParams;
  const match = q.get('resourceVersionMatch') ?? '';
  const rv = q.get('resourceVersion') ?? '';
  const cont = q.get('continue') ?? '';
  const initial = q.has('sendInitialEvents');
  const errs: FieldError[] = [];
  const forbid = (field: string, why: string) => errs.push({ type: 'FieldValueForbidden', field, message: `Forbidden: ${why}` });
  const unsupported = (valid: string[]) => errs.push({ type: 'FieldValueNotSupported', field: 'resourceVersionMatch', message: `Unsupported value: ${goQuote(match)}: supported values: ${valid.map(goQuote).join(', ')}` });
  if (watch) {
    if (initial && match !== 'NotOlderThan') forbid('resourceVersionMatch', 'sendInitialEvents requires setting resourceVersionMatch to NotOlderThan');
    if (match) {
      if (!initial) forbid('resourceVersionMatch', 'resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided');
      if (match !== 'NotOlderThan') unsupported(['NotOlderThan']);
      if (cont) forbid('resourceVersionMatch', 'resourceVersionMatch is forbidden when continue is provided');
    }
  } else {
    if (match) {
      if (!rv) forbid('resourceVersionMatch', 'resourceVersionMatch is forbidden unless resourceVersion is provided');
      if (cont) forbid('resourceVersionMatch', 'resourceVersionMatch is forbidden when continue is provided');
      if (match !== 'Exact' && match !== 'NotOlderThan') unsupported(['Exact', 'NotOlderThan', '']);
      if (match === 'Exact' && rv === '0') forbid('resourceVersionMatch', 'resourceVersionMatch "exact" is forbidden for resourceVersion "0"');
    }
    if (initial) forbid('sendInitialEvents', 'sendInitialEvents is forbidden for list');
  }
  refuse('ListOptions', errs);
  if (!watch && cont && rv && rv !== '0') throw errors.badRequest('specifying resource version is not allowed when using continue');
}
