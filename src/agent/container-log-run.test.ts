import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ContainerStatus } from 'kubernetes-types/core/v1.d.ts';
import { runOfContainerID, selectLogRun } from './container-log-run.ts';

const id = (n: number) => `podgate://uid-1/c/${n}`;
const ended = (n: number) => ({ terminated: { exitCode: 1, reason: 'Error', containerID: id(n) } });
function status(s: Partial<ContainerStatus>): ContainerStatus {
  return { name: 'c', image: 'busybox', imageID: '', ready: false, restartCount: 0, ...s } as ContainerStatus;
}
const pick = (s: ContainerStatus | undefined, previous: boolean) => selectLogRun(s, { container: 'c', pod: 'crash2', previous });

describe('selectLogRun (kubelet validateContainerLogStatus)', () => {
  it('running after one restart: the current run, and --previous the one that crashed', () => {
    const s = status({ restartCount: 1, containerID: id(1), state: { running: { startedAt: 't' } }, lastState: ended(0) });
    assert.deepEqual(pick(s, false), { run: 1 });
    assert.deepEqual(pick(s, true), { run: 0 });
  });

  it('in CrashLoopBackOff both the current logs and --previous show the run that crashed last', () => {
    const s = status({ restartCount: 2, containerID: id(2), state: { waiting: { reason: 'CrashLoopBackOff' } }, lastState: ended(2) });
    assert.deepEqual(pick(s, false), { run: 2 });
    assert.deepEqual(pick(s, true), { run: 2 });
  });

  it('terminated and not restarted: that run; --previous the one before it, if any', () => {
    const once = status({ containerID: id(0), state: ended(0), lastState: {} });
    assert.deepEqual(pick(once, false), { run: 0 });
    assert.deepEqual(pick(once, true), { error: 'previous terminated container "c" in pod "crash2" not found' });
    const twice = status({ restartCount: 1, containerID: id(1), state: ended(1), lastState: ended(0) });
    assert.deepEqual(pick(twice, true), { run: 0 });
  });

  it('a container that never ran says what it waits for, in the kubelet\'s words', () => {
    const waiting = (reason: string) => status({ state: { waiting: { reason } }, lastState: {} });
    assert.deepEqual(pick(waiting('ErrImagePull'), false), { error: 'container "c" in pod "crash2" is waiting to start: image can\'t be pulled' });
    assert.deepEqual(pick(waiting('ImagePullBackOff'), false), { error: 'container "c" in pod "crash2" is waiting to start: trying and failing to pull image' });
    assert.deepEqual(pick(waiting('ContainerCreating'), false), { error: 'container "c" in pod "crash2" is waiting to start: ContainerCreating' });
    assert.deepEqual(pick(waiting('ErrImagePull'), true), { error: 'previous terminated container "c" in pod "crash2" not found' });
    assert.deepEqual(pick(undefined, false), { error: 'container "c" in pod "crash2" is not available' });
  });

  it('reads the restart count out of podgate container ids only', () => {
    assert.equal(runOfContainerID('podgate://0b1c/app/12'), 12);
    assert.equal(runOfContainerID('containerd://abc'), undefined);
    assert.equal(runOfContainerID(undefined), undefined);
  });
});
