// Shared pieces of the benchmarks that run `podgate up` on a throwaway test LAN with an outside
// client host (test/e2e/lan-cluster.ts, as the end-to-end tests do): a fast HTTP backend pod
// (Debian's nginx answering a fixed body, no access log), wrk run inside a host's netns, and a
// wall clock that agrees between this process and the pollers it starts in other namespaces.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestLan } from '../test/lib/netns-hosts.ts';
import { type CommandResult, expectOk, type Podgate } from '../test/e2e/harness.ts';
import { type LanCluster, startLanCluster } from '../test/e2e/lan-cluster.ts';
import { findPodgatePid } from './node.bench.ts';
import { sleep } from './load.ts';

export interface LanBench extends LanCluster {
  /** podgate's own process (found in /proc by its --data-dir). */
  readonly pid: number;
}

/** `podgate up` on a LAN with hosts node and client; extraArgs may depend on the LAN (its subnet). Stops everything on failure. */
export async function startLanBench(extraArgs: (lan: TestLan) => string[]): Promise<LanBench> {
  const cluster = await startLanCluster({ hosts: ['client'], extraArgs });
  try {
    return { ...cluster, pid: findPodgatePid(cluster.pg.dataDir), stop: () => cluster.stop() };
  } catch (err) {
    await cluster.stop();
    throw err;
  }
}

/** Milliseconds since the epoch with sub-millisecond resolution; the same clock in every process on this machine. */
export function wallMs(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * A Pod running Debian's nginx (the `nginx` image's binary, started with `command` so the config is
 * ours): `workers` worker processes, access log off, every request answered `200 hello from nginx`
 * on `port`. The config lives in `confDir` (a bench temp dir: pods share the node's filesystem).
 */
export function fastBackendYaml(opts: { ns: string; name: string; labels: Record<string, string>; port: number; confDir: string; workers?: number }): string {
  const conf = join(opts.confDir, `${opts.name}.conf`);
  writeFileSync(conf, `worker_processes ${opts.workers ?? 2};
pid ${opts.confDir}/${opts.name}.pid;
error_log stderr error;
daemon off;
events { worker_connections 8192; }
http {
  access_log off;
  client_body_temp_path ${opts.confDir}/${opts.name}-body;
  proxy_temp_path ${opts.confDir}/${opts.name}-proxy;
  fastcgi_temp_path ${opts.confDir}/${opts.name}-fastcgi;
  uwsgi_temp_path ${opts.confDir}/${opts.name}-uwsgi;
  scgi_temp_path ${opts.confDir}/${opts.name}-scgi;
  server {
    listen ${opts.port} backlog=4096 reuseport;
    keepalive_requests 1000000;
    location / { return 200 "hello from nginx\\n"; }
  }
}
`);
  const labels = Object.entries(opts.labels).map(([k, v]) => `${k}: ${v}`).join(', ');
  return `apiVersion: v1
kind: Pod
metadata: { name: ${opts.name}, namespace: ${opts.ns}, labels: { ${labels} } }
spec:
  containers:
    - name: nginx
      image: nginx
      command: ["/usr/sbin/nginx", "-c", "${conf}"]
      ports: [{ containerPort: ${opts.port} }]
`;
}

/** Creates a namespace and waits for its default ServiceAccount (pods are refused before it exists). */
export async function createNamespace(pg: Podgate, ns: string): Promise<void> {
  expectOk(await pg.kubectl(['create', 'namespace', ns]), `create namespace ${ns}`);
  for (let i = 0; i < 100; i++) {
    if ((await pg.kubectl(['get', 'serviceaccount', 'default', '-n', ns])).code === 0) return;
    await sleep(100);
  }
}

/** Polls until every pod in the namespace is Ready (one list per poll), or throws after timeoutMs. */
export async function waitPodsReady(pg: Podgate, ns: string, count: number, timeoutMs = 60_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let last: CommandResult | undefined;
  while (performance.now() < deadline) {
    last = await pg.kubectl(['get', 'pods', '-n', ns, '-o', 'jsonpath={range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\\n"}{end}']);
    const lines = last.stdout.split('\n').filter(Boolean);
    if (lines.length === count && lines.every((l) => l === 'True')) return;
    await sleep(200);
  }
  const pods = await pg.kubectl(['get', 'pods', '-n', ns, '-o', 'wide']);
  throw new Error(`pods in ${ns} not Ready within ${timeoutMs} ms:\n${pods.stdout}${pods.stderr}`);
}

export interface WrkResult { rps: number; p50: number; p99: number; errors: number; requests: number }

function toMs(v: string, unit: string): number {
  const n = Number(v);
  return unit === 'us' ? n / 1000 : unit === 's' ? n * 1000 : n;
}

export function parseWrk(stdout: string): WrkResult {
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1] ?? NaN);
  const lat = (p: string) => { const m = new RegExp(`\\s${p}%\\s+([\\d.]+)(us|ms|s)\\b`).exec(stdout); return m ? toMs(m[1]!, m[2]!) : NaN; };
  const errs = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(stdout)?.[1] ?? 0);
  const requests = Number(/(\d+) requests in/.exec(stdout)?.[1] ?? NaN);
  return { rps, p50: lat('50'), p99: lat('99'), requests, errors: non2xx + (errs ? errs.slice(1).reduce((a, b) => a + Number(b), 0) : 0) };
}

/** wrk -t2 inside a LAN host's netns (`host` as TestLan.exec takes it). */
export async function wrkOn(lan: TestLan, host: string | { readonly netns: string }, url: string, opts: { connections: number; seconds: number; headers?: string[] }): Promise<WrkResult> {
  const args = ['wrk', '-t2', `-c${opts.connections}`, `-d${opts.seconds}s`, '--timeout', '2s', '--latency', ...(opts.headers ?? []).flatMap((h) => ['-H', h]), url];
  const r = await lan.exec(host, args, { timeoutMs: (opts.seconds + 20) * 1000, allowFailure: true });
  if (r.code !== 0) throw new Error(`wrk ${url} in ${typeof host === 'string' ? host : host.netns}: exit ${r.code}: ${r.stderr}${r.stdout}`);
  const res = parseWrk(r.stdout);
  if (!Number.isFinite(res.rps)) throw new Error(`wrk ${url}: no Requests/sec in output:\n${r.stdout}`);
  return res;
}
