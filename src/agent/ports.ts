// What the node agent needs from the pod network and the process runtime: small interfaces
// so the pod worker's logic is tested with fakes and the real parts plug in at the edge.
import type { Container, LifecycleHandler, Pod, Probe } from 'kubernetes-types/core/v1.d.ts';
import type { ContainerSpec } from './runtime/process-runtime.ts';
import type { BindMount } from './runtime/pod-files.ts';

export interface HostPortMapping {
  hostIP?: string;
  hostPort: number;
  protocol: 'TCP' | 'UDP' | 'SCTP';
  podIP: string;
  containerPort: number;
}

export interface PodNetworkPort {
  setupNode(): Promise<void>;
  addPod(pod: { namespace: string; name: string; uid: string }): Promise<{ ip: string; netnsPath: string }>;
  removePod(uid: string): Promise<void>;
  setHostPorts(mappings: HostPortMapping[]): Promise<void>;
  /** Pod uids whose network is set up (to clean up after a crash). */
  listPods(): Promise<string[]>;
  teardownNode(): Promise<void>;
}

/** What the runtime starts: a container spec without its log file (the runtime port picks it per run). */
export type StartSpec = Omit<ContainerSpec, 'logFile' | 'logMaxBytes'> & { restartCount: number };

export interface ExitEvent {
  podUid: string;
  containerName: string;
  exitCode: number;
  signal?: number;
  reason: string;
  startedAt: Date;
  finishedAt: Date;
}

/** A container's command as its image gives it: argv, the image's env and working directory (images.yaml `workingDir`). */
export type Resolved = { argv: string[]; env?: Record<string, string>; workingDir?: string } | { reason: string; message: string };

export interface RuntimePort {
  resolve(container: Container, env: Readonly<Record<string, string>>): Resolved;
  start(spec: StartSpec): Promise<{ pid: number; startedAt: Date }>;
  /** SIGTERM, then SIGKILL after the grace period; resolves when the process is gone. */
  stop(podUid: string, containerName: string, gracePeriodSeconds: number): Promise<void>;
  onExit(cb: (e: ExitEvent) => void): void;
  /** One probe attempt; a failure's message is the whole event text in kubelet's words (`Liveness probe failed: OUTPUT`). */
  probe(probe: Probe, ctx: { podUid: string; containerName: string; podIP: string; netnsPath?: string; kind: 'Liveness' | 'Readiness' | 'Startup' }): Promise<{ ok: boolean; message: string }>;
  /**
   * Runs a lifecycle hook (postStart, preStop): exec in the container, httpGet to the pod, or sleep,
   * for at most `timeoutSeconds`. A failure's message is kubelet's handler text (`Exec lifecycle hook
   * ([…]) for Container "c" in Pod "p_ns(uid)" failed - error: …`). `signal` is aborted when the pod
   * is to terminate while a postStart hook runs (the kubelet cancels the sync's context): the hook
   * may stop then, its result is no longer awaited.
   */
  runHook(handler: LifecycleHandler, ctx: { podUid: string; podName: string; podNamespace: string; containerName: string; podIP: string; timeoutSeconds: number; signal?: AbortSignal }): Promise<{ ok: boolean; message: string }>;
  /**
   * Writes the pod's own files (the kubelet's resolv.conf and /etc/hosts) once its IP is known:
   * the bind mounts to start its containers with, and events (DNSConfigForming, MissingClusterDNS)
   * to record on the pod. Rejects when the node's resolv.conf cannot be read (FailedCreatePodSandBox).
   */
  preparePod?(pod: Pod, podIP: string): Promise<{ bindMounts: BindMount[]; events: { type: 'Warning' | 'Normal'; reason: string; message: string }[] }>;
  /** Kills what a crashed podgate left running. */
  killOrphans(): Promise<void>;
  /** Removes a deleted pod's logs (and its files). */
  forget(podUid: string): Promise<void>;
  /** Removes what pods no longer bound here left (deleted while podgate was down): their logs and files. */
  forgetAllBut?(live: ReadonlySet<string>): Promise<void>;
}
