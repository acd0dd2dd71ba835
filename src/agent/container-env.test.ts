import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Pod } from 'kubernetes-types/core/v1.d.ts';
import { resolveEnv, type EnvContext } from './container-env.ts';

const ctx: EnvContext = {
  podIP: '10.244.0.5', hostIP: '192.0.2.10', nodeName: 'node1',
  configMaps: new Map([['cfg', { data: { mode: 'fast' } }]]),
  secrets: new Map([['sec', { data: { pw: Buffer.from('s3cret').toString('base64') } }]]),
  serviceEnv: { KUBERNETES_SERVICE_HOST: '10.96.0.1' },
  allocatable: { cpu: '2', memory: '4000000Ki' },
};
const pod: Pod = { metadata: { name: 'web', namespace: 'prod', labels: { app: 'a' } }, spec: { nodeName: 'node1', containers: [] } };

describe('resolveEnv', () => {
  it('resolves fieldRef, configMapKeyRef, secretKeyRef, envFrom and $(VAR)', () => {
    const r = resolveEnv(pod, {
      name: 'c',
      envFrom: [{ configMapRef: { name: 'cfg' }, prefix: 'CFG_' }],
      env: [
        { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
        { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
        { name: 'APP', valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } } },
        { name: 'MODE', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'mode' } } },
        { name: 'PW', valueFrom: { secretKeyRef: { name: 'sec', key: 'pw' } } },
        { name: 'URL', value: 'http://$(POD_IP):80/$$(POD_IP)' },
      ],
    }, ctx);
    assert.deepEqual(r, { env: {
      KUBERNETES_SERVICE_HOST: '10.96.0.1', CFG_mode: 'fast', POD_NAME: 'web', POD_IP: '10.244.0.5', APP: 'a',
      MODE: 'fast', PW: 's3cret', URL: 'http://10.244.0.5:80/$(POD_IP)',
    } });
  });
  it('fails with kubelet\'s words for a missing ConfigMap or key', () => {
    assert.deepEqual(resolveEnv(pod, { name: 'c', env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'nope', key: 'k' } } }] }, ctx),
      { reason: 'CreateContainerConfigError', message: 'configmap "nope" not found' });
    assert.deepEqual(resolveEnv(pod, { name: 'c', env: [{ name: 'X', valueFrom: { secretKeyRef: { name: 'sec', key: 'k' } } }] }, ctx),
      { reason: 'CreateContainerConfigError', message: "couldn't find key k in Secret prod/sec" });
  });
  it('leaves unknown references alone', () => {
    const r = resolveEnv(pod, { name: 'c', env: [{ name: 'A', value: '1' }, { name: 'B', value: '$(NOPE) $(A)' }] }, ctx);
    assert.equal('env' in r && r.env.B, '$(NOPE) 1');
  });
  it('gives resourceFieldRef the limits and requests scaled by the divisor, an unset limit being the node allocatable', () => {
    const r = resolveEnv(pod, {
      name: 'c',
      resources: { limits: { memory: '64Mi', cpu: '500m' }, requests: { cpu: '250m' } },
      env: [
        { name: 'MEM_LIMIT', valueFrom: { resourceFieldRef: { resource: 'limits.memory' } } },
        { name: 'MEM_LIMIT_MI', valueFrom: { resourceFieldRef: { resource: 'limits.memory', divisor: '1Mi' } } },
        { name: 'CPU_LIMIT', valueFrom: { resourceFieldRef: { resource: 'limits.cpu', divisor: '1m' } } },
        { name: 'CPU_LIMIT_CORES', valueFrom: { resourceFieldRef: { resource: 'limits.cpu' } } },
        { name: 'CPU_REQUEST', valueFrom: { resourceFieldRef: { resource: 'requests.cpu', divisor: '1m' } } },
        { name: 'MEM_REQUEST', valueFrom: { resourceFieldRef: { resource: 'requests.memory' } } },
      ],
    }, ctx);
    assert.ok('env' in r);
    assert.deepEqual([r.env.MEM_LIMIT, r.env.MEM_LIMIT_MI, r.env.CPU_LIMIT, r.env.CPU_LIMIT_CORES, r.env.CPU_REQUEST, r.env.MEM_REQUEST],
      ['67108864', '64', '500', '1', '250', '67108864']);
    const unset = resolveEnv(pod, { name: 'c', env: [
      { name: 'CPU', valueFrom: { resourceFieldRef: { resource: 'limits.cpu' } } },
      { name: 'MEM', valueFrom: { resourceFieldRef: { resource: 'limits.memory' } } },
      { name: 'REQ', valueFrom: { resourceFieldRef: { resource: 'requests.cpu' } } },
    ] }, ctx);
    assert.deepEqual('env' in unset && [unset.env.CPU, unset.env.MEM, unset.env.REQ], ['2', String(4000000 * 1024), '0']);
    assert.deepEqual(resolveEnv(pod, { name: 'c', env: [{ name: 'X', valueFrom: { resourceFieldRef: { resource: 'limits.nope' } } }] }, ctx),
      { reason: 'CreateContainerConfigError', message: 'unsupported container resource : limits.nope' });
  });
});
