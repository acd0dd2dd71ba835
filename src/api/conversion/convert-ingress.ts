// Ingress version conversion between networking.k8s.io/v1 (stored) and the older
// networking.k8s.io/v1beta1 and extensions/v1beta1 that the seeds use, following
// pkg/apis/networking/v1beta1 and pkg/apis/extensions/v1beta1 conversion and defaults.
import type { IngressBackend, IngressSpec } from 'kubernetes-types/networking/v1.d.ts';
import type { KObject } from '../object.ts';
import { cloneJson, isRecord } from '../object.ts';

export const ingressV1 = 'networking.k8s.io/v1';
export const ingressVersions = ['networking.k8s.io/v1', 'networking.k8s.io/v1beta1', 'extensions/v1beta1'] as const;
export type IngressApiVersion = (typeof ingressVersions)[number];

/** The v1beta1 backend shape: serviceName/servicePort, or a typed resource. */
export interface IngressBackendV1beta1 {
  serviceName?: string;
  servicePort?: number | string;
  resource?: IngressBackend['resource'];
}

interface PathV1beta1 { path?: string; pathType?: string; backend?: IngressBackendV1beta1 }
interface RuleV1beta1 { host?: string; http?: { paths?: PathV1beta1[] } }
interface SpecV1beta1 { ingressClassName?: string; backend?: IngressBackendV1beta1; rules?: RuleV1beta1[]; tls?: IngressSpec['tls'] }

export function isIngressApiVersion(v: string): v is IngressApiVersion {
  return (ingressVersions as readonly string[]).includes(v);
}

/** Conversion to v1: a service backend exists when either serviceName or servicePort is set. */
function backendToV1(b: IngressBackendV1beta1 | undefined): IngressBackend | undefined {
  if (!b || typeof b !== 'object') return undefined;
  const out: IngressBackend = {};
  if (b.resource) out.resource = b.resource;
  const port = b.servicePort;
  const hasPort = (typeof port === 'number' && port !== 0) || typeof port === 'string';
  if ((b.serviceName ?? '') !== '' || hasPort) {
    const servicePort: { name?: string; number?: number } = {};
    if (typeof port === 'string') {
      if (port !== '') servicePort.name = port;
    } else if (typeof port === 'number' && port !== 0) {
      servicePort.number = port;
    }
    out.service = { name: b.serviceName ?? '', port: servicePort };
  }
  return out;
}

function backendFromV1(b: IngressBackend | undefined): IngressBackendV1beta1 | undefined {
  if (!b || typeof b !== 'object') return undefined;
  const out: IngressBackendV1beta1 = {};
  if (b.service) {
    out.serviceName = b.service.name;
    out.servicePort = b.service.port?.name ? b.service.port.name : (b.service.port?.number ?? 0);
  }
  if (b.resource) out.resource = b.resource;
  return out;
}

/** v1beta1 defaulting, applied when such an object is decoded: pathType ImplementationSpecific. */
export function defaultIngressV1beta1(obj: KObject): void {
  const spec = isRecord(obj.spec) ? (obj.spec as SpecV1beta1) : undefined;
  for (const r of spec?.rules ?? []) {
    for (const p of r.http?.paths ?? []) if (p.pathType === undefined || p.pathType === null) p.pathType = 'ImplementationSpecific';
  }
}

function specToV1(spec: SpecV1beta1): IngressSpec {
  const { backend, rules, ...rest } = spec;
  const out: IngressSpec = { ...rest };
  const db = backendToV1(backend);
  if (db) out.defaultBackend = db;
  if (rules) out.rules = mapPathBackends(rules, backendToV1) as IngressSpec['rules'];
  return out;
}

type RuleLike<B> = { http?: { paths?: { backend?: B }[] } };

/** Rules with every path's backend converted (the one difference between the versions' rules). */
function mapPathBackends<A, B>(rules: readonly RuleLike<A>[], convert: (b: A | undefined) => B | undefined): RuleLike<B>[] {
  return rules.map((r) => {
    if (!r.http) return { ...r } as RuleLike<B>;
    return {
      ...r,
      http: { ...r.http, paths: (r.http.paths ?? []).map(({ backend, ...rest }) => ({ ...rest, backend: convert(backend) ?? ({} as B) })) },
    };
  });
}

function specFromV1(spec: IngressSpec): SpecV1beta1 {
  const { defaultBackend, rules, ...rest } = spec;
  const out: SpecV1beta1 = { ...rest } as SpecV1beta1;
  const b = backendFromV1(defaultBackend);
  if (b) out.backend = b;
  if (rules) out.rules = mapPathBackends(rules as RuleLike<IngressBackend>[], backendFromV1) as SpecV1beta1['rules'];
  return out;
}

/**
 * Converts an Ingress between networking.k8s.io/v1, networking.k8s.io/v1beta1 and
 * extensions/v1beta1 and returns a new object (the input is not modified). Objects read in a
 * v1beta1 version get that version's defaults (pathType ImplementationSpecific) first, as
 * kube does on decode. v1 → v1beta1 → v1 is lossless. Throws on an unknown apiVersion.
 */
export function convertIngress(obj: KObject, toApiVersion: string): KObject {
  const from = obj.apiVersion;
  if (!isIngressApiVersion(from)) throw new Error(`cannot convert Ingress from apiVersion ${JSON.stringify(from)}`);
  if (!isIngressApiVersion(toApiVersion)) throw new Error(`cannot convert Ingress to apiVersion ${JSON.stringify(toApiVersion)}`);
  const src = cloneJson(obj);
  if (from !== ingressV1) defaultIngressV1beta1(src);
  if (from === toApiVersion) return src;
  let v1: KObject = src;
  if (from !== ingressV1) {
    v1 = { ...src, apiVersion: ingressV1 };
    if (isRecord(src.spec)) v1.spec = specToV1(src.spec as SpecV1beta1);
  }
  if (toApiVersion === ingressV1) return v1;
  const out: KObject = { ...v1, apiVersion: toApiVersion };
  if (isRecord(v1.spec)) out.spec = specFromV1(v1.spec as IngressSpec);
  return out;
}

const lifecycle: Record<string, { deprecated: string; removed: string }> = {
  'extensions/v1beta1': { deprecated: '1.14', removed: '1.22' },
  'networking.k8s.io/v1beta1': { deprecated: '1.19', removed: '1.22' },
};

/**
 * The deprecation text kube-apiserver sends for an Ingress served in `apiVersion`, e.g.
 * `extensions/v1beta1 Ingress is deprecated in v1.14+, unavailable in v1.22+; use
 * networking.k8s.io/v1 Ingress`; undefined for networking.k8s.io/v1.
 */
export function ingressDeprecationWarning(apiVersion: string): string | undefined {
  const l = lifecycle[apiVersion];
  if (!l) return undefined;
  return `${apiVersion} Ingress is deprecated in v${l.deprecated}+, unavailable in v${l.removed}+; use ${ingressV1} Ingress`;
}

/** The `Warning` header value for a deprecation text: `299 - "<text>"` (RFC 7234 warn-code 299). */
export function warningHeaderValue(text: string): string {
  return `299 - ${JSON.stringify(text)}`;
}

/** The Warning header kube-apiserver adds to requests in a deprecated Ingress version, or undefined. */
export function ingressWarningHeader(apiVersion: string): string | undefined {
  const w = ingressDeprecationWarning(apiVersion);
  return w === undefined ? undefined : warningHeaderValue(w);
}

