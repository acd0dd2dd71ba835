import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { applyStrategicMergePatch } from './strategic-merge-patch.ts';
import type { GroupVersionKind } from './patch-meta.ts';
import { assertStatusError, deepFreeze } from './test-helpers.ts';

const pod: GroupVersionKind = { group: '', version: 'v1', kind: 'Pod' };
const service: GroupVersionKind = { group: '', version: 'v1', kind: 'Service' };
const node: GroupVersionKind = { group: '', version: 'v1', kind: 'Node' };
const deployment: GroupVersionKind = { group: 'apps', version: 'v1', kind: 'Deployment' };
const serviceAccount: GroupVersionKind = { group: '', version: 'v1', kind: 'ServiceAccount' };
const unknownKind: GroupVersionKind = { group: 'example.com', version: 'v1', kind: 'Widget' };

const c = (name: string, extra: Record<string, unknown> = {}) => ({ name, image: `${name}:1`, ...extra });
const podWith = (spec: Record<string, unknown>, metadata: Record<string, unknown> = { name: 'web' }) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata,
  spec,
});

interface Case {
  name: string;
  gvk: GroupVersionKind;
  original: unknown;
  patch: unknown;
  want: unknown;
}

const cases: Case[] = [
  {
    name: 'kubectl re-apply of a pod (trace 02): image changes, annotation replaced, the rest kept',
    gvk: pod,
    original: podWith(
      {
        containers: [
          { name: 'nginx', image: 'nginx:1.26', ports: [{ containerPort: 80, protocol: 'TCP' }], terminationMessagePath: '/dev/termination-log' },
        ],
        restartPolicy: 'Always',
      },
      { name: 'web', annotations: { 'kubectl.kubernetes.io/last-applied-configuration': 'old', keep: 'me' } },
    ),
    patch: {
      metadata: { annotations: { 'kubectl.kubernetes.io/last-applied-configuration': 'new' } },
      spec: { '$setElementOrder/containers': [{ name: 'nginx' }], containers: [{ image: 'nginx:1.27', name: 'nginx' }] },
    },
    want: podWith(
      {
        containers: [
          { name: 'nginx', image: 'nginx:1.27', ports: [{ containerPort: 80, protocol: 'TCP' }], terminationMessagePath: '/dev/termination-log' },
        ],
        restartPolicy: 'Always',
      },
      { name: 'web', annotations: { 'kubectl.kubernetes.io/last-applied-configuration': 'new', keep: 'me' } },
    ),
  },
  {
    name: 'kubectl re-apply of a service (trace 02): nodePort of port 80 changes, the other fields kept',
    gvk: service,
    original: {
      spec: {
        type: 'NodePort',
        clusterIP: '10.96.0.10',
        ports: [{ port: 80, protocol: 'TCP', targetPort: 80, nodePort: 30080 }],
      },
    },
    patch: { spec: { '$setElementOrder/ports': [{ port: 80 }], ports: [{ nodePort: 30081, port: 80 }] } },
    want: {
      spec: {
        type: 'NodePort',
        clusterIP: '10.96.0.10',
        ports: [{ port: 80, protocol: 'TCP', targetPort: 80, nodePort: 30081 }],
      },
    },
  },
  {
    name: 'service ports merge by port: an unmentioned port stays, a new one is added after',
    gvk: service,
    original: { spec: { ports: [{ name: 'http', port: 80 }, { name: 'https', port: 443 }] } },
    patch: { spec: { ports: [{ port: 443, targetPort: 8443 }, { port: 8080, name: 'alt' }] } },
    want: { spec: { ports: [{ name: 'http', port: 80 }, { name: 'https', port: 443, targetPort: 8443 }, { port: 8080, name: 'alt' }] } },
  },
  {
    name: 'kubectl label: a label is added',
    gvk: pod,
    original: { metadata: { name: 'web', labels: { app: 'web' } } },
    patch: { metadata: { labels: { a: 'b' } } },
    want: { metadata: { name: 'web', labels: { app: 'web', a: 'b' } } },
  },
  {
    name: 'kubectl label a-: null removes the label',
    gvk: pod,
    original: { metadata: { name: 'web', labels: { app: 'web', a: 'b' } } },
    patch: { metadata: { labels: { a: null } } },
    want: { metadata: { name: 'web', labels: { app: 'web' } } },
  },
  {
    name: 'kubectl annotate: an annotation is added to an object without annotations',
    gvk: service,
    original: { metadata: { name: 'web' } },
    patch: { metadata: { annotations: { note: 'x' } } },
    want: { metadata: { name: 'web', annotations: { note: 'x' } } },
  },
  {
    name: 'null for a missing key is ignored',
    gvk: pod,
    original: { metadata: { name: 'web' } },
    patch: { metadata: { labels: null } },
    want: { metadata: { name: 'web' } },
  },
  {
    name: '$patch: delete removes a container by name',
    gvk: pod,
    original: podWith({ containers: [c('app'), c('sidecar')] }),
    patch: { spec: { containers: [{ name: 'sidecar', $patch: 'delete' }] } },
    want: podWith({ containers: [c('app')] }),
  },
  {
    name: '$patch: replace in a list makes the patch items the whole list',
    gvk: pod,
    original: podWith({ containers: [c('app'), c('sidecar')] }),
    patch: { spec: { containers: [{ $patch: 'replace' }, { name: 'only', image: 'only:2' }] } },
    want: podWith({ containers: [{ name: 'only', image: 'only:2' }] }),
  },
  {
    name: '$patch: replace in a map replaces the map',
    gvk: pod,
    original: { metadata: { labels: { a: '1', b: '2' } } },
    patch: { metadata: { labels: { $patch: 'replace', c: '3' } } },
    want: { metadata: { labels: { c: '3' } } },
  },
  {
    name: '$patch: delete in a map empties it',
    gvk: pod,
    original: podWith({ securityContext: { runAsUser: 1000 }, containers: [] }),
    patch: { spec: { securityContext: { $patch: 'delete' } } },
    want: podWith({ securityContext: {}, containers: [] }),
  },
  {
    name: '$retainKeys on a volume drops the old volume source',
    gvk: pod,
    original: podWith({ volumes: [{ name: 'data', emptyDir: {} }, { name: 'cfg', configMap: { name: 'c' } }] }),
    patch: { spec: { volumes: [{ name: 'data', $retainKeys: ['hostPath', 'name'], hostPath: { path: '/srv' } }] } },
    want: podWith({ volumes: [{ name: 'data', hostPath: { path: '/srv' } }, { name: 'cfg', configMap: { name: 'c' } }] }),
  },
  {
    name: '$retainKeys on a Deployment strategy: RollingUpdate → Recreate clears rollingUpdate',
    gvk: deployment,
    original: { spec: { replicas: 2, strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } } } },
    patch: { spec: { strategy: { $retainKeys: ['type'], type: 'Recreate', rollingUpdate: null } } },
    want: { spec: { replicas: 2, strategy: { type: 'Recreate' } } },
  },
  {
    name: '$setElementOrder reorders a list without changing its items',
    gvk: pod,
    original: podWith({ containers: [c('a'), c('b'), c('c')] }),
    patch: { spec: { '$setElementOrder/containers': [{ name: 'c' }, { name: 'a' }, { name: 'b' }] } },
    want: podWith({ containers: [c('c'), c('a'), c('b')] }),
  },
  {
    name: '$setElementOrder places a new item between existing ones',
    gvk: pod,
    original: podWith({ containers: [c('a'), c('b')] }),
    patch: {
      spec: {
        '$setElementOrder/containers': [{ name: 'a' }, { name: 'new' }, { name: 'b' }],
        containers: [{ name: 'new', image: 'new:1' }],
      },
    },
    want: podWith({ containers: [c('a'), c('new'), c('b')] }),
  },
  {
    name: 'kubectl apply removing a container: $setElementOrder plus a delete item',
    gvk: pod,
    original: podWith({ containers: [c('a'), c('b'), c('c')] }),
    patch: {
      spec: {
        '$setElementOrder/containers': [{ name: 'a' }, { name: 'c' }],
        containers: [{ $patch: 'delete', name: 'b' }],
      },
    },
    want: podWith({ containers: [c('a'), c('c')] }),
  },
  {
    // kube orders kept items by the live list as Go's in-place delete-then-append left it:
    // the new container takes the slot the deleted one freed, so `keep` lands before `new`.
    name: 'kubectl apply swapping a container: delete one, add one, with a live-only container',
    gvk: pod,
    original: podWith({ containers: [c('old'), c('app'), c('keep', { image: 'keep:9' })] }),
    patch: {
      spec: {
        '$setElementOrder/containers': [{ name: 'app' }, { name: 'new' }],
        containers: [{ name: 'new', image: 'new:1' }, { $patch: 'delete', name: 'old' }],
      },
    },
    want: podWith({ containers: [c('app'), c('keep', { image: 'keep:9' }), c('new')] }),
  },
  {
    // mergeSortedSlice: an item the live list lacks has no live position, so it goes first.
    name: 'without $setElementOrder a new item goes before the live ones, as in kube',
    gvk: pod,
    original: podWith({ containers: [c('a'), c('b')] }),
    patch: { spec: { containers: [{ name: 'z', image: 'z:1' }] } },
    want: podWith({ containers: [c('z'), c('a'), c('b')] }),
  },
  {
    name: '$deleteFromPrimitiveList removes a finalizer',
    gvk: pod,
    original: { metadata: { finalizers: ['x', 'y', 'z'] } },
    patch: { metadata: { '$deleteFromPrimitiveList/finalizers': ['y'] } },
    want: { metadata: { finalizers: ['x', 'z'] } },
  },
  {
    name: 'finalizers merge as a set, patch order first',
    gvk: pod,
    original: { metadata: { finalizers: ['x', 'y', 'z'] } },
    patch: { metadata: { finalizers: ['w', 'x'] } },
    want: { metadata: { finalizers: ['w', 'x', 'y', 'z'] } },
  },
  {
    name: '$setElementOrder/finalizers with a deletion list (what kubectl apply sends)',
    gvk: pod,
    original: { metadata: { finalizers: ['a', 'b', 'c'] } },
    patch: { metadata: { '$setElementOrder/finalizers': ['c', 'a'], '$deleteFromPrimitiveList/finalizers': ['b'] } },
    want: { metadata: { finalizers: ['c', 'a'] } },
  },
  {
    name: 'container ports merge by containerPort and env by name, inside a container',
    gvk: pod,
    original: podWith({
      containers: [
        {
          name: 'app',
          ports: [{ containerPort: 80, name: 'http' }],
          env: [
            { name: 'A', value: '1' },
            { name: 'B', value: '2' },
          ],
        },
      ],
    }),
    patch: {
      spec: {
        containers: [{ name: 'app', ports: [{ containerPort: 80, hostPort: 8080 }, { containerPort: 443 }], env: [{ name: 'B', value: '3' }] }],
      },
    },
    want: podWith({
      containers: [
        {
          name: 'app',
          ports: [{ containerPort: 80, name: 'http', hostPort: 8080 }, { containerPort: 443 }],
          env: [
            { name: 'A', value: '1' },
            { name: 'B', value: '3' },
          ],
        },
      ],
    }),
  },
  {
    name: 'atomic lists (tolerations, args, envFrom) are replaced',
    gvk: pod,
    original: podWith({
      tolerations: [{ key: 'a', operator: 'Exists' }],
      containers: [{ name: 'app', args: ['x', 'y'], envFrom: [{ configMapRef: { name: 'one' } }] }],
    }),
    patch: { spec: { tolerations: [{ key: 'b', operator: 'Exists' }], containers: [{ name: 'app', args: ['z'], envFrom: [{ secretRef: { name: 's' } }] }] } },
    want: podWith({
      tolerations: [{ key: 'b', operator: 'Exists' }],
      containers: [{ name: 'app', args: ['z'], envFrom: [{ secretRef: { name: 's' } }] }],
    }),
  },
  {
    name: 'pod status conditions merge by type; containerStatuses are atomic',
    gvk: pod,
    original: {
      status: {
        conditions: [
          { type: 'Ready', status: 'False' },
          { type: 'PodScheduled', status: 'True' },
        ],
        containerStatuses: [{ name: 'a', ready: false }, { name: 'b', ready: false }],
      },
    },
    patch: { status: { conditions: [{ type: 'Ready', status: 'True' }], containerStatuses: [{ name: 'a', ready: true }] } },
    want: {
      status: {
        conditions: [
          { type: 'Ready', status: 'True' },
          { type: 'PodScheduled', status: 'True' },
        ],
        containerStatuses: [{ name: 'a', ready: true }],
      },
    },
  },
  {
    name: 'deployment pod template containers merge by name under spec.template.spec',
    gvk: deployment,
    original: { spec: { template: { metadata: { labels: { app: 'x' } }, spec: { containers: [c('app'), c('side')] } } } },
    patch: { spec: { template: { spec: { containers: [{ name: 'app', image: 'app:2' }] } } } },
    want: { spec: { template: { metadata: { labels: { app: 'x' } }, spec: { containers: [{ name: 'app', image: 'app:2' }, c('side')] } } } },
  },
  {
    name: 'ownerReferences merge by uid',
    gvk: pod,
    original: { metadata: { ownerReferences: [{ uid: 'u1', kind: 'ReplicaSet', name: 'rs1' }] } },
    patch: { metadata: { ownerReferences: [{ uid: 'u2', kind: 'ReplicaSet', name: 'rs2' }] } },
    want: {
      metadata: {
        ownerReferences: [
          { uid: 'u2', kind: 'ReplicaSet', name: 'rs2' },
          { uid: 'u1', kind: 'ReplicaSet', name: 'rs1' },
        ],
      },
    },
  },
  {
    name: 'node status addresses merge by type; spec.taints are atomic',
    gvk: node,
    original: {
      spec: { taints: [{ key: 'a', effect: 'NoSchedule' }] },
      status: { addresses: [{ type: 'InternalIP', address: '10.0.0.1' }, { type: 'Hostname', address: 'n1' }] },
    },
    patch: { spec: { taints: [{ key: 'b', effect: 'NoSchedule' }] }, status: { addresses: [{ type: 'InternalIP', address: '10.0.0.2' }] } },
    want: {
      spec: { taints: [{ key: 'b', effect: 'NoSchedule' }] },
      status: { addresses: [{ type: 'InternalIP', address: '10.0.0.2' }, { type: 'Hostname', address: 'n1' }] },
    },
  },
  {
    name: 'serviceaccount secrets merge by name',
    gvk: serviceAccount,
    original: { secrets: [{ name: 'a' }] },
    patch: { secrets: [{ name: 'b' }] },
    want: { secrets: [{ name: 'b' }, { name: 'a' }] },
  },
  {
    name: 'unknown kinds: maps merge, lists are replaced',
    gvk: unknownKind,
    original: { metadata: { labels: { a: '1' } }, spec: { items: [{ name: 'a' }, { name: 'b' }] } },
    patch: { metadata: { labels: { b: '2' } }, spec: { items: [{ name: 'c' }] } },
    want: { metadata: { labels: { a: '1', b: '2' } }, spec: { items: [{ name: 'c' }] } },
  },
  {
    name: 'a value of another shape replaces; nulls and directives inside a new value are dropped',
    gvk: pod,
    original: podWith({ nodeSelector: 'oops', containers: [] }),
    patch: {
      spec: {
        nodeSelector: { disk: 'ssd', gone: null },
        affinity: { nodeAffinity: null, podAffinity: { $patch: 'delete' }, x: { '$setElementOrder/y': [], y: [1] } },
      },
    },
    want: podWith({ nodeSelector: { disk: 'ssd' }, containers: [], affinity: { x: { y: [1] } } }),
  },
  {
    name: 'null removes a field in spec',
    gvk: pod,
    original: podWith({ nodeName: 'n1', containers: [] }),
    patch: { spec: { nodeName: null } },
    want: podWith({ containers: [] }),
  },
  {
    name: 'an empty patch changes nothing',
    gvk: pod,
    original: podWith({ containers: [c('a')] }),
    patch: {},
    want: podWith({ containers: [c('a')] }),
  },
];

describe('applyStrategicMergePatch', () => {
  for (const tc of cases) {
    it(tc.name, () => {
      const original = deepFreeze(structuredClone(tc.original));
      const patch = deepFreeze(structuredClone(tc.patch));
      assert.deepStrictEqual(applyStrategicMergePatch(original, patch, tc.gvk), tc.want);
    });
  }
});

interface ErrorCase {
  name: string;
  original: unknown;
  patch: unknown;
  code: number;
  reason: string;
  message: string | RegExp;
}

const errorCases: ErrorCase[] = [
  {
    name: 'a keyed list item without its merge key',
    original: podWith({ containers: [c('a')] }),
    patch: { spec: { containers: [{ image: 'x' }] } },
    code: 500,
    reason: 'InternalError',
    message: 'map: map[image:x] does not contain declared merge key: name',
  },
  {
    name: '$retainKeys that is not a list',
    original: podWith({ containers: [] }),
    patch: { spec: { $retainKeys: 'x' } },
    code: 400,
    reason: 'BadRequest',
    message: 'invalid patch format of retainKeys',
  },
  {
    name: 'a patched key missing from $retainKeys',
    original: { spec: { strategy: { type: 'RollingUpdate' } } },
    patch: { spec: { strategy: { $retainKeys: ['type'], type: 'Recreate', rollingUpdate: { maxSurge: 1 } } } },
    code: 400,
    reason: 'BadRequest',
    message: 'invalid patch format of retainKeys',
  },
  {
    name: 'a $setElementOrder key without a list name',
    original: podWith({ containers: [] }),
    patch: { spec: { $setElementOrderContainers: [] } },
    code: 400,
    reason: 'BadRequest',
    message: 'invalid patch format of setElementOrder list',
  },
  {
    name: 'a $deleteFromPrimitiveList key without a list name',
    original: { metadata: { finalizers: ['a'] } },
    patch: { metadata: { $deleteFromPrimitiveList: ['a'] } },
    code: 400,
    reason: 'BadRequest',
    message: 'invalid patch format of primitive list',
  },
  {
    name: 'lists of lists',
    original: { metadata: { finalizers: ['a'] } },
    patch: { metadata: { finalizers: [['b']] } },
    code: 422,
    reason: 'Invalid',
    message: 'the server rejected our request due to an error in our request',
  },
  {
    name: '$patch: merge inside a list',
    original: podWith({ containers: [c('a')] }),
    patch: { spec: { containers: [{ $patch: 'merge' }] } },
    code: 500,
    reason: 'InternalError',
    message: 'merging lists cannot yet be specified in the patch',
  },
  {
    name: 'an unknown $patch in a map',
    original: podWith({ containers: [] }),
    patch: { spec: { $patch: 'frobnicate' } },
    code: 500,
    reason: 'InternalError',
    message: /^unknown patch type: frobnicate in map: /,
  },
  {
    name: 'a patch list out of the $setElementOrder order',
    original: podWith({ containers: [c('a'), c('b')] }),
    patch: { spec: { '$setElementOrder/containers': [{ name: 'a' }, { name: 'b' }], containers: [{ name: 'b' }, { name: 'a' }] } },
    code: 500,
    reason: 'InternalError',
    message: /^The order in patch list:/,
  },
  {
    name: 'a patch body that is not an object',
    original: {},
    patch: [1],
    code: 400,
    reason: 'BadRequest',
    message: 'json: cannot unmarshal array into Go value of type map[string]interface {}',
  },
];

describe('applyStrategicMergePatch errors', () => {
  for (const tc of errorCases) {
    it(tc.name, () => {
      const original = deepFreeze(structuredClone(tc.original));
      const patch = deepFreeze(structuredClone(tc.patch));
      assertStatusError(() => applyStrategicMergePatch(original, patch, pod), tc.code, tc.reason, tc.message);
    });
  }
});
