// The smaller core/v1 kinds: Namespace, ConfigMap, Secret, Endpoints, Node, Event, ServiceAccount.
import type { ConfigMap, Endpoints, EndpointPort, EndpointAddress, Event, Namespace, Node, Secret, Taint } from 'kubernetes-types/core/v1.d.ts';
import type { FieldError } from '../errors.ts';
import type { KObject } from '../object.ts';
import { isConfigMapKey, isDNS1123Label, isDNS1123Subdomain, isLabelValue, isQualifiedName, isValidIP, isValidPortNum, nonSpecialIPErrors } from './format.ts';
import { child, forbidden, index, invalid, key, notSupported, required, tooLong } from './field-errors.ts';
import { nameIsDNSLabel, nameIsDNSSubdomain, validateObjectMeta, validateObjectMetaUpdate } from './object-meta.ts';
import { jsonEqual } from './pod.ts';

const maxSecretSize = 1024 * 1024;
const supportedProtocols = ['SCTP', 'TCP', 'UDP'];

/** Base64 payload length in bytes, as Go sees the decoded []byte. */
function decodedLen(b64: string): number {
  return Buffer.from(b64, 'base64').length;
}

export function validateNamespace(obj: KObject): FieldError[] {
  const ns = obj as unknown as Namespace;
  const errs = validateObjectMeta(obj.metadata, { namespaced: false, nameFn: nameIsDNSLabel });
  for (const f of ns.spec?.finalizers ?? []) {
    for (const m of isQualifiedName(f)) errs.push(invalid('spec.finalizers', f, m));
    if (!f.includes('/') && !['kubernetes', 'orphan', 'foregroundDeletion'].includes(f)) {
      errs.push(invalid('spec.finalizers', f, 'name is neither a standard finalizer name nor is it fully qualified'));
    }
  }
  return errs;
}

export function validateNamespaceUpdate(obj: KObject, old: KObject): FieldError[] {
  return validateObjectMetaUpdate(obj.metadata, old.metadata);
}

export function validateConfigMap(obj: KObject): FieldError[] {
  const cm = obj as unknown as ConfigMap;
  const errs = validateObjectMeta(obj.metadata, { namespaced: true, nameFn: nameIsDNSSubdomain });
  let total = 0;
  for (const [k, v] of Object.entries(cm.data ?? {})) {
    for (const m of isConfigMapKey(k)) errs.push(invalid(key('data', k), k, m));
    if (cm.binaryData && k in cm.binaryData) errs.push(invalid(key('data', k), k, 'duplicate of key present in binaryData'));
    total += Buffer.byteLength(String(v));
  }
  for (const [k, v] of Object.entries(cm.binaryData ?? {})) {
    for (const m of isConfigMapKey(k)) errs.push(invalid(key('binaryData', k), k, m));
    total += decodedLen(v);
  }
  if (total > maxSecretSize) errs.push(tooLong('', maxSecretSize));
  return errs;
}

function immutableData(kind: 'Secret' | 'ConfigMap', obj: KObject, old: KObject): FieldError[] {
  const errs: FieldError[] = [];
  const o = old as unknown as { immutable?: boolean; data?: unknown; binaryData?: unknown };
  const n = obj as unknown as { immutable?: boolean; data?: unknown; binaryData?: unknown };
  if (o.immutable) {
    if (!n.immutable) errs.push(forbidden('immutable', 'field is immutable when `immutable` is set'));
    if (!jsonEqual(n.data ?? {}, o.data ?? {})) errs.push(forbidden('data', 'field is immutable when `immutable` is set'));
    if (kind === 'ConfigMap' && !jsonEqual(n.binaryData ?? {}, o.binaryData ?? {})) errs.push(forbidden('binaryData', 'field is immutable when `immutable` is set'));
  }
  return errs;
}

export function validateConfigMapUpdate(obj: KObject, old: KObject): FieldError[] {
  const errs = validateObjectMetaUpdate(obj.metadata, old.metadata);
  errs.push(...immutableData('ConfigMap', obj, old));
  errs.push(...validateConfigMap(obj).filter((e) => !e.field.startsWith('metadata.')));
  return errs;
}

export function validateSecret(obj: KObject): FieldError[] {
  const s = obj as unknown as Secret;
  const errs = validateObjectMeta(obj.metadata, { namespaced: true, nameFn: nameIsDNSSubdomain });
  const data = s.data ?? {};
  let total = 0;
  for (const [k, v] of Object.entries(data)) {
    for (const m of isConfigMapKey(k)) errs.push(invalid(key('data', k), k, m));
    total += decodedLen(v);
  }
  if (total > maxSecretSize) errs.push(tooLong('data', maxSecretSize));
  const has = (k: string) => Object.hasOwn(data, k);
  switch (s.type ?? '') {
    case 'kubernetes.io/service-account-token':
      if (!s.metadata?.annotations?.['kubernetes.io/service-account.name']) {
        errs.push(required('metadata.annotations[kubernetes.io/service-account.name]'));
      }
      break;
    case 'Opaque':
    case '':
      break;
    case 'kubernetes.io/dockercfg':
      if (!has('.dockercfg')) errs.push(required(key('data', '.dockercfg')));
      break;
    case 'kubernetes.io/dockerconfigjson':
      if (!has('.dockerconfigjson')) errs.push(required(key('data', '.dockerconfigjson')));
      break;
    case 'kubernetes.io/basic-auth':
      if (!has('username') && !has('password')) {
        errs.push(required(key('data', 'username')), required(key('data', 'password')));
      }
      break;
    case 'kubernetes.io/ssh-auth':
      if (!data['ssh-privatekey']) errs.push(required(key('data', 'ssh-privatekey')));
      break;
    case 'kubernetes.io/tls':
      if (!has('tls.crt')) errs.push(required(key('data', 'tls.crt')));
      if (!has('tls.key')) errs.push(required(key('data', 'tls.key')));
      break;
  }
  return errs;
}

export function validateSecretUpdate(obj: KObject, old: KObject): FieldError[] {
  const errs = validateObjectMetaUpdate(obj.metadata, old.metadata);
  const t = (obj as unknown as Secret).type ?? '';
  const ot = (old as unknown as Secret).type ?? '';
  if (t !== ot) errs.push(invalid('type', t, 'field is immutable'));
  errs.push(...immutableData('Secret', obj, old));
  errs.push(...validateSecret(obj).filter((e) => !e.field.startsWith('metadata.')));
  return errs;
}

function validateEndpointAddress(a: EndpointAddress, path: string): FieldError[] {
  const errs: FieldError[] = [];
  for (const m of isValidIP(a.ip)) errs.push(invalid(child(path, 'ip'), a.ip, m));
  if (a.hostname) for (const m of isDNS1123Label(a.hostname)) errs.push(invalid(child(path, 'hostname'), a.hostname, m));
  if (a.nodeName) for (const m of nameIsDNSSubdomain(a.nodeName, false)) errs.push(invalid(child(path, 'nodeName'), a.nodeName, m));
  for (const m of nonSpecialIPErrors(a.ip)) errs.push(invalid(child(path, 'ip'), a.ip, m));
  return errs;
}

function validateEndpointPort(p: EndpointPort, requireName: boolean, path: string): FieldError[] {
  const errs: FieldError[] = [];
  if (requireName && !p.name) errs.push(required(child(path, 'name')));
  else if (p.name) for (const m of isDNS1123Label(p.name)) errs.push(invalid(child(path, 'name'), p.name, m));
  for (const m of isValidPortNum(p.port)) errs.push(invalid(child(path, 'port'), p.port, m));
  if (!p.protocol) errs.push(required(child(path, 'protocol')));
  else if (!supportedProtocols.includes(p.protocol)) errs.push(notSupported(child(path, 'protocol'), p.protocol, supportedProtocols));
  if (p.appProtocol !== undefined) for (const m of isQualifiedName(p.appProtocol)) errs.push(invalid(child(path, 'appProtocol'), p.appProtocol, m));
  return errs;
}

export function validateEndpoints(obj: KObject): FieldError[] {
  const ep = obj as unknown as Endpoints;
  const errs = validateObjectMeta(obj.metadata, { namespaced: true, nameFn: nameIsDNSSubdomain });
  (ep.subsets ?? []).forEach((ss, i) => {
    const p = index('subsets', i);
    if ((ss.addresses ?? []).length === 0 && (ss.notReadyAddresses ?? []).length === 0) {
      errs.push(required(p, 'must specify `addresses` or `notReadyAddresses`'));
    }
    (ss.addresses ?? []).forEach((a, j) => errs.push(...validateEndpointAddress(a, index(child(p, 'addresses'), j))));
    (ss.notReadyAddresses ?? []).forEach((a, j) => errs.push(...validateEndpointAddress(a, index(child(p, 'notReadyAddresses'), j))));
    const ports = ss.ports ?? [];
    ports.forEach((port, j) => errs.push(...validateEndpointPort(port, ports.length > 1, index(child(p, 'ports'), j))));
  });
  return errs;
}

export function validateEndpointsUpdate(obj: KObject, old: KObject): FieldError[] {
  return [...validateObjectMetaUpdate(obj.metadata, old.metadata), ...validateEndpoints(obj).filter((e) => !e.field.startsWith('metadata.'))];
}

function validateTaints(taints: readonly Taint[], path: string): FieldError[] {
  const errs: FieldError[] = [];
  const seen = new Map<string, Set<string>>();
  taints.forEach((t, i) => {
    const p = index(path, i);
    for (const m of isQualifiedName(t.key)) errs.push(invalid(child(p, 'key'), t.key, m));
    const vmsgs = isLabelValue(t.value ?? '');
    if (vmsgs.length) errs.push(invalid(child(p, 'value'), t.value ?? '', vmsgs.join(';')));
    if (!t.effect) errs.push(required(child(p, 'effect')));
    else if (!['NoSchedule', 'PreferNoSchedule', 'NoExecute'].includes(t.effect)) {
      errs.push(notSupported(child(p, 'effect'), t.effect, ['NoSchedule', 'PreferNoSchedule', 'NoExecute']));
    }
    const keys = seen.get(t.effect) ?? new Set<string>();
    if (keys.has(t.key)) {
      errs.push({ type: 'FieldValueDuplicate', field: p, message: `Duplicate value: ${JSON.stringify(t)}: taints must be unique by key and effect pair` });
    }
    keys.add(t.key);
    seen.set(t.effect, keys);
  });
  return errs;
}

/** Node: name, taints, podCIDRs. Status fields are trusted (the node agent writes them). */
export function validateNode(obj: KObject): FieldError[] {
  const n = obj as unknown as Node;
  const errs = validateObjectMeta(obj.metadata, { namespaced: false, nameFn: nameIsDNSSubdomain });
  // kube reports node taints under metadata.taints (a long-standing path quirk).
  if ((n.spec?.taints ?? []).length) errs.push(...validateTaints(n.spec?.taints ?? [], 'metadata.taints'));
  return errs;
}

export function validateNodeUpdate(obj: KObject, old: KObject): FieldError[] {
  const n = obj as unknown as Node;
  const o = old as unknown as Node;
  const errs = validateObjectMetaUpdate(obj.metadata, old.metadata);
  const oc = o.spec?.podCIDRs ?? [];
  const nc = n.spec?.podCIDRs ?? [];
  if (oc.length > 0 && (oc.length !== nc.length || oc.some((c, i) => c !== nc[i]))) {
    errs.push(forbidden('spec.podCIDRs', 'node updates may not change podCIDR except from "" to valid'));
  }
  if (o.spec?.providerID && o.spec.providerID !== n.spec?.providerID) {
    errs.push(forbidden('spec.providerID', 'node updates may not change providerID except from "" to valid'));
  }
  if ((n.spec?.taints ?? []).length) errs.push(...validateTaints(n.spec?.taints ?? [], 'metadata.taints'));
  return errs;
}

/** core/v1 Event (legacy validation): the involved object's namespace must match. */
export function validateEvent(obj: KObject): FieldError[] {
  const ev = obj as unknown as Event;
  const errs = validateObjectMeta(obj.metadata, { namespaced: true, nameFn: nameIsDNSSubdomain });
  const ns = obj.metadata.namespace ?? '';
  const io = ev.involvedObject?.namespace ?? '';
  if (!ev.eventTime) {
    if (io === '') {
      if (ns !== '' && ns !== 'default') errs.push(invalid('involvedObject.namespace', io, 'does not match event.namespace'));
    } else if (ns !== io) {
      errs.push(invalid('involvedObject.namespace', io, 'does not match event.namespace'));
    }
  } else {
    if (io === '' && ns !== '' && ns !== 'default' && ns !== 'kube-system') {
      errs.push(invalid('involvedObject.namespace', io, 'does not match event.namespace'));
    }
    if (io !== '' && ns !== io) errs.push(invalid('involvedObject.namespace', io, 'does not match event.namespace'));
    if (!ev.reportingComponent) errs.push(required('reportingComponent', ''));
    if (!ev.reportingInstance) errs.push(required('reportingInstance', ''));
    if (!ev.action) errs.push(required('action', ''));
    if (!ev.reason) errs.push(required('reason', ''));
  }
  for (const m of isDNS1123Subdomain(ns)) errs.push(invalid('namespace', ns, m));
  return errs;
}

export function validateServiceAccount(obj: KObject): FieldError[] {
  return validateObjectMeta(obj.metadata, { namespaced: true, nameFn: nameIsDNSSubdomain });
}

