// One pod on this node: sets up its network, starts its containers in order (each once the one
// before it has returned from its postStart hook), restarts them by restartPolicy with
// CrashLoopBackOff, runs probes, reports status, and tears everything down when the pod is deleted.
// Driven by `sync()`, which the agent calls on every change; it is level-triggered (each call
// compares what should run with what runs).
import type { Container, ContainerStatus, LifecycleHandler, Pod, PodStatus, Probe } from 'kubernetes-types/core/v1.d.ts';
import { computePodStatus, podPhase, type ContainerRecord, type ContainerState, type PodRuntimeView } from './pod-status.ts';
import type { ExitEvent, PodNetworkPort, RuntimePort } from './ports.ts';
import type { BindMount } from './runtime/pod-files.ts';
import { resolveEnv, type EnvContext } from './container-env.ts';
import { appContainersFinished, isSidecar, planInitContainers, terminationPrereqs, type InitStep } from './sidecars.ts';

export interface PodWorkerDeps {
  nodeName: string;
  nodeIP: string;
  network: PodNetworkPort;
  runtime: RuntimePort;
  /** ConfigMaps, Secrets and service env of the pod's namespace. */
  envContext(namespace: string): Omit<EnvContext, 'podIP' | 'hostIP' | 'nodeName'>;
  /** Writes the pod's status; resolves with the resourceVersion written (undefined: unknown, or the pod is gone). */
  writeStatus(pod: Pod, status: NonNullable<Pod['status']>): Promise<string | undefined | void>;
  /** Removes the API object once everything is stopped (grace 0, uid precondition). */
  finalizeDelete(pod: Pod): Promise<void>;
  event(pod: Pod, type: 'Normal' | 'Warning', reason: string, message: string, fieldPath?: string): void;
  /** The pod has its address: program what depends on it (hostPorts) before containers start. */
  networkReady(): Promise<void>;
  /** Asks for another sync of this pod after `ms`. */
  requeue(ms: number): void;
  /** The node's hostname: HOSTNAME of hostNetwork containers (containerd sets the pod's otherwise). */
  hostname?: string;
  now(): Date;
  log(m: string): void;
}

const backoffBaseMs = 10_000;
const backoffMaxMs = 300_000;
const backoffResetMs = 600_000;
/** kubelet's minimumGracePeriodInSeconds: a sidecar whose turn to stop came late still gets this. */
const minimumGraceSeconds = 2;
/**
 * The kubelet gives a postStart hook no timeout (handlers.go: `RunInContainer(ctx, id, cmd, 0)`, and
 * its lifecycle HTTP client has none): the longest wait a Node timer can hold stands in for none.
 */
const postStartTimeoutSeconds = 2_147_483;
/**
 * Waiting reasons of a start that failed after the container existed (kubelet's ErrRunContainer for
 * runc's StartError, ErrPostStartHook for a failed postStart hook): restarted after the back-off as a crash.
 */
const failedStartReasons: ReadonlySet<string> = new Set(['RunContainerError', 'PostStartHookError']);

function k8sTime(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

interface Runtime {
  record: ContainerRecord;
  /** The wait before the next restart after the next exit (kubelet's back-off). */
  backoffMs: number;
  /** The wait that applies to the current restart. */
  waitMs: number;
  nextStartAt: number;
  probeTimers: NodeJS.Timeout[];
  readinessOk: boolean;
  startupOk: boolean;
  livenessFailures: number;
  readinessFailures: number;
  startupFailures: number;
  readinessSuccesses: number;
  starting: boolean;
  /** When the current run started, on the worker's clock (probes' initialDelaySeconds count from it). */
  startedAtMs: number;
  /**
   * The API said it was running when this run took the pod over (a crash or restart of podgate
   * stopped it): it counts as having run until it is started again, as the kubelet sees a
   * container that outlived it. `previousLast` is the last state it had then.
   */
  restoredRunning: boolean;
  previousLast?: Extract<ContainerState, { kind: 'terminated' }>;
  /**
   * What the API shows of the container while its postStart hook runs (the record itself already
   * has the new run): see shownBeforeStart.
   */
  shown?: ContainerRecord;
  /** Its postStart hook runs now (apart from the pod's sync, which must not wait on it). */
  hookRunning?: boolean;
}

export class PodWorker {
  readonly #deps: PodWorkerDeps;
  #pod: Pod;
  #ip: string | undefined;
  #netnsPath: string | undefined;
  /** The pod's resolv.conf and hosts over the host's, for every container (kubelet's sandbox files). */
  #bindMounts: BindMount[] = [];
  /**
   * The network, the pod's files (resolv.conf, hosts) and its hostPorts are in place. Until then no
   * container starts: one whose files could not be written would run with the host's.
   */
  #sandboxSetUp = false;
  #startTime: string | undefined;
  readonly #containers = new Map<string, Runtime>();
  #terminating: Promise<void> | undefined;
  #lastStatus = '';
  /** The resourceVersion our last status write produced. */
  #writtenVersion: string | undefined;
  #statusChain: Promise<void> = Promise.resolve();
  #stopped = false;
  /** The pod finished and its sandbox (netns, veth, IP) was released, as the kubelet's StopPodSandbox. */
  #sandboxReleased = false;
  /**
   * The pod is being stopped because it is done (its app containers exited for good, or an init
   * container failed under Never): kubelet's KillPod, nothing is started or restarted again.
   */
  #completing = false;
  /** The records of the containers a previous run reported were taken over (first sync). */
  #restored = false;
  /** One per postStart hook running now: aborted when the pod is to terminate. */
  readonly #postStarts = new Set<AbortController>();
  /** Gone from the API (force-deleted): terminate() comes next. */
  #removed = false;

  constructor(pod: Pod, deps: PodWorkerDeps) {
    this.#pod = pod;
    this.#deps = deps;
  }

  get uid(): string {
    return this.#pod.metadata!.uid!;
  }

  get podIP(): string | undefined {
    return this.#ip;
  }

  get pod(): Pod {
    return this.#pod;
  }

  /** The pod is terminal and its network is gone: it maps no hostPort and runs nothing again. */
  get isFinished(): boolean {
    return this.#sandboxReleased;
  }

  /** The pod's network namespace (undefined for hostNetwork pods or before set-up). */
  get netnsPath(): string | undefined {
    return this.#netnsPath;
  }

  /** What the node knows of a container now (its status may not have reached the API yet). */
  containerRecord(name: string): ContainerRecord | undefined {
    return this.#containers.get(name)?.record;
  }

  update(pod: Pod): void {
    this.#pod = pod;
    // kubelet's podWorkers.UpdatePod cancels the sync in progress once the pod is to terminate: a
    // postStart hook still running must not hold up the deletion (the sync waits for it).
    if (pod.metadata?.deletionTimestamp) this.#abortPostStarts();
  }

  #abortPostStarts(): void {
    for (const a of this.#postStarts) a.abort();
  }

  /**
   * The pod is gone from the API (a force deletion): nothing more starts, and a postStart hook still
   * running is cut short, as the kubelet's REMOVE update cancels the sync in progress.
   */
  removed(): void {
    this.#removed = true;
    this.#abortPostStarts();
  }

  /** The pod is being deleted or podgate stops it: nothing starts any more (kubelet's IsTerminationRequested). */
  #isTerminationRequested(): boolean {
    return this.#stopped || this.#removed || this.#terminating !== undefined || Boolean(this.#pod.metadata?.deletionTimestamp);
  }

  #hostNetwork(): boolean {
    return this.#pod.spec?.hostNetwork === true;
  }

  async sync(): Promise<void> {
    if (this.#stopped) return;
    if (this.#pod.metadata?.deletionTimestamp) {
      await this.terminate(this.#pod.metadata.deletionGracePeriodSeconds ?? 30, true);
      return;
    }
    // Finished and its sandbox gone: only the final status may still need writing (a failed write
    // asks for another sync; #writeLatestStatus skips a status already written).
    if (this.#sandboxReleased) { await this.#reportStatus(); return; }
    const phase = this.#pod.status?.phase;
    if ((phase === 'Succeeded' || phase === 'Failed') && this.#containers.size === 0) {
      // Finished before podgate restarted: a crash may have left its network behind.
      await this.#releaseSandbox();
      return;
    }
    // After a restart of podgate: every container the API shows as having run (init and app
    // containers alike) is taken over before anything is planned, so the init planner and the
    // finished-pod check see what ran before.
    if (!this.#restored) {
      this.#restored = true;
      for (const c of [...(this.#pod.spec?.initContainers ?? []), ...(this.#pod.spec?.containers ?? [])]) {
        const before = this.#apiStatus(c);
        if (before?.state?.running || before?.state?.terminated || before?.lastState?.terminated) this.#runtimeOf(c);
      }
    }
    if (!this.#sandboxSetUp) {
      try {
        if (this.#ip) {
          // A previous attempt got the network but failed after it: only the rest is tried again.
        } else if (this.#hostNetwork()) {
          this.#ip = this.#deps.nodeIP;
        } else {
          const n = await this.#deps.network.addPod({ namespace: this.#pod.metadata!.namespace!, name: this.#pod.metadata!.name!, uid: this.uid });
          this.#ip = n.ip;
          this.#netnsPath = n.netnsPath;
        }
        // The kubelet's GetPodDNS and hosts file, with its DNSConfigForming / MissingClusterDNS events.
        if (this.#deps.runtime.preparePod) {
          const files = await this.#deps.runtime.preparePod(this.#pod, this.#ip);
          this.#bindMounts = files.bindMounts;
          for (const e of files.events) this.#deps.event(this.#pod, e.type, e.reason, e.message);
        }
        this.#startTime ??= k8sTime(this.#deps.now());
        // hostPorts reach the pod before anything reports it running.
        await this.#deps.networkReady();
        this.#sandboxSetUp = true;
      } catch (err) {
        this.#deps.event(this.#pod, 'Warning', 'FailedCreatePodSandBox', `Failed to create pod sandbox: ${(err as Error).message}`);
        this.#deps.requeue(5000);
        return;
      }
    }
    // kubelet's KillPod: the app containers are done for good (or initialization failed under
    // Never), so what still runs (sidecars) is stopped, in order, and never restarted. Checked
    // before the init containers are synced too: computePodActions drops the sidecars to start
    // once the pod is to be killed (a sidecar that exited with the app is not started again).
    if (!this.#completing && this.#mustKillPod()) this.#complete();
    // Init containers run one at a time, in order, each to success (a sidecar: until started),
    // before any app container.
    if (!this.#completing && await this.#syncInitContainers()) {
      // In order, as SyncPod starts them: the containers after one whose postStart hook still runs
      // wait for it (the hook's end asks for another sync).
      for (const c of this.#pod.spec?.containers ?? []) {
        await this.#syncContainer(c);
        if (this.#containers.get(c.name)?.hookRunning) break;
      }
    }
    if (!this.#completing && this.#mustKillPod()) this.#complete();
    if (this.#completing) {
      // The app containers' exits are reported before the sidecars' grace period runs out.
      if (this.#anyRunning()) await this.#reportStatus();
      await this.#stopRunning(this.#pod.spec?.terminationGracePeriodSeconds ?? 30);
    }
    // kubelet: a terminal pod's sandbox is stopped (SyncTerminatingPod → killPod → StopPodSandbox),
    // which releases its IP and its hostPorts; the status keeps the IP it had.
    if (this.#isTerminal() && !this.#anyRunning()) await this.#releaseSandbox();
    await this.#reportStatus();
  }

  /**
   * The pod is done: nothing starts again. A container the previous run left running (stopped by
   * podgate's restart, waiting to be restarted) shows as the run that ended then.
   */
  #complete(): void {
    this.#completing = true;
    for (const rt of this.#containers.values()) {
      const rec = rt.record;
      if (!rt.restoredRunning || rec.state.kind !== 'waiting' || !rec.lastTerminated) continue;
      rec.state = rec.lastTerminated;
      rec.lastTerminated = rt.previousLast;
      rec.done = true;
      rt.restoredRunning = false;
    }
  }

  #mustKillPod(): boolean {
    // A container podgate's restart stopped, not started again yet, still counts as running: its
    // wait is podgate's doing, not an exit the pod's phase or restartPolicy should see.
    const asRunning = (r: ContainerRecord): ContainerRecord => (this.#containers.get(r.name)?.restoredRunning && r.state.kind === 'waiting'
      ? { ...r, state: { kind: 'running', startedAt: r.lastTerminated?.startedAt ?? '' }, lastTerminated: undefined } : r);
    const seen = this.#view();
    const view: PodRuntimeView = { ...seen, containers: seen.containers.map(asRunning), initContainers: seen.initContainers?.map(asRunning) };
    if (appContainersFinished(this.#pod.spec?.restartPolicy, view.containers)) return true;
    const phase = podPhase(this.#pod, view);
    return phase === 'Succeeded' || phase === 'Failed';
  }

  #anyRunning(): boolean {
    return [...this.#containers.values()].some((rt) => rt.record.state.kind === 'running' || rt.starting);
  }

  #isTerminal(): boolean {
    const phase = podPhase(this.#pod, this.#view());
    return phase === 'Succeeded' || phase === 'Failed';
  }

  async #releaseSandbox(): Promise<void> {
    if (this.#sandboxReleased) return;
    for (const rt of this.#containers.values()) this.#clearProbes(rt);
    if (!this.#hostNetwork()) await this.#deps.network.removePod(this.uid);
    this.#netnsPath = undefined;
    this.#sandboxReleased = true;
  }

  /**
   * Syncs the init containers the plan asks for (the first not yet done, and the sidecars to keep
   * running), planning again after each round: a sidecar just started lets the next one start.
   * True once all are done (ordinary ones succeeded, sidecars started).
   */
  async #syncInitContainers(): Promise<boolean> {
    const inits = this.#pod.spec?.initContainers ?? [];
    if (inits.length === 0) return true;
    const synced = new Set<string>();
    for (;;) {
      // kubelet's podHasInitialized: an app container runs (or ran until podgate restarted).
      const appRunning = (this.#pod.spec?.containers ?? []).some((c) => {
        const rt = this.#containers.get(c.name);
        return rt?.record.state.kind === 'running' || rt?.restoredRunning === true;
      });
      const plan = planInitContainers(inits.map((c) => this.#initStep(c)), appRunning);
      const toSync = plan.sync.filter((n) => !synced.has(n));
      if (toSync.length === 0) return plan.initialized;
      for (const name of toSync) {
        synced.add(name);
        const c = inits.find((x) => x.name === name);
        if (c) await this.#syncContainer(c);
      }
    }
  }

  /** What the init planner needs of one init container (from its record, else from the API status a previous run wrote). */
  #initStep(c: Container): InitStep {
    const rec = this.#containers.get(c.name)?.record;
    if (rec) {
      return {
        name: c.name, sidecar: isSidecar(c),
        exists: rec.state.kind !== 'waiting' || rec.lastTerminated !== undefined,
        started: rec.state.kind === 'running' && rec.started,
        succeeded: rec.state.kind === 'terminated' && rec.state.exitCode === 0,
      };
    }
    const before = this.#pod.status?.initContainerStatuses?.find((x) => x.name === c.name);
    return {
      name: c.name, sidecar: isSidecar(c),
      exists: Boolean(before?.state?.running || before?.state?.terminated || before?.lastState?.terminated),
      started: false,
      succeeded: before?.state?.terminated?.exitCode === 0,
    };
  }

  #isInit(c: Container | string): boolean {
    const name = typeof c === 'string' ? c : c.name;
    return (this.#pod.spec?.initContainers ?? []).some((x) => x.name === name);
  }

  /**
   * Whether a container that exited with `exitCode` runs again: a sidecar always does (whatever
   * the pod's restartPolicy), other init containers rerun only on failure, and not under Never.
   */
  #policyRestarts(exitCode: number, c: Container): boolean {
    const p = this.#pod.spec?.restartPolicy ?? 'Always';
    if (this.#isInit(c) && isSidecar(c)) return !this.#completing;
    if (this.#isInit(c)) return p !== 'Never' && exitCode !== 0;
    return p === 'Always' || (p === 'OnFailure' && exitCode !== 0);
  }

  #fieldPath(c: Container): string {
    return this.#isInit(c) ? `spec.initContainers{${c.name}}` : `spec.containers{${c.name}}`;
  }

  #spec(name: string): Container | undefined {
    return [...(this.#pod.spec?.initContainers ?? []), ...(this.#pod.spec?.containers ?? [])].find((x) => x.name === name);
  }

  /** What the API said of the container when this worker took the pod over. */
  #apiStatus(c: Container): ContainerStatus | undefined {
    return (this.#isInit(c) ? this.#pod.status?.initContainerStatuses : this.#pod.status?.containerStatuses)?.find((x) => x.name === c.name);
  }

  /** The container's runtime entry, created (and restored from the API status) on first use. */
  #runtimeOf(c: Container): Runtime {
    let rt = this.#containers.get(c.name);
    if (!rt) {
      rt = {
        record: { name: c.name, image: c.image ?? '', state: { kind: 'waiting', reason: 'ContainerCreating' }, restartCount: 0, ready: false, started: false, done: false },
        backoffMs: 0, waitMs: 0, nextStartAt: 0, probeTimers: [], readinessOk: false, startupOk: !c.startupProbe,
        livenessFailures: 0, readinessFailures: 0, startupFailures: 0, readinessSuccesses: 0, starting: false, startedAtMs: 0, restoredRunning: false,
      };
      const before = this.#apiStatus(c);
      if (before) {
        if (before.state?.running) {
          rt.restoredRunning = true;
          if (before.lastState?.terminated) rt.previousLast = terminatedOf(before.lastState.terminated);
        }
        restoreRecord(rt.record, before, k8sTime(this.#deps.now()));
      }
      this.#containers.set(c.name, rt);
    }
    return rt;
  }

  async #syncContainer(c: Container): Promise<void> {
    const rt = this.#runtimeOf(c);
    const rec = rt.record;
    if (rec.state.kind === 'running' || rt.starting || rec.done || this.#completing || this.#isTerminationRequested()) return;
    // What the API goes on showing while a postStart hook runs: the record as this sync found it.
    const shown = shownBeforeStart(rec, this.#notStartedReason());
    if (rec.state.kind === 'terminated') {
      if (!this.#policyRestarts(rec.state.exitCode, c)) { rec.done = true; return; }
      const wait = rt.nextStartAt - this.#deps.now().getTime();
      rec.lastTerminated = rec.state;
      if (wait > 0) {
        this.#backOff(c, rt);
        this.#deps.requeue(wait);
        return;
      }
    } else if (rec.state.kind === 'waiting' && rec.state.reason === 'CrashLoopBackOff') {
      if (rt.nextStartAt > this.#deps.now().getTime()) return;
    } else if (rec.state.kind === 'waiting' && failedStartReasons.has(rec.state.reason)) {
      // The last start failed (StartError, or its postStart hook): wait out the back-off as after any crash.
      const wait = rt.nextStartAt - this.#deps.now().getTime();
      if (wait > 0) {
        this.#backOff(c, rt);
        this.#deps.requeue(wait);
        return;
      }
    }
    await this.#start(c, rt, shown);
  }

  #backOff(c: Container, rt: Runtime): void {
    const ns = this.#pod.metadata!.namespace;
    rt.record.state = { kind: 'waiting', reason: 'CrashLoopBackOff',
      message: `back-off ${Math.round(rt.waitMs / 1000)}s restarting failed container=${c.name} pod=${this.#pod.metadata!.name}_${ns}(${this.uid})` };
    this.#deps.event(this.#pod, 'Warning', 'BackOff', `Back-off restarting failed container ${c.name} in pod ${this.#pod.metadata!.name}_${ns}(${this.uid})`, this.#fieldPath(c));
  }

  async #start(c: Container, rt: Runtime, shown: ContainerRecord): Promise<void> {
    const rec = rt.record;
    const envCtx: EnvContext = { ...this.#deps.envContext(this.#pod.metadata!.namespace!), podIP: this.#ip!, hostIP: this.#deps.nodeIP, nodeName: this.#deps.nodeName };
    const env = resolveEnv(this.#pod, c, envCtx);
    if ('reason' in env) {
      rec.state = { kind: 'waiting', reason: env.reason, message: env.message };
      this.#deps.event(this.#pod, 'Warning', 'Failed', `Error: ${env.message}`, this.#fieldPath(c));
      this.#deps.requeue(5000);
      return;
    }
    // containerd sets HOSTNAME (the pod's hostname; the node's for hostNetwork) below the container's own env.
    const hostname = this.#hostNetwork() ? this.#deps.hostname ?? this.#pod.metadata!.name! : this.#pod.spec?.hostname ?? this.#pod.metadata!.name!;
    // The built-in images report who they are from these (the downward API needs no YAML changes).
    const podEnv = { HOSTNAME: hostname, ...env.env, PODGATE_POD_NAME: this.#pod.metadata!.name!, PODGATE_POD_NAMESPACE: this.#pod.metadata!.namespace!,
      PODGATE_POD_IP: this.#ip!, PODGATE_NODE_NAME: this.#deps.nodeName };
    const resolved = this.#deps.runtime.resolve(c, podEnv);
    if ('reason' in resolved) {
      const first = !(rec.state.kind === 'waiting' && rec.state.reason === resolved.reason);
      rec.state = { kind: 'waiting', reason: resolved.reason, message: resolved.message };
      if (first) this.#deps.event(this.#pod, 'Warning', 'Failed', `Failed to pull image "${c.image}": ${resolved.message}`, this.#fieldPath(c));
      this.#deps.requeue(10_000);
      return;
    }
    // kubelet's EnsureImageExists reports the (present) image on every start, restarts included.
    this.#deps.event(this.#pod, 'Normal', 'Pulled', `Container image "${c.image}" already present on machine`, this.#fieldPath(c));
    rt.starting = true;
    let hookRuns = false;
    try {
      if (!await this.#createAndStart(c, rt, resolved.argv, { ...resolved.env, ...podEnv }, resolved.workingDir)) return;
      const hook = c.lifecycle?.postStart;
      if (!hook) {
        this.#markStarted(c, rt);
        return;
      }
      // The hook has no timeout: it runs on its own rather than in this sync, which holds one of
      // the node's few sync workers (the kubelet has a goroutine per pod). Until it returns the
      // container is still starting, and the containers after it wait (see sync()).
      hookRuns = true;
      rt.hookRunning = true;
      void this.#runPostStart(c, rt, hook, shown).then((ok) => {
        // The process may have exited while its hook ran: that exit stands (onExit recorded it).
        if (ok && rec.state.kind === 'running') this.#markStarted(c, rt);
      }).finally(() => {
        rt.hookRunning = false;
        rt.starting = false;
        // The kubelet's SyncPod ends here: its status, then the next sync starts what waited.
        void this.#reportStatus();
        this.#deps.requeue(0);
      });
    } finally {
      if (!hookRuns) rt.starting = false;
    }
  }

  /** kubelet's startContainer, steps 2 and 3: creates and starts the process. False when it did not start. */
  async #createAndStart(c: Container, rt: Runtime, argv: string[], env: Record<string, string>, imageWorkingDir: string | undefined): Promise<boolean> {
    const rec = rt.record;
    try {
      const sc = this.#pod.spec?.securityContext;
      const csc = c.securityContext;
      const started = await this.#deps.runtime.start({
        podUid: this.uid, containerName: c.name, argv, env,
        // The container's workingDir, else its image's (as the image config's WorkingDir).
        workingDir: c.workingDir || imageWorkingDir, runAsUser: csc?.runAsUser ?? sc?.runAsUser, runAsGroup: csc?.runAsGroup ?? sc?.runAsGroup,
        // The log file is named after the run's restart count: a restart (there is a terminated run
        // before it) is counted now, so its output does not go into the previous run's log.
        netnsPath: this.#netnsPath, bindMounts: this.#bindMounts, restartCount: rec.lastTerminated ? rec.restartCount + 1 : rec.restartCount,
        stdin: c.stdin === true, stdinOnce: c.stdinOnce === true, tty: c.tty === true,
      });
      if (rec.lastTerminated) rec.restartCount++;
      rec.state = { kind: 'running', startedAt: k8sTime(started.startedAt) };
      rt.startedAtMs = this.#deps.now().getTime();
      rt.restoredRunning = false;
      rec.containerID = `podgate://${this.uid}/${c.name}/${rec.restartCount}`;
      // Neither started nor ready before #markStarted, whatever the previous run reached.
      rec.started = false;
      rec.ready = false;
      this.#deps.event(this.#pod, 'Normal', 'Created', `Created container: ${c.name}`, this.#fieldPath(c));
      this.#deps.event(this.#pod, 'Normal', 'Started', `Started container ${c.name}`, this.#fieldPath(c));
      return true;
    } catch (err) {
      const message = (err as Error).message;
      this.#deps.event(this.#pod, 'Warning', 'Failed', `Error: ${message}`, this.#fieldPath(c));
      if ((err as { reason?: unknown }).reason === 'StartError') {
        this.#onStartError(c, rt, message);
      } else {
        rec.state = { kind: 'waiting', reason: 'CreateContainerError', message };
        this.#deps.requeue(5000);
      }
      return false;
    }
  }

  /**
   * kubelet's startContainer, step 4: the postStart hook runs right after the start, and the sync
   * waits for it (the next container, init container or sidecar starts once it returned). Meanwhile
   * the API shows the container as before this start (the kubelet writes no status in the middle of
   * a SyncPod) and no probe runs. A failed hook: the event `FailedPostStartHook`, the container
   * killed (`Killing` `FailedPostStartHook`, preStop first), and ErrPostStartHook as the reason it
   * waits to run again. True when the hook succeeded.
   */
  async #runPostStart(c: Container, rt: Runtime, hook: LifecycleHandler, shown: ContainerRecord): Promise<boolean> {
    // Deleted while the container was being started: the termination stops it; no hook.
    if (this.#isTerminationRequested()) return false;
    const abort = new AbortController();
    this.#postStarts.add(abort);
    rt.shown = shown;
    try {
      return await this.#postStart(c, rt, hook, abort);
    } finally {
      this.#postStarts.delete(abort);
      rt.shown = undefined;
    }
  }

  async #postStart(c: Container, rt: Runtime, hook: LifecycleHandler, abort: AbortController): Promise<boolean> {
    // The kubelet writes the pod's status as its sync begins (SetPodStatus before SyncPod): that is
    // what the API shows for as long as the hook runs (on a first start: Pending, ContainerCreating).
    void this.#reportStatus();
    const r = await Promise.race([
      this.#deps.runtime.runHook(hook, { ...this.#hookContext(c), timeoutSeconds: postStartTimeoutSeconds, signal: abort.signal })
        .catch((err: unknown) => ({ ok: false, message: err instanceof Error ? err.message : String(err) })),
      whenAborted(abort.signal),
    ]);
    if (r?.ok) return true;
    const rec = rt.record;
    if (r === undefined) {
      // Cut short by the pod's deletion (or podgate's stop, which records nothing): as the kubelet's
      // cancelled context ends an exec or sleep hook with an error, it counts as failed, and
      // killContainer still records its Killing event; the pod's termination stops the container.
      if (this.#pod.metadata?.deletionTimestamp || this.#removed) {
        this.#deps.event(this.#pod, 'Warning', 'FailedPostStartHook', 'PostStartHook failed', this.#fieldPath(c));
        this.#deps.event(this.#pod, 'Normal', 'Killing', 'FailedPostStartHook', this.#fieldPath(c));
      }
      return false;
    }
    // kubelet logs the handler's text and keeps it out of the event, "so that secrets won't leak".
    this.#deps.log(`PostStart hook failed: ${r.message}`);
    this.#deps.event(this.#pod, 'Warning', 'FailedPostStartHook', 'PostStartHook failed', this.#fieldPath(c));
    // killContainer(…, "FailedPostStartHook", reasonFailedPostStartHook, nil, nil) records its Killing
    // event whether or not the container still runs; the grace period is the pod's
    // (setTerminationGracePeriod). Until the kill is done the API goes on showing what it showed.
    this.#deps.event(this.#pod, 'Normal', 'Killing', 'FailedPostStartHook', this.#fieldPath(c));
    if (rec.state.kind === 'running') await this.#killContainer(c, this.#pod.spec?.terminationGracePeriodSeconds ?? 30);
    // The kill's exit was recorded (onExit). The sync result's error goes to the kubelet's
    // reasonCache: a container that will run again shows `waiting` PostStartHookError with the
    // handler's text until it does (convertToAPIContainerStatuses), its run as the last state.
    if (rec.state.kind === 'terminated' && !this.#isTerminationRequested() && this.#policyRestarts(rec.state.exitCode, c)) {
      rec.lastTerminated = rec.state;
      rec.state = { kind: 'waiting', reason: 'PostStartHookError', message: r.message };
    }
    return false;
  }

  /**
   * The run is under way (its postStart hook returned): probes start, and it is started and ready
   * unless a startup or readiness probe is to say so. A new run starts over: never ready before it
   * has started (kubelet's UpdatePodStatus), whatever the previous run reached.
   */
  #markStarted(c: Container, rt: Runtime): void {
    rt.startupOk = !c.startupProbe;
    rt.readinessOk = false;
    rt.record.started = rt.startupOk;
    rt.record.ready = !c.readinessProbe && rt.startupOk;
    rt.livenessFailures = rt.readinessFailures = rt.startupFailures = rt.readinessSuccesses = 0;
    this.#startProbes(c, rt);
  }

  /** Whom a lifecycle hook runs for (the handler's words name the container and the pod). */
  #hookContext(c: Container): { podUid: string; podName: string; podNamespace: string; containerName: string; podIP: string } {
    return { podUid: this.uid, podName: this.#pod.metadata!.name!, podNamespace: this.#pod.metadata!.namespace!, containerName: c.name, podIP: this.#ip ?? '' };
  }

  /**
   * The process could not be started (runc's StartError): with containerd the container exists and
   * exited 128 without ever running, so it counts as a crash: restarted with back-off (waiting
   * RunContainerError, then CrashLoopBackOff) or, when restartPolicy says no, terminated for good.
   */
  #onStartError(c: Container, rt: Runtime, message: string): void {
    const rec = rt.record;
    const now = this.#deps.now();
    const terminated: Extract<ContainerState, { kind: 'terminated' }> = {
      kind: 'terminated', exitCode: 128, reason: 'StartError', message, startedAt: '1970-01-01T00:00:00Z', finishedAt: k8sTime(now),
    };
    if (rec.lastTerminated) rec.restartCount++;
    rec.containerID = `podgate://${this.uid}/${c.name}/${rec.restartCount}`;
    terminated.containerID = rec.containerID;
    if (!this.#policyRestarts(128, c)) {
      rec.state = terminated;
      rec.done = true;
      this.#deps.requeue(0);
      return;
    }
    rec.lastTerminated = terminated;
    rec.state = { kind: 'waiting', reason: 'RunContainerError', message };
    this.#scheduleRestart(rt, 0, now.getTime());
    this.#deps.requeue(0);
  }

  /** kubelet's back-off: the first restart is immediate, then 10 s doubling to 300 s; a container that ran 10 minutes starts over. */
  #scheduleRestart(rt: Runtime, ranMs: number, finishedAtMs: number): void {
    if (ranMs >= backoffResetMs || rt.backoffMs === 0) {
      rt.waitMs = 0;
      rt.backoffMs = backoffBaseMs;
    } else {
      rt.waitMs = rt.backoffMs;
      rt.backoffMs = Math.min(rt.backoffMs * 2, backoffMaxMs);
    }
    rt.nextStartAt = finishedAtMs + rt.waitMs;
  }

  /** Called by the agent when the runtime reports this pod's container gone. */
  onExit(e: ExitEvent): void {
    const rt = this.#containers.get(e.containerName);
    if (!rt) return;
    this.#clearProbes(rt);
    const rec = rt.record;
    const ranMs = e.finishedAt.getTime() - e.startedAt.getTime();
    // No `signal`: a CRI kubelet never sets it (a signal shows as exit code 128 + its number).
    rec.state = {
      kind: 'terminated', exitCode: e.exitCode, reason: e.reason, startedAt: k8sTime(e.startedAt), finishedAt: k8sTime(e.finishedAt),
      ...(rec.containerID ? { containerID: rec.containerID } : {}),
    };
    rec.ready = false;
    rec.started = false;
    if (this.#terminating || this.#stopped) return;
    this.#scheduleRestart(rt, ranMs, e.finishedAt.getTime());
    // Sync now: the container is terminated (and maybe done, or waiting in back-off).
    this.#deps.requeue(0);
  }

  #probeLoop(c: Container, rt: Runtime, kind: 'readiness' | 'liveness' | 'startup', probe: Probe): void {
    const period = (probe.periodSeconds ?? 10) * 1000;
    // kubelet's prober worker holds a probe back while the container has run for less than
    // initialDelaySeconds: the time its postStart hook took counts.
    const initial = Math.max(0, (probe.initialDelaySeconds ?? 0) * 1000 - (this.#deps.now().getTime() - rt.startedAtMs));
    const success = probe.successThreshold ?? 1;
    const failure = probe.failureThreshold ?? 3;
    const run = async () => {
      if (rt.record.state.kind !== 'running' || this.#terminating || this.#stopped) return;
      if (kind !== 'startup' && !rt.startupOk) { schedule(period); return; }
      if (kind === 'startup' && rt.startupOk) return;
      const label = kind === 'readiness' ? 'Readiness' : kind === 'liveness' ? 'Liveness' : 'Startup';
      const r = await this.#deps.runtime.probe(probe, { podUid: this.uid, containerName: c.name, podIP: this.#ip!, netnsPath: this.#netnsPath, kind: label });
      if (rt.record.state.kind !== 'running' || this.#terminating || this.#completing) return;
      if (r.ok) {
        if (kind === 'readiness') {
          rt.readinessFailures = 0;
          if (++rt.readinessSuccesses >= success && !rt.record.ready) { rt.record.ready = true; void this.#reportStatus(); }
        } else if (kind === 'liveness') {
          rt.livenessFailures = 0;
        } else {
          rt.startupOk = true;
          rt.record.started = true;
          rt.record.ready = !c.readinessProbe;
          void this.#reportStatus();
          // A sidecar that has started lets the next init container (or the app containers) start.
          if (this.#isInit(c)) this.#deps.requeue(0);
        }
      } else {
        this.#deps.event(this.#pod, 'Warning', 'Unhealthy', r.message, this.#fieldPath(c));
        if (kind === 'readiness') {
          rt.readinessSuccesses = 0;
          if (++rt.readinessFailures >= failure && rt.record.ready) { rt.record.ready = false; void this.#reportStatus(); }
        } else {
          const n = kind === 'liveness' ? ++rt.livenessFailures : ++rt.startupFailures;
          if (n >= failure) {
            // kubelet's words: computePodActions for an app container, computeInitContainerActions
            // for a sidecar (no ", will be restarted" there).
            const sidecar = this.#isInit(c) && isSidecar(c);
            this.#deps.event(this.#pod, 'Normal', 'Killing',
              sidecar ? `Init container ${c.name} failed ${kind} probe` : `Container ${c.name} failed ${kind} probe, will be restarted`, this.#fieldPath(c));
            rt.livenessFailures = rt.startupFailures = 0;
            // kubelet's killContainer: preStop runs for this kill too, within the probe's own grace
            // period when it has one (probe-level terminationGracePeriodSeconds), else the pod's.
            await this.#killContainer(c, probe.terminationGracePeriodSeconds ?? this.#pod.spec?.terminationGracePeriodSeconds ?? 30);
            return;
          }
        }
      }
      schedule(period);
    };
    const schedule = (ms: number) => {
      const t = setTimeout(() => { rt.probeTimers = rt.probeTimers.filter((x) => x !== t); void run().catch((e: unknown) => this.#deps.log(`probe ${c.name}: ${String(e)}`)); }, ms);
      rt.probeTimers.push(t);
    };
    schedule(initial);
  }

  #startProbes(c: Container, rt: Runtime): void {
    if (c.startupProbe) this.#probeLoop(c, rt, 'startup', c.startupProbe);
    if (c.readinessProbe) this.#probeLoop(c, rt, 'readiness', c.readinessProbe);
    if (c.livenessProbe) this.#probeLoop(c, rt, 'liveness', c.livenessProbe);
  }

  #clearProbes(rt: Runtime): void {
    for (const t of rt.probeTimers) clearTimeout(t);
    rt.probeTimers = [];
  }

  /**
   * Writes the pod's status. Serialized, and computed when its turn comes: two writes in flight
   * could otherwise land out of order and leave an older status (e.g. not Ready) as the last word.
   */
  #reportStatus(): Promise<void> {
    const next = this.#statusChain.then(() => this.#writeLatestStatus());
    this.#statusChain = next;
    return next;
  }

  #view(): PodRuntimeView {
    const inits = this.#pod.spec?.initContainers ?? [];
    const notYet = this.#notStartedReason();
    const record = (c: Container): ContainerRecord => {
      const rt = this.#containers.get(c.name);
      return rt?.shown ?? rt?.record ?? {
        name: c.name, image: c.image ?? '', state: { kind: 'waiting', reason: notYet }, restartCount: 0, ready: false, started: false, done: false,
      };
    };
    return {
      podIP: this.#ip, hostIP: this.#deps.nodeIP, startTime: this.#startTime, sandboxReady: Boolean(this.#ip) && !this.#sandboxReleased,
      containers: (this.#pod.spec?.containers ?? []).map(record),
      initContainers: inits.map(record),
    };
  }

  /** kubelet's default waiting reason of a container that never ran: PodInitializing in a pod with init containers. */
  #notStartedReason(): string {
    return (this.#pod.spec?.initContainers ?? []).length > 0 ? 'PodInitializing' : 'ContainerCreating';
  }

  async #writeLatestStatus(): Promise<void> {
    if (this.#stopped) return;
    const status = computePodStatus(this.#pod, this.#view(), k8sTime(this.#deps.now()));
    // Transition times must not make an unchanged status look new.
    const key = JSON.stringify(status, (k, v: unknown) => (k === 'lastTransitionTime' || k === 'lastProbeTime' ? undefined : v));
    // Skipped while the API shows what was written, or has not shown that write yet (the informer
    // lags): another writer (the node lifecycle controller marking the pods of an unreachable node
    // not ready) is undone once the node is back, as the kubelet's status manager compares with
    // the API server's copy, but an older copy of our own is not taken for one.
    if (key === this.#lastStatus && (conditionsKey(this.#pod.status) === conditionsKey(status) || isOlder(this.#pod.metadata?.resourceVersion, this.#writtenVersion))) return;
    try {
      const version = await this.#deps.writeStatus(this.#pod, status);
      // Remembered only once written: a failed write is retried, never taken as done.
      this.#lastStatus = key;
      this.#writtenVersion = version ?? undefined;
    } catch (err) {
      this.#deps.log(`pod ${this.#pod.metadata?.namespace}/${this.#pod.metadata?.name}: status not written: ${String(err)}`);
      this.#deps.requeue(1000);
    }
  }

  /**
   * Stops one container as kubelet's killContainer does: its preStop hook first, within the grace
   * period, then SIGTERM with what is left of it, then SIGKILL. A sidecar stopped with its pod
   * (`ordered`) waits for its turn first, and always gets kubelet's minimum of 2 s of SIGTERM.
   */
  async #killContainer(c: Container, graceSeconds: number, ordered?: { waitTurn?: (timeoutMs: number) => Promise<void> }): Promise<void> {
    const started = this.#deps.now().getTime();
    const hook = c.lifecycle?.preStop;
    if (hook && graceSeconds > 0) {
      const r = await this.#deps.runtime.runHook(hook, { ...this.#hookContext(c), timeoutSeconds: graceSeconds });
      if (!r.ok) {
        // kubelet logs the hook's error and keeps it out of the event, "so that secrets won't leak".
        this.#deps.log(`PreStop hook failed: ${r.message}`);
        this.#deps.event(this.#pod, 'Warning', 'FailedPreStopHook', 'PreStopHook failed', this.#fieldPath(c));
      }
    }
    let left = Math.max(0, graceSeconds - Math.floor((this.#deps.now().getTime() - started) / 1000));
    // kubelet's terminationOrdering: a sidecar's SIGTERM waits for its turn (the app containers
    // and the sidecars after it gone), within what is left of the grace period.
    if (ordered?.waitTurn && left > 0) {
      await ordered.waitTurn(left * 1000);
      left = Math.max(0, graceSeconds - Math.floor((this.#deps.now().getTime() - started) / 1000));
    }
    // kubelet's minimumGracePeriodInSeconds: a sidecar whose turn came late, or whose preStop hooks
    // used up the grace period, is still sent SIGTERM before SIGKILL.
    if (ordered) left = Math.max(minimumGraceSeconds, left);
    await this.#deps.runtime.stop(this.uid, c.name, left);
  }

  /**
   * Stops every running container as kubelet's killContainersWithSyncResult does: all at once,
   * each after its preStop hook, except that a sidecar is sent SIGTERM only after the app
   * containers and the sidecars declared after it have stopped (reverse order).
   */
  async #stopRunning(graceSeconds: number): Promise<void> {
    for (const rt of this.#containers.values()) this.#clearProbes(rt);
    const running = [...this.#containers.values()].filter((rt) => rt.record.state.kind === 'running').map((rt) => rt.record.name);
    if (running.length === 0) return;
    for (const name of running) {
      const c = this.#spec(name);
      this.#deps.event(this.#pod, 'Normal', 'Killing', `Stopping container ${name}`, c ? this.#fieldPath(c) : undefined);
    }
    const prereqs = terminationPrereqs(this.#pod.spec, running);
    const gone = new Map<string, { done: Promise<void>; resolve: () => void }>();
    for (const name of running) {
      let resolve!: () => void;
      const done = new Promise<void>((r) => { resolve = r; });
      gone.set(name, { done, resolve });
    }
    await Promise.all(running.map(async (name) => {
      try {
        const c = this.#spec(name);
        const waitFor = (prereqs.get(name) ?? []).map((n) => gone.get(n)!.done);
        const waitTurn = waitFor.length === 0 ? undefined : async (timeoutMs: number) => {
          let timer: NodeJS.Timeout | undefined;
          await Promise.race([Promise.all(waitFor), new Promise<void>((r) => { timer = setTimeout(r, timeoutMs); })]);
          clearTimeout(timer);
        };
        if (c) await this.#killContainer(c, graceSeconds, this.#isInit(c) && isSidecar(c) ? { waitTurn } : undefined);
        else await this.#deps.runtime.stop(this.uid, name, graceSeconds);
      } finally {
        gone.get(name)!.resolve();
      }
    }));
  }

  /**
   * Stops every container (SIGTERM, then SIGKILL after the grace period), removes the network,
   * and, when the API asked for the deletion, removes the object.
   */
  terminate(graceSeconds: number, deleteObject: boolean): Promise<void> {
    this.#abortPostStarts();
    this.#terminating ??= (async () => {
      await this.#stopRunning(graceSeconds);
      // Also when this run never set the network up: a crashed run may have left it (removePod of
      // an unknown pod is a no-op).
      if (!this.#hostNetwork() && !this.#sandboxReleased) await this.#deps.network.removePod(this.uid);
      this.#sandboxReleased = true;
      this.#stopped = true;
      if (deleteObject) {
        await this.#deps.runtime.forget(this.uid);
        await this.#deps.finalizeDelete(this.#pod);
      }
    })();
    return this.#terminating;
  }
}

/** Resolves (to undefined) once `signal` is aborted; never rejects. */
function whenAborted(signal: AbortSignal): Promise<undefined> {
  return new Promise((resolve) => { signal.addEventListener('abort', () => resolve(undefined), { once: true }); });
}

/**
 * What the API shows of a container while its postStart hook runs (pure): the kubelet wrote the
 * pod's status at the start of this SyncPod and writes none before it returns, so the container is
 * shown as it was before this start (the default waiting reason when it never ran), neither started
 * nor ready.
 */
export function shownBeforeStart(rec: ContainerRecord, notStartedReason: string): ContainerRecord {
  const neverRan = rec.state.kind === 'waiting' && rec.state.reason === 'ContainerCreating' && !rec.lastTerminated;
  return { ...rec, state: neverRan ? { kind: 'waiting', reason: notStartedReason } : rec.state, started: false, ready: false };
}

function terminatedOf(t: NonNullable<NonNullable<ContainerStatus['state']>['terminated']>): Extract<ContainerState, { kind: 'terminated' }> {
  return {
    kind: 'terminated', exitCode: t.exitCode, reason: t.reason ?? (t.exitCode === 0 ? 'Completed' : 'Error'),
    startedAt: t.startedAt ?? '', finishedAt: t.finishedAt ?? '',
    ...(t.message ? { message: t.message } : {}), ...(t.containerID ? { containerID: t.containerID } : {}),
  };
}

/**
 * Takes over what the API says of a container a previous podgate run managed (pure). Only a
 * container that was running was stopped with podgate (the runtime restarts rather than adopts): it
 * comes back as a restart, as after a kubelet restart. One that had exited keeps its real exit, and
 * restarts only if restartPolicy says so (a kubelet never re-runs an exited container under Never).
 */
export function restoreRecord(rec: ContainerRecord, before: ContainerStatus, now: string): void {
  const s = before.state;
  rec.restartCount = before.restartCount ?? 0;
  if (before.lastState?.terminated) rec.lastTerminated = terminatedOf(before.lastState.terminated);
  if (before.containerID) rec.containerID = before.containerID;
  if (s?.running) {
    rec.lastTerminated = { kind: 'terminated', exitCode: 137, reason: 'Error', message: 'stopped when podgate restarted',
      startedAt: s.running.startedAt ?? now, finishedAt: now, ...(before.containerID ? { containerID: before.containerID } : {}) };
  } else if (s?.terminated) {
    rec.state = terminatedOf(s.terminated);
  }
}

/** The condition types the kubelet owns (kube's isPodStatusByKubeletEqual compares only these). */
const KUBELET_CONDITIONS = new Set(['PodReadyToStartContainers', 'Initialized', 'ContainersReady', 'Ready']);

/** A status's phase and its kubelet-owned conditions' statuses: what another writer would have changed. */
function conditionsKey(status: PodStatus | undefined): string {
  const conds = (status?.conditions ?? []).filter((c) => KUBELET_CONDITIONS.has(c.type)).map((c) => `${c.type}=${c.status}`).sort();
  return `${status?.phase ?? ''}|${conds.join(',')}`;
}

/**
 * Whether resourceVersion `a` comes before `b` (both the store's revisions, decimal); false when
 * either is missing or not a number (then the copy is taken as current).
 */
function isOlder(a: string | undefined, b: string | undefined): boolean {
  if (!a || !b || !/^\d+$/.test(a) || !/^\d+$/.test(b)) return false;
  return BigInt(a) < BigInt(b);
}
