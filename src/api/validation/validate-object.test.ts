// Table tests per kind, built from small object builders; messages are kube's, verbatim.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KObject } from '../object.ts';
import { applyDefaults } from '../defaults/apply-defaults.ts';
import { validateObject } from './validate-object.ts';

type Edit = (o: Record<string, any>) => void;

function make(apiVersion: string, kind: string, ns: string | undefined, name: string, spec: Record<string, unknown>, edit?: Edit): KObject {
  const o: Record<string, any> = { apiVersion, kind, metadata: { name, ...(ns ? { namespace: ns } : {}) }, ...spec };
  edit?.(o);
  return o as KObject;
}
const group = (apiVersion: string) => (apiVersion.includes('/') ? apiVersion.split('/')[0]! : '');
const makeService = (name: string, edit?: Edit) => make('v1', 'Service', 'default', name, { spec: { selector: { app: 'x' }, ports: [{ port: 80 }] } }, edit);
const makePod = (name: string, edit?: Edit) => make('v1', 'Pod', 'default', name, { spec: { containers: [{ name: 'c', image: 'nginx' }] } }, edit);
const makeIngress = (name: string, edit?: Edit) => make('networking.k8s.io/v1', 'Ingress', 'default', name, {
  spec: { rules: [{ host: 'example.com', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'web', port: { number: 80 } } } }] } }] },
}, edit);

/** The messages validation produces for a freshly defaulted object, as `field: message`. */
function messages(obj: KObject, old?: KObject): string[] {
  if (!old) applyDefaults(obj.kind, group(obj.apiVersion), obj);
  return validateObject(obj.kind, group(obj.apiVersion), obj, old).map((e) => `${e.field}: ${e.message}`);
}

const cases: { name: string; obj: () => KObject; want: string[] }[] = [
  { name: 'a plain service is valid', obj: () => makeService('web'), want: [] },
  { name: 'unsupported protocol', obj: () => makeService('web', (o) => { o.spec.ports[0].protocol = 'HTTP'; }),
    want: ['spec.ports[0].protocol: Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"'] },
  { name: 'unsupported type', obj: () => makeService('web', (o) => { o.spec.type = 'Magic'; }),
    want: ['spec.type: Unsupported value: "Magic": supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"'] },
  { name: 'same port on TCP and UDP is fine', obj: () => makeService('dns', (o) => { o.spec.ports = [{ name: 'a', port: 53 }, { name: 'b', port: 53, protocol: 'UDP' }]; }), want: [] },
  { name: 'headless service needs no ports', obj: () => makeService('h', (o) => { o.spec.clusterIP = 'None'; delete o.spec.ports; }), want: [] },
  { name: 'headless NodePort', obj: () => makeService('h', (o) => { o.spec.clusterIP = 'None'; o.spec.type = 'NodePort'; }),
    want: ['spec.clusterIPs[0]: Invalid value: "None": may not be set to \'None\' for NodePort services'] },
  { name: 'ExternalName with an invalid name', obj: () => makeService('ext', (o) => { o.spec = { type: 'ExternalName', externalName: 'Bad_Host.' }; }),
    want: ["spec.externalName: Invalid value: \"Bad_Host\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"] },
  { name: 'ExternalName with a trailing dot is valid', obj: () => makeService('ext', (o) => { o.spec = { type: 'ExternalName', externalName: 'db.example.com.' }; }), want: [] },
  { name: 'LoadBalancer with Local policy is valid', obj: () => makeService('lb', (o) => { o.spec.type = 'LoadBalancer'; o.spec.externalTrafficPolicy = 'Local'; }), want: [] },
  { name: 'bad externalTrafficPolicy value', obj: () => makeService('np', (o) => { o.spec.type = 'NodePort'; o.spec.externalTrafficPolicy = 'Global'; }),
    want: ['spec.externalTrafficPolicy: Unsupported value: "Global": supported values: "Cluster", "Local"'] },
  { name: 'sessionAffinity timeout out of range', obj: () => makeService('web', (o) => { o.spec.sessionAffinity = 'ClientIP'; o.spec.sessionAffinityConfig = { clientIP: { timeoutSeconds: 0 } }; }),
    want: ['spec.sessionAffinityConfig.clientIP.timeoutSeconds: Invalid value: 0: must be greater than 0 and less than 86400'] },
  { name: 'sessionAffinity timeout too large', obj: () => makeService('web', (o) => { o.spec.sessionAffinity = 'ClientIP'; o.spec.sessionAffinityConfig = { clientIP: { timeoutSeconds: 90000 } }; }),
    want: ['spec.sessionAffinityConfig.clientIP.timeoutSeconds: Invalid value: 90000: must be greater than 0 and less than 86400'] },
  { name: 'unsupported sessionAffinity', obj: () => makeService('web', (o) => { o.spec.sessionAffinity = 'Sticky'; }),
    want: ['spec.sessionAffinity: Unsupported value: "Sticky": supported values: "ClientIP", "None"'] },
  { name: 'ipFamilies value', obj: () => makeService('web', (o) => { o.spec.ipFamilies = ['IPv5']; }),
    want: ['spec.ipFamilies[0]: Unsupported value: "IPv5": supported values: "IPv4", "IPv6"'] },
  { name: 'clusterIP not an IP', obj: () => makeService('web', (o) => { o.spec.clusterIP = '10.96.0.300'; }),
    want: ['spec.clusterIPs[0]: Invalid value: "10.96.0.300": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)'] },
  { name: 'externalIP loopback', obj: () => makeService('web', (o) => { o.spec.externalIPs = ['127.0.0.1']; }),
    want: ['spec.externalIPs[0]: Invalid value: "127.0.0.1": may not be in the loopback range (127.0.0.0/8, ::1/128)'] },
  { name: 'duplicate nodePort', obj: () => makeService('np', (o) => { o.spec.type = 'NodePort'; o.spec.ports = [{ name: 'a', port: 80, nodePort: 30080 }, { name: 'b', port: 81, nodePort: 30080 }]; }),
    want: ['spec.ports[1].nodePort: Duplicate value: 30080'] },
  { name: 'allocateLoadBalancerNodePorts on ClusterIP', obj: () => makeService('web', (o) => { o.spec.allocateLoadBalancerNodePorts = false; }),
    want: ["spec.allocateLoadBalancerNodePorts: Forbidden: may only be used when `type` is 'LoadBalancer'"] },
  { name: 'loadBalancerSourceRanges on ClusterIP', obj: () => makeService('web', (o) => { o.spec.loadBalancerSourceRanges = ['10.0.0.0/8']; }),
    want: ["spec.LoadBalancerSourceRanges: Forbidden: may only be used when `type` is 'LoadBalancer'"] },
  { name: 'generateName with a trailing dash is valid', obj: () => makeService('', (o) => { o.metadata = { generateName: 'web-', namespace: 'default', name: 'web-abcde' }; }), want: [] },
  { name: 'service name too long', obj: () => makeService('a'.repeat(64)),
    want: [`metadata.name: Invalid value: "${'a'.repeat(64)}": must be no more than 63 characters`] },
  { name: 'missing name', obj: () => makeService('', (o) => { delete o.metadata.name; }),
    want: ['metadata.name: Required value: name or generateName is required'] },
  { name: 'bad label key and value', obj: () => makeService('web', (o) => { o.metadata.labels = { 'a/b/c': 'ok', app: 'bad value' }; }),
    want: [
      "metadata.labels: Invalid value: \"a/b/c\": a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
      "metadata.labels: Invalid value: \"bad value\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
    ] },
  { name: 'bad annotation key prefix', obj: () => makeService('web', (o) => { o.metadata.annotations = { 'Bad_Prefix/x': 'v' }; }),
    want: ["metadata.annotations: Invalid value: \"Bad_Prefix/x\": prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"] },
  { name: 'annotations over 256 KiB', obj: () => makeService('web', (o) => { o.metadata.annotations = { big: 'x'.repeat(256 * 1024) }; }),
    want: ['metadata.annotations: Too long: must have at most 262144 bytes'] },

  { name: 'a plain pod is valid', obj: () => makePod('p'), want: [] },
  { name: 'pod without containers', obj: () => makePod('p', (o) => { o.spec.containers = []; }), want: ['spec.containers: Required value'] },
  { name: 'container without image, bad name', obj: () => makePod('p', (o) => { o.spec.containers = [{ name: 'Web' }]; }),
    want: [
      "spec.containers[0].name: Invalid value: \"Web\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
      'spec.containers[0].image: Required value',
    ] },
  { name: 'duplicate container names', obj: () => makePod('p', (o) => { o.spec.containers.push({ name: 'c', image: 'x' }); }),
    want: ['spec.containers[1].name: Duplicate value: "c"'] },
  { name: 'container port name too long and duplicate', obj: () => makePod('p', (o) => { o.spec.containers[0].ports = [{ name: 'http', containerPort: 80 }, { name: 'http', containerPort: 81 }, { name: 'abcdefghijklmnopq', containerPort: 82 }]; }),
    want: ['spec.containers[0].ports[1].name: Duplicate value: "http"', 'spec.containers[0].ports[2].name: Invalid value: "abcdefghijklmnopq": must be no more than 15 characters'] },
  { name: 'containerPort and hostPort out of range', obj: () => makePod('p', (o) => { o.spec.containers[0].ports = [{ containerPort: 70000, hostPort: 70000 }]; }),
    want: ['spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive', 'spec.containers[0].ports[0].hostPort: Invalid value: 70000: must be between 1 and 65535, inclusive'] },
  { name: 'same hostPort on UDP and TCP is fine', obj: () => makePod('p', (o) => { o.spec.containers[0].ports = [{ containerPort: 53, hostPort: 53 }, { containerPort: 53, hostPort: 53, protocol: 'UDP' }]; }), want: [] },
  { name: 'hostPort duplicate across containers', obj: () => makePod('p', (o) => { o.spec.containers = [{ name: 'a', image: 'x', ports: [{ containerPort: 80, hostPort: 8080 }] }, { name: 'b', image: 'x', ports: [{ containerPort: 81, hostPort: 8080 }] }]; }),
    want: ['spec.containers[1].ports[0].hostPort: Duplicate value: "TCP//8080"'] },
  { name: 'hostNetwork without hostPort defaults it', obj: () => makePod('p', (o) => { o.spec.hostNetwork = true; o.spec.containers[0].ports = [{ containerPort: 8086 }]; }), want: [] },
  { name: 'a sidecar (init container with restartPolicy Always) may have probes and lifecycle hooks', obj: () => makePod('p', (o) => {
    o.spec.initContainers = [{ name: 'side', image: 'busybox', restartPolicy: 'Always', readinessProbe: { exec: { command: ['true'] } },
      livenessProbe: { tcpSocket: { port: 80 } }, startupProbe: { httpGet: { port: 80 } }, lifecycle: { preStop: { exec: { command: ['true'] } } } }];
  }), want: [] },
  { name: 'container restartPolicy on an app container', obj: () => makePod('p', (o) => { o.spec.containers[0].restartPolicy = 'Always'; }),
    want: ['spec.containers[0].restartPolicy: Forbidden: may not be set for non-init containers'] },
  { name: 'init container restartPolicy other than Always', obj: () => makePod('p', (o) => { o.spec.initContainers = [{ name: 'i', image: 'busybox', restartPolicy: 'Never' }]; }),
    want: ['spec.initContainers[0].restartPolicy: Unsupported value: "Never": supported values: "Always"'] },
  { name: 'probes and lifecycle on an ordinary init container', obj: () => makePod('p', (o) => {
    o.spec.initContainers = [{ name: 'i', image: 'busybox', lifecycle: { preStop: { exec: { command: ['true'] } } }, livenessProbe: { exec: { command: ['true'] } },
      readinessProbe: { exec: { command: ['true'] } }, startupProbe: { exec: { command: ['true'] } } }];
  }), want: [
    'spec.initContainers[0].lifecycle: Forbidden: may not be set for init containers without restartPolicy=Always',
    'spec.initContainers[0].livenessProbe: Forbidden: may not be set for init containers without restartPolicy=Always',
    'spec.initContainers[0].readinessProbe: Forbidden: may not be set for init containers without restartPolicy=Always',
    'spec.initContainers[0].startupProbe: Forbidden: may not be set for init containers without restartPolicy=Always',
  ] },
  { name: 'a sidecar\'s probes are checked as an app container\'s', obj: () => makePod('p', (o) => {
    o.spec.initContainers = [{ name: 'side', image: 'busybox', restartPolicy: 'Always', livenessProbe: { exec: { command: ['true'] }, successThreshold: 2 }, readinessProbe: { periodSeconds: 1 } }];
  }), want: [
    'spec.initContainers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1',
    'spec.initContainers[0].readinessProbe: Required value: must specify a handler type',
  ] },
  { name: 'bad restartPolicy and dnsPolicy', obj: () => makePod('p', (o) => { o.spec.restartPolicy = 'Sometimes'; o.spec.dnsPolicy = 'Google'; }),
    want: ['spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"', 'spec.dnsPolicy: Unsupported value: "Google": supported values: "ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"'] },
  { name: 'probe without handler; liveness successThreshold', obj: () => makePod('p', (o) => { o.spec.containers[0].livenessProbe = { successThreshold: 2 }; }),
    want: ['spec.containers[0].livenessProbe: Required value: must specify a handler type', 'spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1'] },
  { name: 'probe with a bad named port', obj: () => makePod('p', (o) => { o.spec.containers[0].readinessProbe = { httpGet: { port: 'Web_Port' } }; }),
    want: ['spec.containers[0].readinessProbe.httpGet.port: Invalid value: "Web_Port": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)'] },
  { name: 'toleration with seconds but not NoExecute', obj: () => makePod('p', (o) => { o.spec.tolerations = [{ key: 'k', operator: 'Exists', effect: 'NoSchedule', tolerationSeconds: 5 }]; }),
    want: ["spec.tolerations[0].effect: Invalid value: \"NoSchedule\": effect must be 'NoExecute' when `tolerationSeconds` is set"] },
  { name: 'pod name with capitals', obj: () => makePod('Web'),
    want: ["metadata.name: Invalid value: \"Web\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"] },

  { name: 'namespace name with a dot', obj: () => make('v1', 'Namespace', undefined, 'a.b', {}),
    want: ["metadata.name: Invalid value: \"a.b\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"] },
  { name: 'namespace given to a cluster-scoped kind', obj: () => make('v1', 'Namespace', 'default', 'team', {}), want: ['metadata.namespace: Forbidden: not allowed on this type'] },
  { name: 'configmap key with a slash', obj: () => make('v1', 'ConfigMap', 'default', 'cm', { data: { 'a/b': '1', ok: '2' } }),
    want: ["data[a/b]: Invalid value: \"a/b\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"] },
  { name: 'tls secret without key', obj: () => make('v1', 'Secret', 'default', 's', { type: 'kubernetes.io/tls', data: { 'tls.crt': 'Y2VydA==' } }), want: ['data[tls.key]: Required value'] },
  { name: 'tls secret from stringData is valid', obj: () => make('v1', 'Secret', 'default', 's', { type: 'kubernetes.io/tls', stringData: { 'tls.crt': 'c', 'tls.key': 'k' } }), want: [] },
  { name: 'endpoints with a loopback address', obj: () => make('v1', 'Endpoints', 'default', 'web', { subsets: [{ addresses: [{ ip: '127.0.0.1' }], ports: [{ port: 80 }] }] }),
    want: ['subsets[0].addresses[0].ip: Invalid value: "127.0.0.1": may not be in the loopback range (127.0.0.0/8, ::1/128)'] },
  { name: 'endpoints subset without addresses', obj: () => make('v1', 'Endpoints', 'default', 'web', { subsets: [{ ports: [{ port: 80 }] }] }),
    want: ['subsets[0]: Required value: must specify `addresses` or `notReadyAddresses`'] },
  { name: 'endpointslice is valid', obj: () => make('discovery.k8s.io/v1', 'EndpointSlice', 'default', 'web-abc', { addressType: 'IPv4', endpoints: [{ addresses: ['10.244.0.5'] }], ports: [{ name: 'http', port: 80 }] }), want: [] },
  { name: 'endpointslice problems', obj: () => make('discovery.k8s.io/v1', 'EndpointSlice', 'default', 'web-abc', { addressType: 'IPv4', endpoints: [{ addresses: ['::1'] }, { addresses: [] }], ports: [{ name: 'a' }, { name: 'a', protocol: 'HTTP' }] }),
    want: [
      'endpoints[0].addresses[0]: Invalid value: "::1": must be a valid IPv4 address',
      'endpoints[0].addresses[0]: Invalid value: "::1": may not be in the loopback range (127.0.0.0/8, ::1/128)',
      'endpoints[1].addresses: Required value: must contain at least 1 address',
      'ports[1].name: Duplicate value: "a"',
      'ports[1].protocol: Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"',
    ] },
  { name: 'endpointslice bad addressType', obj: () => make('discovery.k8s.io/v1', 'EndpointSlice', 'default', 'x', { addressType: 'IP' }),
    want: ['addressType: Unsupported value: "IP": supported values: "FQDN", "IPv4", "IPv6"'] },

  { name: 'a v1 ingress is valid', obj: () => makeIngress('web'), want: [] },
  { name: 'ingress path without pathType', obj: () => makeIngress('web', (o) => { delete o.spec.rules[0].http.paths[0].pathType; }),
    want: ['spec.rules[0].http.paths[0].pathType: Required value: pathType must be specified'] },
  { name: 'ingress relative path, unknown pathType', obj: () => makeIngress('web', (o) => { o.spec.rules[0].http.paths.push({ path: 'foo', pathType: 'Exact', backend: { service: { name: 'web', port: { name: 'http' } } } }, { path: '/', pathType: 'Regex', backend: { service: { name: 'web', port: { number: 80 } } } }); }),
    want: ['spec.rules[0].http.paths[1].path: Invalid value: "foo": must be an absolute path', 'spec.rules[0].http.paths[2].pathType: Unsupported value: "Regex": supported values: "Exact", "ImplementationSpecific", "Prefix"'] },
  { name: 'ingress backends', obj: () => makeIngress('web', (o) => { o.spec.rules[0].http.paths = [
    { path: '/a', pathType: 'Prefix', backend: {} },
    { path: '/b', pathType: 'Prefix', backend: { service: { name: 'web', port: {} } } },
    { path: '/c', pathType: 'Prefix', backend: { service: { name: 'web', port: { name: 'http', number: 80 } } } },
    { path: '/d', pathType: 'Prefix', backend: { service: { name: 'web', port: { number: 80 } }, resource: { kind: 'Bucket', name: 'b' } } },
  ]; }),
    want: [
      'spec.rules[0].http.paths[0].backend: Invalid value: "": resource or service backend is required',
      'spec.rules[0].http.paths[1].backend: Required value: port name or number is required',
      'spec.rules[0].http.paths[2].backend: Invalid value: "": cannot set both port name & port number',
      'spec.rules[0].http.paths[3].backend: Invalid value: "": cannot set both resource and service backends',
    ] },
  { name: 'ingress without rules or default backend', obj: () => makeIngress('web', (o) => { o.spec = {}; }),
    want: ['spec: Invalid value: []networking.IngressRule(nil): either `defaultBackend` or `rules` must be specified'] },
  { name: 'ingress IP host and bad tls host', obj: () => makeIngress('web', (o) => { o.spec.rules[0].host = '10.0.0.1'; o.spec.tls = [{ hosts: ['*.example.com', 'Bad_Host'] }]; }),
    want: [
      'spec.rules[0].host: Invalid value: "10.0.0.1": must be a DNS name, not an IP address',
      "spec.tls[0].hosts[1]: Invalid value: \"Bad_Host\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
    ] },
  { name: 'ingress class annotation disagrees', obj: () => makeIngress('web', (o) => { o.metadata.annotations = { 'kubernetes.io/ingress.class': 'nginx' }; o.spec.ingressClassName = 'podgate'; }),
    want: ['annotations.kubernetes.io/ingress.class: Invalid value: "nginx": must match `ingressClassName` when both are specified'] },
  { name: 'ingressclass controller must be domain-prefixed', obj: () => make('networking.k8s.io/v1', 'IngressClass', undefined, 'podgate', { spec: { controller: 'podgate' } }),
    want: ['spec.controller: Invalid value: "podgate": must be a domain-prefixed path (such as "acme.io/foo")'] },
  { name: 'ingressclass is valid', obj: () => make('networking.k8s.io/v1', 'IngressClass', undefined, 'podgate', { spec: { controller: 'podgate.io/ingress' } }), want: [] },
  { name: 'node taints', obj: () => make('v1', 'Node', undefined, 'node-1', { spec: { taints: [{ key: 'k', effect: 'Sometimes' }] } }),
    want: ['metadata.taints[0].effect: Unsupported value: "Sometimes": supported values: "NoSchedule", "PreferNoSchedule", "NoExecute"'] },
  { name: 'event namespace mismatch', obj: () => make('v1', 'Event', 'default', 'e1', { involvedObject: { kind: 'Pod', name: 'p', namespace: 'other' } }),
    want: ['involvedObject.namespace: Invalid value: "other": does not match event.namespace'] },
  { name: 'serviceaccount name', obj: () => make('v1', 'ServiceAccount', 'default', 'Bad', {}),
    want: ["metadata.name: Invalid value: \"Bad\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"] },
];

for (const c of cases) {
  test(`create: ${c.name}`, () => assert.deepEqual(messages(c.obj()), c.want));
}

function stored(obj: KObject): KObject {
  applyDefaults(obj.kind, group(obj.apiVersion), obj);
  obj.metadata = { ...obj.metadata, uid: 'u-1', resourceVersion: '5', creationTimestamp: '2026-11-22T04:07:49Z' };
  return obj;
}

const updates: { name: string; old: () => KObject; edit: Edit; want: string[] }[] = [
  { name: 'name, uid and creationTimestamp are immutable', old: () => stored(makeService('web')),
    edit: (o) => { o.metadata.name = 'web2'; o.metadata.uid = 'u-2'; o.metadata.creationTimestamp = '2026-11-23T00:00:00Z'; },
    want: ['metadata.name: Invalid value: "web2": field is immutable', 'metadata.uid: Invalid value: "u-2": field is immutable', 'metadata.creationTimestamp: Invalid value: 2026-11-23 00:00:00 +0000 UTC: field is immutable'] },
  { name: 'resourceVersion required', old: () => stored(makeService('web')), edit: (o) => { delete o.metadata.resourceVersion; },
    want: ['metadata.resourceVersion: Invalid value: "": must be specified for an update'] },
  { name: 'pod image may change', old: () => stored(makePod('p')), edit: (o) => { o.spec.containers[0].image = 'nginx:1.27'; }, want: [] },
  { name: 'pod tolerations may be added', old: () => stored(makePod('p')), edit: (o) => { o.spec.tolerations.push({ key: 'k', operator: 'Exists' }); }, want: [] },
  { name: 'pod activeDeadlineSeconds may only go down', old: () => stored(makePod('p', (o) => { o.spec.activeDeadlineSeconds = 10; })), edit: (o) => { o.spec.activeDeadlineSeconds = 20; },
    want: ['spec.activeDeadlineSeconds: Invalid value: 20: must be less than or equal to previous value'] },
  { name: 'pod containers may not be added', old: () => stored(makePod('p')), edit: (o) => { o.spec.containers.push({ name: 'd', image: 'x', terminationMessagePolicy: 'File', imagePullPolicy: 'Always' }); },
    want: ['spec.containers: Forbidden: pod updates may not add or remove containers'] },
  { name: 'secret type is immutable', old: () => stored(make('v1', 'Secret', 'default', 's', { data: {} })), edit: (o) => { o.type = 'kubernetes.io/basic-auth'; o.data = { username: 'dQ==' }; },
    want: ['type: Invalid value: "kubernetes.io/basic-auth": field is immutable'] },
];

for (const u of updates) {
  test(`update: ${u.name}`, () => {
    const old = u.old();
    const obj = structuredClone(old) as Record<string, any>;
    u.edit(obj);
    assert.deepEqual(messages(obj as KObject, old), u.want);
  });
}

test('update: pod port change is refused with kube\'s words and a diff', () => {
  const old = stored(makePod('p', (o) => { o.spec.containers[0].ports = [{ containerPort: 80 }]; }));
  const obj = structuredClone(old) as Record<string, any>;
  obj.spec.containers[0].ports[0].containerPort = 81;
  const errs = validateObject('Pod', '', obj as KObject, old);
  assert.equal(errs.length, 1);
  assert.equal(errs[0]!.field, 'spec');
  assert.ok(errs[0]!.message.startsWith('Forbidden: pod updates may not change fields other than `spec.containers[*].image`, `spec.initContainers[*].image`, `spec.activeDeadlineSeconds`, `spec.tolerations` (only additions to existing tolerations) or `spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)\n  core.PodSpec{'), errs[0]!.message);
  assert.match(errs[0]!.message, /\n- \tContainers: .*"containerPort":80/);
  assert.match(errs[0]!.message, /\n\+ \tContainers: .*"containerPort":81/);
});

test('update: changing the clusterIP of a dual-field service reports every index', () => {
  const old = stored(makeService('web', (o) => { o.spec.clusterIP = '10.96.0.10'; }));
  const obj = structuredClone(old) as Record<string, any>;
  obj.spec.clusterIP = '10.96.0.11';
  obj.spec.clusterIPs = ['10.96.0.11'];
  assert.deepEqual(messages(obj as KObject, old), ['spec.clusterIPs[0]: Invalid value: []string{"10.96.0.11"}: may not change once set']);
});
