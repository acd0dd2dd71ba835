import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { X509Certificate, webcrypto } from 'node:crypto';
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

  it('a request asking for CA:true and keyCertSign gets CA false and only spec.usages', async () => {
    const ca = await createCertificateAuthority({ commonName: 'podgate-ca', now });
    const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
    const keys = await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify']);
    const req = await x509.Pkcs10CertificateRequestGenerator.create({
      name: 'CN=evil-ca, O=system:masters', keys, signingAlgorithm: alg,
      extensions: [
        new x509.BasicConstraintsExtension(true, 3, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension(['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']),
      ],
    }, webcrypto);
    const csrPem = req.toString('pem') + '\n';
    // The request really asks for it.
    assert.equal(new x509.BasicConstraintsExtension(req.getExtension('2.5.29.19')!.rawData).ca, true);
    const pem = await signCertificateRequest(ca, csrPem, { usages: ['digital signature', 'client auth'], now });
    const cert = new X509Certificate(pem);
    assert.equal(cert.ca, false);
    assert.deepEqual(cert.keyUsage, ['1.3.6.1.5.5.7.3.2']);
    const parsed = new x509.X509Certificate(pem);
    const bc = parsed.getExtensions(x509.BasicConstraintsExtension);
    assert.equal(bc.length, 1);
    assert.equal(bc[0]!.ca, false);
    assert.equal(bc[0]!.pathLength, undefined);
    const ku = parsed.getExtensions(x509.KeyUsagesExtension);
    assert.equal(ku.length, 1);
    assert.equal(ku[0]!.usages, x509.KeyUsageFlags.digitalSignature, 'no keyCertSign, no cRLSign');
    assert.equal(parsed.getExtensions(x509.ExtendedKeyUsageExtension).length, 1);
    // Nothing else of the request's extensions is carried over.
    assert.deepEqual([...parsed.extensions].map((e) => e.type).filter((t) => t !== '2.5.29.35').sort(), ['2.5.29.15', '2.5.29.19', '2.5.29.37']);
  });

  it('refuses an unknown usage', async () => {
    const ca = await createCertificateAuthority({ commonName: 'podgate-ca', now });
    const { csrPem } = await createCertificateRequest({ commonName: 'x' });
    await assert.rejects(signCertificateRequest(ca, csrPem, { usages: ['bogus'], now }), /unrecognized usage: bogus/);
  });
});
