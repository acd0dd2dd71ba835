// The service proxy's data path (issue 5) and LoadBalancer addresses (issue 6), with `podgate up`
// on a throwaway test LAN (a node host and an outside client host), the real kubectl and wrk:
//  - requests/s (keep-alive) and connections/s (`Connection: close`) through a ClusterIP from the
//    node and through a NodePort from the client, next to straight to the pod IP (from the node,
//    and from the client with a route to the pod via the node, the NodePort's like-for-like peer);
//    the backend is one nginx pod (Debian's nginx, 2 workers, fixed 17-byte body, no access log);
//  - the time from `kubectl apply` of a LoadBalancer Service to the first answer the client gets
//    at its address (podgate started with --lb-pool on the LAN's subnet), a new Service each run.
import type { ChildProcess } from 'node:child_process';
import { expectOk } from '../test/e2e/harness.ts';
import { nodeBin } from '../test/lib/netns-hosts.ts';
import type { BenchModule } from './bench-module.ts';
import { createNamespace, fastBackendYaml, type LanBench, startLanBench, wallMs, waitPodsReady, type WrkResult, wrkOn } from './lan-bench.ts';
import { median, sleep } from './load.ts';
import { makeTempDir, removeTempDir } from './processes.ts';
import { withRatios, type Row } from './report.ts';

const NS = 'bench-svc';
const CONNECTIONS = 64;
const SECONDS = 5;
const ROUNDS = 2;
const LB_RUNS = 5;
const LB_TARGET_MS = 1000;
const POOL_FIRST = 200;
const POOL_LAST = 210;

// Runs in the client's netns: args PORT DEADLINE_MS IP...; every 25 ms starts a GET to each IP
// (at most 20 in flight per IP, 500 ms timeout each: SYNs sent before the address is announced
// are lost, so later attempts must not wait for their retransmission). Prints
// {"t": wall ms of the first 200 answer, "ip": ...} or {"t": null} at the deadline.
const lbPoller = `
const http = require('http');
const [port, deadlineMs, ...ips] = process.argv.slice(1);
const now = () => performance.timeOrigin + performance.now();
const deadline = now() + Number(deadlineMs);
const inflight = new Map(ips.map((ip) => [ip, 0]));
let done = false;
const finish = (o) => { if (done) return; done = true; console.log(JSON.stringify(o)); process.exit(0); };
const attempt = (ip) => {
  inflight.set(ip, inflight.get(ip) + 1);
  const req = http.get({ host: ip, port: Number(port), path: '/', agent: false, timeout: 500 }, (res) => {
    const t = now();
    res.resume();
    if (res.statusCode === 200) finish({ t, ip });
  });
  const off = () => inflight.set(ip, inflight.get(ip) - 1);
  req.on('close', off);
  req.on('error', () => {});
  req.on('timeout', () => req.destroy());
};
console.log('polling');
const tick = () => {
  if (done) return;
  if (now() > deadline) finish({ t: null });
  for (const ip of ips) if (inflight.get(ip) < 20) attempt(ip);
  setTimeout(tick, 25);
};
tick();
`;

interface Path { key: string; label: string; host: 'node' | 'client'; url: string }

export const servicesBench: BenchModule = {
  name: 'services',
  description: 'service proxy data path (NodePort, ClusterIP vs pod IP; wrk) and LoadBalancer apply → first answer, bin/podgate up on a test LAN with an outside client',
  async run(ctx) {
    const { out, log } = ctx;
    const add = (row: Row) => out.rows.push(withRatios(row));
    out.peers['direct-node'] = 'the same wrk from the node host straight to the pod IP:8080 (no Service)';
    out.peers['direct-client'] = 'the same wrk from the outside client straight to the pod IP:8080, routed via the node (a route added in the client host; no Service, no DNAT)';
    out.notes.push(`wrk -t2 -c${CONNECTIONS} -d${SECONDS}s (after a 1 s warm-up per path), run inside the node or client network namespace, ${ROUNDS} rounds in alternating order, best round reported; "conn/s" runs send \`Connection: close\`, so every request is a new TCP connection. ` +
      'Backend: one identical pod per path running Debian\'s nginx (2 workers, `return 200`, no access log), so one path\'s TIME_WAIT sockets never meet another\'s SYNs. wrk, nginx, podgate and the kernel\'s forwarding share this machine\'s CPUs; podgate itself is not in the data path (nftables DNAT in the kernel).');
    out.notes.push('Targets for ClusterIP/NodePort rows are 0.95 × their peer measured in the same run (issue 5).');
    out.notes.push(`LoadBalancer: podgate started with --lb-pool LAN.${POOL_FIRST}-LAN.${POOL_LAST}. Each run applies a new Service (port 8086+i → the nginx pod) with \`kubectl apply -f -\`; the client polls every pool address ` +
      'every 25 ms (plain HTTP GETs, finding the address by ARP) until one answers 200. Times from just before spawning kubectl (its own start-up, ~0.1-0.2 s, included); ' +
      '"created"/"status" times are when a `kubectl get -w` in the node saw the Service added / its EXTERNAL-IP written. Between runs the Service is deleted and its address waited off the link.');

    let cluster: LanBench | undefined;
    let watch: ChildProcess | undefined;
    const dir = makeTempDir('podgate-services-bench-');
    try {
      log('starting podgate up on a test LAN (node + client) with an LB pool');
      cluster = await startLanBench((l) => {
        const base = l.subnet.replace(/\.0\/24$/, '');
        return ['--lb-pool', `${base}.${POOL_FIRST}-${base}.${POOL_LAST}`, '--ingress-http-port', '0', '--ingress-https-port', '0'];
      });
      const { pg, lan, nodeIP } = cluster;
      const base = lan.subnet.replace(/\.0\/24$/, '');
      const pool = Array.from({ length: POOL_LAST - POOL_FIRST + 1 }, (_, i) => `${base}.${POOL_FIRST + i}`);
      await createNamespace(pg, NS);
      // One identical backend pod per path: with `Connection: close` the pod keeps a TIME_WAIT socket per
      // connection, and a SYN arriving through NAT with another TCP timestamp clock than the one that
      // left it is refused by PAWS (1 s SYN retransmit), so paths sharing a pod would slow each other down.
      const keys = ['direct-node', 'clusterip', 'direct-client', 'nodeport'] as const;
      const docs = keys.map((k) => fastBackendYaml({ ns: NS, name: `fast-${k}`, labels: { app: `fast-${k}` }, port: 8080, confDir: dir }));
      docs.push(`apiVersion: v1
kind: Service
metadata: { name: fast-clusterip, namespace: ${NS} }
spec:
  selector: { app: fast-clusterip }
  ports: [{ name: http, port: 80, targetPort: 8080 }]
`, `apiVersion: v1
kind: Service
metadata: { name: fast-nodeport, namespace: ${NS} }
spec:
  type: NodePort
  selector: { app: fast-nodeport }
  ports: [{ name: http, port: 80, targetPort: 8080 }]
`);
      expectOk(await pg.apply(docs.join('---\n')), 'apply backends');
      await waitPodsReady(pg, NS, keys.length);
      const get = async (what: string, jsonpath: string) => expectOk(await pg.kubectl(['get', ...what.split(' '), '-n', NS, '-o', `jsonpath=${jsonpath}`]), `get ${what}`).trim();
      const podNodeIP = await get('pod fast-direct-node', '{.status.podIP}');
      const podClientIP = await get('pod fast-direct-client', '{.status.podIP}');
      const clusterIP = await get('svc fast-clusterip', '{.spec.clusterIP}');
      const nodePort = await get('svc fast-nodeport', '{.spec.ports[0].nodePort}');
      log(`pods ${podNodeIP} / ${podClientIP}, ClusterIP ${clusterIP}, NodePort ${nodeIP}:${nodePort}`);

      const answers = async (host: 'node' | 'client', url: string) => {
        for (let i = 0; i < 50; i++) {
          const r = await lan.exec(host, ['curl', '-s', '-m', '2', url], { allowFailure: true });
          if (r.code === 0 && r.stdout.includes('hello from nginx')) return true;
          await sleep(100);
        }
        return false;
      };
      // The client reaches the pod network through the node, as a router; the node forwards pod traffic already.
      await lan.exec('client', ['ip', 'route', 'add', `${podClientIP}/32`, 'via', nodeIP]);
      const paths: Path[] = [
        { key: 'direct-node', label: 'direct to pod IP (from node)', host: 'node', url: `http://${podNodeIP}:8080/` },
        { key: 'clusterip', label: 'ClusterIP (from node)', host: 'node', url: `http://${clusterIP}:80/` },
        { key: 'direct-client', label: 'direct to pod IP (from client, routed via node)', host: 'client', url: `http://${podClientIP}:8080/` },
        { key: 'nodeport', label: 'NodePort (from client)', host: 'client', url: `http://${nodeIP}:${nodePort}/` },
      ];
      const usable: Path[] = [];
      for (const p of paths) {
        if (await answers(p.host, p.url)) usable.push(p);
        else if (p.key === 'direct-client') out.notes.push('The client could not reach the pod IP through the node; NodePort is compared with direct-node instead.');
        else throw new Error(`${p.label}: ${p.url} does not answer from ${p.host}`);
      }
      for (const p of usable) await wrkOn(lan, p.host, p.url, { connections: CONNECTIONS, seconds: 1 });
      const modes: [string, string, string[]][] = [['keep-alive', 'req/s', []], ['new connection per request', 'conn/s', ['Connection: close']]];
      for (const [mode, unit, headers] of modes) {
        const res = new Map<string, WrkResult[]>();
        for (let round = 0; round < ROUNDS; round++) {
          for (const p of round % 2 ? [...usable].reverse() : usable) {
            log(`${mode}, round ${round + 1}: ${p.label}`);
            const r = await wrkOn(lan, p.host, p.url, { connections: CONNECTIONS, seconds: SECONDS, headers });
            res.set(p.key, [...(res.get(p.key) ?? []), r]);
          }
        }
        const best = (key: string) => { const rs = res.get(key); return rs ? rs.reduce((a, b) => (b.rps > a.rps ? b : a)) : undefined; };
        for (const p of usable) {
          const r = best(p.key)!;
          const all = res.get(p.key)!;
          const peerKey = p.key === 'clusterip' ? 'direct-node' : p.key === 'nodeport' ? (res.has('direct-client') ? 'direct-client' : 'direct-node') : p.key === 'direct-client' ? 'direct-node' : undefined;
          const peer = peerKey ? best(peerKey) : undefined;
          const service = p.key === 'clusterip' || p.key === 'nodeport';
          const errors = all.reduce((a, b) => a + b.errors, 0);
          const notes = [`best of ${all.length}: ${all.map((x) => Math.round(x.rps)).join(', ')}`, `p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms`,
            errors ? `${errors} errors` : ''].filter(Boolean).join('; ');
          add({ name: `${mode}: ${p.label}`, value: r.rps, unit, better: 'higher',
            ...(peer && peerKey ? { peer: peer.rps, peerName: peerKey } : {}),
            ...(service && peer ? { target: 0.95 * peer.rps } : {}),
            note: notes });
        }
      }

      // ---- LoadBalancer: apply → first answer at the address, from the client ----
      // A watch in the node sees each Service's ADDED event and the status write with its address.
      const seen = new Map<string, { created?: number; status?: number; ip?: string }>();
      watch = pg.spawnKubectl(['get', 'services', '-n', NS, '-w', '--output-watch-events', '-o',
        'jsonpath={.type} {.object.metadata.name} {.object.status.loadBalancer.ingress[0].ip}{"\\n"}']);
      let buf = '';
      watch.stdout!.on('data', (d: Buffer) => {
        const t = wallMs();
        buf += d.toString();
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const [type, name, ip] = buf.slice(0, nl).trim().split(/\s+/);
          buf = buf.slice(nl + 1);
          if (!name) continue;
          const s = seen.get(name) ?? {};
          if ((type === 'ADDED' || type === 'MODIFIED') && s.created === undefined) s.created = t;
          if (ip && s.status === undefined) { s.status = t; s.ip = ip; }
          seen.set(name, s);
        }
      });
      await sleep(1000);
      const total: number[] = [];
      const created: number[] = [];
      const status: number[] = [];
      const applyReturn: number[] = [];
      const afterStatus: number[] = [];
      let failures = 0;
      for (let i = 0; i < LB_RUNS; i++) {
        const name = `lb-${i}`;
        const port = 8086 + i;
        const poller = lan.spawn('client', [nodeBin, '-e', lbPoller, String(port), '15000', ...pool]);
        let pout = '';
        poller.stdout!.on('data', (d: Buffer) => { pout += d.toString(); });
        const polled = new Promise<void>((r) => poller.once('exit', () => r()));
        for (let k = 0; k < 100 && !pout.includes('polling'); k++) await sleep(20);
        await sleep(300);
        const t0 = wallMs();
        expectOk(await pg.apply(`apiVersion: v1
kind: Service
metadata: { name: ${name}, namespace: ${NS} }
spec:
  type: LoadBalancer
  selector: { app: fast-direct-node }
  ports: [{ name: http, port: ${port}, targetPort: 8080 }]
`), `apply ${name}`);
        applyReturn.push(wallMs() - t0);
        await polled;
        const line = pout.split('\n').find((l) => l.startsWith('{'));
        const got = line ? (JSON.parse(line) as { t: number | null; ip?: string }) : { t: null };
        const s = seen.get(name) ?? {};
        if (got.t === null) {
          failures++;
          log(`${name}: no answer from the client within 15 s (status ip ${s.ip ?? 'none'})`);
        } else {
          total.push(got.t - t0);
          if (s.ip && got.ip !== s.ip) log(`${name}: answered at ${got.ip ?? '?'} but status says ${s.ip}`);
          if (s.status !== undefined) afterStatus.push(got.t - s.status);
          log(`${name}: answered at ${got.ip ?? '?'} after ${(got.t - t0).toFixed(0)} ms (created +${s.created === undefined ? '?' : (s.created - t0).toFixed(0)} ms, status +${s.status === undefined ? '?' : (s.status - t0).toFixed(0)} ms)`);
        }
        if (s.created !== undefined) created.push(s.created - t0);
        if (s.status !== undefined) status.push(s.status - t0);
        // Back to the starting state: the Service gone and its address off the node's link.
        expectOk(await pg.kubectl(['delete', 'service', name, '-n', NS]), `delete ${name}`);
        const ip = s.ip ?? got.ip;
        if (ip) {
          for (let k = 0; k < 50; k++) {
            if (!(await lan.exec('node', ['ip', '-o', '-4', 'addr', 'show'])).stdout.includes(`inet ${ip}/`)) break;
            await sleep(100);
          }
        }
      }
      const range = (xs: number[]) => (xs.length ? `min ${Math.min(...xs).toFixed(0)}, max ${Math.max(...xs).toFixed(0)} ms` : '');
      if (total.length) {
        add({ name: `LoadBalancer: apply → first answer at EXTERNAL-IP from client (median of ${total.length})`, value: median(total), unit: 'ms', better: 'lower', target: LB_TARGET_MS,
          note: [range(total), failures ? `${failures} of ${LB_RUNS} runs never answered in 15 s` : ''].filter(Boolean).join('; ') });
      } else {
        throw new Error(`LoadBalancer: none of ${LB_RUNS} Services answered at their address within 15 s`);
      }
      if (applyReturn.length) add({ name: 'LoadBalancer: kubectl apply returns', value: median(applyReturn), unit: 'ms', better: 'lower', note: range(applyReturn) });
      if (created.length) add({ name: 'LoadBalancer: apply → Service ADDED seen by a watch', value: median(created), unit: 'ms', better: 'lower', note: range(created) });
      if (status.length) add({ name: 'LoadBalancer: apply → EXTERNAL-IP in status seen by a watch', value: median(status), unit: 'ms', better: 'lower', note: range(status) });
      if (afterStatus.length) add({ name: 'LoadBalancer: EXTERNAL-IP in status → first answer at it', value: median(afterStatus), unit: 'ms', better: 'lower', note: `${range(afterStatus)}; address on the link, ARP, nftables rule` });
      expectOk(await pg.kubectl(['delete', 'namespace', NS, '--timeout=60s'], { timeoutMs: 70_000 }), 'delete namespace');
    } finally {
      if (watch && watch.exitCode === null && watch.signalCode === null) watch.kill('SIGKILL');
      await cluster?.stop();
      removeTempDir(dir);
    }
  },
};
