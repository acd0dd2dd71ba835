import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { findUnknownFields, strictDecodingMessage, unknownFieldWarnings } from './field-validation.ts';

const service = (spec: Record<string, unknown>, metadata: Record<string, unknown> = { name: 's' }) =>
  ({ apiVersion: 'v1', kind: 'Service', metadata, spec });

describe('findUnknownFields', () => {
  const cases: { name: string; apiVersion: string; kind: string; obj: unknown; want: string[] }[] = [
    { name: 'golden: spec.bogusField', apiVersion: 'v1', kind: 'Service',
      obj: service({ selector: { app: 'x' }, ports: [{ port: 80 }], bogusField: 1 }), want: ['spec.bogusField'] },
    { name: 'list items are indexed', apiVersion: 'v1', kind: 'Service',
      obj: service({ ports: [{ port: 80 }, { port: 81, bogus: true }] }), want: ['spec.ports[1].bogus'] },
    { name: 'document order, top level and metadata too', apiVersion: 'v1', kind: 'Service',
      obj: { apiVersion: 'v1', kind: 'Service', extra: 1, metadata: { name: 's', nam: 'typo' }, spec: { typ: 'NodePort' } },
      want: ['extra', 'metadata.nam', 'spec.typ'] },
    { name: 'free-form maps: labels, annotations, selector', apiVersion: 'v1', kind: 'Service',
      obj: service({ selector: { anything: 'goes' } }, { name: 's', labels: { a: 'b' }, annotations: { 'x/y': 'z' } }), want: [] },
    { name: 'IntOrString as number or string', apiVersion: 'v1', kind: 'Service',
      obj: service({ ports: [{ port: 80, targetPort: 8080 }, { port: 81, targetPort: 'http' }] }), want: [] },
    { name: 'status and every real ServiceSpec field', apiVersion: 'v1', kind: 'Service',
      obj: { ...service({ type: 'LoadBalancer', clusterIP: '10.96.0.1', clusterIPs: ['10.96.0.1'], externalTrafficPolicy: 'Local',
        internalTrafficPolicy: 'Cluster', healthCheckNodePort: 30000, sessionAffinity: 'ClientIP',
        sessionAffinityConfig: { clientIP: { timeoutSeconds: 10 } }, loadBalancerSourceRanges: ['10.0.0.0/8'],
        allocateLoadBalancerNodePorts: true, ipFamilies: ['IPv4'], ipFamilyPolicy: 'SingleStack', externalIPs: ['1.2.3.4'] }),
        status: { loadBalancer: { ingress: [{ ip: '192.0.2.1', ipMode: 'VIP', ports: [{ port: 80, protocol: 'TCP' }] }] } } },
      want: [] },
    { name: 'Quantity, Time, managedFields.fieldsV1 (free-form)', apiVersion: 'v1', kind: 'Pod',
      obj: { apiVersion: 'v1', kind: 'Pod',
        metadata: { name: 'p', creationTimestamp: '2024-01-01T00:00:00Z',
          managedFields: [{ manager: 'kubectl', operation: 'Update', fieldsType: 'FieldsV1', fieldsV1: { 'f:spec': { 'f:x': {} } } }] },
        spec: { containers: [{ name: 'c', image: 'i', resources: { limits: { cpu: 1, memory: '1Gi' } } }] } },
      want: [] },
    { name: 'pod containers, ports, env, probes', apiVersion: 'v1', kind: 'Pod',
      obj: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { hostNetwork: true, containers: [{
        name: 'c', command: ['a'], args: ['b'], ports: [{ containerPort: 80, hostPort: 8080, bogus: 1 }],
        env: [{ name: 'A', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } }],
        redinessProbe: { httpGet: { path: '/', port: 80 } } }] } },
      want: ['spec.containers[0].ports[0].bogus', 'spec.containers[0].redinessProbe'] },
    { name: 'Secret and ConfigMap data are free-form', apiVersion: 'v1', kind: 'Secret',
      obj: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' }, type: 'kubernetes.io/tls', data: { 'tls.crt': 'eA==' }, stringData: { k: 'v' } },
      want: [] },
    { name: 'ConfigMap unknown top-level field', apiVersion: 'v1', kind: 'ConfigMap',
      obj: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, data: { a: 'b' }, spec: {} }, want: ['spec'] },
    { name: 'EndpointSlice', apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
      obj: { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: 'e' }, addressType: 'IPv4',
        endpoints: [{ addresses: ['10.0.0.1'], conditions: { ready: true, readyy: true }, targetRef: { kind: 'Pod', name: 'p' } }],
        ports: [{ name: 'http', port: 80, protocol: 'TCP' }] },
      want: ['endpoints[0].conditions.readyy'] },
    { name: 'Ingress v1 rejects the v1beta1 backend', apiVersion: 'networking.k8s.io/v1', kind: 'Ingress',
      obj: { spec: { rules: [{ host: 'a', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { serviceName: 's', servicePort: 80 } }] } }] } },
      want: ['spec.rules[0].http.paths[0].backend.serviceName', 'spec.rules[0].http.paths[0].backend.servicePort'] },
    { name: 'Ingress v1 backend.service.port', apiVersion: 'networking.k8s.io/v1', kind: 'Ingress',
      obj: { spec: { ingressClassName: 'x', tls: [{ hosts: ['a'], secretName: 't' }], defaultBackend: { service: { name: 's', port: { number: 80 } } } } },
      want: [] },
    { name: 'extensions/v1beta1 Ingress accepts serviceName/servicePort', apiVersion: 'extensions/v1beta1', kind: 'Ingress',
      obj: { spec: { backend: { serviceName: 's', servicePort: 'http' }, rules: [{ http: { paths: [{ path: '/', backend: { serviceName: 's', servicePort: 80, x: 1 } }] } }] } },
      want: ['spec.rules[0].http.paths[0].backend.x'] },
    { name: 'networking.k8s.io/v1beta1 Ingress accepts serviceName/servicePort', apiVersion: 'networking.k8s.io/v1beta1', kind: 'Ingress',
      obj: { spec: { backend: { serviceName: 's', servicePort: 80 } } }, want: [] },
    { name: 'a type mismatch is not an unknown field', apiVersion: 'v1', kind: 'Service',
      obj: { spec: 'oops', metadata: [1, 2] }, want: [] },
    { name: 'kind not served', apiVersion: 'batch/v1', kind: 'Job', obj: { spec: { bogus: 1 } }, want: [] },
    { name: 'Deployment: unknown fields in the spec and the pod template', apiVersion: 'apps/v1', kind: 'Deployment',
      obj: { spec: { bogus: 1, template: { spec: { containers: [{ name: 'a', image: 'b', imagee: 'x' }] } } } },
      want: ['spec.bogus', 'spec.template.spec.containers[0].imagee'] },
    { name: 'Namespace, Node, Event, ServiceAccount, IngressClass', apiVersion: 'v1', kind: 'Event',
      obj: { apiVersion: 'v1', kind: 'Event', metadata: { name: 'e' }, involvedObject: { kind: 'Pod', name: 'p' }, reason: 'R',
        eventTime: '2024-01-01T00:00:00.000000Z', source: { component: 'x' }, count: 1, series: { count: 2, lastObservedTime: '2024-01-01T00:00:00.000000Z' } },
      want: [] },
  ];
  for (const c of cases) {
    it(c.name, () => assert.deepEqual(findUnknownFields(c.apiVersion, c.kind, c.obj), c.want));
  }

  it('knows every served kind', () => {
    for (const [apiVersion, kind] of [['v1', 'Namespace'], ['v1', 'Node'], ['v1', 'ServiceAccount'], ['v1', 'Endpoints'],
      ['networking.k8s.io/v1', 'IngressClass']] as const) {
      assert.deepEqual(findUnknownFields(apiVersion, kind, { bogus: 1 }), ['bogus'], `${apiVersion} ${kind}`);
    }
  });

  it('reports each path once and at most 100', () => {
    const spec: Record<string, number> = {};
    for (let i = 0; i < 150; i++) spec[`f${i}`] = i;
    const found = findUnknownFields('v1', 'Service', service(spec));
    assert.equal(found.length, 100);
    assert.equal(new Set(found).size, 100);
  });

  it('checks 10k objects in well under a second', () => {
    const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', labels: { app: 'x' } }, spec: { containers: [{
      name: 'c', image: 'i', command: ['a'], ports: [{ containerPort: 80 }], env: [{ name: 'A', value: 'b' }],
      readinessProbe: { httpGet: { path: '/', port: 80 } } }] } };
    findUnknownFields('v1', 'Pod', pod); // build the tree first
    const start = performance.now();
    for (let i = 0; i < 10_000; i++) findUnknownFields('v1', 'Pod', pod);
    const ms = performance.now() - start;
    assert.ok(ms < 1000, `took ${ms} ms`);
  });
});

describe('strictDecodingMessage', () => {
  it('matches kube-apiserver (golden error-400-strict-unknown-field.http)', () => {
    assert.equal(strictDecodingMessage('Service', 'v1', ['spec.bogusField']),
      'Service in version "v1" cannot be handled as a Service: strict decoding error: unknown field "spec.bogusField"');
  });
  it('joins several fields with ", " and names the version without the group', () => {
    assert.equal(strictDecodingMessage('Ingress', 'v1beta1', ['spec.a', 'spec.b[0].c']),
      'Ingress in version "v1beta1" cannot be handled as a Ingress: strict decoding error: unknown field "spec.a", unknown field "spec.b[0].c"');
  });
  it('warnings are one per field', () => {
    assert.deepEqual(unknownFieldWarnings(['spec.a', 'spec.b']), ['unknown field "spec.a"', 'unknown field "spec.b"']);
  });
});
