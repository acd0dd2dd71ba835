import { X509Certificate } from 'node:crypto';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createCertificateAuthority } from './certificates.ts';
import { createCertificateRequest, DEFAULT_CLUSTER_SIGNING_DURATION_MS, parseCertificateRequest, signCertificateRequest, signingDurationMs } from './csr.ts';

const now = new Date('2026-06-01T00:00:00Z');

describe('createCertificateRequest / parseCertificateRequest', () => {
  it('round-trips subject and SANs, and the signature checks', async () => {
    const { csrPem, keyPem } = await createCertificateRequest({ commonName: 'system:node:n1', organizations: ['system:nodes'], dnsNames: ['n1'], ips: ['10.0.0.5', '2001:db8::0:1'], usage: 'server' });
    assert.match(csrPem, /^-----BEGIN CERTIFICATE REQUEST-----\n/);
    assert.match(keyPem, /^-----BEGIN PRIVATE KEY-----\n/);
    const p = parseCertificateRequest(csrPem);
    assert.equal(p.commonName, 'system:node:n1');
    assert.deepEqual(p.organizations, ['system:nodes']);
    assert.deepEqual(p.dnsNames, ['n1']);
    assert.deepEqual(p.ips, ['10.0.0.5', '2001:db8::1']);
    assert.equal(p.publicKeyAlgorithm, 'EC');
  });

  for (const [name, pem, want] of [
    ['not PEM', 'hello', /PEM block type must be CERTIFICATE REQUEST/],
    ['another PEM type', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n', /PEM block type must be CERTIFICATE REQUEST/],
    ['garbage DER', '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n', /malformed certificate request/],
  ] as const) {
    it(`refuses ${name}`, () => assert.throws(() => parseCertificateRequest(pem), want));
  }

  it('refuses a request whose signature does not hold', async () => {
    const { csrPem } = await createCertificateRequest({ commonName: 'x' });
    const b64 = csrPem.split('\n').filter((l) => l && !l.startsWith('-----')).join('');
    const der = Buffer.from(b64, 'base64');
    der[der.length - 5] = der[der.length - 5]! ^ 0xff; // inside the signature
    const broken = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
    assert.throws(() => parseCertificateRequest(broken), /verification|signature|malformed/);
  });
});

describe('signingDurationMs (kube signer duration())', () => {
  const year = DEFAULT_CLUSTER_SIGNING_DURATION_MS;
  for (const [exp, want] of [[undefined, year], [3600, 3600_000], [600, 600_000], [100, 600_000], [10 * 365 * 86400, year]] as const) {
    it(`${exp} s → ${want} ms`, () => assert.equal(signingDurationMs(exp), want));
  }
});

describe('signCertificateRequest', () => {
  it('keeps subject and SANs, sets usages from spec.usages, and is signed by the CA', async () => {
    const ca = await createCertificateAuthority({ commonName: 'podgate-ca', now });
    const { csrPem } = await createCertificateRequest({ commonName: 'system:node:n1', organizations: ['system:nodes'], dnsNames: ['n1'], ips: ['10.0.0.5'] });
    const pem = await signCertificateRequest(ca, csrPem, { usages: ['digital signature', 'key encipherment', 'server auth'], expirationSeconds: 7200, now });
    const cert = new X509Certificate(pem);
    assert.ok(cert.verify(new X509Certificate(ca.certPem).publicKey));
    assert.match(cert.subject, /CN=system:node:n1/);
    assert.match(cert.subject, /O=system:nodes/);
    assert.equal(cert.subjectAltName, 'DNS:n1, IP Address:10.0.0.5');
    assert.deepEqual(cert.keyUsage, ['1.3.6.1.5.5.7.3.1']);
    assert.equal(cert.ca, false);
    assert.equal(cert.validFromDate.getTime(), now.getTime() - 5 * 60_000);
    assert.equal(cert.validToDate.getTime(), now.getTime() + 7200_000); // short: counted from now
  });

  it('client certificates: client auth, a year at most, never past the CA', async () => {
    const ca = await createCertificateAuthority({ commonName: 'podgate-ca', now, validityDays: 100 });
    const { csrPem } = await createCertificateRequest({ commonName: 'system:node:n1', organizations: ['system:nodes'] });
    const pem = await signCertificateRequest({ certPem: ca.certPem, keyPem: ca.keyPem }, csrPem, { usages: ['digital signature', 'client auth'], now });
    const cert = new X509Certificate(pem);
    assert.deepEqual(cert.keyUsage, ['1.3.6.1.5.5.7.3.2']);
    assert.equal(cert.subjectAltName, undefined);
    assert.equal(cert.validToDate.getTime(), new X509Certificate(ca.certPem).validToDate.getTime());
  });

  it('refuses an unknown usage', async () => {
    const ca = await createCertificateAuthority({ commonName: 'podgate-ca', now });
    const { csrPem } = await createCertificateRequest({ commonName: 'x' });
    await assert.rejects(signCertificateRequest(ca, csrPem, { usages: ['bogus'], now }), /unrecognized usage: bogus/);
  });
});
