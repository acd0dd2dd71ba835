// Terminals for containers and exec sessions that ask for one (`tty: true`, `kubectl exec -t`),
// without a native pty library: util-linux `script` opens a pty, runs the command on its slave
// side as a session of its own, and relays between the pty's master side and its own stdin/stdout
// pipes, which podgate holds. Resizing sets the slave's window size from outside, as a terminal
// emulator does (TIOCSWINSZ, through `stty -F`), so the program gets SIGWINCH and reads the size.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, readdir, readlink } from 'node:fs/promises';
import { parseProcStat } from './proc-stat.ts';

export const SCRIPT = '/usr/bin/script';
const STTY = '/usr/bin/stty';

/** A terminal size as kubectl reports it (columns and rows). */
export interface TerminalSize {
  width: number;
  height: number;
}

/** Quotes one word for a POSIX shell. */
export function shellQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * The argv that runs `argv` on a terminal of its own. `script -c` hands the command to `$SHELL -c`,
 * so script gets SHELL=/bin/sh (see `terminalEnv`) and the command gives the program its own
 * `$SHELL` back; the words are quoted and `exec`ed (no shell stays between script and the
 * program); `-e` gives the program's exit status, `-f` flushes every write, `-q` keeps script's
 * banner out, and the typescript goes to /dev/null. The program runs as a session of its own (the
 * terminal's), so it is signalled through `TerminalProgram`, never through script: on SIGTERM
 * script says "Session terminated", kills the program 2 s later and exits 0.
 */
export function onTerminal(argv: readonly string[], shell: string | undefined): string[] {
  const restore = shell === undefined ? 'unset SHELL; ' : `SHELL=${shellQuote(shell)}; export SHELL; `;
  return [SCRIPT, '-qfec', `${restore}exec ${argv.map(shellQuote).join(' ')}`, '/dev/null'];
}

/** The environment `script` runs with: the program's, with the shell script runs the command through. */
export function terminalEnv(env: Readonly<Record<string, string>>): Record<string, string> {
  return { ...env, SHELL: '/bin/sh' };
}

/** What the terminal helpers read from /proc (a seam for tests). */
export interface TerminalProc {
  children(pid: number): Promise<number[]>;
  /** The targets of the process's open file descriptors, by number. */
  fds(pid: number): Promise<Map<number, string>>;
  /** /proc/PID/fdinfo/FD's text. */
  fdinfo(pid: number, fd: number): Promise<string | undefined>;
  alive(pid: number): boolean;
  /** Whether the process leads its own session (its session id is its pid). */
  sessionLeader(pid: number): Promise<boolean>;
}

export const realTerminalProc: TerminalProc = {
  async children(pid) {
    try {
      const text = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8');
      return text.split(/\s+/).filter(Boolean).map(Number);
    } catch {
      return [];
    }
  },
  async fds(pid) {
    const out = new Map<number, string>();
    let names: string[];
    try {
      names = await readdir(`/proc/${pid}/fd`);
    } catch {
      return out;
    }
    for (const n of names) {
      try { out.set(Number(n), await readlink(`/proc/${pid}/fd/${n}`)); } catch { /* closed meanwhile */ }
    }
    return out;
  },
  async fdinfo(pid, fd) {
    try {
      return await readFile(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
    } catch {
      return undefined;
    }
  },
  alive(pid) {
    return existsSync(`/proc/${pid}`);
  },
  async sessionLeader(pid) {
    try {
      return parseProcStat(await readFile(`/proc/${pid}/stat`, 'utf8'))?.session === pid;
    } catch {
      return false;
    }
  },
};

/**
 * The pty slave (`/dev/pts/N`) `script` (at `scriptPid`) holds the master of: the kernel names the
 * index in the master's fdinfo (`tty-index:`), whatever the program did with its own descriptors.
 * Undefined before script has opened it or after it ended.
 */
export async function terminalOf(scriptPid: number, proc: TerminalProc = realTerminalProc): Promise<string | undefined> {
  for (const [fd, target] of await proc.fds(scriptPid)) {
    if (target !== '/dev/ptmx' && target !== '/dev/pts/ptmx') continue;
    const m = /^tty-index:\s*(\d+)$/m.exec((await proc.fdinfo(scriptPid, fd)) ?? '');
    if (m) return `/dev/pts/${m[1]}`;
  }
  return undefined;
}

/** Arguments of the `stty` run that gives a terminal a size; sizes out of range are refused. */
export function sttyArgs(tty: string, size: TerminalSize): string[] | undefined {
  const ok = (n: number) => Number.isInteger(n) && n >= 0 && n <= 0xffff;
  if (!ok(size.width) || !ok(size.height)) return undefined;
  return ['-F', tty, 'rows', String(size.height), 'cols', String(size.width)];
}

/**
 * Gives the terminal of `script` (at `scriptPid`) a new size. The first size of a session may come
 * before script has opened the terminal: it waits for it while script runs (up to `waitMs`).
 * Resolves false when the size could not be set (script ended, or a size out of range).
 */
export async function resizeTerminal(scriptPid: number, size: TerminalSize, opts: { proc?: TerminalProc; waitMs?: number } = {}): Promise<boolean> {
  const proc = opts.proc ?? realTerminalProc;
  const until = Date.now() + (opts.waitMs ?? 10_000);
  for (;;) {
    const tty = await terminalOf(scriptPid, proc);
    if (tty !== undefined) {
      const args = sttyArgs(tty, size);
      if (!args) return false;
      return new Promise((resolve) => execFile(STTY, args, { timeout: 5000 }, (err) => resolve(!err)));
    }
    if (!proc.alive(scriptPid) || Date.now() > until) return false;
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * The program `script` runs: the child of the container's process that leads a session of its own
 * (script's child calls setsid; its pid is the session id). Found once script has forked it. The
 * container's process is not script yet while the pod's files are being mounted (`sh` runs `mount`
 * first, as a child that leads no session), so only a session leader will do. Signals for the
 * container go to its process group, and what is left of its session when the container ends is
 * killed by session id.
 */
export class TerminalProgram {
  readonly scriptPid: number;
  #pid: number | undefined;
  readonly found: Promise<number | undefined>;

  constructor(scriptPid: number, proc: TerminalProc = realTerminalProc, waitMs = 10_000) {
    this.scriptPid = scriptPid;
    this.found = (async () => {
      const until = Date.now() + waitMs;
      for (;;) {
        for (const child of await proc.children(scriptPid)) {
          if (await proc.sessionLeader(child)) return (this.#pid = child);
        }
        if (!proc.alive(scriptPid) || Date.now() > until) return undefined;
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
  }

  /** The program's pid (= its session id), once found. */
  get pid(): number | undefined {
    return this.#pid;
  }
}
