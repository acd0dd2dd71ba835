import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseRequestPath } from './request-info.ts';

describe('parseRequestPath', () => {
  const cases: [string, Record<string, unknown>][] = [
    ['/api/v1/namespaces', { group: '', version: 'v1', resource: 'namespaces', namespace: undefined, name: undefined }],
    ['/api/v1/namespaces/default', { resource: 'namespaces', name: 'default', namespace: undefined }],
    ['/api/v1/namespaces/default/status', { resource: 'namespaces', name: 'default', subresource: 'status' }],
    ['/api/v1/namespaces/default/finalize', { resource: 'namespaces', name: 'default', subresource: 'finalize' }],
    ['/api/v1/namespaces/default/services', { namespace: 'default', resource: 'services', name: undefined }],
    ['/api/v1/namespaces/default/services/web', { namespace: 'default', resource: 'services', name: 'web' }],
    ['/api/v1/namespaces/default/services/web:80/proxy/a/b', { name: 'web:80', subresource: 'proxy', rest: 'a/b' }],
    ['/api/v1/namespaces/default/pods/web/proxy/', { name: 'web', subresource: 'proxy', rest: '' }],
    ['/api/v1/pods', { namespace: undefined, resource: 'pods' }],
    ['/apis/networking.k8s.io/v1/namespaces/ns1/ingresses/i/status', { group: 'networking.k8s.io', namespace: 'ns1', resource: 'ingresses', name: 'i', subresource: 'status' }],
  ];
  for (const [path, want] of cases) {
    it(path, () => {
      const got = parseRequestPath(path);
      assert.equal(got.kind, 'resource');
      for (const [k, v] of Object.entries(want)) assert.equal((got as unknown as Record<string, unknown>)[k], v, k);
    });
  }
  it('leaves non-resource paths alone', () => {
    assert.deepEqual(parseRequestPath('/api'), { kind: 'other', path: '/api' });
    assert.deepEqual(parseRequestPath('/apis/apps'), { kind: 'other', path: '/apis/apps' });
    assert.deepEqual(parseRequestPath('/version'), { kind: 'other', path: '/version' });
  });
});
