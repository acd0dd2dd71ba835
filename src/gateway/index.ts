// podgate's Gateway API controller (gateway.networking.k8s.io/v1 GatewayClass, Gateway, HTTPRoute, ReferenceGrant):
// pure translation into the ingress proxy's route table, statuses written through the client.
export { GatewaySource, type GatewaySourceOptions } from './gateway-source.ts';
export { translateGateway, GATEWAY_CONTROLLER_NAME, type GatewayInput, type GatewayOptions, type GatewayPlan } from './translate-gateway.ts';
export { mergeGatewayRoutes } from './merge-routes.ts';
