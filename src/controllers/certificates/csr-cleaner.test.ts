import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import type { CertificateSigningRequest, CertificateSigningRequestCondition } from 'kubernetes-types/certificates/v1.d.ts';
import type { KObject } from '../../api/object.ts';
import { resources } from '../../api/resources.ts';
import { startInProcessApiServer, type InProcessApiServer } from '../../apiserver/in-process.ts';
import { createCertificateAuthority } from '../../pki/certificates.ts';
import { createCertificateRequest } from '../../pki/csr.ts';
import { until } from '../../util/test-wait.ts';
import { cleanupReason, CsrCleaner, type CleanupReason, type CsrCleanerTimers } from './index.ts';

const T0 = Date.parse('2025-01-01T00:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
const H = 3_600_000;
const cond = (type: string, updatedAt: number | undefined): CertificateSigningRequestCondition =>
  ({ type, status: 'True', ...(updatedAt === undefined ? {} : { lastUpdateTime: iso(updatedAt) }) });
const csr = (conditions: CertificateSigningRequestCondition[], certificate?: string): CertificateSigningRequest => ({
  metadata: { name: 'c', creationTimestamp: iso(T0) },
  spec: { request: '', signerName: 'kubernetes.io/kube-apiserver-client-kubelet', usages: [] },
  status: { conditions, ...(certificate ? { certificate } : {}) },
});

describe('cleanupReason', async () => {
  const ca = await createCertificateAuthority({ commonName: 'test-ca', now: new Date(T0) });
  const cert = Buffer.from(ca.certPem).toString('base64');
  const notAfter = Date.parse(new X509Certificate(ca.certPem).validTo);
  const cases: [string, CertificateSigningRequest, number, CleanupReason][] = [
    ['issued, 1 h after approval: kept', csr([cond('Approved', T0)], cert), T0 + H, ''],
    ['issued, just over 1 h after approval', csr([cond('Approved', T0)], cert), T0 + H + 1000, 'issued'],
    ['approved, never issued: kept after a day', csr([cond('Approved', T0)]), T0 + 48 * H, ''],
    ['approved without lastUpdateTime: never by age', csr([cond('Approved', undefined)], cert), T0 + 48 * H, ''],
    ['denied, 59 min', csr([cond('Denied', T0)]), T0 + 59 * 60_000, ''],
    ['denied, over 1 h', csr([cond('Denied', T0)]), T0 + H + 1000, 'denied'],
    ['failed, over 1 h', csr([cond('Approved', T0 - 1000), cond('Failed', T0)]), T0 + H + 1000, 'failed'],
    ['pending, 23 h', csr([]), T0 + 23 * H, ''],
    ['pending, over 24 h', csr([]), T0 + 24 * H + 1000, 'pending'],
    ['issued, certificate expired (approval time unknown)', csr([cond('Approved', undefined)], cert), notAfter + 1000, 'expired'],
    ['a certificate that does not parse never expires', csr([cond('Approved', undefined)], Buffer.from('junk').toString('base64')), notAfter + 1000, ''],
  ];
  for (const [name, c, now, want] of cases) it(name, () => assert.equal(cleanupReason(c, new Date(now)), want));
});

describe('CsrCleaner', () => {
  let api: InProcessApiServer;
  let cleaner: CsrCleaner;
  // The API server stamps creation and condition times with the real clock; the cleaner's starts there.
  let now = Date.now();
  const due: { at: number; fn: () => void }[] = [];
  const timers: CsrCleanerTimers = { setTimeout: (fn, ms) => due.push({ at: now + ms, fn }), clearTimeout: () => {} };
  const csrInfo = resources.find((r) => r.resource === 'certificatesigningrequests')!;
  const names = async () => (await api.client.list(csrInfo)).items.map((o) => o.metadata.name).sort();

  before(async () => {
    api = await startInProcessApiServer();
    const req = await createCertificateRequest({ commonName: 'system:node:n1', organizations: ['system:nodes'] });
    for (const name of ['old-pending', 'denied']) {
      await api.client.create(csrInfo, undefined, {
        apiVersion: 'certificates.k8s.io/v1', kind: 'CertificateSigningRequest', metadata: { name },
        spec: { request: Buffer.from(req.csrPem).toString('base64'), signerName: 'kubernetes.io/kube-apiserver-client-kubelet', usages: ['digital signature', 'client auth'] },
      } as unknown as KObject);
    }
    const denied = await api.client.get(csrInfo, undefined, 'denied');
    await api.client.update(csrInfo, { ...denied, status: { conditions: [{ type: 'Denied', status: 'True', reason: 'No', message: 'no' }] } } as KObject, 'approval');
    cleaner = new CsrCleaner({ client: api.client, now: () => new Date(now), timers });
  });
  after(async () => {
    await cleaner.stop();
    await api.stop();
  });

  it('cleans at start and again every hour, each as old as its rule says', async () => {
    await cleaner.start();
    assert.deepEqual(await names(), ['denied', 'old-pending'], 'nothing is old enough yet');
    assert.equal(due.length, 1);
    assert.equal(due[0]!.at - now, H, 'the next pass is an hour later');
    now += H + 60_000;
    due.shift()!.fn();
    await until('the denied CSR to go', async () => ((await names()).includes('denied') ? undefined : true));
    assert.deepEqual(await names(), ['old-pending']);
    now += 23 * H;
    assert.deepEqual(await cleaner.clean(), ['old-pending']);
  });
});
