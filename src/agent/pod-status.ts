// A pod's status as the kubelet reports it, computed from what the agent knows about its
// containers (pure: objects in, status out).
import type { ContainerStatus, Pod, PodCondition, PodStatus } from 'kubernetes-types/core/v1.d.ts';
import { isSidecar } from './sidecars.ts';

export type ContainerState =
  | { kind: 'waiting'; reason: string; message?: string }
  | { kind: 'running'; startedAt: string }
  | { kind: 'terminated'; exitCode: number; signal?: number; reason: string; message?: string; startedAt: string; finishedAt: string; containerID?: string };

export interface ContainerRecord {
  name: string;
  image: string;
  state: ContainerState;
  lastTerminated?: Extract<ContainerState, { kind: 'terminated' }>;
  restartCount: number;
  ready: boolean;
  started: boolean;
  containerID?: string;
  /** The container will not run again (restartPolicy says so). */
  done: boolean;
}

export interface PodRuntimeView {
  podIP?: string;
  hostIP: string;
  startTime?: string;
  sandboxReady: boolean;
  containers: ContainerRecord[];
  /**
   * In spec order; each runs to success (a sidecar, `restartPolicy: Always`, until started) before
   * the next, all before the app containers.
   */
  initContainers?: ContainerRecord[];
}

function initSucceeded(c: ContainerRecord): boolean {
  return c.state.kind === 'terminated' && c.state.exitCode === 0;
}

function stateJson(s: ContainerState): ContainerStatus['state'] {
  switch (s.kind) {
    case 'waiting': return { waiting: s.message ? { reason: s.reason, message: s.message } : { reason: s.reason } };
    case 'running': return { running: { startedAt: s.startedAt } };
    case 'terminated': {
      const t: Record<string, unknown> = { exitCode: s.exitCode, reason: s.reason, startedAt: s.startedAt, finishedAt: s.finishedAt };
      if (s.signal) t.signal = s.signal;
      if (s.message) t.message = s.message;
      // The run that ended: `kubectl logs` (also --previous) reads the log of this id.
      if (s.containerID) t.containerID = s.containerID;
      return { terminated: t as never };
    }
  }
}

/** One container's status as the API shows it. */
export function containerStatusOf(c: ContainerRecord): ContainerStatus {
  const s: Record<string, unknown> = {
    name: c.name, image: c.image, imageID: '', ready: c.ready, restartCount: c.restartCount,
    started: c.started, state: stateJson(c.state), lastState: c.lastTerminated ? stateJson(c.lastTerminated) : {},
  };
  if (c.containerID) s.containerID = c.containerID;
  return s as unknown as ContainerStatus;
}

/** The init containers of the spec that are sidecars (`restartPolicy: Always`), by name. */
function sidecarNames(pod: Pod): Set<string> {
  return new Set((pod.spec?.initContainers ?? []).filter(isSidecar).map((c) => c.name));
}

/** kubelet's HasAnyRegularContainerStarted: an app container is running or has terminated. */
function anyAppContainerStarted(view: PodRuntimeView): boolean {
  return view.containers.some((c) => c.state.kind === 'running' || c.state.kind === 'terminated');
}

/**
 * Phase by kubelet's rules (getPhase): a container waiting to restart (it has a last termination)
 * counts as stopped, not waiting; any other waiting container keeps the pod Pending; Succeeded or
 * Failed once all containers stopped and restartPolicy will not run them again. Sidecars
 * (restartable init containers) count as running while they run; once they exited they count
 * neither as running nor as stopped, so the app containers alone make the pod Succeeded or Failed.
 */
export function podPhase(pod: Pod, view: PodRuntimeView): PodStatus['phase'] {
  const cs = view.containers;
  if (cs.length === 0) return 'Pending';
  const restartPolicy = pod.spec?.restartPolicy ?? 'Always';
  const sidecars = sidecarNames(pod);
  // Ordinary init containers: a failed one fails the pod under Never; any unfinished keeps it Pending.
  let pendingInit = 0;
  let failedInit = 0;
  let pendingSidecars = 0;
  let waiting = 0;
  let running = 0;
  let stopped = 0;
  let succeeded = 0;
  for (const c of view.initContainers ?? []) {
    if (sidecars.has(c.name)) {
      if (c.state.kind === 'running') {
        if (!c.started) pendingSidecars++;
        running++;
      } else if (c.state.kind === 'waiting' && !c.lastTerminated) {
        pendingSidecars++;
        waiting++;
      }
      continue;
    }
    const last = c.state.kind === 'terminated' ? c.state : c.state.kind === 'waiting' ? c.lastTerminated : undefined;
    if (c.state.kind === 'running' || !last) pendingInit++;
    else if (last.exitCode !== 0) failedInit++;
  }
  if (failedInit > 0 && restartPolicy === 'Never') return 'Failed';
  if (pendingInit > 0 || failedInit > 0) return 'Pending';
  if (pendingSidecars > 0 && !anyAppContainerStarted(view)) return 'Pending';
  for (const c of cs) {
    if (c.state.kind === 'running') running++;
    else if (c.state.kind === 'terminated') {
      stopped++;
      if (c.state.exitCode === 0) succeeded++;
    } else if (c.lastTerminated) stopped++;
    else waiting++;
  }
  if (waiting > 0) return 'Pending';
  if (running > 0) return 'Running';
  if (stopped > 0) {
    if (restartPolicy === 'Always') return 'Running';
    if (stopped === succeeded) return 'Succeeded';
    return restartPolicy === 'Never' ? 'Failed' : 'Running';
  }
  return 'Pending';
}

function condition(type: string, ok: boolean, now: string, prev: PodCondition[] | undefined, reason?: string, message?: string): PodCondition {
  const status = ok ? 'True' : 'False';
  const before = prev?.find((c) => c.type === type);
  const c: Record<string, unknown> = {
    type, status, lastProbeTime: null,
    lastTransitionTime: before && before.status === status && before.lastTransitionTime ? before.lastTransitionTime : now,
  };
  if (!ok && reason) c.reason = reason;
  if (!ok && message) c.message = message;
  return c as unknown as PodCondition;
}

/** The whole status object to write (conditions keep their transition times when unchanged). */
export function computePodStatus(pod: Pod, view: PodRuntimeView, now: string): PodStatus {
  const prev = pod.status?.conditions;
  const phase = podPhase(pod, view);
  const statuses: ContainerStatus[] = view.containers.map(containerStatusOf);
  const inits = view.initContainers ?? [];
  const sidecars = sidecarNames(pod);
  // A completed init container reports ready, as the kubelet's does; a sidecar is ready as an app
  // container is (its readiness probe, else once started).
  const initStatuses = inits.map((c) => containerStatusOf(sidecars.has(c.name) ? c : { ...c, ready: initSucceeded(c) }));
  // kubelet's GeneratePodInitializedCondition: a sidecar is complete once started; once an app
  // container has run the pod stays initialized (a sidecar may be restarting).
  const incomplete = inits.filter((c) => (sidecars.has(c.name) ? !(c.state.kind === 'running' && c.started) : !initSucceeded(c))).map((c) => c.name);
  const initialized = incomplete.length === 0 || anyAppContainerStarted(view);
  // Ready and ContainersReady: the sidecars (in spec order), then the app containers.
  const notReady = [...inits.filter((c) => sidecars.has(c.name)), ...view.containers].filter((c) => !c.ready).map((c) => c.name);
  const containersReady = notReady.length === 0 && view.containers.length > 0;
  const terminal = phase === 'Succeeded' || phase === 'Failed';
  const readyMsg = notReady.length ? `containers with unready status: [${notReady.join(' ')}]` : undefined;
  // kubelet's generate*ConditionForTerminalPhase: a finished pod is not ready because it completed or failed.
  const notReadyReason = phase === 'Succeeded' ? 'PodCompleted' : phase === 'Failed' ? 'PodFailed' : 'ContainersNotReady';
  const initializedCondition = condition('Initialized', initialized, now, prev, 'ContainersNotInitialized', `containers with incomplete status: [${incomplete.join(' ')}]`);
  // GeneratePodInitializedCondition: a Succeeded pod with init containers is initialized because it completed.
  if (phase === 'Succeeded' && inits.length > 0 && initialized) initializedCondition.reason = 'PodCompleted';
  const conditions: PodCondition[] = [
    condition('PodReadyToStartContainers', view.sandboxReady, now, prev),
    initializedCondition,
    condition('Ready', containersReady && !terminal, now, prev, notReadyReason, terminal ? undefined : readyMsg),
    condition('ContainersReady', containersReady && !terminal, now, prev, notReadyReason, terminal ? undefined : readyMsg),
    ...(prev ?? []).filter((c) => c.type === 'PodScheduled'),
  ];
  const status: PodStatus = {
    phase,
    conditions,
    hostIP: view.hostIP,
    hostIPs: [{ ip: view.hostIP }],
    ...(inits.length > 0 ? { initContainerStatuses: initStatuses } : {}),
    containerStatuses: statuses,
    qosClass: pod.status?.qosClass ?? 'BestEffort',
  };
  if (view.podIP) Object.assign(status, { podIP: view.podIP, podIPs: [{ ip: view.podIP }] });
  if (view.startTime) Object.assign(status, { startTime: view.startTime });
  return status;
}
