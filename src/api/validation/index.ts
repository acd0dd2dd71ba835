export { validateObject } from './validate-object.ts';
export { validateService, validateServiceUpdate, goServicePortKey, isExternallyAccessible } from './service.ts';
export { validatePod, validatePodUpdate, validatePodSpec, validateTolerations, podUpdatableFieldsMessage } from './pod.ts';
export { validateNamespace, validateNamespaceUpdate, validateConfigMap, validateConfigMapUpdate, validateSecret, validateSecretUpdate, validateEndpoints, validateEndpointsUpdate, validateNode, validateNodeUpdate, validateEvent, validateServiceAccount } from './core-kinds.ts';
export { validateEndpointSlice, validateEndpointSliceUpdate } from './endpoint-slice.ts';
export { validateIngress, validateIngressUpdate, validateIngressClass, validateIngressClassUpdate } from './ingress.ts';
export { validateObjectMeta, validateObjectMetaUpdate, validateLabels, validateAnnotations, nameIsDNSSubdomain, nameIsDNSLabel, nameIsDNS1035Label, type NameValidator } from './object-meta.ts';
export * as format from './format.ts';
export { validateDeployment, validateDeploymentUpdate, validateReplicaSet, validateReplicaSetUpdate, validateScale } from './apps.ts';
