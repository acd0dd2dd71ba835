// Terminals for containers and exec sessions that ask for one (`tty: true`, `kubectl exec -t`),
// without a native pty library: util-linux `script` opens a pty, runs the command on its slave
// side as a session of its own, and relays between the pty's master side and its own stdin/stdout
// pipes, which podgate holds. Resizing sets the slave's window size from outside, as a terminal
// emulator does (TIOCSWINSZ, through `stty -F`), so the program gets SIGWINCH and reads the size.
import { execFile } from 'node:child_process';
import { readFile, readlink } from 'node:fs/promises';

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
 * so the words are quoted and `exec`ed (the shell does not stay between script and the program);
 * `-e` gives the program's exit status, `-f` flushes every write, `-q` keeps script's own banner
 * out, and the typescript goes to /dev/null. On SIGTERM script passes SIGTERM on to the program.
 */
export function onTerminal(argv: readonly string[]): string[] {
  return [SCRIPT, '-qfec', `exec ${argv.map(shellQuote).join(' ')}`, '/dev/null'];
}

/** What `terminalOf` reads from /proc (a seam for tests). */
export interface TerminalProc {
  children(pid: number): Promise<number[]>;
  stdinOf(pid: number): Promise<string | undefined>;
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
  async stdinOf(pid) {
    try {
      return await readlink(`/proc/${pid}/fd/0`);
    } catch {
      return undefined;
    }
  },
};

/**
 * The pty slave (`/dev/pts/N`) of the program `script` (at `scriptPid`) runs, or undefined while
 * script has not started it yet or after it ended.
 */
export async function terminalOf(scriptPid: number, proc: TerminalProc = realTerminalProc): Promise<string | undefined> {
  for (const child of await proc.children(scriptPid)) {
    const path = await proc.stdinOf(child);
    if (path !== undefined && /^\/dev\/pts\/\d+$/.test(path)) return path;
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
 * Gives the terminal of the program that `script` (at `scriptPid`) runs a new size. The first size
 * of a session may come before script has started the program, so the terminal is looked for a
 * few times. Resolves false when it could not be set (the program ended, or a size out of range).
 */
export async function resizeTerminal(scriptPid: number, size: TerminalSize, opts: { proc?: TerminalProc; attempts?: number } = {}): Promise<boolean> {
  const attempts = opts.attempts ?? 20;
  for (let i = 0; i < attempts; i++) {
    const tty = await terminalOf(scriptPid, opts.proc);
    if (tty !== undefined) {
      const args = sttyArgs(tty, size);
      if (!args) return false;
      return new Promise((resolve) => execFile(STTY, args, { timeout: 5000 }, (err) => resolve(!err)));
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  return false;
}
