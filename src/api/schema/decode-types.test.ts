import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeErrorMessage, findDecodeError } from './field-validation.ts';

const pod = (spec: Record<string, unknown>, metadata: Record<string, unknown> = { name: 'p' }) =>
  ({ apiVersion: 'v1', kind: 'Pod', metadata, spec });
const service = (spec: Record<string, unknown>) => ({ apiVersion: 'v1', kind: 'Service', metadata: { name: 's' }, spec });
const refused = (value: string, field: string, type: string) => `json: cannot unmarshal ${value} into Go struct field ${field} of type ${type}`;

describe('findDecodeError', () => {
  const cases: { name: string; apiVersion?: string; kind?: string; obj: unknown; want: string | undefined }[] = [
    // The examples kube-apiserver gives.
    { name: 'bool into a ConfigMap data value', kind: 'ConfigMap',
      obj: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, data: { DEBUG: true } },
      want: refused('bool', 'ConfigMap.data', 'string') },
    { name: 'string into an int32 (Service spec, as DeploymentSpec.spec.replicas)', kind: 'Service',
      obj: service({ healthCheckNodePort: '3' }), want: refused('string', 'ServiceSpec.spec.healthCheckNodePort', 'int32') },
    { name: 'number into metadata.name', obj: pod({}, { name: 7 }), want: refused('number', 'ObjectMeta.metadata.name', 'string') },
    { name: 'string into metadata.finalizers', obj: pod({}, { name: 'p', finalizers: 'abc' }),
      want: refused('string', 'ObjectMeta.metadata.finalizers', '[]string') },
    { name: 'string into spec.containers', obj: pod({ containers: 'x' }), want: refused('string', 'PodSpec.spec.containers', '[]v1.Container') },
    { name: 'a fraction into an int32 names the number', kind: 'Service', obj: service({ ports: [{ port: 1.5 }] }),
      want: refused('number 1.5', 'ServicePort.spec.ports.port', 'int32') },
    // The bodies podgate used to store.
    { name: 'number into env[].value', obj: pod({ containers: [{ name: 'c', image: 'i', env: [{ name: 'A', value: 5 }] }] }),
      want: refused('number', 'EnvVar.spec.containers.env.value', 'string') },
    { name: 'number into a label', obj: pod({}, { name: 'p', labels: { n: 5 } }), want: refused('number', 'ObjectMeta.metadata.labels', 'string') },
    { name: 'string into Service spec.ports', kind: 'Service', obj: service({ ports: 'x' }),
      want: refused('string', 'ServiceSpec.spec.ports', '[]v1.ServicePort') },
    { name: 'array into metadata', obj: { apiVersion: 'v1', kind: 'Pod', metadata: [] }, want: refused('array', 'Pod.metadata', 'v1.ObjectMeta') },
    { name: 'object into a string', obj: pod({ containers: [{ name: { a: 1 } }] }), want: refused('object', 'Container.spec.containers.name', 'string') },
    { name: 'number into a bool', obj: pod({ hostNetwork: 1 }), want: refused('number', 'PodSpec.spec.hostNetwork', 'bool') },
    { name: 'an int32 overflow names the number', kind: 'Service', obj: service({ ports: [{ port: 3_000_000_000 }] }),
      want: refused('number 3000000000', 'ServicePort.spec.ports.port', 'int32') },
    { name: 'int64 fields are int64', obj: pod({ terminationGracePeriodSeconds: '30' }),
      want: refused('string', 'PodSpec.spec.terminationGracePeriodSeconds', 'int64') },
    { name: 'Secret data is []byte', kind: 'Secret', obj: { apiVersion: 'v1', kind: 'Secret', data: { k: 5 } },
      want: refused('number', 'Secret.data', '[]uint8') },
    { name: 'top level not an object', obj: [1], want: 'json: cannot unmarshal array into Go value of type v1.Pod' },
    // Where the error is reported.
    { name: 'deep in lists: the innermost struct and the path without indices',
      obj: pod({ containers: [{ name: 'a', image: 'i' }, { name: 'b', image: 'i', ports: [{ containerPort: '80' }] }] }),
      want: refused('string', 'ContainerPort.spec.containers.ports.containerPort', 'int32') },
    { name: 'inline (embedded) structs: the struct that embeds them', obj: pod({ volumes: [{ name: 'v', configMap: 'x' }] }),
      want: refused('string', 'Volume.spec.volumes.configMap', 'v1.ConfigMapVolumeSource') },
    { name: 'document order: the first mismatch wins',
      obj: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', labels: { a: true } }, spec: { containers: 'x' } },
      want: refused('bool', 'ObjectMeta.metadata.labels', 'string') },
    { name: 'document order within an object', obj: pod({ hostNetwork: 'yes', containers: 'x' }),
      want: refused('string', 'PodSpec.spec.hostNetwork', 'bool') },
    { name: 'an IntOrString error ends decoding, so it wins over an earlier type error', kind: 'Service',
      obj: { apiVersion: 'v1', kind: 'Service', metadata: { name: 7 }, spec: { ports: [{ port: 80, targetPort: true }] } },
      want: refused('bool', 'ServicePort.spec.ports.targetPort', 'int32') },
    // Types with their own UnmarshalJSON.
    { name: 'IntOrString: "http" and 8080', kind: 'Service',
      obj: service({ ports: [{ port: 80, targetPort: 'http' }, { port: 81, targetPort: 8080 }] }), want: undefined },
    { name: 'IntOrString: not an int32', kind: 'Service', obj: service({ ports: [{ port: 80, targetPort: 1.5 }] }),
      want: refused('number 1.5', 'ServicePort.spec.ports.targetPort', 'int32') },
    { name: 'IntOrString: an object', obj: pod({ containers: [{ name: 'c', livenessProbe: { httpGet: { port: {} } } }] }),
      want: refused('object', 'HTTPGetAction.spec.containers.livenessProbe.httpGet.port', 'int32') },
    { name: 'Quantity: "100m" and 1', obj: pod({ containers: [{ name: 'c', resources: { limits: { cpu: '100m', memory: 1 } } }] }), want: undefined },
    { name: 'Quantity: a bool', obj: pod({ containers: [{ name: 'c', resources: { requests: { cpu: true } } }] }),
      want: "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'" },
    { name: 'Time: a number', obj: pod({}, { name: 'p', creationTimestamp: 5 }),
      want: refused('number', 'ObjectMeta.metadata.creationTimestamp', 'string') },
    { name: 'free-form fieldsV1 takes anything',
      obj: pod({}, { name: 'p', managedFields: [{ manager: 'm', fieldsV1: { 'f:a': {} } }, { fieldsV1: 'x' }] }), want: undefined },
    // What decodes.
    { name: 'null anywhere leaves the zero value',
      obj: { apiVersion: 'v1', kind: 'Pod', metadata: { name: null, labels: null, creationTimestamp: null },
        spec: { containers: [{ name: 'c', image: null, ports: null, env: [{ name: 'A', value: null }],
          resources: { limits: { cpu: null } }, readinessProbe: { httpGet: { port: null } } }], hostNetwork: null } },
      want: undefined },
    { name: 'unknown fields are not type errors', obj: pod({ bogus: [1], containers: [{ name: 'c', extra: true }] }), want: undefined },
    { name: 'seed-like Pod',
      obj: pod({ containers: [{ name: 'web', image: 'nginx:1.25', command: ['nginx'], args: ['-g', 'daemon off;'],
        ports: [{ containerPort: 80, name: 'http', protocol: 'TCP' }], env: [{ name: 'A', value: '1' },
          { name: 'IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } }],
        resources: { requests: { cpu: '100m', memory: '64Mi' }, limits: { cpu: 1 } },
        readinessProbe: { httpGet: { path: '/', port: 'http' }, initialDelaySeconds: 2, periodSeconds: 5 },
        volumeMounts: [{ name: 'conf', mountPath: '/etc/x', readOnly: true }] }],
        volumes: [{ name: 'conf', configMap: { name: 'c', defaultMode: 420 } }], restartPolicy: 'Always', terminationGracePeriodSeconds: 30 },
      { name: 'web', namespace: 'default', labels: { app: 'web' }, annotations: { 'a/b': 'c' } }),
      want: undefined },
    { name: 'seed-like Service', kind: 'Service',
      obj: service({ type: 'NodePort', selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http', nodePort: 30080, protocol: 'TCP' }],
        sessionAffinity: 'None', externalTrafficPolicy: 'Cluster' }), want: undefined },
    { name: 'seed-like Ingress', apiVersion: 'networking.k8s.io/v1', kind: 'Ingress',
      obj: { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name: 'i', annotations: { 'nginx.ingress.kubernetes.io/ssl-redirect': 'true' } },
        spec: { ingressClassName: 'nginx', tls: [{ hosts: ['a.example.com'], secretName: 't' }],
          rules: [{ host: 'a.example.com', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 's', port: { number: 80 } } } }] } }] } },
      want: undefined },
    { name: 'seed-like ConfigMap', kind: 'ConfigMap',
      obj: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, data: { DEBUG: 'true', 'app.conf': 'a=b\n' }, immutable: false },
      want: undefined },
    // Kinds without Go types here.
    { name: 'custom resources (MetalLB) are not decoded into Go types', apiVersion: 'metallb.io/v1beta1', kind: 'IPAddressPool',
      obj: { apiVersion: 'metallb.io/v1beta1', kind: 'IPAddressPool', metadata: { name: 'p' }, spec: { addresses: 5 } }, want: undefined },
    { name: 'string into a Deployment spec.replicas', apiVersion: 'apps/v1', kind: 'Deployment',
      obj: { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' }, spec: { replicas: '3' } },
      want: refused('string', 'DeploymentSpec.spec.replicas', 'int32') },
    { name: 'kind not served', apiVersion: 'batch/v1', kind: 'Job', obj: { spec: { parallelism: '3' } }, want: undefined },
  ];
  for (const c of cases) {
    it(c.name, () => assert.equal(findDecodeError(c.apiVersion ?? 'v1', c.kind ?? 'Pod', c.obj), c.want));
  }

  it('checks 10k objects in well under a second', () => {
    const p = pod({ containers: [{ name: 'c', image: 'i', command: ['a'], ports: [{ containerPort: 80 }], env: [{ name: 'A', value: 'b' }],
      readinessProbe: { httpGet: { path: '/', port: 80 } } }] }, { name: 'p', labels: { app: 'x' } });
    assert.equal(findDecodeError('v1', 'Pod', p), undefined); // builds the tree
    const start = performance.now();
    for (let i = 0; i < 10_000; i++) findDecodeError('v1', 'Pod', p);
    const ms = performance.now() - start;
    assert.ok(ms < 1000, `took ${ms} ms`);
  });
});

describe('decodeErrorMessage', () => {
  it('is kube-apiserver\'s 400 message', () => {
    assert.equal(decodeErrorMessage('ConfigMap', 'v1', refused('bool', 'ConfigMap.data', 'string')),
      'ConfigMap in version "v1" cannot be handled as a ConfigMap: json: cannot unmarshal bool into Go struct field ConfigMap.data of type string');
  });
});
