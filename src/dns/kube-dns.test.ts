import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Service } from 'kubernetes-types/core/v1.d.ts';
import { defaultClusterDNS, kubeDnsService, kubeDnsSlice, planKubeDns, staleKubeDnsSliceCandidates } from './kube-dns.ts';

describe('kube-dns', () => {
  it('puts the DNS Service at the 10th address of the Service range, as kubeadm', () => {
    assert.equal(defaultClusterDNS('10.96.0.0/12'), '10.96.0.10');
    assert.equal(defaultClusterDNS('172.20.0.0/16'), '172.20.0.10');
    assert.throws(() => defaultClusterDNS('10.0.0.0/29'), /no 10th address/);
  });

  const want = { clusterIP: '10.96.0.10', nodeName: 'n1', address: '10.244.0.1' };
  const service: Service = { ...kubeDnsService('10.96.0.10'), metadata: { ...kubeDnsService('10.96.0.10').metadata, uid: 'u-dns' } };
  const kinds = (xs: { kind: string }[]) => xs.map((x) => x.kind);

  it('creates the Service first, then this node\'s slice, then nothing', () => {
    assert.deepEqual(kinds(planKubeDns({ service: undefined, slice: undefined }, want)), ['create-service']);
    const first = planKubeDns({ service, slice: undefined }, want);
    assert.deepEqual(kinds(first), ['create-slice']);
    const slice = first[0]!.kind === 'create-slice' ? first[0]!.slice : undefined;
    assert.deepEqual(slice?.metadata?.ownerReferences?.map((o) => o.uid), ['u-dns']);
    assert.deepEqual(planKubeDns({ service, slice }, want), []);
  });

  it('updates the slice when the node\'s address changes', () => {
    const slice = { ...kubeDnsSlice({ nodeName: 'n1', address: '10.244.9.1', service }), metadata: { ...kubeDnsSlice({ nodeName: 'n1', address: '10.244.9.1', service }).metadata, resourceVersion: '7' } };
    const actions = planKubeDns({ service, slice }, want);
    assert.deepEqual(kinds(actions), ['update-slice']);
    assert.equal(actions[0]!.kind === 'update-slice' && actions[0]!.slice.metadata?.resourceVersion, '7');
  });

  it('makes kube-dns with internalTrafficPolicy Local, so pods ask their own node\'s server', () => {
    assert.equal(kubeDnsService('10.96.0.10').spec?.internalTrafficPolicy, 'Local');
  });

  it('sets internalTrafficPolicy Local on a kube-dns without a selector that has another policy (made before)', () => {
    const older: Service = { ...service, spec: { ...service.spec, internalTrafficPolicy: 'Cluster' } };
    const slice = kubeDnsSlice({ nodeName: 'n1', address: '10.244.0.1', service });
    assert.deepEqual(planKubeDns({ service: older, slice }, want), [{ kind: 'patch-service', patch: { spec: { internalTrafficPolicy: 'Local' } } }]);
    const withSelector: Service = { ...older, spec: { ...older.spec, selector: { 'k8s-app': 'kube-dns' } } };
    assert.ok(!planKubeDns({ service: withSelector, slice: undefined }, want).some((a) => a.kind === 'patch-service'), 'one with a selector is its owner\'s');
  });

  it('deletes this node\'s slice once kube-dns has a selector, and leaves slices it does not keep', () => {
    const withSelector: Service = { ...service, spec: { ...service.spec, selector: { 'k8s-app': 'kube-dns' } } };
    const ours = kubeDnsSlice({ nodeName: 'n1', address: '10.244.0.1', service });
    const slice = { ...ours, metadata: { ...ours.metadata, uid: 'u-slice' } };
    assert.deepEqual(planKubeDns({ service: withSelector, slice }, want).filter((a) => a.kind !== 'warn'), [{ kind: 'delete-slice', name: 'kube-dns-n1', uid: 'u-slice' }]);
    const theirs = { ...slice, metadata: { ...slice.metadata, labels: { 'kubernetes.io/service-name': 'kube-dns', 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' } } };
    assert.deepEqual(kinds(planKubeDns({ service: withSelector, slice: theirs }, want)), ['warn']);
  });

  it('leaves a kube-dns with a selector to its pods, and reports another cluster IP', () => {
    const withSelector: Service = { ...service, spec: { ...service.spec, clusterIP: '10.96.0.53', selector: { 'k8s-app': 'kube-dns' } } };
    const actions = planKubeDns({ service: withSelector, slice: undefined }, want);
    assert.deepEqual(kinds(actions), ['warn', 'warn']);
    assert.match(actions[0]!.kind === 'warn' ? actions[0]!.message : '', /has cluster IP 10\.96\.0\.53, but pods are told to use 10\.96\.0\.10/);
  });
});

describe('kube-dns slices of deleted nodes', () => {
  const at = (nodeName: string, created: string, managed = true) => {
    const x = kubeDnsSlice({ nodeName, address: '10.244.1.1' });
    const labels = { ...x.metadata!.labels, ...(managed ? {} : { 'endpointslice.kubernetes.io/managed-by': 'someone-else' }) };
    return { ...x, metadata: { ...x.metadata, creationTimestamp: created, labels } };
  };
  const now = Date.parse('2026-01-01T00:10:00Z');
  it('lists other nodes\' slices a minute old or more, never this node\'s, a young one or someone else\'s', () => {
    assert.deepEqual(staleKubeDnsSliceCandidates([
      at('n3', '2026-01-01T00:00:00Z'),
      at('n1', '2026-01-01T00:00:00Z'),
      at('n2', '2026-01-01T00:09:30Z'),
      at('n4', '2026-01-01T00:00:00Z', false),
      at('n0', '2026-01-01T00:09:00Z'),
    ], 'n1', now), ['kube-dns-n0', 'kube-dns-n3']);
  });
});

