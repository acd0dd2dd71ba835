// Node certificate approval and signing (certificates.k8s.io/v1 CSRs), for TLS bootstrap, and the cleaner of old CSRs.
export { CertificateController, type CertificateControllerOptions } from './certificate-controller.ts';
export {
  approvalDecision, signerValidationError, signingRefusal, kubeletClientError, kubeletServingError, apiServerClientError,
  KUBELET_CLIENT_SIGNER, KUBELET_SERVING_SIGNER, APISERVER_CLIENT_SIGNER, SIGNER_NAMES, type ApprovalDecision,
} from './policy.ts';
export {
  cleanupReason, CsrCleaner, type CleanupReason, type CsrCleanerOptions, type CsrCleanerTimers,
  APPROVED_EXPIRATION_MS, CSR_CLEANER_POLLING_INTERVAL_MS, DENIED_EXPIRATION_MS, PENDING_EXPIRATION_MS,
} from './csr-cleaner.ts';
