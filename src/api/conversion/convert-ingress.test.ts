// Ingress conversion, checked against the YAML the seed articles publish, and the seed
// snippets that a real cluster refuses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import type { KObject } from '../object.ts';
import { errors } from '../errors.ts';
import { applyDefaults } from '../defaults/apply-defaults.ts';
import { validateObject } from '../validation/validate-object.ts';
import { convertIngress, ingressDeprecationWarning, ingressWarningHeader } from './convert-ingress.ts';

const seeds = '/work/shared/seeds';

/** The ```-fenced YAML blocks of a markdown seed. */
function fencedYaml(file: string): string[] {
  const text = readFileSync(`${seeds}/${file}`, 'utf8');
  return [...text.matchAll(/```(\w*)\n([\s\S]*?)```/g)].filter((m) => m[1] === '' || m[1] === 'yaml').map((m) => m[2]!);
}

/** The YAML code blocks of the HTML seed (juejin markup): tags, entities and the page's "复制代码" copy button removed. */
function htmlYaml(file: string): string[] {
  const text = readFileSync(`${seeds}/${file}`, 'utf8');
  return [...text.matchAll(/<pre><code class="hljs language-yaml[^>]*>([\s\S]*?)<\/code><\/pre>/g)].map((m) =>
    m[1]!.replace(/<[^>]+>/g, '').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#x27;/g, "'").replace(/&amp;/g, '&').replace(/\n?复制代码\s*$/, '\n'));
}

/** Every YAML document in the blocks that parse (a published block may not). */
function docs(blocks: string[]): Record<string, any>[] {
  const out: Record<string, any>[] = [];
  for (const b of blocks) {
    const parsed = YAML.parseAllDocuments(b);
    if (!Array.isArray(parsed)) continue;
    for (const d of parsed) if (d.errors.length === 0) out.push(d.toJS() as Record<string, any>);
  }
  return out.filter((d) => d !== null && typeof d === 'object');
}

/** What the API server does with a manifest: namespace from the URL, convert, default, validate. */
function admit(doc: Record<string, unknown>): { obj: KObject; message: string | undefined } {
  let obj = structuredClone(doc) as KObject;
  obj.metadata = { ...(obj.metadata ?? {}), namespace: 'default' };
  const group = obj.apiVersion.includes('/') ? obj.apiVersion.split('/')[0]! : '';
  let kindGroup = group;
  if (obj.kind === 'Ingress') {
    obj = convertIngress(obj, 'networking.k8s.io/v1');
    kindGroup = 'networking.k8s.io';
  }
  applyDefaults(obj.kind, kindGroup, obj);
  const errs = validateObject(obj.kind, kindGroup, obj);
  return { obj, message: errs.length ? errors.invalid(obj.kind, kindGroup, obj.metadata.name ?? '', errs).message : undefined };
}

// Seed 001 lost its YAML indentation when the page was captured; this is its Ingress as published.
const seed001Ingress = {
  apiVersion: 'extensions/v1beta1', kind: 'Ingress', metadata: { name: 'influxdb' },
  spec: { rules: [{ host: 'influxdb.kube.example.com', http: { paths: [{ backend: { serviceName: 'influxdb', servicePort: 8086 } }] } }] },
};

test('seed 001: extensions/v1beta1 Ingress without a path converts and validates', () => {
  const { obj, message } = admit(seed001Ingress);
  assert.equal(message, undefined);
  assert.deepEqual(obj.spec, { rules: [{ host: 'influxdb.kube.example.com', http: { paths: [{ pathType: 'ImplementationSpecific', backend: { service: { name: 'influxdb', port: { number: 8086 } } } }] } }] });
  assert.equal(obj.apiVersion, 'networking.k8s.io/v1');
});

test('seed 003: the extensions/v1beta1 fan-out Ingress converts and validates', () => {
  const doc = docs(fencedYaml('003_5db6aa4282865695.txt')).find((d) => d?.kind === 'Ingress');
  assert.ok(doc);
  const { obj, message } = admit(doc);
  assert.equal(message, undefined);
  const paths = (obj.spec as any).rules[0].http.paths;
  assert.deepEqual(paths, [
    { path: '/foo', pathType: 'ImplementationSpecific', backend: { service: { name: 'service1', port: { number: 4200 } } } },
    { path: '/bar', pathType: 'ImplementationSpecific', backend: { service: { name: 'service2', port: { number: 8080 } } } },
  ]);
  assert.deepEqual(obj.metadata.annotations, { 'nginx.ingress.kubernetes.io/rewrite-target': '/' });
});

test('seed 004: the networking.k8s.io/v1beta1 Ingress with the class annotation converts and validates', () => {
  const doc = docs(htmlYaml('004_4a74806f01de7bd6.txt')).find((d) => d?.kind === 'Ingress');
  assert.ok(doc);
  assert.equal(doc.apiVersion, 'networking.k8s.io/v1beta1');
  const { obj, message } = admit(doc);
  assert.equal(message, undefined);
  assert.deepEqual((obj.spec as any).rules.map((r: any) => [r.host, r.http.paths[0].backend.service.name, r.http.paths[0].backend.service.port.number, r.http.paths[0].pathType]),
    [['example.com', 'my-service', 80, 'ImplementationSpecific'], ['another-example.com', 'second-service', 80, 'ImplementationSpecific']]);
});

test('seed 002: the v1 Ingress is already valid', () => {
  const doc = docs(fencedYaml('002_46285d25632e07ec.txt')).find((d) => d?.kind === 'Ingress');
  assert.ok(doc);
  assert.equal(admit(doc).message, undefined);
});

test('malformed seed 003 ClusterIP Service: ports split into two list items is refused with kube\'s words', () => {
  const doc = docs(fencedYaml('003_5db6aa4282865695.txt')).find((d) => d?.kind === 'Service' && d.spec?.type === 'ClusterIP');
  assert.ok(doc);
  // `- name: http` and `- port: 80` are two ports; spec.targetPort/spec.protocol are unknown fields.
  assert.deepEqual(doc.spec.ports, [{ name: 'http' }, { port: 80 }]);
  assert.equal(admit(doc).message,
    'Service "my-nginx" is invalid: [spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive, ' +
    'spec.ports[0].targetPort: Invalid value: 0: must be between 1 and 65535, inclusive, spec.ports[1].name: Required value]');
});

test('malformed seed 004 Services: fields under metadata and an empty spec are refused with kube\'s words', () => {
  const services = docs(htmlYaml('004_4a74806f01de7bd6.txt')).filter((d) => d?.kind === 'Service');
  assert.equal(services.length, 2);
  for (const doc of services) {
    assert.equal(doc.spec, null);
    assert.ok(doc.metadata.ports, 'ports were published under metadata');
    assert.equal(admit(doc).message, 'Service "my-service" is invalid: spec.ports: Required value');
  }
});

test('seed 003 NodePort snippet is not even YAML (`nodePort:31000` lacks the space)', () => {
  const text = readFileSync(`${seeds}/003_5db6aa4282865695.txt`, 'utf8');
  const block = [...text.matchAll(/```\n([\s\S]*?)```/g)].map((m) => m[1]!).find((b) => b.includes('nodePort:31000'));
  assert.ok(block);
  assert.throws(() => YAML.parse(block));
});

const v1Ingress = (): KObject => ({
  apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name: 'web', namespace: 'default', annotations: { a: 'b' } },
  spec: {
    ingressClassName: 'podgate',
    defaultBackend: { service: { name: 'fallback', port: { name: 'http' } } },
    tls: [{ hosts: ['example.com'], secretName: 'tls' }],
    rules: [
      { host: 'example.com', http: { paths: [
        { path: '/', pathType: 'Prefix', backend: { service: { name: 'web', port: { number: 80 } } } },
        { path: '/static', pathType: 'Exact', backend: { resource: { apiGroup: 'k8s.example.com', kind: 'StorageBucket', name: 'static' } } },
      ] } },
      { host: '*.example.com' },
    ],
  },
  status: { loadBalancer: { ingress: [{ ip: '192.0.2.10' }] } },
});

for (const version of ['networking.k8s.io/v1beta1', 'extensions/v1beta1']) {
  test(`v1 → ${version} → v1 is lossless`, () => {
    const original = v1Ingress();
    const beta = convertIngress(original, version);
    assert.equal(beta.apiVersion, version);
    const spec = beta.spec as any;
    assert.deepEqual(spec.backend, { serviceName: 'fallback', servicePort: 'http' });
    assert.equal(spec.defaultBackend, undefined);
    assert.deepEqual(spec.rules[0].http.paths[0].backend, { serviceName: 'web', servicePort: 80 });
    assert.deepEqual(spec.rules[0].http.paths[1].backend, { resource: { apiGroup: 'k8s.example.com', kind: 'StorageBucket', name: 'static' } });
    assert.deepEqual(convertIngress(beta, 'networking.k8s.io/v1'), original);
    assert.deepEqual(original, v1Ingress(), 'the input is not modified');
  });
}

test('v1beta1 → v1 → v1beta1 keeps everything but gains the defaulted pathType', () => {
  const beta: KObject = { apiVersion: 'extensions/v1beta1', kind: 'Ingress', metadata: { name: 'w' }, spec: { backend: { serviceName: 'a', servicePort: 'web' }, rules: [{ http: { paths: [{ path: '/x', backend: { serviceName: 'b', servicePort: 81 } }] } }] } };
  const back = convertIngress(convertIngress(beta, 'networking.k8s.io/v1'), 'networking.k8s.io/v1beta1');
  assert.deepEqual(back.spec, { backend: { serviceName: 'a', servicePort: 'web' }, rules: [{ http: { paths: [{ path: '/x', pathType: 'ImplementationSpecific', backend: { serviceName: 'b', servicePort: 81 } }] } }] });
  assert.equal(back.apiVersion, 'networking.k8s.io/v1beta1');
});

test('a quoted numeric servicePort becomes a port name, as in kube (and then fails validation)', () => {
  const beta: KObject = { apiVersion: 'networking.k8s.io/v1beta1', kind: 'Ingress', metadata: { name: 'w', namespace: 'default' }, spec: { rules: [{ http: { paths: [{ path: '/', backend: { serviceName: 'b', servicePort: '80' } }] } }] } };
  const v1 = convertIngress(beta, 'networking.k8s.io/v1');
  assert.deepEqual((v1.spec as any).rules[0].http.paths[0].backend, { service: { name: 'b', port: { name: '80' } } });
  assert.deepEqual(validateObject('Ingress', 'networking.k8s.io', v1).map((e) => `${e.field}: ${e.message}`),
    ['spec.rules[0].http.paths[0].backend.service.port.name: Invalid value: "80": must contain at least one letter (a-z)']);
});

test('unknown versions are refused', () => {
  assert.throws(() => convertIngress(v1Ingress(), 'networking.k8s.io/v2'), /cannot convert Ingress to apiVersion "networking.k8s.io\/v2"/);
});

test('deprecation warnings are worded as kube-apiserver sends them', () => {
  assert.equal(ingressWarningHeader('extensions/v1beta1'), '299 - "extensions/v1beta1 Ingress is deprecated in v1.14+, unavailable in v1.22+; use networking.k8s.io/v1 Ingress"');
  assert.equal(ingressDeprecationWarning('networking.k8s.io/v1beta1'), 'networking.k8s.io/v1beta1 Ingress is deprecated in v1.19+, unavailable in v1.22+; use networking.k8s.io/v1 Ingress');
  assert.equal(ingressWarningHeader('networking.k8s.io/v1'), undefined);
});
