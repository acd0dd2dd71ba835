// PKCS#10 certificate signing requests: parsing and checking one (what kube-apiserver's CSR
// validation and kube-controller-manager's signer read from it), creating one (the joining
// agent's side of TLS bootstrap) and signing one with the cluster CA as kube's csrsigning
// controller does (pkg/controller/certificates/signer and authority): the subject, public key
// and SANs come from the request; key usages, validity and basic constraints from the signer.
import 'reflect-metadata'; // @peculiar/x509 relies on it being loaded first
import * as x509 from '@peculiar/x509';
import { createPublicKey, randomBytes, verify, webcrypto } from 'node:crypto';
import { canonicalIp, loadCertificateAuthority, type CertificateAuthority } from './certificates.ts';

const crypto = webcrypto;
const EC_KEY = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING = { name: 'ECDSA', hash: 'SHA-256' } as const;
const SUBJECT_ALT_NAME_OID = '2.5.29.17';

/** kube's --cluster-signing-duration default (8760h): the longest certificate the signer issues. */
export const DEFAULT_CLUSTER_SIGNING_DURATION_MS = 365 * 24 * 60 * 60 * 1000;
/** The signer backdates NotBefore by this much (authority.go Backdate) for clients whose clock is behind. */
const BACKDATE_MS = 5 * 60 * 1000;
/** Below this duration NotAfter is counted from now rather than from the backdated NotBefore (authority.go Short). */
const SHORT_MS = 8 * 60 * 60 * 1000;
/** The signer's lower bound on a requested duration (signer.go duration: twice the backdate). */
const MIN_DURATION_MS = 10 * 60 * 1000;

/** What the API and the controllers read from a CSR (Go's x509.CertificateRequest fields). */
export interface ParsedCertificateRequest {
  readonly commonName: string;
  /** Subject O values, in order. */
  readonly organizations: readonly string[];
  readonly dnsNames: readonly string[];
  /** Canonical text (IPv6 compressed). */
  readonly ips: readonly string[];
  readonly emailAddresses: readonly string[];
  readonly uris: readonly string[];
  /** 'EC', 'RSA', 'Ed25519'… (the public key's algorithm family). */
  readonly publicKeyAlgorithm: string;
  /** The parsed request, for signing. */
  readonly request: x509.Pkcs10CertificateRequest;
}

/** The key usages a CSR may ask for (certificates.k8s.io/v1 KeyUsage), in kube's order. */
export const KEY_USAGES = [
  'signing', 'digital signature', 'content commitment', 'key encipherment', 'key agreement', 'data encipherment',
  'cert sign', 'crl sign', 'encipher only', 'decipher only', 'any', 'server auth', 'client auth', 'code signing',
  'email protection', 's/mime', 'ipsec end system', 'ipsec tunnel', 'ipsec user', 'timestamping', 'ocsp signing',
  'microsoft sgc', 'netscape sgc',
] as const;

const keyUsageBits: Readonly<Record<string, number>> = {
  'signing': x509.KeyUsageFlags.digitalSignature,
  'digital signature': x509.KeyUsageFlags.digitalSignature,
  'content commitment': x509.KeyUsageFlags.nonRepudiation,
  'key encipherment': x509.KeyUsageFlags.keyEncipherment,
  'key agreement': x509.KeyUsageFlags.keyAgreement,
  'data encipherment': x509.KeyUsageFlags.dataEncipherment,
  'cert sign': x509.KeyUsageFlags.keyCertSign,
  'crl sign': x509.KeyUsageFlags.cRLSign,
  'encipher only': x509.KeyUsageFlags.encipherOnly,
  'decipher only': x509.KeyUsageFlags.decipherOnly,
};

const extKeyUsageOids: Readonly<Record<string, string>> = {
  'any': '2.5.29.37.0',
  'server auth': '1.3.6.1.5.5.7.3.1',
  'client auth': '1.3.6.1.5.5.7.3.2',
  'code signing': '1.3.6.1.5.5.7.3.3',
  'email protection': '1.3.6.1.5.5.7.3.4',
  's/mime': '1.3.6.1.5.5.7.3.4',
  'ipsec end system': '1.3.6.1.5.5.7.3.5',
  'ipsec tunnel': '1.3.6.1.5.5.7.3.6',
  'ipsec user': '1.3.6.1.5.5.7.3.7',
  'timestamping': '1.3.6.1.5.5.7.3.8',
  'ocsp signing': '1.3.6.1.5.5.7.3.9',
  'microsoft sgc': '1.3.6.1.4.1.311.10.3.3',
  'netscape sgc': '2.16.840.1.113730.4.1',
};

/** The first PEM block in `text` (Go's pem.Decode skips what comes before it), or undefined. */
export function decodePem(text: string): { type: string; der: Buffer } | undefined {
  const m = /-----BEGIN ([^-\r\n]*)-----\r?\n([\s\S]*?)-----END \1-----/.exec(text);
  if (!m) return undefined;
  const body = m[2]!;
  // Headers (`Proc-Type: …`) are not base64; a block with them is not one we read.
  if (/^[^\s:]+:/m.test(body)) return undefined;
  const b64 = body.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) return undefined;
  return { type: m[1]!, der: Buffer.from(b64, 'base64') };
}

/**
 * Parses a PEM `CERTIFICATE REQUEST` and checks its self-signature, as kube-apiserver's CSR
 * validation does (certificates.ParseCSR, then CheckSignature). Throws an Error with kube's words.
 */
export function parseCertificateRequest(pem: string): ParsedCertificateRequest {
  const block = decodePem(pem);
  if (!block || block.type !== 'CERTIFICATE REQUEST') throw new Error('PEM block type must be CERTIFICATE REQUEST');
  let req: x509.Pkcs10CertificateRequest;
  try {
    req = new x509.Pkcs10CertificateRequest(new Uint8Array(block.der));
  } catch {
    throw new Error('asn1: structure error: malformed certificate request');
  }
  checkSignature(block.der, req);
  const subject = req.subjectName;
  const sanExt = req.extensions.find((e) => e.type === SUBJECT_ALT_NAME_OID);
  const names = sanExt ? new x509.SubjectAlternativeNameExtension(sanExt.rawData).names.items : [];
  const of = (type: string) => names.filter((n) => n.type === type).map((n) => n.value);
  let algorithm = 'unknown';
  try { algorithm = createPublicKey({ key: Buffer.from(req.publicKey.rawData), format: 'der', type: 'spki' }).asymmetricKeyType?.toUpperCase() ?? 'unknown'; } catch { /* reported by checkSignature */ }
  return {
    commonName: subject.getField('CN')[0] ?? '',
    organizations: subject.getField('O'),
    dnsNames: of('dns'),
    ips: of('ip').map((ip) => { try { return canonicalIp(ip); } catch { return ip; } }),
    emailAddresses: of('email'),
    uris: of('url'),
    publicKeyAlgorithm: algorithm === 'ED25519' ? 'Ed25519' : algorithm,
    request: req,
  };
}

/** Reads one DER TLV header at `pos`: where its content starts and ends. */
function derElement(der: Uint8Array, pos: number): { start: number; end: number } {
  if (pos + 2 > der.length) throw new Error('truncated');
  let len = der[pos + 1]!;
  let start = pos + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || start + n > der.length) throw new Error('bad length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + der[start + i]!;
    start += n;
  }
  if (start + len > der.length) throw new Error('truncated');
  return { start, end: start + len };
}

/** Verifies the request's signature over its CertificationRequestInfo with its own public key (x509 CheckSignature). */
function checkSignature(der: Buffer, req: x509.Pkcs10CertificateRequest): void {
  let tbs: Buffer;
  try {
    const outer = derElement(der, 0);
    const info = derElement(der, outer.start);
    tbs = der.subarray(outer.start, info.end);
  } catch {
    throw new Error('asn1: structure error: malformed certificate request');
  }
  const alg = req.signatureAlgorithm as { name: string; hash?: { name?: string }; saltLength?: number };
  const hash = alg.hash?.name?.toLowerCase().replace('-', '');
  let ok = false;
  try {
    const key = createPublicKey({ key: Buffer.from(req.publicKey.rawData), format: 'der', type: 'spki' });
    const sig = Buffer.from(req.signature);
    if (alg.name === 'ECDSA') {
      // The signature BIT STRING holds a DER ECDSA-Sig-Value, as node:crypto expects by default.
      ok = verify(hash ?? 'sha256', tbs, key, sig);
    } else if (alg.name === 'RSASSA-PKCS1-v1_5') {
      ok = verify(hash ?? 'sha256', tbs, key, sig);
    } else if (alg.name === 'RSA-PSS') {
      ok = verify(hash ?? 'sha256', tbs, { key, padding: 6 /* RSA_PKCS1_PSS_PADDING */, saltLength: alg.saltLength ?? 32 }, sig);
    } else if (alg.name === 'Ed25519' || alg.name === 'EdDSA') {
      ok = verify(null, tbs, key, sig);
    } else {
      throw new Error(`x509: cannot verify signature: algorithm unimplemented`);
    }
  } catch (err) {
    if (err instanceof Error && err.message.startsWith('x509:')) throw err;
    throw new Error('x509: cannot verify signature: ' + (err instanceof Error ? err.message : String(err)));
  }
  if (!ok) throw new Error(alg.name === 'ECDSA' ? 'x509: ECDSA verification failure' : 'crypto/rsa: verification error');
}

export interface CertificateRequestOptions {
  readonly commonName: string;
  readonly organizations?: readonly string[];
  readonly dnsNames?: readonly string[];
  readonly ips?: readonly string[];
  /** Only informs the caller which spec.usages to send (see usagesFor); a CSR carries no usages itself. */
  readonly usage?: 'client' | 'server';
  /**
   * A PKCS#8 ECDSA P-256 key to request for (a request made again after a restart, for the same
   * key as the first: the kubelet keeps its bootstrap key in a .tmp file); a fresh key otherwise.
   */
  readonly keyPem?: string;
}

/**
 * A fresh ECDSA P-256 key and a CSR for it (the agent's side of TLS bootstrap): `{ csrPem, keyPem }`,
 * PEM `CERTIFICATE REQUEST` and PKCS#8 `PRIVATE KEY`. The CSR's spec.usages are usagesFor(usage).
 */
export async function createCertificateRequest(opts: CertificateRequestOptions): Promise<{ csrPem: string; keyPem: string }> {
  const keys = opts.keyPem ? await importKeyPair(opts.keyPem) : await crypto.subtle.generateKey(EC_KEY, true, ['sign', 'verify']);
  const name: x509.JsonName = [];
  for (const o of opts.organizations ?? []) name.push({ O: [o] });
  name.push({ CN: [opts.commonName] });
  const sans = [
    ...(opts.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(opts.ips ?? []).map((value) => ({ type: 'ip' as const, value })),
  ];
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name,
    keys,
    signingAlgorithm: SIGNING,
    extensions: sans.length ? [new x509.SubjectAlternativeNameExtension(sans)] : [],
  }, crypto);
  const der = await crypto.subtle.exportKey('pkcs8', keys.privateKey);
  return { csrPem: csr.toString('pem') + '\n', keyPem: x509.PemConverter.encode(der, 'PRIVATE KEY') + '\n' };
}

/** The key pair of a PKCS#8 ECDSA P-256 private key (its public half derived with node:crypto). */
async function importKeyPair(keyPem: string): Promise<webcrypto.CryptoKeyPair> {
  const der = x509.PemConverter.decodeFirst(keyPem);
  const privateKey = await crypto.subtle.importKey('pkcs8', der, EC_KEY, true, ['sign']);
  const spki = createPublicKey(keyPem).export({ type: 'spki', format: 'der' });
  const publicKey = await crypto.subtle.importKey('spki', spki, EC_KEY, true, ['verify']);
  return { privateKey, publicKey };
}

/** The spec.usages a kubelet sends for an ECDSA key (no key encipherment: kubelet's certificate manager). */
export function usagesFor(usage: 'client' | 'server'): string[] {
  return usage === 'client' ? ['digital signature', 'client auth'] : ['digital signature', 'server auth'];
}

export interface SignOptions {
  /** spec.usages: key usages and extended key usages of the certificate. */
  readonly usages: readonly string[];
  /** spec.expirationSeconds; the duration is min(this, maxDurationMs), at least 10 minutes. */
  readonly expirationSeconds?: number;
  /** The signer's longest duration (kube's --cluster-signing-duration, 1 year). */
  readonly maxDurationMs?: number;
  readonly now?: Date;
}

/** How long a certificate for `expirationSeconds` lasts (kube's signer duration()). */
export function signingDurationMs(expirationSeconds: number | undefined, maxDurationMs = DEFAULT_CLUSTER_SIGNING_DURATION_MS): number {
  if (expirationSeconds === undefined || expirationSeconds === null) return maxDurationMs;
  const requested = expirationSeconds * 1000;
  if (requested > maxDurationMs) return maxDurationMs;
  if (requested < MIN_DURATION_MS) return MIN_DURATION_MS;
  return requested;
}

/**
 * Signs a CSR with the CA (kube's csrsigning controller): subject, public key and the DNS, IP,
 * email and URI SANs from the request, nothing else of its extensions; key usages from `usages`;
 * not a CA; NotBefore 5 minutes back, NotAfter after the duration and never past the CA's own.
 * Returns the certificate as PEM. Throws when the CSR does not parse or a usage is unknown.
 */
export async function signCertificateRequest(ca: CertificateAuthority | { certPem: string; keyPem: string }, csrPem: string, opts: SignOptions): Promise<string> {
  const authority = 'signingKey' in ca ? ca : await loadCertificateAuthority(ca.certPem, ca.keyPem);
  const parsed = parseCertificateRequest(csrPem);
  let bits = 0;
  const ekus: string[] = [];
  for (const u of opts.usages) {
    if (u in keyUsageBits) bits |= keyUsageBits[u]!;
    else if (u in extKeyUsageOids) { if (!ekus.includes(extKeyUsageOids[u]!)) ekus.push(extKeyUsageOids[u]!); }
    else throw new Error(`unrecognized usage: ${u}`);
  }
  const now = opts.now ?? new Date();
  const ttl = signingDurationMs(opts.expirationSeconds, opts.maxDurationMs);
  const notBefore = new Date(now.getTime() - BACKDATE_MS);
  let notAfter = new Date((ttl < SHORT_MS ? now.getTime() : notBefore.getTime()) + ttl);
  const caNotAfter = authority.cert.notAfter;
  if (notAfter >= caNotAfter) notAfter = caNotAfter;
  if (now >= caNotAfter) throw new Error('the signer has expired: NotAfter=' + caNotAfter.toISOString());
  const extensions: x509.Extension[] = [new x509.BasicConstraintsExtension(false, undefined, true)];
  if (bits) extensions.push(new x509.KeyUsagesExtension(bits, true));
  if (ekus.length) extensions.push(new x509.ExtendedKeyUsageExtension(ekus));
  const caKeyId = authority.cert.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId;
  if (caKeyId) extensions.push(new x509.AuthorityKeyIdentifierExtension(caKeyId));
  const sans = [
    ...parsed.dnsNames.map((value) => ({ type: 'dns' as const, value })),
    ...parsed.emailAddresses.map((value) => ({ type: 'email' as const, value })),
    ...parsed.ips.map((value) => ({ type: 'ip' as const, value })),
    ...parsed.uris.map((value) => ({ type: 'url' as const, value })),
  ];
  if (sans.length) extensions.push(new x509.SubjectAlternativeNameExtension(sans));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: parsed.request.subjectName,
    issuer: authority.cert.subjectName,
    notBefore,
    notAfter,
    publicKey: parsed.request.publicKey,
    signingKey: authority.signingKey,
    signingAlgorithm: SIGNING,
    extensions,
  }, crypto);
  return cert.toString('pem') + '\n';
}

/** 128 random bits, top bit clear so the DER INTEGER stays positive (RFC 5280 §4.1.2.2). */
function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] ?? 0) & 0x7f | 0x01;
  return bytes.toString('hex');
}
