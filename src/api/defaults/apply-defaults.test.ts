import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { KObject } from '../object.ts';
import { applyDefaults } from './apply-defaults.ts';

const golden = (file: string) => readFileSync(`/work/shared/notes/apiserver-golden/${file}`, 'utf8').split('\n');

test('service defaults match what kube stored for ok-201 (less the allocated clusterIP)', () => {
  const lines = golden('ok-201-port-name-17-chars-accepted.http');
  const body = JSON.parse(lines[lines.indexOf('### Body:') + 1]!) as KObject;
  const stored = JSON.parse([...lines].reverse().find((l) => l.startsWith('{'))!) as Record<string, any>;
  applyDefaults('Service', '', body);
  const { clusterIP: _a, clusterIPs: _b, ...want } = stored.spec;
  assert.deepEqual(body.spec, want);
  assert.deepEqual(body.status, stored.status);
});

const svc = (spec: Record<string, unknown>): KObject => ({ apiVersion: 'v1', kind: 'Service', metadata: { name: 's', namespace: 'default' }, spec });

test('service defaults per type', () => {
  const np = svc({ type: 'NodePort', ports: [{ port: 80, targetPort: 'http' }] });
  applyDefaults('Service', '', np);
  assert.deepEqual(np.spec, { type: 'NodePort', ports: [{ port: 80, targetPort: 'http', protocol: 'TCP' }], sessionAffinity: 'None', externalTrafficPolicy: 'Cluster', internalTrafficPolicy: 'Cluster', ipFamilyPolicy: 'SingleStack', ipFamilies: ['IPv4'] });
  const lb = svc({ type: 'LoadBalancer', sessionAffinity: 'ClientIP', ports: [{ port: 8086 }] });
  applyDefaults('Service', '', lb);
  const spec = lb.spec as Record<string, unknown>;
  assert.equal(spec.allocateLoadBalancerNodePorts, true);
  assert.deepEqual(spec.sessionAffinityConfig, { clientIP: { timeoutSeconds: 10800 } });
  const ext = svc({ type: 'ExternalName', externalName: 'db.example.com' });
  applyDefaults('Service', '', ext);
  assert.deepEqual(ext.spec, { type: 'ExternalName', externalName: 'db.example.com', sessionAffinity: 'None' });
  const fixed = svc({ clusterIP: '10.96.0.10', ports: [{ port: 80 }] });
  applyDefaults('Service', '', fixed);
  assert.deepEqual((fixed.spec as Record<string, unknown>).clusterIPs, ['10.96.0.10']);
});

test('pod defaults as a v1.25 server stores them', () => {
  const pod: KObject = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'influxdb', namespace: 'default' }, spec: {
    hostNetwork: true,
    containers: [{ name: 'influxdb', image: 'influxdb', ports: [{ containerPort: 8086 }], readinessProbe: { httpGet: { port: 8086 } } },
      { name: 'side', image: 'registry.local:5000/side:1.2' }],
  } };
  applyDefaults('Pod', '', pod);
  assert.deepEqual(pod.spec, {
    hostNetwork: true,
    containers: [
      { name: 'influxdb', image: 'influxdb', ports: [{ containerPort: 8086, hostPort: 8086, protocol: 'TCP' }],
        readinessProbe: { httpGet: { port: 8086, path: '/', scheme: 'HTTP' }, timeoutSeconds: 1, periodSeconds: 10, successThreshold: 1, failureThreshold: 3 },
        imagePullPolicy: 'Always', terminationMessagePath: '/dev/termination-log', terminationMessagePolicy: 'File' },
      { name: 'side', image: 'registry.local:5000/side:1.2', imagePullPolicy: 'IfNotPresent', terminationMessagePath: '/dev/termination-log', terminationMessagePolicy: 'File' },
    ],
    dnsPolicy: 'ClusterFirst', restartPolicy: 'Always', securityContext: {}, terminationGracePeriodSeconds: 30, schedulerName: 'default-scheduler',
    enableServiceLinks: true, priority: 0, preemptionPolicy: 'PreemptLowerPriority',
    tolerations: [
      { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
      { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
    ],
  });
  assert.deepEqual(pod.status, { phase: 'Pending', qosClass: 'BestEffort' });
});

test('a pod that already tolerates everything gets no extra tolerations', () => {
  const pod: KObject = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'x' }], tolerations: [{ operator: 'Exists' }] } };
  applyDefaults('Pod', '', pod);
  assert.deepEqual((pod.spec as Record<string, unknown>).tolerations, [{ operator: 'Exists' }]);
});

test('DefaultTolerationSeconds: each default is added unless a toleration already covers it', async (t) => {
  const nr = { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 };
  const ux = { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 };
  const cases: [string, Record<string, unknown>[] | undefined, Record<string, unknown>[]][] = [
    ['none given: both', undefined, [nr, ux]],
    ['an empty list: both', [], [nr, ux]],
    ['other tolerations stay first', [{ key: 'dedicated', operator: 'Equal', value: 'db', effect: 'NoSchedule' }], [{ key: 'dedicated', operator: 'Equal', value: 'db', effect: 'NoSchedule' }, nr, ux]],
    ['Exists with no key and no effect covers both', [{ operator: 'Exists' }], [{ operator: 'Exists' }]],
    ['no key, effect NoExecute covers both', [{ operator: 'Exists', effect: 'NoExecute' }], [{ operator: 'Exists', effect: 'NoExecute' }]],
    ['no key, effect NoSchedule covers neither', [{ operator: 'Exists', effect: 'NoSchedule' }], [{ operator: 'Exists', effect: 'NoSchedule' }, nr, ux]],
    ['unreachable with no effect: only not-ready added', [{ key: 'node.kubernetes.io/unreachable', operator: 'Exists' }], [{ key: 'node.kubernetes.io/unreachable', operator: 'Exists' }, nr]],
    ['unreachable NoSchedule does not cover it', [{ key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoSchedule' }],
      [{ key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoSchedule' }, nr, ux]],
    ['not-ready with its own seconds is kept as it is', [{ ...nr, tolerationSeconds: 6000 }], [{ ...nr, tolerationSeconds: 6000 }, ux]],
    ['the operator and value are not looked at', [{ key: 'node.kubernetes.io/unreachable', operator: 'Equal', value: 'x', effect: 'NoExecute' }],
      [{ key: 'node.kubernetes.io/unreachable', operator: 'Equal', value: 'x', effect: 'NoExecute' }, nr]],
    ['already defaulted (an update): nothing more', [nr, ux], [nr, ux]],
  ];
  for (const [name, given, want] of cases) {
    await t.test(name, () => {
      const pod: KObject = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [], ...(given ? { tolerations: structuredClone(given) } : {}) } };
      applyDefaults('Pod', '', pod);
      assert.deepEqual((pod.spec as Record<string, unknown>).tolerations, want);
    });
  }
});

test('namespace, secret, endpoints, endpointslice and ingress defaults', () => {
  const ns: KObject = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team' } };
  applyDefaults('Namespace', '', ns);
  assert.deepEqual(ns.metadata.labels, { 'kubernetes.io/metadata.name': 'team' });
  // Regression: defaulting runs on every write; it must not bring back the finalizer /finalize removed.
  assert.equal(ns.spec, undefined);
  const finalized: KObject = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team' }, spec: { finalizers: [] } };
  applyDefaults('Namespace', '', finalized);
  assert.deepEqual(finalized.spec, { finalizers: [] });
  assert.deepEqual(ns.status, { phase: 'Active' });

  const sec: KObject = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' }, stringData: { a: 'hi' } };
  applyDefaults('Secret', '', sec);
  assert.equal(sec.type, 'Opaque');
  assert.deepEqual(sec.data, { a: 'aGk=' });
  assert.equal(sec.stringData, undefined);

  const ep: KObject = { apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'e' }, subsets: [{ ports: [{ port: 80 }] }] };
  applyDefaults('Endpoints', '', ep);
  assert.deepEqual(ep.subsets, [{ ports: [{ port: 80, protocol: 'TCP' }] }]);

  const es: KObject = { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: 'e' }, ports: [{ port: 80 }] };
  applyDefaults('EndpointSlice', 'discovery.k8s.io', es);
  assert.deepEqual(es.ports, [{ port: 80, name: '', protocol: 'TCP' }]);

  const ing: KObject = { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name: 'i' }, spec: { rules: [{ http: { paths: [{ path: '/', backend: {} }] } }] } };
  applyDefaults('Ingress', 'networking.k8s.io', ing);
  assert.deepEqual(ing.spec, { rules: [{ http: { paths: [{ path: '/', backend: {} }] } }] }, 'pathType stays unset in v1');
  assert.deepEqual(ing.status, { loadBalancer: {} });
});
