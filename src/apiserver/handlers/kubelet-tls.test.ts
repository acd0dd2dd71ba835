// The API server's connections to kubelets (logs, exec, attach, port-forward, the node proxy):
// a kubelet is trusted when the kubelet-serving CA signed its certificate and the certificate
// names the address its Node reports; a certificate from the cluster CA (the API server's own
// kind) or one naming another node fails.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { createCertificateAuthority, issueCertificate, type CertificateAuthority } from '../../pki/certificates.ts';
import { kubeletTlsOptions, type KubeletClientConfig } from './kubelet-proxy.ts';

describe('kubeletTlsOptions', () => {
  const now = new Date();
  let clusterCa: CertificateAuthority;
  let kubeletCa: CertificateAuthority;
  let client: KubeletClientConfig;
  const servers: tls.Server[] = [];

  before(async () => {
    clusterCa = await createCertificateAuthority({ commonName: 'podgate-ca', now });
    kubeletCa = await createCertificateAuthority({ commonName: 'podgate-kubelet-serving-ca', now });
    const admin = await issueCertificate(clusterCa, { commonName: 'podgate-admin', organizations: ['system:masters'], usage: 'client', now });
    client = { ca: kubeletCa.certPem, cert: admin.certPem, key: admin.keyPem };
  });
  after(() => { for (const s of servers) s.close(); });

  /** A kubelet-like endpoint on 127.0.0.1 serving `ips` from `ca`, asking for the cluster CA's client certificates. */
  const kubelet = async (ca: CertificateAuthority, ips: string[]): Promise<number> => {
    const serving = await issueCertificate(ca, { commonName: 'n1', usage: 'server', hosts: { ips, dnsNames: ['n1'] }, now });
    const server = tls.createServer({ cert: serving.certPem, key: serving.keyPem, ca: clusterCa.certPem, requestCert: true, rejectUnauthorized: true }, (s) => s.end('ok'));
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return (server.address() as AddressInfo).port;
  };
  const dial = (port: number) => new Promise<string>((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', port, ...kubeletTlsOptions('127.0.0.1', client) });
    s.once('secureConnect', () => { s.destroy(); resolve('ok'); });
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });

  it('trusts a kubelet certificate from the kubelet-serving CA naming the node address', async () => {
    assert.equal(await dial(await kubelet(kubeletCa, ['127.0.0.1'])), 'ok');
  });

  it('refuses one naming another address (another node\'s certificate)', async () => {
    assert.equal(await dial(await kubelet(kubeletCa, ['192.0.2.99'])), 'ERR_TLS_CERT_ALTNAME_INVALID');
  });

  it('refuses one from the cluster CA: only the kubelet-serving CA vouches for kubelets', async () => {
    // Either code means the chain does not lead to the kubelet-serving CA.
    assert.match(await dial(await kubelet(clusterCa, ['127.0.0.1'])), /^(UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN)$/);
  });
});
