// podgate's Ingress controller and L7 proxy. The controller reads Ingresses, IngressClasses,
// Services, EndpointSlices and Secrets through the Kubernetes client only, so it runs the same
// against podgate's API server or a real cluster.
export { IngressController, type IngressControllerOptions } from './controller.ts';
export { ProxyServer, type ProxyServerOptions } from './proxy-server.ts';
export { translate, CONTROLLER_NAME, type TranslateInput, type TranslateOptions } from './translate.ts';
export { Router, type Decision } from './router.ts';
export { isSameRouteTable, emptyRouteTable, type RouteTable, type Route, type RouteOptions, type Problem } from './route-table.ts';
export { parseAnnotations, ANNOTATION_PREFIX } from './annotations.ts';
export type { AccessEntry } from './http1-connection.ts';
