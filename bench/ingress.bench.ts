// The Ingress proxy against nginx from Debian, side by side in one run: the same route
// (Host foo.example.com, / → one backend), the same backend (a separate single-worker nginx
// answering a fixed 19-byte body), the same load generator (wrk, 64 connections). podgate's
// proxy runs as it does in `podgate up`: ProxyWorkers with as many worker threads as nginx has
// worker processes, started from this process, which sits idle in a child-process wait while wrk runs.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ProxyWorkers } from '../src/ingress/proxy-workers.ts';
import { generateDefaultCertificate } from '../src/ingress/tls-store.ts';
import { translate } from '../src/ingress/translate.ts';
import { makeIngress, makeService, makeSlice, makeTlsSecret, path, rule } from '../src/ingress/test-builders.ts';
import type { BenchModule, BenchOutput } from './bench-module.ts';
import { makeTempDir, removeTempDir } from './processes.ts';
import { withRatios, type Row } from './report.ts';

const run = promisify(execFile);
const CONNECTIONS = 64;
const DURATION_S = 5;
const HOST = 'foo.example.com';
const WORKERS = 2;
const ROUNDS = 5;
/** Routes added for the memory rows. */
const ROUTES = 1000;
const MiB = 1024 * 1024;

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const p = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return p;
}

interface WrkResult { rps: number; p50: number; p99: number; errors: number; requests: number; cpuUs: number; userUs: number; sysUs: number }
/** CPU time so far in µs, user and system apart. */
interface Cpu { user: number; sys: number }

const TICK_US = 1e6 / 100; // USER_HZ, as /proc reports it on Linux

/** CPU time (user, system) of these processes so far, in µs, from /proc. */
function cpuOf(pids: readonly number[]): Cpu {
  let user = 0, sys = 0;
  for (const pid of pids) {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    user += Number(f[11]);
    sys += Number(f[12]);
  }
  return { user: user * TICK_US, sys: sys * TICK_US };
}

/** The worker processes of an nginx master (its children). */
function childrenOf(ppid: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try { if (readFileSync(`/proc/${d}/stat`, 'utf8').split(') ')[1]!.split(' ')[1] === String(ppid)) out.push(Number(d)); } catch { /* gone */ }
  }
  return out;
}

/** Proportional set size of these processes (shared pages split among their users), in bytes. */
function pssOf(pids: readonly number[]): number {
  let kib = 0;
  for (const pid of pids) kib += Number(/^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? NaN);
  return kib * 1024;
}

/** An nginx master and its workers. */
const nginxPids = (p: ChildProcess): number[] => [p.pid!, ...childrenOf(p.pid!)];

/** Status code of GET http://127.0.0.1:port/ with this Host. */
function statusOf(port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    // Written, not ended: nginx takes a FIN before its answer for a client gone (499, nothing sent).
    const s = net.connect(port, '127.0.0.1', () => s.write(`GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`));
    let got = '';
    s.on('data', (c) => { got += c.toString('latin1'); });
    s.on('error', reject);
    s.on('close', () => resolve(Number(/^HTTP\/1\.1 (\d+)/.exec(got)?.[1] ?? NaN)));
  });
}

const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]!; };

function ms(v: string, unit: string): number {
  const n = Number(v);
  return unit === 'us' ? n / 1000 : unit === 's' ? n * 1000 : n;
}

/** One wrk run; `cpu` reads the proxy's CPU time, taken before and after to give its CPU per request. */
async function wrk(url: string, extraHeaders: string[], cpu: () => Cpu): Promise<WrkResult> {
  const args = ['-t2', `-c${CONNECTIONS}`, `-d${DURATION_S}s`, '--latency', '-H', `Host: ${HOST}`, ...extraHeaders.flatMap((h) => ['-H', h]), url];
  const cpu0 = cpu();
  const { stdout } = await run('wrk', args, { maxBuffer: 1 << 20 });
  const cpu1 = cpu();
  const user = cpu1.user - cpu0.user, sys = cpu1.sys - cpu0.sys;
  const requests = Number(/(\d+) requests in/.exec(stdout)?.[1] ?? NaN);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1] ?? NaN);
  const lat = (p: string) => { const m = new RegExp(`\\s${p}%\\s+([\\d.]+)(us|ms|s)`).exec(stdout); return m ? ms(m[1]!, m[2]!) : NaN; };
  const errs = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(stdout)?.[1] ?? 0);
  return { rps, p50: lat('50'), p99: lat('99'), errors: non2xx + (errs ? errs.slice(1).reduce((a, b) => a + Number(b), 0) : 0), requests, cpuUs: (user + sys) / requests, userUs: user / requests, sysUs: sys / requests };
}

function startNginx(dir: string, name: string, conf: string): Promise<ChildProcess> {
  const file = join(dir, `${name}.conf`);
  writeFileSync(file, conf);
  const p = spawn('nginx', ['-c', file, '-p', dir, '-e', join(dir, `${name}-error.log`)], { stdio: 'ignore' });
  return new Promise((resolve, reject) => {
    p.once('error', reject);
    setTimeout(() => (p.exitCode === null ? resolve(p) : reject(new Error(`nginx ${name} exited with ${p.exitCode}`))), 300);
  });
}

async function stop(p: ChildProcess | undefined): Promise<void> {
  if (!p || p.exitCode !== null || p.signalCode !== null) return;
  const done = new Promise<void>((r) => p.once('exit', () => r()));
  p.kill('SIGQUIT');
  const t = setTimeout(() => p.kill('SIGKILL'), 5000);
  await done;
  clearTimeout(t);
}

/** The proxied location, with the same headers podgate sets. */
const NGINX_LOCATION = `location / { proxy_pass http://be; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header Host $host;
              proxy_set_header X-Request-ID $request_id; proxy_set_header X-Real-IP $remote_addr; proxy_set_header X-Forwarded-For $remote_addr;
              proxy_set_header X-Forwarded-Host $host; proxy_set_header X-Forwarded-Port $server_port; proxy_set_header X-Forwarded-Proto $scheme;
              proxy_set_header X-Forwarded-Scheme $scheme; proxy_set_header X-Scheme $scheme; }`;
const NGINX_COMMON = 'daemon off; master_process on; events { worker_connections 8192; }';

/** nginx as the proxy: the bench's host on both ports, plus `extra` hosts (plain HTTP) for the memory rows. */
function nginxProxyConf(dir: string, name: string, backendPort: number, httpPort: number, httpsPort: number, extra: readonly string[]): string {
  return `worker_processes ${WORKERS}; pid ${dir}/${name}.pid; ${NGINX_COMMON}
        http { access_log off; server_names_hash_max_size 8192; server_names_hash_bucket_size 128; upstream be { server 127.0.0.1:${backendPort}; keepalive 320; keepalive_requests 1000000; }
          server { listen 127.0.0.1:${httpPort} backlog=4096; listen 127.0.0.1:${httpsPort} ssl http2 backlog=4096; server_name ${HOST};
            ssl_certificate ${dir}/tls.crt; ssl_certificate_key ${dir}/tls.key; ssl_protocols TLSv1.2 TLSv1.3; keepalive_requests 1000000;
            ${NGINX_LOCATION} }
          ${extra.map((h) => `server { listen 127.0.0.1:${httpPort}; server_name ${h}; keepalive_requests 1000000; ${NGINX_LOCATION} }`).join('\n          ')} }`;
}

/** podgate's route table for the same: the bench's Ingress (with TLS) plus one Ingress per `extra` host. */
function podgateRoutes(backendPort: number, cert: { certPem: string; keyPem: string }, extra: readonly string[]) {
  const benchIngress = makeIngress('default', 'bench', (i) => {
    i.metadata!.annotations = { 'nginx.ingress.kubernetes.io/ssl-redirect': 'false' };
    i.spec!.tls = [{ hosts: [HOST], secretName: 'bench-tls' }];
    i.spec!.rules = [rule(HOST, path('/', 'backend', 80))];
  });
  return translate({
    ingresses: [benchIngress, ...extra.map((h, n) => makeIngress('default', `route-${n}`, (i) => { i.spec!.rules = [rule(h, path('/', 'backend', 80))]; }))],
    ingressClasses: [], services: [makeService('default', 'backend')],
    endpointSlices: [makeSlice('default', 'backend', ['127.0.0.1'], [{ port: backendPort }])],
    secrets: [makeTlsSecret('default', 'bench-tls', cert.certPem, cert.keyPem)],
  });
}

interface Side { url: string; cpu: () => Cpu }

/**
 * One scenario: a warm-up, then ROUNDS rounds in alternating order, medians reported. This
 * machine's speed drifts by ±20% within a minute, so single runs (and the best of a few) say
 * little; each round's podgate run sits next to its nginx run, and the median of those pairs'
 * ratios is given too.
 */
async function compareScenario(out: BenchOutput, label: string, ours: Side, theirs: Side, headers: string[]): Promise<void> {
  await wrk(ours.url, headers, ours.cpu); // warm-up (JIT, pools)
  const mine: WrkResult[] = [];
  const peer: WrkResult[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    if (round % 2 === 0) { mine.push(await wrk(ours.url, headers, ours.cpu)); peer.push(await wrk(theirs.url, headers, theirs.cpu)); }
    else { peer.push(await wrk(theirs.url, headers, theirs.cpu)); mine.push(await wrk(ours.url, headers, ours.cpu)); }
  }
  const med = (rs: WrkResult[], k: 'rps' | 'p50' | 'p99' | 'cpuUs' | 'userUs' | 'sysUs') => median(rs.map((r) => r[k]));
  const pairs = (k: 'rps' | 'p99') => median(mine.map((r, i) => r[k] / peer[i]![k])).toFixed(2);
  const rounds = `rounds: podgate ${mine.map((r) => Math.round(r.rps)).join(', ')}; nginx ${peer.map((r) => Math.round(r.rps)).join(', ')}; median podgate/nginx of the back-to-back pairs ${pairs('rps')}`;
  const errors = mine.reduce((n, r) => n + r.errors, 0);
  const add = (row: Row) => out.rows.push(withRatios(row));
  add({ name: `${label}: requests/s`, value: med(mine, 'rps'), unit: 'req/s', better: 'higher', peer: med(peer, 'rps'), peerName: 'nginx', note: [rounds, errors ? `${errors} errors` : ''].filter(Boolean).join('; ') });
  add({ name: `${label}: latency p50`, value: med(mine, 'p50'), unit: 'ms', better: 'lower', peer: med(peer, 'p50'), peerName: 'nginx' });
  add({ name: `${label}: latency p99`, value: med(mine, 'p99'), unit: 'ms', better: 'lower', peer: med(peer, 'p99'), peerName: 'nginx',
    note: `rounds: podgate ${mine.map((r) => r.p99.toFixed(2)).join(', ')}; nginx ${peer.map((r) => r.p99.toFixed(2)).join(', ')}; median podgate/nginx of the pairs ${pairs('p99')}` });
  add({ name: `${label}: proxy CPU per request`, value: med(mine, 'cpuUs'), unit: 'µs', better: 'lower', peer: med(peer, 'cpuUs'), peerName: 'nginx',
    note: `median of the rounds: podgate ${mine.map((r) => r.cpuUs.toFixed(1)).join(', ')}; nginx ${peer.map((r) => r.cpuUs.toFixed(1)).join(', ')}; ` +
      `user + system (medians): podgate ${med(mine, 'userUs').toFixed(1)} + ${med(mine, 'sysUs').toFixed(1)}, nginx ${med(peer, 'userUs').toFixed(1)} + ${med(peer, 'sysUs').toFixed(1)} µs` });
}

/**
 * Memory for many routes, side by side: podgate's proxy (this process: its threads are all it
 * runs) before and after a table with ROUTES more Ingresses, one host each; nginx with the same
 * server blocks (a second one, from `startMany`), next to the one running (`nginx`). PSS, so pages
 * nginx's workers share with their master count once. Both answer the last host before they are measured.
 */
async function compareMemory(out: BenchOutput, proxy: ProxyWorkers, setRoutes: (hosts: readonly string[]) => Promise<void>,
  nginx: ChildProcess, startMany: (hosts: readonly string[]) => Promise<{ nginx: ChildProcess; httpPort: number }>): Promise<void> {
  const hosts = Array.from({ length: ROUTES }, (_, i) => `h${i}.example.com`);
  const last = hosts[ROUTES - 1]!;
  const quiet = () => new Promise((r) => setTimeout(r, 3000));
  await quiet();
  const ours0 = pssOf([process.pid]);
  await setRoutes(hosts);
  const ourStatus = await statusOf(proxy.httpPort!, last);
  await quiet();
  const ours1 = pssOf([process.pid]);
  const theirs0 = pssOf(nginxPids(nginx));
  const many = await startMany(hosts);
  const theirStatus = await statusOf(many.httpPort, last);
  await quiet();
  const theirs1 = pssOf(nginxPids(many.nginx));
  if (ourStatus !== 200 || theirStatus !== 200) throw new Error(`the last of ${ROUTES} hosts answered ${ourStatus} (podgate) and ${theirStatus} (nginx), not 200`);
  const add = (row: Row) => out.rows.push(withRatios(row));
  add({ name: 'proxy memory (PSS) with 1 route', value: ours0 / MiB, unit: 'MiB', better: 'lower', peer: theirs0 / MiB, peerName: 'nginx',
    note: `podgate: this process after the runs above, that is its ${WORKERS} proxy threads and the main thread (here the bench's own), each with a V8 heap of its own; nginx: master and ${WORKERS} workers` });
  add({ name: `proxy memory (PSS) with ${ROUTES.toLocaleString('en-US')} more routes`, value: ours1 / MiB, unit: 'MiB', better: 'lower', peer: theirs1 / MiB, peerName: 'nginx',
    note: `podgate: the same process after a table with ${ROUTES} more Ingresses (one host, / → the backend, each); nginx: a second one started with ${ROUTES} more server blocks` });
  add({ name: 'proxy memory per route', value: (ours1 - ours0) / ROUTES / 1024, unit: 'KiB', better: 'lower', peer: (theirs1 - theirs0) / ROUTES / 1024, peerName: 'nginx' });
}

export const ingressBench: BenchModule = {
  name: 'ingress',
  description: 'podgate Ingress proxy vs nginx (Debian) proxying the same route to the same backend, wrk with 64 connections',
  async run(ctx) {
    const { out } = ctx;
    await run('wrk', ['--version']).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') throw new Error('wrk is not installed (apt-get install -y wrk)');
    });
    out.peers.nginx = `nginx from Debian, ${WORKERS} worker processes, upstream keepalive 320, the same proxy_set_header set podgate sends; backend: a separate 1-worker nginx answering "return 200" (19 bytes); wrk -t2 -c${CONNECTIONS} -d${DURATION_S}s on 127.0.0.1, ${ROUNDS} rounds in alternating order (each podgate run next to an nginx run), the median of each side reported`;
    out.notes.push(`podgate's proxy runs ${WORKERS} worker threads (--ingress-workers), nginx ${WORKERS} worker processes. Load generator, backend and both proxies share this machine's CPUs, so figures include contention; compare ratios, not absolutes.`);
    out.notes.push('Proxy CPU per request: user + system time of the proxy (podgate: this process, whose proxy threads are all it runs meanwhile; nginx: its worker processes) over the requests of each run, median of the rounds.');
    const dir = makeTempDir('podgate-ingress-bench-');
    const cert = await generateDefaultCertificate();
    writeFileSync(join(dir, 'tls.crt'), cert.certPem);
    writeFileSync(join(dir, 'tls.key'), cert.keyPem);
    const [backendPort, nginxHttp, nginxHttps] = [await freePort(), await freePort(), await freePort()];
    let backend: ChildProcess | undefined;
    let nginx: ChildProcess | undefined;
    let proxy: ProxyWorkers | undefined;
    let nginxMany: ChildProcess | undefined;
    try {
      backend = await startNginx(dir, 'backend', `worker_processes 1; pid ${dir}/backend.pid; ${NGINX_COMMON}
        http { access_log off; server { listen 127.0.0.1:${backendPort} backlog=4096; keepalive_requests 1000000; location / { return 200 "hello from backend\\n"; } } }`);
      nginx = await startNginx(dir, 'proxy', nginxProxyConf(dir, 'proxy', backendPort, nginxHttp, nginxHttps, []));
      proxy = new ProxyWorkers({ workers: WORKERS, httpPort: 0, httpsPort: 0, bindAddress: '127.0.0.1', defaultCertificate: cert });
      await proxy.start();
      await proxy.setRoutes(podgateRoutes(backendPort, cert, []));
      // CPU per request: podgate's proxy threads live in this process (idle otherwise while wrk
      // runs); nginx's in its worker processes. Less at the mercy of this machine's scheduling than
      // requests per second, since wrk and the backend share the same CPUs.
      const ownCpu = (): Cpu => { const u = process.cpuUsage(); return { user: u.user, sys: u.system }; };
      const nginxWorkers = childrenOf(nginx.pid!);
      const nginxCpu = () => cpuOf(nginxWorkers);
      const scenarios: [string, string, string, string[]][] = [
        ['HTTP keep-alive', `http://127.0.0.1:${proxy.httpPort}/`, `http://127.0.0.1:${nginxHttp}/`, []],
        ['HTTP without keep-alive', `http://127.0.0.1:${proxy.httpPort}/`, `http://127.0.0.1:${nginxHttp}/`, ['Connection: close']],
        ['HTTPS keep-alive (HTTP/1.1)', `https://127.0.0.1:${proxy.httpsPort}/`, `https://127.0.0.1:${nginxHttps}/`, []],
      ];
      for (const [label, ours, theirs, headers] of scenarios) {
        ctx.log(label);
        await compareScenario(out, label, { url: ours, cpu: ownCpu }, { url: theirs, cpu: nginxCpu }, headers);
      }
      ctx.log(`memory with ${ROUTES} more routes`);
      const p = proxy;
      await compareMemory(out, p, (hosts) => p.setRoutes(podgateRoutes(backendPort, cert, hosts)), nginx, async (hosts) => {
        const [httpPort, httpsPort] = [await freePort(), await freePort()];
        nginxMany = await startNginx(dir, 'proxy-many', nginxProxyConf(dir, 'proxy-many', backendPort, httpPort, httpsPort, hosts));
        return { nginx: nginxMany, httpPort };
      });
    } finally {
      await proxy?.stop();
      await stop(nginxMany);
      await stop(nginx);
      await stop(backend);
      removeTempDir(dir);
    }
  },
};
