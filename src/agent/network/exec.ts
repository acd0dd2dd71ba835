// The I/O seam: every system change of the pod network is a command run through an Exec.
// Unit tests pass a recording fake; a node living in its own network namespace (as in the
// tests) wraps the real one with inNetns.
import { spawn } from 'node:child_process';

export interface ExecResult {
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs argv (no shell) with optional stdin; resolves on exit code 0, rejects with CommandError otherwise. */
export type Exec = (argv: readonly string[], opts?: { readonly input?: string }) => Promise<ExecResult>;

export class CommandError extends Error {
  readonly code = 'ECOMMAND';
  readonly argv: readonly string[];
  readonly exitCode: number | null;
  readonly stderr: string;
  constructor(argv: readonly string[], exitCode: number | null, stderr: string, cause?: unknown) {
    super(`${argv.join(' ')}: ${cause instanceof Error ? cause.message : `exit ${exitCode}`}${stderr.trim() ? `: ${stderr.trim()}` : ''}`, { cause });
    this.argv = argv;
    this.exitCode = exitCode;
    this.stderr = stderr;
  }
}

/** The real Exec. A missing program rejects with a CommandError whose message names it (ENOENT). */
export const runCommand: Exec = (argv, opts) => new Promise((resolve, reject) => {
  const [file, ...args] = argv;
  if (!file) { reject(new Error('runCommand: empty argv')); return; }
  const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
  child.once('error', (err) => reject(new CommandError(argv, null, stderr, err)));
  child.once('close', (code) => (code === 0 ? resolve({ stdout, stderr }) : reject(new CommandError(argv, code, stderr))));
  child.stdin.on('error', () => { /* the exit code reports the failure */ });
  child.stdin.end(opts?.input ?? '');
});

/**
 * An Exec that runs every command inside the named network namespace, switching the network
 * namespace only (`nsenter --net=/run/netns/NAME`). Not `ip netns exec`: that also gives each
 * command a private (slave) mount namespace, so a pod netns that `ip netns add` mounts inside it
 * vanishes with the command and is never visible to anyone else.
 */
export function inNetns(exec: Exec, netns: string): Exec {
  return (argv, opts) => exec(['nsenter', `--net=/run/netns/${netns}`, '--', ...argv], opts);
}

/** True when the command failed because what it creates already exists / what it deletes is already gone. */
export function isExistsError(err: unknown): boolean {
  return err instanceof CommandError && /File exists/i.test(err.stderr);
}

export function isNotFoundError(err: unknown): boolean {
  return err instanceof CommandError
    && /No such file or directory|Cannot find device|does not exist/i.test(err.stderr);
}
