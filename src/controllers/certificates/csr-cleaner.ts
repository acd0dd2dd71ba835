// kube-controller-manager's csrcleaner (pkg/controller/certificates/cleaner/cleaner.go, kube 1.32):
// once an hour, deletes the CSRs that are done with, so that node TLS bootstrap and renewals do not
// pile them up: issued or denied or failed ones an hour after their condition's lastUpdateTime,
// ones with no condition at all a day after creation, and issued ones whose certificate expired.
// An approved CSR that was never issued is kept (kube has no rule for it).
import { X509Certificate } from 'node:crypto';
import type { CertificateSigningRequest } from 'kubernetes-types/certificates/v1.d.ts';
import { StatusError } from '../../api/errors.ts';
import { resources } from '../../api/resources.ts';
import { Informer } from '../../client/informer.ts';
import type { KubeClient } from '../../client/rest-client.ts';

const csrInfo = resources.find((r) => r.resource === 'certificatesigningrequests')!;

/** pollingInterval. */
export const CSR_CLEANER_POLLING_INTERVAL_MS = 60 * 60 * 1000;
/** approvedExpiration, deniedExpiration (Failed uses it too) and pendingExpiration. */
export const APPROVED_EXPIRATION_MS = 60 * 60 * 1000;
export const DENIED_EXPIRATION_MS = 60 * 60 * 1000;
export const PENDING_EXPIRATION_MS = 24 * 60 * 60 * 1000;

export type CleanupReason = '' | 'issued' | 'denied' | 'failed' | 'pending' | 'expired';

/** isOlderThan: a time that is set and lies more than `ms` before now. */
function isOlderThan(t: string | undefined, ms: number, now: number): boolean {
  const at = t ? Date.parse(t) : NaN;
  return !Number.isNaN(at) && at - now < -ms;
}

/** isExpired: the issued certificate's NotAfter has gone by; an unreadable certificate never has. */
function isExpired(certificateB64: string, now: number): boolean {
  try {
    const pem = Buffer.from(certificateB64, 'base64').toString('utf8');
    const notAfter = Date.parse(new X509Certificate(pem).validTo);
    return !Number.isNaN(notAfter) && now > notAfter;
  } catch {
    return false;
  }
}

/**
 * Why the cleaner deletes this CSR at `now`, or '' to keep it. Checked in kube's order: issued,
 * denied, failed, pending, expired. Never throws.
 */
export function cleanupReason(csr: CertificateSigningRequest, now: Date): CleanupReason {
  const t = now.getTime();
  const conditions = csr.status?.conditions ?? [];
  const certificate = csr.status?.certificate ?? '';
  // Only the condition's type counts, not its status (kube's checks look at c.Type alone).
  if (certificate && conditions.some((c) => c.type === 'Approved' && isOlderThan(c.lastUpdateTime, APPROVED_EXPIRATION_MS, t))) return 'issued';
  if (conditions.some((c) => c.type === 'Denied' && isOlderThan(c.lastUpdateTime, DENIED_EXPIRATION_MS, t))) return 'denied';
  if (conditions.some((c) => c.type === 'Failed' && isOlderThan(c.lastUpdateTime, DENIED_EXPIRATION_MS, t))) return 'failed';
  if (conditions.length === 0 && isOlderThan(csr.metadata?.creationTimestamp, PENDING_EXPIRATION_MS, t)) return 'pending';
  if (certificate && conditions.some((c) => c.type === 'Approved') && isExpired(certificate, t)) return 'expired';
  return '';
}

export interface CsrCleanerTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface CsrCleanerOptions {
  client: KubeClient;
  log?: (m: string) => void;
  now?: () => Date;
  timers?: CsrCleanerTimers;
  /** How often the CSRs are looked at (kube's pollingInterval, 1 h). */
  pollingIntervalMs?: number;
}

const REAL_TIMERS: CsrCleanerTimers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

const MESSAGES: Record<Exclude<CleanupReason, ''>, string> = {
  issued: 'it is more than 1h0m0s old and approved',
  denied: 'it is more than 1h0m0s old and denied',
  failed: 'it is more than 1h0m0s old and failed',
  pending: 'it is more than 24h0m0s old and unhandled',
  expired: 'the associated certificate is expired',
};

/** The CSR cleaner: a pass at start (awaited), then one every polling interval after the last ended (wait.Until). */
export class CsrCleaner {
  readonly #client: KubeClient;
  readonly #log: (m: string) => void;
  readonly #now: () => Date;
  readonly #timers: CsrCleanerTimers;
  readonly #intervalMs: number;
  readonly #csrs: Informer;
  #timer: unknown;
  #pass: Promise<void> | undefined;
  #stopped = false;

  constructor(opts: CsrCleanerOptions) {
    this.#client = opts.client;
    this.#log = opts.log ?? (() => {});
    this.#now = opts.now ?? (() => new Date());
    this.#timers = opts.timers ?? REAL_TIMERS;
    this.#intervalMs = opts.pollingIntervalMs ?? CSR_CLEANER_POLLING_INTERVAL_MS;
    this.#csrs = new Informer({ client: opts.client, resource: csrInfo, onError: (e) => this.#log(`csr cleaner: ${String(e)}`) });
  }

  async start(): Promise<void> {
    this.#csrs.start();
    await this.#csrs.waitForSync();
    this.#tick();
    await this.#pass;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) this.#timers.clearTimeout(this.#timer);
    await this.#csrs.stop();
    await this.#pass;
  }

  /** One pass over the cached CSRs; a failed delete is logged and the others still go. Resolves with the names deleted. */
  async clean(): Promise<string[]> {
    const deleted: string[] = [];
    const csrs = (this.#csrs.list() as unknown as CertificateSigningRequest[]).sort((a, b) => a.metadata!.name!.localeCompare(b.metadata!.name!));
    for (const csr of csrs) {
      const name = csr.metadata!.name!;
      const why = cleanupReason(csr, this.#now());
      if (!why) continue;
      this.#log(`csr cleaner: deleting CSR ${name} as ${MESSAGES[why]}`);
      try {
        await this.#client.delete(csrInfo, undefined, name);
        deleted.push(name);
      } catch (err) {
        if (err instanceof StatusError && err.code === 404) continue;
        this.#log(`csr cleaner: unable to delete CSR ${name}: ${String(err)}`);
      }
    }
    return deleted;
  }

  #tick(): void {
    if (this.#stopped) return;
    this.#pass = this.clean().then(() => {}, (e: unknown) => this.#log(`csr cleaner: ${String(e)}`)).finally(() => {
      if (!this.#stopped) this.#timer = this.#timers.setTimeout(() => this.#tick(), this.#intervalMs);
    });
  }
}
