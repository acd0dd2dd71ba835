// How `podgate agent` joins a cluster, as `kubeadm join` and the kubelet's TLS bootstrap do it:
// - discovery: the cluster's CA comes from the kube-public/cluster-info ConfigMap, read without
//   credentials, and is trusted only when its public key matches the pin the user was given
//   (kubeadm's --discovery-token-ca-cert-hash, `sha256:` + hex of the DER SubjectPublicKeyInfo);
// - the node's client certificate (CN system:node:NAME, O system:nodes) comes from a
//   CertificateSigningRequest for kubernetes.io/kube-apiserver-client-kubelet made with the
//   bootstrap token; the controller manager approves and signs it;
// - the kubelet's serving certificate comes from a kubernetes.io/kubelet-serving CSR made with the
//   node's own identity once its Node exists (the kubelet's serverTLSBootstrap).
// Certificates are kept in the node's data dir and reused while they are valid and signed by the CA.
import { createHash, createPublicKey, X509Certificate } from 'node:crypto';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { CertificateSigningRequest } from 'kubernetes-types/certificates/v1.d.ts';
import type { KObject } from '../api/object.ts';
import type { Node } from 'kubernetes-types/core/v1.d.ts';
import { StatusError } from '../api/errors.ts';
import { lookupResource, type ResourceInfo } from '../api/resources.ts';
import { KubeClient } from '../client/rest-client.ts';
import { reasonToReissue, type CertKeyPem } from '../pki/certificates.ts';
import { createCertificateRequest, parseCertificateRequest } from '../pki/csr.ts';
import { writeFileAtomic } from '../util/write-file-atomic.ts';
import { caCertHash } from '../pki/cluster-info.ts';

function resource(group: string, version: string, plural: string): ResourceInfo {
  const r = lookupResource(group, version, plural);
  if (!r) throw new Error(`${plural}.${group || 'core'}/${version} is not a known resource`);
  return r;
}
const configMaps = () => resource('', 'v1', 'configmaps');
const csrs = () => resource('certificates.k8s.io', 'v1', 'certificatesigningrequests');

/**
 * The cluster's CA, read from kube-public/cluster-info without credentials and accepted only when
 * its key matches `pin` (kubeadm's token discovery with a CA pin). Throws with what went wrong.
 */
export async function discoverClusterCA(server: string, pin: string): Promise<string> {
  if (!/^sha256:[0-9a-f]{64}$/.test(pin)) throw new Error(`--discovery-token-ca-cert-hash: ${JSON.stringify(pin)} is not sha256:<64 hex digits>`);
  // Not verified yet: the pin below is what makes the answer trusted.
  const anonymous = new KubeClient({ server, insecureSkipVerify: true, userAgent: 'podgate-agent/bootstrap' });
  let cm: KObject;
  try {
    cm = await anonymous.get(configMaps(), 'kube-public', 'cluster-info');
  } catch (err) {
    throw new Error(`reading kube-public/cluster-info from ${server}: ${(err as Error).message}`);
  } finally {
    anonymous.close();
  }
  const text = (cm as { data?: Record<string, string> }).data?.kubeconfig;
  if (!text) throw new Error(`kube-public/cluster-info on ${server} has no kubeconfig`);
  const kc = parseYaml(text) as { clusters?: { cluster?: { 'certificate-authority-data'?: string } }[] };
  const data = kc.clusters?.[0]?.cluster?.['certificate-authority-data'];
  if (!data) throw new Error(`kube-public/cluster-info on ${server} names no certificate authority`);
  const caPem = Buffer.from(data, 'base64').toString('utf8');
  const got = caCertHash(caPem);
  if (got !== pin) throw new Error(`the cluster CA's public key hash ${got} does not match --discovery-token-ca-cert-hash ${pin}: refusing to trust ${server}`);
  return caPem;
}

export interface CertificateWanted {
  readonly signerName: 'kubernetes.io/kube-apiserver-client-kubelet' | 'kubernetes.io/kubelet-serving';
  readonly nodeName: string;
  /** SANs (serving certificates only). */
  readonly dnsNames?: readonly string[];
  readonly ips?: readonly string[];
}

/**
 * Asks for the node's certificate with a CertificateSigningRequest and waits until it is issued,
 * as the kubelet's certificate manager does: the key is kept in `keyFile` before the request is
 * made, and the request is named after the key, the signer and what is asked for, so an agent
 * started again while its request waits for approval finds that request instead of making
 * another. Rejects when it is denied or fails (the key is dropped, so the next try starts
 * afresh), or after `timeoutMs` (default an hour, as the kubelet waits for its bootstrap one).
 */
export async function requestCertificate(client: KubeClient, want: CertificateWanted,
  opts: { keyFile: string; usedKey?: string | undefined; timeoutMs?: number; pollMs?: number; log?: (m: string) => void }): Promise<CertKeyPem> {
  const serving = want.signerName === 'kubernetes.io/kubelet-serving';
  const usages = serving ? ['digital signature', 'server auth'] : ['digital signature', 'client auth'];
  let keyPem = await readFile(opts.keyFile, 'utf8').catch(() => undefined);
  const asked = { commonName: `system:node:${want.nodeName}`, organizations: ['system:nodes'], dnsNames: [...(want.dnsNames ?? [])], ips: [...(want.ips ?? [])] };
  if (keyPem) {
    try { createPublicKey(keyPem); } catch { keyPem = undefined; }
  }
  // A key whose certificate was kept already (a crash came before the key file was removed)
  // would find its old, issued request again: a new key is made instead.
  if (keyPem && opts.usedKey === keyPem) keyPem = undefined;
  if (!keyPem) {
    keyPem = (await createCertificateRequest(asked)).keyPem;
    await writeFileAtomic(opts.keyFile, keyPem, 0o600);
  }
  const { csrPem } = await createCertificateRequest({ ...asked, keyPem });
  // kubelet's digestedName: the same key asking the same signer for the same names gets the same name.
  const spki = createPublicKey(keyPem).export({ type: 'spki', format: 'der' });
  const digest = createHash('sha256').update(spki).update(JSON.stringify([want.signerName, usages, asked])).digest();
  const name = serving ? `csr-${digest.toString('hex').slice(0, 20)}` : `node-csr-${digest.toString('base64url').slice(0, 43)}`;
  const body = {
    apiVersion: 'certificates.k8s.io/v1', kind: 'CertificateSigningRequest', metadata: { name },
    spec: { request: Buffer.from(csrPem).toString('base64'), signerName: want.signerName, usages },
  } satisfies CertificateSigningRequest;
  try {
    await client.create(csrs(), undefined, body as unknown as KObject);
  } catch (err) {
    if (!(err instanceof StatusError && err.code === 409)) throw err;
    // Made by an earlier run with this key: waited for again (kubelet's ensureCompatible).
    const existing = await client.get(csrs(), undefined, name) as unknown as CertificateSigningRequest;
    if (existing.spec.signerName !== want.signerName || !samePublicKey(existing.spec.request, keyPem)) {
      throw new Error(`certificate signing request ${name} exists and is not this node's request for ${want.signerName}`);
    }
    opts.log?.(`join: waiting again for certificate signing request ${name} (${want.signerName})`);
  }
  const start = Date.now();
  const deadline = start + (opts.timeoutMs ?? 3_600_000);
  let told = false;
  const pause = () => new Promise((r) => setTimeout(r, opts.pollMs ?? 500));
  for (;;) {
    let csr: CertificateSigningRequest | undefined;
    try {
      csr = await client.get(csrs(), undefined, name) as unknown as CertificateSigningRequest;
    } catch (err) {
      if (err instanceof StatusError && err.code === 404) {
        await rm(opts.keyFile, { force: true });
        throw new Error(`certificate signing request ${name} (${want.signerName}) was deleted before it was issued`);
      }
      // The API server restarting or busy: asked again until the deadline, as the kubelet's wait does.
      if (Date.now() > deadline) throw err;
    }
    const cond = (t: string) => csr?.status?.conditions?.find((c) => c.type === t && c.status !== 'False');
    const bad = cond('Denied') ?? cond('Failed');
    if (bad) {
      await rm(opts.keyFile, { force: true });
      throw new Error(`certificate signing request ${name} (${want.signerName}) ${bad.type.toLowerCase()}: ${bad.reason ?? ''} ${bad.message ?? ''}`.trim());
    }
    if (csr?.status?.certificate) return { certPem: Buffer.from(csr.status.certificate, 'base64').toString('utf8'), keyPem };
    if (Date.now() > deadline) {
      throw new Error(`certificate signing request ${name} (${want.signerName}) was not issued in time (${cond('Approved') ? 'approved, not signed' : 'not approved'}): see kubectl get csr ${name}`);
    }
    if (!told && Date.now() - start > 10_000 && !cond('Approved')) {
      told = true;
      opts.log?.(`join: certificate signing request ${name} (${want.signerName}) waits for approval: kubectl certificate approve ${name}`);
    }
    await pause();
  }
}

/** Whether a CSR (base64 PEM, as in spec.request) is for the public half of keyPem. */
function samePublicKey(requestB64: string, keyPem: string): boolean {
  try {
    const parsed = parseCertificateRequest(Buffer.from(requestB64, 'base64').toString('utf8'));
    const theirs = Buffer.from(parsed.request.publicKey.rawData);
    return theirs.equals(createPublicKey(keyPem).export({ type: 'spki', format: 'der' }));
  } catch {
    return false;
  }
}

/** A bootstrap token: `[a-z0-9]{6}.[a-z0-9]{16}`, its id and its secret. */
const BOOTSTRAP_TOKEN = /^([a-z0-9]{6})\.([a-z0-9]{16})$/;

/** Where a joined node keeps its credentials (the kubelet's /var/lib/kubelet/pki, by purpose). */
export function nodePkiPaths(dataDir: string) {
  const dir = join(dataDir, 'pki');
  return {
    dir, ca: join(dir, 'ca.crt'),
    clientCert: join(dir, 'kubelet-client.crt'), clientKey: join(dir, 'kubelet-client.key'),
    servingCert: join(dir, 'kubelet.crt'), servingKey: join(dir, 'kubelet.key'),
  };
}

async function readPair(cert: string, key: string): Promise<CertKeyPem | undefined> {
  try {
    return { certPem: await readFile(cert, 'utf8'), keyPem: await readFile(key, 'utf8') };
  } catch {
    return undefined;
  }
}

async function writePair(cert: string, key: string, pair: CertKeyPem): Promise<void> {
  await writeFileAtomic(key, pair.keyPem, 0o600);
  await writeFileAtomic(cert, pair.certPem, 0o644);
}

/**
 * A kept certificate when it is still good (signed by `caPem` when given, not within 30 days of
 * expiry, covering `hosts`), else a new one from `issue`, kept for next time.
 */
export async function keptOrIssued(paths: { cert: string; key: string }, caPem: string | undefined, issue: (keptKey: string | undefined) => Promise<CertKeyPem>,
  hosts?: { ips: string[]; dnsNames: string[] }): Promise<{ pair: CertKeyPem; reused: boolean }> {
  const kept = await readPair(paths.cert, paths.key);
  const ca = caPem ? { ca: new X509Certificate(caPem) } : {};
  if (kept && reasonToReissue(kept, { now: new Date(), ...ca, ...(hosts ? { hosts } : {}) }) === '') return { pair: kept, reused: true };
  const pair = await issue(kept?.keyPem);
  await writePair(paths.cert, paths.key, pair);
  return { pair, reused: false };
}

export interface JoinOptions {
  readonly server: string;
  readonly nodeName: string;
  /** The bootstrap token; not needed when a good client certificate is kept from an earlier join. */
  readonly token?: string | undefined;
  /** The CA pin; not needed when the CA is kept from an earlier join. */
  readonly caCertHash?: string | undefined;
  readonly dataDir: string;
  readonly log: (m: string) => void;
}

/** The node's credentials after joining: the cluster CA and a client certificate of its own. */
export interface NodeCredentials {
  readonly caPem: string;
  readonly client: CertKeyPem;
}

/**
 * Discovery and the client half of the TLS bootstrap: the CA (kept, or discovered and pinned) and
 * the node's client certificate (kept, or requested with the bootstrap token).
 */
export async function joinCluster(o: JoinOptions): Promise<NodeCredentials> {
  const p = nodePkiPaths(o.dataDir);
  await mkdir(p.dir, { recursive: true, mode: 0o700 });
  let caPem = await readFile(p.ca, 'utf8').catch(() => undefined);
  if (caPem && o.caCertHash && caCertHash(caPem) !== o.caCertHash) caPem = undefined;
  if (!caPem) {
    if (!o.caCertHash) throw new Error('this node has not joined yet: --discovery-token-ca-cert-hash is needed (`podgate up` and `podgate server` print the join command)');
    caPem = await discoverClusterCA(o.server, o.caCertHash);
    await writeFileAtomic(p.ca, caPem, 0o644);
    o.log(`join: the cluster CA at ${o.server} matches ${o.caCertHash}`);
  }
  const ca = caPem;
  const { pair, reused } = await keptOrIssued({ cert: p.clientCert, key: p.clientKey }, ca, async (usedKey) => {
    if (!o.token) throw new Error('this node has no client certificate yet: --token is needed (`podgate up` and `podgate server` print the join command)');
    // kubeadm's check of the token's form (k8s.io/cluster-bootstrap/token/api BootstrapTokenPattern).
    if (!BOOTSTRAP_TOKEN.test(o.token)) throw new Error(`the bootstrap token "${o.token}" was not of the form "${BOOTSTRAP_TOKEN.source}"`);
    const bootstrap = new KubeClient({ server: o.server, caPem: ca, token: o.token, userAgent: 'podgate-agent/bootstrap' });
    try {
      try {
        await refuseTakenName(bootstrap, o.nodeName);
      } catch (err) {
        if (err instanceof StatusError && err.code === 401) {
          throw new Error(`${o.server} refused the bootstrap token ${o.token.split('.')[0]}.… (401 Unauthorized): it is not in the cluster's token file, or was removed; \`podgate up\` prints a valid join command`);
        }
        throw err;
      }
      o.log(`join: requesting a client certificate for system:node:${o.nodeName}`);
      return await requestCertificate(bootstrap, { signerName: 'kubernetes.io/kube-apiserver-client-kubelet', nodeName: o.nodeName }, { keyFile: `${p.clientKey}.tmp`, usedKey, log: o.log });
    } finally {
      bootstrap.close();
    }
  });
  // Kept under its own name now: the request's key file has done its work.
  if (!reused) await rm(`${p.clientKey}.tmp`, { force: true });
  if (cnOf(pair.certPem) !== `system:node:${o.nodeName}`) {
    throw new Error(`the kept client certificate in ${p.clientCert} is for ${cnOf(pair.certPem)}, not system:node:${o.nodeName}: remove ${p.dir} to join as a new node`);
  }
  if (reused) o.log(`join: using the client certificate in ${p.clientCert}`);
  return { caPem: ca, client: pair };
}

/** The kubelet's serving certificate for the node's name and addresses (kept, or requested as the node). */
export async function servingCertificate(client: KubeClient, o: { dataDir: string; nodeName: string; nodeIPs: string[]; log: (m: string) => void }): Promise<CertKeyPem> {
  const p = nodePkiPaths(o.dataDir);
  const hosts = { ips: o.nodeIPs, dnsNames: [o.nodeName] };
  // Signed by the kubelet-serving CA, which only the API server holds: kept while it is fresh and
  // names this node; a certificate the API server no longer trusts fails its connections, and
  // removing the file asks for a new one.
  const { pair, reused } = await keptOrIssued({ cert: p.servingCert, key: p.servingKey }, undefined, (usedKey) => {
    o.log(`join: requesting a kubelet serving certificate for ${[o.nodeName, ...o.nodeIPs].join(', ')}`);
    return requestCertificate(client, { signerName: 'kubernetes.io/kubelet-serving', nodeName: o.nodeName, ...hosts }, { keyFile: `${p.servingKey}.tmp`, usedKey, log: o.log });
  }, hosts);
  if (!reused) await rm(`${p.servingKey}.tmp`, { force: true });
  return pair;
}

/** kubeadm join's check: a Ready Node of this name is another machine (or this one, joined already). */
async function refuseTakenName(client: KubeClient, nodeName: string): Promise<void> {
  let node: Node;
  try {
    node = await client.get(resource('', 'v1', 'nodes'), undefined, nodeName) as unknown as Node;
  } catch (err) {
    if (err instanceof StatusError && err.code === 404) return;
    throw err;
  }
  if (node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')) {
    throw new Error(`a Node with name "${nodeName}" and status "Ready" already exists in the cluster. You must delete the existing Node or change the name of this new joining Node (--node-name)`);
  }
}

function cnOf(certPem: string): string {
  return /(?:^|\n)CN=([^\n]*)/.exec(new X509Certificate(certPem).subject)?.[1] ?? '';
}
