// Label and field selectors as kube-apiserver parses them
// (k8s.io/apimachinery/pkg/labels/selector.go, pkg/fields/selector.go).
import { errors } from './errors.ts';
import type { KObject } from './object.ts';

export type LabelRequirement =
  | { op: 'exists' | 'notexists'; key: string }
  | { op: 'in' | 'notin'; key: string; values: string[] }
  | { op: 'eq' | 'neq'; key: string; value: string };

export type LabelSelector = readonly LabelRequirement[];

/** Parses `a=b,c!=d,e in (f,g),!h,i` into requirements; throws 400 BadRequest when malformed. */
export function parseLabelSelector(text: string): LabelSelector {
  const out: LabelRequirement[] = [];
  const s = text.trim();
  if (!s) return out;
  let i = 0;
  const fail = (why: string): never => { throw errors.badRequest(`unable to parse requirement: ${why}`); };
  const skipWs = () => { while (i < s.length && s[i] === ' ') i++; };
  const readIdent = (): string => {
    skipWs();
    const start = i;
    while (i < s.length && !' ,=!()'.includes(s[i]!)) i++;
    return s.slice(start, i);
  };
  while (i < s.length) {
    skipWs();
    if (s[i] === '!') {
      i++;
      const key = readIdent();
      if (!key) fail('found \'\', expected: identifier');
      out.push({ op: 'notexists', key });
    } else {
      const key = readIdent();
      if (!key) fail(`found '${s[i] ?? ''}', expected: !, identifier, or 'end of string'`);
      skipWs();
      const rest = s.slice(i);
      if (rest.startsWith('==')) { i += 2; out.push({ op: 'eq', key, value: readIdent() }); }
      else if (rest.startsWith('!=')) { i += 2; out.push({ op: 'neq', key, value: readIdent() }); }
      else if (rest.startsWith('=')) { i += 1; out.push({ op: 'eq', key, value: readIdent() }); }
      else if (/^(in|notin)\s*\(/.test(rest)) {
        const op = rest.startsWith('in') ? 'in' : 'notin';
        i += op.length;
        skipWs();
        i++; // (
        const close = s.indexOf(')', i);
        if (close < 0) fail("found 'end of string', expected: ')'");
        const values = s.slice(i, close).split(',').map((v) => v.trim());
        i = close + 1;
        out.push({ op, key, values });
      } else if (i >= s.length || s[i] === ',') {
        out.push({ op: 'exists', key });
      } else {
        fail(`found '${s[i]}', expected: in, notin, =, ==, !=, gt, lt`);
      }
    }
    skipWs();
    if (i < s.length) {
      if (s[i] !== ',') fail(`found '${s[i]}', expected: ',' or 'end of string'`);
      i++;
    }
  }
  return out;
}

export function matchesLabels(sel: LabelSelector, labels: Readonly<Record<string, string>> | undefined): boolean {
  const l = labels ?? {};
  for (const r of sel) {
    const has = Object.hasOwn(l, r.key);
    const v = l[r.key];
    switch (r.op) {
      case 'exists': if (!has) return false; break;
      case 'notexists': if (has) return false; break;
      case 'eq': if (v !== r.value) return false; break;
      case 'neq': if (v === r.value) return false; break;
      case 'in': if (!has || !r.values.includes(v!)) return false; break;
      case 'notin': if (has && r.values.includes(v!)) return false; break;
    }
  }
  return true;
}

/** A metav1.LabelSelector (matchLabels + matchExpressions) as requirements. */
export function fromLabelSelectorObject(sel: { matchLabels?: Record<string, string>; matchExpressions?: { key: string; operator: string; values?: string[] }[] }): LabelSelector {
  const out: LabelRequirement[] = [];
  for (const [key, value] of Object.entries(sel.matchLabels ?? {})) out.push({ op: 'eq', key, value });
  for (const e of sel.matchExpressions ?? []) {
    const op = e.operator;
    if (op === 'In') out.push({ op: 'in', key: e.key, values: e.values ?? [] });
    else if (op === 'NotIn') out.push({ op: 'notin', key: e.key, values: e.values ?? [] });
    else if (op === 'Exists') out.push({ op: 'exists', key: e.key });
    else if (op === 'DoesNotExist') out.push({ op: 'notexists', key: e.key });
  }
  return out;
}

export interface FieldRequirement {
  readonly field: string;
  readonly op: 'eq' | 'neq';
  readonly value: string;
}

/** Parses `metadata.name=web,status.phase!=Running`. */
export function parseFieldSelector(text: string): FieldRequirement[] {
  const out: FieldRequirement[] = [];
  if (!text.trim()) return out;
  for (const part of splitUnescaped(text)) {
    const m = /^([^=!]+)(==|=|!=)(.*)$/.exec(part.trim());
    if (!m) throw errors.badRequest(`invalid selector: '${text}'; can't understand '${part}'`);
    out.push({ field: m[1]!.trim(), op: m[2] === '!=' ? 'neq' : 'eq', value: unescapeFieldValue(m[3]!) });
  }
  return out;
}

function splitUnescaped(s: string): string[] {
  const parts: string[] = [];
  let cur = '';
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '\\' && i + 1 < s.length) { cur += s[i]! + s[i + 1]!; i++; continue; }
    if (s[i] === ',') { parts.push(cur); cur = ''; continue; }
    cur += s[i];
  }
  parts.push(cur);
  return parts;
}

function unescapeFieldValue(v: string): string {
  return v.replace(/\\(.)/g, '$1');
}

/** The fields each kind can be selected on, as kube-apiserver's field label conversion allows. */
const fieldsByKind: Record<string, readonly string[]> = {
  Pod: ['spec.nodeName', 'spec.restartPolicy', 'spec.schedulerName', 'spec.serviceAccountName', 'spec.hostNetwork', 'status.phase', 'status.podIP', 'status.podIPs', 'status.nominatedNodeName'],
  Event: ['involvedObject.kind', 'involvedObject.namespace', 'involvedObject.name', 'involvedObject.uid', 'involvedObject.apiVersion', 'involvedObject.resourceVersion', 'involvedObject.fieldPath', 'reason', 'reportingComponent', 'source', 'type'],
  Secret: ['type'],
  Namespace: ['status.phase'],
  Node: ['spec.unschedulable'],
  Service: ['spec.clusterIP', 'spec.type'],
  EndpointSlice: ['addressType'],
  ReplicaSet: ['status.replicas'],
  CertificateSigningRequest: ['spec.signerName'],
};

/** Kinds with a field label conversion function of their own in core/v1 (its error words differ from the default's). */
const OWN_CONVERSION = new Set(['Pod', 'Node', 'Event', 'Secret', 'Namespace', 'ReplicaSet', 'CertificateSigningRequest']);

/** Field labels kube converts to another: a Pod's `spec.host` is its `spec.nodeName`. */
const fieldAliases: Record<string, Record<string, string>> = { Pod: { 'spec.host': 'spec.nodeName' } };

/**
 * Checks the selector's fields are supported for the kind; throws 400 as kube does otherwise: in
 * the words of the kind's own field label conversion where it has one, else the default's. A
 * Node has no namespace to select on.
 */
export function checkFieldSelector(kind: string, version: string, reqs: readonly FieldRequirement[]): void {
  const allowed = fieldsByKind[kind];
  for (const r of reqs) {
    if (r.field === 'metadata.name' || (r.field === 'metadata.namespace' && kind !== 'Node')) continue;
    if (allowed?.includes(r.field) || fieldAliases[kind]?.[r.field]) continue;
    if (OWN_CONVERSION.has(kind)) throw errors.badRequest(`field label not supported: ${r.field}`);
    throw errors.badRequest(`"${r.field}" is not a known field selector: only "metadata.name", "metadata.namespace"`);
  }
  void version;
}

function fieldValue(obj: KObject, field: string): string {
  const path = fieldAliases[obj.kind]?.[field] ?? field;
  let cur: unknown = obj;
  for (const p of path.split('.')) {
    if (typeof cur !== 'object' || cur === null) return '';
    cur = (cur as Record<string, unknown>)[p];
  }
  if (path === 'spec.hostNetwork' || path === 'spec.unschedulable') return cur === true ? 'true' : 'false';
  // An Event's source is its source.component, or else its reportingController (EventToSelectableFields).
  if (path === 'source') return (typeof cur === 'object' && cur !== null && (cur as { component?: string }).component) || String(obj.reportingController ?? '');
  if (cur === undefined || cur === null) return '';
  if (Array.isArray(cur)) return cur.map((x) => (typeof x === 'object' && x !== null && 'ip' in x ? String((x as { ip: unknown }).ip) : String(x))).join(',');
  return String(cur);
}

export function matchesFields(reqs: readonly FieldRequirement[], obj: KObject): boolean {
  for (const r of reqs) {
    const v = fieldValue(obj, r.field);
    if (r.op === 'eq' ? v !== r.value : v === r.value) return false;
  }
  return true;
}
