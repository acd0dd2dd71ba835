import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse } from 'yaml';
import { ensurePki } from './ensure-pki.ts';
import type { Pki } from './ensure-pki.ts';
import { renderKubeconfig, writeKubeconfig } from './kubeconfig.ts';
import { startTestApiServer, VERSION_INFO } from './test-server.ts';
import type { TestApiServer } from './test-server.ts';

const KUBECTL = '/usr/bin/kubectl';
let root = '';
let pki: Pki;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'podgate-kubeconfig-'));
  pki = await ensurePki({ dir: join(root, 'pki'), hosts: { ips: [], dnsNames: [] } });
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('writeKubeconfig', () => {
  test('writes the file 0600 atomically, replacing a looser one, with no temp file left', async () => {
    const dir = join(root, 'kc-mode', 'deeper');
    const path = join(dir, 'kubeconfig');
    const old = process.umask(0o000);
    try {
      await writeKubeconfig(path, { server: 'https://127.0.0.1:6443', caPem: pki.ca, user: { token: pki.adminToken } });
      assert.equal((await stat(path)).mode & 0o777, 0o600);
      await chmod(path, 0o644);
      await writeKubeconfig(path, { server: 'https://127.0.0.1:6443', caPem: pki.ca, user: { token: pki.adminToken } });
      assert.equal((await stat(path)).mode & 0o777, 0o600);
    } finally {
      process.umask(old);
    }
    assert.equal((await stat(dir)).mode & 0o777, 0o700);
    assert.deepEqual(await readdir(dir), ['kubeconfig']);
  });

  test('the YAML has the podgate cluster, user and context, data fields in base64', async () => {
    const text = renderKubeconfig({
      server: 'https://127.0.0.1:6443',
      caPem: pki.ca,
      user: { certPem: pki.adminCert, keyPem: pki.adminKey, token: '0777' },
      namespace: 'default',
    });
    const doc = parse(text, { version: '1.1' });
    assert.equal(doc.apiVersion, 'v1');
    assert.equal(doc.kind, 'Config');
    assert.equal(doc['current-context'], 'podgate');
    assert.deepEqual(doc.contexts, [{ name: 'podgate', context: { cluster: 'podgate', user: 'podgate', namespace: 'default' } }]);
    assert.equal(doc.clusters[0].name, 'podgate');
    assert.equal(doc.clusters[0].cluster.server, 'https://127.0.0.1:6443');
    assert.equal(Buffer.from(doc.clusters[0].cluster['certificate-authority-data'], 'base64').toString(), pki.ca);
    assert.equal(Buffer.from(doc.users[0].user['client-certificate-data'], 'base64').toString(), pki.adminCert);
    assert.equal(Buffer.from(doc.users[0].user['client-key-data'], 'base64').toString(), pki.adminKey);
    assert.equal(doc.users[0].user.token, '0777'); // stays a string under YAML 1.1
  });

  test('names can be changed; a certificate without its key is refused', () => {
    const doc = parse(renderKubeconfig({ server: 'https://x:6443', caPem: 'ca', user: {}, clusterName: 'c', contextName: 'x', userName: 'u' }));
    assert.equal(doc['current-context'], 'x');
    assert.deepEqual(doc.contexts[0], { name: 'x', context: { cluster: 'c', user: 'u' } });
    assert.throws(() => renderKubeconfig({ server: 'https://x', caPem: 'ca', user: { certPem: 'c' } }), TypeError);
  });
});

describe('the real kubectl with the written kubeconfig', () => {
  let server: TestApiServer;
  before(async () => {
    server = await startTestApiServer(pki);
  });
  after(async () => {
    await server?.close();
  });

  // kubectl must run asynchronously: the test server lives in this process.
  const kubectl = (kubeconfig: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      const env = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: root };
      // stdin closed: with no credentials at all kubectl would prompt for a username and wait.
      const child = execFile(KUBECTL, ['--kubeconfig', kubeconfig, '--cache-dir', join(root, 'kubectl-cache'), ...args], { env, timeout: 30_000 }, (err, stdout, stderr) => {
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
      });
      child.stdin?.end();
    });

  const cases = [
    { name: 'token', user: () => ({ token: pki.adminToken }), want: { user: 'podgate-admin', uid: 'podgate-admin', groups: ['system:masters', 'system:authenticated'] } },
    { name: 'client certificate', user: () => ({ certPem: pki.adminCert, keyPem: pki.adminKey }), want: { user: 'podgate-admin', groups: ['system:masters', 'system:authenticated'] } },
  ];
  for (const c of cases) {
    test(`a ${c.name} kubeconfig gets /version`, async (t) => {
      const path = join(root, `kubeconfig-${c.name.replace(' ', '-')}`);
      await writeKubeconfig(path, { server: server.url, caPem: pki.ca, user: c.user() });
      assert.equal((await stat(path)).mode & 0o777, 0o600);
      const before = server.seen.length;
      const started = performance.now();
      const res = await kubectl(path, ['get', '--raw', '/version']);
      t.diagnostic(`kubectl get --raw /version: ${(performance.now() - started).toFixed(0)} ms`);
      assert.equal(res.code, 0, res.stderr);
      assert.deepEqual(JSON.parse(res.stdout), VERSION_INFO);
      // The dispatcher asks GET /version?timeout=5s first to pick a kubectl; both carry the credentials.
      const seen = server.seen.slice(before);
      assert.ok(seen.length >= 1);
      for (const who of seen) assert.deepEqual(who, c.want);
    });
  }

  test('a kubeconfig with a wrong token is refused with 401', async () => {
    const path = join(root, 'kubeconfig-wrong-token');
    await writeKubeconfig(path, { server: server.url, caPem: pki.ca, user: { token: 'not-a-token' } });
    const before = server.seen.length;
    const res = await kubectl(path, ['get', '--raw', '/api']);
    assert.notEqual(res.code, 0);
    assert.match(res.stderr, /You must be logged in to the server \(Unauthorized\)/);
    assert.ok(server.seen.length > before && server.seen.slice(before).every((u) => u === undefined));
  });

  test('a kubeconfig with a wrong CA is refused by kubectl', async () => {
    const other = await ensurePki({ dir: join(root, 'other-pki'), hosts: { ips: [], dnsNames: [] } });
    const path = join(root, 'kubeconfig-wrong-ca');
    await writeKubeconfig(path, { server: server.url, caPem: other.ca, user: { token: pki.adminToken } });
    const res = await kubectl(path, ['get', '--raw', '/version']);
    assert.notEqual(res.code, 0);
    assert.match(res.stderr, /certificate/);
  });
});

