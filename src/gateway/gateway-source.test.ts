// GatewaySource against an in-process API server: ReferenceGrants are watched through the client
// like the other kinds, so creating or deleting one rebuilds the plan (routing and statuses) at
// once; both served versions (v1, v1beta1) count.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { KObject } from '../api/object.ts';
import { resources, type ResourceInfo } from '../api/resources.ts';
import { type InProcessApiServer, startInProcessApiServer } from '../apiserver/in-process.ts';
import { makeService } from '../ingress/test-builders.ts';
import { emptyRouteTable } from '../ingress/route-table.ts';
import { GatewaySource } from './gateway-source.ts';
import { makeGateway, makeGatewayClass, makeRoute } from './test-builders.ts';

const r = (plural: string, version?: string): ResourceInfo => {
  const info = resources.find((x) => x.resource === plural)!;
  return version ? { ...info, version } : info;
};
const obj = (o: unknown) => o as KObject;

describe('GatewaySource: ReferenceGrants through the client', () => {
  let api: InProcessApiServer;
  let source: GatewaySource;
  let changes = 0;
  const services = [makeService('backends', 'web')];

  before(async () => {
    api = await startInProcessApiServer({ historyCapacity: 200 });
    const c = api.client;
    for (const ns of ['infra', 'backends']) await c.create(r('namespaces'), undefined, obj({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }));
    await c.create(r('gatewayclasses'), undefined, obj(makeGatewayClass('podgate')));
    await c.create(r('gateways'), 'infra', obj(makeGateway('infra', 'gw', [{ name: 'http', protocol: 'HTTP', port: 80 }])));
    await c.create(r('httproutes'), 'infra', obj(makeRoute('infra', 'r', { parentRefs: [{ name: 'gw' }], rules: [{ backendRefs: [{ name: 'web', namespace: 'backends', port: 80 }] }] })));
    source = new GatewaySource({ client: c, addresses: ['192.0.2.10'], httpPort: 80, httpsPort: 443 });
    source.onChange(() => { changes++; });
    for (const inf of source.informers) inf.start();
    await Promise.all(source.informers.map((inf) => inf.waitForSync()));
  });

  after(async () => {
    await Promise.all(source.informers.map((inf) => inf.stop()));
    await api.stop();
  });

  /** Waits for the next change the source reports, then merges and writes statuses as the IngressController does. */
  async function rebuild(before: number): Promise<void> {
    const deadline = Date.now() + 5000;
    while (changes === before) {
      if (Date.now() > deadline) throw new Error('no change reported');
      await new Promise((res) => setTimeout(res, 10));
    }
    source.merge(emptyRouteTable, { services, endpointSlices: [], secrets: [] });
    await source.afterInstall();
  }
  const resolvedRefs = async () => {
    const route = await api.client.get(r('httproutes'), 'infra', 'r');
    const parents = (route.status as { parents: { conditions: { type: string; status: string; reason: string }[] }[] }).parents;
    const c = parents[0]!.conditions.find((x) => x.type === 'ResolvedRefs')!;
    return [c.status, c.reason];
  };
  const backendOf = () => source.plan!.hosts[0]!.rules[0]!.backends[0]!.backend?.name;

  it('refuses the cross-namespace backendRef without a grant', async () => {
    source.merge(emptyRouteTable, { services, endpointSlices: [], secrets: [] });
    await source.afterInstall();
    assert.equal(backendOf(), undefined);
    assert.deepEqual(await resolvedRefs(), ['False', 'RefNotPermitted']);
  });

  it('permits it as soon as a v1beta1 ReferenceGrant is created, and refuses it again once the grant is deleted', async () => {
    let n = changes;
    await api.client.create(r('referencegrants', 'v1beta1'), 'backends', obj({
      apiVersion: 'gateway.networking.k8s.io/v1beta1', kind: 'ReferenceGrant', metadata: { namespace: 'backends', name: 'from-infra' },
      spec: { from: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', namespace: 'infra' }], to: [{ group: '', kind: 'Service', name: 'web' }] },
    }));
    await rebuild(n);
    assert.equal(backendOf(), 'backends/web:80');
    assert.deepEqual(await resolvedRefs(), ['True', 'ResolvedRefs']);

    n = changes;
    await api.client.delete(r('referencegrants'), 'backends', 'from-infra');
    await rebuild(n);
    assert.equal(backendOf(), undefined);
    assert.deepEqual(await resolvedRefs(), ['False', 'RefNotPermitted']);
  });

  it('serves ReferenceGrant in v1 too, with the CRD\'s short name and category', async () => {
    const info = r('referencegrants');
    assert.deepEqual([info.group, info.version, info.namespaced, info.hasStatus, info.shortNames, info.categories, info.alsoServedAs],
      ['gateway.networking.k8s.io', 'v1', true, false, ['refgrant'], ['gateway-api'], [{ group: 'gateway.networking.k8s.io', version: 'v1beta1' }]]);
    const n = changes;
    await api.client.create(info, 'backends', obj({
      apiVersion: 'gateway.networking.k8s.io/v1', kind: 'ReferenceGrant', metadata: { namespace: 'backends', name: 'all-services' },
      spec: { from: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', namespace: 'infra' }], to: [{ group: '', kind: 'Service' }] },
    }));
    await rebuild(n);
    assert.equal(backendOf(), 'backends/web:80');
    const got = await api.client.get(r('referencegrants', 'v1beta1'), 'backends', 'all-services');
    assert.equal(got.apiVersion, 'gateway.networking.k8s.io/v1beta1');
    assert.equal(got.metadata.generation, 1);
  });
});
