// Object builders for the ingress tests: makeIngress('ns', 'name', i => {...}) and friends.
import type { Secret, Service } from 'kubernetes-types/core/v1.d.ts';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.d.ts';
import type { HTTPIngressPath, Ingress, IngressClass, IngressRule } from 'kubernetes-types/networking/v1.d.ts';

type Mutable<T> = { -readonly [K in keyof T]: T[K] extends object ? Mutable<T[K]> : T[K] };

let clock = 0;
function stamp(): string {
  return new Date(Date.UTC(2026, 0, 1) + (clock++) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function makeIngress(ns: string, name: string, f: (i: Mutable<Ingress>) => void = () => {}): Ingress {
  const i: Mutable<Ingress> = { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { namespace: ns, name, uid: `uid-${ns}-${name}`, creationTimestamp: stamp(), annotations: {} }, spec: { ingressClassName: 'nginx', rules: [] } };
  f(i);
  return i as Ingress;
}

export function path(p: string, service: string, port: number | string, pathType: HTTPIngressPath['pathType'] = 'Prefix'): HTTPIngressPath {
  return { path: p, pathType, backend: { service: { name: service, port: typeof port === 'number' ? { number: port } : { name: port } } } };
}

export function rule(host: string | undefined, ...paths: HTTPIngressPath[]): IngressRule {
  return { ...(host !== undefined ? { host } : {}), http: { paths } };
}

export function makeService(ns: string, name: string, ports: { name?: string; port: number; targetPort?: number | string }[] = [{ port: 80 }], f: (s: Mutable<Service>) => void = () => {}): Service {
  const s: Mutable<Service> = { apiVersion: 'v1', kind: 'Service', metadata: { namespace: ns, name }, spec: { ports: ports.map((p) => ({ ...p, protocol: 'TCP' })) as never, selector: { app: name } } };
  f(s);
  return s as Service;
}

/** One slice: every address ready unless listed in `notReady`; `ports` as the slice names them. */
export function makeSlice(ns: string, service: string, addresses: string[], ports: { name?: string; port: number }[], notReady: string[] = [], sliceName = `${service}-abc`): EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', addressType: 'IPv4',
    metadata: { namespace: ns, name: sliceName, labels: { 'kubernetes.io/service-name': service } },
    ports: ports.map((p) => ({ ...(p.name !== undefined ? { name: p.name } : {}), port: p.port, protocol: 'TCP' })),
    endpoints: addresses.map((a) => ({ addresses: [a], conditions: { ready: !notReady.includes(a) } })),
  };
}

export function makeTlsSecret(ns: string, name: string, certPem: string, keyPem: string): Secret {
  return { apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/tls', metadata: { namespace: ns, name }, data: { 'tls.crt': Buffer.from(certPem).toString('base64'), 'tls.key': Buffer.from(keyPem).toString('base64') } };
}

export function makeSecret(ns: string, name: string, data: Record<string, string>): Secret {
  return { apiVersion: 'v1', kind: 'Secret', type: 'Opaque', metadata: { namespace: ns, name }, data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')])) };
}

export function makeIngressClass(name: string, controller: string, isDefault = false): IngressClass {
  return { apiVersion: 'networking.k8s.io/v1', kind: 'IngressClass', metadata: { name, annotations: isDefault ? { 'ingressclass.kubernetes.io/is-default-class': 'true' } : {} }, spec: { controller } };
}
