import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Pod, Service } from 'kubernetes-types/core/v1.d.ts';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.d.ts';
import { desiredEndpoints, planSlices, podEndpoints } from './plan.ts';

const svc = (f: (s: Service) => void = () => {}): Service => {
  const s: Service = { metadata: { name: 'web', namespace: 'default', uid: 'svc-uid' }, spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }] } };
  f(s);
  return s;
};
const pod = (name: string, ip: string, ready: boolean, f: (p: Pod) => void = () => {}): Pod => {
  const p: Pod = {
    metadata: { name, namespace: 'default', uid: `${name}-uid`, labels: { app: 'web' } },
    spec: { nodeName: 'n1', containers: [{ name: 'c', ports: [{ name: 'http', containerPort: 8080 }] }] },
    status: { phase: 'Running', podIP: ip, conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
  };
  f(p);
  return p;
};

describe('endpoints planning', () => {
  it('lists ready pods as ready and others as not ready, resolving named target ports', () => {
    const eps = podEndpoints(svc(), [pod('a', '10.244.0.2', true), pod('b', '10.244.0.3', false), pod('other', '10.244.0.9', true, (p) => { p.metadata!.labels = { app: 'db' }; })]);
    const plan = planSlices(svc(), eps, []);
    assert.equal(plan.create.length, 1);
    const s = plan.create[0]!;
    assert.deepEqual(s.ports, [{ name: 'http', port: 8080, protocol: 'TCP' }]);
    assert.deepEqual(s.endpoints!.map((e) => [e.addresses[0], e.conditions?.ready]), [['10.244.0.2', true], ['10.244.0.3', false]]);
    assert.equal(s.metadata!.labels!['kubernetes.io/service-name'], 'web');
    assert.equal(s.metadata!.ownerReferences![0]!.uid, 'svc-uid');
    const ep = desiredEndpoints(svc(), eps);
    assert.deepEqual(ep.subsets!.map((x) => [x.addresses?.map((a) => a.ip), x.notReadyAddresses?.map((a) => a.ip), x.ports]),
      [[['10.244.0.2'], ['10.244.0.3'], [{ name: 'http', port: 8080, protocol: 'TCP' }]]]);
  });
  it('publishes the hostname of a pod whose subdomain names the Service (kube\'s ShouldSetHostname), for cluster DNS', () => {
    const named = (name: string, subdomain: string) => pod(name, '10.244.0.2', true, (p) => { p.spec!.hostname = name; p.spec!.subdomain = subdomain; });
    const eps = podEndpoints(svc(), [named('web-0', 'web'), named('db-0', 'db')]);
    const slice = planSlices(svc(), eps, []).create[0]!;
    assert.deepEqual(Object.fromEntries(slice.endpoints!.map((e) => [e.targetRef!.name, e.hostname])), { 'web-0': 'web-0', 'db-0': undefined });
    assert.deepEqual(Object.fromEntries(desiredEndpoints(svc(), eps).subsets![0]!.addresses!.map((a) => [a.targetRef!.name, a.hostname])), { 'web-0': 'web-0', 'db-0': undefined });
  });
  it('marks terminating pods, drops them from Endpoints, and honours publishNotReadyAddresses', () => {
    const eps = podEndpoints(svc(), [pod('a', '10.244.0.2', true, (p) => { (p.metadata as { deletionTimestamp?: string }).deletionTimestamp = '2026-01-01T00:00:00Z'; })]);
    assert.deepEqual(eps.map((e) => [e.ready, e.serving, e.terminating]), [[false, true, true]]);
    assert.equal(desiredEndpoints(svc(), eps).subsets, undefined);
    const pub = svc((s) => { s.spec!.publishNotReadyAddresses = true; });
    assert.equal(podEndpoints(pub, [pod('b', '10.244.0.3', false)])[0]!.ready, true);
  });
  it('publishNotReadyAddresses forces ready but serving stays the pod\'s readiness', () => {
    const pub = svc((s) => { s.spec!.publishNotReadyAddresses = true; });
    const deleting = (p: Pod) => { (p.metadata as { deletionTimestamp?: string }).deletionTimestamp = '2026-01-01T00:00:00Z'; };
    const eps = podEndpoints(pub, [pod('a', '10.244.0.2', false), pod('b', '10.244.0.3', true), pod('c', '10.244.0.4', false, deleting), pod('d', '10.244.0.5', true, deleting)]);
    assert.deepEqual(eps.map((e) => [e.pod.metadata!.name, e.ready, e.serving, e.terminating]), [
      ['a', true, false, false], ['b', true, true, false], ['c', true, false, true], ['d', true, true, true],
    ]);
    const conditions = planSlices(pub, eps, []).create[0]!.endpoints!.map((e) => e.conditions);
    assert.deepEqual(conditions[0], { ready: true, serving: false, terminating: false });
  });
  it('updates the existing slice in place and leaves an unchanged one alone', () => {
    const first = planSlices(svc(), podEndpoints(svc(), [pod('a', '10.244.0.2', true)]), []).create[0]!;
    const existing = { ...first, metadata: { ...first.metadata, name: 'web-abcde' } } as EndpointSlice;
    assert.deepEqual(planSlices(svc(), podEndpoints(svc(), [pod('a', '10.244.0.2', true)]), [existing]), { create: [], update: [], delete: [] });
    const changed = planSlices(svc(), podEndpoints(svc(), [pod('a', '10.244.0.2', true), pod('b', '10.244.0.3', true)]), [existing]);
    assert.equal(changed.update.length, 1);
    assert.equal(changed.update[0]!.metadata!.name, 'web-abcde');
    assert.equal(changed.update[0]!.endpoints!.length, 2);
  });
  it('keeps an empty slice when no pod matches, and skips pods without the named port', () => {
    const plan = planSlices(svc(), podEndpoints(svc(), [pod('x', '10.244.0.5', true, (p) => { p.spec!.containers[0]!.ports = []; })]), []);
    assert.equal(plan.create.length, 1);
    assert.deepEqual(plan.create[0]!.ports, []);
  });
});
