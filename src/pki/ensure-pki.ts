// The cluster's certificate authority and credentials on disk: created on first start, reused on
// later ones, and repaired piecemeal (only what is missing, broken, expiring or no longer covers
// the node's addresses is issued again).
import { randomBytes, X509Certificate } from 'node:crypto';
import { chmod, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  canonicalIp,
  createCertificateAuthority,
  fingerprint,
  issueCertificate,
  loadCertificateAuthority,
  reasonToReissue,
} from './certificates.ts';
import type { CertificateAuthority, CertKeyPem, HostNames } from './certificates.ts';
import { formatTokenLine, parseTokenFile } from './token-file.ts';
import { writeFileAtomic } from '../util/write-file-atomic.ts';

/** The first address of the default --service-cluster-ip-range 10.96.0.0/12: the `kubernetes` Service. */
export const DEFAULT_SERVICE_IP = '10.96.0.1';
export const DEFAULT_CLUSTER_DOMAIN = 'cluster.local';
export const ADMIN_USER = 'podgate-admin';
export const ADMIN_GROUP = 'system:masters';
/** kubeadm names the serving certificate's subject this way. */
const SERVER_COMMON_NAME = 'kube-apiserver';

export const PKI_FILES = {
  ca: 'ca.crt',
  caKey: 'ca.key',
  serverCert: 'apiserver.crt',
  serverKey: 'apiserver.key',
  adminCert: 'admin.crt',
  adminKey: 'admin.key',
  tokens: 'tokens.csv',
  kubeletServingCa: 'kubelet-serving-ca.crt',
  kubeletServingCaKey: 'kubelet-serving-ca.key',
} as const;

export type PkiPaths = { readonly [K in keyof typeof PKI_FILES]: string };

/** One thing written by this start and why ('missing', 'expiring', 'hosts-not-covered', ...). */
export interface PkiChange {
  readonly what: 'ca' | 'kubelet-serving-ca' | 'apiserver' | 'admin' | 'token' | 'join-token';
  readonly reason: string;
}

export interface EnsurePkiOptions {
  /** Directory for the files; created with mode 0700 (and tightened to it if it exists). */
  readonly dir: string;
  /** Addresses and names clients use for this API server, beyond the built-in ones. */
  readonly hosts: { readonly ips: readonly string[]; readonly dnsNames: readonly string[] };
  readonly now?: Date;
  /** Default 10.96.0.1, the in-cluster address of the `kubernetes` Service. */
  readonly serviceIp?: string;
  /** Default cluster.local. */
  readonly clusterDomain?: string;
}

/** PEM material for `https.createServer({ key, cert, ca, requestCert: true, rejectUnauthorized: false })`. */
export interface Pki {
  readonly dir: string;
  readonly paths: PkiPaths;
  readonly ca: string;
  readonly caKey: string;
  readonly caFingerprint: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly adminCert: string;
  readonly adminKey: string;
  readonly adminToken: string;
  /**
   * The token `podgate agent --token` joins a node with (kubeadm's bootstrap token format); none
   * once its row was removed from the token file (joining turned off).
   */
  readonly joinToken: string | undefined;
  /**
   * The CA of kubelet serving certificates (kube-controller-manager's
   * --cluster-signing-kubelet-serving-cert-file), apart from the cluster CA so that a node's
   * certificate can never pass as the API server's: only the API server's kubelet client trusts it.
   */
  readonly kubeletServingCa: string;
  readonly kubeletServingCaKey: string;
  /** The token file's content, for `new Authenticator({ tokensCsv, caPem })`. */
  readonly tokensCsv: string;
  /** What this call wrote; empty when everything on disk was reused. */
  readonly issued: readonly PkiChange[];
  /** The SANs the serving certificate was required to cover. */
  readonly servingHosts: HostNames;
}

/**
 * Makes sure `dir` holds a usable CA, serving certificate, admin client certificate and admin
 * token, issuing only what is missing or unusable. Throws on an invalid IP in `hosts` or on I/O
 * errors other than a missing file.
 */
export async function ensurePki(opts: EnsurePkiOptions): Promise<Pki> {
  const now = opts.now ?? new Date();
  const servingHosts = servingHostNames(opts);
  const paths = Object.fromEntries(Object.entries(PKI_FILES).map(([k, f]) => [k, join(opts.dir, f)])) as PkiPaths;
  await mkdir(opts.dir, { recursive: true, mode: 0o700 });
  await chmod(opts.dir, 0o700);
  const issued: PkiChange[] = [];

  let ca: CertificateAuthority | undefined;
  const caPair = await readPair(paths.ca, paths.caKey);
  let caReason = caPair ? reasonToReissue(caPair, { now }) : 'missing';
  if (caPair && caReason === '') {
    try {
      ca = await loadCertificateAuthority(caPair.certPem, caPair.keyPem);
    } catch {
      caReason = 'unreadable';
    }
  }
  if (!ca) {
    ca = await createCertificateAuthority({ commonName: `podgate-ca@${Math.floor(now.getTime() / 1000)}`, now });
    await writePair(paths.ca, paths.caKey, ca);
    issued.push({ what: 'ca', reason: caReason });
  }
  const caCert = new X509Certificate(ca.certPem);
  const kubeletCa = await ensureCa(paths.kubeletServingCa, paths.kubeletServingCaKey, 'podgate-kubelet-serving-ca', now, 'kubelet-serving-ca', issued);

  const leaf = async (
    what: 'apiserver' | 'admin',
    certPath: string,
    keyPath: string,
    issue: () => Promise<CertKeyPem>,
    hosts?: HostNames,
  ): Promise<CertKeyPem> => {
    const existing = await readPair(certPath, keyPath);
    const reason = existing ? reasonToReissue(existing, { now, ca: caCert, ...(hosts ? { hosts } : {}) }) : 'missing';
    if (existing && reason === '') return existing;
    const pair = await issue();
    await writePair(certPath, keyPath, pair);
    issued.push({ what, reason });
    return pair;
  };
  const server = await leaf('apiserver', paths.serverCert, paths.serverKey, () =>
    issueCertificate(ca, { commonName: SERVER_COMMON_NAME, usage: 'server', hosts: servingHosts, now }), servingHosts);
  const admin = await leaf('admin', paths.adminCert, paths.adminKey, () =>
    issueCertificate(ca, { commonName: ADMIN_USER, organizations: [ADMIN_GROUP], usage: 'client', now }));

  const tokens = await ensureTokens(paths.tokens, issued);
  return {
    dir: opts.dir,
    paths,
    ca: ca.certPem,
    caKey: ca.keyPem,
    caFingerprint: fingerprint(ca.certPem),
    serverCert: server.certPem,
    serverKey: server.keyPem,
    adminCert: admin.certPem,
    adminKey: admin.keyPem,
    adminToken: tokens.adminToken,
    joinToken: tokens.joinToken,
    kubeletServingCa: kubeletCa.certPem,
    kubeletServingCaKey: kubeletCa.keyPem,
    tokensCsv: tokens.text,
    issued,
    servingHosts,
  };
}

/**
 * The SANs kube-apiserver puts on its serving certificate by default, plus the caller's: loopback,
 * the `kubernetes` Service's IP and DNS names, localhost. Canonical, deduplicated and sorted.
 */
export function servingHostNames(opts: Pick<EnsurePkiOptions, 'hosts' | 'serviceIp' | 'clusterDomain'>): HostNames {
  const domain = opts.clusterDomain ?? DEFAULT_CLUSTER_DOMAIN;
  const ips = ['127.0.0.1', opts.serviceIp ?? DEFAULT_SERVICE_IP, ...opts.hosts.ips].map(canonicalIp);
  const dnsNames = [
    'localhost',
    'kubernetes',
    'kubernetes.default',
    'kubernetes.default.svc',
    `kubernetes.default.svc.${domain}`,
    ...opts.hosts.dnsNames,
  ].map((n) => n.toLowerCase().replace(/\.$/, ''));
  return { ips: [...new Set(ips)].sort(), dnsNames: [...new Set(dnsNames)].sort() };
}

/** kubeadm's bootstrap token user prefix and group (k8s.io/cluster-bootstrap/token/api). */
export const BOOTSTRAP_USER_PREFIX = 'system:bootstrap:';
export const BOOTSTRAP_GROUP = 'system:bootstrappers';

/** A kubeadm-format bootstrap token, `[a-z0-9]{6}.[a-z0-9]{16}` (id.secret). */
export function generateBootstrapToken(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  const pick = (n: number) => {
    let out = '';
    // Bytes from 252 up are dropped so that every character is equally likely (252 = 7 × 36).
    while (out.length < n) for (const b of randomBytes(n)) if (b < 252 && out.length < n) out += alphabet[b % 36];
    return out;
  };
  return `${pick(6)}.${pick(16)}`;
}

/**
 * Keeps the token file's other rows; adds an admin row and a node-join (bootstrap) row when there
 * is none. The join row authenticates as kubeadm's bootstrap tokens do (user
 * `system:bootstrap:<id>`, group `system:bootstrappers`), from the static file instead of a Secret.
 */
async function ensureTokens(path: string, issued: PkiChange[]): Promise<{ adminToken: string; joinToken: string | undefined; text: string }> {
  const text = (await readOptional(path)) ?? '';
  let entries: ReturnType<typeof parseTokenFile> | undefined;
  try {
    entries = parseTokenFile(text);
  } catch {
    entries = undefined;
  }
  // An unparseable file is replaced rather than appended to: it would keep failing otherwise.
  let next = entries === undefined ? '' : text;
  const add = (line: string) => { next = next === '' || next.endsWith('\n') ? next + line : `${next}\n${line}`; };
  let adminToken = entries?.find((e) => e.user === ADMIN_USER)?.token;
  if (!adminToken) {
    adminToken = randomBytes(32).toString('hex');
    add(formatTokenLine({ token: adminToken, user: ADMIN_USER, uid: ADMIN_USER, groups: [ADMIN_GROUP] }));
    issued.push({ what: 'token', reason: text === '' ? 'missing' : entries === undefined ? 'unreadable' : 'no-admin-entry' });
  }
  // Only a new token file gets one: removing the row is how joining is turned off, and it must
  // stay off across restarts.
  let joinToken = entries?.find((e) => e.user.startsWith(BOOTSTRAP_USER_PREFIX) && e.groups.includes(BOOTSTRAP_GROUP))?.token;
  if (!joinToken && (text === '' || entries === undefined)) {
    joinToken = generateBootstrapToken();
    const id = joinToken.split('.')[0]!;
    add(formatTokenLine({ token: joinToken, user: `${BOOTSTRAP_USER_PREFIX}${id}`, uid: '', groups: [BOOTSTRAP_GROUP] }));
    issued.push({ what: 'join-token', reason: 'missing' });
  }
  if (next !== text) await writeFileAtomic(path, next, 0o600);
  else await chmod(path, 0o600);
  return { adminToken, joinToken, text: next };
}

/** A CA kept on disk while it is good, else a new one. */
async function ensureCa(certPath: string, keyPath: string, name: string, now: Date, what: 'kubelet-serving-ca', issued: PkiChange[]): Promise<CertificateAuthority> {
  const pair = await readPair(certPath, keyPath);
  let reason = pair ? reasonToReissue(pair, { now }) : 'missing';
  if (pair && reason === '') {
    try {
      return await loadCertificateAuthority(pair.certPem, pair.keyPem);
    } catch {
      reason = 'unreadable';
    }
  }
  const ca = await createCertificateAuthority({ commonName: `${name}@${Math.floor(now.getTime() / 1000)}`, now });
  await writePair(certPath, keyPath, ca);
  issued.push({ what, reason });
  return ca;
}

async function readPair(certPath: string, keyPath: string): Promise<CertKeyPem | undefined> {
  const [certPem, keyPem] = await Promise.all([readOptional(certPath), readOptional(keyPath)]);
  return certPem !== undefined && keyPem !== undefined ? { certPem, keyPem } : undefined;
}

/** The key first: a crash between the two writes leaves a mismatched pair, which the next start re-issues. */
async function writePair(certPath: string, keyPath: string, pair: CertKeyPem): Promise<void> {
  await writeFileAtomic(keyPath, pair.keyPem, 0o600);
  await writeFileAtomic(certPath, pair.certPem, 0o644);
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
