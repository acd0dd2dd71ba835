// Server certificates by SNI: exact name, `*.` wildcard of one label, then the certificate of a
// Gateway HTTPS listener without a hostname (`''`), then podgate's default one.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateDefaultCertificate, TlsStore } from './tls-store.ts';

describe('TlsStore', () => {
  it('serves an exact name, a one-label wildcard, then the any-name certificate, then the default', async () => {
    const [def, exact, wild, any] = await Promise.all([1, 2, 3, 4].map(() => generateDefaultCertificate()));
    const store = new TlsStore(def!);
    store.update([
      { secret: 'default/exact', hosts: ['a.example.com'], certPem: exact!.certPem, keyPem: exact!.keyPem },
      { secret: 'default/wild', hosts: ['*.example.com'], certPem: wild!.certPem, keyPem: wild!.keyPem },
    ]);
    const wildCtx = store.contextFor('b.example.com');
    assert.notEqual(store.contextFor('a.example.com'), wildCtx);
    assert.equal(store.contextFor('x.b.example.com'), store.defaultContext, 'a wildcard covers one label');
    assert.equal(store.contextFor(undefined), store.defaultContext);
    store.update([
      { secret: 'default/wild', hosts: ['*.example.com'], certPem: wild!.certPem, keyPem: wild!.keyPem },
      { secret: 'default/any', hosts: [''], certPem: any!.certPem, keyPem: any!.keyPem },
    ]);
    const anyCtx = store.contextFor('other.test');
    assert.notEqual(anyCtx, store.defaultContext, 'a listener without a hostname serves its certificate for any name');
    assert.equal(store.contextFor(undefined), anyCtx);
    assert.equal(store.contextFor('b.example.com'), store.contextFor('c.example.com'));
    assert.notEqual(store.contextFor('b.example.com'), anyCtx, 'a named certificate still wins');
  });
});
