// The API server: start-to-ready, create/get/list throughput and latency, watch-event delivery
// with 100 watchers, and memory with 10,000 Services. podgate runs as `bin/podgate up` in a child
// process; the peer is bench/peer-server.ts (a trivial HTTPS server, same certificate, same client).
import { statSync } from 'node:fs';
import { join } from 'node:path';
import type { KObject } from '../src/api/object.ts';
import { resources, type ResourceInfo } from '../src/api/resources.ts';
import { type ClientConfig, configFromKubeconfig, KubeClient, resourcePath, type WatchEvent } from '../src/client/rest-client.ts';
import type { BenchContext, BenchModule } from './bench-module.ts';
import { closedLoop, type LoadResult, median, percentile, ratePerSecond, sleep } from './load.ts';
import { launchPeer, launchPodgate, makeTempDir, type PeerProcess, type PodgateProcess, removeTempDir } from './processes.ts';
import { withRatios, type Row } from './report.ts';

const COLD_STARTS = 5;
const WARM_STARTS = 3;
const CONCURRENCY = 16;
const DURATION_MS = 3000;
const WARMUP_MS = 500;
const READ_OBJECTS = 100;
const WATCHERS = 100;
const WATCH_EVENTS = 200;
const FILL_SERVICES = 10_000;
const FILL_CONCURRENCY = 32;

const READY_TARGET_S = 1;
const WATCH_P99_TARGET_MS = 5;

const svc = findResource('services');
const nsRes = findResource('namespaces');

function findResource(plural: string): ResourceInfo {
  const r = resources.find((x) => x.group === '' && x.resource === plural);
  if (!r) throw new Error(`resource ${plural} not in the resource table`);
  return r;
}

function makeService(name: string): KObject {
  return {
    apiVersion: 'v1', kind: 'Service',
    metadata: { name, labels: { app: 'bench', bench: 'podgate' } },
    spec: { type: 'ClusterIP', selector: { app: name }, ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }] },
  };
}

const MiB = 1024 * 1024;

export const apiserverBench: BenchModule = {
  name: 'apiserver',
  description: 'podgate API server (bin/podgate up, child process) vs a trivial Node HTTPS server in the same run',
  async run(ctx) {
    const { out } = ctx;
    const add = (row: Row) => out.rows.push(withRatios(row));
    out.peers['node-https'] = 'bench/peer-server.ts: a trivial HTTPS server on the same Node 24, run as its own process ' +
      'with podgate\'s serving certificate and TLS settings; GET answers fixed bytes (the exact body podgate returned), POST parses ' +
      'the JSON, stamps uid/resourceVersion and answers it and writes it to open watch streams. Same KubeClient, same ' +
      'concurrency. It stores nothing, so it is the floor of HTTPS + JSON on this machine, not a rival API server.';
    out.peers['node-start'] = 'spawning the peer server (Node 24 running a TypeScript file that starts an HTTPS server) until it prints that it listens';
    out.peers['idle+json'] = 'podgate\'s own idle RSS (same fresh process, before the fill) plus the 10,000 Services held once as JSON text';
    out.peers['json'] = 'bytes per Service in podgate\'s own list response (the JSON a Service costs on the wire)';
    out.notes.push(`Machine: the bench client and podgate share the same ${(await import('node:os')).cpus().length} CPUs; ` +
      'every figure includes client-side work (TLS, JSON.parse), identically for podgate and its peer.');

    await measureStartup(ctx, add);

    const pg = await launchPodgate();
    let peer: PeerProcess | undefined;
    try {
      peer = await launchPeer(join(pg.dataDir, 'pki'));
      const peerIdle = peer.memory().rss;
      const cfg = configFromKubeconfig(pg.kubeconfig);
      await measureRequests(ctx, add, pg, peer, cfg);
      await measureWatch(ctx, add, cfg, peer);
      out.notes.push(`Peer server idle RSS: ${(peerIdle / MiB).toFixed(1)} MiB (the memory floor of a Node 24 HTTPS process).`);
    } finally {
      await peer?.stop();
      await pg.stop();
    }

    await measureMemory(ctx, add);
  },
};

async function measureStartup(ctx: BenchContext, add: (r: Row) => void): Promise<void> {
  ctx.log(`start-to-ready: ${COLD_STARTS} cold starts (fresh data dir each), ${WARM_STARTS} warm restarts`);
  const cold: number[] = [];
  const printed: number[] = [];
  for (let i = 0; i < COLD_STARTS; i++) {
    const pg = await launchPodgate();
    cold.push(pg.spawnToReadyMs);
    printed.push(pg.printedReadyMs);
    await pg.stop();
  }
  const warm: number[] = [];
  const peerStarts: number[] = [];
  const dir = makeTempDir('podgate-bench-warm-');
  try {
    const first = await launchPodgate({ dataDir: dir });
    await first.stop();
    for (let i = 0; i < WARM_STARTS; i++) {
      const pg = await launchPodgate({ dataDir: dir });
      warm.push(pg.spawnToReadyMs);
      await pg.stop();
    }
    for (let i = 0; i < COLD_STARTS; i++) {
      const peer = await launchPeer(join(dir, 'pki'));
      peerStarts.push(peer.spawnToReadyMs);
      await peer.stop();
    }
  } finally {
    removeTempDir(dir);
  }
  const peerS = median(peerStarts) / 1000;
  add({ name: `start-to-ready, cold (spawn → kubeconfig line), median of ${COLD_STARTS}`, value: median(cold) / 1000, unit: 's',
    better: 'lower', target: READY_TARGET_S, peer: peerS, peerName: 'node-start',
    note: `all: ${cold.map((c) => c.toFixed(0)).join(', ')} ms` });
  add({ name: `start-to-ready, cold, as printed by podgate ("ready in N ms"), median of ${COLD_STARTS}`, value: median(printed) / 1000, unit: 's',
    better: 'lower', target: READY_TARGET_S, note: `all: ${printed.join(', ')} ms` });
  add({ name: `start-to-ready, warm restart (same data dir), median of ${WARM_STARTS}`, value: median(warm) / 1000, unit: 's',
    better: 'lower', target: READY_TARGET_S, peer: peerS, peerName: 'node-start' });
  ctx.out.notes.push(`Cold spawn-to-ready, each run: ${cold.map((c) => c.toFixed(0)).join(', ')} ms; podgate's own figure: ${printed.join(', ')} ms ` +
    '(the difference is Node startup and module loading before podgate\'s clock starts). "Cold" means a fresh data dir: ' +
    'Node\'s compile cache (os.tmpdir()/node-compile-cache, enabled by src/main.ts) is warm after podgate\'s first start on the machine; ' +
    'the very first start after installing compiles every module, about 0.35 s more here.');
}

/** Runs `op` against podgate then the peer, each after a short warm-up, and adds rate/p50/p99 rows. */
async function sideBySide(ctx: BenchContext, add: (r: Row) => void, label: string,
  op: (client: KubeClient, i: number) => Promise<unknown>, pgClient: KubeClient, peerClient: KubeClient): Promise<void> {
  const run = async (client: KubeClient, who: string): Promise<LoadResult> => {
    let seq = 1_000_000;
    await closedLoop({ concurrency: CONCURRENCY, durationMs: WARMUP_MS, op: () => op(client, seq++) });
    const r = await closedLoop({ concurrency: CONCURRENCY, durationMs: DURATION_MS, op: (i) => op(client, i) });
    ctx.log(`  ${label} ${who}: ${r.count} ok, ${r.errors} errors, ${ratePerSecond(r).toFixed(0)}/s`);
    if (r.errors) ctx.out.notes.push(`${label} on ${who}: ${r.errors} errors (first: ${r.firstError})`);
    return r;
  };
  const a = await run(pgClient, 'podgate');
  const b = await run(peerClient, 'peer');
  add({ name: `${label}: requests/s (${CONCURRENCY} concurrent, keep-alive, ${DURATION_MS / 1000} s)`, value: ratePerSecond(a), unit: 'req/s',
    better: 'higher', peer: ratePerSecond(b), peerName: 'node-https' });
  add({ name: `${label}: latency p50`, value: percentile(a.latencies, 50), unit: 'ms', better: 'lower', peer: percentile(b.latencies, 50), peerName: 'node-https' });
  add({ name: `${label}: latency p99`, value: percentile(a.latencies, 99), unit: 'ms', better: 'lower', peer: percentile(b.latencies, 99), peerName: 'node-https' });
}

async function ensureNamespace(client: KubeClient, name: string): Promise<void> {
  await client.create(nsRes, undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
}

async function measureRequests(ctx: BenchContext, add: (r: Row) => void, pg: PodgateProcess, peer: PeerProcess, cfg: ClientConfig): Promise<void> {
  const pgClient = new KubeClient({ ...cfg, userAgent: 'podgate-bench' });
  const peerClient = new KubeClient({ ...cfg, server: peer.url, userAgent: 'podgate-bench' });
  try {
    for (const ns of ['bench-create', 'bench-read', 'bench-watch']) await ensureNamespace(pgClient, ns);

    ctx.log('create');
    await sideBySide(ctx, add, 'create Service', (c, i) => c.create(svc, 'bench-create', makeService(`c-${i}`)), pgClient, peerClient);

    ctx.log(`get / list (${READ_OBJECTS} Services)`);
    await closedLoop({ concurrency: CONCURRENCY, total: READ_OBJECTS, op: (i) => pgClient.create(svc, 'bench-read', makeService(`r-${i}`)) });
    // The peer answers the very bytes podgate answered, so both sides move and parse the same JSON.
    for (let i = 0; i < READ_OBJECTS; i++) {
      const path = resourcePath(svc, 'bench-read', `r-${i}`);
      await peerClient.request('PUT', path, await pgClient.request('GET', path));
    }
    const listPath = resourcePath(svc, 'bench-read');
    const list = await pgClient.request<{ items: unknown[] }>('GET', listPath);
    if (list.items.length !== READ_OBJECTS) throw new Error(`list returned ${list.items.length} items, expected ${READ_OBJECTS}`);
    await peerClient.request('PUT', listPath, list);
    await sideBySide(ctx, add, 'get Service', (c, i) => c.get(svc, 'bench-read', `r-${i % READ_OBJECTS}`), pgClient, peerClient);
    await sideBySide(ctx, add, `list ${READ_OBJECTS} Services`, (c) => c.list(svc, 'bench-read'), pgClient, peerClient);
    ctx.out.notes.push(`list of ${READ_OBJECTS}: ${JSON.stringify(list).length.toLocaleString('en-US')} bytes of JSON per response.`);
    ctx.log(`  podgate RSS after request phases: ${(pg.memory().rss / MiB).toFixed(0)} MiB`);
  } finally {
    pgClient.close();
    peerClient.close();
  }
}

interface WatchResult {
  /** ms from just before each create was sent to each watcher's ADDED event, sorted. */
  latencies: number[];
  missing: number;
  createLatencies: number[];
  deliveredPerSecond: number;
  throughputCreates: number;
  watchErrors: string[];
}

/**
 * Opens WATCHERS watches on services in `ns` (one client, hence one connection, each), checks all are
 * live with warm-up creates, then creates WATCH_EVENTS Services one at a time, waiting for every
 * watcher each time; then creates as fast as CONCURRENCY writers can for DURATION_MS and counts deliveries.
 */
async function runWatch(ctx: BenchContext, cfg: ClientConfig, ns: string, who: string): Promise<WatchResult> {
  const abort = new AbortController();
  const clients = Array.from({ length: WATCHERS }, () => new KubeClient({ ...cfg, userAgent: 'podgate-bench-watch' }));
  const writer = new KubeClient({ ...cfg, userAgent: 'podgate-bench' });
  const watchErrors: string[] = [];
  // name → per-event bookkeeping; a watcher's first ADDED for a name counts once.
  const pending = new Map<string, { t0: number; seenBy: Set<number>; times: number[]; done?: () => void }>();
  let tpDelivered = 0;
  let tpLast = 0;
  const onEvent = (w: number, ev: WatchEvent) => {
    const now = performance.now();
    if (ev.type !== 'ADDED') return;
    const name = ev.object.metadata.name ?? '';
    if (name.startsWith('tp-')) { tpDelivered++; tpLast = now; return; }
    const p = pending.get(name);
    if (!p || p.seenBy.has(w)) return;
    p.seenBy.add(w);
    p.times.push(now - p.t0);
    if (p.seenBy.size === WATCHERS) p.done?.();
  };
  const streams = clients.map((c, w) => c.watch(svc, ns, {}, (ev) => onEvent(w, ev), abort.signal)
    .catch((err: unknown) => { if (!abort.signal.aborted) watchErrors.push(err instanceof Error ? err.message : String(err)); }));
  const createAndWait = async (name: string, timeoutMs: number) => {
    const entry: { t0: number; seenBy: Set<number>; times: number[]; done?: () => void } = { t0: 0, seenBy: new Set(), times: [] };
    const all = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      entry.done = () => { clearTimeout(timer); resolve(true); };
    });
    pending.set(name, entry);
    entry.t0 = performance.now();
    await writer.create(svc, ns, makeService(name));
    const createMs = performance.now() - entry.t0;
    const complete = await all;
    pending.delete(name);
    return { complete, createMs, entry };
  };
  try {
    let live = false;
    for (let k = 0; k < 30 && !live; k++) {
      live = (await createAndWait(`warm-${k}`, 1000)).complete;
      if (watchErrors.length) throw new Error(`watch failed on ${who}: ${watchErrors[0]}`);
    }
    if (!live) throw new Error(`not all ${WATCHERS} watches on ${who} delivered a warm-up event`);

    const latencies: number[] = [];
    const createLatencies: number[] = [];
    let missing = 0;
    for (let i = 0; i < WATCH_EVENTS; i++) {
      const r = await createAndWait(`ev-${i}`, 5000);
      latencies.push(...r.entry.times);
      createLatencies.push(r.createMs);
      missing += WATCHERS - r.entry.seenBy.size;
    }
    latencies.sort((a, b) => a - b);
    createLatencies.sort((a, b) => a - b);

    const start = performance.now();
    const load = await closedLoop({ concurrency: CONCURRENCY, durationMs: DURATION_MS, op: (i) => writer.create(svc, ns, makeService(`tp-${i}`)) });
    const expected = load.count * WATCHERS;
    for (let waited = 0; tpDelivered < expected && waited < 10_000; waited += 20) await sleep(20);
    const deliveredPerSecond = tpDelivered / ((Math.max(tpLast, start + load.elapsedMs) - start) / 1000);
    if (tpDelivered < expected) watchErrors.push(`${expected - tpDelivered} of ${expected} throughput-phase events not delivered within 10 s`);
    if (load.errors) watchErrors.push(`${load.errors} creates failed during the throughput phase (first: ${load.firstError})`);
    ctx.log(`  watch ${who}: p50 ${percentile(latencies, 50).toFixed(2)} ms, p99 ${percentile(latencies, 99).toFixed(2)} ms, ` +
      `${deliveredPerSecond.toFixed(0)} events/s (${load.count} creates × ${WATCHERS})`);
    return { latencies, missing, createLatencies, deliveredPerSecond, throughputCreates: load.count, watchErrors };
  } finally {
    abort.abort();
    for (const c of clients) c.close();
    writer.close();
    await Promise.all(streams);
  }
}

async function measureWatch(ctx: BenchContext, add: (r: Row) => void, cfg: ClientConfig, peer: PeerProcess): Promise<void> {
  ctx.log(`watch: ${WATCHERS} watchers × ${WATCH_EVENTS} events, then ${DURATION_MS / 1000} s of ${CONCURRENCY} concurrent creates`);
  const a = await runWatch(ctx, cfg, 'bench-watch', 'podgate');
  const b = await runWatch(ctx, { ...cfg, server: peer.url }, 'bench-watch', 'peer');
  const peerName = 'node-https';
  const n = `${WATCHERS} watchers × ${WATCH_EVENTS} events`;
  add({ name: `watch delivery latency p50 (${n}; from before create sent)`, value: percentile(a.latencies, 50), unit: 'ms', better: 'lower',
    peer: percentile(b.latencies, 50), peerName });
  add({ name: `watch delivery latency p99 (${n})`, value: percentile(a.latencies, 99), unit: 'ms', better: 'lower',
    target: WATCH_P99_TARGET_MS, peer: percentile(b.latencies, 99), peerName });
  add({ name: `watch delivery latency max (${n})`, value: a.latencies.at(-1) ?? NaN, unit: 'ms', better: 'lower',
    peer: b.latencies.at(-1) ?? NaN, peerName });
  add({ name: `create latency p50 with ${WATCHERS} watchers open (serial)`, value: percentile(a.createLatencies, 50), unit: 'ms', better: 'lower',
    peer: percentile(b.createLatencies, 50), peerName });
  add({ name: `watch events delivered/s (${WATCHERS} watchers, ${CONCURRENCY} concurrent creates, ${DURATION_MS / 1000} s)`,
    value: a.deliveredPerSecond, unit: 'events/s', better: 'higher', peer: b.deliveredPerSecond, peerName,
    note: `${a.throughputCreates} creates on podgate, ${b.throughputCreates} on the peer` });
  ctx.out.notes.push(`Watch throughput phase: ${a.throughputCreates} creates × ${WATCHERS} watchers on podgate, ${b.throughputCreates} on the peer.`);
  for (const [who, r] of [['podgate', a], ['peer', b]] as const) {
    if (r.missing) ctx.out.notes.push(`watch on ${who}: ${r.missing} of ${WATCHERS * WATCH_EVENTS} latency-phase events not delivered within 5 s`);
    for (const e of r.watchErrors) ctx.out.notes.push(`watch on ${who}: ${e}`);
  }
}

async function measureMemory(ctx: BenchContext, add: (r: Row) => void): Promise<void> {
  ctx.log(`memory: fresh podgate, ${FILL_SERVICES.toLocaleString('en-US')} Services at concurrency ${FILL_CONCURRENCY}`);
  const pg = await launchPodgate();
  let peer: PeerProcess | undefined;
  const client = new KubeClient({ ...configFromKubeconfig(pg.kubeconfig), userAgent: 'podgate-bench' });
  try {
    await ensureNamespace(client, 'bench-mem');
    await sleep(1000); // let start-up garbage settle before the baseline
    const idle = pg.memory();
    const fill = await closedLoop({ concurrency: FILL_CONCURRENCY, total: FILL_SERVICES, op: (i) => client.create(svc, 'bench-mem', makeService(`m-${i}`)) });
    if (fill.errors) throw new Error(`${fill.errors} of ${FILL_SERVICES} creates failed (first: ${fill.firstError})`);
    await sleep(500);
    const full = pg.memory();
    ctx.log(`  filled in ${(fill.elapsedMs / 1000).toFixed(1)} s; RSS ${(idle.rss / MiB).toFixed(0)} → ${(full.rss / MiB).toFixed(0)} MiB`);

    const listTimes: number[] = [];
    let listBody: unknown;
    let listCount = 0;
    for (let k = 0; k < 3; k++) {
      const t0 = performance.now();
      const list = await client.list(svc);
      listTimes.push(performance.now() - t0);
      listBody = list;
      listCount = list.items.length;
    }
    const afterList = pg.memory();
    const listBytes = JSON.stringify(listBody).length;
    if (listCount < FILL_SERVICES) throw new Error(`list-all returned ${listCount} Services, expected at least ${FILL_SERVICES}`);

    peer = await launchPeer(join(pg.dataDir, 'pki'));
    const peerClient = new KubeClient({ ...configFromKubeconfig(pg.kubeconfig), server: peer.url, userAgent: 'podgate-bench' });
    const peerTimes: number[] = [];
    try {
      await peerClient.request('PUT', resourcePath(svc), listBody);
      for (let k = 0; k < 3; k++) {
        const t0 = performance.now();
        await peerClient.list(svc);
        peerTimes.push(performance.now() - t0);
      }
    } finally {
      peerClient.close();
    }

    const perService = (full.rss - idle.rss) / FILL_SERVICES;
    add({ name: 'RSS idle after start (fresh data dir)', value: idle.rss / MiB, unit: 'MiB', better: 'lower' });
    add({ name: `RSS with ${FILL_SERVICES.toLocaleString('en-US')} Services stored`, value: full.rss / MiB, unit: 'MiB', better: 'lower',
      peer: (idle.rss + listBytes) / MiB, peerName: 'idle+json' });
    add({ name: 'RSS growth per Service', value: perService, unit: 'B', better: 'lower', peer: listBytes / listCount, peerName: 'json' });
    add({ name: 'peak RSS (VmHWM) after fill and 3 list-alls', value: afterList.hwm / MiB, unit: 'MiB', better: 'lower' });
    add({ name: `time to create ${FILL_SERVICES.toLocaleString('en-US')} Services (${FILL_CONCURRENCY} concurrent)`, value: fill.elapsedMs / 1000,
      unit: 's', better: 'lower' });
    add({ name: `create latency p99 during the fill`, value: percentile(fill.latencies, 99), unit: 'ms', better: 'lower' });
    add({ name: `list all Services at ${FILL_SERVICES.toLocaleString('en-US')} (median of 3)`, value: median(listTimes), unit: 'ms', better: 'lower',
      peer: median(peerTimes), peerName: 'node-https' });
    const db = statSync(join(pg.dataDir, 'state.db'), { throwIfNoEntry: false });
    ctx.out.notes.push(`Fill: ${ratePerSecond(fill).toFixed(0)} creates/s, p50 ${percentile(fill.latencies, 50).toFixed(1)} ms; ` +
      `list-all: ${listCount.toLocaleString('en-US')} items, ${(listBytes / MiB).toFixed(1)} MiB JSON, each run ${listTimes.map((t) => t.toFixed(0)).join(', ')} ms; ` +
      `RSS after list-alls ${(afterList.rss / MiB).toFixed(0)} MiB` + (db ? `; state.db ${(db.size / MiB).toFixed(1)} MiB on disk.` : '.'));
  } finally {
    client.close();
    await peer?.stop();
    await pg.stop();
  }
}
