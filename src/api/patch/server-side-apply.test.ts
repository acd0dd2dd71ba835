import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { applyServerSideApply } from './server-side-apply.ts';
import type { GroupVersionKind } from './patch-meta.ts';
import { assertStatusError, deepFreeze } from './test-helpers.ts';

const pod: GroupVersionKind = { group: '', version: 'v1', kind: 'Pod' };
const deployment: GroupVersionKind = { group: 'apps', version: 'v1', kind: 'Deployment' };

const livePod = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'web', namespace: 'default', uid: 'u1', resourceVersion: '7', labels: { app: 'web', tier: 'fe' }, finalizers: ['a'] },
  spec: {
    containers: [
      { name: 'nginx', image: 'nginx:1.26', ports: [{ containerPort: 80, protocol: 'TCP' }], terminationMessagePath: '/dev/termination-log' },
      { name: 'sidecar', image: 'busybox' },
    ],
    tolerations: [{ key: 'x', operator: 'Exists' }],
    nodeName: 'n1',
  },
  status: { phase: 'Running' },
};

const cases: { name: string; gvk: GroupVersionKind; live: unknown; applied: unknown; want: unknown }[] = [
  {
    name: 'create: the configuration is the object, nulls dropped',
    gvk: pod,
    live: undefined,
    applied: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web', labels: null }, spec: { containers: [{ name: 'nginx', image: 'nginx' }] } },
    want: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web' }, spec: { containers: [{ name: 'nginx', image: 'nginx' }] } },
  },
  {
    name: 'update: mentioned fields change, unmentioned ones (server defaults, status, other containers) stay',
    gvk: pod,
    live: livePod,
    applied: {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'web', labels: { app: 'web2' }, finalizers: ['b'] },
      spec: { containers: [{ name: 'nginx', image: 'nginx:1.27', ports: [{ containerPort: 443 }] }], tolerations: [{ key: 'y', operator: 'Exists' }] },
    },
    want: {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'web', namespace: 'default', uid: 'u1', resourceVersion: '7', labels: { app: 'web2', tier: 'fe' }, finalizers: ['b', 'a'] },
      spec: {
        containers: [
          {
            name: 'nginx',
            image: 'nginx:1.27',
            ports: [{ containerPort: 443 }, { containerPort: 80, protocol: 'TCP' }],
            terminationMessagePath: '/dev/termination-log',
          },
          { name: 'sidecar', image: 'busybox' },
        ],
        tolerations: [{ key: 'y', operator: 'Exists' }],
        nodeName: 'n1',
      },
      status: { phase: 'Running' },
    },
  },
  {
    name: 'a deployment: the pod template merges by container name',
    gvk: deployment,
    live: { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' }, spec: { replicas: 3, template: { spec: { containers: [{ name: 'a', image: 'a:1' }] } } } },
    applied: { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' }, spec: { template: { spec: { containers: [{ name: 'a', image: 'a:2' }] } } } },
    want: { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' }, spec: { replicas: 3, template: { spec: { containers: [{ name: 'a', image: 'a:2' }] } } } },
  },
];

describe('applyServerSideApply', () => {
  for (const tc of cases) {
    it(tc.name, () => {
      const live = tc.live === undefined ? undefined : deepFreeze(structuredClone(tc.live));
      assert.deepStrictEqual(applyServerSideApply(live, deepFreeze(structuredClone(tc.applied)), tc.gvk), tc.want);
    });
  }

  it('rejects another apiVersion with kube’s words', () => {
    assertStatusError(
      () => applyServerSideApply(livePod, { apiVersion: 'apps/v1', kind: 'Pod', metadata: { name: 'web' } }, pod),
      400,
      'BadRequest',
      'Incorrect version specified in apply patch. Specified patch version: apps/v1, expected: v1',
    );
  });

  it('rejects metadata.managedFields', () => {
    assertStatusError(
      () => applyServerSideApply(livePod, { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web', managedFields: [] } }, pod),
      400,
      'BadRequest',
      'metadata.managedFields must be nil',
    );
  });

  it('rejects a configuration that is not an object', () => {
    assertStatusError(() => applyServerSideApply(livePod, ['x'], pod), 400, 'BadRequest');
  });
});
