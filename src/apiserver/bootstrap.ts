// What kube-apiserver's bootstrap controller keeps in place: the system namespaces and the
// `kubernetes` Service in `default` (first service IP, port 443) with Endpoints and an
// EndpointSlice pointing at the API server's own address.
import { StatusError } from '../api/errors.ts';
import type { KObject } from '../api/object.ts';
import { resources, type ResourceInfo } from '../api/resources.ts';
import type { Registry } from './registry/registry.ts';

const byResource = (name: string): ResourceInfo => resources.find((r) => r.resource === name)!;

export const systemNamespaces = ['default', 'kube-system', 'kube-public', 'kube-node-lease'] as const;

async function ensure(registry: Registry, r: ResourceInfo, namespace: string | undefined, obj: KObject): Promise<void> {
  // Look first: a create of an existing Service fails on its taken clusterIP before the name.
  if (await registry.tryGet(r, namespace, obj.metadata.name!)) return;
  try {
    await registry.create(r, namespace, obj);
  } catch (err) {
    if (err instanceof StatusError && err.reason === 'AlreadyExists') return;
    throw err;
  }
}

/** Idempotent: creates what is missing, refreshes the endpoints to the current address. */
export async function bootstrapCluster(registry: Registry, opts: { serviceIP: string; apiAddress: string; apiPort: number }): Promise<void> {
  const ns = byResource('namespaces');
  for (const name of systemNamespaces) {
    await ensure(registry, ns, undefined, {
      apiVersion: 'v1', kind: 'Namespace',
      metadata: { name, labels: { 'kubernetes.io/metadata.name': name } },
    });
  }
  const services = byResource('services');
  const ports = [{ name: 'https', port: 443, protocol: 'TCP', targetPort: opts.apiPort }];
  await ensure(registry, services, 'default', {
    apiVersion: 'v1', kind: 'Service',
    metadata: { name: 'kubernetes', namespace: 'default', labels: { component: 'apiserver', provider: 'kubernetes' } },
    spec: { type: 'ClusterIP', clusterIP: opts.serviceIP, clusterIPs: [opts.serviceIP], ports, sessionAffinity: 'None' },
  });
  // A restart on another port (--secure-port 0 picks a new one each time) moves the target port too.
  const svc = (await registry.tryGet(services, 'default', 'kubernetes')) as (KObject & { spec?: { ports?: { targetPort?: unknown }[] } }) | undefined;
  if (svc?.spec?.ports?.length === 1 && svc.spec.ports[0]!.targetPort !== opts.apiPort) {
    await registry.update(services, 'default', 'kubernetes', { ...svc, spec: { ...svc.spec, ports } });
  }
  // Endpoints may not hold loopback addresses (kube validation); with a loopback-only API server
  // (tests, --node-ip 127.0.0.1) the `kubernetes` Service simply has no endpoints.
  if (opts.apiAddress.startsWith('127.') || opts.apiAddress === '::1') return;
  const endpoints: KObject = {
    apiVersion: 'v1', kind: 'Endpoints',
    metadata: { name: 'kubernetes', namespace: 'default', labels: { 'endpointslice.kubernetes.io/skip-mirror': 'true' } },
    subsets: [{ addresses: [{ ip: opts.apiAddress }], ports: [{ name: 'https', port: opts.apiPort, protocol: 'TCP' }] }],
  };
  const slice: KObject = {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
    metadata: { name: 'kubernetes', namespace: 'default', labels: { 'kubernetes.io/service-name': 'kubernetes', 'endpointslice.kubernetes.io/managed-by': 'podgate-apiserver' } },
    addressType: 'IPv4',
    endpoints: [{ addresses: [opts.apiAddress], conditions: { ready: true } }],
    ports: [{ name: 'https', port: opts.apiPort, protocol: 'TCP' }],
  };
  for (const [r, obj] of [[byResource('endpoints'), endpoints], [byResource('endpointslices'), slice]] as const) {
    const cur = await registry.tryGet(r, 'default', 'kubernetes');
    if (!cur) { await ensure(registry, r, 'default', obj); continue; }
    const next = { ...obj, metadata: { ...cur.metadata, labels: obj.metadata.labels } };
    // What locates the API server: an Endpoints' subsets, a slice's endpoints and ports.
    const where = (o: KObject) => JSON.stringify([o.subsets, o.endpoints, o.ports]);
    if (where(cur) !== where(obj)) {
      await registry.update(r, 'default', 'kubernetes', next);
    }
  }
}
