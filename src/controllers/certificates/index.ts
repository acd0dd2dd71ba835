// Node certificate approval and signing (certificates.k8s.io/v1 CSRs), for TLS bootstrap.
export { CertificateController, type CertificateControllerOptions } from './certificate-controller.ts';
export {
  approvalDecision, signerValidationError, signingRefusal, kubeletClientError, kubeletServingError, apiServerClientError,
  KUBELET_CLIENT_SIGNER, KUBELET_SERVING_SIGNER, APISERVER_CLIENT_SIGNER, SIGNER_NAMES, type ApprovalDecision,
} from './policy.ts';
