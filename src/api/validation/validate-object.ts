// Entry point: the validation kube-apiserver runs for each served kind, on create (no `old`)
// or on update (with the stored object). Objects arrive defaulted and, for Ingress, already
// converted to networking.k8s.io/v1.
import type { FieldError } from '../errors.ts';
import type { KObject } from '../object.ts';
import { validateCertificateSigningRequest, validateCertificateSigningRequestUpdate } from './certificates.ts';
import { validateDeployment, validateDeploymentUpdate, validateReplicaSet, validateReplicaSetUpdate } from './apps.ts';
import { validateConfigMap, validateConfigMapUpdate, validateEndpoints, validateEndpointsUpdate, validateEvent, validateNamespace, validateNamespaceUpdate, validateNode, validateNodeUpdate, validateSecret, validateSecretUpdate, validateServiceAccount } from './core-kinds.ts';
import { validateEndpointSlice, validateEndpointSliceUpdate } from './endpoint-slice.ts';
import { validateIngress, validateIngressClass, validateIngressClassUpdate, validateIngressUpdate } from './ingress.ts';
import { nameIsDNSSubdomain, validateObjectMeta, validateObjectMetaUpdate } from './object-meta.ts';
import { validatePod, validatePodUpdate } from './pod.ts';
import { validateService, validateServiceUpdate } from './service.ts';

type Create = (obj: KObject) => FieldError[];
type Update = (obj: KObject, old: KObject, subresource?: string) => FieldError[];

const metaOnlyUpdate: Update = (obj, old) => validateObjectMetaUpdate(obj.metadata, old.metadata);

const validators: Record<string, { create: Create; update: Update }> = {
  '/Namespace': { create: validateNamespace, update: validateNamespaceUpdate },
  '/Pod': { create: validatePod, update: validatePodUpdate },
  '/Service': { create: validateService, update: validateServiceUpdate },
  '/Endpoints': { create: validateEndpoints, update: validateEndpointsUpdate },
  '/Node': { create: validateNode, update: validateNodeUpdate },
  '/Secret': { create: validateSecret, update: validateSecretUpdate },
  '/ConfigMap': { create: validateConfigMap, update: validateConfigMapUpdate },
  '/Event': { create: validateEvent, update: (obj, old) => [...metaOnlyUpdate(obj, old), ...validateEvent(obj).filter((e) => !e.field.startsWith('metadata.'))] },
  '/ServiceAccount': { create: validateServiceAccount, update: metaOnlyUpdate },
  'discovery.k8s.io/EndpointSlice': { create: validateEndpointSlice, update: validateEndpointSliceUpdate },
  'networking.k8s.io/Ingress': { create: validateIngress, update: validateIngressUpdate },
  'networking.k8s.io/IngressClass': { create: validateIngressClass, update: validateIngressClassUpdate },
  'apps/Deployment': { create: validateDeployment, update: validateDeploymentUpdate },
  'apps/ReplicaSet': { create: validateReplicaSet, update: validateReplicaSetUpdate },
  'certificates.k8s.io/CertificateSigningRequest': { create: validateCertificateSigningRequest, update: validateCertificateSigningRequestUpdate },
};

/**
 * Validates `obj` of `kind` in API group `group` ('' for core) as kube-apiserver would on
 * create, or on update when `old` is given. Returns the field errors in kube's order; an empty
 * list means valid. Unknown kinds get the generic ObjectMeta checks only. `subresource` names the
 * endpoint of an update (`status`, `approval`) for kinds whose rules differ by it.
 */
export function validateObject(kind: string, group: string, obj: KObject, old?: KObject, subresource?: string): FieldError[] {
  const v = validators[`${group}/${kind}`];
  if (!v) {
    if (old) return validateObjectMetaUpdate(obj.metadata, old.metadata);
    return validateObjectMeta(obj.metadata, { namespaced: !!obj.metadata.namespace, nameFn: nameIsDNSSubdomain });
  }
  return old ? v.update(obj, old, subresource) : v.create(obj);
}
