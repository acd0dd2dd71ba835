// A pod's status as the kubelet reports it, computed from what the agent knows about its
// containers (pure: objects in, status out).
import type { ContainerStatus, Pod, PodCondition, PodStatus } from 'kubernetes-types/core/v1.d.ts';

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

/** Phase by kubelet's rules (getPhase): Pending until a container runs; Succeeded/Failed when all are done. */
export function podPhase(pod: Pod, view: PodRuntimeView): PodStatus['phase'] {
  const cs = view.containers;
  if (cs.length === 0) return 'Pending';
  const running = cs.filter((c) => c.state.kind === 'running').length;
  const waiting = cs.filter((c) => c.state.kind === 'waiting').length;
  const terminated = cs.filter((c) => c.state.kind === 'terminated');
  const succeeded = terminated.filter((c) => c.state.kind === 'terminated' && c.state.exitCode === 0).length;
  const failed = terminated.length - succeeded;
  const restartPolicy = pod.spec?.restartPolicy ?? 'Always';
  if (waiting > 0 && running === 0 && terminated.length === 0) return 'Pending';
  if (running > 0) return 'Running';
  if (waiting > 0) {
    // Containers waiting to restart keep a started pod Running.
    return cs.some((c) => c.restartCount > 0 || c.lastTerminated) ? 'Running' : 'Pending';
  }
  if (terminated.length === cs.length) {
    if (restartPolicy === 'Always') return 'Running';
    if (failed === 0) return 'Succeeded';
    return restartPolicy === 'Never' || cs.every((c) => c.done) ? 'Failed' : 'Running';
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
  const notReady = view.containers.filter((c) => !c.ready).map((c) => c.name);
  const containersReady = notReady.length === 0 && view.containers.length > 0;
  const terminal = phase === 'Succeeded' || phase === 'Failed';
  const readyMsg = notReady.length ? `containers with unready status: [${notReady.join(' ')}]` : undefined;
  const conditions: PodCondition[] = [
    condition('PodReadyToStartContainers', view.sandboxReady, now, prev),
    condition('Initialized', true, now, prev),
    condition('Ready', containersReady && !terminal, now, prev, terminal ? 'PodCompleted' : 'ContainersNotReady', terminal ? undefined : readyMsg),
    condition('ContainersReady', containersReady && !terminal, now, prev, terminal ? 'PodCompleted' : 'ContainersNotReady', terminal ? undefined : readyMsg),
    ...(prev ?? []).filter((c) => c.type === 'PodScheduled'),
  ];
  const status: PodStatus = {
    phase,
    conditions,
    hostIP: view.hostIP,
    hostIPs: [{ ip: view.hostIP }],
    containerStatuses: statuses,
    qosClass: pod.status?.qosClass ?? 'BestEffort',
  };
  if (view.podIP) Object.assign(status, { podIP: view.podIP, podIPs: [{ ip: view.podIP }] });
  if (view.startTime) Object.assign(status, { startTime: view.startTime });
  return status;
}
