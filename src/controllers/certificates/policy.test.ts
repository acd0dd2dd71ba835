import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { CertificateSigningRequest } from 'kubernetes-types/certificates/v1.d.ts';
import type { Node } from 'kubernetes-types/core/v1.d.ts';
import { createCertificateRequest, parseCertificateRequest, type CertificateRequestOptions, type ParsedCertificateRequest } from '../../pki/csr.ts';
import {
  approvalDecision, KUBELET_CLIENT_SIGNER, KUBELET_SERVING_SIGNER, APISERVER_CLIENT_SIGNER, NODE_CLIENT_MESSAGE, NODE_SERVING_MESSAGE,
  SELF_NODE_CLIENT_MESSAGE, signerValidationError,
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

function csr(signerName: string, who: { username: string; groups: string[] }, usages: string[], status: CertificateSigningRequest['status'] = {}): CertificateSigningRequest {
  return { metadata: { name: 'c' }, spec: { request: '', signerName, usages, ...who }, status };
}

describe('approvalDecision', () => {
  const cases: [string, () => CertificateSigningRequest, string, Node | undefined, string | RegExp | undefined][] = [
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
  ];
  for (const [name, make, req, n, want] of cases) {
    it(name, () => {
      const d = approvalDecision(make(), reqs.get(req)!, n);
      if (want === undefined) assert.equal(d, undefined);
      else if (typeof want === 'string') assert.deepEqual(d, { approve: true, message: want });
      else { assert.equal(d?.approve, false, JSON.stringify(d)); assert.match((d as { why: string }).why, want); }
    });
  }
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
