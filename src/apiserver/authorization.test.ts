// What podgate's API server lets a requester do without RBAC: only system:masters may approve or
// deny a CertificateSigningRequest (kube's CertificateApproval admission, `approve` on signers), and
// a request without credentials may read kube-public/cluster-info and nothing else.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { KObject } from '../api/object.ts';
import { resources } from '../api/resources.ts';
import { createCertificateRequest } from '../pki/csr.ts';
import { startInProcessApiServer, type InProcessApiServer } from './in-process.ts';

const csrInfo = resources.find((r) => r.resource === 'certificatesigningrequests')!;
const configMaps = resources.find((r) => r.group === '' && r.resource === 'configmaps')!;

const users: Record<string, { user: string; groups: string[] }> = {
  admin: { user: 'kubernetes-admin', groups: ['system:masters', 'system:authenticated'] },
  bootstrap: { user: 'system:bootstrap:abcdef', groups: ['system:bootstrappers', 'system:bootstrappers:kubeadm:default-node-token', 'system:authenticated'] },
  n1: { user: 'system:node:n1', groups: ['system:nodes', 'system:authenticated'] },
};
const authenticator = {
  authenticate(req: { headers: Record<string, string | string[] | undefined> }) {
    const m = /^Bearer (.+)$/.exec(String(req.headers.authorization ?? ''));
    return m ? users[m[1]!] : undefined;
  },
};

async function call(base: string, method: string, path: string, token?: string, body?: unknown, contentType = 'application/json'): Promise<{ status: number; json: Record<string, unknown> }> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = contentType;
  const res = await fetch(base + path, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try { json = JSON.parse(text) as Record<string, unknown>; } catch { /* not JSON */ }
  return { status: res.status, json };
}

const approved = { type: 'Approved', status: 'True', reason: 'Mine', message: 'approved by myself' };
const path = (name: string) => `/apis/certificates.k8s.io/v1/certificatesigningrequests/${name}`;

async function csrBody(name: string, signerName: string, o: { commonName: string; organizations?: string[] }) {
  const { csrPem } = await createCertificateRequest(o);
  return {
    apiVersion: 'certificates.k8s.io/v1', kind: 'CertificateSigningRequest', metadata: { name },
    spec: { request: Buffer.from(csrPem).toString('base64'), signerName, usages: ['digital signature', 'client auth'] },
  };
}

describe('CSR /approval: only system:masters', () => {
  let api: InProcessApiServer;
  before(async () => { api = await startInProcessApiServer({ authenticator, token: 'admin' }); });
  after(async () => { await api.stop(); });

  const forbidden = (name: string, signer: string) =>
    `certificatesigningrequests.certificates.k8s.io "${name}" is forbidden: user not permitted to approve requests with signerName "${signer}"`;

  it('a bootstrap token may create an admin client CSR but not approve it (PUT or PATCH)', async () => {
    const signer = 'kubernetes.io/kube-apiserver-client';
    let r = await call(api.url, 'POST', '/apis/certificates.k8s.io/v1/certificatesigningrequests', 'bootstrap',
      await csrBody('evil', signer, { commonName: 'evil', organizations: ['system:masters'] }));
    assert.equal(r.status, 201, JSON.stringify(r.json));
    const csr = r.json as unknown as KObject;
    r = await call(api.url, 'PUT', `${path('evil')}/approval`, 'bootstrap', { ...csr, status: { conditions: [approved] } });
    assert.equal(r.status, 403, JSON.stringify(r.json));
    assert.equal(r.json.message, forbidden('evil', signer));
    assert.equal(r.json.reason, 'Forbidden');
    assert.deepEqual(r.json.details, { name: 'evil', group: 'certificates.k8s.io', kind: 'certificatesigningrequests' });
    for (const [ct, body] of [
      ['application/merge-patch+json', { status: { conditions: [approved] } }],
      ['application/json-patch+json', [{ op: 'add', path: '/status/conditions', value: [approved] }]],
      ['application/strategic-merge-patch+json', { status: { conditions: [approved] } }],
    ] as const) {
      r = await call(api.url, 'PATCH', `${path('evil')}/approval`, 'bootstrap', body, ct);
      assert.equal(r.status, 403, `${ct}: ${JSON.stringify(r.json)}`);
      assert.equal(r.json.message, forbidden('evil', signer));
    }
    // Denying is approving's verb too.
    r = await call(api.url, 'PATCH', `${path('evil')}/approval`, 'n1', { status: { conditions: [{ type: 'Denied', status: 'True', reason: 'No' }] } }, 'application/merge-patch+json');
    assert.equal(r.status, 403);
    const stored = await api.client.get(csrInfo, undefined, 'evil');
    assert.equal((stored.status as { conditions?: unknown } | undefined)?.conditions, undefined);
  });

  it('a node may not approve its own client CSR either; system:masters may', async () => {
    const signer = 'kubernetes.io/kube-apiserver-client-kubelet';
    let r = await call(api.url, 'POST', '/apis/certificates.k8s.io/v1/certificatesigningrequests', 'n1',
      await csrBody('node', signer, { commonName: 'system:node:n1', organizations: ['system:nodes'] }));
    assert.equal(r.status, 201);
    r = await call(api.url, 'PATCH', `${path('node')}/approval`, 'n1', { status: { conditions: [approved] } }, 'application/merge-patch+json');
    assert.equal(r.status, 403);
    assert.equal(r.json.message, forbidden('node', signer));
    r = await call(api.url, 'PATCH', `${path('node')}/approval`, 'admin', { status: { conditions: [approved] } }, 'application/merge-patch+json');
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal(((r.json.status as { conditions: { type: string }[] }).conditions)[0]!.type, 'Approved');
  });

  it('other writes are not /approval\'s: the main resource and /status stay open as before', async () => {
    const r = await call(api.url, 'PATCH', path('node'), 'n1', { metadata: { labels: { a: 'b' } } }, 'application/merge-patch+json');
    assert.equal(r.status, 200, JSON.stringify(r.json));
  });

  it('without an authenticator (in-process servers) approval is not checked', async () => {
    const open = await startInProcessApiServer();
    try {
      const body = await csrBody('x', 'kubernetes.io/kube-apiserver-client', { commonName: 'x' });
      const created = await open.client.create(csrInfo, undefined, body as unknown as KObject);
      created.status = { conditions: [approved] };
      const out = await open.client.update(csrInfo, created, 'approval');
      assert.equal((out.status as { conditions: { type: string }[] }).conditions[0]!.type, 'Approved');
    } finally {
      await open.stop();
    }
  });
});

describe('anonymous requests', () => {
  let api: InProcessApiServer;
  before(async () => {
    api = await startInProcessApiServer({ authenticator, token: 'admin' });
    for (const name of ['cluster-info', 'other']) {
      await api.client.create(configMaps, 'kube-public', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'kube-public' }, data: { kubeconfig: 'x' } } as KObject);
    }
  });
  after(async () => { await api.stop(); });

  const clusterInfo = '/api/v1/namespaces/kube-public/configmaps/cluster-info';

  it('may GET kube-public/cluster-info', async () => {
    const r = await call(api.url, 'GET', clusterInfo);
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal((r.json.metadata as { name: string }).name, 'cluster-info');
  });

  for (const [what, method, p, token, body] of [
    ['list kube-public configmaps', 'GET', '/api/v1/namespaces/kube-public/configmaps', undefined, undefined],
    ['GET another configmap', 'GET', '/api/v1/namespaces/kube-public/configmaps/other', undefined, undefined],
    ['PUT cluster-info', 'PUT', clusterInfo, undefined, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cluster-info', namespace: 'kube-public' }, data: { kubeconfig: 'evil' } }],
    ['DELETE cluster-info', 'DELETE', clusterInfo, undefined, undefined],
    ['GET cluster-info with a wrong token', 'GET', clusterInfo, 'wrong', undefined],
  ] as const) {
    it(`may not ${what}: 401`, async () => {
      const r = await call(api.url, method, p, token, body);
      assert.equal(r.status, 401, JSON.stringify(r.json));
      assert.equal(r.json.reason, 'Unauthorized');
    });
  }

  it('cluster-info is unchanged', async () => {
    const cm = await api.client.get(configMaps, 'kube-public', 'cluster-info');
    assert.deepEqual(cm.data, { kubeconfig: 'x' });
  });
});
