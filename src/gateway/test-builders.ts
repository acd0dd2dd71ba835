// Object builders for the Gateway API tests.
import type { Gateway, GatewayClass, HTTPRoute } from './translate-gateway.ts';

let clock = 0;
const stamp = () => new Date(Date.UTC(2026, 0, 1) + (clock++) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');

export function makeGatewayClass(name: string, controllerName = 'podgate.io/gateway-controller'): GatewayClass {
  return { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'GatewayClass', metadata: { name, generation: 1 }, spec: { controllerName } };
}

type Listeners = NonNullable<Gateway['spec']>['listeners'];
export function makeGateway(ns: string, name: string, listeners: Listeners, className = 'podgate'): Gateway {
  return { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { namespace: ns, name, generation: 1, creationTimestamp: stamp() }, spec: { gatewayClassName: className, listeners } };
}

export function makeRoute(ns: string, name: string, spec: HTTPRoute['spec'], creationTimestamp = stamp()): HTTPRoute {
  return { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { namespace: ns, name, generation: 1, creationTimestamp }, spec };
}
