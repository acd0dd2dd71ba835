// Service validation (pkg/apis/core/validation ValidateService / ValidateServiceUpdate), minus
// what the registry does: clusterIP and nodePort allocation and range checks live there.
import type { Service, ServicePort } from 'kubernetes-types/core/v1.d.ts';
import type { FieldError } from '../errors.ts';
import type { KObject } from '../object.ts';
import { isDNS1123Label, isDNS1123Subdomain, isQualifiedName, isValidCIDR, isValidIP, isValidPortName, isValidPortNum, nonSpecialIPErrors, parseIP } from './format.ts';
import { child, duplicate, forbidden, goQuote, goSlice, index, invalid, notSupported, required } from './field-errors.ts';
import { nameIsDNS1035Label, validateLabels, validateObjectMeta, validateObjectMetaUpdate } from './object-meta.ts';

const supportedProtocols = ['SCTP', 'TCP', 'UDP'];
const supportedTypes = ['ClusterIP', 'ExternalName', 'LoadBalancer', 'NodePort'];
const supportedAffinity = ['ClientIP', 'None'];
const trafficPolicies = ['Cluster', 'Local'];
const ipFamilies = ['IPv4', 'IPv6'];
const ipFamilyPolicies = ['PreferDualStack', 'RequireDualStack', 'SingleStack'];
const maxClientIPAffinitySeconds = 86400;
const sourceRangesAnnotation = 'service.beta.kubernetes.io/load-balancer-source-ranges';

type Spec = NonNullable<Service['spec']>;

function specOf(obj: KObject): Spec {
  return ((obj as unknown as Service).spec ?? {}) as Spec;
}

function isHeadless(spec: Spec): boolean {
  const ips = spec.clusterIPs ?? [];
  return ips.length === 1 && ips[0] === 'None';
}

/** LoadBalancer, NodePort, or ClusterIP with externalIPs (apiservice.ExternallyAccessible). */
export function isExternallyAccessible(spec: Spec): boolean {
  return spec.type === 'LoadBalancer' || spec.type === 'NodePort' || (spec.type === 'ClusterIP' && (spec.externalIPs ?? []).length > 0);
}

function needsHealthCheck(spec: Spec): boolean {
  return spec.type === 'LoadBalancer' && spec.externalTrafficPolicy === 'Local';
}

/** The Go dump kube prints for a duplicate (protocol, port) pair. */
export function goServicePortKey(protocol: string, port: number): string {
  return `core.ServicePort{Name:"", Protocol:${goQuote(protocol)}, AppProtocol:(*string)(nil), Port:${port}, ` +
    'TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:""}, NodePort:0}';
}

function validatePortNumOrName(v: number | string | undefined, path: string): FieldError[] {
  if (typeof v === 'string') return isValidPortName(v).map((m) => invalid(path, v, m));
  const n = typeof v === 'number' ? v : 0;
  return isValidPortNum(n).map((m) => invalid(path, n, m));
}

function validateServicePort(sp: ServicePort, requireName: boolean, names: Set<string>, path: string): FieldError[] {
  const errs: FieldError[] = [];
  const name = sp.name ?? '';
  if (requireName && !name) {
    errs.push(required(child(path, 'name')));
  } else if (name) {
    for (const m of isDNS1123Label(name)) errs.push(invalid(child(path, 'name'), name, m));
    if (names.has(name)) errs.push(duplicate(child(path, 'name'), name));
    else names.add(name);
  }
  const port = sp.port ?? 0;
  for (const m of isValidPortNum(port)) errs.push(invalid(child(path, 'port'), port, m));
  if (!sp.protocol) errs.push(required(child(path, 'protocol')));
  else if (!supportedProtocols.includes(sp.protocol)) errs.push(notSupported(child(path, 'protocol'), sp.protocol, supportedProtocols));
  errs.push(...validatePortNumOrName(sp.targetPort, child(path, 'targetPort')));
  if (sp.appProtocol !== undefined) {
    for (const m of isQualifiedName(sp.appProtocol)) errs.push(invalid(child(path, 'appProtocol'), sp.appProtocol, m));
  }
  return errs;
}

function validateClientIPAffinityConfig(spec: Spec, path: string): FieldError[] {
  const why = 'when session affinity type is ClientIP';
  const cfg = spec.sessionAffinityConfig;
  if (!cfg) return [required(path, why)];
  if (!cfg.clientIP) return [required(child(path, 'clientIP'), why)];
  const t = cfg.clientIP.timeoutSeconds;
  const tp = child(child(path, 'clientIP'), 'timeoutSeconds');
  if (t === undefined || t === null) return [required(tp, why)];
  if (t <= 0 || t > maxClientIPAffinitySeconds) return [invalid(tp, t, `must be greater than 0 and less than ${maxClientIPAffinitySeconds}`)];
  return [];
}

function validateClusterIPsRelatedFields(spec: Spec): FieldError[] {
  if (spec.type === 'ExternalName') return [];
  const errs: FieldError[] = [];
  const ipsPath = 'spec.clusterIPs';
  const ips = spec.clusterIPs ?? [];
  const rendered = goSlice('string', spec.clusterIPs);
  if (spec.clusterIP) {
    if (ips.length === 0) errs.push(required(ipsPath));
    else if (ips[0] !== spec.clusterIP) errs.push(invalid(ipsPath, ips, 'first value must match `clusterIP`', rendered));
  } else if (ips.length !== 0) {
    errs.push(invalid(ipsPath, ips, 'must be empty when `clusterIP` is not specified', rendered));
  }
  const seen = new Set<string>();
  (spec.ipFamilies ?? []).forEach((f, i) => {
    const p = index('spec.ipFamilies', i);
    if (!ipFamilies.includes(f)) errs.push(notSupported(p, f, ipFamilies));
    if (seen.has(f)) errs.push(duplicate(p, f));
    seen.add(f);
  });
  if (spec.ipFamilyPolicy !== undefined && spec.ipFamilyPolicy !== null && !ipFamilyPolicies.includes(spec.ipFamilyPolicy)) {
    errs.push(notSupported('spec.ipFamilyPolicy', spec.ipFamilyPolicy, ipFamilyPolicies));
  }
  let hasInvalid = false;
  ips.forEach((ip, i) => {
    if (i === 0 && ip === 'None') {
      if (ips.length > 1) {
        hasInvalid = true;
        errs.push(invalid(ipsPath, ips, "'None' must be the first and only value", rendered));
      }
      return;
    }
    const msgs = isValidIP(ip);
    if (msgs.length) hasInvalid = true;
    for (const m of msgs) errs.push(invalid(index(ipsPath, i), ip, m));
  });
  if (ips.length > 2) errs.push(invalid(ipsPath, ips, 'may only hold up to 2 values', rendered));
  if (hasInvalid) return errs;
  if (ips.length > 1) {
    const fams = ips.map((ip) => parseIP(ip)?.family);
    if (ips.length !== 2 || fams[0] === fams[1]) errs.push(invalid(ipsPath, ips, 'may specify no more than one IP for each IP family', rendered));
  }
  const fams = spec.ipFamilies ?? [];
  if (!isHeadless(spec) && ips.length > 0 && fams.length > 0) {
    ips.forEach((ip, i) => {
      if (i > fams.length - 1) return;
      const v6 = parseIP(ip)?.family === 6;
      if (fams[i] === 'IPv4' && v6) errs.push(invalid(index(ipsPath, i), ip, `expected an IPv4 value as indicated by \`ipFamilies[${i}]\``));
      if (fams[i] === 'IPv6' && !v6) errs.push(invalid(index(ipsPath, i), ip, `expected an IPv6 value as indicated by \`ipFamilies[${i}]\``));
    });
  }
  return errs;
}

function validateLoadBalancerClass(spec: Spec, old?: Spec): FieldError[] {
  const errs: FieldError[] = [];
  const cls = spec.loadBalancerClass;
  const p = 'spec.loadBalancerClass';
  if (old) {
    // An existing LoadBalancer keeps its class; other transitions are checked as on create.
    if (old.type === 'LoadBalancer' && spec.type === 'LoadBalancer' && (old.loadBalancerClass ?? null) !== (cls ?? null)) {
      errs.push(invalid(p, cls ?? null, 'may not change once set'));
    }
    return errs;
  }
  if (cls !== undefined && cls !== null) {
    if (spec.type !== 'LoadBalancer') errs.push(forbidden(p, 'may only be used when `type` is \'LoadBalancer\''));
    else for (const m of isQualifiedName(cls)) errs.push(invalid(p, cls, m));
  }
  return errs;
}

function validateExternalTrafficPolicy(spec: Spec): FieldError[] {
  const errs: FieldError[] = [];
  const etp = spec.externalTrafficPolicy ?? '';
  if (!isExternallyAccessible(spec)) {
    // v1.25 words it by type although ClusterIP with externalIPs is accepted too.
    if (etp) errs.push(invalid('spec.externalTrafficPolicy', etp, "may only be set when `type` is 'NodePort' or 'LoadBalancer'"));
  } else if (!etp) {
    errs.push(required('spec.externalTrafficPolicy'));
  } else if (!trafficPolicies.includes(etp)) {
    errs.push(notSupported('spec.externalTrafficPolicy', etp, trafficPolicies));
  }
  const hc = spec.healthCheckNodePort ?? 0;
  if (!needsHealthCheck(spec)) {
    if (hc !== 0) errs.push(invalid('spec.healthCheckNodePort', hc, "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'"));
  }
  // healthCheckNodePort is allocated by the registry when it is needed and left unset.
  else if (hc !== 0) for (const m of isValidPortNum(hc)) errs.push(invalid('spec.healthCheckNodePort', hc, m));
  return errs;
}

/** ValidateService: every rule that does not need the allocators. */
export function validateService(obj: KObject): FieldError[] {
  const errs = validateObjectMeta(obj.metadata, { namespaced: true, nameFn: nameIsDNS1035Label });
  const spec = specOf(obj);
  const ports = spec.ports ?? [];
  const headless = isHeadless(spec);
  if (ports.length === 0 && !headless && spec.type !== 'ExternalName') errs.push(required('spec.ports'));
  switch (spec.type) {
    case 'LoadBalancer':
      if (headless) errs.push(invalid('spec.clusterIPs[0]', 'None', "may not be set to 'None' for LoadBalancer services"));
      break;
    case 'NodePort':
      if (headless) errs.push(invalid('spec.clusterIPs[0]', 'None', "may not be set to 'None' for NodePort services"));
      break;
    case 'ExternalName': {
      if ((spec.clusterIPs ?? []).length > 0) errs.push(forbidden('spec.clusterIPs', 'may not be set for ExternalName services'));
      if ((spec.ipFamilies ?? []).length > 0) errs.push(forbidden('spec.ipFamilies', 'may not be set for ExternalName services'));
      if (spec.ipFamilyPolicy !== undefined && spec.ipFamilyPolicy !== null) errs.push(forbidden('spec.ipFamilyPolicy', 'may not be set for ExternalName services'));
      const cname = (spec.externalName ?? '').replace(/\.$/, '');
      if (cname) for (const m of isDNS1123Subdomain(cname)) errs.push(invalid('spec.externalName', cname, m));
      else errs.push(required('spec.externalName'));
      break;
    }
  }
  const names = new Set<string>();
  ports.forEach((p, i) => errs.push(...validateServicePort(p, ports.length > 1, names, index('spec.ports', i))));
  if (spec.selector) errs.push(...validateLabels(spec.selector, 'spec.selector'));
  if (!spec.sessionAffinity) errs.push(required('spec.sessionAffinity'));
  else if (!supportedAffinity.includes(spec.sessionAffinity)) errs.push(notSupported('spec.sessionAffinity', spec.sessionAffinity, supportedAffinity));
  if (spec.sessionAffinity === 'ClientIP') {
    errs.push(...validateClientIPAffinityConfig(spec, 'spec.sessionAffinityConfig'));
  } else if (spec.sessionAffinity === 'None' && spec.sessionAffinityConfig) {
    errs.push(forbidden('spec.sessionAffinityConfig', 'must not be set when session affinity is None'));
  }
  errs.push(...validateClusterIPsRelatedFields(spec));
  (spec.externalIPs ?? []).forEach((ip, i) => {
    const p = index('spec.externalIPs', i);
    const msgs = isValidIP(ip);
    if (msgs.length) for (const m of msgs) errs.push(invalid(p, ip, m));
    else for (const m of nonSpecialIPErrors(ip)) errs.push(invalid(p, ip, m));
  });
  if (!spec.type) errs.push(required('spec.type'));
  else if (!supportedTypes.includes(spec.type)) errs.push(notSupported('spec.type', spec.type, supportedTypes));
  if (spec.type === 'ClusterIP') {
    ports.forEach((p, i) => {
      if (p.nodePort) errs.push(forbidden(child(index('spec.ports', i), 'nodePort'), "may not be used when `type` is 'ClusterIP'"));
    });
  }
  const nodePorts = new Set<string>();
  ports.forEach((p, i) => {
    if (!p.nodePort) return;
    const k = `${p.protocol ?? ''}/${p.nodePort}`;
    if (nodePorts.has(k)) errs.push(duplicate(child(index('spec.ports', i), 'nodePort'), p.nodePort));
    nodePorts.add(k);
  });
  const portKeys = new Set<string>();
  ports.forEach((p, i) => {
    const k = `${p.protocol ?? ''}/${p.port ?? 0}`;
    if (portKeys.has(k)) errs.push(duplicate(index('spec.ports', i), null, goServicePortKey(p.protocol ?? '', p.port ?? 0)));
    portKeys.add(k);
  });
  errs.push(...validateSourceRanges(obj, spec));
  if (spec.allocateLoadBalancerNodePorts !== undefined && spec.allocateLoadBalancerNodePorts !== null && spec.type !== 'LoadBalancer') {
    errs.push(forbidden('spec.allocateLoadBalancerNodePorts', "may only be used when `type` is 'LoadBalancer'"));
  }
  if (spec.type === 'LoadBalancer' && (spec.allocateLoadBalancerNodePorts === undefined || spec.allocateLoadBalancerNodePorts === null)) {
    // kube reports this one without the `spec.` prefix.
    errs.push(required('allocateLoadBalancerNodePorts'));
  }
  errs.push(...validateLoadBalancerClass(spec));
  errs.push(...validateExternalTrafficPolicy(spec));
  const itp = spec.internalTrafficPolicy;
  if (itp === undefined || itp === null) {
    if (spec.type === 'NodePort' || spec.type === 'LoadBalancer' || spec.type === 'ClusterIP') errs.push(required('spec.internalTrafficPolicy'));
  } else if (!trafficPolicies.includes(itp)) {
    errs.push(notSupported('spec.internalTrafficPolicy', itp, trafficPolicies));
  }
  return errs;
}

function validateSourceRanges(obj: KObject, spec: Spec): FieldError[] {
  const errs: FieldError[] = [];
  const ranges = spec.loadBalancerSourceRanges ?? [];
  const annotation = obj.metadata.annotations?.[sourceRangesAnnotation];
  if (ranges.length === 0 && annotation === undefined) return errs;
  let path: string;
  let val: string;
  let list: string[];
  if (ranges.length > 0) {
    path = 'spec.LoadBalancerSourceRanges';
    val = `[${ranges.join(' ')}]`;
    list = ranges;
  } else {
    path = `metadata.annotations[${sourceRangesAnnotation}]`;
    val = annotation ?? '';
    list = val.trim() === '' ? [] : val.trim().split(',');
  }
  if (spec.type !== 'LoadBalancer') errs.push(forbidden(path, "may only be used when `type` is 'LoadBalancer'"));
  if (list.some((r) => !isValidCIDR(r.trim()))) errs.push(invalid(path, val, 'must be a list of IP ranges. For example, 10.240.0.0/24,10.250.0.0/24 '));
  return errs;
}

function validateUpgradeDowngradeClusterIPs(old: Spec, spec: Spec): FieldError[] {
  const errs: FieldError[] = [];
  if (spec.type === 'ExternalName' || old.type === 'ExternalName') return errs;
  if (isHeadless(old) && isHeadless(spec)) return errs;
  const o = old.clusterIPs ?? [];
  const n = spec.clusterIPs ?? [];
  const rendered = goSlice('string', spec.clusterIPs);
  const p0 = 'spec.clusterIPs[0]';
  if (o.length === n.length) {
    o.forEach((ip, i) => {
      if (ip !== n[i]) errs.push(invalid(index('spec.clusterIPs', i), n, 'may not change once set', rendered));
    });
  } else if (o.length > n.length) {
    if (n.length === 0) errs.push(invalid(p0, n, 'primary clusterIP can not be unset', rendered));
    if (o.length > 0 && n.length > 0 && n[0] !== o[0]) errs.push(invalid(p0, n, 'may not change once set', rendered));
    if (n.length === 1 && spec.ipFamilyPolicy !== 'SingleStack') {
      errs.push(invalid(p0, n, "`ipFamilyPolicy` must be set to 'SingleStack' when releasing the secondary clusterIP", rendered));
    }
  } else if (o.length > 0 && n[0] !== o[0]) {
    errs.push(invalid(p0, n, 'may not change once set', rendered));
  }
  return errs;
}

function validateUpgradeDowngradeIPFamilies(old: Spec, spec: Spec): FieldError[] {
  const errs: FieldError[] = [];
  if (spec.type === 'ExternalName' || old.type === 'ExternalName') return errs;
  const o = old.ipFamilies ?? [];
  const n = spec.ipFamilies ?? [];
  const rendered = goSlice('core.IPFamily', spec.ipFamilies);
  const p0 = 'spec.ipFamilies[0]';
  if (o.length === n.length) {
    o.forEach((f, i) => {
      if (f !== n[i]) errs.push(invalid(p0, n, 'may not change once set', rendered));
    });
  } else if (o.length > n.length) {
    if (n.length === 0) errs.push(invalid(p0, n, 'primary ipFamily can not be unset', rendered));
    if (o.length > 0 && n.length > 0 && n[0] !== o[0]) errs.push(invalid(p0, n, 'may not change once set', rendered));
    if (n.length === 1 && spec.ipFamilyPolicy !== 'SingleStack') {
      errs.push(invalid(p0, n, "`ipFamilyPolicy` must be set to 'SingleStack' when releasing the secondary ipFamily", rendered));
    }
  } else if (o.length > 0 && n[0] !== o[0]) {
    errs.push(invalid(p0, n, 'may not change once set', rendered));
  }
  return errs;
}

/** ValidateServiceUpdate: clusterIPs and ipFamilies stay as allocated, then the create rules. */
export function validateServiceUpdate(obj: KObject, old: KObject): FieldError[] {
  const spec = specOf(obj);
  const oldSpec = specOf(old);
  const errs = validateObjectMetaUpdate(obj.metadata, old.metadata);
  errs.push(...validateUpgradeDowngradeClusterIPs(oldSpec, spec));
  errs.push(...validateUpgradeDowngradeIPFamilies(oldSpec, spec));
  errs.push(...validateLoadBalancerClass(spec, oldSpec));
  if (needsHealthCheck(oldSpec) && needsHealthCheck(spec) && (spec.healthCheckNodePort ?? 0) !== (oldSpec.healthCheckNodePort ?? 0)) {
    errs.push(forbidden('spec.healthCheckNodePort', 'field is immutable'));
  }
  // ValidateService re-checks metadata; on update kube skips the create-only name rules.
  errs.push(...validateService(obj).filter((e) => !e.field.startsWith('metadata.')));
  return errs;
}
