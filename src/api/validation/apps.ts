// apps/v1 Deployment and ReplicaSet validation (pkg/apis/apps/validation ValidateDeployment,
// ValidateDeploymentUpdate, ValidateReplicaSet, ValidateReplicaSetUpdate, their status checks) plus
// the registry strategies' selector immutability (pkg/registry/apps/{deployment,replicaset}/strategy.go).
// BadValues of Go structs are rendered as kube renders them (%#v), e.g.
// `map[string]string{"app":"web"}` and `intstr.IntOrString{Type:1, IntVal:0, StrVal:"25%"}`.
import type { Deployment, ReplicaSet } from 'kubernetes-types/apps/v1.d.ts';
import type { PodTemplateSpec } from 'kubernetes-types/core/v1.d.ts';
import type { LabelSelector, LabelSelectorRequirement } from 'kubernetes-types/meta/v1.d.ts';
import type { FieldError } from '../errors.ts';
import type { KObject } from '../object.ts';
import { fromLabelSelectorObject, matchesLabels } from '../selectors.ts';
import { isLabelValue, isQualifiedName, regexError } from './format.ts';
import { child, forbidden, goQuote, index, invalid, notSupported, required } from './field-errors.ts';
import { nameIsDNSSubdomain, validateAnnotations, validateLabels, validateObjectMeta, validateObjectMetaUpdate } from './object-meta.ts';
import { jsonEqual, validatePodSpec } from './pod.ts';

const negativeMsg = 'must be greater than or equal to 0';

function nonNegative(path: string, v: number | undefined | null): FieldError[] {
  return typeof v === 'number' && v < 0 ? [invalid(path, v, negativeMsg)] : [];
}

/** Go's %#v of a map[string]string: keys sorted, `nil` when absent. */
export function goStringMap(m: Readonly<Record<string, string>> | undefined | null): string {
  if (m === undefined || m === null) return 'map[string]string(nil)';
  return `map[string]string{${Object.keys(m).sort().map((k) => `${goQuote(k)}:${goQuote(String(m[k]))}`).join(', ')}}`;
}

function goRequirement(r: LabelSelectorRequirement): string {
  const values = r.values === undefined || r.values === null ? '[]string(nil)' : `[]string{${r.values.map(goQuote).join(', ')}}`;
  return `v1.LabelSelectorRequirement{Key:${goQuote(r.key)}, Operator:${goQuote(r.operator)}, Values:${values}}`;
}

/** Go's %#v of a metav1.LabelSelector (how field.Invalid shows a selector: it has no value String()). */
export function goLabelSelector(sel: LabelSelector | undefined | null): string {
  if (!sel) return 'null';
  const exprs = sel.matchExpressions === undefined || sel.matchExpressions === null
    ? '[]v1.LabelSelectorRequirement(nil)'
    : `[]v1.LabelSelectorRequirement{${sel.matchExpressions.map(goRequirement).join(', ')}}`;
  return `v1.LabelSelector{MatchLabels:${goStringMap(sel.matchLabels)}, MatchExpressions:${exprs}}`;
}

/** Go's %#v of an intstr.IntOrString (its String() has a pointer receiver, so field errors use %#v). */
export function goIntOrString(v: number | string | undefined | null): string {
  if (typeof v === 'string') return `intstr.IntOrString{Type:1, IntVal:0, StrVal:${goQuote(v)}}`;
  return `intstr.IntOrString{Type:0, IntVal:${typeof v === 'number' ? v : 0}, StrVal:""}`;
}

/** metav1validation.ValidateLabelSelector (strict: label values in selectors must be valid). */
function validateLabelSelector(sel: LabelSelector, path: string): FieldError[] {
  const errs = validateLabels(sel.matchLabels ?? undefined, child(path, 'matchLabels'));
  (sel.matchExpressions ?? []).forEach((e, i) => {
    const p = index(child(path, 'matchExpressions'), i);
    const values = e.values ?? [];
    switch (e.operator) {
      case 'In':
      case 'NotIn':
        if (values.length === 0) errs.push(required(child(p, 'values'), "must be specified when `operator` is 'In' or 'NotIn'"));
        break;
      case 'Exists':
      case 'DoesNotExist':
        if (values.length > 0) errs.push(forbidden(child(p, 'values'), "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"));
        break;
      default:
        errs.push(invalid(child(p, 'operator'), e.operator, 'not a valid selector operator'));
    }
    for (const m of isQualifiedName(e.key)) errs.push(invalid(child(p, 'key'), e.key, m));
    values.forEach((v, j) => {
      for (const m of isLabelValue(v)) errs.push(invalid(index(child(p, 'values'), j), v, m));
    });
  });
  return errs;
}

/** Whether metav1.LabelSelectorAsSelector accepts the selector (known operators, values where needed). */
function selectorConverts(sel: LabelSelector | undefined | null): boolean {
  for (const e of sel?.matchExpressions ?? []) {
    const n = (e.values ?? []).length;
    if ((e.operator === 'In' || e.operator === 'NotIn') && n === 0) return false;
    if ((e.operator === 'Exists' || e.operator === 'DoesNotExist') && n > 0) return false;
    if (!['In', 'NotIn', 'Exists', 'DoesNotExist'].includes(e.operator)) return false;
  }
  return true;
}

function isEmptySelector(sel: LabelSelector): boolean {
  return Object.keys(sel.matchLabels ?? {}).length + (sel.matchExpressions ?? []).length === 0;
}

/** ValidatePodTemplateSpecForReplicaSet: the selector must select the template; a template is a pod that restarts Always. */
function validateTemplateForReplicaSet(template: PodTemplateSpec | undefined, selector: LabelSelector | undefined | null, path: string): FieldError[] {
  if (!template) return [required(path, '')];
  const errs: FieldError[] = [];
  const labels = template.metadata?.labels;
  if (selector && !isEmptySelector(selector) && !matchesLabels(fromLabelSelectorObject(selector), labels ?? {})) {
    errs.push(invalid(child(child(path, 'metadata'), 'labels'), labels, '`selector` does not match template `labels`', goStringMap(labels)));
  }
  // ValidatePodTemplateSpec reports template labels under `<path>.labels` (not `.metadata.labels`), as kube does.
  errs.push(...validateLabels(labels, child(path, 'labels')));
  errs.push(...validateAnnotations(template.metadata?.annotations, child(path, 'annotations')));
  const spec = template.spec ?? { containers: [] };
  errs.push(...validatePodSpec(spec, child(path, 'spec')));
  if ((spec.ephemeralContainers ?? []).length > 0) {
    errs.push(forbidden(child(child(path, 'spec'), 'ephemeralContainers'), 'ephemeral containers not allowed in pod template'));
  }
  if (spec.restartPolicy !== 'Always') errs.push(notSupported(child(child(path, 'spec'), 'restartPolicy'), spec.restartPolicy ?? '', ['Always']));
  if (spec.activeDeadlineSeconds !== undefined && spec.activeDeadlineSeconds !== null) {
    errs.push(forbidden(child(child(path, 'spec'), 'activeDeadlineSeconds'), 'activeDeadlineSeconds in ReplicaSet is not Supported'));
  }
  return errs;
}

/** The selector checks ValidateDeploymentSpec and ValidateReplicaSetSpec share, then the template. */
function validateSelectorAndTemplate(selector: LabelSelector | undefined | null, template: PodTemplateSpec | undefined, path: string): FieldError[] {
  const errs: FieldError[] = [];
  const selPath = child(path, 'selector');
  if (!selector) {
    errs.push(required(selPath, ''));
  } else {
    errs.push(...validateLabelSelector(selector, selPath));
    if (isEmptySelector(selector)) errs.push(invalid(selPath, selector, 'empty selector is invalid for deployment', goLabelSelector(selector)));
  }
  if (!selectorConverts(selector)) errs.push(invalid(selPath, selector, 'invalid label selector', goLabelSelector(selector)));
  else errs.push(...validateTemplateForReplicaSet(template, selector, child(path, 'template')));
  return errs;
}

const percentRe = /^[0-9]+%$/;

/** ValidatePositiveIntOrPercent. */
function validateIntOrPercent(v: number | string | undefined, path: string): FieldError[] {
  if (typeof v === 'string') {
    if (!percentRe.test(v)) {
      return [invalid(path, v, regexError("a valid percent string must be a numeric string followed by an ending '%'", '[0-9]+%', '1%', '93%'), goIntOrString(v))];
    }
    return [];
  }
  return nonNegative(path, v);
}

/** getIntOrPercentValue: a percent's number, an int's value, 0 for anything else. */
function intOrPercentValue(v: number | string | undefined): number {
  if (typeof v === 'string') return percentRe.test(v) ? Number(v.slice(0, -1)) : (/^-?\d+$/.test(v) ? Number(v) : 0);
  return v ?? 0;
}

function validateDeploymentStrategy(d: Deployment, path: string): FieldError[] {
  const strategy = d.spec?.strategy ?? {};
  const errs: FieldError[] = [];
  switch (strategy.type) {
    case 'Recreate':
      if (strategy.rollingUpdate) errs.push(forbidden(child(path, 'rollingUpdate'), "may not be specified when strategy `type` is 'Recreate'"));
      break;
    case 'RollingUpdate': {
      const ru = strategy.rollingUpdate;
      const p = child(path, 'rollingUpdate');
      if (!ru) {
        errs.push(required(p, 'this should be defaulted and never be nil'));
        break;
      }
      errs.push(...validateIntOrPercent(ru.maxUnavailable, child(p, 'maxUnavailable')));
      errs.push(...validateIntOrPercent(ru.maxSurge, child(p, 'maxSurge')));
      if (intOrPercentValue(ru.maxUnavailable) === 0 && intOrPercentValue(ru.maxSurge) === 0) {
        errs.push(invalid(child(p, 'maxUnavailable'), ru.maxUnavailable, 'may not be 0 when `maxSurge` is 0', goIntOrString(ru.maxUnavailable)));
      }
      if (typeof ru.maxUnavailable === 'string' && percentRe.test(ru.maxUnavailable) && intOrPercentValue(ru.maxUnavailable) > 100) {
        errs.push(invalid(child(p, 'maxUnavailable'), ru.maxUnavailable, 'must not be greater than 100%', goIntOrString(ru.maxUnavailable)));
      }
      break;
    }
    default: {
      const ru = strategy.rollingUpdate ? '(*apps.RollingUpdateDeployment)(...)' : '(*apps.RollingUpdateDeployment)(nil)';
      errs.push({
        type: 'FieldValueNotSupported', field: path,
        message: `Unsupported value: apps.DeploymentStrategy{Type:${goQuote(strategy.type ?? '')}, RollingUpdate:${ru}}: supported values: "Recreate", "RollingUpdate"`,
      });
    }
  }
  return errs;
}

/** ValidateDeploymentSpec. */
function validateDeploymentSpec(d: Deployment): FieldError[] {
  const spec = d.spec;
  const errs = nonNegative('spec.replicas', spec?.replicas);
  errs.push(...validateSelectorAndTemplate(spec?.selector, spec?.template, 'spec'));
  errs.push(...validateDeploymentStrategy(d, 'spec.strategy'));
  errs.push(...nonNegative('spec.minReadySeconds', spec?.minReadySeconds));
  errs.push(...nonNegative('spec.revisionHistoryLimit', spec?.revisionHistoryLimit));
  const pds = spec?.progressDeadlineSeconds;
  if (typeof pds === 'number') {
    errs.push(...nonNegative('spec.progressDeadlineSeconds', pds));
    if (pds <= (spec?.minReadySeconds ?? 0)) errs.push(invalid('spec.progressDeadlineSeconds', pds, 'must be greater than minReadySeconds'));
  }
  return errs;
}

/** ValidateDeploymentStatus. */
function validateDeploymentStatus(d: Deployment): FieldError[] {
  const s = d.status ?? {};
  const errs: FieldError[] = [];
  for (const f of ['observedGeneration', 'replicas', 'updatedReplicas', 'readyReplicas', 'availableReplicas', 'unavailableReplicas', 'collisionCount'] as const) {
    errs.push(...nonNegative(`status.${f}`, s[f]));
  }
  const msg = 'cannot be greater than status.replicas';
  const replicas = s.replicas ?? 0;
  if ((s.updatedReplicas ?? 0) > replicas) errs.push(invalid('status.updatedReplicas', s.updatedReplicas, msg));
  if ((s.readyReplicas ?? 0) > replicas) errs.push(invalid('status.readyReplicas', s.readyReplicas, msg));
  if ((s.availableReplicas ?? 0) > replicas) errs.push(invalid('status.availableReplicas', s.availableReplicas, msg));
  if ((s.availableReplicas ?? 0) > (s.readyReplicas ?? 0)) errs.push(invalid('status.availableReplicas', s.availableReplicas, 'cannot be greater than readyReplicas'));
  return errs;
}

/** ValidateReplicaSetStatus. */
function validateReplicaSetStatus(rs: ReplicaSet): FieldError[] {
  const s = rs.status ?? { replicas: 0 };
  const errs: FieldError[] = [];
  for (const f of ['replicas', 'fullyLabeledReplicas', 'readyReplicas', 'availableReplicas', 'observedGeneration'] as const) {
    errs.push(...nonNegative(`status.${f}`, s[f]));
  }
  const msg = 'cannot be greater than status.replicas';
  const replicas = s.replicas ?? 0;
  if ((s.fullyLabeledReplicas ?? 0) > replicas) errs.push(invalid('status.fullyLabeledReplicas', s.fullyLabeledReplicas, msg));
  if ((s.readyReplicas ?? 0) > replicas) errs.push(invalid('status.readyReplicas', s.readyReplicas, msg));
  if ((s.availableReplicas ?? 0) > replicas) errs.push(invalid('status.availableReplicas', s.availableReplicas, msg));
  if ((s.availableReplicas ?? 0) > (s.readyReplicas ?? 0)) errs.push(invalid('status.availableReplicas', s.availableReplicas, 'cannot be greater than readyReplicas'));
  return errs;
}

function immutableSelector(now: LabelSelector | undefined, before: LabelSelector | undefined): FieldError[] {
  if (jsonEqual(now ?? null, before ?? null)) return [];
  return [invalid('spec.selector', now, 'field is immutable', goLabelSelector(now))];
}

export function validateDeployment(obj: KObject): FieldError[] {
  const errs = validateObjectMeta(obj.metadata, { namespaced: true, nameFn: nameIsDNSSubdomain });
  errs.push(...validateDeploymentSpec(obj as unknown as Deployment));
  return errs;
}

/** ValidateDeploymentUpdate and the strategy's selector immutability (apps/v1); status writes also get ValidateDeploymentStatus. */
export function validateDeploymentUpdate(obj: KObject, old: KObject): FieldError[] {
  const d = obj as unknown as Deployment;
  const errs = validateObjectMetaUpdate(obj.metadata, old.metadata);
  errs.push(...validateDeploymentSpec(d));
  errs.push(...immutableSelector(d.spec?.selector, (old as unknown as Deployment).spec?.selector));
  errs.push(...validateDeploymentStatus(d));
  return errs;
}

function validateReplicaSetSpec(rs: ReplicaSet): FieldError[] {
  const spec = rs.spec;
  const errs = nonNegative('spec.replicas', spec?.replicas);
  errs.push(...nonNegative('spec.minReadySeconds', spec?.minReadySeconds));
  errs.push(...validateSelectorAndTemplate(spec?.selector, spec?.template, 'spec'));
  return errs;
}

export function validateReplicaSet(obj: KObject): FieldError[] {
  const errs = validateObjectMeta(obj.metadata, { namespaced: true, nameFn: nameIsDNSSubdomain });
  errs.push(...validateReplicaSetSpec(obj as unknown as ReplicaSet));
  return errs;
}

/** ValidateReplicaSetUpdate and the strategy's selector immutability (apps/v1); status writes also get ValidateReplicaSetStatus. */
export function validateReplicaSetUpdate(obj: KObject, old: KObject): FieldError[] {
  const rs = obj as unknown as ReplicaSet;
  const errs = validateObjectMetaUpdate(obj.metadata, old.metadata);
  errs.push(...validateReplicaSetSpec(rs));
  errs.push(...immutableSelector(rs.spec?.selector, (old as unknown as ReplicaSet).spec?.selector));
  errs.push(...validateReplicaSetStatus(rs));
  return errs;
}

/** autoscaling ValidateScale: the body of a `scale` subresource write. */
export function validateScale(scale: { metadata?: { name?: string }; spec?: { replicas?: number } }): FieldError[] {
  const errs = validateObjectMeta(scale.metadata ?? {}, { namespaced: true, nameFn: nameIsDNSSubdomain });
  errs.push(...nonNegative('spec.replicas', scale.spec?.replicas));
  return errs;
}
