// The controllers against the in-process API server, with requesters told apart by token: a
// bootstrap token's node client CSR is approved and issued, the node's serving CSR too when its
// names and addresses are the Node's, others stay pending until someone approves them.
import { X509Certificate } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { CertificateSigningRequest } from 'kubernetes-types/certificates/v1.d.ts';
import type { KObject } from '../../api/object.ts';
import { resources } from '../../api/resources.ts';
import { startInProcessApiServer, type InProcessApiServer } from '../../apiserver/in-process.ts';
import { KubeClient } from '../../client/rest-client.ts';
import { createCertificateAuthority, type CertificateAuthority } from '../../pki/certificates.ts';
import { createCertificateRequest, usagesFor, type CertificateRequestOptions } from '../../pki/csr.ts';
import { CertificateController } from './index.ts';

const csrInfo = resources.find((r) => r.resource === 'certificatesigningrequests')!;
const nodesInfo = resources.find((r) => r.resource === 'nodes')!;

const users: Record<string, { user: string; groups: string[] }> = {
  admin: { user: 'kubernetes-admin', groups: ['system:masters', 'system:authenticated'] },
  bootstrap: { user: 'system:bootstrap:abcdef', groups: ['system:bootstrappers', 'system:bootstrappers:kubeadm:default-node-token', 'system:authenticated'] },
  n1: { user: 'system:node:n1', groups: ['system:nodes', 'system:authenticated'] },
  alice: { user: 'alice', groups: ['system:authenticated'] },
};
const tokenAuthenticator = {
  authenticate(req: { headers: Record<string, string | string[] | undefined> }) {
    const m = /^Bearer (.+)$/.exec(String(req.headers.authorization ?? ''));
    return m ? users[m[1]!] : undefined;
  },
};

describe('CertificateController', () => {
  let api: InProcessApiServer;
  let ca: CertificateAuthority;
  let servingCa: CertificateAuthority;
  let controller: CertificateController;
  const clients: Record<string, KubeClient> = {};
  const logs: string[] = [];

  before(async () => {
    api = await startInProcessApiServer({ authenticator: tokenAuthenticator, token: 'admin' });
    for (const t of Object.keys(users)) clients[t] = new KubeClient({ server: api.url, token: t });
    ca = await createCertificateAuthority({ commonName: 'podgate-ca', now: new Date() });
    servingCa = await createCertificateAuthority({ commonName: 'podgate-kubelet-serving-ca', now: new Date() });
    controller = new CertificateController({
      client: api.client, ca: { certPem: ca.certPem, keyPem: ca.keyPem }, log: (m) => logs.push(m),
      kubeletServingCa: { certPem: servingCa.certPem, keyPem: servingCa.keyPem },
    });
    await controller.start();
  });
  after(async () => {
    await controller.stop();
    for (const c of Object.values(clients)) c.close();
    await api.stop();
  });

  async function submit(as: string, name: string, signerName: string, o: CertificateRequestOptions, usages = usagesFor(o.usage ?? 'client')): Promise<string> {
    const { csrPem } = await createCertificateRequest(o);
    await clients[as]!.create(csrInfo, undefined, {
      apiVersion: 'certificates.k8s.io/v1', kind: 'CertificateSigningRequest', metadata: { name },
      spec: { request: Buffer.from(csrPem).toString('base64'), signerName, usages, username: 'forged', groups: ['system:masters'] },
    } as unknown as KObject);
    return csrPem;
  }
  const get = async (name: string) => await api.client.get(csrInfo, undefined, name) as unknown as CertificateSigningRequest;
  async function until(name: string, ok: (c: CertificateSigningRequest) => boolean): Promise<CertificateSigningRequest> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const c = await get(name);
      if (ok(c)) return c;
      if (Date.now() > deadline) assert.fail(`csr ${name} never got there: ${JSON.stringify(c.status)}\n${logs.join('\n')}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  const issued = (c: CertificateSigningRequest) => Boolean(c.status?.certificate);
  const certOf = (c: CertificateSigningRequest) => new X509Certificate(Buffer.from(c.status!.certificate!, 'base64'));

  it('approves and signs a bootstrap token\'s node client CSR; the requester is the token\'s user', async () => {
    await submit('bootstrap', 'node-csr-1', 'kubernetes.io/kube-apiserver-client-kubelet', { commonName: 'system:node:n1', organizations: ['system:nodes'], usage: 'client' });
    const c = await until('node-csr-1', issued);
    assert.equal(c.spec.username, 'system:bootstrap:abcdef');
    assert.deepEqual(c.spec.groups, users.bootstrap!.groups);
    const approved = c.status!.conditions!.find((x) => x.type === 'Approved')!;
    assert.equal(approved.reason, 'AutoApproved');
    assert.equal(approved.message, 'Auto approving kubelet client certificate after SubjectAccessReview.');
    assert.ok(approved.lastUpdateTime && approved.lastTransitionTime);
    const cert = certOf(c);
    assert.ok(cert.checkIssued(new X509Certificate(ca.certPem)));
    assert.match(cert.subject, /CN=system:node:n1/);
    assert.deepEqual(cert.keyUsage, ['1.3.6.1.5.5.7.3.2']);
  });

  it('approves the node renewing its own client certificate', async () => {
    await submit('n1', 'csr-renew', 'kubernetes.io/kube-apiserver-client-kubelet', { commonName: 'system:node:n1', organizations: ['system:nodes'], usage: 'client' });
    const c = await until('csr-renew', issued);
    assert.equal(c.status!.conditions!.find((x) => x.type === 'Approved')!.message, 'Auto approving self kubelet client certificate after SubjectAccessReview.');
  });

  it('approves and signs the node\'s serving CSR for its name and addresses, once the Node shows them', async () => {
    await submit('n1', 'csr-serving', 'kubernetes.io/kubelet-serving', { commonName: 'system:node:n1', organizations: ['system:nodes'], dnsNames: ['n1'], ips: ['10.0.0.5'], usage: 'server' });
    await new Promise((r) => setTimeout(r, 200));
    assert.equal((await get('csr-serving')).status?.conditions, undefined, 'pending while the Node does not exist');
    await api.client.create(nodesInfo, undefined, { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1' }, status: { addresses: [{ type: 'InternalIP', address: '10.0.0.5' }] } } as KObject);
    const c = await until('csr-serving', issued);
    const cert = certOf(c);
    assert.equal(cert.subjectAltName, 'DNS:n1, IP Address:10.0.0.5');
    assert.deepEqual(cert.keyUsage, ['1.3.6.1.5.5.7.3.1']);
    // Signed by the kubelet-serving CA, which clients do not trust as the API server's.
    assert.ok(cert.checkIssued(new X509Certificate(servingCa.certPem)) && cert.verify(new X509Certificate(servingCa.certPem).publicKey));
    assert.ok(!cert.checkIssued(new X509Certificate(ca.certPem)));
  });

  it('kube-apiserver-client: signed for a CSR system:masters created, left unsigned (and said) for one a bootstrap token created', async () => {
    await submit('bootstrap', 'csr-escalate', 'kubernetes.io/kube-apiserver-client', { commonName: 'evil', organizations: ['system:masters'], usage: 'client' });
    await submit('admin', 'csr-admin-client', 'kubernetes.io/kube-apiserver-client', { commonName: 'jane', organizations: ['devs'], usage: 'client' });
    for (const name of ['csr-escalate', 'csr-admin-client']) {
      const pending = await get(name);
      pending.status = { conditions: [{ type: 'Approved', status: 'True', reason: 'KubectlApprove', message: 'ok' }] };
      await api.client.update(csrInfo, pending as unknown as KObject, 'approval');
    }
    const c = await until('csr-admin-client', issued);
    assert.ok(certOf(c).checkIssued(new X509Certificate(ca.certPem)));
    await new Promise((r) => setTimeout(r, 200));
    await controller.idle();
    const evil = await get('csr-escalate');
    assert.equal(evil.status?.certificate, undefined);
    assert.ok(!(evil.status?.conditions ?? []).some((k) => k.type === 'Failed'));
    assert.ok(logs.some((l) => l === 'certificates: csr csr-escalate (kubernetes.io/kube-apiserver-client) left unsigned: requester "system:bootstrap:abcdef" is not in group system:masters, which alone may have kubernetes.io/kube-apiserver-client certificates signed'), logs.join('\n'));
  });

  it('leaves pending a serving CSR from a node named kubernetes for the API server\'s addresses', async () => {
    const kubeUser = { user: 'system:node:kubernetes', groups: ['system:nodes', 'system:authenticated'] };
    users.kube = kubeUser;
    clients.kube = new KubeClient({ server: api.url, token: 'kube' });
    await api.client.create(nodesInfo, undefined, { apiVersion: 'v1', kind: 'Node', metadata: { name: 'kubernetes' },
      status: { addresses: [{ type: 'InternalIP', address: '10.96.0.1' }, { type: 'InternalIP', address: '127.0.0.1' }] } } as KObject);
    await submit('kube', 'csr-kube', 'kubernetes.io/kubelet-serving', { commonName: 'system:node:kubernetes', organizations: ['system:nodes'], dnsNames: ['kubernetes'], ips: ['10.96.0.1', '127.0.0.1'], usage: 'server' });
    await new Promise((r) => setTimeout(r, 300));
    await controller.idle();
    assert.equal((await get('csr-kube')).status?.conditions, undefined);
    assert.ok(logs.some((l) => /csr-kube .*left pending: node name "kubernetes" is one of the API server's names/.test(l)), logs.join('\n'));
  });

  it('leaves a serving CSR for another address pending', async () => {
    await submit('n1', 'csr-serving-bad', 'kubernetes.io/kubelet-serving', { commonName: 'system:node:n1', organizations: ['system:nodes'], dnsNames: ['n1'], ips: ['10.9.9.9'], usage: 'server' });
    await new Promise((r) => setTimeout(r, 300));
    await controller.idle();
    assert.equal((await get('csr-serving-bad')).status?.conditions, undefined);
    assert.ok(logs.some((l) => /csr-serving-bad .*left pending: IP addresses \[10.9.9.9\]/.test(l)), logs.join('\n'));
  });

  it('leaves a user\'s node client CSR pending; once an admin approves it, it is signed', async () => {
    await submit('alice', 'csr-alice', 'kubernetes.io/kube-apiserver-client-kubelet', { commonName: 'system:node:n9', organizations: ['system:nodes'], usage: 'client' });
    await new Promise((r) => setTimeout(r, 200));
    const pending = await get('csr-alice');
    assert.equal(pending.status?.conditions, undefined);
    pending.status = { conditions: [{ type: 'Approved', status: 'True', reason: 'KubectlApprove', message: 'This CSR was approved by kubectl certificate approve.' }] };
    await api.client.update(csrInfo, pending as unknown as KObject, 'approval');
    const c = await until('csr-alice', issued);
    assert.equal(c.spec.username, 'alice');
  });

  it('an approved CSR the signer refuses gets Failed SignerValidationFailure', async () => {
    await submit('alice', 'csr-bad', 'kubernetes.io/kube-apiserver-client-kubelet', { commonName: 'alice', organizations: ['devs'], usage: 'client' });
    const pending = await get('csr-bad');
    pending.status = { conditions: [{ type: 'Approved', status: 'True', reason: 'KubectlApprove', message: 'ok' }] };
    await api.client.update(csrInfo, pending as unknown as KObject, 'approval');
    const c = await until('csr-bad', (x) => (x.status?.conditions ?? []).some((k) => k.type === 'Failed'));
    const failed = c.status!.conditions!.find((k) => k.type === 'Failed')!;
    assert.equal(failed.reason, 'SignerValidationFailure');
    assert.equal(failed.message, 'subject organization is not system:nodes');
    assert.equal(c.status?.certificate, undefined);
  });

  it('a denied CSR is never signed', async () => {
    await submit('alice', 'csr-denied', 'kubernetes.io/kube-apiserver-client', { commonName: 'alice', usage: 'client' });
    const pending = await get('csr-denied');
    pending.status = { conditions: [{ type: 'Denied', status: 'True', reason: 'KubectlDeny', message: 'no' }] };
    await api.client.update(csrInfo, pending as unknown as KObject, 'approval');
    await new Promise((r) => setTimeout(r, 200));
    await controller.idle();
    assert.equal((await get('csr-denied')).status?.certificate, undefined);
  });
});
