// Puts the Gateway API's hosts into the route table the Ingresses made. Pure.
import type { HostRoutes, RouteTable } from '../ingress/route-table.ts';
import type { GatewayPlan } from './translate-gateway.ts';

/**
 * The table with each host's HTTPRoute rules added: on a host an Ingress also names, the rules go
 * beside its paths (an Ingress path that matches wins; the rules answer what no Ingress path
 * matched, before the host's defaultBackend); other hosts are added. A listener certificate is
 * used for a host no Ingress gives one.
 */
export function mergeGatewayRoutes(table: RouteTable, plan: GatewayPlan): RouteTable {
  if (!plan.hosts.length && !plan.certificates.length) return table;
  const hosts = new Map<string, HostRoutes>(table.hosts.map((h) => [h.host, h]));
  for (const g of plan.hosts) {
    const h = hosts.get(g.host);
    hosts.set(g.host, h ? { ...h, gateway: g.rules } : { host: g.host, routes: [], tls: false, gateway: g.rules });
  }
  const covered = new Set(table.certificates.flatMap((c) => c.hosts));
  const certificates = [...table.certificates, ...plan.certificates.map((c) => ({ ...c, hosts: c.hosts.filter((h) => !covered.has(h)) })).filter((c) => c.hosts.length > 0)];
  return { ...table, hosts: [...hosts.values()].sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : 0)), certificates };
}
