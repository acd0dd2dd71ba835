// kubectl get csr: kube's printCertificateSigningRequest (pkg/printers/internalversion/printers.go),
// NAME AGE SIGNERNAME REQUESTOR REQUESTEDDURATION CONDITION.
import type { CertificateSigningRequest } from 'kubernetes-types/certificates/v1.d.ts';
import type { KObject } from '../object.ts';
import { humanDuration, since } from './duration.ts';
import { ageColumn, as, column, nameColumn, type KindPrinter } from './types.ts';

/** extractCSRStatus: Denied, else Approved, else Pending; then ",Failed" and ",Issued" when they apply. */
export function csrCondition(csr: CertificateSigningRequest): string {
  let approved = false;
  let denied = false;
  let failed = false;
  for (const c of csr.status?.conditions ?? []) {
    if (c.type === 'Approved') approved = true;
    else if (c.type === 'Denied') denied = true;
    else if (c.type === 'Failed') failed = true;
  }
  let status = denied ? 'Denied' : approved ? 'Approved' : 'Pending';
  if (failed) status += ',Failed';
  if (csr.status?.certificate) status += ',Issued';
  return status;
}

export const certificateSigningRequestPrinter: KindPrinter = {
  columns: [
    nameColumn(), ageColumn(),
    column('SignerName', 'string', 'signerName indicates the requested signer, and is a qualified name.'),
    column('Requestor', 'string', 'request contains an x509 certificate signing request encoded in a "CERTIFICATE REQUEST" PEM block. When serialized as JSON or YAML, the data is additionally base64-encoded.'),
    column('RequestedDuration', 'string', 'expirationSeconds is the requested duration of validity of the issued certificate.'),
    column('Condition', 'string', 'Conditions applied to the request. Known conditions are "Approved", "Denied", and "Failed".'),
  ],
  print(obj: KObject, now: Date) {
    const csr = as<CertificateSigningRequest>(obj);
    const exp = csr.spec?.expirationSeconds;
    return {
      cells: [
        obj.metadata?.name ?? '', since(obj.metadata?.creationTimestamp, now),
        csr.spec?.signerName || '<none>', csr.spec?.username ?? '',
        typeof exp === 'number' ? humanDuration(exp * 1000) : '<none>',
        csrCondition(csr),
      ],
    };
  },
};
