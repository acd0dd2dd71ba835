// Server certificates by SNI: exact names, then `*.` wildcards (one label), then the default
// certificate, as ingress-nginx's certificate lookup does. Secure contexts are built once per
// distinct certificate and reused across route-table swaps, so a changed Secret is served at the
// next handshake without a restart.
import tls from 'node:tls';
import { createCertificateAuthority, issueCertificate, type CertKeyPem } from '../pki/certificates.ts';
import type { Certificate } from './route-table.ts';

// ingress-nginx's default ssl-ciphers (ECDHE with AES-GCM or ChaCha20; TLS 1.3 suites are always on).
export const CIPHERS = 'ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:' +
  'ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384';

export function secureContextOptions(c: CertKeyPem): tls.SecureContextOptions {
  return { cert: c.certPem, key: c.keyPem, minVersion: 'TLSv1.2', ciphers: CIPHERS, honorCipherOrder: true };
}

/** The self-signed certificate served when no Secret matches (named as ingress-nginx names its own). */
export async function generateDefaultCertificate(now = new Date()): Promise<CertKeyPem> {
  const ca = await createCertificateAuthority({ commonName: 'Kubernetes Ingress Controller Fake Certificate Issuer', now });
  return issueCertificate(ca, {
    commonName: 'Kubernetes Ingress Controller Fake Certificate', usage: 'server',
    hosts: { dnsNames: ['ingress.local'], ips: [] }, now,
  });
}

export class TlsStore {
  readonly #default: tls.SecureContext;
  #byHost = new Map<string, tls.SecureContext>();
  #bySecret = new Map<string, tls.SecureContext>();

  constructor(defaultCert: CertKeyPem) {
    this.#default = tls.createSecureContext(secureContextOptions(defaultCert));
  }

  /** Replaces the host → certificate map; a certificate that fails to load is skipped (translate has validated it). */
  update(certs: readonly Certificate[]): void {
    const byHost = new Map<string, tls.SecureContext>();
    const bySecret = new Map<string, tls.SecureContext>();
    for (const c of certs) {
      const k = `${c.secret}\n${c.certPem}\n${c.keyPem}`;
      let ctx = this.#bySecret.get(k) ?? bySecret.get(k);
      if (!ctx) {
        try { ctx = tls.createSecureContext(secureContextOptions(c)); } catch { continue; }
      }
      bySecret.set(k, ctx);
      for (const h of c.hosts) if (!byHost.has(h)) byHost.set(h, ctx);
    }
    this.#byHost = byHost;
    this.#bySecret = bySecret;
  }

  /** The context for a server name: exact, then wildcard, then the default. */
  contextFor(serverName: string | undefined): tls.SecureContext {
    // `''`: the certificate of a Gateway's HTTPS listener without a hostname, for any name no
    // other certificate names; else podgate's default one.
    const fallback = this.#byHost.get('') ?? this.#default;
    if (!serverName) return fallback;
    const name = serverName.toLowerCase();
    const exact = this.#byHost.get(name);
    if (exact) return exact;
    const dot = name.indexOf('.');
    if (dot > 0) {
      const wild = this.#byHost.get(`*${name.slice(dot)}`);
      if (wild) return wild;
    }
    return fallback;
  }

  get defaultContext(): tls.SecureContext {
    return this.#default;
  }
}
