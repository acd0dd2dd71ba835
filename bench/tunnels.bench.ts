// kubectl port-forward through podgate (issue 8) next to its ideal, a direct TCP connection to the
// pod, in one run: `podgate up` in a throwaway node host (test/lib/netns-hosts.ts), one
// podgate/tcp-echo pod, and the same client (a Node script run in the node netns) against
// (a) podIP:9000 directly, (b) kubectl port-forward over WebSocket (kubectl 1.32's default) and
// (c) kubectl port-forward over SPDY (KUBECTL_PORT_FORWARD_WEBSOCKETS=false). The client measures
// connection setup (connect + first 1-byte echo, 100 fresh connections), round-trip latency (2,000
// 1-byte echoes on one connection) and throughput (up to 200 MB echoed over one connection).
import type { ChildProcess } from 'node:child_process';
import { expectOk } from '../test/e2e/harness.ts';
import { nodeBin } from '../test/lib/netns-hosts.ts';
import type { BenchModule } from './bench-module.ts';
import { cpuSeconds, startBenchNode } from './node.bench.ts';
import { withRatios, type Row } from './report.ts';

const NS = 'bench-tunnels';
const MB = 200;
const BUDGET_S = 15;
const RTTS = 2000;
const CONNS = 100;
const PORTS = { websocket: 19100, spdy: 19101 };

const podYaml = `apiVersion: v1
kind: Pod
metadata: { name: tcp, namespace: ${NS} }
spec:
  containers:
    - name: tcp
      image: podgate/tcp-echo
      ports: [{ containerPort: 9000 }]
`;

// Run in the node's netns: args HOST PORT MB BUDGET_S RTTS CONNS; prints one JSON line. A step that
// gets no answer within STALL_MS is recorded (stalled/failed) and the client moves on to the next phase.
const client = `
const net = require('net');
const [host, port, mb, budgetS, nRtt, nConn] = process.argv.slice(1).map((a, i) => (i === 0 ? a : Number(a)));
const STALL_MS = 5000;
const PHASE_MS = 12000; // setup and round-trip phases stop early after this long

const now = () => Number(process.hrtime.bigint()) / 1e6;
const pct = (a, p) => { const s = [...a].sort((x, y) => x - y); return s.length ? s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] : null; };
const connect = () => new Promise((res, rej) => { const s = net.connect(port, host); s.setNoDelay(true); s.once('connect', () => res(s)); s.once('error', rej); });
const within = (p) => new Promise((res, rej) => { const t = setTimeout(() => res('stall'), STALL_MS); p.then((v) => { clearTimeout(t); res(v); }, (e) => { clearTimeout(t); rej(e); }); });

async function setup(n) {
  const ms = [];
  let failed = 0, firstError;
  const start = now();
  for (let i = 0; i < n + 5 && now() - start < PHASE_MS; i++) {
    const t = now();
    const s = net.connect(port, host);
    s.setNoDelay(true);
    try {
      const r = await within(new Promise((res, rej) => { s.once('connect', () => s.write('x')); s.once('data', res); s.once('error', rej); }));
      if (r === 'stall') throw new Error('no echo within ' + STALL_MS + ' ms');
      if (i >= 5) ms.push(now() - t);
    } catch (e) { failed++; firstError = firstError || String(e.message || e); }
    s.destroy();
  }
  return { p50: pct(ms, 50), p99: pct(ms, 99), count: ms.length, failed, firstError };
}

async function rtt(n) {
  const s = await connect();
  let wake;
  s.on('data', () => { const w = wake; wake = undefined; if (w) w(); });
  s.on('error', () => {});
  const us = [];
  const t0 = now();
  let stalledAfter, stalledAtMs;
  for (let i = 0; i < n + 100 && now() - t0 < PHASE_MS; i++) {
    const t = now();
    const r = await within(new Promise((res) => { wake = res; s.write('x'); }));
    if (r === 'stall') { stalledAfter = i; stalledAtMs = t - t0; break; }
    if (i >= 100) us.push((now() - t) * 1000);
  }
  s.destroy();
  return { p50: pct(us, 50), p99: pct(us, 99), count: us.length, stalledAfter, stalledAtMs };
}

async function throughput(bytes, budgetMs) {
  const s = await connect();
  const chunk = Buffer.alloc(256 * 1024, 0x78);
  return new Promise((res, rej) => {
    let written = 0, received = 0, stopped = false, done = false, last = now();
    const t0 = now();
    const end = (stalled) => { if (done) return; done = true; clearInterval(watch); s.destroy(); res({ bytes: received, ms: (stalled ? last : now()) - t0, written, stalled }); };
    const finish = () => { if (!done && stopped && received >= written) end(false); };
    const watch = setInterval(() => { if (now() - last > STALL_MS) end(true); }, 500);
    s.on('error', (e) => { if (!done) { done = true; clearInterval(watch); rej(e); } });
    s.on('data', (d) => { received += d.length; last = now(); finish(); });
    const pump = () => {
      for (;;) {
        if (done) return;
        if (written >= bytes || now() - t0 > budgetMs) { stopped = true; finish(); return; }
        written += chunk.length;
        if (!s.write(chunk)) { s.once('drain', pump); return; }
      }
    };
    pump();
  });
}

(async () => {
  const conn = await setup(nConn);
  const lat = await rtt(nRtt);
  await throughput(16 * 1e6, 3000); // warm-up
  const tp = await throughput(mb * 1e6, budgetS * 1000);
  console.log(JSON.stringify({ conn, lat, tp }));
})().catch((e) => { console.error(e && e.stack || String(e)); process.exit(1); });
`;

interface ClientResult {
  conn: { p50: number | null; p99: number | null; count: number; failed: number; firstError?: string };
  lat: { p50: number | null; p99: number | null; count: number; stalledAfter?: number; stalledAtMs?: number };
  tp: { bytes: number; ms: number; written: number; stalled: boolean };
}

/** Waits until the child prints `pattern` on stdout or stderr. */
function waitFor(child: ChildProcess, pattern: RegExp, timeoutMs = 15_000): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = '';
    const done = (err?: Error) => {
      clearTimeout(t);
      child.stdout?.off('data', on);
      child.stderr?.off('data', on);
      child.off('exit', onExit);
      if (err) reject(err); else resolve();
    };
    const on = (d: Buffer) => { out += d.toString(); if (pattern.test(out)) done(); };
    const onExit = () => done(new Error(`exited before ${pattern}: ${out}`));
    const t = setTimeout(() => done(new Error(`timed out waiting for ${pattern}; got: ${out}`)), timeoutMs);
    child.stdout?.on('data', on);
    child.stderr?.on('data', on);
    child.once('exit', onExit);
  });
}

export const tunnelsBench: BenchModule = {
  name: 'tunnels',
  description: 'kubectl port-forward through podgate (WebSocket and SPDY) vs a direct TCP connection to the pod, podgate/tcp-echo, client in the node netns',
  async run(ctx) {
    const { out } = ctx;
    const add = (row: Row) => out.rows.push(withRatios(row));
    out.peers.direct = 'the same client connecting straight to podIP:9000 from the node netns (veth + bridge, no podgate in the path): the ideal';
    out.notes.push(`Client: one Node 24 script in the node netns. Setup = connect + first 1-byte echo (p50/p99 of ${CONNS} fresh connections, after 5 warm-up); ` +
      `round trip = 1-byte write → 1-byte echo on one connection (${RTTS}, after 100 warm-up); throughput = up to ${MB} MB written over one connection ` +
      `and echoed back by podgate/tcp-echo (so every byte crosses the path twice; MB/s is bytes echoed ÷ time, 1 MB = 10^6 B), after a 16 MB (≤ 3 s) warm-up, ` +
      `stopping writes after ${BUDGET_S} s; the setup and round-trip phases stop early after 12 s each.`);
    out.notes.push('Port-forward path: client → kubectl (127.0.0.1 in the node netns) → podgate API server over TLS → podgate → pod; client, kubectl, podgate and the pod share this machine\'s CPUs.');

    ctx.log('starting podgate up in a test netns');
    const node = await startBenchNode();
    const { pg, pid } = node;
    const children: ChildProcess[] = [];
    try {
      expectOk(await pg.kubectl(['create', 'namespace', NS]), 'create namespace');
      for (let i = 0; i < 50; i++) {
        const r = await pg.apply(podYaml);
        if (r.code === 0) break;
        if (i === 49 || !/serviceaccount/i.test(r.stderr)) expectOk(r, 'apply pod');
        await new Promise((res) => setTimeout(res, 100));
      }
      expectOk(await pg.kubectl(['wait', '--for=condition=Ready', 'pod/tcp', '-n', NS, '--timeout=60s'], { timeoutMs: 70_000 }), 'wait Ready');
      const podIP = expectOk(await pg.kubectl(['get', 'pod', 'tcp', '-n', NS, '-o', 'jsonpath={.status.podIP}']), 'pod IP').trim();

      const results: Record<string, ClientResult> = {};
      const cpu: string[] = [];
      const measure = async (label: string, host: string, port: number, kubectlPid?: number) => {
        ctx.log(`${label}: ${host}:${port}`);
        const pg0 = cpuSeconds(pid);
        const k0 = kubectlPid ? cpuSeconds(kubectlPid) : 0;
        let r = await pg.run([nodeBin, '-e', client, host, String(port), String(MB), String(BUDGET_S), String(RTTS), String(CONNS)], { timeoutMs: 110_000 });
        // A pod without a readiness probe is Ready before it listens: retry the direct path briefly.
        for (let i = 0; r.code !== 0 && /ECONNREFUSED/.test(r.stderr) && i < 20; i++) {
          await new Promise((res) => setTimeout(res, 200));
          r = await pg.run([nodeBin, '-e', client, host, String(port), String(MB), String(BUDGET_S), String(RTTS), String(CONNS)], { timeoutMs: 110_000 });
        }
        const res = JSON.parse(expectOk(r, `${label} client`)) as ClientResult;
        results[label] = res;
        cpu.push(`${label}: podgate ${(cpuSeconds(pid) - pg0).toFixed(1)} s${kubectlPid ? `, kubectl ${(cpuSeconds(kubectlPid) - k0).toFixed(1)} s` : ''}`);
        ctx.log(`${label}: ${JSON.stringify(res)}`);
      };

      await measure('direct', podIP, 9000);
      for (const [label, port, wrap] of [
        ['websocket', PORTS.websocket, undefined],
        ['spdy', PORTS.spdy, (argv: string[]) => ['env', 'KUBECTL_PORT_FORWARD_WEBSOCKETS=false', ...argv]],
      ] as const) {
        const pf = pg.spawnKubectl(['port-forward', '-n', NS, 'pod/tcp', `${port}:9000`], wrap ? { wrap } : {});
        children.push(pf);
        await waitFor(pf, /Forwarding from 127\.0\.0\.1/);
        await measure(label, '127.0.0.1', port, pf.pid);
        pf.kill('SIGTERM');
      }

      const d = results.direct!;
      const num = (v: number | null | undefined) => (v === null || v === undefined ? NaN : v);
      const mbps = (r: ClientResult) => r.tp.bytes / 1e6 / (r.tp.ms / 1000);
      const tpNote = (r: ClientResult) => (r.tp.stalled
        ? { note: `STALLED: no echo for 5 s after ${(r.tp.bytes / 1e6).toFixed(1)} of ${(r.tp.written / 1e6).toFixed(1)} MB written; rate up to the stall` }
        : r.tp.bytes < MB * 1e6 ? { note: `${(r.tp.bytes / 1e6).toFixed(0)} MB in the ${BUDGET_S} s budget` } : {});
      const latNote = (r: ClientResult) => (r.lat.stalledAfter !== undefined
        ? { note: `STALLED: a 1-byte echo never came back (5 s) after ${r.lat.stalledAfter} round trips, ${(num(r.lat.stalledAtMs) / 1000).toFixed(1)} s in; percentiles of the ${r.lat.count} before it` }
        : r.lat.count < RTTS ? { note: `only ${r.lat.count} of ${RTTS} round trips in the 12 s phase limit` } : {});
      const connNote = (r: ClientResult) => (r.conn.failed ? { note: `${r.conn.failed} failed: ${r.conn.firstError ?? ''}` }
        : r.conn.count < CONNS ? { note: `only ${r.conn.count} of ${CONNS} connections in the 12 s phase limit` } : {});
      const paths = [['direct', 'direct TCP'], ['websocket', 'port-forward (WebSocket)'], ['spdy', 'port-forward (SPDY)']] as const;
      const vs = (label: string, v: number) => (label === 'direct' || !Number.isFinite(v) ? {} : { peer: v, peerName: 'direct' });
      for (const [label, name] of paths) {
        const r = results[label]!;
        add({ name: `${name}: throughput, one connection (echo)`, value: mbps(r), unit: 'MB/s', better: 'higher', ...vs(label, mbps(d)), ...tpNote(r) });
      }
      for (const [label, name] of paths) {
        const r = results[label]!;
        add({ name: `${name}: round trip p50`, value: num(r.lat.p50), unit: 'µs', better: 'lower', ...vs(label, num(d.lat.p50)), ...latNote(r) });
        add({ name: `${name}: round trip p99`, value: num(r.lat.p99), unit: 'µs', better: 'lower', ...vs(label, num(d.lat.p99)) });
      }
      for (const [label, name] of paths) {
        if (label === 'direct') continue;
        const r = results[label]!;
        add({ name: `${name}: added round trip p50 (− direct)`, value: num(r.lat.p50) - num(d.lat.p50), unit: 'µs', better: 'lower' });
      }
      for (const [label, name] of paths) {
        const r = results[label]!;
        add({ name: `${name}: new connection + first echo p50`, value: num(r.conn.p50), unit: 'ms', better: 'lower', ...vs(label, num(d.conn.p50)), ...connNote(r) });
        add({ name: `${name}: new connection + first echo p99`, value: num(r.conn.p99), unit: 'ms', better: 'lower', ...vs(label, num(d.conn.p99)) });
      }
      const stalls = paths.filter(([l]) => results[l]!.lat.stalledAfter !== undefined || results[l]!.tp.stalled).map(([, n]) => n);
      if (stalls.length) out.notes.push(`STALLS (a podgate bug to look at, not a slow path): ${stalls.join(', ')} stopped echoing on an open connection; see the rows' notes.`);
      out.notes.push(`CPU time used during each path's whole client run (setup + round trips + throughput with warm-up): ${cpu.join('; ')}.`);
      expectOk(await pg.kubectl(['delete', 'namespace', NS, '--timeout=60s'], { timeoutMs: 70_000 }), 'delete namespace');
    } finally {
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
      await node.stop();
    }
  },
};
