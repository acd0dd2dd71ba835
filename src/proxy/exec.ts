// The proxy's one I/O seam for commands (nft, conntrack). Tests and a node living in a named
// network namespace wrap it (inNetns); nothing else in src/proxy runs programs.
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
