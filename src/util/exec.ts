// The one seam through which node components run system programs (ip, nft, conntrack, arping).
// Unit tests pass a recording fake; a node living in a named network namespace (as in the tests)
// wraps the real one with inNetns.
import { spawn } from 'node:child_process';

export interface ExecResult {
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs argv (no shell) with optional stdin; resolves on exit 0, rejects with CommandError otherwise. */
export type Exec = (argv: readonly string[], opts?: { readonly input?: string }) => Promise<ExecResult>;

export class CommandError extends Error {
  readonly code = 'ECOMMAND';
  readonly argv: readonly string[];
  readonly exitCode: number | null;
  readonly stderr: string;
  /** The program is not installed. */
  readonly notFound: boolean;
  constructor(argv: readonly string[], exitCode: number | null, stderr: string, cause?: unknown) {
    super(`${argv.join(' ')}: ${cause instanceof Error ? cause.message : `exit ${exitCode}`}${stderr.trim() ? `: ${stderr.trim()}` : ''}`, { cause });
    this.argv = argv;
    this.exitCode = exitCode;
    this.stderr = stderr;
    this.notFound = (cause as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
  }
}

/** The real Exec. */
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
 * Runs every command inside the named network namespace (`nsenter --net=/run/netns/NAME`); a
 * missing nsenter and a missing program inside it both surface as a CommandError.
 */
export function inNetns(exec: Exec, netns: string): Exec {
  return async (argv, opts) => {
    try {
      return await exec(['nsenter', `--net=/run/netns/${netns}`, '--', ...argv], opts);
    } catch (err) {
      // nsenter reports a missing program as "failed to execute X: No such file or directory", exit 127.
      if (err instanceof CommandError && err.exitCode === 127) throw new CommandError(argv, 127, err.stderr, Object.assign(new Error('not found'), { code: 'ENOENT' }));
      throw err;
    }
  };
}

/** Runs argv and resolves with its exit code and output; never rejects (for callers that read codes). */
export async function tryCommand(exec: Exec, argv: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  try {
    const r = await exec(argv);
    return { code: 0, ...r };
  } catch (err) {
    if (err instanceof CommandError) return { code: err.notFound ? 127 : err.exitCode, stdout: '', stderr: err.stderr || err.message };
    throw err;
  }
}

/** True when the command failed because what it creates already exists. */
export function isExistsError(err: unknown): boolean {
  return err instanceof CommandError && /File exists/i.test(err.stderr);
}

/** True when the command failed because what it deletes is already gone. */
export function isNotFoundError(err: unknown): boolean {
  return err instanceof CommandError
    && /No such file or directory|Cannot find device|does not exist/i.test(err.stderr);
}
