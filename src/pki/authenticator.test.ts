import assert from 'node:assert/strict';
import { request } from 'node:https';
import { mkdtemp, rm } from 'node:fs/promises';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Authenticator, isAnonymousPath } from './authenticator.ts';
import { createCertificateAuthority, issueCertificate } from './certificates.ts';
import { ensurePki } from './ensure-pki.ts';
import type { Pki } from './ensure-pki.ts';
import { startTestApiServer } from './test-server.ts';
import type { TestApiServer } from './test-server.ts';

test('isAnonymousPath matches system:public-info-viewer exactly', () => {
  const cases: [string, boolean][] = [
    ['/healthz', true],
    ['/livez', true],
    ['/readyz', true],
    ['/version', true],
    ['/version/', true],
    ['/readyz?verbose', true],
    ['/healthz?exclude=etcd', true],
    ['/readyz/ping', false], // RBAC URLs match exactly; kube-apiserver answers 403 to anonymous here
    ['/healthz/', false],
    ['/livez/log', false],
    ['/versions', false],
    ['/api', false],
    ['/', false],
    ['', false],
  ];
  for (const [path, want] of cases) assert.equal(isAnonymousPath(path), want, path);
});

describe('Authenticator with bearer tokens', async () => {
  const ca = await createCertificateAuthority({ commonName: 'test-ca', now: new Date() });
  const authn = new Authenticator({
    tokensCsv: 'tok-admin,podgate-admin,podgate-admin,"system:masters"\ntok-bob,bob,1002\n',
    caPem: ca.certPem,
  });
  const plain = new Socket();
  const auth = (authorization?: string) => authn.authenticate({ headers: authorization === undefined ? {} : { authorization }, socket: plain });

  test('known tokens map to their user and groups, plus system:authenticated', () => {
    assert.deepEqual(auth('Bearer tok-admin'), { user: 'podgate-admin', uid: 'podgate-admin', groups: ['system:masters', 'system:authenticated'] });
    assert.deepEqual(auth('bearer tok-bob'), { user: 'bob', uid: '1002', groups: ['system:authenticated'] });
    assert.deepEqual(auth('  Bearer tok-bob  '), { user: 'bob', uid: '1002', groups: ['system:authenticated'] });
  });

  test('anything else is no one', () => {
    for (const h of [undefined, '', 'Bearer', 'Bearer ', 'Bearer tok-admi', 'Bearer tok-admin2', 'Basic dG9rLWFkbWlu', 'tok-admin', 'Bearer  tok-admin']) {
      assert.equal(auth(h), undefined, String(h));
    }
  });
});

describe('Authenticator behind a real https server', () => {
  let root = '';
  let pki: Pki;
  let server: TestApiServer;
  let foreign: { certPem: string; keyPem: string; caPem: string };

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'podgate-authn-'));
    pki = await ensurePki({ dir: join(root, 'pki'), hosts: { ips: [], dnsNames: [] } });
    // A client certificate with the admin's name from a CA the server also trusts at the TLS
    // layer, but which the Authenticator must not accept.
    const otherCa = await createCertificateAuthority({ commonName: 'other-ca', now: new Date() });
    const other = await issueCertificate(otherCa, { commonName: 'podgate-admin', organizations: ['system:masters'], usage: 'client', now: new Date() });
    foreign = { ...other, caPem: otherCa.certPem };
    server = await startTestApiServer(pki, { extraCaPem: otherCa.certPem });
  });
  after(async () => {
    await server?.close();
    await rm(root, { recursive: true, force: true });
  });

  const get = (path: string, opts: { token?: string; cert?: string; key?: string } = {}): Promise<{ status: number; body: string }> =>
    new Promise((resolve, reject) => {
      const req = request(
        `${server.url}${path}`,
        {
          ca: pki.ca,
          agent: false,
          ...(opts.cert ? { cert: opts.cert, key: opts.key } : {}),
          headers: opts.token ? { authorization: `Bearer ${opts.token}` } : {},
        },
        (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (body += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      req.on('error', reject);
      req.end();
    });

  test('the serving certificate verifies for 127.0.0.1 against the CA', async () => {
    assert.equal((await get('/version')).status, 200);
  });

  test('a client certificate from our CA is the admin', async () => {
    const res = await get('/whoami', { cert: pki.adminCert, key: pki.adminKey });
    assert.equal(res.status, 200);
    assert.deepEqual(JSON.parse(res.body), { user: 'podgate-admin', groups: ['system:masters', 'system:authenticated'] });
  });

  test('the admin token is the admin', async () => {
    const res = await get('/whoami', { token: pki.adminToken });
    assert.equal(res.status, 200);
    assert.deepEqual(JSON.parse(res.body), { user: 'podgate-admin', uid: 'podgate-admin', groups: ['system:masters', 'system:authenticated'] });
  });

  test('no credentials, a wrong token or a foreign certificate get 401', async () => {
    for (const [name, opts] of [
      ['none', {}],
      ['wrong token', { token: pki.adminToken.replace(/.$/, (c) => (c === '0' ? '1' : '0')) }],
      ['foreign cert', { cert: foreign.certPem, key: foreign.keyPem }],
    ] as const) {
      const res = await get('/api', opts);
      assert.equal(res.status, 401, name);
      assert.equal(JSON.parse(res.body).reason, 'Unauthorized');
    }
  });

  test('public paths answer without credentials', async () => {
    assert.equal((await get('/version')).status, 200);
    assert.equal((await get('/version/')).status, 200);
    assert.equal((await get('/healthz')).status, 404); // reached the handler: not refused
  });
});
