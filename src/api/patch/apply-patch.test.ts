import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { applyPatch, patchTypeOf } from './apply-patch.ts';
import type { GroupVersionKind } from './patch-meta.ts';
import { assertStatusError, deepFreeze } from './test-helpers.ts';

const service: GroupVersionKind = { group: '', version: 'v1', kind: 'Service' };
const live = deepFreeze({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: 'web', labels: { app: 'web' } },
  spec: { ports: [{ port: 80, nodePort: 30080 }, { port: 443, nodePort: 30443 }], type: 'NodePort' },
});

const cases: { name: string; contentType: string; body: unknown; want: unknown }[] = [
  {
    name: 'strategic merge patch merges ports by port',
    contentType: 'application/strategic-merge-patch+json',
    body: { spec: { ports: [{ port: 80, nodePort: 30081 }] } },
    want: { ...live, spec: { ports: [{ port: 80, nodePort: 30081 }, { port: 443, nodePort: 30443 }], type: 'NodePort' } },
  },
  {
    name: 'merge patch replaces the ports list',
    contentType: 'application/merge-patch+json',
    body: { spec: { ports: [{ port: 80, nodePort: 30081 }] } },
    want: { ...live, spec: { ports: [{ port: 80, nodePort: 30081 }], type: 'NodePort' } },
  },
  {
    name: 'json patch',
    contentType: 'application/json-patch+json',
    body: [{ op: 'replace', path: '/spec/type', value: 'ClusterIP' }],
    want: { ...live, spec: { ...live.spec, type: 'ClusterIP' } },
  },
  {
    name: 'apply patch as YAML text',
    contentType: 'application/apply-patch+yaml',
    body: 'apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  labels:\n    tier: fe\n',
    want: { ...live, metadata: { name: 'web', labels: { app: 'web', tier: 'fe' } } },
  },
  {
    name: 'raw JSON text with a charset parameter',
    contentType: 'application/merge-patch+json; charset=utf-8',
    body: '{"metadata":{"labels":{"app":null}}}',
    want: { ...live, metadata: { name: 'web', labels: {} } },
  },
  {
    name: 'raw bytes',
    contentType: 'application/strategic-merge-patch+json',
    body: new TextEncoder().encode('{"metadata":{"labels":{"a":"b"}}}'),
    want: { ...live, metadata: { name: 'web', labels: { app: 'web', a: 'b' } } },
  },
];

describe('applyPatch', () => {
  for (const tc of cases) {
    it(tc.name, () => {
      assert.deepStrictEqual(applyPatch(tc.contentType, live, tc.body, service), tc.want);
    });
  }

  it('415 for another Content-Type, worded as kube-apiserver', () => {
    assertStatusError(
      () => applyPatch('application/json', live, {}, service),
      415,
      'UnsupportedMediaType',
      'the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json, application/apply-patch+yaml',
    );
  });

  it('400 for a body that is not JSON', () => {
    assertStatusError(() => applyPatch('application/merge-patch+json', live, '{nope', service), 400, 'BadRequest', 'invalid JSON patch');
  });

  it('400 for YAML that does not parse', () => {
    assertStatusError(() => applyPatch('application/apply-patch+yaml', live, 'a: [', service), 400, 'BadRequest', /^error encoding patch: /);
  });

  it('400 for a merge patch that is not an object', () => {
    assertStatusError(() => applyPatch('application/merge-patch+json', live, null, service), 400, 'BadRequest', 'Invalid JSON Patch');
  });

  it('parses the media type', () => {
    assert.equal(patchTypeOf('Application/Strategic-Merge-Patch+JSON'), 'application/strategic-merge-patch+json');
    assert.equal(patchTypeOf('text/plain'), undefined);
  });
});
