// kube-controller-manager's csrapproving and csrsigning controllers for podgate's node TLS
// bootstrap, through the API only: pending node CSRs are approved by the rules in ./policy.ts
// (PUT .../approval), approved ones signed by the cluster CA (PUT .../status with
// status.certificate), and requests the signer refuses get a Failed condition. Kubelet serving
// certificates may come from a CA of their own (kubeletServingCa), which clients never trust, so a
// kubelet's certificate cannot pass for the API server's.
import type { CertificateSigningRequest, CertificateSigningRequestCondition } from 'kubernetes-types/certificates/v1.d.ts';
import type { Node } from 'kubernetes-types/core/v1.d.ts';
import { StatusError } from '../../api/errors.ts';
import { cloneJson, type KObject } from '../../api/object.ts';
import { resources } from '../../api/resources.ts';
import type { EventRecorder } from '../../client/event-recorder.ts';
import { Informer } from '../../client/informer.ts';
import type { KubeClient } from '../../client/rest-client.ts';
import { WorkQueue } from '../../client/work-queue.ts';
import { loadCertificateAuthority, type CertificateAuthority } from '../../pki/certificates.ts';
import { DEFAULT_CLUSTER_SIGNING_DURATION_MS, parseCertificateRequest, signCertificateRequest, type ParsedCertificateRequest } from '../../pki/csr.ts';
import { approvalDecision, KUBELET_SERVING_SIGNER, SIGNER_NAMES, signerValidationError, signingRefusal } from './policy.ts';

const csrInfo = resources.find((r) => r.resource === 'certificatesigningrequests')!;
const nodesInfo = resources.find((r) => r.resource === 'nodes')!;

export interface CertificateControllerOptions {
  client: KubeClient;
  /** The cluster CA that signs (PEM): every signer's, or all but kubelet-serving's when kubeletServingCa is given. */
  ca: { certPem: string; keyPem: string };
  /**
   * The CA that signs kubernetes.io/kubelet-serving certificates (PEM; kube's
   * --cluster-signing-kubelet-serving-cert-file / -key-file). Without it `ca` signs them too.
   */
  kubeletServingCa?: { certPem: string; keyPem: string };
  events?: EventRecorder;
  log?: (m: string) => void;
  now?: () => Date;
  /** The longest certificate issued (kube's --cluster-signing-duration, 1 year). */
  maxDurationMs?: number;
}

const k8sTime = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');
const has = (csr: CertificateSigningRequest, type: string) => (csr.status?.conditions ?? []).some((c) => c.type === type && c.status !== 'False');

export class CertificateController {
  readonly #opts: CertificateControllerOptions;
  readonly #log: (m: string) => void;
  readonly #now: () => Date;
  readonly #csrs: Informer;
  readonly #nodes: Informer;
  readonly #queue: WorkQueue;
  #ca: CertificateAuthority | undefined;
  #kubeletServingCa: CertificateAuthority | undefined;
  /** Why a CSR was last left pending, so the same reason is told once. */
  readonly #pendingWhy = new Map<string, string>();

  constructor(opts: CertificateControllerOptions) {
    this.#opts = opts;
    this.#log = opts.log ?? (() => {});
    this.#now = opts.now ?? (() => new Date());
    const onError = (what: string) => (e: unknown) => this.#log(`certificates: ${what}: ${String(e)}`);
    this.#csrs = new Informer({ client: opts.client, resource: csrInfo, onError: onError('csr informer') });
    this.#nodes = new Informer({ client: opts.client, resource: nodesInfo, onError: onError('node informer') });
    this.#queue = new WorkQueue({ process: (k) => this.#sync(k), baseDelayMs: 200, maxDelayMs: 30_000, onError: (k, e) => this.#log(`certificates: csr ${k}: ${String(e)}`) });
    const add = (o: KObject) => this.#queue.add(o.metadata.name!);
    this.#csrs.addHandlers({ onAdd: add, onUpdate: add, onDelete: (o) => this.#pendingWhy.delete(o.metadata.name!) });
    // A serving CSR may wait on its Node's addresses: look at it again when the Node changes.
    const nodeChanged = (o: KObject) => {
      const user = `system:node:${o.metadata.name}`;
      for (const c of this.#csrs.list() as unknown as CertificateSigningRequest[]) {
        if (c.spec.signerName === KUBELET_SERVING_SIGNER && c.spec.username === user && !c.status?.certificate) this.#queue.add(c.metadata!.name!);
      }
    };
    this.#nodes.addHandlers({ onAdd: nodeChanged, onUpdate: nodeChanged });
  }

  async start(): Promise<void> {
    this.#ca = await loadCertificateAuthority(this.#opts.ca.certPem, this.#opts.ca.keyPem);
    const serving = this.#opts.kubeletServingCa;
    this.#kubeletServingCa = serving ? await loadCertificateAuthority(serving.certPem, serving.keyPem) : this.#ca;
    this.#nodes.start();
    this.#csrs.start();
    await Promise.all([this.#nodes.waitForSync(), this.#csrs.waitForSync()]);
  }

  async stop(): Promise<void> {
    this.#queue.stop();
    await Promise.all([this.#csrs.stop(), this.#nodes.stop()]);
  }

  /** Resolves when no CSR is queued or being handled (tests). */
  idle(): Promise<void> {
    return this.#queue.idle();
  }

  async #sync(name: string): Promise<void> {
    const cached = this.#csrs.get(name) as unknown as CertificateSigningRequest | undefined;
    // Issued: nothing left to do (certificate_controller.go syncFunc).
    if (!cached || cached.status?.certificate) return;
    const csr = cloneJson(cached as unknown as KObject) as unknown as CertificateSigningRequest;
    let req: ParsedCertificateRequest;
    try {
      req = parseCertificateRequest(Buffer.from(csr.spec.request ?? '', 'base64').toString('latin1'));
    } catch (err) {
      // The API server validated it; nothing to do but say so.
      this.#log(`certificates: unable to parse csr ${JSON.stringify(name)}: ${(err as Error).message}`);
      return;
    }
    if (!has(csr, 'Approved') && !has(csr, 'Denied')) {
      await this.#approve(csr, req);
      return;
    }
    await this.#sign(csr, req);
  }

  async #approve(csr: CertificateSigningRequest, req: ParsedCertificateRequest): Promise<void> {
    const name = csr.metadata!.name!;
    const nodeName = csr.spec.username?.startsWith('system:node:') ? csr.spec.username.slice('system:node:'.length) : undefined;
    const node = nodeName ? this.#nodes.get(nodeName) as unknown as Node | undefined : undefined;
    const decision = approvalDecision(csr, req, node, this.#nodes.list() as unknown as Node[]);
    if (!decision) return;
    if (!decision.approve) {
      // Left pending, as kube's approvers leave what they may not approve; said once per reason.
      if (this.#pendingWhy.get(name) !== decision.why) {
        this.#pendingWhy.set(name, decision.why);
        this.#log(`certificates: csr ${name} (${csr.spec.signerName}) left pending: ${decision.why}`);
        this.#opts.events?.event(csr as unknown as KObject, 'Warning', 'NotAutoApproved', `not auto-approved: ${decision.why}`);
      }
      return;
    }
    this.#pendingWhy.delete(name);
    const condition: CertificateSigningRequestCondition = { type: 'Approved', status: 'True', reason: 'AutoApproved', message: decision.message };
    csr.status = { ...csr.status, conditions: [...(csr.status?.conditions ?? []), condition] };
    try {
      await this.#opts.client.update(csrInfo, csr as unknown as KObject, 'approval');
    } catch (err) {
      if (err instanceof StatusError && err.code === 404) return;
      throw err;
    }
    this.#log(`certificates: approved csr ${name} (${csr.spec.signerName}) for ${csr.spec.username}`);
  }

  async #sign(csr: CertificateSigningRequest, req: ParsedCertificateRequest): Promise<void> {
    // Only approved, not denied, not failed, not issued, and only the signers this CA serves.
    if (!has(csr, 'Approved') || has(csr, 'Denied') || has(csr, 'Failed')) return;
    if (!SIGNER_NAMES.includes(csr.spec.signerName)) return;
    const usages = csr.spec.usages ?? [];
    const invalid = signerValidationError(csr.spec.signerName, req, usages);
    if (invalid) {
      await this.#fail(csr, 'SignerValidationFailure', invalid);
      return;
    }
    const refused = signingRefusal(csr);
    if (refused) {
      // Left approved and unsigned (kube's signer cannot write a certificate it may not sign); said once.
      const name = csr.metadata!.name!;
      if (this.#pendingWhy.get(name) !== refused) {
        this.#pendingWhy.set(name, refused);
        this.#log(`certificates: csr ${name} (${csr.spec.signerName}) left unsigned: ${refused}`);
      }
      return;
    }
    const ca = csr.spec.signerName === KUBELET_SERVING_SIGNER ? this.#kubeletServingCa! : this.#ca!;
    let certPem: string;
    try {
      certPem = await signCertificateRequest(ca, Buffer.from(csr.spec.request, 'base64').toString('latin1'), {
        usages, expirationSeconds: csr.spec.expirationSeconds, now: this.#now(),
        maxDurationMs: this.#opts.maxDurationMs ?? DEFAULT_CLUSTER_SIGNING_DURATION_MS,
      });
    } catch (err) {
      await this.#fail(csr, 'SigningFailed', `error auto signing csr: ${(err as Error).message}`);
      return;
    }
    csr.status = { ...csr.status, certificate: Buffer.from(certPem).toString('base64') };
    try {
      await this.#opts.client.update(csrInfo, csr as unknown as KObject, 'status');
    } catch (err) {
      if (err instanceof StatusError && err.code === 404) return;
      throw err;
    }
    this.#log(`certificates: issued csr ${csr.metadata!.name} (${csr.spec.signerName}) to ${req.commonName}`);
  }

  async #fail(csr: CertificateSigningRequest, reason: string, message: string): Promise<void> {
    const condition: CertificateSigningRequestCondition = { type: 'Failed', status: 'True', reason, message, lastUpdateTime: k8sTime(this.#now()) };
    csr.status = { ...csr.status, conditions: [...(csr.status?.conditions ?? []), condition] };
    this.#log(`certificates: csr ${csr.metadata!.name} failed: ${message}`);
    this.#opts.events?.event(csr as unknown as KObject, 'Warning', reason, message);
    try {
      await this.#opts.client.update(csrInfo, csr as unknown as KObject, 'status');
    } catch (err) {
      if (!(err instanceof StatusError && err.code === 404)) throw new Error(`error adding failure condition for csr: ${String(err)}`);
    }
  }
}
