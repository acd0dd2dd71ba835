import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Pod } from 'kubernetes-types/core/v1.d.ts';
import type { FoundPod } from './agent.ts';
import { forwardTarget } from './kubelet-handlers.ts';

function found(uid: string, o: { running?: boolean; podIP?: string; hostNetwork?: boolean } = {}): FoundPod {
  const pod = { metadata: { name: 'web', namespace: 'default', uid }, spec: { containers: [], hostNetwork: o.hostNetwork } } as Pod;
  return { pod, podIP: o.podIP ?? '10.244.0.7', netnsPath: '/run/netns/x', running: o.running ?? true, containerStatus: () => undefined };
}
const want = { namespace: 'default', name: 'web', uid: 'u1' };

describe('forwardTarget: where each port-forward connection goes', () => {
  it('dials the pod the session was opened for, looked up afresh', () => {
    assert.deepEqual(forwardTarget(found('u1'), want), { ip: '10.244.0.7', netnsPath: '/run/netns/x' });
    assert.equal(forwardTarget(found('u1', { hostNetwork: true }), want).ip, '127.0.0.1');
  });

  it('fails at once once that pod is gone, even when a new pod of the same name has its IP', () => {
    const gone = /: failed to find sandbox "u1" in store: not found$/;
    assert.throws(() => forwardTarget(undefined, want), gone);
    assert.throws(() => forwardTarget(found('u2'), want), gone);
    assert.throws(() => forwardTarget(found('u1', { running: false }), want), gone);
    assert.throws(() => forwardTarget(undefined, { ...want, uid: undefined }), /pod default\/web not found/);
  });
});
