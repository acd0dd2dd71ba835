// certificates.k8s.io/v1 CertificateSigningRequest, as kube-apiserver validates it
// (pkg/apis/certificates/validation/validation.go): the request must be a PEM CERTIFICATE
// REQUEST whose signature holds, usages known and unique, a qualified signerName, at least
// 600 s asked for, Approved and Denied never both; updates may not remove Approved, Denied or
// Failed, only /approval may add or change Approved/Denied, only /status may set the
// certificate, and never change it once set. Problems an object already stored has are
// tolerated on its updates, as kube's getValidationOptions does.
import { X509Certificate } from 'node:crypto';
import { parseCertificateRequest, decodePem, KEY_USAGES } from '../../pki/csr.ts';
import { field, type FieldError } from '../errors.ts';
import { isRecord, type KObject } from '../object.ts';
import { child, duplicate, forbidden, index, invalid, notSupported, required } from './field-errors.ts';
import { isDNS1123Label, isDNS1123Subdomain } from './format.ts';
import { validateObjectMeta, validateObjectMetaUpdate } from './object-meta.ts';
import { jsonEqual } from './pod.ts';

interface Condition {
  type?: string;
  status?: string;
  reason?: string;
  message?: string;
  lastUpdateTime?: string;
  lastTransitionTime?: string;
}

interface Csr {
  spec: { request?: unknown; signerName?: string; expirationSeconds?: number; usages?: string[] };
  status: { conditions?: Condition[]; certificate?: unknown };
}

const LEGACY_UNKNOWN_SIGNER = 'kubernetes.io/legacy-unknown';
const ALL_USAGES: readonly string[] = [...KEY_USAGES].sort();
const TRUE_ONLY_TYPES = new Set(['Approved', 'Denied', 'Failed']);
const ALL_STATUS = ['False', 'True', 'Unknown'];

interface Options {
  allowSettingApprovalConditions: boolean;
  allowSettingCertificate: boolean;
  allowBothApprovedAndDenied: boolean;
  allowLegacySignerName: boolean;
  allowDuplicateConditionTypes: boolean;
  allowEmptyConditionType: boolean;
  allowArbitraryCertificate: boolean;
  allowUnknownUsages: boolean;
  allowDuplicateUsages: boolean;
}

function view(obj: KObject): Csr {
  const spec = isRecord(obj.spec) ? obj.spec as Csr['spec'] : {};
  const status = isRecord(obj.status) ? obj.status as Csr['status'] : {};
  return { spec, status };
}

/** A []byte field as JSON carries it (base64), decoded; undefined when it is not valid base64. */
function bytesOf(v: unknown): Buffer | undefined {
  if (v === undefined || v === null) return Buffer.alloc(0);
  if (Array.isArray(v)) return Buffer.from(v as number[]);
  if (typeof v !== 'string') return undefined;
  const s = v.replace(/[\r\n]/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s) || s.length % 4 === 1) return undefined;
  return Buffer.from(s, 'base64');
}

/** Go's %#v of a []byte: `[]byte{0x2d, 0x2d}`. */
function goBytes(b: Buffer): string {
  return `[]byte{${[...b].map((x) => `0x${x.toString(16)}`).join(', ')}}`;
}

/** The PEM text of spec.request (base64 in JSON), for the controllers and the signer. */
export function csrRequestPem(obj: KObject): string | undefined {
  const b = bytesOf(view(obj).spec.request);
  return b ? b.toString('utf8') : undefined;
}

function validateCsrRequest(request: unknown): string | undefined {
  const b = bytesOf(request);
  if (!b) return 'illegal base64 data';
  try {
    parseCertificateRequest(b.toString('latin1'));
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

/** validateCertificate: empty, or only CERTIFICATE blocks without headers, each parsing. */
function validateCertificate(data: Buffer): string | undefined {
  if (data.length === 0) return undefined;
  let text = data.toString('latin1');
  let blocks = 0;
  for (;;) {
    const start = text.indexOf('-----BEGIN ');
    if (start < 0) break;
    const block = decodePem(text.slice(start));
    if (!block) {
      const type = /-----BEGIN ([^-\r\n]*)-----/.exec(text.slice(start))?.[1] ?? '';
      if (type !== 'CERTIFICATE') return `only CERTIFICATE PEM blocks are allowed, found ${JSON.stringify(type)}`;
      if (/-----\r?\n[^\s:]+:/.test(text.slice(start))) return 'no PEM block headers are permitted';
      break;
    }
    if (block.type !== 'CERTIFICATE') return `only CERTIFICATE PEM blocks are allowed, found ${JSON.stringify(block.type)}`;
    blocks++;
    try {
      new X509Certificate(block.der);
    } catch (err) {
      return `x509: malformed certificate: ${err instanceof Error ? err.message : String(err)}`;
    }
    const end = text.indexOf('-----END CERTIFICATE-----', start);
    text = text.slice(end + '-----END CERTIFICATE-----'.length);
  }
  if (blocks === 0) return 'must contain at least one CERTIFICATE PEM block';
  return undefined;
}

/** ValidateCertificateSigningRequestSignerName: `example.com/signer-name`, up to 571 characters. */
export function validateSignerName(path: string, signerName: string | undefined): FieldError[] {
  if (!signerName) return [required(path, 'signerName must be provided')];
  const segments = signerName.split('/');
  if (segments.length !== 2) {
    return [invalid(path, signerName, "must be a fully qualified domain and path of the form 'example.com/signer-name'")];
  }
  const errs: FieldError[] = [];
  const [domain, rest] = segments as [string, string];
  if (Buffer.byteLength(domain) > 253) errs.push(field.tooLong(path, domain, 253));
  const domainLabels = domain.split('.');
  for (const lbl of domainLabels) {
    const e = isDNS1123Label(lbl);
    if (e.length) {
      for (const m of e) errs.push(invalid(path, domain, `validating label ${JSON.stringify(lbl)}: ${m}`));
      break;
    }
  }
  if (domainLabels.length < 2) errs.push(invalid(path, domain, 'should be a domain with at least two segments separated by dots'));
  for (const lbl of rest.split('.')) {
    const e = isDNS1123Subdomain(lbl);
    if (e.length) {
      for (const m of e) errs.push(invalid(path, rest, `validating label ${JSON.stringify(lbl)}: ${m}`));
      break;
    }
  }
  const max = 253 + (253 + 63 + 1) + 1;
  if (Buffer.byteLength(signerName) > max) errs.push(field.tooLong(path, signerName, max));
  return errs;
}

function validateConditions(path: string, csr: Csr, opts: Options): FieldError[] {
  const errs: FieldError[] = [];
  const seen = new Set<string>();
  let approved = false;
  let denied = false;
  (csr.status.conditions ?? []).forEach((c, i) => {
    const at = index(path, i);
    const type = c?.type ?? '';
    if (!opts.allowEmptyConditionType && !type) errs.push(required(child(at, 'type'), ''));
    const allowed = TRUE_ONLY_TYPES.has(type) ? ['True'] : ALL_STATUS;
    if (!c?.status) errs.push(required(child(at, 'status'), ''));
    else if (!allowed.includes(c.status)) errs.push(notSupported(child(at, 'status'), c.status, allowed));
    if (!opts.allowBothApprovedAndDenied) {
      if (type === 'Approved') {
        approved = true;
        if (denied) errs.push(invalid(child(at, 'type'), type, 'Approved and Denied conditions are mutually exclusive'));
      } else if (type === 'Denied') {
        denied = true;
        if (approved) errs.push(invalid(child(at, 'type'), type, 'Approved and Denied conditions are mutually exclusive'));
      }
    }
    if (!opts.allowDuplicateConditionTypes) {
      if (seen.has(type)) errs.push(duplicate(child(at, 'type'), type));
      seen.add(type);
    }
  });
  return errs;
}

function validateCsr(obj: KObject, opts: Options): FieldError[] {
  const csr = view(obj);
  // "We don't care what you call your certificate requests": any name.
  const errs = validateObjectMeta(obj.metadata, { namespaced: false, nameFn: () => [] });
  const reqErr = validateCsrRequest(csr.spec.request);
  if (reqErr) errs.push(invalid('spec.request', csr.spec.request, reqErr, goBytes(bytesOf(csr.spec.request) ?? Buffer.from(String(csr.spec.request ?? '')))));
  const usages = csr.spec.usages ?? [];
  if (usages.length === 0) errs.push(required('spec.usages', 'usages must be provided'));
  if (!opts.allowUnknownUsages) {
    usages.forEach((u, i) => { if (!ALL_USAGES.includes(u)) errs.push(notSupported(index('spec.usages', i), u, ALL_USAGES)); });
  }
  if (!opts.allowDuplicateUsages) {
    const seen = new Set<string>();
    usages.forEach((u, i) => { if (seen.has(u)) errs.push(duplicate(index('spec.usages', i), u)); seen.add(u); });
  }
  if (!opts.allowLegacySignerName && csr.spec.signerName === LEGACY_UNKNOWN_SIGNER) {
    errs.push(invalid('spec.signerName', csr.spec.signerName, 'the legacy signerName is not allowed via this API version'));
  } else {
    errs.push(...validateSignerName('spec.signerName', csr.spec.signerName));
  }
  if (typeof csr.spec.expirationSeconds === 'number' && csr.spec.expirationSeconds < 600) {
    errs.push(invalid('spec.expirationSeconds', csr.spec.expirationSeconds, 'may not specify a duration less than 600 seconds (10 minutes)'));
  }
  errs.push(...validateConditions('status.conditions', csr, opts));
  if (!opts.allowArbitraryCertificate) {
    const cert = bytesOf(csr.status.certificate);
    const e = cert ? validateCertificate(cert) : 'illegal base64 data';
    if (e) errs.push(invalid('status.certificate', '<certificate data>', e));
  }
  return errs;
}

function hasDuplicateTypes(c: readonly Condition[]): boolean {
  return new Set(c.map((x) => x?.type)).size !== c.length;
}

function optionsFor(obj: KObject, old: KObject | undefined): Options {
  const o = old ? view(old) : undefined;
  const n = view(obj);
  const oc = o?.status.conditions ?? [];
  const ou = o?.spec.usages ?? [];
  const sameCert = o !== undefined && jsonEqual(bytesOf(n.status.certificate)?.toString('base64') ?? null, bytesOf(o.status.certificate)?.toString('base64') ?? null);
  const oldCert = o ? bytesOf(o.status.certificate) : undefined;
  return {
    allowSettingApprovalConditions: false,
    allowSettingCertificate: false,
    allowBothApprovedAndDenied: oc.some((c) => c?.type === 'Approved') && oc.some((c) => c?.type === 'Denied'),
    allowLegacySignerName: o?.spec.signerName === LEGACY_UNKNOWN_SIGNER,
    allowDuplicateConditionTypes: hasDuplicateTypes(oc),
    allowEmptyConditionType: oc.some((c) => !c?.type),
    allowArbitraryCertificate: sameCert || (o !== undefined && (!oldCert || validateCertificate(oldCert) !== undefined)),
    allowUnknownUsages: ou.some((u) => !ALL_USAGES.includes(u)),
    allowDuplicateUsages: new Set(ou).size !== ou.length,
  };
}

export function validateCertificateSigningRequest(obj: KObject): FieldError[] {
  return validateCsr(obj, optionsFor(obj, undefined));
}

const conditionsOf = (csr: Csr, type: string) => (csr.status.conditions ?? []).filter((c) => c?.type === type);

/**
 * An update through the main resource (`subresource` undefined), /status or /approval
 * (ValidateCertificateSigningRequestUpdate, …StatusUpdate, …ApprovalUpdate).
 */
export function validateCertificateSigningRequestUpdate(obj: KObject, old: KObject, subresource?: string): FieldError[] {
  const opts = optionsFor(obj, old);
  if (subresource === 'status') opts.allowSettingCertificate = true;
  if (subresource === 'approval') opts.allowSettingApprovalConditions = true;
  const errs = validateCsr(obj, opts);
  const n = view(obj);
  const o = view(old);
  for (const t of ['Approved', 'Denied', 'Failed']) {
    if (conditionsOf(n, t).length < conditionsOf(o, t).length) errs.push(forbidden('status.conditions', `updates may not remove a condition of type ${JSON.stringify(t)}`));
  }
  if (!opts.allowSettingApprovalConditions) {
    for (const t of ['Approved', 'Denied']) {
      const before = conditionsOf(o, t);
      const after = conditionsOf(n, t);
      if (after.length > before.length) errs.push(forbidden('status.conditions', `updates may not add a condition of type ${JSON.stringify(t)}`));
      else if (after.length === before.length && !jsonEqual(before, after)) {
        errs.push(forbidden('status.conditions', `updates may not modify a condition of type ${JSON.stringify(t)}`));
      }
    }
  }
  const newCert = bytesOf(n.status.certificate)?.toString('base64') ?? '';
  const oldCert = bytesOf(o.status.certificate)?.toString('base64') ?? '';
  if (newCert !== oldCert) {
    if (!opts.allowSettingCertificate) errs.push(forbidden('status.certificate', 'updates may not set certificate content'));
    else if (oldCert.length > 0) errs.push(forbidden('status.certificate', 'updates may not modify existing certificate content'));
  }
  errs.push(...validateObjectMetaUpdate(obj.metadata, old.metadata));
  return errs;
}
