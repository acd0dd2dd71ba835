// Per-kind cells, table-driven, with objects built the way the API server would store them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { KObject } from '../object.ts';
import { columnDefinitions, hasPrinter, partialObjectMetadata, printRow, toTable } from './table.ts';

const NOW = new Date('2026-11-22T04:10:00.000Z');
/** An RFC 3339 timestamp `seconds` before NOW. */
const ago = (seconds: number): string => new Date(NOW.getTime() - seconds * 1000).toISOString().replace(/\.000Z$/, 'Z');

function make(apiVersion: string, kind: string, name: string, body: Record<string, unknown> = {}, meta: Record<string, unknown> = {}): KObject {
  return { apiVersion, kind, metadata: { name, namespace: 'default', creationTimestamp: ago(600), ...meta }, ...body };
}
const makeService = (name: string, spec: Record<string, unknown>, status: Record<string, unknown> = {}) =>
  make('v1', 'Service', name, { spec, status });
const makePod = (name: string, spec: Record<string, unknown>, status: Record<string, unknown>, meta: Record<string, unknown> = {}) =>
  make('v1', 'Pod', name, { spec: { containers: [{ name: 'app', image: 'nginx' }], ...spec }, status }, meta);

const running = (name: string, extra: Record<string, unknown> = {}) =>
  ({ name, ready: true, restartCount: 0, image: 'nginx', imageID: '', state: { running: { startedAt: ago(300) } }, ...extra });
const waiting = (name: string, reason: string, extra: Record<string, unknown> = {}) =>
  ({ name, ready: false, restartCount: 0, image: 'nginx', imageID: '', state: { waiting: { reason } }, ...extra });
const terminated = (name: string, t: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
  ({ name, ready: false, restartCount: 0, image: 'nginx', imageID: '', state: { terminated: t }, ...extra });

const cases: { name: string; obj: KObject; want: unknown[] }[] = [
  // Service
  {
    name: 'service LoadBalancer without ingress is pending',
    obj: makeService('lb', { type: 'LoadBalancer', clusterIPs: ['10.96.0.10'], ports: [{ port: 8086, nodePort: 30086, protocol: 'TCP' }, { port: 443, protocol: 'TCP' }], selector: { b: '2', a: '1' } }),
    want: ['lb', 'LoadBalancer', '10.96.0.10', '<pending>', '8086:30086/TCP,443/TCP', '10m', 'a=1,b=2'],
  },
  {
    name: 'service LoadBalancer joins sorted ingress addresses with externalIPs, unclipped',
    obj: makeService('lb', { type: 'LoadBalancer', clusterIPs: ['10.96.0.10'], externalIPs: ['192.0.2.9'], ports: [{ port: 80, nodePort: 30080, protocol: 'UDP' }] },
      { loadBalancer: { ingress: [{ ip: '192.168.100.20' }, { hostname: 'lb.example.com' }, { ip: '192.168.100.20' }] } }),
    want: ['lb', 'LoadBalancer', '10.96.0.10', '192.168.100.20,lb.example.com,192.0.2.9', '80:30080/UDP', '10m', '<none>'],
  },
  {
    name: 'service ClusterIP with externalIPs, headless, ExternalName',
    obj: makeService('x', { type: 'ClusterIP', clusterIPs: ['10.96.0.11'], externalIPs: ['192.0.2.1', '192.0.2.2'], ports: [{ port: 53, protocol: 'UDP' }, { port: 53, protocol: 'TCP' }] }),
    want: ['x', 'ClusterIP', '10.96.0.11', '192.0.2.1,192.0.2.2', '53/UDP,53/TCP', '10m', '<none>'],
  },
  {
    name: 'headless service',
    obj: makeService('h', { type: 'ClusterIP', clusterIP: 'None', clusterIPs: ['None'], selector: { app: 'h' } }),
    want: ['h', 'ClusterIP', 'None', '<none>', '<none>', '10m', 'app=h'],
  },
  {
    name: 'ExternalName service shows the name as external IP',
    obj: makeService('ext', { type: 'ExternalName', externalName: 'db.example.com' }),
    want: ['ext', 'ExternalName', '<none>', 'db.example.com', '<none>', '10m', '<none>'],
  },
  // Pod
  {
    name: 'running pod with IP and node',
    obj: makePod('web', { nodeName: 'node-1' }, { phase: 'Running', podIP: '10.244.0.5', podIPs: [{ ip: '10.244.0.5' }], containerStatuses: [running('app')] }),
    want: ['web', '1/1', 'Running', '0', '10m', '10.244.0.5', 'node-1', '<none>', '<none>'],
  },
  {
    name: 'crash looping pod shows the waiting reason and when it last restarted',
    obj: makePod('crash', {}, {
      phase: 'Running',
      containerStatuses: [waiting('app', 'CrashLoopBackOff', { restartCount: 3, lastState: { terminated: { exitCode: 1, reason: 'Error', finishedAt: ago(120) } } })],
    }),
    want: ['crash', '0/1', 'CrashLoopBackOff', '3 (2m ago)', '10m', '<none>', '<none>', '<none>', '<none>'],
  },
  {
    name: 'image the node agent cannot resolve leaves the pod waiting with its reason',
    obj: makePod('noimg', {}, { phase: 'Pending', containerStatuses: [waiting('app', 'ErrImageNeverPull')] }),
    want: ['noimg', '0/1', 'ErrImageNeverPull', '0', '10m', '<none>', '<none>', '<none>', '<none>'],
  },
  {
    name: 'pod whose first init container is still running',
    obj: makePod('init', { initContainers: [{ name: 'a' }, { name: 'b' }] }, {
      phase: 'Pending', initContainerStatuses: [running('a', { ready: false }), waiting('b', 'PodInitializing')], containerStatuses: [waiting('app', 'PodInitializing')],
    }),
    want: ['init', '0/1', 'Init:0/2', '0', '10m', '<none>', '<none>', '<none>', '<none>'],
  },
  {
    name: 'pod with a failing init container',
    obj: makePod('initfail', { initContainers: [{ name: 'a' }, { name: 'b' }] }, {
      phase: 'Pending',
      initContainerStatuses: [terminated('a', { exitCode: 0, reason: 'Completed' }), waiting('b', 'CrashLoopBackOff', { restartCount: 2 })],
    }),
    want: ['initfail', '0/1', 'Init:CrashLoopBackOff', '2', '10m', '<none>', '<none>', '<none>', '<none>'],
  },
  {
    name: 'init container killed by a signal',
    obj: makePod('sig', { initContainers: [{ name: 'a' }] }, { phase: 'Pending', initContainerStatuses: [terminated('a', { exitCode: 137, signal: 9 })] }),
    want: ['sig', '0/1', 'Init:Signal:9', '0', '10m', '<none>', '<none>', '<none>', '<none>'],
  },
  {
    name: 'running sidecar init container counts towards READY',
    obj: makePod('sidecar', { initContainers: [{ name: 'proxy', restartPolicy: 'Always' }] }, {
      phase: 'Running',
      conditions: [{ type: 'Initialized', status: 'True' }, { type: 'Ready', status: 'True' }],
      initContainerStatuses: [running('proxy', { started: true, restartCount: 1, lastState: { terminated: { exitCode: 1, finishedAt: ago(30) } } })],
      containerStatuses: [running('app')],
    }),
    want: ['sidecar', '2/2', 'Running', '1 (30s ago)', '10m', '<none>', '<none>', '<none>', '<none>'],
  },
  {
    name: 'completed pod',
    obj: makePod('job', {}, { phase: 'Succeeded', containerStatuses: [terminated('app', { exitCode: 0, reason: 'Completed' })] }),
    want: ['job', '0/1', 'Completed', '0', '10m', '<none>', '<none>', '<none>', '<none>'],
  },
  {
    name: 'container exited without a reason',
    obj: makePod('exit', {}, { phase: 'Failed', containerStatuses: [terminated('app', { exitCode: 3 })] }),
    want: ['exit', '0/1', 'ExitCode:3', '0', '10m', '<none>', '<none>', '<none>', '<none>'],
  },
  {
    name: 'deleted pod is Terminating; readiness gates counted',
    obj: makePod('bye', { readinessGates: [{ conditionType: 'example.com/lb' }, { conditionType: 'example.com/x' }] },
      { phase: 'Running', conditions: [{ type: 'example.com/lb', status: 'True' }], nominatedNodeName: 'node-2' }, { deletionTimestamp: ago(1) }),
    want: ['bye', '0/1', 'Terminating', '0', '10m', '<none>', '<none>', 'node-2', '1/2'],
  },
  {
    name: 'pod on a lost node is Unknown once deleted',
    obj: makePod('lost', {}, { phase: 'Running', reason: 'NodeLost' }, { deletionTimestamp: ago(1) }),
    want: ['lost', '0/1', 'Unknown', '0', '10m', '<none>', '<none>', '<none>', '<none>'],
  },
  {
    name: 'scheduling-gated pod',
    obj: makePod('gated', {}, { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'SchedulingGated' }] }),
    want: ['gated', '0/1', 'SchedulingGated', '0', '10m', '<none>', '<none>', '<none>', '<none>'],
  },
  // Endpoints and EndpointSlice
  {
    name: 'endpoints list the first three then count the rest',
    obj: make('v1', 'Endpoints', 'web', {
      subsets: [
        { addresses: [{ ip: '10.0.0.1' }, { ip: '10.0.0.2' }], ports: [{ port: 80 }, { port: 443 }] },
        { addresses: [{ ip: 'fd00::1' }], ports: [{ port: 80 }] },
      ],
    }),
    want: ['web', '10.0.0.1:80,10.0.0.2:80,10.0.0.1:443 + 2 more...', '10m'],
  },
  {
    name: 'endpoints of a headless service without ports; IPv6 bracketed',
    obj: make('v1', 'Endpoints', 'h', { subsets: [{ addresses: [{ ip: '10.0.0.1' }] }, { addresses: [{ ip: 'fd00::2' }], ports: [{ port: 8080 }] }] }),
    want: ['h', '10.0.0.1,[fd00::2]:8080', '10m'],
  },
  {
    name: 'endpointslice',
    obj: make('discovery.k8s.io/v1', 'EndpointSlice', 'web-abc', {
      addressType: 'IPv4', ports: [{ name: 'http', port: 80 }, { name: 'named' }, {}],
      endpoints: [{ addresses: ['10.0.0.1'] }, { addresses: ['10.0.0.2'] }, { addresses: ['10.0.0.3'] }, { addresses: ['10.0.0.4'] }],
    }),
    want: ['web-abc', 'IPv4', '80,named,*', '10.0.0.1,10.0.0.2,10.0.0.3 + 1 more...', '10m'],
  },
  {
    name: 'empty endpointslice',
    obj: make('discovery.k8s.io/v1', 'EndpointSlice', 'web-def', { addressType: 'IPv4', endpoints: [] }),
    want: ['web-def', 'IPv4', '<unset>', '<unset>', '10m'],
  },
  // Node, Namespace
  {
    name: 'ready control-plane node, cordoned',
    obj: make('v1', 'Node', 'node-1', {
      spec: { unschedulable: true },
      status: {
        conditions: [{ type: 'MemoryPressure', status: 'False' }, { type: 'Ready', status: 'True' }],
        addresses: [{ type: 'Hostname', address: 'node-1' }, { type: 'InternalIP', address: '192.168.1.10' }],
        nodeInfo: { kubeletVersion: 'v1.32.0-podgate', osImage: 'Debian GNU/Linux 12', kernelVersion: '6.1.0', containerRuntimeVersion: '' },
      },
    }, { namespace: undefined, labels: { 'node-role.kubernetes.io/control-plane': '', 'kubernetes.io/role': 'edge', 'node-role.kubernetes.io/': '' } }),
    want: ['node-1', 'Ready,SchedulingDisabled', 'control-plane,edge', '10m', 'v1.32.0-podgate', '192.168.1.10', '<none>', 'Debian GNU/Linux 12', '6.1.0', '<unknown>'],
  },
  {
    name: 'node without conditions',
    obj: make('v1', 'Node', 'node-2', { status: {} }),
    want: ['node-2', 'Unknown', '<none>', '10m', '', '<none>', '<none>', '<unknown>', '<unknown>', '<unknown>'],
  },
  { name: 'namespace', obj: make('v1', 'Namespace', 'default', { status: { phase: 'Active' } }), want: ['default', 'Active', '10m'] },
  // Ingress, IngressClass
  {
    name: 'ingress with class, TLS and address',
    obj: make('networking.k8s.io/v1', 'Ingress', 'influxdb', {
      spec: { ingressClassName: 'podgate', tls: [{ hosts: ['a.example.com'], secretName: 's' }], rules: [{ host: 'a.example.com' }, { host: 'b.example.com' }] },
      status: { loadBalancer: { ingress: [{ ip: '192.168.1.10' }, { ip: '192.168.1.9' }] } },
    }),
    want: ['influxdb', 'podgate', 'a.example.com,b.example.com', '192.168.1.10,192.168.1.9', '80, 443', '10m'],
  },
  {
    name: 'ingress with only a default backend',
    obj: make('networking.k8s.io/v1', 'Ingress', 'default', { spec: { defaultBackend: { service: { name: 'web', port: { number: 80 } } } } }),
    want: ['default', '<none>', '*', '', '80', '10m'],
  },
  {
    name: 'ingress with many hosts counts every rule past the third',
    obj: make('networking.k8s.io/v1', 'Ingress', 'many', { spec: { rules: [{ host: 'a' }, {}, { host: 'c' }, { host: 'd' }, { host: 'e' }, { host: 'f' }] } }),
    want: ['many', '<none>', 'a,c,d + 3 more...', '', '80', '10m'],
  },
  {
    name: 'ingressclass with parameters',
    obj: make('networking.k8s.io/v1', 'IngressClass', 'podgate', { spec: { controller: 'podgate.dev/ingress', parameters: { apiGroup: 'k8s.example.com', kind: 'Params', name: 'p' } } }),
    want: ['podgate', 'podgate.dev/ingress', 'Params.k8s.example.com/p', '10m'],
  },
  // ConfigMap, Secret, ServiceAccount, Event
  { name: 'configmap counts data and binaryData', obj: make('v1', 'ConfigMap', 'cfg', { data: { a: '1', b: '2' }, binaryData: { c: 'AA==' } }), want: ['cfg', 3, '10m'] },
  { name: 'secret', obj: make('v1', 'Secret', 'tls', { type: 'kubernetes.io/tls', data: { 'tls.crt': '', 'tls.key': '' } }), want: ['tls', 'kubernetes.io/tls', 2, '10m'] },
  { name: 'serviceaccount', obj: make('v1', 'ServiceAccount', 'default', {}), want: ['default', 0, '10m'] },
  {
    name: 'event',
    obj: make('v1', 'Event', 'web.1', {
      involvedObject: { kind: 'Pod', name: 'web', fieldPath: 'spec.containers{app}' }, reason: 'BackOff', type: 'Warning',
      message: 'Back-off restarting failed container\n', source: { component: 'kubelet', host: 'node-1' },
      firstTimestamp: ago(300), lastTimestamp: ago(5), count: 7,
    }),
    want: ['5s', 'Warning', 'BackOff', 'pod/web', 'spec.containers{app}', 'kubelet, node-1', 'Back-off restarting failed container', '5m', 7, 'web.1'],
  },
  {
    name: 'singleton event of the new API',
    obj: make('v1', 'Event', 'ev', { involvedObject: { kind: 'Node' }, reason: 'Starting', type: 'Normal', eventTime: ago(40), reportingComponent: 'podgate' }),
    want: ['40s', 'Normal', 'Starting', 'node', '', 'podgate', '', '40s', 1, 'ev'],
  },
  // Workloads (as in trace 18-get-all)
  {
    name: 'deployment',
    obj: make('apps/v1', 'Deployment', 'hello', {
      spec: { replicas: 1, selector: { matchLabels: { app: 'hello' } }, template: { spec: { containers: [{ name: 'nginx', image: 'nginx' }, { name: 'side', image: 'busybox' }] } } },
      status: { replicas: 1, updatedReplicas: 1, unavailableReplicas: 1 },
    }),
    want: ['hello', '0/1', 1, 0, '10m', 'nginx,side', 'nginx,busybox', 'app=hello'],
  },
  {
    name: 'replicaset with expression selector',
    obj: make('apps/v1', 'ReplicaSet', 'hello-7c8776964d', {
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: 'hello', 'pod-template-hash': '7c8776964d' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['web', 'api'] }, { key: 'canary', operator: 'DoesNotExist' }] },
        template: { spec: { containers: [{ name: 'nginx', image: 'nginx' }] } },
      },
      status: { replicas: 1, fullyLabeledReplicas: 1, observedGeneration: 1 },
    }),
    want: ['hello-7c8776964d', 1, 1, 0, '10m', 'nginx', 'nginx', 'app=hello,!canary,pod-template-hash=7c8776964d,tier in (api,web)'],
  },
  {
    name: 'daemonset',
    obj: make('apps/v1', 'DaemonSet', 'proxy', {
      spec: { selector: {}, template: { spec: { nodeSelector: { 'kubernetes.io/os': 'linux' }, containers: [{ name: 'p', image: 'podgate' }] } } },
      status: { desiredNumberScheduled: 2, currentNumberScheduled: 2, numberReady: 1, updatedNumberScheduled: 2, numberAvailable: 1 },
    }),
    want: ['proxy', 2, 2, 1, 2, 1, 'kubernetes.io/os=linux', '10m', 'p', 'podgate', '<none>'],
  },
  { name: 'lease', obj: make('coordination.k8s.io/v1', 'Lease', 'node-1', { spec: { holderIdentity: 'node-1' } }), want: ['node-1', 'node-1', '10m'] },
  // ReferenceGrant: the CRD's additionalPrinterColumns are Age only (kubectl: NAME AGE).
  { name: 'referencegrant', obj: make('gateway.networking.k8s.io/v1', 'ReferenceGrant', 'allow-routes', { spec: { from: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', namespace: 'web' }], to: [{ group: '', kind: 'Service' }] } }), want: ['allow-routes', '10m'] },
  // Kinds without a printer
  { name: 'fallback prints name and creation time', obj: make('example.com/v1', 'Widget', 'w', {}), want: ['w', ago(600)] },
];

for (const c of cases) {
  test(`${c.obj.kind}: ${c.name}`, () => {
    const cells = printRow(c.obj, NOW);
    assert.deepStrictEqual(cells, c.want);
    assert.equal(cells.length, columnDefinitions(c.obj.kind).length, 'one cell per column');
  });
}

test('column definitions match kube-apiserver for the kinds kubectl shows most', () => {
  const names = (kind: string) => columnDefinitions(kind).map(c => (c.priority ? `${c.name}*` : c.name));
  assert.deepStrictEqual(names('Service'), ['Name', 'Type', 'Cluster-IP', 'External-IP', 'Port(s)', 'Age', 'Selector*']);
  assert.deepStrictEqual(names('Pod'), ['Name', 'Ready', 'Status', 'Restarts', 'Age', 'IP*', 'Node*', 'Nominated Node*', 'Readiness Gates*']);
  assert.deepStrictEqual(names('Deployment'), ['Name', 'Ready', 'Up-to-date', 'Available', 'Age', 'Containers*', 'Images*', 'Selector*']);
  assert.deepStrictEqual(names('ReplicaSet'), ['Name', 'Desired', 'Current', 'Ready', 'Age', 'Containers*', 'Images*', 'Selector*']);
  assert.deepStrictEqual(names('Node'), ['Name', 'Status', 'Roles', 'Age', 'Version', 'Internal-IP*', 'External-IP*', 'OS-Image*', 'Kernel-Version*', 'Container-Runtime*']);
  assert.deepStrictEqual(names('Event'), ['Last Seen', 'Type', 'Reason', 'Object', 'Subobject*', 'Source*', 'Message', 'First Seen*', 'Count*', 'Name*']);
  assert.deepStrictEqual(names('Widget'), ['Name', 'Created At']);
  assert.deepStrictEqual(names('ReferenceGrant'), ['Name', 'Age']);
  for (const kind of ['Service', 'Pod', 'Endpoints', 'EndpointSlice', 'Node', 'Namespace', 'Ingress', 'IngressClass', 'ConfigMap', 'Secret', 'Event', 'ServiceAccount', 'Deployment', 'ReplicaSet']) {
    assert.ok(hasPrinter(kind), kind);
    const defs = columnDefinitions(kind);
    assert.equal(defs.filter(c => c.format === 'name').length, 1, `${kind}: one name column`);
    for (const c of defs) assert.ok(c.description.length > 0, `${kind}.${c.name} has a description`);
  }
  assert.equal(columnDefinitions('Widget')[1]?.type, 'date');
});

test('finished pods carry the Completed row condition', () => {
  const table = toTable([makePod('done', {}, { phase: 'Succeeded' }), makePod('bad', {}, { phase: 'Failed' }), makePod('run', {}, { phase: 'Running' })],
    'Pod', { now: NOW, resourceVersion: '9', includeObject: 'None', includeHeader: true });
  assert.deepStrictEqual(table.rows?.map(r => r.conditions), [
    [{ type: 'Completed', status: 'True', reason: 'Succeeded', message: 'The pod has completed successfully.' }],
    [{ type: 'Completed', status: 'True', reason: 'Failed', message: 'The pod failed.' }],
    undefined,
  ]);
  assert.deepStrictEqual(Object.keys(table.rows?.[0] ?? {}), ['cells', 'conditions', 'object']);
});

test('includeObject picks what each row carries', () => {
  const svc = makeService('web', { type: 'ClusterIP', clusterIPs: ['10.96.0.2'] });
  svc.metadata = { ...svc.metadata, uid: 'u1', resourceVersion: '7', labels: {}, annotations: { a: 'b' }, generation: 0 };
  const opts = { now: NOW, resourceVersion: '7', includeHeader: true } as const;
  assert.equal(JSON.stringify(toTable([svc], 'Service', { ...opts, includeObject: 'None' }).rows?.[0]?.object), 'null');
  const full = toTable([svc], 'Service', { ...opts, includeObject: 'Object' }).rows?.[0]?.object;
  assert.deepStrictEqual(full, svc);
  assert.notEqual(full, svc, 'a copy, never the stored object');
  assert.deepStrictEqual(toTable([svc], 'Service', { ...opts, includeObject: 'Metadata' }).rows?.[0]?.object, {
    kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1',
    metadata: { name: 'web', namespace: 'default', uid: 'u1', resourceVersion: '7', creationTimestamp: ago(600), annotations: { a: 'b' } },
  });
});

test('table metadata, continue token and headers', () => {
  const t = toTable([], 'Service', { now: NOW, resourceVersion: '', includeObject: 'Metadata', includeHeader: false, continueToken: 'abc', remainingItemCount: 3 });
  assert.deepStrictEqual(t, { kind: 'Table', apiVersion: 'meta.k8s.io/v1', metadata: { continue: 'abc', remainingItemCount: 3 }, columnDefinitions: null, rows: [] });
  // The default convertor builds rows by appending to a nil slice: an empty list is null.
  assert.equal(toTable([], 'Widget', { now: NOW, resourceVersion: '1', includeObject: 'Metadata', includeHeader: true }).rows, null);
});

test('partialObjectMetadata keeps kube field order and marks a missing creation time null', () => {
  const obj: KObject = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { managedFields: [{ manager: 'm' }], labels: { a: 'b' }, name: 'c', uid: 'u' } as never };
  const pom = partialObjectMetadata(obj);
  assert.deepStrictEqual(Object.keys(pom.metadata), ['name', 'uid', 'creationTimestamp', 'labels', 'managedFields']);
  assert.equal(pom.metadata['creationTimestamp'], null);
});
