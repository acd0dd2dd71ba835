// Runs containers as plain processes: each in its own process group (so the whole tree can be
// signalled), inside the pod's network namespace via `nsenter --net=`, as another user via
// `setpriv`, with stdout/stderr captured into CRI-format log files.
//
// After a crash podgate restarts containers cleanly instead of adopting them. podgate owns the
// read end of every container's stdout/stderr pipe; when podgate dies those pipes die with it, so a
// surviving process has lost its log stream (and gets SIGPIPE on its next write) and podgate could
// never again report its exit code, since it is no longer the parent that reaps it. Each start
// therefore records pid + kernel start time in a pid file; `killOrphans()` at the next start kills
// exactly the process groups those files name (the start time guards against pid reuse) and the
// agent starts the pods again as a kubelet would after a node reboot.

import { spawn as nodeSpawn, type ChildProcess } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { accessSync, constants as fsConstants, mkdirSync, statSync } from 'node:fs';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import { isAbsolute, join, resolve as resolvePath } from 'node:path';
import { CriLineSplitter, wallClockNs } from './cri-log.ts';
import { RotatingLogFile } from './log-store.ts';
import { mountsInPlace, namespaceArgv, remountArgv, type BindMount } from './pod-files.ts';
import { realProcFs, type ProcFs } from './proc-stat.ts';
import { onTerminal, resizeTerminal, terminalEnv, TerminalProgram, type TerminalSize } from './terminal.ts';
import { clampTimerMs } from '../../util/timer.ts';

export interface ContainerSpec {
  podUid: string;
  containerName: string;
  argv: string[];
  env: Record<string, string>;
  /** Where the process starts; `/` when neither the container nor its image says (runc's default), never podgate's own directory. */
  workingDir?: string;
  runAsUser?: number;
  runAsGroup?: number;
  /** Network namespace to run in (`/run/netns/NAME`); undefined = the node's (hostNetwork). */
  netnsPath?: string;
  /** The pod's files (resolv.conf, hosts) over the host's, in a mount namespace of the container's own (pod-files.ts). */
  bindMounts?: readonly BindMount[];
  logFile: string;
  logMaxBytes?: number;
  /** The container's `stdin`: its standard input is a pipe that `attach` sessions write into (else /dev/null). */
  stdin?: boolean;
  /** The container's `stdinOnce`: the first attach session that ends its input closes the container's. */
  stdinOnce?: boolean;
  /** The container's `tty`: it runs on a terminal of its own (a pty, through util-linux `script`). */
  tty?: boolean;
}

export interface RunningContainer {
  pid: number;
  startedAt: Date;
}

export type ExitReason = 'Completed' | 'Error' | 'OOMKilled';

export interface ExitInfo {
  podUid: string;
  containerName: string;
  pid: number;
  /** As a container runtime reports it: the exit status, or 128 + signal number. */
  exitCode: number;
  signal: NodeJS.Signals | null;
  startedAt: Date;
  finishedAt: Date;
  reason: ExitReason;
}

/** The process could not be started (kubelet's StartError; exit code 128). */
export class StartError extends Error {
  readonly reason = 'StartError';
}

/** Docker's default PATH, used when the container's env has none. */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface ProcessRuntimeOptions {
  /** Where pid files live (one per running container). */
  stateDir: string;
  spawn?: typeof nodeSpawn;
  /** Wall clock for startedAt/finishedAt. */
  now?: () => Date;
  /** Wall clock in ns for log timestamps. */
  nowNs?: () => bigint;
  /** Signal a pid (negative: a process group). */
  kill?: (pid: number, signal: NodeJS.Signals) => void;
  proc?: ProcFs;
  /** Why a path cannot be executed (see checkExecutable), or undefined when it can. */
  checkExecutable?: (path: string) => string | undefined;
  nsenterPath?: string;
  setprivPath?: string;
  /** How long to wait for output pipes to drain after the main process exits. */
  drainMs?: number;
  /** How often running containers are checked for their pod's files (a host rename takes them away). */
  mountCheckMs?: number;
}

interface Entry {
  spec: ContainerSpec;
  child: ChildProcess;
  pid: number;
  startedAt: Date;
  pidFile: string;
  exited: Promise<ExitInfo>;
  /** Commands run in the container (exec), with their terminal's program when they have one. */
  execs: Map<ChildProcess, TerminalProgram | undefined>;
  /** A tty container's program, which runs as the terminal's session under `script` (at `pid`). */
  terminal?: TerminalProgram | undefined;
  /** The sessions attached to the container's output. */
  attached: Set<Attachment>;
  /** Resolves when the container's output has ended (every attach session ends with it). */
  outputEnded: Promise<void>;
  /** The container's standard input while it is open (stdin: true, and not closed by a stdinOnce session). */
  stdin?: Writable | undefined;
  /** Its pod's files are being mounted again (#keepMounts). */
  remounting?: boolean;
}

/** One attach session's share of the container's output (containerd's stdout/stderr writer groups). */
interface Attachment {
  stdout?: Writable | undefined;
  stderr?: Writable | undefined;
}

/** What an attach session brings; each stream only when the client asked for it. */
export interface AttachIO {
  stdin?: Readable | undefined;
  stdout?: Writable | undefined;
  stderr?: Writable | undefined;
  /** Aborted when the client goes away. */
  signal: AbortSignal;
}

interface PidRecord {
  pid: number;
  startTicks: number;
  /** A tty container's terminal session (its program's pid), once known. */
  session?: number;
  podUid: string;
  containerName: string;
}

export class ProcessRuntime {
  readonly #stateDir: string;
  readonly #spawn: typeof nodeSpawn;
  readonly #now: () => Date;
  readonly #nowNs: () => bigint;
  readonly #kill: (pid: number, signal: NodeJS.Signals) => void;
  readonly #proc: ProcFs;
  readonly #checkExecutable: (path: string) => string | undefined;
  readonly #nsenter: string;
  readonly #setpriv: string;
  readonly #drainMs: number;
  readonly #running = new Map<string, Entry>();
  readonly #starting = new Set<string>();
  readonly #listeners = new Set<(exit: ExitInfo) => void>();
  /** Checks that running containers still see their pod's files (see #keepMounts). */
  #mountKeeper: NodeJS.Timeout | undefined;
  readonly #mountCheckMs: number;

  constructor(opts: ProcessRuntimeOptions) {
    this.#stateDir = opts.stateDir;
    this.#spawn = opts.spawn ?? nodeSpawn;
    this.#now = opts.now ?? (() => new Date());
    this.#nowNs = opts.nowNs ?? wallClockNs;
    this.#kill = opts.kill ?? ((pid, sig) => process.kill(pid, sig));
    this.#proc = opts.proc ?? realProcFs;
    this.#checkExecutable = opts.checkExecutable ?? checkExecutable;
    this.#nsenter = opts.nsenterPath ?? '/usr/bin/nsenter';
    this.#setpriv = opts.setprivPath ?? '/usr/bin/setpriv';
    this.#drainMs = opts.drainMs ?? 2000;
    this.#mountCheckMs = opts.mountCheckMs ?? 2000;
  }

  /** Subscribes to container exits (every exit, whether stopped or on its own); returns an unsubscribe function. */
  onExit(cb: (exit: ExitInfo) => void): () => void {
    this.#listeners.add(cb);
    return () => this.#listeners.delete(cb);
  }

  isRunning(podUid: string, containerName: string): boolean {
    return this.#running.has(key(podUid, containerName));
  }

  /** Running containers, sorted by pod and name. */
  list(): { podUid: string; containerName: string; pid: number; startedAt: Date }[] {
    return [...this.#running.values()]
      .map((e) => ({ podUid: e.spec.podUid, containerName: e.spec.containerName, pid: e.pid, startedAt: e.startedAt }))
      .sort((a, b) => (a.podUid === b.podUid ? cmp(a.containerName, b.containerName) : cmp(a.podUid, b.podUid)));
  }

  /**
   * Starts a container's process. Rejects with StartError when the program is not found or cannot
   * be spawned, and with a plain Error when the container is already running.
   */
  async start(spec: ContainerSpec): Promise<RunningContainer> {
    const k = key(spec.podUid, spec.containerName);
    if (this.#running.has(k) || this.#starting.has(k)) throw new Error(`container "${spec.containerName}" of pod ${spec.podUid} is already running`);
    this.#starting.add(k);
    try {
      return await this.#start(spec, k);
    } finally {
      this.#starting.delete(k);
    }
  }

  async #start(spec: ContainerSpec, k: string): Promise<RunningContainer> {
    const env = { PATH: DEFAULT_PATH, ...spec.env };
    const tty = spec.tty === true;
    const argv = this.#wrap(spec, spec.argv, env, tty);
    if (spec.workingDir) mkdirSync(spec.workingDir, { recursive: true });
    await mkdir(this.#stateDir, { recursive: true });

    const log = new RotatingLogFile({ path: spec.logFile, ...(spec.logMaxBytes !== undefined ? { maxBytes: spec.logMaxBytes } : {}) });
    const child = this.#spawn(argv[0]!, argv.slice(1), {
      detached: true,
      // A terminal's input stays open even when nobody may write to it (tty without stdin), as a
      // runtime's pty does: `script` would otherwise read the end of /dev/null and pass it on.
      stdio: [spec.stdin || tty ? 'pipe' : 'ignore', 'pipe', 'pipe'],
      env: tty ? terminalEnv(env) : env,
      cwd: workingDirOf(spec),
    });
    const attached = new Set<Attachment>();
    // Listen at once: a short-lived process may be gone before the pid file is written, and Node
    // discards output nobody was listening for when the child exits.
    const streams = (['stdout', 'stderr'] as const).map((stream) => {
      const splitter = new CriLineSplitter({ stream, now: this.#nowNs, emit: (r) => log.write(r) });
      const readable = child[stream]!;
      const blocked = new Set<Writable>();
      readable.on('data', (chunk: Buffer) => {
        splitter.write(chunk);
        // Attached clients get the output as it comes; a slow one holds the container's output
        // back (as containerd's writer groups do) instead of podgate buffering without bound.
        for (const a of attached) {
          const w = a[stream];
          if (!w || w.destroyed || w.writableEnded) continue;
          if (!w.write(chunk) && !blocked.has(w)) {
            blocked.add(w);
            readable.pause();
            const go = () => {
              w.off('drain', go); w.off('close', go);
              blocked.delete(w);
              if (blocked.size === 0) readable.resume();
            };
            w.on('drain', go); w.on('close', go);
          }
        }
      });
      const ended = new Promise<void>((resolve) => { readable.once('close', resolve); readable.once('error', () => resolve()); });
      return { splitter, readable, ended };
    });

    const execs = new Map<ChildProcess, TerminalProgram | undefined>();
    let terminal: TerminalProgram | undefined;
    const outputEnded = Promise.all(streams.map((s) => s.ended)).then(() => undefined);
    if (child.stdin) child.stdin.on('error', () => { /* EPIPE: the program closed its input or ended */ });
    const rawExit = new Promise<{ code: number | null; signal: NodeJS.Signals | null; finishedAt: Date }>((resolve) => {
      child.once('exit', (code, signal) => {
        const finishedAt = this.#now();
        // A container ends when its first process does: take the rest of the tree with it (and
        // of its terminal's session, which a process group does not reach).
        if (child.pid) this.#killTree(child.pid, terminal);
        for (const [e, t] of execs) if (e.pid) this.#killTree(e.pid, t);
        resolve({ code, signal, finishedAt });
      });
    });
    try {
      await new Promise<void>((resolve, reject) => {
        child.once('spawn', resolve);
        child.once('error', reject);
      });
    } catch (err) {
      log.close();
      throw new StartError(`failed to start container "${spec.containerName}": ${(err as Error).message}`);
    }
    const pid = child.pid!;
    const startedAt = this.#now();
    const pidFile = join(this.#stateDir, `${spec.podUid}_${spec.containerName}.json`);
    const stat = this.#proc.readStat(pid);
    const record: PidRecord | undefined = stat ? { pid, startTicks: stat.startTicks, podUid: spec.podUid, containerName: spec.containerName } : undefined;
    if (record) await writeFile(pidFile, JSON.stringify(record));
    if (tty) {
      terminal = new TerminalProgram(pid);
      // The terminal's session outlives script's process group: recorded too, for killOrphans.
      void terminal.found.then(async (session) => {
        if (session === undefined || !record || !this.#running.has(k)) return;
        await writeFile(pidFile, JSON.stringify({ ...record, session })).catch(() => {});
      });
    }

    // Its exit is told only after start() returned: a container that ends at once (while start()
    // waits for its mounts) must not be reported gone before it was reported started.
    let startReturned!: () => void;
    const returned = new Promise<void>((resolve) => { startReturned = resolve; });
    const exited = rawExit.then(async ({ code, signal, finishedAt }) => {
      // ... and after the callers' own continuations (all microtasks) have run.
      await returned;
      await new Promise((r) => setImmediate(r));
      const drained = Promise.all(streams.map((s) => s.ended));
      await Promise.race([drained, new Promise<void>((r) => setTimeout(r, this.#drainMs).unref())]);
      for (const s of streams) { s.readable.destroy(); s.splitter.end(); }
      log.close();
      await rm(pidFile, { force: true });
      const exitCode = code ?? 128 + (signal ? (osConstants.signals[signal] ?? 0) : 0);
      const info: ExitInfo = {
        podUid: spec.podUid, containerName: spec.containerName, pid, exitCode, signal,
        startedAt, finishedAt, reason: exitCode === 0 ? 'Completed' : 'Error',
      };
      this.#running.delete(k);
      for (const cb of this.#listeners) {
        try { cb(info); } catch { /* a listener's bug must not stop the others */ }
      }
      return info;
    });
    const entry: Entry = { spec, child, pid, startedAt, pidFile, execs, exited, attached, outputEnded, terminal,
      stdin: spec.stdin ? child.stdin ?? undefined : undefined };
    this.#running.set(k, entry);
    try {
      if (spec.bindMounts && spec.bindMounts.length > 0) await this.#mountsReady(entry);
    } finally {
      startReturned();
    }
    return { pid, startedAt };
  }

  /**
   * Waits until the container's mount script has put the pod's files in place (or the container
   * ended): until then a `kubectl exec` or postStart hook joining its mount namespace would see,
   * and could write, the host's files. Then keeps them in place (#keepMounts).
   */
  async #mountsReady(entry: Entry): Promise<void> {
    const mounts = entry.spec.bindMounts ?? [];
    const until = Date.now() + 5000;
    while (!mountsInPlace(entry.pid, mounts) && entry.child.exitCode === null && entry.child.signalCode === null) {
      if (Date.now() > until) break; // a failed mount ends the container (pod-files.ts); its exit tells
      await new Promise((r) => setTimeout(r, 5));
    }
    this.#mountKeeper ??= setInterval(() => this.#keepMounts(), this.#mountCheckMs);
    this.#mountKeeper.unref();
  }

  /**
   * Puts back the pod's files of every running container whose mount the host took away by
   * replacing its own file (a rename removes the mounts on the old file in every namespace), so
   * pods keep their resolv.conf when dhclient or systemd-resolved rewrites the node's.
   */
  #keepMounts(): void {
    let any = false;
    for (const entry of this.#running.values()) {
      const mounts = entry.spec.bindMounts ?? [];
      if (mounts.length === 0) continue;
      any = true;
      if (entry.remounting || mountsInPlace(entry.pid, mounts)) continue;
      entry.remounting = true;
      void (async () => {
        for (const m of mounts) {
          const argv = remountArgv(entry.pid, m, { nsenter: this.#nsenter });
          await new Promise<void>((resolve) => {
            const c = this.#spawn(argv[0]!, argv.slice(1), { stdio: 'ignore' });
            c.once('error', () => resolve());
            c.once('exit', () => resolve());
          });
        }
        entry.remounting = false;
      })();
    }
    if (!any && this.#mountKeeper) { clearInterval(this.#mountKeeper); this.#mountKeeper = undefined; }
  }

  /**
   * Stops a container: SIGTERM to its process group, then SIGKILL after the grace period.
   * Resolves with its exit, or undefined when it was not running.
   */
  async stop(podUid: string, containerName: string, gracePeriodSeconds: number): Promise<ExitInfo | undefined> {
    const entry = this.#running.get(key(podUid, containerName));
    if (!entry) return undefined;
    if (gracePeriodSeconds > 0) {
      // A tty container's program is signalled itself: script, signalled, would cut the grace
      // period to 2 s and report exit code 0.
      const program = entry.terminal ? await entry.terminal.found : undefined;
      this.#signalGroup(program ?? entry.pid, 'SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      // A longer grace period than a Node timer holds would time out at once.
      const timedOut = new Promise<'timeout'>((r) => { timer = setTimeout(() => r('timeout'), clampTimerMs(gracePeriodSeconds * 1000)); });
      const first = await Promise.race([entry.exited, timedOut]);
      clearTimeout(timer);
      if (first !== 'timeout') return first;
    }
    this.#killTree(entry.pid, entry.terminal);
    return entry.exited;
  }

  /** Stops every container (podgate shutdown), each with the given grace period. */
  async stopAll(gracePeriodSeconds: number): Promise<ExitInfo[]> {
    const all = await Promise.all([...this.#running.values()].map((e) => this.stop(e.spec.podUid, e.spec.containerName, gracePeriodSeconds)));
    return all.filter((x) => x !== undefined);
  }

  /**
   * Runs a command in a running container's context (network namespace, user, env, workingDir),
   * as exec probes and `kubectl exec` need. The child is killed when the container exits.
   * Throws when the container is not running or the program does not exist. With `tty` the command
   * runs on a terminal of its own (its output all on stdout; `resizeExec` sizes it).
   */
  exec(podUid: string, containerName: string | undefined, argv: string[], opts: { stdin?: boolean; tty?: boolean } = {}): ChildProcess {
    const entry = this.#find(podUid, containerName);
    if (!entry) throw new Error(`container not found (${JSON.stringify(containerName ?? '')})`);
    const env = { PATH: DEFAULT_PATH, ...entry.spec.env };
    const tty = opts.tty === true;
    // Joins the container's mount namespace: the exec sees the pod's resolv.conf and hosts.
    const wrapped = this.#wrap(entry.spec, argv, env, tty, entry.pid);
    const child = this.#spawn(wrapped[0]!, wrapped.slice(1), {
      detached: true,
      stdio: [opts.stdin || tty ? 'pipe' : 'ignore', 'pipe', 'pipe'],
      env: tty ? terminalEnv(env) : env,
      cwd: workingDirOf(entry.spec),
    });
    entry.execs.set(child, tty && child.pid !== undefined ? new TerminalProgram(child.pid) : undefined);
    child.once('exit', () => entry.execs.delete(child));
    child.once('error', () => entry.execs.delete(child));
    return child;
  }

  /** Kills an exec and everything it started, its terminal's session included (the client went away). */
  killExec(child: ChildProcess): void {
    if (child.pid === undefined) return;
    const entry = [...this.#running.values()].find((e) => e.execs.has(child));
    this.#killTree(child.pid, entry?.execs.get(child));
  }

  /** Sizes the terminal of an exec started with `tty`; false when it could not be set. */
  resizeExec(child: ChildProcess, size: TerminalSize): Promise<boolean> {
    return child.pid === undefined || child.exitCode !== null ? Promise.resolve(false) : resizeTerminal(child.pid, size);
  }

  /** Sizes a running `tty` container's terminal (`kubectl attach -t` resizes); false when it could not be set. */
  resize(podUid: string, containerName: string | undefined, size: TerminalSize): Promise<boolean> {
    const entry = this.#find(podUid, containerName);
    return entry?.spec.tty ? resizeTerminal(entry.pid, size) : Promise.resolve(false);
  }

  /**
   * Attaches a client to a running container, as containerd's ContainerIO.Attach does: from now on
   * the container's output is copied to the client's stdout/stderr too (output from before is in
   * the logs), and the client's stdin goes to the container's when the container has one. The
   * session ends when the container's output ends (it exited), when the client goes away, or when
   * the client's stdin ends: with `stdinOnce` and no terminal that closes the container's stdin
   * for good and the session stays until the container exits; otherwise the client detaches and
   * the container's stdin stays open for the next session.
   * Throws, in containerd's words, when the container is not running.
   */
  async attach(podUid: string, containerName: string | undefined, io: AttachIO): Promise<void> {
    const entry = this.#find(podUid, containerName);
    // Also while its exit is still being recorded: a session that attached then would end at once
    // as a success, and `kubectl run -i` would print nothing instead of falling back to the logs.
    if (!entry || entry.child.exitCode !== null || entry.child.signalCode !== null) throw new Error('container is in CONTAINER_EXITED state');
    const attachment: Attachment = { stdout: io.stdout, stderr: io.stderr };
    entry.attached.add(attachment);
    let detach!: () => void;
    const detached = new Promise<void>((resolve) => { detach = resolve; });
    const input = io.stdin;
    const target = entry.stdin;
    // containerd closes a stdinOnce container's input when the first session's input copy ends,
    // however it ends: at the client's end of input, or when the client goes away.
    const closesInput = Boolean(input && target && entry.spec.stdinOnce && !entry.spec.tty);
    const closeInput = () => {
      if (!target) return;
      if (entry.stdin === target) entry.stdin = undefined;
      target.end();
    };
    const onAbort = () => {
      if (closesInput) closeInput();
      detach();
    };
    io.signal.addEventListener('abort', onAbort);
    if (io.signal.aborted) onAbort();
    const resume = () => input?.resume();
    let forward: ((chunk: Buffer) => void) | undefined;
    let ended: (() => void) | undefined;
    if (input && target) {
      forward = (chunk: Buffer) => {
        if (target.destroyed || target.writableEnded) return;
        if (!target.write(chunk)) {
          input.pause();
          target.once('drain', resume);
        }
      };
      ended = () => {
        if (closesInput) closeInput();
        else detach();
      };
      input.on('data', forward);
      input.once('end', ended);
    } else input?.resume(); // a container without stdin (or whose stdin was closed) reads nothing
    try {
      await Promise.race([entry.outputEnded, detached]);
    } finally {
      entry.attached.delete(attachment);
      io.signal.removeEventListener('abort', onAbort);
      target?.off('drain', resume);
      if (forward) input?.off('data', forward);
      if (ended) input?.off('end', ended);
      input?.resume();
    }
  }

  #find(podUid: string, containerName: string | undefined): Entry | undefined {
    return containerName !== undefined
      ? this.#running.get(key(podUid, containerName))
      : [...this.#running.values()].find((e) => e.spec.podUid === podUid);
  }

  /**
   * Kills what a crashed podgate left running: every process group named by a pid file in
   * `pidDir` whose leader (or surviving members) started no earlier than recorded, then removes the
   * files. Returns what was killed, sorted.
   */
  async killOrphans(pidDir: string = this.#stateDir): Promise<{ podUid: string; containerName: string; pids: number[] }[]> {
    let files: string[];
    try {
      files = (await readdir(pidDir)).filter((f) => f.endsWith('.json')).sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const killed: { podUid: string; containerName: string; pids: number[] }[] = [];
    for (const file of files) {
      const path = join(pidDir, file);
      let rec: PidRecord | undefined;
      try {
        rec = JSON.parse(await readFile(path, 'utf8')) as PidRecord;
      } catch { /* a torn write from the crash: nothing to trust */ }
      if (rec && Number.isInteger(rec.pid) && rec.pid > 1 && rec.pid !== process.pid) {
        const pids = this.#orphanPids(rec);
        for (const pid of pids) this.#signal(pid, 'SIGKILL');
        if (pids.length > 0) killed.push({ podUid: rec.podUid, containerName: rec.containerName, pids });
      }
      await rm(path, { force: true });
    }
    return killed;
  }

  // The recorded process group, if it is still the one podgate started: a leader with the recorded
  // start time, or (leader gone) members that started after it. A reused pid fails both tests.
  #orphanPids(rec: PidRecord): number[] {
    const leader = this.#proc.readStat(rec.pid);
    if (leader && leader.startTicks !== rec.startTicks) return [];
    return this.#proc.listPids()
      .map((pid) => this.#proc.readStat(pid))
      .filter((s) => s !== undefined && (s.pgrp === rec.pid || (rec.session !== undefined && s.session === rec.session)) &&
        s.startTicks >= rec.startTicks && s.pid !== process.pid)
      .map((s) => s!.pid)
      .sort((a, b) => a - b);
  }

  #wrap(spec: ContainerSpec, argv: string[], env: Record<string, string>, tty = false, joinPid?: number): string[] {
    const program = argv[0];
    if (program === undefined || program === '') throw new StartError('no command to run');
    // A relative program (`./run.sh`) is found from the working directory, as runc finds it.
    const check = (path: string) => {
      const full = resolvePath(workingDirOf(spec), path);
      return this.#checkExecutable(full)?.replace(full, path);
    };
    const notRunnable = lookPathError(program, env['PATH'] ?? DEFAULT_PATH, check);
    if (notRunnable !== undefined) throw new StartError(notRunnable);
    if (tty) argv = onTerminal(argv, env['SHELL']);
    const prefix = namespaceArgv({ netnsPath: spec.netnsPath, bindMounts: spec.bindMounts, joinPid, workingDir: workingDirOf(spec), tools: { nsenter: this.#nsenter } });
    if (spec.runAsUser !== undefined || spec.runAsGroup !== undefined) {
      prefix.push(this.#setpriv);
      if (spec.runAsUser !== undefined) prefix.push(`--reuid=${spec.runAsUser}`);
      if (spec.runAsGroup !== undefined) prefix.push(`--regid=${spec.runAsGroup}`);
      prefix.push('--clear-groups', '--');
    }
    return [...prefix, ...argv];
  }

  /**
   * SIGKILL to a process group and, for a terminal, to every process of the terminal's session
   * (its program setsid'd away from the group; a process ignoring the hangup would stay).
   */
  #killTree(pid: number, terminal: TerminalProgram | undefined): void {
    this.#signalGroup(pid, 'SIGKILL');
    const session = terminal?.pid;
    if (session === undefined) return;
    this.#signalGroup(session, 'SIGKILL');
    for (const p of this.#proc.listPids()) {
      if (p !== process.pid && this.#proc.readStat(p)?.session === session) this.#signal(p, 'SIGKILL');
    }
  }

  #signalGroup(pid: number, signal: NodeJS.Signals): void {
    this.#signal(-pid, signal);
  }

  #signal(pid: number, signal: NodeJS.Signals): void {
    try {
      this.#kill(pid, signal);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
  }
}

function workingDirOf(spec: ContainerSpec): string {
  return spec.workingDir || '/';
}

function key(podUid: string, containerName: string): string {
  return `${podUid}/${containerName}`;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The error runc reports when it cannot run `program` (its exec.LookPath, before the process
 * starts), or undefined when it can: `exec: "/etc/passwd": permission denied` for a file that is not
 * executable, `exec: "/nope": stat /nope: no such file or directory` for a missing one, and
 * `exec: "nope": executable file not found in $PATH` when no PATH entry has it.
 */
export function lookPathError(program: string, pathEnv: string, check: (path: string) => string | undefined): string | undefined {
  const fail = (why: string) => `exec: ${JSON.stringify(program)}: ${why}`;
  if (program.includes('/')) {
    const why = check(program);
    return why === undefined ? undefined : fail(why);
  }
  const found = pathEnv.split(':').some((dir) => dir !== '' && isAbsolute(dir) && check(join(dir, program)) === undefined);
  return found ? undefined : fail('executable file not found in $PATH');
}

/** Go's errno texts, for the errors stat and access give here. */
const errnoText: Record<string, string> = {
  ENOENT: 'no such file or directory', ENOTDIR: 'not a directory', EACCES: 'permission denied',
  ELOOP: 'too many levels of symbolic links', ENAMETOOLONG: 'file name too long',
};

/**
 * Why `path` cannot be executed, in the words of Go's os/exec findExecutable (which runc uses):
 * the stat error, "is a directory", or "permission denied" (no execute permission); undefined when
 * it can be.
 */
export function checkExecutable(path: string): string | undefined {
  let isDir: boolean;
  try {
    isDir = statSync(path).isDirectory();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    return `stat ${path}: ${errnoText[code] ?? 'no such file or directory'}`;
  }
  if (isDir) return 'is a directory';
  try {
    accessSync(path, fsConstants.X_OK);
    return undefined;
  } catch (err) {
    return errnoText[(err as NodeJS.ErrnoException).code ?? ''] ?? 'permission denied';
  }
}
