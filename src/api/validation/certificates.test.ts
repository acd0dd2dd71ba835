import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createCertificateAuthority } from '../../pki/certificates.ts';
import { createCertificateRequest, signCertificateRequest } from '../../pki/csr.ts';
import type { KObject } from '../object.ts';
import { validateCertificateSigningRequest, validateCertificateSigningRequestUpdate } from './certificates.ts';

let request = '';
let certificate = '';

before(async () => {
  const { csrPem } = await createCertificateRequest({ commonName: 'system:node:n1', organizations: ['system:nodes'] });
  request = Buffer.from(csrPem).toString('base64');
  const ca = await createCertificateAuthority({ commonName: 'ca', now: new Date() });
  certificate = Buffer.from(await signCertificateRequest(ca, csrPem, { usages: ['client auth'] })).toString('base64');
});

function csr(spec: Record<string, unknown> = {}, status: Record<string, unknown> = {}): KObject {
  return {
    apiVersion: 'certificates.k8s.io/v1', kind: 'CertificateSigningRequest', metadata: { name: 'node-csr-x', resourceVersion: '5' },
    spec: { request, signerName: 'kubernetes.io/kube-apiserver-client-kubelet', usages: ['digital signature', 'client auth'], ...spec },
    status,
  } as KObject;
}

const lines = (errs: { field: string; message: string }[]) => errs.map((e) => `${e.field}: ${e.message}`);
const approved = { type: 'Approved', status: 'True', reason: 'KubectlApprove', message: 'ok', lastUpdateTime: '2026-01-01T00:00:00Z' };
const denied = { type: 'Denied', status: 'True', reason: 'KubectlDeny', message: 'no', lastUpdateTime: '2026-01-01T00:00:00Z' };

describe('validateCertificateSigningRequest (create)', () => {
  it('accepts a node client request', () => assert.deepEqual(validateCertificateSigningRequest(csr()), []));

  const cases: [string, () => KObject, RegExp][] = [
    ['request not PEM', () => csr({ request: Buffer.from('hello').toString('base64') }), /^spec\.request: Invalid value: \[\]byte\{0x68, 0x65, 0x6c, 0x6c, 0x6f\}: PEM block type must be CERTIFICATE REQUEST$/],
    ['no usages', () => csr({ usages: [] }), /^spec\.usages: Required value: usages must be provided$/],
    ['unknown usage', () => csr({ usages: ['client auth', 'bogus'] }), /^spec\.usages\[1\]: Unsupported value: "bogus": supported values: "any", "cert sign", /],
    ['duplicate usage', () => csr({ usages: ['client auth', 'client auth'] }), /^spec\.usages\[1\]: Duplicate value: "client auth"$/],
    ['no signerName', () => csr({ signerName: '' }), /^spec\.signerName: Required value: signerName must be provided$/],
    ['signerName without a path', () => csr({ signerName: 'example.com' }), /^spec\.signerName: Invalid value: "example.com": must be a fully qualified domain and path of the form 'example.com\/signer-name'$/],
    ['signerName domain of one label', () => csr({ signerName: 'example/signer' }), /^spec\.signerName: Invalid value: "example": should be a domain with at least two segments separated by dots$/],
    ['signerName bad label', () => csr({ signerName: 'Example.com/x' }), /^spec\.signerName: Invalid value: "Example.com": validating label "Example": a lowercase RFC 1123 label/],
    ['legacy signer', () => csr({ signerName: 'kubernetes.io/legacy-unknown' }), /^spec\.signerName: Invalid value: "kubernetes.io\/legacy-unknown": the legacy signerName is not allowed via this API version$/],
    ['short expiration', () => csr({ expirationSeconds: 599 }), /^spec\.expirationSeconds: Invalid value: 599: may not specify a duration less than 600 seconds \(10 minutes\)$/],
    ['Approved and Denied', () => csr({}, { conditions: [approved, denied] }), /^status\.conditions\[1\]\.type: Invalid value: "Denied": Approved and Denied conditions are mutually exclusive$/],
    ['Approved False', () => csr({}, { conditions: [{ ...approved, status: 'False' }] }), /^status\.conditions\[0\]\.status: Unsupported value: "False": supported values: "True"$/],
    ['condition without type', () => csr({}, { conditions: [{ status: 'True' }] }), /^status\.conditions\[0\]\.type: Required value$/],
    ['duplicate condition', () => csr({}, { conditions: [{ type: 'X', status: 'True' }, { type: 'X', status: 'True' }] }), /^status\.conditions\[1\]\.type: Duplicate value: "X"$/],
    ['certificate not PEM', () => csr({}, { certificate: Buffer.from('nope').toString('base64') }), /^status\.certificate: Invalid value: "<certificate data>": must contain at least one CERTIFICATE PEM block$/],
  ];
  for (const [name, make, want] of cases) {
    it(name, () => {
      const got = lines(validateCertificateSigningRequest(make()));
      assert.ok(got.some((l) => want.test(l)), got.join('\n'));
    });
  }
  it('expirationSeconds 600 is fine', () => assert.deepEqual(validateCertificateSigningRequest(csr({ expirationSeconds: 600 })), []));
});

describe('validateCertificateSigningRequestUpdate', () => {
  const cases: [string, () => KObject, () => KObject, string | undefined, RegExp | undefined][] = [
    ['main resource may not approve', () => csr(), () => csr({}, { conditions: [approved] }), undefined, /^status\.conditions: Forbidden: updates may not add a condition of type "Approved"$/],
    ['status may not approve', () => csr(), () => csr({}, { conditions: [approved] }), 'status', /may not add a condition of type "Approved"/],
    ['approval may approve', () => csr(), () => csr({}, { conditions: [approved] }), 'approval', undefined],
    ['approval may deny', () => csr(), () => csr({}, { conditions: [denied] }), 'approval', undefined],
    ['approval may not remove Approved', () => csr({}, { conditions: [approved] }), () => csr(), 'approval', /updates may not remove a condition of type "Approved"/],
    ['status may not modify Approved', () => csr({}, { conditions: [approved] }), () => csr({}, { conditions: [{ ...approved, message: 'changed' }] }), 'status', /updates may not modify a condition of type "Approved"/],
    ['approval may not set the certificate', () => csr({}, { conditions: [approved] }), () => csr({}, { conditions: [approved], certificate }), 'approval', /^status\.certificate: Forbidden: updates may not set certificate content$/],
    ['status sets the certificate', () => csr({}, { conditions: [approved] }), () => csr({}, { conditions: [approved], certificate }), 'status', undefined],
    ['status may add Failed', () => csr({}, { conditions: [approved] }), () => csr({}, { conditions: [approved, { type: 'Failed', status: 'True', reason: 'SignerValidationFailure' }] }), 'status', undefined],
    ['certificate may not change once set', () => csr({}, { conditions: [approved], certificate }), () => csr({}, { conditions: [approved], certificate: Buffer.from('x').toString('base64') }), 'status', /updates may not modify existing certificate content/],
  ];
  for (const [name, old, make, sub, want] of cases) {
    it(name, () => {
      const got = lines(validateCertificateSigningRequestUpdate(make(), old(), sub));
      if (want) assert.ok(got.some((l) => want.test(l)), got.join('\n'));
      else assert.deepEqual(got, []);
    });
  }
  it('tolerates what the stored object already had (Approved and Denied)', () => {
    const old = csr({}, { conditions: [approved, denied] });
    assert.deepEqual(validateCertificateSigningRequestUpdate(csr({}, { conditions: [approved, denied] }), old, 'status'), []);
  });
});
