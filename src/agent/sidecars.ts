// Native sidecar containers (KEP-753): an entry of `spec.initContainers` with `restartPolicy:
// Always`. Pure planning the pod worker applies: which init containers to sync (start, or restart
// after an exit), when the pod counts as initialized, when the pod must be stopped, and in which
// order its containers stop (kubelet's computeInitContainerActions, computePodActions and
// terminationOrdering, Kubernetes 1.32).
import type { Container, PodSpec } from 'kubernetes-types/core/v1.d.ts';
import type { ContainerRecord } from './pod-status.ts';

/** A restartable init container: a sidecar (kubelet's types.IsRestartableInitContainer). */
export function isSidecar(c: Pick<Container, 'restartPolicy'> | undefined): boolean {
  return c?.restartPolicy === 'Always';
}

/** What the planner needs to know of one init container, in spec order. */
export interface InitStep {
  name: string;
  sidecar: boolean;
  /** The runtime has (or had) a container for it: running, exited, or waiting to restart after an exit. */
  exists: boolean;
  /** Running and started: its postStart hook returned and its startup probe passed (or it has none of them). */
  started: boolean;
  /** Terminated with exit code 0. */
  succeeded: boolean;
}

export interface InitPlan {
  /** Init containers to sync now (start, or restart after an exit), in spec order. */
  sync: string[];
  /** Every init container is done (ordinary ones succeeded, sidecars started): app containers may run. */
  initialized: boolean;
}

/**
 * kubelet's computeInitContainerActions. Init containers start one at a time in order: an ordinary
 * one must exit 0, a sidecar must be started, before the next starts. An init container is
 * "previously initialized" once a later init container exists or an app container runs: then an
 * ordinary one is left alone and a sidecar is only kept running (restarted whenever it exited),
 * without holding anything back. The worker syncs `sync`, then plans again (a sidecar it just
 * started may let the next init container start) until the plan asks for nothing new.
 */
export function planInitContainers(steps: readonly InitStep[], appContainerRunning: boolean): InitPlan {
  const sync: string[] = [];
  for (let i = 0; i < steps.length; i++) {
    const s = steps[i]!;
    const previouslyInitialized = appContainerRunning || steps.slice(i + 1).some((x) => x.exists);
    if (previouslyInitialized) {
      if (s.sidecar) sync.push(s.name);
      continue;
    }
    sync.push(s.name);
    if (s.sidecar ? !s.started : !s.succeeded) return { sync, initialized: false };
  }
  return { sync, initialized: true };
}

/**
 * kubelet's computePodActions "keepCount == 0 and nothing to start": under restartPolicy Never or
 * OnFailure, once every app container has exited for good the pod is killed, and its sidecars
 * are stopped rather than restarted.
 */
export function appContainersFinished(restartPolicy: string | undefined, apps: readonly ContainerRecord[]): boolean {
  const policy = restartPolicy ?? 'Always';
  if (policy === 'Always' || apps.length === 0) return false;
  return apps.every((r) => r.state.kind === 'terminated' && (policy === 'Never' || r.state.exitCode === 0));
}

/**
 * kubelet's terminationOrdering: what each running container waits for before it is sent SIGTERM
 * (its preStop hook runs at once, for all of them alike). App containers and ordinary init
 * containers wait for nothing; a sidecar waits for every running app container and for every
 * running sidecar declared after it, so sidecars stop after the app, in reverse order.
 */
export function terminationPrereqs(spec: Pick<PodSpec, 'containers' | 'initContainers'> | undefined, running: readonly string[]): Map<string, string[]> {
  const isRunning = new Set(running);
  const apps = (spec?.containers ?? []).map((c) => c.name).filter((n) => isRunning.has(n));
  const out = new Map<string, string[]>();
  for (const n of running) out.set(n, []);
  const laterSidecars: string[] = [];
  const inits = spec?.initContainers ?? [];
  for (let i = inits.length - 1; i >= 0; i--) {
    const c = inits[i]!;
    if (!isSidecar(c)) continue;
    // A sidecar that is not running has nothing to stop: nobody waits for it.
    if (!isRunning.has(c.name)) continue;
    out.set(c.name, [...apps, ...laterSidecars]);
    laterSidecars.unshift(c.name);
  }
  return out;
}
