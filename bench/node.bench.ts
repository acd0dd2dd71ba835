// The node agent (issue 4): `podgate up` inside a throwaway node host (test/lib/netns-hosts.ts, as
// the end-to-end tests run it), the real kubectl. Times `kubectl apply` of 100 podgate/echo pods
// (one YAML, no hostPort) until all are Ready, and until all answer HTTP on podIP:8080; podgate's
// resident memory idle, with the 100 pods and after deleting them; the pods' own memory, counted
// separately; then the time to delete them all (from the API, and until their processes and
// network namespaces are gone).
import { type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { netnsPrefix } from '../src/agent/network/index.ts';
import { expectOk, type Podgate, startPodgate } from '../test/e2e/harness.ts';
import { createLan, nodeBin, type TestLan, waitForOutput } from '../test/lib/netns-hosts.ts';
import type { BenchModule } from './bench-module.ts';
import { median, sleep } from './load.ts';
import { procMemory } from './processes.ts';
import { withRatios, type Row } from './report.ts';

const PODS = 100;
const NS = 'bench-node';
const READY_TARGET_S = 10;
const MiB = 1024 * 1024;
const CLK_TCK = 100;

/** A podgate node on its own test LAN, as the end-to-end tests start it. */
export interface BenchNode {
  readonly lan: TestLan;
  readonly pg: Podgate;
  readonly nodeName: string;
  readonly nodeIP: string;
  /** The podgate process itself (found in /proc by its --data-dir). */
  readonly pid: number;
  /** Stops podgate and removes the LAN with every pod netns and process in it; idempotent, never throws. */
  stop(): Promise<void>;
}

export async function startBenchNode(): Promise<BenchNode> {
  const lan = await createLan({ hosts: ['node'] });
  let pg: Podgate | undefined;
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    try { await pg?.stop(); } catch { /* the LAN's removal kills what is left */ }
    await lan.destroy();
  };
  try {
    const nodeName = `${lan.prefix}node`.toLowerCase();
    lan.trackNetnsPrefix(netnsPrefix(nodeName));
    const nodeIP = lan.host('node').ip;
    pg = await startPodgate({ verb: 'up', netns: lan.host('node').netns, nodeIP, nodeName,
      extraArgs: ['--ingress-http-port', '0', '--ingress-https-port', '0'] });
    const pid = findPodgatePid(pg.dataDir);
    return { lan, pg, nodeName, nodeIP, pid, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** The node process whose command line runs podgate with this --data-dir (bin/podgate execs node). */
export function findPodgatePid(dataDir: string): number {
  const found: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    let argv: string[];
    try { argv = readFileSync(`/proc/${e}/cmdline`, 'utf8').split('\0'); } catch { continue; }
    const i = argv.indexOf('--data-dir');
    if (i >= 0 && argv[i + 1] === dataDir && argv.some((a) => a.endsWith('/src/main.ts'))) found.push(Number(e));
  }
  if (found.length !== 1) throw new Error(`expected one podgate process with --data-dir ${dataDir}, found ${found.length}`);
  return found[0]!;
}

/** CPU seconds (user + system) a process has used so far. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / CLK_TCK;
}

/** Network namespaces (by inode) whose names start with `prefix`. */
function netnsInodes(prefix: string): Set<number> {
  const out = new Set<number>();
  let names: string[] = [];
  try { names = readdirSync('/run/netns'); } catch { /* none */ }
  for (const n of names) {
    if (!n.startsWith(prefix)) continue;
    try { out.add(statSync(`/run/netns/${n}`).ino); } catch { /* just removed */ }
  }
  return out;
}

/** Processes whose network namespace is one of these. */
function pidsInNetns(inodes: Set<number>): number[] {
  const pids: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const m = /^net:\[(\d+)\]$/.exec(readlinkSync(`/proc/${e}/ns/net`));
      if (m && inodes.has(Number(m[1]))) pids.push(Number(e));
    } catch { /* exited */ }
  }
  return pids;
}

function pss(pid: number): number {
  const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

function podsYaml(): string {
  const docs: string[] = [];
  for (let i = 0; i < PODS; i++) {
    docs.push(`apiVersion: v1
kind: Pod
metadata: { name: echo-${String(i).padStart(3, '0')}, namespace: ${NS}, labels: { app: bench-echo } }
spec:
  containers:
    - name: echo
      image: podgate/echo
      ports: [{ containerPort: 8080 }]
`);
  }
  return docs.join('---\n');
}

// Run in the node's netns: GETs http://IP:8080/ on every pod IP given, retrying failures every 50 ms, for up to 60 s.
const httpProbe = `
const http = require('http');
const ips = process.argv.slice(1);
const probe = (ip) => new Promise((res) => {
  const req = http.get({ host: ip, port: 8080, path: '/', timeout: 2000, agent: false }, (r) => { r.resume(); r.on('end', () => res(r.statusCode === 200)); });
  req.on('error', () => res(false));
  req.on('timeout', () => req.destroy());
});
(async () => {
  const deadline = Date.now() + 60000;
  let pending = ips;
  while (pending.length && Date.now() < deadline) {
    const ok = await Promise.all(pending.map(probe));
    pending = pending.filter((_, i) => !ok[i]);
    if (pending.length) await new Promise((r) => setTimeout(r, 50));
  }
  console.log(JSON.stringify({ failed: pending.length }));
})();
`;

/** Polls `check` every 100 ms until it returns true; returns false after timeoutMs. */
async function until(check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (await check()) return true;
    await sleep(100);
  }
  return false;
}

export const nodeBench: BenchModule = {
  name: 'node',
  description: `podgate node agent (bin/podgate up in a test netns, real kubectl): ${PODS} podgate/echo pods from one apply to Ready and back to nothing, and memory`,
  async run(ctx) {
    const { out } = ctx;
    const add = (row: Row) => out.rows.push(withRatios(row));
    out.peers['podgate-idle'] = 'the same podgate process, idle, before the pods were applied';
    out.peers['bare-node'] = 'a bare Node 24 process (`node -e`) with one listening http server, in the node netns: the floor of a Node process';
    out.notes.push(`Times run from just before \`kubectl apply -f -\` (one YAML with ${PODS} Pods) and include kubectl's own start-up (~0.1-0.2 s per invocation). ` +
      'podgate, kubectl, and the 100 pod processes share this machine\'s CPUs.');
    out.notes.push('podgate/echo has no readiness probe, so Ready means "process started", not "listening"; the "answer HTTP" row is measured after Ready by a ' +
      'client in the node netns (started after Ready; an upper bound including the client\'s start-up).');
    out.notes.push('Deletion uses `kubectl delete --wait=false` and polls `kubectl get pods` every 100 ms: kubectl\'s own wait (one GET/watch per pod) runs into ' +
      'kubectl\'s client-side rate limiter ("Waited … due to client-side throttling") and took ~19 s for 100 pods, which measures kubectl, not podgate.');
    out.notes.push('Pod RSS sums count pages shared between the pod processes (the node binary, shared libraries) once per process; PSS divides shared pages among them. ' +
      'Neither is included in podgate\'s own RSS.');

    ctx.log('starting podgate up in a test netns');
    const node = await startBenchNode();
    const { pg, pid, lan } = node;
    let bare: ChildProcess | undefined;
    try {
      const podPrefix = netnsPrefix(node.nodeName);
      expectOk(await pg.kubectl(['create', 'namespace', NS]), 'create namespace');
      await until(async () => (await pg.kubectl(['get', 'serviceaccount', 'default', '-n', NS])).code === 0, 5000);

      bare = lan.spawn('node', [nodeBin, '-e', "require('http').createServer((q, s) => s.end('ok')).listen(0, () => console.log('listening'))"]);
      await waitForOutput(bare, /listening/);

      await sleep(3000);
      const idle = procMemory(pid);
      const bareRss = procMemory(bare.pid!).rss;
      bare.kill('SIGKILL');
      ctx.log(`podgate pid ${pid}, idle RSS ${(idle.rss / MiB).toFixed(1)} MiB`);

      ctx.log(`applying ${PODS} pods`);
      const cpu0 = cpuSeconds(pid);
      const t0 = performance.now();
      expectOk(await pg.apply(podsYaml()), 'apply pods');
      const tApplied = performance.now();
      // One list per poll: `kubectl wait --all` does a request per pod and runs into kubectl's own
      // client-side rate limit, which would be measured instead of podgate.
      const allReady = async () => {
        const r = await pg.kubectl(['get', 'pods', '-n', NS, '-o', 'jsonpath={range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\\n"}{end}']);
        const lines = r.stdout.split('\n').filter(Boolean);
        return lines.length === PODS && lines.every((l) => l === 'True');
      };
      if (!(await until(allReady, 90_000))) throw new Error(`not all ${PODS} pods became Ready in 90 s`);
      const tReady = performance.now();
      const cpuReady = cpuSeconds(pid) - cpu0;
      add({ name: `kubectl apply of ${PODS} pods returns`, value: (tApplied - t0) / 1000, unit: 's', better: 'lower' });
      add({ name: `apply → all ${PODS} pods Ready`, value: (tReady - t0) / 1000, unit: 's', better: 'lower', target: READY_TARGET_S });
      add({ name: 'podgate CPU time, apply → all Ready', value: cpuReady, unit: 's', better: 'lower', note: 'user + system' });
      ctx.log(`all Ready in ${((tReady - t0) / 1000).toFixed(2)} s`);

      const ips = expectOk(await pg.kubectl(['get', 'pods', '-n', NS, '-o', 'jsonpath={.items[*].status.podIP}']), 'pod IPs').trim().split(/\s+/).filter(Boolean);
      if (ips.length !== PODS) throw new Error(`expected ${PODS} pod IPs, got ${ips.length}`);
      const probe = await pg.run([nodeBin, '-e', httpProbe, ...ips], { timeoutMs: 90_000 });
      const tAnswer = performance.now();
      const failed = (JSON.parse(expectOk(probe, 'HTTP probe')) as { failed: number }).failed;
      add({ name: `apply → all ${PODS} pods answer HTTP on podIP:8080`, value: (tAnswer - t0) / 1000, unit: 's', better: 'lower',
        ...(failed ? { note: `${failed} never answered` } : {}) });

      await sleep(2000);
      const busy = procMemory(pid);
      const podPids = pidsInNetns(netnsInodes(podPrefix));
      let podRss = 0;
      let podPss = 0;
      let podCpu = 0;
      const perPod: number[] = [];
      for (const p of podPids) {
        try {
          const r = procMemory(p).rss;
          podRss += r;
          perPod.push(r);
          podPss += pss(p);
          podCpu += cpuSeconds(p);
        } catch { /* exited meanwhile */ }
      }
      perPod.sort((a, b) => a - b);
      add({ name: 'podgate RSS, idle', value: idle.rss / MiB, unit: 'MiB', better: 'lower' });
      add({ name: `podgate RSS, ${PODS} pods running`, value: busy.rss / MiB, unit: 'MiB', better: 'lower', peer: idle.rss / MiB, peerName: 'podgate-idle' });
      add({ name: 'podgate peak RSS (VmHWM) so far', value: busy.hwm / MiB, unit: 'MiB', better: 'lower', peer: idle.rss / MiB, peerName: 'podgate-idle' });
      add({ name: `pod processes (${perPod.length}): RSS sum`, value: podRss / MiB, unit: 'MiB', better: 'lower', note: 'not podgate\'s; shared pages counted per process' });
      add({ name: `pod processes (${perPod.length}): PSS sum`, value: podPss / MiB, unit: 'MiB', better: 'lower', note: 'not podgate\'s; shared pages divided' });
      add({ name: `pod processes (${perPod.length}): CPU time sum so far`, value: podCpu, unit: 's', better: 'lower', note: 'mostly Node start-up of each pod' });
      add({ name: 'one pod process: RSS (median)', value: median(perPod) / MiB, unit: 'MiB', better: 'lower', peer: bareRss / MiB, peerName: 'bare-node' });

      ctx.log(`deleting ${PODS} pods`);
      const td = performance.now();
      expectOk(await pg.kubectl(['delete', 'pods', '--all', '-n', NS, '--wait=false'], { timeoutMs: 60_000 }), 'delete pods');
      const tDeleted = performance.now();
      const apiGone = await until(async () => expectOk(await pg.kubectl(['get', 'pods', '-n', NS, '-o', 'name']), 'get pods').trim() === '', 60_000);
      const tApiGone = performance.now();
      const procsGone = await until(() => { const ns = netnsInodes(podPrefix); return ns.size === 0 && pidsInNetns(ns).length === 0; }, 60_000);
      const tProcsGone = performance.now();
      const leftover = procsGone ? '' : `${netnsInodes(podPrefix).size} pod netns left after 60 s`;
      add({ name: `kubectl delete pods --all --wait=false returns`, value: (tDeleted - td) / 1000, unit: 's', better: 'lower' });
      add({ name: `delete → all ${PODS} pods gone from the API`, value: (tApiGone - td) / 1000, unit: 's', better: 'lower', ...(apiGone ? {} : { note: 'some still listed after 60 s' }) });
      add({ name: 'delete → all pod processes and netns gone', value: (tProcsGone - td) / 1000, unit: 's', better: 'lower', ...(leftover ? { note: leftover } : {}) });

      await sleep(2000);
      add({ name: 'podgate RSS after deleting the pods', value: procMemory(pid).rss / MiB, unit: 'MiB', better: 'lower', peer: idle.rss / MiB, peerName: 'podgate-idle' });
      expectOk(await pg.kubectl(['delete', 'namespace', NS, '--timeout=60s'], { timeoutMs: 70_000 }), 'delete namespace');
    } finally {
      if (bare && bare.exitCode === null && bare.signalCode === null) bare.kill('SIGKILL');
      await node.stop();
    }
  },
};
