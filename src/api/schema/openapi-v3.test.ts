import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { resources, servedGroupVersions } from '../resources.ts';
import { kubeListExtensions } from './kube-extensions.ts';
import type { Schema } from './models-schema-source.ts';
import { groupVersionPath, openapiV2Served, openapiV3Document, openapiV3Root, patchContentTypes } from './openapi-v3.ts';
import { schemaNameFor, servedSchemas } from './served-schemas.ts';

interface Doc {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<string, Record<string, { parameters?: { name: string; in: string }[]; requestBody?: { content: Record<string, unknown> };
    'x-kubernetes-group-version-kind'?: { group: string; version: string; kind: string }; 'x-kubernetes-action'?: string }>>;
  components: { schemas: Record<string, Schema> };
}

function doc(path: string): Doc {
  const d = openapiV3Document(path);
  assert.ok(d, path);
  return JSON.parse(d.body) as Doc;
}

describe('openapiV3Root', () => {
  it('lists every served group-version with the hash of its document', () => {
    const root = openapiV3Root();
    const want = servedGroupVersions().map((gv) => groupVersionPath(gv.group, gv.version)).sort();
    assert.deepEqual(Object.keys(root.paths).sort(), want);
    assert.deepEqual(want, ['api/v1', 'apis/apps/v1', 'apis/certificates.k8s.io/v1', 'apis/discovery.k8s.io/v1', 'apis/extensions/v1beta1', 'apis/gateway.networking.k8s.io/v1', 'apis/gateway.networking.k8s.io/v1beta1', 'apis/metallb.io/v1beta1', 'apis/networking.k8s.io/v1', 'apis/networking.k8s.io/v1beta1']);
    for (const [path, { serverRelativeURL }] of Object.entries(root.paths)) {
      const d = openapiV3Document(path)!;
      assert.equal(serverRelativeURL, `/openapi/v3/${path}?hash=${d.hash}`);
      assert.match(d.hash, /^[0-9A-F]{128}$/);
      assert.equal(d.hash, createHash('sha512').update(d.body).digest('hex').toUpperCase());
    }
  });

  it('is stable across calls', () => {
    assert.deepEqual(openapiV3Root(), openapiV3Root());
  });
});

describe('openapiV3Document', () => {
  it('answers undefined for a group-version not served and tolerates slashes', () => {
    assert.equal(openapiV3Document('apis/batch/v1'), undefined);
    assert.equal(openapiV3Document('/api/v1')?.hash, openapiV3Document('api/v1')?.hash);
  });

  it('has the PATCH operation kubectl looks for, for every resource (golden minimal document shape)', () => {
    for (const gv of servedGroupVersions()) {
      const d = doc(groupVersionPath(gv.group, gv.version));
      assert.equal(d.openapi, '3.0.0');
      for (const r of gv.resources) {
        const prefix = '/' + groupVersionPath(gv.group, gv.version);
        const item = r.namespaced ? `${prefix}/namespaces/{namespace}/${r.resource}/{name}` : `${prefix}/${r.resource}/{name}`;
        const patch = d.paths[item]?.patch;
        assert.ok(patch, `${item} patch`);
        assert.deepEqual(patch['x-kubernetes-group-version-kind'], { group: gv.group, version: gv.version, kind: r.kind });
        assert.equal(patch['x-kubernetes-action'], 'patch');
        assert.ok(patch.parameters?.some((p) => p.name === 'fieldValidation' && p.in === 'query'), `${item} fieldValidation`);
        assert.deepEqual(Object.keys(patch.requestBody!.content).sort(), [...patchContentTypes]);
        for (const [method, action] of [['get', 'get'], ['put', 'put'], ['delete', 'delete']] as const) {
          assert.equal(d.paths[item]?.[method]?.['x-kubernetes-action'], action, `${item} ${method}`);
        }
        const collection = item.slice(0, -'/{name}'.length);
        assert.equal(d.paths[collection]?.post?.['x-kubernetes-action'], 'post');
        assert.equal(d.paths[collection]?.get?.['x-kubernetes-action'], 'list');
        assert.ok(d.paths[collection]?.post?.parameters?.some((p) => p.name === 'fieldValidation'));
        if (r.hasStatus) assert.ok(d.paths[`${item}/status`]?.patch, `${item}/status`);
      }
    }
  });

  it('has kube-named schemas tagged with their GVK, and every $ref resolves', () => {
    for (const gv of servedGroupVersions()) {
      const d = doc(groupVersionPath(gv.group, gv.version));
      const schemas = d.components.schemas;
      for (const r of gv.resources) {
        for (const kind of [r.kind, r.listKind]) {
          const name = schemaNameFor(gv.group, gv.version, kind);
          const s = schemas[name];
          assert.ok(s, name);
          assert.deepEqual(s['x-kubernetes-group-version-kind'], [{ group: gv.group, kind, version: gv.version }]);
        }
      }
      const refs = JSON.stringify(d).match(/"\$ref":"[^"]+"/g) ?? [];
      for (const ref of refs) {
        const name = ref.slice('"$ref":"#/components/schemas/'.length, -1);
        assert.ok(schemas[name], `dangling ${ref} in ${gv.group}/${gv.version}`);
      }
    }
  });

  it('carries descriptions, enums and required fields from kubernetes-models', () => {
    const s = doc('api/v1').components.schemas;
    assert.match(s['io.k8s.api.core.v1.Service']!.description!, /^Service is a named abstraction/);
    const port = s['io.k8s.api.core.v1.ServicePort']!;
    assert.deepEqual(port.required, ['port']);
    assert.deepEqual(port.properties!.protocol!.enum, ['SCTP', 'TCP', 'UDP']);
    assert.equal(port.properties!.port!.type, 'integer');
    assert.equal(s['io.k8s.apimachinery.pkg.apis.meta.v1.Time']!.format, 'date-time');
    assert.match(s['io.k8s.apimachinery.pkg.util.intstr.IntOrString']!.description!, /int32 or a string/);
  });

  it('carries the patch merge keys kubectl apply needs', () => {
    const s = doc('api/v1').components.schemas;
    const ports = s['io.k8s.api.core.v1.ServiceSpec']!.properties!.ports!;
    assert.equal(ports['x-kubernetes-patch-merge-key'], 'port');
    assert.equal(ports['x-kubernetes-patch-strategy'], 'merge');
    assert.equal(ports['x-kubernetes-list-type'], 'map');
    assert.deepEqual(ports['x-kubernetes-list-map-keys'], ['port', 'protocol']);
    assert.equal(s['io.k8s.api.core.v1.PodSpec']!.properties!.containers!['x-kubernetes-patch-merge-key'], 'name');
    assert.equal(s['io.k8s.api.core.v1.PodSpec']!.properties!.volumes!['x-kubernetes-patch-strategy'], 'merge,retainKeys');
    assert.equal(s['io.k8s.api.core.v1.Container']!.properties!.ports!['x-kubernetes-patch-merge-key'], 'containerPort');
    assert.equal(s['io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta']!.properties!.finalizers!['x-kubernetes-patch-strategy'], 'merge');
  });

  it('every list-extension entry names an array field of a served schema', () => {
    const schemas = servedSchemas();
    for (const [key, fields] of Object.entries(kubeListExtensions)) {
      const names = [...schemas.keys()].filter((n) => n.endsWith('.' + key) && (n.startsWith('io.k8s.api.' + key) || n.startsWith('io.k8s.apimachinery.pkg.apis.' + key)));
      assert.ok(names.length, `no served schema for ${key}`);
      for (const name of names) {
        for (const field of Object.keys(fields)) {
          assert.equal(schemas.get(name)!.properties?.[field]?.type, 'array', `${name}.${field}`);
        }
      }
    }
  });

  it('serves the old Ingress versions with their own backend shape', () => {
    for (const path of ['apis/extensions/v1beta1', 'apis/networking.k8s.io/v1beta1']) {
      const s = doc(path).components.schemas;
      const group = path.includes('extensions') ? 'extensions' : 'networking';
      const backend = s[`io.k8s.api.${group}.v1beta1.IngressBackend`]!;
      assert.ok(backend.properties!.serviceName && backend.properties!.servicePort, path);
      assert.ok(!Object.keys(s).some((n) => n.endsWith('.IngressClass')), `${path} serves only Ingress`);
    }
  });

  it('v2 is not served', () => {
    assert.equal(openapiV2Served, false);
    assert.ok(resources.length > 0);
  });
});
