// discovery.k8s.io/v1 EndpointSlice (pkg/apis/discovery/validation).
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.d.ts';
import type { FieldError } from '../errors.ts';
import type { KObject } from '../object.ts';
import { isDNS1123Label, isDNS1123Subdomain, isQualifiedName, parseIP, nonSpecialIPErrors } from './format.ts';
import { child, duplicate, index, invalid, notSupported, required, tooMany } from './field-errors.ts';
import { nameIsDNSSubdomain, validateLabels, validateObjectMeta, validateObjectMetaUpdate } from './object-meta.ts';

const addressTypes = ['FQDN', 'IPv4', 'IPv6'];
const supportedProtocols = ['SCTP', 'TCP', 'UDP'];

function validateFQDN(path: string, v: string): FieldError[] {
  if (!v) return [required(path)];
  const msgs = isDNS1123Subdomain(v);
  if (msgs.length) return [invalid(path, v, msgs.join(','))];
  if (v.split('.').length < 2) return [invalid(path, v, 'should be a domain with at least two segments separated by dots')];
  for (const label of v.split('.')) {
    const lm = isDNS1123Label(label);
    if (lm.length) return [invalid(path, label, lm.join(','))];
  }
  return [];
}

export function validateEndpointSlice(obj: KObject): FieldError[] {
  const s = obj as unknown as EndpointSlice;
  const errs = validateObjectMeta(obj.metadata, { namespaced: true, nameFn: nameIsDNSSubdomain });
  const at = s.addressType ?? '';
  if (!at) errs.push(required('addressType'));
  else if (!addressTypes.includes(at)) errs.push(notSupported('addressType', at, addressTypes));
  const endpoints = s.endpoints ?? [];
  if (endpoints.length > 1000) {
    errs.push(tooMany('endpoints', endpoints.length, 1000));
  } else {
    endpoints.forEach((ep, i) => {
      const p = index('endpoints', i);
      const ap = child(p, 'addresses');
      const addrs = ep.addresses ?? [];
      if (addrs.length === 0) errs.push(required(ap, 'must contain at least 1 address'));
      else if (addrs.length > 100) errs.push(tooMany(ap, addrs.length, 100));
      addrs.forEach((a, j) => {
        const aip = index(ap, j);
        if (at === 'IPv4' || at === 'IPv6') {
          const ip = parseIP(a);
          const fam = at === 'IPv4' ? 4 : 6;
          if (!ip || ip.family !== fam) errs.push(invalid(aip, a, `must be a valid ${at} address`));
          for (const m of nonSpecialIPErrors(a)) errs.push(invalid(aip, a, m));
        } else if (at === 'FQDN') {
          errs.push(...validateFQDN(aip, a));
        }
      });
      if (ep.nodeName) for (const m of nameIsDNSSubdomain(ep.nodeName, false)) errs.push(invalid(child(p, 'nodeName'), ep.nodeName, m));
      const topo = ep.deprecatedTopology ?? {};
      if (Object.keys(topo).length > 16) errs.push(tooMany(child(p, 'deprecatedTopology'), Object.keys(topo).length, 16));
      errs.push(...validateLabels(topo, child(p, 'deprecatedTopology')));
      if (ep.hostname) for (const m of isDNS1123Label(ep.hostname)) errs.push(invalid(child(p, 'hostname'), ep.hostname, m));
    });
  }
  const ports = s.ports ?? [];
  if (ports.length > 20000) {
    errs.push(tooMany('ports', ports.length, 20000));
    return errs;
  }
  const names = new Set<string>();
  ports.forEach((port, i) => {
    const p = index('ports', i);
    const name = port.name ?? '';
    if (name) for (const m of isDNS1123Label(name)) errs.push(invalid(child(p, 'name'), name, m));
    if (names.has(name)) errs.push(duplicate(child(p, 'name'), name));
    else names.add(name);
    if (!port.protocol) errs.push(required(child(p, 'protocol')));
    else if (!supportedProtocols.includes(port.protocol)) errs.push(notSupported(child(p, 'protocol'), port.protocol, supportedProtocols));
    if (port.appProtocol !== undefined) for (const m of isQualifiedName(port.appProtocol)) errs.push(invalid(child(p, 'appProtocol'), port.appProtocol, m));
  });
  return errs;
}

export function validateEndpointSliceUpdate(obj: KObject, old: KObject): FieldError[] {
  const errs = validateObjectMetaUpdate(obj.metadata, old.metadata);
  errs.push(...validateEndpointSlice(obj).filter((e) => !e.field.startsWith('metadata.')));
  const at = (obj as unknown as EndpointSlice).addressType;
  const oat = (old as unknown as EndpointSlice).addressType;
  if (at !== oat) errs.push(invalid('addressType', at ?? '', 'field is immutable'));
  return errs;
}
