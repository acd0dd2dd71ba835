// networking.k8s.io/v1 Ingress and IngressClass (pkg/apis/networking/validation). Older
// versions are converted to v1 first (../conversion), so one validator serves them all.
import type { HTTPIngressPath, Ingress, IngressBackend, IngressClass } from 'kubernetes-types/networking/v1.d.ts';
import type { FieldError } from '../errors.ts';
import type { KObject } from '../object.ts';
import { isDNS1123Subdomain, isDomainPrefixedPath, isValidPortName, isValidPortNum, isWildcardDNS1123Subdomain, parseIP } from './format.ts';
import { child, forbidden, index, invalid, notSupported, required, tooLong } from './field-errors.ts';
import { nameIsDNS1035Label, nameIsDNSLabel, nameIsDNSSubdomain, validateObjectMeta, validateObjectMetaUpdate } from './object-meta.ts';

const pathTypes = ['Exact', 'ImplementationSpecific', 'Prefix'];
const invalidPathSequences = ['//', '/./', '/../', '%2f', '%2F'];
const invalidPathSuffixes = ['/..', '/.'];
const ingressClassAnnotation = 'kubernetes.io/ingress.class';

interface Options {
  /** Stored objects with now-invalid TLS secret names or wildcard rules stay updatable. */
  allowInvalidSecretName: boolean;
  allowInvalidWildcardHostRule: boolean;
}

function validateBackend(b: IngressBackend, path: string): FieldError[] {
  const errs: FieldError[] = [];
  const hasResource = !!b.resource;
  const hasService = !!b.service;
  if (hasResource && hasService) return [invalid(path, '', 'cannot set both resource and service backends')];
  if (hasResource) {
    const r = b.resource!;
    const rp = child(path, 'resource');
    if (r.apiGroup) for (const m of isDNS1123Subdomain(r.apiGroup)) errs.push(invalid(child(rp, 'apiGroup'), r.apiGroup, m));
    if (!r.kind) errs.push(required(child(rp, 'kind')));
    else for (const m of pathSegmentErrors(r.kind)) errs.push(invalid(child(rp, 'kind'), r.kind, m));
    if (!r.name) errs.push(required(child(rp, 'name')));
    else for (const m of pathSegmentErrors(r.name)) errs.push(invalid(child(rp, 'name'), r.name, m));
    return errs;
  }
  if (hasService) {
    const s = b.service!;
    const np = child(child(path, 'service'), 'name');
    if (!s.name) errs.push(required(np));
    else for (const m of nameIsDNS1035Label(s.name, false)) errs.push(invalid(np, s.name, m));
    const portName = s.port?.name ?? '';
    const portNumber = s.port?.number ?? 0;
    const pp = child(child(path, 'service'), 'port');
    if (portName && portNumber) errs.push(invalid(path, '', 'cannot set both port name & port number'));
    else if (portName) for (const m of isValidPortName(portName)) errs.push(invalid(child(pp, 'name'), portName, m));
    else if (portNumber) for (const m of isValidPortNum(portNumber)) errs.push(invalid(child(pp, 'number'), portNumber, m));
    else errs.push(required(path, 'port name or number is required'));
    return errs;
  }
  return [invalid(path, '', 'resource or service backend is required')];
}

function pathSegmentErrors(v: string): string[] {
  if (v === '.' || v === '..') return [`may not be '${v}'`];
  for (const bad of ['/', '%']) if (v.includes(bad)) return [`may not contain '${bad}'`];
  return [];
}

function validatePath(p: HTTPIngressPath, path: string): FieldError[] {
  const errs: FieldError[] = [];
  if (p.pathType === undefined || p.pathType === null) return [required(child(path, 'pathType'), 'pathType must be specified')];
  const value = p.path ?? '';
  const pp = child(path, 'path');
  switch (p.pathType) {
    case 'Exact':
    case 'Prefix':
      if (!value.startsWith('/')) errs.push(invalid(pp, value, 'must be an absolute path'));
      if (value.length > 0) {
        for (const seq of invalidPathSequences) if (value.includes(seq)) errs.push(invalid(pp, value, `must not contain '${seq}'`));
        for (const suf of invalidPathSuffixes) if (value.endsWith(suf)) errs.push(invalid(pp, value, `cannot end with '${suf}'`));
      }
      break;
    case 'ImplementationSpecific':
      if (value.length > 0 && !value.startsWith('/')) errs.push(invalid(pp, value, 'must be an absolute path'));
      break;
    default:
      errs.push(notSupported(child(path, 'pathType'), p.pathType, pathTypes));
  }
  errs.push(...validateBackend(p.backend ?? {}, child(path, 'backend')));
  return errs;
}

function validateSpec(ing: Ingress, opts: Options): FieldError[] {
  const spec = ing.spec ?? {};
  const errs: FieldError[] = [];
  const rules = spec.rules ?? [];
  if (rules.length === 0 && !spec.defaultBackend) {
    // Go prints the nil rules slice in %#v.
    errs.push(invalid('spec', spec.rules ?? null, 'either `defaultBackend` or `rules` must be specified', spec.rules ? `[]networking.IngressRule{}` : '[]networking.IngressRule(nil)'));
  }
  if (spec.defaultBackend) errs.push(...validateBackend(spec.defaultBackend, 'spec.defaultBackend'));
  rules.forEach((r, i) => {
    const rp = index('spec.rules', i);
    let wildcard = false;
    if (r.host) {
      if (parseIP(r.host)) errs.push(invalid(child(rp, 'host'), r.host, 'must be a DNS name, not an IP address'));
      if (r.host.includes('*')) {
        for (const m of isWildcardDNS1123Subdomain(r.host)) errs.push(invalid(child(rp, 'host'), r.host, m));
        wildcard = true;
      } else {
        for (const m of isDNS1123Subdomain(r.host)) errs.push(invalid(child(rp, 'host'), r.host, m));
      }
    }
    if ((!wildcard || !opts.allowInvalidWildcardHostRule) && r.http) {
      const paths = r.http.paths ?? [];
      if (paths.length === 0) errs.push(required(child(child(rp, 'http'), 'paths')));
      paths.forEach((p, j) => errs.push(...validatePath(p, index(child(child(rp, 'http'), 'paths'), j))));
    }
  });
  (spec.tls ?? []).forEach((t, i) => {
    const tp = index('spec.tls', i);
    (t.hosts ?? []).forEach((h, j) => {
      const hp = index(child(tp, 'hosts'), j);
      const msgs = h.includes('*') ? isWildcardDNS1123Subdomain(h) : isDNS1123Subdomain(h);
      for (const m of msgs) errs.push(invalid(hp, h, m));
    });
    if (!opts.allowInvalidSecretName && t.secretName) {
      for (const m of nameIsDNSSubdomain(t.secretName, false)) errs.push(invalid(child(tp, 'secretName'), t.secretName, m));
    }
  });
  if (spec.ingressClassName !== undefined && spec.ingressClassName !== null) {
    for (const m of nameIsDNSSubdomain(spec.ingressClassName, false)) errs.push(invalid('spec.ingressClassName', spec.ingressClassName, m));
  }
  return errs;
}

/** ValidateIngressCreate for networking.k8s.io/v1 (convert older versions first). */
export function validateIngress(obj: KObject): FieldError[] {
  const ing = obj as unknown as Ingress;
  const errs = validateObjectMeta(obj.metadata, { namespaced: true, nameFn: nameIsDNSSubdomain });
  errs.push(...validateSpec(ing, { allowInvalidSecretName: false, allowInvalidWildcardHostRule: false }));
  const annotation = obj.metadata.annotations?.[ingressClassAnnotation];
  const cls = ing.spec?.ingressClassName;
  if (annotation !== undefined && cls !== undefined && cls !== null && annotation !== cls) {
    errs.push(invalid(`annotations.${ingressClassAnnotation}`, annotation, 'must match `ingressClassName` when both are specified'));
  }
  return errs;
}

export function validateIngressUpdate(obj: KObject, old: KObject): FieldError[] {
  const before = old as unknown as Ingress;
  const errs = validateObjectMetaUpdate(obj.metadata, old.metadata);
  const opts: Options = {
    allowInvalidSecretName: (before.spec?.tls ?? []).some((t) => !!t.secretName && nameIsDNSSubdomain(t.secretName, false).length > 0),
    allowInvalidWildcardHostRule: (before.spec?.rules ?? []).some((r) => (r.host ?? '').includes('*') &&
      (r.http?.paths ?? []).some((p, j) => validatePath(p, `x[${j}]`).length > 0)),
  };
  errs.push(...validateSpec(obj as unknown as Ingress, opts));
  return errs;
}

export function validateIngressClass(obj: KObject): FieldError[] {
  const ic = obj as unknown as IngressClass;
  const errs = validateObjectMeta(obj.metadata, { namespaced: false, nameFn: nameIsDNSSubdomain });
  const controller = ic.spec?.controller ?? '';
  if (!controller) {
    errs.push(required('spec.controller'));
  } else {
    if (Buffer.byteLength(controller) > 250) errs.push(tooLong('spec.controller', 250));
    const r = isDomainPrefixedPath(controller);
    if (r?.kind === 'invalid') errs.push(invalid('spec.controller', controller, r.detail));
  }
  const params = ic.spec?.parameters;
  if (params) {
    const pp = 'spec.parameters';
    if (params.apiGroup) for (const m of isDNS1123Subdomain(params.apiGroup)) errs.push(invalid(child(pp, 'apiGroup'), params.apiGroup, m));
    if (!params.kind) errs.push(required(child(pp, 'kind')));
    else for (const m of pathSegmentErrors(params.kind)) errs.push(invalid(child(pp, 'kind'), params.kind, m));
    if (!params.name) errs.push(required(child(pp, 'name')));
    else for (const m of pathSegmentErrors(params.name)) errs.push(invalid(child(pp, 'name'), params.name, m));
    if (params.scope === undefined || params.scope === null) {
      errs.push(required(child(pp, 'scope')));
    } else if (params.scope !== 'Cluster' && params.scope !== 'Namespace') {
      errs.push(notSupported(child(pp, 'scope'), params.scope, ['Cluster', 'Namespace']));
    } else if (params.scope === 'Namespace') {
      if (params.namespace === undefined || params.namespace === null) errs.push(required(child(pp, 'namespace'), "`parameters.scope` is set to 'Namespace'"));
      else for (const m of nameIsDNSLabel(params.namespace, false)) errs.push(invalid(child(pp, 'namespace'), params.namespace, m));
    } else if (params.namespace !== undefined && params.namespace !== null) {
      errs.push(forbidden(child(pp, 'namespace'), "`parameters.scope` is set to 'Cluster'"));
    }
  }
  return errs;
}

export function validateIngressClassUpdate(obj: KObject, old: KObject): FieldError[] {
  const errs = validateObjectMetaUpdate(obj.metadata, old.metadata);
  const c = (obj as unknown as IngressClass).spec?.controller ?? '';
  const oc = (old as unknown as IngressClass).spec?.controller ?? '';
  if (c !== oc) errs.push(invalid('spec.controller', c, 'field is immutable'));
  errs.push(...validateIngressClass(obj));
  return errs;
}
