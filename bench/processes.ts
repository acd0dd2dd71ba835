// Child processes the benchmarks start: `bin/podgate server` (launched the way test/e2e/harness.ts
// does, but keeping the pid and the spawn time) and the trivial peer server. Every child and temp
// dir is tracked so run.ts can remove them even when a benchmark throws or the run is interrupted.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../test/e2e/harness.ts';

const repo = join(import.meta.dirname, '..');
const live = new Set<ChildProcess>();
const tempDirs = new Set<string>();

/** A fresh temp dir that cleanupAll() removes if the owner does not. */
export function makeTempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.add(d);
  return d;
}

export function removeTempDir(d: string): void {
  rmSync(d, { recursive: true, force: true });
  tempDirs.delete(d);
}

/** Synchronous last resort: SIGKILL every child we started (by pid) and remove our temp dirs. */
export function cleanupAll(): void {
  for (const p of live) {
    if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  }
  live.clear();
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
  tempDirs.clear();
}

function waitExit(p: ChildProcess): Promise<void> {
  return new Promise((r) => (p.exitCode !== null || p.signalCode !== null ? r() : p.once('exit', () => r())));
}

async function stopChild(p: ChildProcess): Promise<void> {
  if (p.exitCode === null && p.signalCode === null) {
    p.kill('SIGTERM');
    const t = setTimeout(() => p.kill('SIGKILL'), 5000);
    await waitExit(p);
    clearTimeout(t);
  }
  live.delete(p);
}

/** Memory of a process from /proc/<pid>/status, in bytes. */
export function procMemory(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) => {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
    if (!m) throw new Error(`/proc/${pid}/status has no ${field}`);
    return Number(m[1]) * 1024;
  };
  return { rss: kib('VmRSS'), hwm: kib('VmHWM') };
}

export interface PodgateProcess {
  readonly pid: number;
  readonly port: number;
  readonly url: string;
  readonly dataDir: string;
  readonly kubeconfig: string;
  /** From just before spawn() to the `kubeconfig:` line on stdout. */
  readonly spawnToReadyMs: number;
  /** The `ready in N ms` figure podgate prints (measured inside the process). */
  readonly printedReadyMs: number;
  output(): string;
  memory(): { rss: number; hwm: number };
  /** SIGTERM (SIGKILL after 5 s), then removes the data dir if this launch created it. */
  stop(): Promise<void>;
}

/**
 * Starts `bin/podgate server` (the control plane: these benches measure the API server) on
 * 127.0.0.1 with a fresh (or the given) data dir and a free port. Not `up`: as root that would
 * also start the node parts in this machine's own network namespace.
 */
export async function launchPodgate(opts: { dataDir?: string; port?: number; timeoutMs?: number } = {}): Promise<PodgateProcess> {
  const ownDir = opts.dataDir === undefined;
  const dataDir = opts.dataDir ?? makeTempDir('podgate-bench-');
  const port = opts.port ?? await freePort();
  let out = '';
  const t0 = performance.now();
  const proc = spawn(join(repo, 'bin/podgate'), ['server', '--data-dir', dataDir, '--secure-port', String(port),
    '--bind-address', '127.0.0.1', '--node-ip', '127.0.0.1'], { stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(proc);
  let readyAt: number;
  try {
    readyAt = await new Promise<number>((resolve, reject) => {
      const timeoutMs = opts.timeoutMs ?? 20_000;
      const timer = setTimeout(() => reject(new Error(`podgate did not become ready in ${timeoutMs} ms:\n${out}`)), timeoutMs);
      proc.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('kubeconfig:')) { clearTimeout(timer); resolve(performance.now()); }
      });
      proc.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
      proc.once('error', (err) => { clearTimeout(timer); reject(err); });
      proc.once('exit', (code, sig) => { clearTimeout(timer); reject(new Error(`podgate exited (${code ?? sig}) before ready:\n${out}`)); });
    });
  } catch (err) {
    await stopChild(proc);
    if (ownDir) removeTempDir(dataDir);
    throw err;
  }
  const printed = /ready in (\d+) ms/.exec(out);
  const pid = proc.pid!;
  // bin/podgate is a shell script that execs node, so the child's pid is podgate's own process.
  const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  if (!cmdline.includes(dataDir)) throw new Error(`pid ${pid} is not the podgate process (cmdline ${cmdline.replaceAll('\0', ' ')})`);
  return {
    pid, port, dataDir,
    url: `https://127.0.0.1:${port}`,
    kubeconfig: join(dataDir, 'kubeconfig'),
    spawnToReadyMs: readyAt - t0,
    printedReadyMs: printed ? Number(printed[1]) : NaN,
    output: () => out,
    memory: () => procMemory(pid),
    async stop() {
      await stopChild(proc);
      if (ownDir) removeTempDir(dataDir);
    },
  };
}

export interface PeerProcess {
  readonly pid: number;
  readonly url: string;
  readonly spawnToReadyMs: number;
  memory(): { rss: number; hwm: number };
  stop(): Promise<void>;
}

/** Starts bench/peer-server.ts on Node 24 with podgate's serving certificate from `pkiDir`. */
export async function launchPeer(pkiDir: string): Promise<PeerProcess> {
  const port = await freePort();
  let out = '';
  const t0 = performance.now();
  const proc = spawn(process.execPath, [join(import.meta.dirname, 'peer-server.ts'), pkiDir, String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(proc);
  let readyAt: number;
  try {
    readyAt = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`peer server did not start in 10 s:\n${out}`)), 10_000);
      proc.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('listening')) { clearTimeout(timer); resolve(performance.now()); }
      });
      proc.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
      proc.once('exit', (code, sig) => { clearTimeout(timer); reject(new Error(`peer server exited (${code ?? sig}):\n${out}`)); });
    });
  } catch (err) {
    await stopChild(proc);
    throw err;
  }
  const pid = proc.pid!;
  return {
    pid, url: `https://127.0.0.1:${port}`, spawnToReadyMs: readyAt - t0,
    memory: () => procMemory(pid),
    stop: () => stopChild(proc),
  };
}
