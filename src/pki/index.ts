// Certificates, kubeconfig and request authentication for the API server.
export { ensurePki, servingHostNames, ADMIN_GROUP, ADMIN_USER, DEFAULT_CLUSTER_DOMAIN, DEFAULT_SERVICE_IP, PKI_FILES } from './ensure-pki.ts';
export type { EnsurePkiOptions, Pki, PkiChange, PkiPaths } from './ensure-pki.ts';
export { writeKubeconfig, renderKubeconfig } from './kubeconfig.ts';
export type { KubeconfigOptions, KubeconfigUser } from './kubeconfig.ts';
export { Authenticator, isAnonymousPath } from './authenticator.ts';
export type { AuthenticatorOptions, AuthRequest, UserInfo } from './authenticator.ts';
export { issueCertificate, loadCertificateAuthority, fingerprint } from './certificates.ts';
export type { CertificateAuthority, CertKeyPem, HostNames, LeafRequest } from './certificates.ts';
export { parseTokenFile, formatTokenLine } from './token-file.ts';
export type { TokenEntry } from './token-file.ts';
export { createCertificateRequest, parseCertificateRequest, signCertificateRequest, signingDurationMs, usagesFor, DEFAULT_CLUSTER_SIGNING_DURATION_MS, KEY_USAGES } from './csr.ts';
export type { CertificateRequestOptions, ParsedCertificateRequest, SignOptions } from './csr.ts';
