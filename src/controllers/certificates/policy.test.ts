import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { CertificateSigningRequest } from 'kubernetes-types/certificates/v1.d.ts';
import type { Node } from 'kubernetes-types/core/v1.d.ts';
import { createCertificateRequest, parseCertificateRequest, type CertificateRequestOptions, type ParsedCertificateRequest } from '../../pki/csr.ts';
import {
  approvalDecision, KUBELET_CLIENT_SIGNER, KUBELET_SERVING_SIGNER, APISERVER_CLIENT_SIGNER, NODE_CLIENT_MESSAGE, NODE_SERVING_MESSAGE,
  SELF_NODE_CLIENT_MESSAGE, signerValidationError, signingRefusal,
} from './policy.ts';

const reqs = new Map<string, ParsedCertificateRequest>();
const shapes: Record<string, CertificateRequestOptions> = {
  client: { commonName: 'system:node:n1', organizations: ['system:nodes'] },
  clientWrongO: { commonName: 'system:node:n1', organizations: ['system:masters'] },
  clientWithSan: { commonName: 'system:node:n1', organizations: ['system:nodes'], dnsNames: ['n1'] },
  clientNotNode: { commonName: 'alice', organizations: ['system:nodes'] },
  serving: { commonName: 'system:node:n1', organizations: ['system:nodes'], dnsNames: ['n1'], ips: ['10.0.0.5'] },
  servingOtherName: { commonName: 'system:node:n1', organizations: ['system:nodes'], dnsNames: ['n1', 'evil.example.com'], ips: ['10.0.0.5'] },
  servingOtherIp: { commonName: 'system:node:n1', organizations: ['system:nodes'], dnsNames: ['n1'], ips: ['10.0.0.5', '10.9.9.9'] },
  servingNoSan: { commonName: 'system:node:n1', organizations: ['system:nodes'] },
  servingOtherNode: { commonName: 'system:node:n2', organizations: ['system:nodes'], dnsNames: ['n2'] },
  servingLoopback: { commonName: 'system:node:n1', organizations: ['system:nodes'], dnsNames: ['n1'], ips: ['10.0.0.5', '127.0.0.1'] },
  servingLoopback6: { commonName: 'system:node:n1', organizations: ['system:nodes'], ips: ['::1'] },
  servingMappedLoopback: { commonName: 'system:node:n1', organizations: ['system:nodes'], ips: ['::ffff:7f00:2'] },
  servingUnspecified: { commonName: 'system:node:n1', organizations: ['system:nodes'], ips: ['0.0.0.0'] },
  servingUnspecified6: { commonName: 'system:node:n1', organizations: ['system:nodes'], ips: ['::'] },
  servingStolenIp: { commonName: 'system:node:n1', organizations: ['system:nodes'], dnsNames: ['n1'], ips: ['10.0.0.5', '10.0.0.6'] },
  servingStolenMappedIp: { commonName: 'system:node:n1', organizations: ['system:nodes'], ips: ['::ffff:a00:6'] },
  servingApiName: { commonName: 'system:node:n1', organizations: ['system:nodes'], dnsNames: ['n1', 'kubernetes.default.svc'] },
  servingKubernetes: { commonName: 'system:node:kubernetes', organizations: ['system:nodes'], dnsNames: ['kubernetes'], ips: ['10.96.0.1', '127.0.0.1'] },
  servingKubernetesDefault: { commonName: 'system:node:kubernetes.default', organizations: ['system:nodes'], dnsNames: ['kubernetes.default'] },
  servingLocalhost: { commonName: 'system:node:localhost', organizations: ['system:nodes'], dnsNames: ['localhost'] },
};

before(async () => {
  for (const [k, o] of Object.entries(shapes)) reqs.set(k, parseCertificateRequest((await createCertificateRequest(o)).csrPem));
});

const bootstrap = { username: 'system:bootstrap:abcdef', groups: ['system:bootstrappers', 'system:bootstrappers:kubeadm:default-node-token', 'system:authenticated'] };
const node1 = { username: 'system:node:n1', groups: ['system:nodes', 'system:authenticated'] };
const alice = { username: 'alice', groups: ['system:authenticated'] };
const client = ['digital signature', 'client auth'];
const serving = ['digital signature', 'server auth'];
const node: Node = { metadata: { name: 'n1' }, status: { addresses: [{ type: 'InternalIP', address: '10.0.0.5' }, { type: 'Hostname', address: 'n1' }] } };
/** n1 claims everything: loopback, unspecified, and n2's address (a node writes its own status). */
const greedy: Node = { metadata: { name: 'n1' }, status: { addresses: ['10.0.0.5', '10.0.0.6', '::ffff:10.0.0.6', '127.0.0.1', '::1', '::ffff:127.0.0.2', '0.0.0.0', '::'].map((address) => ({ type: 'InternalIP', address })) } };
const n2: Node = { metadata: { name: 'n2' }, status: { addresses: [{ type: 'InternalIP', address: '10.0.0.6' }] } };
const kubernetesNode: Node = { metadata: { name: 'kubernetes' }, status: { addresses: [{ type: 'InternalIP', address: '10.96.0.1' }, { type: 'InternalIP', address: '127.0.0.1' }] } };
const as = (name: string) => ({ username: `system:node:${name}`, groups: ['system:nodes', 'system:authenticated'] });

function csr(signerName: string, who: { username: string; groups: string[] }, usages: string[], status: CertificateSigningRequest['status'] = {}): CertificateSigningRequest {
  return { metadata: { name: 'c' }, spec: { request: '', signerName, usages, ...who }, status };
}

describe('approvalDecision', () => {
  const cases: [string, () => CertificateSigningRequest, string, Node | undefined, string | RegExp | undefined, Node[]?][] = [
    ['bootstrap token, node client CSR', () => csr(KUBELET_CLIENT_SIGNER, bootstrap, client), 'client', undefined, NODE_CLIENT_MESSAGE],
    ['bootstrap token, with key encipherment', () => csr(KUBELET_CLIENT_SIGNER, bootstrap, [...client, 'key encipherment']), 'client', undefined, NODE_CLIENT_MESSAGE],
    ['node renewing its own', () => csr(KUBELET_CLIENT_SIGNER, node1, client), 'client', undefined, SELF_NODE_CLIENT_MESSAGE],
    ['a user may not', () => csr(KUBELET_CLIENT_SIGNER, alice, client), 'client', undefined, /^recognized csr as \[nodeclient\] but subject access review was not approved$/],
    ['a node may not ask for another node', () => csr(KUBELET_CLIENT_SIGNER, { ...node1, username: 'system:node:n2' }, client), 'client', undefined, /not approved/],
    ['wrong O is not a node client CSR', () => csr(KUBELET_CLIENT_SIGNER, bootstrap, client), 'clientWrongO', undefined, undefined],
    ['SANs are not a node client CSR', () => csr(KUBELET_CLIENT_SIGNER, bootstrap, client), 'clientWithSan', undefined, undefined],
    ['server auth is not a node client CSR', () => csr(KUBELET_CLIENT_SIGNER, bootstrap, serving), 'client', undefined, undefined],
    ['already approved', () => csr(KUBELET_CLIENT_SIGNER, bootstrap, client, { conditions: [{ type: 'Approved', status: 'True' }] }), 'client', undefined, undefined],
    ['already denied', () => csr(KUBELET_CLIENT_SIGNER, bootstrap, client, { conditions: [{ type: 'Denied', status: 'True' }] }), 'client', undefined, undefined],
    ['other signers are not ours', () => csr(APISERVER_CLIENT_SIGNER, bootstrap, client), 'client', undefined, undefined],
    ['serving: the node itself, its name and address', () => csr(KUBELET_SERVING_SIGNER, node1, serving), 'serving', node, NODE_SERVING_MESSAGE],
    ['serving: with key encipherment', () => csr(KUBELET_SERVING_SIGNER, node1, [...serving, 'key encipherment']), 'serving', node, NODE_SERVING_MESSAGE],
    ['serving: a bootstrap token may not', () => csr(KUBELET_SERVING_SIGNER, bootstrap, serving), 'serving', node, /is not a node/],
    ['serving: CN must be the requester', () => csr(KUBELET_SERVING_SIGNER, node1, serving), 'servingOtherNode', node, /is not the requester/],
    ['serving: other DNS names', () => csr(KUBELET_SERVING_SIGNER, node1, serving), 'servingOtherName', node, /DNS names \[evil.example.com\] are not the node's name "n1"/],
    ['serving: an IP the node does not have', () => csr(KUBELET_SERVING_SIGNER, node1, serving), 'servingOtherIp', node, /IP addresses \[10.9.9.9\] are not among node "n1"'s status.addresses/],
    ['serving: IPs need the Node', () => csr(KUBELET_SERVING_SIGNER, node1, serving), 'serving', undefined, /node "n1" does not exist/],
    ['serving: no SANs', () => csr(KUBELET_SERVING_SIGNER, node1, serving), 'servingNoSan', node, /DNS or IP subjectAltName is required/],
    ['serving: client usages', () => csr(KUBELET_SERVING_SIGNER, node1, client), 'serving', node, /usages did not match \[digital signature key encipherment server auth\]/],
    // The API server's names and addresses are never a kubelet's.
    ['serving: another node beside', () => csr(KUBELET_SERVING_SIGNER, node1, serving), 'serving', node, NODE_SERVING_MESSAGE, [node, n2]],
    ['serving: loopback IPv4', () => csr(KUBELET_SERVING_SIGNER, node1, serving), 'servingLoopback', greedy, /IP addresses \[127.0.0.1\] are loopback or unspecified/],
    ['serving: loopback IPv6', () => csr(KUBELET_SERVING_SIGNER, node1, serving), 'servingLoopback6', greedy, /IP addresses \[::1\] are loopback or unspecified/],
    ['serving: IPv4-mapped loopback', () => csr(KUBELET_SERVING_SIGNER, node1, serving), 'servingMappedLoopback', greedy, /\[127.0.0.2\] are loopback or unspecified/],
    ['serving: unspecified IPv4', () => csr(KUBELET_SERVING_SIGNER, node1, serving), 'servingUnspecified', greedy, /\[0.0.0.0\] are loopback or unspecified/],
    ['serving: unspecified IPv6', () => csr(KUBELET_SERVING_SIGNER, node1, serving), 'servingUnspecified6', greedy, /\[::\] are loopback or unspecified/],
    ['serving: another node\'s address', () => csr(KUBELET_SERVING_SIGNER, node1, serving), 'servingStolenIp', greedy, /IP addresses \[10.0.0.6\] are among another node's status.addresses/, [greedy, n2]],
    ['serving: another node\'s address, IPv4-mapped', () => csr(KUBELET_SERVING_SIGNER, node1, serving), 'servingStolenMappedIp', greedy, /\[10.0.0.6\] are among another node's/, [greedy, n2]],
    ['serving: its own address listed twice is not another node\'s', () => csr(KUBELET_SERVING_SIGNER, node1, serving), 'serving', node, NODE_SERVING_MESSAGE, [node]],
    ['serving: the API server\'s DNS name', () => csr(KUBELET_SERVING_SIGNER, node1, serving), 'servingApiName', node, /DNS names \[kubernetes.default.svc\] are not the node's name "n1"/],
    ['serving: a node named kubernetes', () => csr(KUBELET_SERVING_SIGNER, as('kubernetes'), serving), 'servingKubernetes', kubernetesNode, /node name "kubernetes" is one of the API server's names/],
    ['serving: a node named kubernetes.default', () => csr(KUBELET_SERVING_SIGNER, as('kubernetes.default'), serving), 'servingKubernetesDefault', undefined, /node name "kubernetes.default" is one of the API server's names/],
    ['serving: a node named localhost', () => csr(KUBELET_SERVING_SIGNER, as('localhost'), serving), 'servingLocalhost', undefined, /node name "localhost" is one of the API server's names/],
  ];
  for (const [name, make, req, n, want, all] of cases) {
    it(name, () => {
      const d = approvalDecision(make(), reqs.get(req)!, n, all);
      if (want === undefined) assert.equal(d, undefined);
      else if (typeof want === 'string') assert.deepEqual(d, { approve: true, message: want });
      else { assert.equal(d?.approve, false, JSON.stringify(d)); assert.match((d as { why: string }).why, want); }
    });
  }
});

describe('signingRefusal', () => {
  const admin = { username: 'kubernetes-admin', groups: ['system:masters', 'system:authenticated'] };
  it('kube-apiserver-client: only for a CSR a system:masters member created', () => {
    assert.equal(signingRefusal(csr(APISERVER_CLIENT_SIGNER, admin, client)), undefined);
    assert.equal(signingRefusal(csr(APISERVER_CLIENT_SIGNER, bootstrap, client)),
      'requester "system:bootstrap:abcdef" is not in group system:masters, which alone may have kubernetes.io/kube-apiserver-client certificates signed');
    assert.match(signingRefusal(csr(APISERVER_CLIENT_SIGNER, alice, client))!, /requester "alice" is not in group system:masters/);
    assert.match(signingRefusal({ metadata: { name: 'c' }, spec: { request: '', signerName: APISERVER_CLIENT_SIGNER, usages: client } })!, /requester "" is not/);
  });
  it('the node signers are not restricted here (their approval is)', () => {
    assert.equal(signingRefusal(csr(KUBELET_CLIENT_SIGNER, bootstrap, client)), undefined);
    assert.equal(signingRefusal(csr(KUBELET_SERVING_SIGNER, node1, serving)), undefined);
  });
});

describe('signerValidationError', () => {
  const cases: [string, string, string, string[], string | undefined][] = [
    ['kubelet client ok', KUBELET_CLIENT_SIGNER, 'client', client, undefined],
    ['kubelet client wrong O', KUBELET_CLIENT_SIGNER, 'clientWrongO', client, 'subject organization is not system:nodes'],
    ['kubelet client with SAN', KUBELET_CLIENT_SIGNER, 'clientWithSan', client, 'DNS subjectAltNames are not allowed'],
    ['kubelet client not a node', KUBELET_CLIENT_SIGNER, 'clientNotNode', client, 'subject common name does not begin with system:node:'],
    ['kubelet client server usage', KUBELET_CLIENT_SIGNER, 'client', serving, 'usages did not match [client auth digital signature key encipherment]'],
    ['kubelet serving ok', KUBELET_SERVING_SIGNER, 'serving', serving, undefined],
    ['kubelet serving no SAN', KUBELET_SERVING_SIGNER, 'servingNoSan', serving, 'DNS or IP subjectAltName is required'],
    ['apiserver client ok', APISERVER_CLIENT_SIGNER, 'clientNotNode', client, undefined],
    ['apiserver client server auth', APISERVER_CLIENT_SIGNER, 'clientNotNode', ['client auth', 'server auth'], 'invalid usage for client certificate: server auth'],
    ['apiserver client without client auth', APISERVER_CLIENT_SIGNER, 'clientNotNode', ['digital signature'], 'missing required usage for client certificate: client auth'],
  ];
  for (const [name, signer, req, usages, want] of cases) {
    it(name, () => assert.equal(signerValidationError(signer, reqs.get(req)!, usages), want));
  }
});
