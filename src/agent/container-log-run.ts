// Which run of a container `kubectl logs` reads, by the kubelet's rules (pure: a status in, a run
// number or the kubelet's error text out).
import type { ContainerStatus } from 'kubernetes-types/core/v1.d.ts';

/** The run to read (its restart count, which names its log file), or the error the kubelet answers with 400. */
export type LogRun = { run: number } | { error: string };

/**
 * The restart count a podgate container id names (`podgate://<pod uid>/<container>/<restart count>`,
 * see PodWorker), or undefined for an id that is not podgate's.
 */
export function runOfContainerID(id: string | undefined): number | undefined {
  const m = /^podgate:\/\/[^/]+\/[^/]+\/(\d+)$/.exec(id ?? '');
  return m ? Number(m[1]) : undefined;
}

/**
 * Picks the run `kubectl logs [--previous]` shows, as kubelet validateContainerLogStatus
 * (pkg/kubelet/kubelet_pods.go) picks a container id: --previous is always the last terminated run
 * (lastState), also while the container waits in CrashLoopBackOff, when the current logs show that
 * same run; otherwise the running or terminated run. A container that has not run gives the
 * kubelet's words for what it waits for.
 */
export function selectLogRun(status: ContainerStatus | undefined, o: { container: string; pod: string; previous: boolean }): LogRun {
  const { container, pod } = o;
  if (!status) return { error: `container "${container}" in pod "${pod}" is not available` };
  const last = status.lastState?.terminated;
  const { waiting, running, terminated } = status.state ?? {};
  const of = (id: string | undefined, ifNone: string): LogRun => {
    const run = runOfContainerID(id);
    return run === undefined ? { error: ifNone } : { run };
  };
  const isTerminated = `container "${container}" in pod "${pod}" is terminated`;
  if (o.previous) return of(last?.containerID, `previous terminated container "${container}" in pod "${pod}" not found`);
  if (running) return of(status.containerID, `container "${container}" in pod "${pod}" is not available`);
  if (terminated) {
    // The next run did not start: its id is empty, and the logs are those of lastState.
    return of(terminated.containerID || last?.containerID, isTerminated);
  }
  if (last) return of(last.containerID, isTerminated);
  if (waiting) {
    switch (waiting.reason) {
      case 'ErrImagePull': return { error: `container "${container}" in pod "${pod}" is waiting to start: image can't be pulled` };
      case 'ImagePullBackOff': return { error: `container "${container}" in pod "${pod}" is waiting to start: trying and failing to pull image` };
      default: return { error: `container "${container}" in pod "${pod}" is waiting to start: ${waiting.reason ?? ''}` };
    }
  }
  return { error: `container "${container}" in pod "${pod}" is waiting to start - no logs yet` };
}
