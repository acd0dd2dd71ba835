// The ingress proxy's run-time flags, shared by `podgate up` and `podgate ingress`: worker
// threads (nginx's worker_processes auto, capped), the metrics port (ingress-nginx's 10254) and the access
// log (JSON lines, a file or standard output).
import { createWriteStream, type WriteStream } from 'node:fs';
import { availableParallelism } from 'node:os';
import type { AccessEntry } from '../ingress/index.ts';
import { accessLogLine } from '../ingress/metrics.ts';

export interface IngressRuntime {
  /** Proxy worker threads. */
  workers: number;
  /** 0: no metrics endpoint. */
  metricsPort: number;
  /** File for access log lines, '-' for standard output; absent: no access log. */
  accessLog?: string;
}

/** Each worker thread is a V8 isolate with the proxy loaded: about 40 MiB of RSS. */
const AUTO_MAX_WORKERS = 4;

/** `auto` (one per CPU as nginx's worker_processes auto, at most 4) or a positive integer. */
export function parseWorkers(v: string, flag: string): number {
  if (v === 'auto') return Math.min(availableParallelism(), AUTO_MAX_WORKERS);
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new Error(`${flag}: ${v} is neither "auto" nor a number of threads from 1 to 64`);
  return n;
}

export interface AccessLog {
  readonly onAccess: (e: AccessEntry) => void;
  close(): Promise<void>;
}

/** Appends one JSON line per request to `target` ('-': standard output). */
export function openAccessLog(target: string): AccessLog {
  const out: WriteStream | NodeJS.WriteStream = target === '-' ? process.stdout : createWriteStream(target, { flags: 'a' });
  return {
    onAccess: (e) => { out.write(accessLogLine(e, new Date()) + '\n'); },
    close: () => new Promise<void>((r) => (out === process.stdout ? r() : (out as WriteStream).end(() => r()))),
  };
}
