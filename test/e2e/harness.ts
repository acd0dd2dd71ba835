// Runs the real `podgate up` as a child process and the real kubectl against it. Every test
// file gets its own data dir, port and HOME (kubectl caches discovery per host:port under HOME),
// and everything is removed at the end, even after a failure.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProcessRuntime } from '../../src/agent/runtime/process-runtime.ts';

export const kubectlPath = process.env.KUBECTL ?? '/usr/bin/kubectl';
const repo = join(import.meta.dirname, '../..');

export function requireKubectl(): void {
  if (!existsSync(kubectlPath)) {
    throw new Error(`end-to-end tests need the real kubectl at ${kubectlPath} (v1.32); install it (apt-get install kubectl) or set KUBECTL`);
  }
}

/** The `--timeout=` a kubectl command carries, in seconds (0 when none). */
function waitSeconds(args: readonly string[]): number {
  const t = args.find((a) => a.startsWith('--timeout='))?.slice('--timeout='.length) ?? '';
  const m = /^(\d+)(s|m)?$/.exec(t);
  return m ? Number(m[1]) * (m[2] === 'm' ? 60 : 1) : 0;
}

import { freePort } from '../../src/util/test-ports.ts';
export { freePort };

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface Podgate {
  readonly dataDir: string;
  readonly home: string;
  readonly port: number;
  readonly kubeconfig: string;
  readonly url: string;
  readonly output: () => string;
  kubectl(args: string[], opts?: { input?: string; env?: Record<string, string>; timeoutMs?: number }): Promise<CommandResult>;
  /** Starts a long-running kubectl (port-forward, proxy, logs -f); stop it with kill(). */
  spawnKubectl(args: string[], opts?: { wrap?: (argv: string[]) => string[] }): ChildProcess;
  /** Runs a command in podgate's network namespace (the node's), e.g. curl to a port-forward. */
  run(argv: string[], opts?: { input?: string; timeoutMs?: number }): Promise<CommandResult>;
  /** Applies YAML text with `kubectl apply -f -`. */
  apply(yaml: string, extra?: string[]): Promise<CommandResult>;
  /** kill -9, as a crash. */
  crash(): Promise<void>;
  /** SIGTERM, as `systemctl stop`: podgate stops cleanly; restart() starts it again. */
  terminate(): Promise<void>;
  /** Starts podgate again on the same data dir and port. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export interface StartOptions {
  /**
   * `server` (control plane only, the default), `up` (with the node agent: needs a netns) or
   * `agent` (a node joining another podgate: give the join flags in extraArgs; kubectl then uses
   * the admin kubeconfig given as `kubeconfig`).
   */
  verb?: 'server' | 'up' | 'agent';
  kubeconfig?: string;
  /** Run podgate and kubectl inside this network namespace (a test host's). */
  netns?: string;
  nodeIP?: string;
  nodeName?: string;
  extraArgs?: string[];
}

export async function startPodgate(opts: StartOptions = {}): Promise<Podgate> {
  requireKubectl();
  const dataDir = mkdtempSync(join(tmpdir(), 'podgate-e2e-'));
  const home = join(dataDir, 'home');
  // Inside a test host's netns the port space is the host's own.
  const port = opts.netns ? 6443 : await freePort();
  // nsenter --net, not `ip netns exec`: the latter gives podgate a private mount namespace, and the
  // pod netns it creates would be invisible outside it (and to itself after a restart).
  const inNetns = (argv: string[]) => (opts.netns ? ['nsenter', `--net=/run/netns/${opts.netns}`, '--', ...argv] : argv);
  const kubeconfig = opts.kubeconfig ?? join(dataDir, 'kubeconfig');
  const verb = opts.verb ?? 'server';
  let proc: ChildProcess | undefined;
  let out = '';

  const launch = async () => {
    out = '';
    const argv = inNetns([join(repo, 'bin/podgate'), verb, '--data-dir', dataDir,
      ...(verb === 'agent' ? [] : ['--secure-port', String(port), '--bind-address', opts.netns ? '0.0.0.0' : '127.0.0.1']),
      '--node-ip', opts.nodeIP ?? '127.0.0.1', ...(opts.nodeName ? ['--node-name', opts.nodeName] : []), ...(opts.extraArgs ?? [])]);
    proc = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    const p = proc;
    await new Promise<void>((resolve, reject) => {
      // A joining agent waits for its certificates to be approved and signed.
      const readyMs = verb === 'agent' ? 60_000 : 20_000;
      // A podgate that never got ready is killed, or it would outlive the test's hosts.
      const timer = setTimeout(() => { p.kill('SIGKILL'); reject(new Error(`podgate ${verb} did not become ready in ${readyMs / 1000} s:\n${out}`)); }, readyMs);
      const onData = (d: Buffer) => {
        out += d.toString();
        const ready = verb === 'agent' ? out.includes('node agent:') : out.includes('kubeconfig:') && (verb !== 'up' || out.includes('node agent'));
        if (ready) { clearTimeout(timer); resolve(); }
      };
      p.stdout!.on('data', onData);
      p.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
      p.once('exit', (code) => { clearTimeout(timer); reject(new Error(`podgate exited with ${code} before ready:\n${out}`)); });
    });
  };
  const waitExit = (p: ChildProcess) => new Promise<void>((r) => (p.exitCode !== null || p.signalCode !== null ? r() : p.once('exit', () => r())));

  await launch();
  const kubectl = (args: string[], o: { input?: string; env?: Record<string, string>; timeoutMs?: number } = {}) =>
    new Promise<CommandResult>((resolve) => {
      const argv = inNetns([kubectlPath, ...args]);
      const child = execFile(argv[0]!, argv.slice(1), {
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, KUBECONFIG: kubeconfig, ...o.env },
        // `kubectl wait --timeout=Ns` must not be cut short by this limit.
        timeout: o.timeoutMs ?? Math.max(30_000, waitSeconds(args) * 1000 + 10_000), maxBuffer: 64 * 1024 * 1024,
      }, (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
        resolve({ code, stdout, stderr });
      });
      // kubectl may exit before reading all its input (exec -i of a command that reads part of
      // it): the write then fails with EPIPE, which is the command's business, not a test error.
      child.stdin?.on('error', () => {});
      child.stdin?.end(o.input ?? '');
    });
  const env = () => ({ PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, KUBECONFIG: kubeconfig });
  const run = (argv0: string[], o: { input?: string; timeoutMs?: number } = {}) => new Promise<CommandResult>((resolve) => {
    const argv = inNetns(argv0);
    const child = execFile(argv[0]!, argv.slice(1), { env: env(), timeout: o.timeoutMs ?? 60_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
    child.stdin?.on('error', () => {});
    child.stdin?.end(o.input ?? '');
  });
  return {
    dataDir, home, port, kubeconfig, url: `https://127.0.0.1:${port}`,
    output: () => out,
    kubectl,
    run,
    spawnKubectl(args, o = {}) {
      const argv = inNetns((o.wrap ?? ((a) => a))([kubectlPath, ...args]));
      return spawn(argv[0]!, argv.slice(1), { env: env(), stdio: ['pipe', 'pipe', 'pipe'] });
    },
    apply: (yaml, extra = []) => kubectl(['apply', '-f', '-', ...extra], { input: yaml }),
    async crash() {
      if (!proc) return;
      proc.kill('SIGKILL');
      await waitExit(proc);
      proc = undefined;
    },
    async terminate() {
      if (!proc) return;
      proc.kill('SIGTERM');
      await waitExit(proc);
      proc = undefined;
    },
    async restart() {
      if (proc) { proc.kill('SIGTERM'); await waitExit(proc); }
      await launch();
    },
    async stop() {
      if (proc) {
        proc.kill('SIGTERM');
        const t = setTimeout(() => proc?.kill('SIGKILL'), 15_000);
        await waitExit(proc);
        clearTimeout(t);
        proc = undefined;
      }
      // A podgate that had to be killed leaves its pods' processes running (it restarts them on its
      // next start); there is none here, so end them from the runtime's pid files.
      await new ProcessRuntime({ stateDir: join(dataDir, 'node', 'pids') }).killOrphans().catch(() => []);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Runs `kubectl` and fails with its output when the exit code is not the expected one. */
export function expectOk(r: CommandResult, what: string): string {
  if (r.code !== 0) throw new Error(`${what} failed (exit ${r.code}):\n${r.stderr}${r.stdout}`);
  return r.stdout;
}
