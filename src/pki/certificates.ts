// Certificate primitives: ECDSA P-256 keys, a self-signed CA and leaves signed by it, all as PEM.
// Generation uses @peculiar/x509 over Node's webcrypto; inspection uses node:crypto's
// X509Certificate, which is synchronous and is what the TLS stack itself will trust.
import 'reflect-metadata'; // @peculiar/x509 relies on it being loaded first
import * as x509 from '@peculiar/x509';
import { X509Certificate, createPrivateKey, randomBytes, webcrypto } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { isIP } from 'node:net';

type CryptoKey = webcrypto.CryptoKey;

const crypto = webcrypto;
const EC_KEY = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING = { name: 'ECDSA', hash: 'SHA-256' } as const;
const DAY_MS = 24 * 60 * 60 * 1000;
/** Certificates start this far in the past so a client whose clock is a little behind accepts them. */
const BACKDATE_MS = 5 * 60 * 1000;

export const CA_VALIDITY_DAYS = 3650;
export const LEAF_VALIDITY_DAYS = 365;
/** A certificate this close to its end is treated as expired and issued again. */
export const RENEW_BEFORE_DAYS = 30;

/** A certificate and its private key (PKCS#8), both PEM. */
export interface CertKeyPem {
  readonly certPem: string;
  readonly keyPem: string;
}

/** A CA ready to sign: its PEM pair plus the parsed forms the generator needs. */
export interface CertificateAuthority extends CertKeyPem {
  readonly cert: x509.X509Certificate;
  readonly signingKey: CryptoKey;
}

/** Subject alternative names of a serving certificate. */
export interface HostNames {
  readonly ips: readonly string[];
  readonly dnsNames: readonly string[];
}

export interface LeafRequest {
  readonly commonName: string;
  /** Subject O values; Kubernetes reads them as the user's groups on a client certificate. */
  readonly organizations?: readonly string[];
  readonly usage: 'server' | 'client';
  /** Only for `usage: 'server'`. */
  readonly hosts?: HostNames;
  readonly now: Date;
  readonly validityDays?: number;
}

/** Creates a self-signed CA (10 years unless told otherwise). */
export async function createCertificateAuthority(opts: { commonName: string; now: Date; validityDays?: number }): Promise<CertificateAuthority> {
  const keys = await crypto.subtle.generateKey(EC_KEY, true, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: randomSerial(),
      name: [{ CN: [opts.commonName] }],
      notBefore: new Date(opts.now.getTime() - BACKDATE_MS),
      notAfter: new Date(opts.now.getTime() + (opts.validityDays ?? CA_VALIDITY_DAYS) * DAY_MS),
      keys,
      signingAlgorithm: SIGNING,
      extensions: [
        new x509.BasicConstraintsExtension(true, undefined, true),
        new x509.KeyUsagesExtension(
          x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature,
          true,
        ),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
      ],
    },
    crypto,
  );
  return { cert, signingKey: keys.privateKey, certPem: cert.toString('pem') + '\n', keyPem: await exportKeyPem(keys.privateKey) };
}

/**
 * Parses a CA from PEM. Throws when either part does not parse, the key does not belong to the
 * certificate, or the certificate is not a CA.
 */
export async function loadCertificateAuthority(certPem: string, keyPem: string): Promise<CertificateAuthority> {
  const nodeCert = new X509Certificate(certPem);
  const key = createPrivateKey(keyPem);
  if (!nodeCert.ca) throw new Error('certificate is not a CA');
  if (!nodeCert.checkPrivateKey(key)) throw new Error('CA key does not match the CA certificate');
  const signingKey = await key.toCryptoKey(EC_KEY, false, ['sign']);
  return { cert: new x509.X509Certificate(certPem), signingKey, certPem, keyPem };
}

/** Issues a leaf certificate with a fresh key, signed by `ca` (1 year unless told otherwise). */
export async function issueCertificate(ca: CertificateAuthority, req: LeafRequest): Promise<CertKeyPem> {
  const keys = await crypto.subtle.generateKey(EC_KEY, true, ['sign', 'verify']);
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension([req.usage === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth]),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
  ];
  const caKeyId = ca.cert.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId;
  if (caKeyId) extensions.push(new x509.AuthorityKeyIdentifierExtension(caKeyId));
  if (req.hosts) {
    const names = [
      ...req.hosts.dnsNames.map((value) => ({ type: 'dns' as const, value })),
      ...req.hosts.ips.map((value) => ({ type: 'ip' as const, value })),
    ];
    if (names.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(names));
  }
  const subject: x509.JsonName = [{ CN: [req.commonName] }];
  for (const o of req.organizations ?? []) subject.push({ O: [o] });
  const notAfter = new Date(req.now.getTime() + (req.validityDays ?? LEAF_VALIDITY_DAYS) * DAY_MS);
  const cert = await x509.X509CertificateGenerator.create(
    {
      serialNumber: randomSerial(),
      subject,
      // The issuer must be byte-identical to the CA's subject: Go and OpenSSL find the parent by it.
      issuer: ca.cert.subjectName,
      notBefore: new Date(req.now.getTime() - BACKDATE_MS),
      notAfter: notAfter < ca.cert.notAfter ? notAfter : ca.cert.notAfter,
      publicKey: keys.publicKey,
      signingKey: ca.signingKey,
      signingAlgorithm: SIGNING,
      extensions,
    },
    crypto,
  );
  return { certPem: cert.toString('pem') + '\n', keyPem: await exportKeyPem(keys.privateKey) };
}

/**
 * Why a certificate must be issued again, or '' when it can be kept: 'unreadable', 'key-mismatch',
 * 'not-signed-by-ca', 'not-yet-valid', 'expiring' (expired or within 30 days of it),
 * 'hosts-not-covered'. `ca` is omitted when checking the CA itself.
 */
export function reasonToReissue(
  pair: CertKeyPem,
  opts: { now: Date; ca?: X509Certificate; hosts?: HostNames },
): '' | 'unreadable' | 'key-mismatch' | 'not-signed-by-ca' | 'not-yet-valid' | 'expiring' | 'hosts-not-covered' {
  let cert: X509Certificate;
  let key: KeyObject;
  try {
    cert = new X509Certificate(pair.certPem);
    key = createPrivateKey(pair.keyPem);
  } catch {
    return 'unreadable';
  }
  if (!cert.checkPrivateKey(key)) return 'key-mismatch';
  if (opts.ca && !(cert.checkIssued(opts.ca) && cert.verify(opts.ca.publicKey))) return 'not-signed-by-ca';
  const now = opts.now.getTime();
  if (now < cert.validFromDate.getTime()) return 'not-yet-valid';
  if (cert.validToDate.getTime() - now < RENEW_BEFORE_DAYS * DAY_MS) return 'expiring';
  if (opts.hosts && !coversHosts(cert, opts.hosts)) return 'hosts-not-covered';
  return '';
}

/** True when every requested IP and DNS name is among the certificate's SANs (the CN is ignored, as Go does). */
export function coversHosts(cert: X509Certificate, hosts: HostNames): boolean {
  const opts = { subject: 'never', wildcards: false } as const;
  return hosts.ips.every((ip) => cert.checkIP(ip) !== undefined) && hosts.dnsNames.every((name) => cert.checkHost(name, opts) !== undefined);
}

/** SHA-256 fingerprint of a PEM certificate, colon-separated upper-case hex (as `openssl x509 -fingerprint -sha256`). */
export function fingerprint(certPem: string): string {
  return new X509Certificate(certPem).fingerprint256;
}

/**
 * Canonical text of an IP address (IPv6 compressed, lower case) so that two spellings of one
 * address compare equal. Throws TypeError for anything that is not an IP address.
 */
export function canonicalIp(ip: string): string {
  const family = isIP(ip);
  if (family === 4) return ip;
  if (family === 6) return new URL(`http://[${ip}]/`).hostname.slice(1, -1);
  throw new TypeError(`not an IP address: ${JSON.stringify(ip)}`);
}

async function exportKeyPem(key: CryptoKey): Promise<string> {
  const der = await crypto.subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY') + '\n';
}

/** 128 random bits, top bit clear so the DER INTEGER stays positive (RFC 5280 §4.1.2.2). */
function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] ?? 0) & 0x7f | 0x01;
  return bytes.toString('hex');
}
