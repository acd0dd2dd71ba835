// certificates.k8s.io/v1 through the real kubectl 1.32 against the API server (in process, plain
// HTTP, a token table for who is asking): `kubectl get csr` prints kube's columns and
// `kubectl certificate approve|deny` (GET, then PUT .../approval with a protobuf body) work; the
// API keeps the requester, refuses invalid requests with 422 and keeps /status and /approval apart.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { CertificateSigningRequest } from 'kubernetes-types/certificates/v1.d.ts';
import { StatusError } from '../api/errors.ts';
import type { KObject } from '../api/object.ts';
import { resources } from '../api/resources.ts';
import { KubeClient } from '../client/rest-client.ts';
import { createCertificateRequest } from '../pki/csr.ts';
import { startInProcessApiServer, type InProcessApiServer } from './in-process.ts';

const kubectl = '/usr/bin/kubectl';
const csrInfo = resources.find((r) => r.resource === 'certificatesigningrequests')!;

const users: Record<string, { user: string; groups: string[] }> = {
  admin: { user: 'kubernetes-admin', groups: ['system:masters', 'system:authenticated'] },
  bootstrap: { user: 'system:bootstrap:abcdef', groups: ['system:bootstrappers', 'system:authenticated'] },
};
const authenticator = {
  authenticate(req: { headers: Record<string, string | string[] | undefined> }) {
    // kubectl sends no token over plain HTTP: a request without one is the admin's here.
    const m = /^Bearer (.+)$/.exec(String(req.headers.authorization ?? 'Bearer admin'));
    return m ? users[m[1]!] : undefined;
  },
};

function run(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(kubectl, args, { env, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

describe('CertificateSigningRequest with kubectl 1.32', () => {
  before(() => {
    if (!existsSync(kubectl)) throw new Error(`this test needs the real kubectl at ${kubectl} (v1.32); install it (apt-get install kubectl)`);
  });
  let api: InProcessApiServer;
  let bootstrap: KubeClient;
  let dir = '';
  let env: NodeJS.ProcessEnv = {};
  let args: string[] = [];

  async function submit(name: string, extra: Record<string, unknown> = {}): Promise<void> {
    const { csrPem } = await createCertificateRequest({ commonName: 'system:node:n1', organizations: ['system:nodes'] });
    await bootstrap.create(csrInfo, undefined, {
      apiVersion: 'certificates.k8s.io/v1', kind: 'CertificateSigningRequest', metadata: { name },
      spec: { request: Buffer.from(csrPem).toString('base64'), signerName: 'kubernetes.io/kube-apiserver-client-kubelet', usages: ['digital signature', 'client auth'], username: 'forged', ...extra },
    } as unknown as KObject);
  }
  const get = async (name: string) => await api.client.get(csrInfo, undefined, name) as unknown as CertificateSigningRequest;

  before(async () => {
    api = await startInProcessApiServer({ authenticator, token: 'admin' });
    bootstrap = new KubeClient({ server: api.url, token: 'bootstrap' });
    dir = mkdtempSync(join(tmpdir(), 'podgate-csr-'));
    writeFileSync(join(dir, 'kubeconfig'), [
      'apiVersion: v1', 'kind: Config', 'current-context: t',
      `clusters: [{name: t, cluster: {server: "${api.url}"}}]`,
      'users: [{name: t, user: {}}]',
      'contexts: [{name: t, context: {cluster: t, user: t, namespace: default}}]', '',
    ].join('\n'));
    env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, KUBECONFIG: join(dir, 'kubeconfig') };
    args = ['--cache-dir', join(dir, 'cache')];
    await submit('node-csr-a', { expirationSeconds: 3600 });
    await submit('node-csr-b');
  });
  after(async () => {
    bootstrap?.close();
    await api?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('records the authenticated requester, whatever the client sent', async () => {
    const c = await get('node-csr-a');
    assert.equal(c.spec.username, 'system:bootstrap:abcdef');
    assert.deepEqual(c.spec.groups, ['system:bootstrappers', 'system:authenticated']);
  });

  it('kubectl get csr prints NAME AGE SIGNERNAME REQUESTOR REQUESTEDDURATION CONDITION', async () => {
    const r = await run([...args, 'get', 'csr'], env);
    assert.equal(r.code, 0, r.stderr);
    const rows = r.stdout.trim().split('\n').map((l) => l.split(/\s{2,}/));
    assert.deepEqual(rows[0], ['NAME', 'AGE', 'SIGNERNAME', 'REQUESTOR', 'REQUESTEDDURATION', 'CONDITION']);
    assert.deepEqual(rows[1]!.filter((_, i) => i !== 1), ['node-csr-a', 'kubernetes.io/kube-apiserver-client-kubelet', 'system:bootstrap:abcdef', '60m', 'Pending']);
    assert.deepEqual(rows[2]!.filter((_, i) => i !== 1), ['node-csr-b', 'kubernetes.io/kube-apiserver-client-kubelet', 'system:bootstrap:abcdef', '<none>', 'Pending']);
  });

  it('kubectl certificate approve and deny', async () => {
    let r = await run([...args, 'certificate', 'approve', 'node-csr-a'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'certificatesigningrequest.certificates.k8s.io/node-csr-a approved');
    r = await run([...args, 'certificate', 'deny', 'node-csr-b'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'certificatesigningrequest.certificates.k8s.io/node-csr-b denied');
    const a = (await get('node-csr-a')).status!.conditions!;
    assert.equal(a.length, 1);
    assert.equal(a[0]!.type, 'Approved');
    assert.equal(a[0]!.reason, 'KubectlApprove');
    assert.ok(a[0]!.lastTransitionTime);
    r = await run([...args, 'get', 'csr', '-o', 'custom-columns=N:.metadata.name,C:.status.conditions[0].type', '--no-headers'], env);
    assert.deepEqual(r.stdout.trim().split('\n').map((l) => l.split(/\s+/)), [['node-csr-a', 'Approved'], ['node-csr-b', 'Denied']]);
    r = await run([...args, 'get', 'csr', 'node-csr-a'], env);
    assert.match(r.stdout, /\bApproved\n$/);
    // Approving again changes nothing (kubectl sees the condition and says so).
    r = await run([...args, 'certificate', 'approve', 'node-csr-a'], env);
    assert.equal(r.code, 0, r.stderr);
  });

  it('/status may not approve; /approval may not set the certificate', async () => {
    await submit('node-csr-c');
    const c = await get('node-csr-c');
    c.status = { conditions: [{ type: 'Approved', status: 'True', reason: 'X', message: 'x' }] };
    await assert.rejects(api.client.update(csrInfo, c as unknown as KObject, 'status'),
      (e: unknown) => e instanceof StatusError && e.code === 422 && /updates may not add a condition of type "Approved"/.test(e.message));
    c.status = { certificate: Buffer.from('-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n').toString('base64') };
    const out = await api.client.update(csrInfo, c as unknown as KObject, 'approval') as unknown as CertificateSigningRequest;
    assert.equal(out.status?.certificate, undefined, '/approval keeps the stored certificate (none)');
  });

  it('refuses an invalid request with 422 and kube\'s causes', async () => {
    await assert.rejects(bootstrap.create(csrInfo, undefined, {
      apiVersion: 'certificates.k8s.io/v1', kind: 'CertificateSigningRequest', metadata: { name: 'bad' },
      spec: { request: Buffer.from('nope').toString('base64'), signerName: 'nope', usages: [], expirationSeconds: 60 },
    } as unknown as KObject), (e: unknown) => {
      assert.ok(e instanceof StatusError && e.code === 422, String(e));
      const fields = (e.details?.causes ?? []).map((c) => c.field);
      assert.deepEqual(fields, ['spec.request', 'spec.usages', 'spec.signerName', 'spec.expirationSeconds']);
      assert.match(e.message, /^CertificateSigningRequest\.certificates\.k8s\.io "bad" is invalid: /);
      return true;
    });
  });

  it('selects on spec.signerName', async () => {
    const r = await run([...args, 'get', 'csr', '--field-selector', 'spec.signerName=kubernetes.io/kubelet-serving', '--no-headers'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr + r.stdout, /No resources found/);
  });
});
