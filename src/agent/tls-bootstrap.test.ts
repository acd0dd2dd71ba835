// Discovery as `kubeadm join` does it: the CA from kube-public/cluster-info, trusted only when its
// public key matches the pin; and the pin's format (kubeadm's pubkeypin: SHA-256 of the DER
// SubjectPublicKeyInfo).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startInProcessApiServer, type InProcessApiServer } from '../apiserver/in-process.ts';
import { lookupResource } from '../api/resources.ts';
import type { KObject } from '../api/object.ts';
import { createCertificateAuthority } from '../pki/certificates.ts';
import { caCertHash, clusterInfoKubeconfig } from '../pki/cluster-info.ts';
import { discoverClusterCA, joinCluster } from './tls-bootstrap.ts';

describe('TLS bootstrap: discovery', () => {
  let api: InProcessApiServer;
  let caPem: string;
  let otherCaPem: string;
  before(async () => {
    api = await startInProcessApiServer();
    const now = new Date();
    caPem = (await createCertificateAuthority({ commonName: 'podgate-ca@1', now })).certPem;
    otherCaPem = (await createCertificateAuthority({ commonName: 'podgate-ca@1', now })).certPem;
    await api.client.create(lookupResource('', 'v1', 'configmaps')!, 'kube-public', {
      apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cluster-info', namespace: 'kube-public' },
      data: { kubeconfig: clusterInfoKubeconfig('https://192.0.2.10:6443', caPem) },
    } as unknown as KObject);
  });
  after(async () => { await api?.stop(); });

  it('pins the CA as kubeadm does: sha256 of the DER SubjectPublicKeyInfo, as openssl computes it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pin-'));
    try {
      writeFileSync(join(dir, 'ca.crt'), caPem);
      // kubeadm's documented way to compute --discovery-token-ca-cert-hash.
      const der = execFileSync('sh', ['-c', `openssl x509 -pubkey -noout -in ${dir}/ca.crt | openssl pkey -pubin -outform der`]);
      assert.equal(caCertHash(caPem), `sha256:${createHash('sha256').update(der).digest('hex')}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    assert.notEqual(caCertHash(caPem), caCertHash(otherCaPem), 'two CAs with one name have different pins');
  });

  it('takes the CA from cluster-info when the pin matches', async () => {
    const got = await discoverClusterCA(api.url, caCertHash(caPem));
    assert.equal(new X509Certificate(got).fingerprint256, new X509Certificate(caPem).fingerprint256);
  });

  it('refuses a CA whose pin does not match, naming both', async () => {
    const pin = caCertHash(otherCaPem);
    await assert.rejects(discoverClusterCA(api.url, pin), (err: Error) =>
      err.message.includes(caCertHash(caPem)) && err.message.includes(pin) && /refusing to trust/.test(err.message));
  });

  it('refuses a pin that is not sha256:<64 hex digits>', async () => {
    await assert.rejects(discoverClusterCA(api.url, 'abc'), /is not sha256:<64 hex digits>/);
  });

  it('needs the pin and the token on a first join, and says where they come from', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'join-'));
    try {
      await assert.rejects(joinCluster({ server: api.url, nodeName: 'n2', dataDir, log: () => {} }), /--discovery-token-ca-cert-hash is needed/);
      // The pin is enough for discovery; the client certificate then needs the token.
      await assert.rejects(joinCluster({ server: api.url, nodeName: 'n2', dataDir, caCertHash: caCertHash(caPem), log: () => {} }), /--token is needed/);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
