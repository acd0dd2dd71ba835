// A deadline for the announcer's commands. The announcer's sync loop has one worker, and the
// addresses it holds expire unless that loop keeps renewing them: an `ip` or `arping` that never
// exits would take every LoadBalancer address off the link. The Exec seam (util/exec.ts) has no
// timeout and gives no handle on the child, so the command runs under coreutils `timeout -s KILL`
// (which kills it, inside a network namespace too, since it is part of the argv), and the promise
// is also given up a little later in case even that does not return (a process stuck in the
// kernel cannot be reaped).
import { CommandError, type Exec } from '../util/exec.ts';

export interface CommandTimeoutOptions {
  /** The command is killed after this long. */
  readonly timeoutMs: number;
  /** How much longer the caller waits for the killed command before giving it up (default 2 s). */
  readonly graceMs?: number;
}

/**
 * `timeout` exits 124 (128+9 for KILL) when its signal ended the command; with KILL it usually
 * dies of it itself (it signals its whole process group), which shows as no exit code.
 */
const timedOutCode = (err: CommandError) => err.exitCode === 124 || err.exitCode === 137 || (err.exitCode === null && !err.notFound);

export function withCommandTimeout(exec: Exec, opts: CommandTimeoutOptions): Exec {
  const seconds = String(opts.timeoutMs / 1000);
  const timedOut = (argv: readonly string[], stderr: string) =>
    new CommandError(argv, null, stderr, new Error(`timed out after ${opts.timeoutMs} ms`));
  return (argv, runOpts) => new Promise((resolve, reject) => {
    const deadline = setTimeout(() => reject(timedOut(argv, '')), opts.timeoutMs + (opts.graceMs ?? 2000));
    exec(['timeout', '-s', 'KILL', seconds, ...argv], runOpts).then(resolve, (err: unknown) => {
      // Report the command, not the wrapper: callers match on its argv, exit code and stderr.
      if (err instanceof CommandError) {
        reject(timedOutCode(err) ? timedOut(argv, err.stderr)
          : new CommandError(argv, err.exitCode, err.stderr, err.notFound || err.exitCode === 127 ? Object.assign(new Error('not found'), { code: 'ENOENT' }) : undefined));
      } else reject(err);
    }).finally(() => clearTimeout(deadline));
  });
}
