// Printers for networking.k8s.io/v1 and discovery.k8s.io/v1 kinds.
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.d.ts';
import type { Ingress, IngressClass, IngressRule } from 'kubernetes-types/networking/v1.d.ts';
import type { KObject } from '../object.ts';
import { descriptions as d } from './descriptions.ts';
import { since } from './duration.ts';
import { listWithMore, sortedSet } from './format.ts';
import { ageColumn, as, column, nameColumn, type KindPrinter } from './types.ts';

const name = (obj: KObject): string => obj.metadata?.name ?? '';
const age = (obj: KObject, now: Date): string => since(obj.metadata?.creationTimestamp, now);

/**
 * HOSTS: the first three rule hosts, "*" when no rule names one. The "+ N more..." count is
 * taken over all rules, host or not, as printers.go formatHosts does.
 */
export function formatHosts(rules: readonly IngressRule[] | undefined): string {
  const all = rules ?? [];
  const list: string[] = [];
  let more = false;
  for (const rule of all) {
    if (list.length === 3) more = true;
    if (!more && rule.host) list.push(rule.host);
  }
  if (list.length === 0) return '*';
  const text = list.join(',');
  return more ? `${text} + ${all.length - 3} more...` : text;
}

export const ingressPrinter: KindPrinter = {
  columns: [
    nameColumn(),
    column('Class', 'string', 'The name of the IngressClass resource that should be used for additional configuration'),
    column('Hosts', 'string', 'Hosts that incoming requests are matched against before the ingress rule'),
    column('Address', 'string', 'Address is a list containing ingress points for the load-balancer'),
    column('Ports', 'string', 'Ports of TLS configurations that open'),
    ageColumn(),
  ],
  print(obj, now) {
    const ing = as<Ingress>(obj);
    const spec = ing.spec ?? {};
    // Printed with Wide set on the server, so the address list is never clipped.
    const address = sortedSet((ing.status?.loadBalancer?.ingress ?? []).map(i => i.ip || i.hostname || '').filter(s => s !== '')).join(',');
    const ports = (spec.tls ?? []).length > 0 ? '80, 443' : '80';
    return { cells: [name(obj), spec.ingressClassName ?? '<none>', formatHosts(spec.rules), address, ports, age(obj, now)] };
  },
};

export const ingressClassPrinter: KindPrinter = {
  columns: [
    nameColumn(),
    column('Controller', 'string', 'Controller that is responsible for handling this class'),
    column('Parameters', 'string', 'A reference to a resource with additional parameters'),
    ageColumn(),
  ],
  print(obj, now) {
    const ic = as<IngressClass>(obj);
    const p = ic.spec?.parameters;
    const parameters = p ? `${p.kind}${p.apiGroup ? `.${p.apiGroup}` : ''}/${p.name}` : '<none>';
    return { cells: [name(obj), ic.spec?.controller ?? '', parameters, age(obj, now)] };
  },
};

export const endpointSlicePrinter: KindPrinter = {
  columns: [
    nameColumn(),
    column('AddressType', 'string', d.endpointSliceAddressType),
    column('Ports', 'string', d.endpointSlicePorts),
    column('Endpoints', 'string', d.endpointSliceEndpoints),
    ageColumn(),
  ],
  print(obj, now) {
    const slice = as<EndpointSlice>(obj);
    const ports = (slice.ports ?? []).map(p => (p.port !== undefined && p.port !== null ? String(p.port) : p.name ?? '*'));
    const addresses = (slice.endpoints ?? []).flatMap(e => e.addresses ?? []);
    return {
      cells: [name(obj), slice.addressType ?? '', listWithMore(ports, ports.length), listWithMore(addresses, addresses.length), age(obj, now)],
    };
  },
};
