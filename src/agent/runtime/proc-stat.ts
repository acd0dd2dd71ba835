// /proc/<pid>/stat, read just enough to tell a process podgate started from a later one that reused
// its pid: the start time (field 22, clock ticks since boot), the process group (field 5) and the
// session (field 6, which a terminal's program leads).

import { readFileSync, readdirSync } from 'node:fs';

export interface ProcStat {
  pid: number;
  pgrp: number;
  /** The session id (absent in fakes that do not need it). */
  session?: number;
  startTicks: number;
}

/** Parses the text of /proc/<pid>/stat; undefined when malformed. */
export function parseProcStat(text: string): ProcStat | undefined {
  // The command name (field 2) is in parentheses and may itself contain spaces and parentheses.
  const close = text.lastIndexOf(')');
  if (close < 0) return undefined;
  const pid = Number.parseInt(text, 10);
  const fields = text.slice(close + 2).trim().split(' ');
  const pgrp = Number(fields[2]);
  const session = Number(fields[3]);
  const startTicks = Number(fields[19]);
  if (!Number.isInteger(pid) || !Number.isInteger(pgrp) || !Number.isInteger(session) || !Number.isInteger(startTicks)) return undefined;
  return { pid, pgrp, session, startTicks };
}

/** The filesystem seam for /proc, replaceable in tests. */
export interface ProcFs {
  readStat(pid: number): ProcStat | undefined;
  listPids(): number[];
}

export const realProcFs: ProcFs = {
  readStat(pid) {
    try {
      return parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    } catch {
      return undefined;
    }
  },
  listPids() {
    return readdirSync('/proc').filter((n) => /^\d+$/.test(n)).map(Number);
  },
};
