import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ensurePki, servingHostNames } from './ensure-pki.ts';
import { parseTokenFile } from './token-file.ts';
import { fingerprint } from './certificates.ts';

const DAY = 24 * 60 * 60 * 1000;
const NOW = new Date('2026-11-22T00:00:00Z');
let root = '';
let seq = 0;
const freshDir = (): string => join(root, `pki-${++seq}`);
const mode = async (p: string): Promise<number> => (await stat(p)).mode & 0o777;
const sans = (pem: string): string => new X509Certificate(pem).subjectAltName ?? '';

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'podgate-pki-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('ensurePki', () => {
  test('first start generates everything, with the right modes, keys, names and lifetimes', async (t) => {
    const dir = join(freshDir(), 'nested');
    const started = performance.now();
    const pki = await ensurePki({ dir, hosts: { ips: ['192.0.2.10'], dnsNames: ['node-a'] }, now: NOW });
    t.diagnostic(`first start: ${(performance.now() - started).toFixed(1)} ms`);

    assert.deepEqual(pki.issued.map((c) => `${c.what}:${c.reason}`), ['ca:missing', 'kubelet-serving-ca:missing', 'apiserver:missing', 'admin:missing', 'token:missing', 'join-token:missing']);
    assert.equal(await mode(dir), 0o700);
    for (const f of [pki.paths.caKey, pki.paths.serverKey, pki.paths.adminKey, pki.paths.tokens]) assert.equal(await mode(f), 0o600, f);
    for (const f of [pki.paths.ca, pki.paths.serverCert, pki.paths.adminCert]) assert.equal(await mode(f), 0o644, f);
    assert.equal(await readFile(pki.paths.serverCert, 'utf8'), pki.serverCert);

    const ca = new X509Certificate(pki.ca);
    const server = new X509Certificate(pki.serverCert);
    const admin = new X509Certificate(pki.adminCert);
    assert.ok(ca.ca);
    assert.ok(!server.ca && !admin.ca);
    for (const [cert, key] of [[ca, pki.caKey], [server, pki.serverKey], [admin, pki.adminKey]] as const) {
      const k = createPrivateKey(key);
      assert.equal(k.asymmetricKeyType, 'ec');
      assert.equal(k.asymmetricKeyDetails?.namedCurve, 'prime256v1');
      assert.ok(cert.checkPrivateKey(k));
    }
    assert.ok(server.verify(ca.publicKey) && server.checkIssued(ca));
    assert.ok(admin.verify(ca.publicKey) && admin.checkIssued(ca));
    const years = (c: X509Certificate): number => (c.validToDate.getTime() - NOW.getTime()) / (365 * DAY);
    assert.ok(Math.abs(years(ca) - 10) < 0.01, `CA lifetime ${years(ca)}`);
    assert.ok(Math.abs(years(server) - 1) < 0.01 && Math.abs(years(admin) - 1) < 0.01);
    assert.ok(server.validFromDate <= NOW);

    assert.deepEqual(server.keyUsage, ['1.3.6.1.5.5.7.3.1']);
    assert.deepEqual(admin.keyUsage, ['1.3.6.1.5.5.7.3.2']);
    assert.equal(admin.subject.split('\n').sort().join(','), 'CN=podgate-admin,O=system:masters');
    for (const name of ['kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local', 'localhost', 'node-a']) {
      assert.equal(server.checkHost(name, { subject: 'never' }), name);
    }
    for (const ip of ['127.0.0.1', '10.96.0.1', '192.0.2.10']) assert.equal(server.checkIP(ip), ip);

    const tokens = parseTokenFile(pki.tokensCsv);
    const joinId = pki.joinToken!.split('.')[0];
    assert.deepEqual(tokens, [
      { token: pki.adminToken, user: 'podgate-admin', uid: 'podgate-admin', groups: ['system:masters'] },
      { token: pki.joinToken!, user: `system:bootstrap:${joinId}`, uid: '', groups: ['system:bootstrappers'] },
    ]);
    assert.match(pki.adminToken, /^[0-9a-f]{64}$/);
    // kubeadm's bootstrap token format (k8s.io/cluster-bootstrap/token/api BootstrapTokenPattern).
    assert.match(pki.joinToken!, /^[a-z0-9]{6}\.[a-z0-9]{16}$/);
    assert.match(pki.tokensCsv, /^[0-9a-f]{64},podgate-admin,podgate-admin,"system:masters"\n[a-z0-9]{6}\.[a-z0-9]{16},system:bootstrap:[a-z0-9]{6},,"system:bootstrappers"\n$/);
  });

  test('second start reuses every file', async (t) => {
    const dir = freshDir();
    const hosts = { ips: ['192.0.2.10'], dnsNames: [] };
    const first = await ensurePki({ dir, hosts, now: NOW });
    const started = performance.now();
    const second = await ensurePki({ dir, hosts, now: new Date(NOW.getTime() + 100 * DAY) });
    t.diagnostic(`second start: ${(performance.now() - started).toFixed(1)} ms`);
    assert.deepEqual(second.issued, []);
    assert.equal(second.caFingerprint, first.caFingerprint);
    for (const k of ['ca', 'caKey', 'kubeletServingCa', 'kubeletServingCaKey', 'serverCert', 'serverKey', 'adminCert', 'adminKey', 'adminToken', 'joinToken', 'tokensCsv'] as const) {
      assert.equal(second[k], first[k], k);
    }
  });

  test('a new node IP re-issues only the serving certificate, from the same CA', async () => {
    const dir = freshDir();
    const first = await ensurePki({ dir, hosts: { ips: ['192.0.2.10'], dnsNames: [] }, now: NOW });
    const second = await ensurePki({ dir, hosts: { ips: ['192.0.2.77'], dnsNames: [] }, now: NOW });
    assert.deepEqual(second.issued, [{ what: 'apiserver', reason: 'hosts-not-covered' }]);
    assert.equal(second.caFingerprint, first.caFingerprint);
    assert.equal(second.adminCert, first.adminCert);
    assert.equal(second.adminToken, first.adminToken);
    const server = new X509Certificate(second.serverCert);
    assert.equal(server.checkIP('192.0.2.77'), '192.0.2.77');
    assert.equal(server.checkIP('192.0.2.10'), undefined);
    assert.ok(server.verify(new X509Certificate(first.ca).publicKey));
    // Another spelling of a covered address, or a subset of the names, changes nothing.
    const third = await ensurePki({ dir, hosts: { ips: ['192.0.2.77', '127.0.0.1'], dnsNames: ['KUBERNETES'] }, now: NOW });
    assert.deepEqual(third.issued, []);
  });

  test('IPv6 addresses are compared in canonical form', async () => {
    const dir = freshDir();
    await ensurePki({ dir, hosts: { ips: ['fd00:0:0::1'], dnsNames: [] }, now: NOW });
    const again = await ensurePki({ dir, hosts: { ips: ['FD00::1'], dnsNames: [] }, now: NOW });
    assert.deepEqual(again.issued, []);
  });

  test('leaves within 30 days of expiry are re-issued; the CA is kept', async () => {
    const dir = freshDir();
    const hosts = { ips: [], dnsNames: [] };
    const first = await ensurePki({ dir, hosts, now: NOW });
    const at336 = await ensurePki({ dir, hosts, now: new Date(NOW.getTime() + 334 * DAY) });
    assert.deepEqual(at336.issued, []);
    const later = new Date(NOW.getTime() + 340 * DAY);
    const renewed = await ensurePki({ dir, hosts, now: later });
    assert.deepEqual(renewed.issued.map((c) => `${c.what}:${c.reason}`), ['apiserver:expiring', 'admin:expiring']);
    assert.equal(renewed.caFingerprint, first.caFingerprint);
    assert.equal(renewed.adminToken, first.adminToken);
    assert.ok(new X509Certificate(renewed.serverCert).validToDate.getTime() > later.getTime() + 364 * DAY);
  });

  test('an expiring CA is replaced and every certificate with it', async () => {
    const dir = freshDir();
    const hosts = { ips: [], dnsNames: [] };
    const first = await ensurePki({ dir, hosts, now: NOW });
    const renewed = await ensurePki({ dir, hosts, now: new Date(NOW.getTime() + 3640 * DAY) });
    assert.deepEqual(renewed.issued.map((c) => `${c.what}:${c.reason}`), ['ca:expiring', 'kubelet-serving-ca:expiring', 'apiserver:not-signed-by-ca', 'admin:not-signed-by-ca']);
    assert.notEqual(renewed.caFingerprint, first.caFingerprint);
    assert.equal(renewed.adminToken, first.adminToken);
  });

  test('a leaf never outlives its CA', async () => {
    const dir = freshDir();
    const hosts = { ips: [], dnsNames: [] };
    await ensurePki({ dir, hosts, now: NOW });
    // 3600 days in: the leaves are re-issued (expired), capped at the CA's notAfter; the CA has 50 days left.
    const late = await ensurePki({ dir, hosts, now: new Date(NOW.getTime() + 3600 * DAY) });
    assert.deepEqual(late.issued.map((c) => c.what), ['apiserver', 'admin']);
    const ca = new X509Certificate(late.ca);
    assert.ok(new X509Certificate(late.serverCert).validToDate <= ca.validToDate);
  });

  test('broken or mismatched files are repaired piecemeal', async () => {
    const dir = freshDir();
    const hosts = { ips: [], dnsNames: [] };
    const first = await ensurePki({ dir, hosts, now: NOW });
    await writeFile(first.paths.serverKey, 'garbage');
    await writeFile(first.paths.adminKey, first.serverKey); // a valid key, but not admin.crt's
    const repaired = await ensurePki({ dir, hosts, now: NOW });
    assert.deepEqual(repaired.issued.map((c) => `${c.what}:${c.reason}`), ['apiserver:unreadable', 'admin:key-mismatch']);
    assert.equal(repaired.caFingerprint, first.caFingerprint);

    await rm(first.paths.caKey);
    const newCa = await ensurePki({ dir, hosts, now: NOW });
    assert.deepEqual(newCa.issued.map((c) => `${c.what}:${c.reason}`), ['ca:missing', 'apiserver:not-signed-by-ca', 'admin:not-signed-by-ca']);
  });

  test('other rows of the token file are kept; an admin row is added when missing, a join row is not (removing it turns joining off)', async () => {
    const dir = freshDir();
    const hosts = { ips: [], dnsNames: [] };
    const first = await ensurePki({ dir, hosts, now: NOW });
    await writeFile(first.paths.tokens, 'other-token,alice,1001,"dev,ops"');
    const second = await ensurePki({ dir, hosts, now: NOW });
    assert.deepEqual(second.issued.map((c) => `${c.what}:${c.reason}`), ['token:no-admin-entry']);
    assert.notEqual(second.adminToken, first.adminToken);
    assert.equal(second.joinToken, undefined);
    const rows = parseTokenFile(await readFile(first.paths.tokens, 'utf8'));
    assert.deepEqual(rows.map((r) => r.user), ['alice', 'podgate-admin']);
    assert.deepEqual(rows[0]?.groups, ['dev', 'ops']);
    assert.equal(await mode(first.paths.tokens), 0o600);
    assert.equal((await ensurePki({ dir, hosts, now: NOW })).joinToken, undefined, 'still off after another start');
  });

  test('kubelet serving certificates have a CA of their own, kept across starts', async () => {
    const dir = freshDir();
    const first = await ensurePki({ dir, hosts: { ips: [], dnsNames: [] }, now: NOW });
    assert.notEqual(fingerprint(first.kubeletServingCa), first.caFingerprint);
    const second = await ensurePki({ dir, hosts: { ips: [], dnsNames: [] }, now: NOW });
    assert.equal(second.kubeletServingCa, first.kubeletServingCa);
    assert.equal(await mode(first.paths.kubeletServingCaKey), 0o600);
  });

  test('the directory is tightened to 0700 when it already exists', async () => {
    const dir = freshDir();
    await ensurePki({ dir, hosts: { ips: [], dnsNames: [] }, now: NOW });
    const { chmod } = await import('node:fs/promises');
    await chmod(dir, 0o755);
    await ensurePki({ dir, hosts: { ips: [], dnsNames: [] }, now: NOW });
    assert.equal(await mode(dir), 0o700);
  });

  test('an address that is not an IP is refused', async () => {
    await assert.rejects(ensurePki({ dir: freshDir(), hosts: { ips: ['node-a'], dnsNames: [] } }), TypeError);
  });
});

describe('servingHostNames', () => {
  test('built-in names, the service IP option and the caller\'s, canonical and sorted', () => {
    assert.deepEqual(servingHostNames({ hosts: { ips: ['192.0.2.10', '2001:DB8::0:1'], dnsNames: ['Node-A.', 'localhost'] }, serviceIp: '10.43.0.1' }), {
      ips: ['10.43.0.1', '127.0.0.1', '192.0.2.10', '2001:db8::1'],
      dnsNames: ['kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local', 'localhost', 'node-a'],
    });
    assert.ok(servingHostNames({ hosts: { ips: [], dnsNames: [] } }).ips.includes('10.96.0.1'));
  });

  test('the certificate carries them', async () => {
    const pki = await ensurePki({ dir: freshDir(), hosts: { ips: [], dnsNames: [] }, now: NOW, clusterDomain: 'example.internal' });
    assert.match(sans(pki.serverCert), /DNS:kubernetes\.default\.svc\.example\.internal/);
    assert.match(sans(pki.serverCert), /IP Address:10\.96\.0\.1/);
  });
});
