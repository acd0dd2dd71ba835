// The node agent's RuntimePort on top of the process runtime (src/agent/runtime): image table,
// per-run log files, probes with named ports resolved, and exec in the pod's namespace.
import type { ChildProcess } from 'node:child_process';
import type { Container, LifecycleHandler, Pod, Probe } from 'kubernetes-types/core/v1.d.ts';
import type { ExitEvent, Resolved, RuntimePort, StartSpec } from './ports.ts';
import { resolveContainerCommand, type ImageTable } from './runtime/image-table.ts';
import type { LogStore } from './runtime/log-store.ts';
import type { BindMount, PodFilesHook } from './runtime/pod-files.ts';
import { lifecycleHttpGet, runProbe } from './runtime/probe.ts';
import { clampTimerMs } from '../util/timer.ts';
import type { AttachIO, ProcessRuntime } from './runtime/process-runtime.ts';
import type { TerminalSize } from './runtime/terminal.ts';

/** A probe's port by number, or by the container's port name (kubelet's findPortByName). */
function resolveProbePort(probe: Probe, container: Container | undefined): Probe {
  const named = (port: number | string | undefined) => {
    if (typeof port !== 'string' || /^\d+$/.test(port)) return port === undefined ? undefined : Number(port);
    return container?.ports?.find((p) => p.name === port)?.containerPort ?? port;
  };
  const p = structuredClone(probe) as Probe & { httpGet?: { port: number | string }; tcpSocket?: { port: number | string } };
  if (p.httpGet) (p.httpGet as { port: number | string }).port = named(p.httpGet.port) ?? p.httpGet.port;
  if (p.tcpSocket) (p.tcpSocket as { port: number | string }).port = named(p.tcpSocket.port) ?? p.tcpSocket.port;
  return p;
}

export class ProcessRuntimePort implements RuntimePort {
  readonly #runtime: ProcessRuntime;
  readonly #logs: LogStore;
  readonly #images: ImageTable;
  readonly #containers: (podUid: string, name: string) => Container | undefined;
  readonly #podFiles: PodFilesHook | undefined;

  constructor(o: { runtime: ProcessRuntime; logs: LogStore; images: ImageTable; container: (podUid: string, name: string) => Container | undefined; podFiles?: PodFilesHook }) {
    this.#runtime = o.runtime;
    this.#logs = o.logs;
    this.#images = o.images;
    this.#containers = o.container;
    this.#podFiles = o.podFiles;
  }

  async preparePod(pod: Pod, podIP: string): Promise<{ bindMounts: BindMount[]; events: { type: 'Warning' | 'Normal'; reason: string; message: string }[] }> {
    return this.#podFiles ? this.#podFiles.prepare(pod, podIP) : { bindMounts: [], events: [] };
  }

  resolve(container: Container, env: Readonly<Record<string, string>>): Resolved {
    const r = resolveContainerCommand(container, this.#images, { ...env });
    if ('reason' in r) return { reason: r.reason, message: r.message };
    const out: { argv: string[]; env?: Record<string, string>; workingDir?: string } = { argv: r.argv, env: { ...r.image.env } };
    if (r.image.workingDir !== undefined) out.workingDir = r.image.workingDir;
    return out;
  }

  async start(spec: StartSpec): Promise<{ pid: number; startedAt: Date }> {
    const logFile = await this.#logs.prepare(spec.podUid, spec.containerName, spec.restartCount);
    const c = await this.#runtime.start({
      podUid: spec.podUid, containerName: spec.containerName, argv: spec.argv, env: spec.env, workingDir: spec.workingDir,
      runAsUser: spec.runAsUser, runAsGroup: spec.runAsGroup, netnsPath: spec.netnsPath, bindMounts: spec.bindMounts, logFile,
      stdin: spec.stdin, stdinOnce: spec.stdinOnce, tty: spec.tty,
    });
    return { pid: c.pid, startedAt: c.startedAt };
  }

  async stop(podUid: string, containerName: string, gracePeriodSeconds: number): Promise<void> {
    await this.#runtime.stop(podUid, containerName, gracePeriodSeconds);
  }

  onExit(cb: (e: ExitEvent) => void): void {
    this.#runtime.onExit((x) => cb({
      podUid: x.podUid, containerName: x.containerName, exitCode: x.exitCode, reason: x.reason,
      startedAt: x.startedAt, finishedAt: x.finishedAt, ...(x.signal ? { signal: signalNumber(x.signal) } : {}),
    }));
  }

  async probe(probe: Probe, ctx: { podUid: string; containerName: string; podIP: string; netnsPath?: string; kind: 'Liveness' | 'Readiness' | 'Startup' }): Promise<{ ok: boolean; message: string }> {
    const resolved = resolveProbePort(probe, this.#containers(ctx.podUid, ctx.containerName));
    const r = await runProbe(resolved, {
      probeType: ctx.kind, podIP: ctx.podIP, hostNetwork: ctx.netnsPath === undefined,
      exec: (argv) => this.exec(ctx.podUid, ctx.containerName, argv),
    });
    // runProbe's message is already kubelet's event text ("%s probe failed: %s", probeType, output),
    // also when the output is empty.
    return { ok: r.result === 'Success', message: r.result === 'Success' ? '' : r.message };
  }

  async runHook(handler: LifecycleHandler, ctx: { podUid: string; podName: string; podNamespace: string; containerName: string; podIP: string; timeoutSeconds: number; signal?: AbortSignal }): Promise<{ ok: boolean; message: string }> {
    if (handler.sleep) {
      // The kubelet's sleep handler returns early when its context is cancelled.
      await new Promise<void>((resolve) => {
        const done = () => { clearTimeout(timer); ctx.signal?.removeEventListener('abort', done); resolve(); };
        const timer = setTimeout(done, clampTimerMs(Math.min(handler.sleep!.seconds, ctx.timeoutSeconds) * 1000));
        ctx.signal?.addEventListener('abort', done);
        if (ctx.signal?.aborted) done();
      });
      return ctx.signal?.aborted ? { ok: false, message: 'sleep lifecycle hook was cancelled' } : { ok: true, message: '' };
    }
    // kubelet's format.Pod: NAME_NAMESPACE(UID).
    const where = `for Container ${JSON.stringify(ctx.containerName)} in Pod ${JSON.stringify(`${ctx.podName}_${ctx.podNamespace}(${ctx.podUid})`)}`;
    if (handler.exec) {
      const command = handler.exec.command ?? [];
      const r = await runExecHook(() => this.exec(ctx.podUid, ctx.containerName, command), command, ctx.timeoutSeconds, ctx.signal);
      if (r.error === undefined) return { ok: true, message: '' };
      // pkg/kubelet/lifecycle/handlers.go; the error is the CRI ExecSync one.
      return { ok: false, message: `Exec lifecycle hook ([${command.join(' ')}]) ${where} failed - error: ${r.error}, message: ${JSON.stringify(r.output)}` };
    }
    if (handler.httpGet) {
      // kubelet's runHTTPHandler: any answer will do, only a failed request fails the hook.
      const resolved = resolveProbePort({ httpGet: handler.httpGet }, this.#containers(ctx.podUid, ctx.containerName));
      const r = await lifecycleHttpGet(resolved.httpGet!, { podIP: ctx.podIP, timeoutMs: clampTimerMs(ctx.timeoutSeconds * 1000), ...(ctx.signal ? { signal: ctx.signal } : {}) });
      return r.ok ? { ok: true, message: '' } : { ok: false, message: `HTTP lifecycle hook (${handler.httpGet.path ?? ''}) ${where} failed - error: ${r.output}` };
    }
    // The API accepts a tcpSocket handler, but the kubelet's handler runner has none: it fails.
    return { ok: false, message: `Cannot run handler: invalid handler: ${goLifecycleHandler(handler)}` };
  }

  exec(podUid: string, containerName: string | undefined, argv: string[], opts: { stdin?: boolean; tty?: boolean } = {}): ChildProcess {
    return this.#runtime.exec(podUid, containerName, argv, opts);
  }

  killExec(child: ChildProcess): void {
    this.#runtime.killExec(child);
  }

  resizeExec(child: ChildProcess, size: TerminalSize): Promise<boolean> {
    return this.#runtime.resizeExec(child, size);
  }

  attach(podUid: string, containerName: string | undefined, io: AttachIO): Promise<void> {
    return this.#runtime.attach(podUid, containerName, io);
  }

  resize(podUid: string, containerName: string | undefined, size: TerminalSize): Promise<boolean> {
    return this.#runtime.resize(podUid, containerName, size);
  }

  async killOrphans(): Promise<void> {
    await this.#runtime.killOrphans();
  }

  async forget(podUid: string): Promise<void> {
    await this.#logs.removePod(podUid);
    await this.#podFiles?.remove(podUid);
  }

  async forgetAllBut(live: ReadonlySet<string>): Promise<void> {
    const known = new Set([...await this.#logs.listPods(), ...await (this.#podFiles?.list() ?? Promise.resolve([]))]);
    for (const uid of known) if (!live.has(uid)) await this.forget(uid);
  }
}

/**
 * A lifecycle handler as the kubelet's `fmt.Errorf("invalid handler: %v", handler)` prints it (the
 * generated String() of *v1.LifecycleHandler); only reached for tcpSocket, which it cannot run.
 */
export function goLifecycleHandler(h: LifecycleHandler): string {
  const port = (p: number | string) => (typeof p === 'number' ? `{0 ${p} }` : `{1 0 ${p}}`);
  const tcp = h.tcpSocket ? `&TCPSocketAction{Port:${port(h.tcpSocket.port)},Host:${h.tcpSocket.host ?? ''},}` : 'nil';
  return `&LifecycleHandler{Exec:nil,HTTPGet:nil,TCPSocket:${tcp},Sleep:nil,}`;
}

function signalNumber(sig: string | number): number {
  if (typeof sig === 'number') return sig;
  const table: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGABRT: 6, SIGKILL: 9, SIGSEGV: 11, SIGPIPE: 13, SIGTERM: 15 };
  return table[sig] ?? 0;
}

/**
 * Runs an exec hook to its end (or `timeoutSeconds`): the error is CRI ExecSync's
 * (`command 'sh -c exit 7' exited with 7: STDERR`), the output stdout then stderr as kubelet's
 * RunInContainer joins them. Never rejects.
 */
export async function runExecHook(spawnExec: () => ChildProcess, command: string[], timeoutSeconds: number, signal?: AbortSignal): Promise<{ error?: string; output: string }> {
  let child: ChildProcess;
  try {
    child = spawnExec();
  } catch (err) {
    return { error: (err as Error).message, output: '' };
  }
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (c: Buffer) => { stdout += c.toString('utf8'); });
  child.stderr?.on('data', (c: Buffer) => { stderr += c.toString('utf8'); });
  const cmd = command.join(' ');
  const kill = () => {
    try { if (child.pid) process.kill(-child.pid, 'SIGKILL'); } catch { /* already gone */ }
  };
  // A cancelled hook (the pod is to terminate while its postStart runs) is killed, as the kubelet's
  // cancelled context ends its exec.
  signal?.addEventListener('abort', kill, { once: true });
  if (signal?.aborted) kill();
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      kill();
      resolve({ error: `command '${cmd}' timed out after ${timeoutSeconds}s`, output: stdout + stderr });
    }, clampTimerMs(Math.max(1, timeoutSeconds) * 1000));
    child.once('error', (err) => { clearTimeout(timer); signal?.removeEventListener('abort', kill); resolve({ error: err.message, output: stdout + stderr }); });
    child.once('close', (code, sig) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', kill);
      const exit = code ?? 128 + (sig === 'SIGKILL' ? 9 : sig === 'SIGTERM' ? 15 : 0);
      resolve(exit === 0 ? { output: stdout + stderr } : { error: `command '${cmd}' exited with ${exit}: ${stderr}`, output: stdout + stderr });
    });
  });
}
