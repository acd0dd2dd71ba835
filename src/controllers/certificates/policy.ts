// The pure decisions of the certificate controllers: which node CSRs are approved (kube's
// csrapproving controller for kubelet client certificates, podgate's own rule for kubelet serving
// certificates) and which requests a signer accepts (kube's csrsigning validators).
import { BlockList } from 'node:net';
import type { CertificateSigningRequest } from 'kubernetes-types/certificates/v1.d.ts';
import type { Node } from 'kubernetes-types/core/v1.d.ts';
import type { ParsedCertificateRequest } from '../../pki/csr.ts';
import { canonicalIp } from '../../pki/certificates.ts';

export const KUBELET_CLIENT_SIGNER = 'kubernetes.io/kube-apiserver-client-kubelet';
export const KUBELET_SERVING_SIGNER = 'kubernetes.io/kubelet-serving';
export const APISERVER_CLIENT_SIGNER = 'kubernetes.io/kube-apiserver-client';
/** The signers podgate's CA issues for, as kube-controller-manager's csrsigning does. */
export const SIGNER_NAMES: readonly string[] = [KUBELET_CLIENT_SIGNER, KUBELET_SERVING_SIGNER, APISERVER_CLIENT_SIGNER];

const NODE_PREFIX = 'system:node:';
const MASTERS_GROUP = 'system:masters';
const NODES_GROUP = 'system:nodes';
const BOOTSTRAPPERS_GROUP = 'system:bootstrappers';

/** kube's words for the two client recognizers (sarapprove.go). */
export const SELF_NODE_CLIENT_MESSAGE = 'Auto approving self kubelet client certificate after SubjectAccessReview.';
export const NODE_CLIENT_MESSAGE = 'Auto approving kubelet client certificate after SubjectAccessReview.';
export const NODE_SERVING_MESSAGE = 'Auto approving kubelet serving certificate: the requesting node and the names and addresses asked for match (podgate policy).';

const sameSet = (a: Iterable<string>, b: Iterable<string>) => {
  const x = new Set(a);
  const y = new Set(b);
  return x.size === y.size && [...x].every((v) => y.has(v));
};
/** Go's %v of a sorted []string: `[a b c]`. */
const goList = (v: readonly string[]) => `[${[...v].sort().join(' ')}]`;

const CLIENT_USAGES = ['digital signature', 'key encipherment', 'client auth'];
const CLIENT_USAGES_NO_RSA = ['digital signature', 'client auth'];
const SERVING_USAGES = ['digital signature', 'key encipherment', 'server auth'];
const SERVING_USAGES_NO_RSA = ['digital signature', 'server auth'];

/** ValidateKubeletClientCSR (pkg/apis/certificates/helpers.go): undefined when `req` is a node client certificate request. */
export function kubeletClientError(req: ParsedCertificateRequest, usages: readonly string[]): string | undefined {
  if (req.organizations.length !== 1 || req.organizations[0] !== NODES_GROUP) return 'subject organization is not system:nodes';
  if (req.dnsNames.length) return 'DNS subjectAltNames are not allowed';
  if (req.emailAddresses.length) return 'Email subjectAltNames are not allowed';
  if (req.ips.length) return 'IP subjectAltNames are not allowed';
  if (req.uris.length) return 'URI subjectAltNames are not allowed';
  if (!req.commonName.startsWith(NODE_PREFIX)) return 'subject common name does not begin with system:node:';
  if (!sameSet(usages, CLIENT_USAGES) && !sameSet(usages, CLIENT_USAGES_NO_RSA)) return `usages did not match ${goList(CLIENT_USAGES)}`;
  return undefined;
}

/** The signer's isKubeletServing: undefined when `req` may be signed as a kubelet serving certificate. */
export function kubeletServingError(req: ParsedCertificateRequest, usages: readonly string[]): string | undefined {
  if (req.organizations.length !== 1 || req.organizations[0] !== NODES_GROUP) return 'subject organization is not system:nodes';
  if (req.emailAddresses.length) return 'email subject alt names are not allowed';
  if (req.uris.length) return 'URI subject alt names are not allowed';
  // Key encipherment may be left out for keys that cannot encipher (anything but RSA).
  const ok = sameSet(usages, SERVING_USAGES) || (req.publicKeyAlgorithm !== 'RSA' && sameSet(usages, SERVING_USAGES_NO_RSA));
  if (!ok) return `usages did not match ${goList(SERVING_USAGES)}`;
  if (!req.commonName.startsWith(NODE_PREFIX)) return 'subject common name does not begin with system:node:';
  if (req.dnsNames.length === 0 && req.ips.length === 0) return 'DNS or IP subjectAltName is required';
  return undefined;
}

/** validAPIServerClientUsages: client auth, plus digital signature / key encipherment only. */
export function apiServerClientError(_req: ParsedCertificateRequest, usages: readonly string[]): string | undefined {
  let clientAuth = false;
  for (const u of usages) {
    if (u === 'digital signature' || u === 'key encipherment') continue;
    if (u === 'client auth') { clientAuth = true; continue; }
    return `invalid usage for client certificate: ${u}`;
  }
  return clientAuth ? undefined : 'missing required usage for client certificate: client auth';
}

/** Why the signer refuses the request (becomes a Failed condition), or undefined to sign it. */
export function signerValidationError(signerName: string, req: ParsedCertificateRequest, usages: readonly string[]): string | undefined {
  switch (signerName) {
    case KUBELET_CLIENT_SIGNER: return kubeletClientError(req, usages);
    case KUBELET_SERVING_SIGNER: return kubeletServingError(req, usages);
    case APISERVER_CLIENT_SIGNER: return apiServerClientError(req, usages);
    default: return `unknown signer ${signerName}`;
  }
}

export type ApprovalDecision =
  /** Append an Approved condition (reason AutoApproved) with this message. */
  | { readonly approve: true; readonly message: string }
  /** Recognised but not approved: left pending (kube's approvers never deny), with why. */
  | { readonly approve: false; readonly why: string }
  /** Not a request this approver looks at. */
  | undefined;

const conditionSet = (csr: CertificateSigningRequest, type: string) => (csr.status?.conditions ?? []).some((c) => c.type === type);

/**
 * Whether to approve a pending CSR. `req` is its parsed request; `node` the Node named by the
 * requester (serving certificates only: its addresses bound the IP SANs).
 *
 * - kubernetes.io/kube-apiserver-client-kubelet, as kube's csrapproving controller: a node client
 *   request (ValidateKubeletClientCSR) from the node itself renewing (`selfnodeclient`: the
 *   requester is the CN and in system:nodes) or from a bootstrap token (`nodeclient`: the
 *   requester is in system:bootstrappers; kubeadm grants that group the nodeclient permission,
 *   and the group stands in for the SubjectAccessReview here).
 * - kubernetes.io/kubelet-serving, podgate's rule (kube leaves these to an admin or an external
 *   approver): the requester is `system:node:<name>` in system:nodes and is the CN, <name> is not
 *   one of the API server's names (`localhost`, `kubernetes*`), the request passes the signer's
 *   kubelet-serving checks, its DNS names are only <name>, and its IPs are all among that Node's
 *   status.addresses, none loopback or unspecified, none in another Node's status.addresses
 *   (`nodes`: every Node known; a node may write its own addresses, so they alone bound nothing).
 */
export function approvalDecision(csr: CertificateSigningRequest, req: ParsedCertificateRequest, node?: Node,
  nodes: readonly Node[] = []): ApprovalDecision {
  if (csr.status?.certificate || conditionSet(csr, 'Approved') || conditionSet(csr, 'Denied')) return undefined;
  const username = csr.spec.username ?? '';
  const groups = csr.spec.groups ?? [];
  const usages = csr.spec.usages ?? [];
  if (csr.spec.signerName === KUBELET_CLIENT_SIGNER) {
    if (kubeletClientError(req, usages) !== undefined) return undefined;
    const tried: string[] = [];
    if (username === req.commonName) {
      tried.push('selfnodeclient');
      if (groups.includes(NODES_GROUP)) return { approve: true, message: SELF_NODE_CLIENT_MESSAGE };
    }
    tried.push('nodeclient');
    if (groups.includes(BOOTSTRAPPERS_GROUP)) return { approve: true, message: NODE_CLIENT_MESSAGE };
    return { approve: false, why: `recognized csr as [${tried.join(' ')}] but subject access review was not approved` };
  }
  if (csr.spec.signerName === KUBELET_SERVING_SIGNER) {
    if (!username.startsWith(NODE_PREFIX) || !groups.includes(NODES_GROUP)) {
      return { approve: false, why: `requester ${JSON.stringify(username)} is not a node (system:node:<name> in group system:nodes)` };
    }
    const nodeName = username.slice(NODE_PREFIX.length);
    if (reservedNodeName(nodeName)) {
      return { approve: false, why: `node name ${JSON.stringify(nodeName)} is one of the API server's names (localhost, kubernetes*)` };
    }
    if (req.commonName !== username) return { approve: false, why: `subject common name ${JSON.stringify(req.commonName)} is not the requester ${JSON.stringify(username)}` };
    const invalid = kubeletServingError(req, usages);
    if (invalid) return { approve: false, why: invalid };
    const otherNames = req.dnsNames.filter((n) => n !== nodeName);
    if (otherNames.length) return { approve: false, why: `DNS names ${goList(otherNames)} are not the node's name ${JSON.stringify(nodeName)}` };
    if (req.ips.length) {
      if (!node) return { approve: false, why: `node ${JSON.stringify(nodeName)} does not exist, so its addresses cannot be checked` };
      const ips = req.ips.map(comparableIp);
      const local = ips.filter(isLoopbackOrUnspecified);
      if (local.length) return { approve: false, why: `IP addresses ${goList(local)} are loopback or unspecified` };
      const known = new Set(addressesOf(node));
      const unknown = ips.filter((ip) => !known.has(ip));
      if (unknown.length) return { approve: false, why: `IP addresses ${goList(unknown)} are not among node ${JSON.stringify(nodeName)}'s status.addresses` };
      const others = new Set(nodes.filter((n) => n.metadata?.name !== nodeName).flatMap(addressesOf));
      const taken = ips.filter((ip) => others.has(ip));
      if (taken.length) return { approve: false, why: `IP addresses ${goList(taken)} are among another node's status.addresses` };
    }
    return { approve: true, message: NODE_SERVING_MESSAGE };
  }
  return undefined;
}

/** The API server's own names (its serving certificate's): no node may be given a certificate for them. */
function reservedNodeName(name: string): boolean {
  const n = name.toLowerCase();
  return n === 'localhost' || n.startsWith('kubernetes');
}

const loopbackOrUnspecified = new BlockList();
loopbackOrUnspecified.addSubnet('127.0.0.0', 8, 'ipv4');
loopbackOrUnspecified.addAddress('0.0.0.0', 'ipv4');
loopbackOrUnspecified.addAddress('::1', 'ipv6');
loopbackOrUnspecified.addAddress('::', 'ipv6');

/** Loopback (127/8, ::1) or unspecified (0.0.0.0, ::), IPv4-mapped forms included. */
function isLoopbackOrUnspecified(ip: string): boolean {
  try {
    return loopbackOrUnspecified.check(ip, ip.includes(':') ? 'ipv6' : 'ipv4');
  } catch {
    return false;
  }
}

/** One spelling per address: canonical, an IPv4-mapped IPv6 address as the IPv4 one (as Go's net.IP.Equal). */
function comparableIp(ip: string): string {
  let c: string;
  try { c = canonicalIp(ip); } catch { return ip; }
  const m = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(c);
  if (!m) return c;
  const hi = parseInt(m[1]!, 16);
  const lo = parseInt(m[2]!, 16);
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

/** A Node's status.addresses that are IPs, comparable. */
function addressesOf(node: Node): string[] {
  return (node.status?.addresses ?? []).flatMap((a) => { try { return [comparableIp(canonicalIp(a.address))]; } catch { return []; } });
}

/**
 * Why the signer leaves an approved CSR unsigned, or undefined to go on. kube's CertificateSigning
 * admission plugin lets only those with the `sign` verb on a signer issue for it; podgate has no
 * RBAC, so a kubernetes.io/kube-apiserver-client certificate (any user, any group, system:masters
 * included) is issued only for a CSR a system:masters member created (spec.groups): otherwise
 * approving someone's request would be enough to mint an administrator's credentials.
 */
export function signingRefusal(csr: CertificateSigningRequest): string | undefined {
  if (csr.spec.signerName !== APISERVER_CLIENT_SIGNER) return undefined;
  if ((csr.spec.groups ?? []).includes(MASTERS_GROUP)) return undefined;
  return `requester ${JSON.stringify(csr.spec.username ?? '')} is not in group ${MASTERS_GROUP}, which alone may have ${APISERVER_CLIENT_SIGNER} certificates signed`;
}
