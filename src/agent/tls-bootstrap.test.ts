// Discovery as `kubeadm join` does it: the CA from kube-public/cluster-info, trusted only when its
// public key matches the pin; and the pin's format (kubeadm's pubkeypin: SHA-256 of the DER
// SubjectPublicKeyInfo).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startInProcessApiServer, type InProcessApiServer } from '../apiserver/in-process.ts';
import { lookupResource } from '../api/resources.ts';
import type { KObject } from '../api/object.ts';
import { createCertificateAuthority, type CertificateAuthority } from '../pki/certificates.ts';
import { caCertHash, clusterInfoKubeconfig } from '../pki/cluster-info.ts';
import { discoverClusterCA, joinCluster, requestCertificate } from './tls-bootstrap.ts';
import { createCertificateRequest, signCertificateRequest } from '../pki/csr.ts';

describe('TLS bootstrap: discovery', () => {
  let api: InProcessApiServer;
  let caPem: string;
  let otherCaPem: string;
  let ca: CertificateAuthority;
  before(async () => {
    api = await startInProcessApiServer();
    const now = new Date();
    ca = await createCertificateAuthority({ commonName: 'podgate-ca@1', now });
    caPem = ca.certPem;
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

  it('asks again after a restart by waiting for the first request (named after its key), not by making another', async () => {
    const csrs = lookupResource('certificates.k8s.io', 'v1', 'certificatesigningrequests')!;
    const dir = mkdtempSync(join(tmpdir(), 'csr-'));
    const keyFile = join(dir, 'kubelet-client.key.tmp');
    const want = { signerName: 'kubernetes.io/kube-apiserver-client-kubelet', nodeName: 'n3' } as const;
    const ours = async () => (await api.client.list(csrs)).items.filter((c) => (c.spec as { request: string }).request && c.metadata.name!.startsWith('node-csr-'));
    try {
      // Nobody approves it: the agent gives up (and is started again).
      await assert.rejects(requestCertificate(api.client, want, { keyFile, timeoutMs: 200, pollMs: 20 }), /was not issued in time \(not approved\)/);
      assert.equal((await ours()).length, 1);
      const again = requestCertificate(api.client, want, { keyFile, timeoutMs: 20_000, pollMs: 20 });
      // An administrator approves the first request, and the signer signs it.
      const [csr] = await ours();
      const name = csr!.metadata.name!;
      await api.client.update(csrs, { ...csr!, status: { conditions: [{ type: 'Approved', status: 'True', reason: 'Test', message: 'approved by the test' }] } } as unknown as KObject, 'approval');
      const approved = await api.client.get(csrs, undefined, name);
      const certPem = await signCertificateRequest(ca, Buffer.from((csr!.spec as { request: string }).request, 'base64').toString('utf8'), { usages: ['digital signature', 'client auth'] });
      await api.client.update(csrs, { ...approved, status: { ...(approved.status as object), certificate: Buffer.from(certPem).toString('base64') } } as unknown as KObject, 'status');
      const got = await again;
      assert.equal(got.certPem, certPem);
      assert.equal(got.keyPem, readFileSync(keyFile, 'utf8'), 'the key the first request was made for');
      assert.equal((await ours()).length, 1, 'still one request');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('makes a new key when the one in the key file is already the kept certificate\'s (a crash before the file was removed)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'csr-'));
    const keyFile = join(dir, 'kubelet.key.tmp');
    try {
      const { keyPem: used } = await createCertificateRequest({ commonName: 'system:node:n4' });
      writeFileSync(keyFile, used);
      const want = { signerName: 'kubernetes.io/kubelet-serving', nodeName: 'n4', dnsNames: ['n4'], ips: ['192.0.2.4'] } as const;
      await assert.rejects(requestCertificate(api.client, want, { keyFile, usedKey: used, timeoutMs: 100, pollMs: 20 }), /not issued in time/);
      assert.notEqual(readFileSync(keyFile, 'utf8'), used, 'a fresh key was made and kept');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('says what is wrong with a bootstrap token: its form (as kubeadm words it), or that the API server refused it', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'join-'));
    const admin = '0123456789abcdef0123456789abcdef';
    const guarded = await startInProcessApiServer({
      token: admin,
      authenticator: { authenticate: (req) => (req.headers.authorization === `Bearer ${admin}` ? { user: 'admin', groups: ['system:masters'] } : undefined) },
    });
    try {
      await guarded.client.create(lookupResource('', 'v1', 'configmaps')!, 'kube-public', {
        apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cluster-info', namespace: 'kube-public' },
        data: { kubeconfig: clusterInfoKubeconfig(guarded.url, caPem) },
      } as unknown as KObject);
      const join = (token: string) => joinCluster({ server: guarded.url, nodeName: 'n5', dataDir, token, caCertHash: caCertHash(caPem), log: () => {} });
      await assert.rejects(join('hello'), /the bootstrap token "hello" was not of the form "\^\(\[a-z0-9\]\{6\}\)/);
      await assert.rejects(join('abcdef.0123456789abcdef'), /refused the bootstrap token abcdef\.… \(401 Unauthorized\)/);
    } finally {
      await guarded.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

