// Native sidecars' pure parts: the init planner, when the pod is done, the stop order, and the
// phase and conditions the kubelet reports for a pod with sidecars.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Pod } from 'kubernetes-types/core/v1.d.ts';
import { computePodStatus, podPhase, type ContainerRecord, type ContainerState, type PodRuntimeView } from './pod-status.ts';
import { appContainersFinished, isSidecar, planInitContainers, terminationPrereqs, type InitStep } from './sidecars.ts';

const step = (name: string, o: Partial<InitStep> = {}): InitStep => ({ name, sidecar: false, exists: false, started: false, succeeded: false, ...o });

describe('planInitContainers', () => {
  it('starts the first init container when nothing ran', () => {
    assert.deepEqual(planInitContainers([step('side', { sidecar: true }), step('i')], false), { sync: ['side'], initialized: false });
  });

  it('holds the next init container until the sidecar has started (startup probe passed)', () => {
    const running = step('side', { sidecar: true, exists: true, started: false });
    assert.deepEqual(planInitContainers([running, step('i')], false), { sync: ['side'], initialized: false });
    const started = { ...running, started: true };
    assert.deepEqual(planInitContainers([started, step('i')], false), { sync: ['side', 'i'], initialized: false });
  });

  it('is initialized once ordinary init containers succeeded and sidecars started', () => {
    const steps = [step('side', { sidecar: true, exists: true, started: true }), step('i', { exists: true, succeeded: true }), step('side2', { sidecar: true, exists: true, started: true })];
    // The ordinary one is behind a later init container that ran: left alone.
    assert.deepEqual(planInitContainers(steps, false), { sync: ['side', 'side2'], initialized: true });
  });

  it('keeps restarting a sidecar that exited after a later init container ran, without holding that one back', () => {
    const steps = [step('side', { sidecar: true, exists: true, started: false }), step('i', { exists: true })];
    assert.deepEqual(planInitContainers(steps, false), { sync: ['side', 'i'], initialized: false });
  });

  it('once an app container runs, only keeps the sidecars running', () => {
    const steps = [step('i', { exists: true, succeeded: true }), step('side', { sidecar: true, exists: true, started: false })];
    assert.deepEqual(planInitContainers(steps, true), { sync: ['side'], initialized: true });
  });

  it('stops at an ordinary init container that has not succeeded', () => {
    assert.deepEqual(planInitContainers([step('i1', { exists: true }), step('i2')], false), { sync: ['i1'], initialized: false });
  });

  it('treats an empty list as initialized', () => {
    assert.deepEqual(planInitContainers([], false), { sync: [], initialized: true });
  });
});

const running = (): ContainerState => ({ kind: 'running', startedAt: 't' });
const exited = (exitCode: number): Extract<ContainerState, { kind: 'terminated' }> => ({ kind: 'terminated', exitCode, reason: exitCode === 0 ? 'Completed' : 'Error', startedAt: 't', finishedAt: 't' });
const rec = (name: string, state: ContainerState, o: Partial<ContainerRecord> = {}): ContainerRecord => ({
  name, image: 'busybox', state, restartCount: 0, ready: state.kind === 'running', started: state.kind === 'running', done: false, ...o,
});

describe('appContainersFinished', () => {
  it('is true under Never once every app container exited, whatever the exit code', () => {
    assert.equal(appContainersFinished('Never', [rec('a', exited(0)), rec('b', exited(3))]), true);
    assert.equal(appContainersFinished('Never', [rec('a', exited(0)), rec('b', running())]), false);
  });
  it('under OnFailure waits for a failed container to be restarted; never under Always', () => {
    assert.equal(appContainersFinished('OnFailure', [rec('a', exited(0))]), true);
    assert.equal(appContainersFinished('OnFailure', [rec('a', exited(1))]), false);
    assert.equal(appContainersFinished('Always', [rec('a', exited(0))]), false);
    assert.equal(appContainersFinished(undefined, [rec('a', exited(0))]), false);
  });
  it('a container waiting to restart has not finished', () => {
    assert.equal(appContainersFinished('OnFailure', [rec('a', { kind: 'waiting', reason: 'CrashLoopBackOff' }, { lastTerminated: exited(1) })]), false);
  });
});

describe('terminationPrereqs', () => {
  const spec = {
    initContainers: [{ name: 's1', restartPolicy: 'Always' }, { name: 'init' }, { name: 's2', restartPolicy: 'Always' }, { name: 's3', restartPolicy: 'Always' }],
    containers: [{ name: 'a' }, { name: 'b' }],
  };
  it('stops app containers at once and sidecars after them, in reverse order', () => {
    const p = terminationPrereqs(spec, ['s1', 's2', 's3', 'a', 'b']);
    assert.deepEqual(Object.fromEntries(p), { s1: ['a', 'b', 's2', 's3'], s2: ['a', 'b', 's3'], s3: ['a', 'b'], a: [], b: [] });
  });
  it('waits only for what runs', () => {
    const p = terminationPrereqs(spec, ['s1', 's3', 'b']);
    assert.deepEqual(Object.fromEntries(p), { s1: ['b', 's3'], s3: ['b'], b: [] });
    assert.deepEqual(Object.fromEntries(terminationPrereqs(spec, ['s1', 'init'])), { s1: [], init: [] });
  });
  it('knows a sidecar by restartPolicy Always only', () => {
    assert.equal(isSidecar({ restartPolicy: 'Always' }), true);
    assert.equal(isSidecar({}), false);
    assert.equal(isSidecar(undefined), false);
  });
});

function podWith(restartPolicy: 'Always' | 'Never' | 'OnFailure'): Pod {
  return {
    metadata: { name: 'p', namespace: 'ns', uid: 'u' },
    spec: { restartPolicy, initContainers: [{ name: 'side', image: 'busybox', restartPolicy: 'Always' }, { name: 'init', image: 'busybox' }], containers: [{ name: 'app', image: 'busybox' }] },
  };
}
const view = (side: ContainerRecord, init: ContainerRecord, app: ContainerRecord): PodRuntimeView => ({
  podIP: '10.244.0.5', hostIP: '192.0.2.10', sandboxReady: true, initContainers: [side, init], containers: [app],
});
const notYet = (name: string, reason = 'PodInitializing') => rec(name, { kind: 'waiting', reason });
const cond = (s: ReturnType<typeof computePodStatus>, type: string) => s.conditions!.find((c) => c.type === type)!;

describe('phase and status of a pod with a sidecar', () => {
  it('is Pending and not Initialized while the sidecar has not started', () => {
    const pod = podWith('Always');
    const v = view(rec('side', running(), { started: false, ready: false }), notYet('init'), notYet('app'));
    assert.equal(podPhase(pod, v), 'Pending');
    const s = computePodStatus(pod, v, 'now');
    assert.equal(cond(s, 'Initialized').message, 'containers with incomplete status: [side init]');
  });

  it('is Running, Initialized and Ready with the sidecar counted among the ready containers', () => {
    const pod = podWith('Always');
    const v = view(rec('side', running()), rec('init', exited(0), { started: false, ready: false }), rec('app', running()));
    assert.equal(podPhase(pod, v), 'Running');
    const s = computePodStatus(pod, v, 'now');
    assert.equal(cond(s, 'Initialized').status, 'True');
    assert.equal(cond(s, 'Ready').status, 'True');
    assert.equal(cond(s, 'ContainersReady').status, 'True');
    assert.deepEqual(s.initContainerStatuses!.map((c) => [c.name, c.started, c.ready, Object.keys(c.state!)[0]]),
      [['side', true, true, 'running'], ['init', false, true, 'terminated']]);
  });

  it('is not Ready while the sidecar is not ready, naming it first', () => {
    const pod = podWith('Always');
    const v = view(rec('side', running(), { ready: false }), rec('init', exited(0)), rec('app', running(), { ready: false }));
    const s = computePodStatus(pod, v, 'now');
    assert.equal(cond(s, 'Ready').status, 'False');
    assert.equal(cond(s, 'ContainersReady').message, 'containers with unready status: [side app]');
    assert.equal(s.initContainerStatuses![0]!.ready, false);
  });

  it('stays Running and Initialized while the sidecar restarts', () => {
    const pod = podWith('Always');
    const side = rec('side', { kind: 'waiting', reason: 'CrashLoopBackOff' }, { lastTerminated: exited(1), restartCount: 1, ready: false, started: false });
    const v = view(side, rec('init', exited(0)), rec('app', running()));
    assert.equal(podPhase(pod, v), 'Running');
    const s = computePodStatus(pod, v, 'now');
    assert.equal(cond(s, 'Initialized').status, 'True');
    assert.equal(cond(s, 'Ready').status, 'False');
  });

  it('under Never is Running while the sidecar still runs after the app exited, then Succeeded from the app alone', () => {
    const pod = podWith('Never');
    assert.equal(podPhase(pod, view(rec('side', running()), rec('init', exited(0)), rec('app', exited(0)))), 'Running');
    // Stopped by SIGTERM: its exit code does not fail the pod.
    const v = view(rec('side', exited(143), { ready: false, started: false }), rec('init', exited(0)), rec('app', exited(0)));
    assert.equal(podPhase(pod, v), 'Succeeded');
    const s = computePodStatus(pod, v, 'now');
    assert.equal(cond(s, 'Initialized').status, 'True');
    assert.equal(cond(s, 'Initialized').reason, 'PodCompleted');
    assert.equal(cond(s, 'Ready').reason, 'PodCompleted');
  });

  it('under Never is Failed when the app container failed, whatever the sidecar did', () => {
    const pod = podWith('Never');
    const v = view(rec('side', exited(0), { ready: false }), rec('init', exited(0)), rec('app', exited(2)));
    assert.equal(podPhase(pod, v), 'Failed');
    // kubelet's generatePodReadyConditionForTerminalPhase: failed, not completed.
    const s = computePodStatus(pod, v, 'now');
    assert.deepEqual([cond(s, 'Ready').reason, cond(s, 'ContainersReady').reason, cond(s, 'Initialized').reason], ['PodFailed', 'PodFailed', undefined]);
  });

  it('under Never is Failed when an ordinary init container failed, even with the sidecar running', () => {
    const pod = podWith('Never');
    assert.equal(podPhase(pod, view(rec('side', running()), rec('init', exited(1)), notYet('app'))), 'Failed');
  });
});
