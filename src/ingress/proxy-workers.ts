// The L7 proxy on every core: N worker threads, each a ProxyServer listening with SO_REUSEPORT on
// the same HTTP and HTTPS ports, as nginx runs `worker_processes auto`. The kernel spreads new
// connections over the workers; a route table is posted to every worker and setRoutes() resolves
// once all of them serve it (each swaps its router in one assignment, so requests in flight finish
// on the table they started with). limit-rps/limit-connections live in one SharedArrayBuffer
// (shared-limits.ts) so a client is limited once, whichever worker holds its connection. The
// tcp/udp-services listeners stay on the main thread: one listener per port. A worker that dies is
// started again on the same ports with the current table.
import net from 'node:net';
import { Worker } from 'node:worker_threads';
import type { CertKeyPem } from '../pki/certificates.ts';
import type { AccessEntry } from './http1-connection.ts';
import { mergeSnapshots, type MetricsSnapshot } from './metrics.ts';
import type { ProxyServerOptions } from './proxy-server.ts';
import { emptyRouteTable, type RouteTable } from './route-table.ts';
import { SharedLimits } from './shared-limits.ts';
import { StreamProxy } from './stream-proxy.ts';
import { generateDefaultCertificate } from './tls-store.ts';

/**
 * Each request leaves short-lived objects (heads, strings, views): a larger young generation means
 * fewer scavenges. 32 MiB against the default measured 3 A/B pairs at 2.5-4 µs less CPU per
 * proxied request (about 10% more req/s) with the same RSS after load.
 */
const YOUNG_GENERATION_MB = 32;

/** What the controller needs of a proxy, in one thread (ProxyServer) or several (ProxyWorkers). */
export interface L7Proxy {
  start(): Promise<void>;
  stop(): Promise<void>;
  setRoutes(table: RouteTable): Promise<void>;
  readonly httpPort: number | undefined;
  readonly httpsPort: number | undefined;
  tcpServicePort(port: number): number | undefined;
  /** Request counts and durations per Ingress and Service, over every thread serving requests. */
  metrics(): Promise<MetricsSnapshot>;
}

/** workerData of proxy-worker.ts. */
export interface WorkerConfig {
  readonly httpPort: number | null;
  readonly httpsPort: number | null;
  readonly bindAddress?: string;
  readonly publicHttpsPort?: number;
  readonly defaultCertificate: CertKeyPem;
  readonly limits: SharedArrayBuffer;
  readonly maxHeadBytes?: number;
  readonly clientIdleTimeoutMs?: number;
  readonly upstreamIdleTimeoutMs?: number;
  readonly accessLog: boolean;
  /** Routes to serve from the first connection (a replacement worker starts with the current table). */
  readonly table?: RouteTable;
}

export type ToWorker = { type: 'routes'; seq: number; table: RouteTable } | { type: 'metrics'; seq: number } | { type: 'stop'; seq: number };
export type ToMain =
  | { type: 'listening'; httpPort: number | null; httpsPort: number | null }
  | { type: 'start-failed'; message: string; code?: string }
  | { type: 'done'; seq: number }
  | { type: 'failed'; seq: number; message: string }
  | { type: 'metrics'; seq: number; snapshot: MetricsSnapshot }
  | { type: 'access'; entries: AccessEntry[] }
  | { type: 'log'; msg: string };

export interface ProxyWorkersOptions extends Pick<ProxyServerOptions,
  'httpPort' | 'httpsPort' | 'bindAddress' | 'publicHttpsPort' | 'defaultCertificate' | 'maxHeadBytes' | 'clientIdleTimeoutMs' | 'upstreamIdleTimeoutMs' | 'onAccess' | 'log'> {
  /** Worker threads (at least 1). */
  readonly workers: number;
}

const WORKER_URL = new URL('./proxy-worker.ts', import.meta.url);

interface Running {
  readonly worker: Worker;
  readonly pending: Map<number, { resolve: (snapshot?: MetricsSnapshot) => void; reject: (err: Error) => void }>;
}

export class ProxyWorkers implements L7Proxy {
  readonly #opts: ProxyWorkersOptions;
  readonly #log: (msg: string) => void;
  readonly #limits = new SharedLimits();
  readonly #streams: StreamProxy;
  readonly #running: Running[] = [];
  /** Every worker thread started and not yet exited. */
  readonly #threads = new Set<Worker>();
  #config: WorkerConfig | undefined;
  #table: RouteTable = emptyRouteTable;
  #seq = 0;
  #stopping = false;

  constructor(opts: ProxyWorkersOptions) {
    if (!Number.isInteger(opts.workers) || opts.workers < 1) throw new Error(`ingress proxy workers must be a positive integer, got ${opts.workers}`);
    this.#opts = opts;
    this.#log = opts.log ?? (() => {});
    this.#streams = new StreamProxy({ ...(opts.bindAddress ? { bindAddress: opts.bindAddress } : {}), log: this.#log });
  }

  get httpPort(): number | undefined {
    return this.#config?.httpPort ?? undefined;
  }

  get httpsPort(): number | undefined {
    return this.#config?.httpsPort ?? undefined;
  }

  get workers(): number {
    return this.#running.length;
  }

  tcpServicePort(port: number): number | undefined {
    return this.#streams.tcpPort(port);
  }

  /** Starts the first worker on the configured ports (0 picks free ones), then the rest on the ports it bound. */
  async start(): Promise<void> {
    const o = this.#opts;
    const cert = o.httpsPort === undefined || o.httpsPort === null ? undefined : o.defaultCertificate ?? await generateDefaultCertificate();
    let config: WorkerConfig = {
      httpPort: o.httpPort ?? null, httpsPort: o.httpsPort ?? null,
      ...(o.bindAddress ? { bindAddress: o.bindAddress } : {}),
      ...(o.publicHttpsPort ? { publicHttpsPort: o.publicHttpsPort } : {}),
      ...(o.maxHeadBytes ? { maxHeadBytes: o.maxHeadBytes } : {}),
      ...(o.clientIdleTimeoutMs ? { clientIdleTimeoutMs: o.clientIdleTimeoutMs } : {}),
      ...(o.upstreamIdleTimeoutMs ? { upstreamIdleTimeoutMs: o.upstreamIdleTimeoutMs } : {}),
      defaultCertificate: cert ?? { certPem: '', keyPem: '' },
      limits: this.#limits.buffer, accessLog: !!o.onAccess,
    };
    // SO_REUSEPORT would let a second podgate (or anything else binding with it) share these
    // ports without a word: bind each once without it first, so a clash fails as EADDRINUSE.
    for (const port of [config.httpPort, config.httpsPort]) if (port) await assertPortFree(port, config.bindAddress);
    try {
      const first = await this.#spawn(config);
      config = { ...config, httpPort: first.httpPort, httpsPort: first.httpsPort };
      this.#config = config;
      const rest = await Promise.allSettled(Array.from({ length: o.workers - 1 }, () => this.#spawn(config)));
      const failed = rest.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
      if (this.#stopping) throw new Error('the ingress proxy was stopped while starting');
      this.#running.push(first.running, ...rest.map((r) => (r as PromiseFulfilledResult<{ running: Running }>).value.running));
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  async setRoutes(table: RouteTable): Promise<void> {
    this.#table = table;
    // Workers need only what routes requests; streams are served here, problems and statuses are the controller's.
    const forWorkers = workerTable(table);
    await Promise.all(this.#running.map((r) => this.#call(r, (seq) => ({ type: 'routes', seq, table: forWorkers }))));
    await this.#streams.update(table.streams);
  }

  async metrics(): Promise<MetricsSnapshot> {
    const snaps = await Promise.all(this.#running.map((r) => this.#call(r, (seq) => ({ type: 'metrics', seq }))));
    return mergeSnapshots(snaps.filter((s): s is MetricsSnapshot => !!s));
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    const running = this.#running.splice(0);
    await Promise.all(running.map((r) => this.#call(r, (seq) => ({ type: 'stop', seq })).catch(() => {})));
    // Every thread ever started and not yet gone, including those a start() in progress spawned.
    await Promise.all([...this.#threads].map((w) => w.terminate()));
    await this.#streams.close();
  }

  #call(r: Running, msg: (seq: number) => ToWorker): Promise<MetricsSnapshot | undefined> {
    const seq = ++this.#seq;
    return new Promise((resolve, reject) => {
      r.pending.set(seq, { resolve, reject });
      r.worker.postMessage(msg(seq));
    });
  }

  /** One worker, resolved once it listens; rejected with its bind error. */
  #spawn(config: WorkerConfig): Promise<{ running: Running; httpPort: number | null; httpsPort: number | null }> {
    const worker = new Worker(WORKER_URL, { workerData: config, name: 'podgate-ingress-proxy', resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB } });
    const id = worker.threadId;
    this.#threads.add(worker);
    const running: Running = { worker, pending: new Map() };
    return new Promise((resolve, reject) => {
      let listening = false;
      worker.on('message', (m: ToMain) => {
        switch (m.type) {
          case 'listening': listening = true; resolve({ running, httpPort: m.httpPort, httpsPort: m.httpsPort }); return;
          case 'start-failed':
            // It may hold one port already (HTTP bound, HTTPS refused): it must go.
            void worker.terminate();
            reject(Object.assign(new Error(m.message), m.code ? { code: m.code } : {}));
            return;
          case 'done': r(m.seq)?.resolve(); return;
          case 'metrics': r(m.seq)?.resolve(m.snapshot); return;
          case 'failed': r(m.seq)?.reject(new Error(m.message)); return;
          case 'access': for (const e of m.entries) this.#opts.onAccess?.(e); return;
          case 'log': this.#log(m.msg); return;
        }
      });
      const r = (seq: number) => { const p = running.pending.get(seq); running.pending.delete(seq); return p; };
      worker.on('error', (err) => this.#log(`ingress proxy worker ${id} failed: ${err.stack ?? err.message}`));
      worker.on('exit', (code) => {
        this.#threads.delete(worker);
        for (const p of running.pending.values()) p.reject(new Error(`ingress proxy worker exited with code ${code}`));
        running.pending.clear();
        if (!listening) { reject(new Error(`ingress proxy worker exited with code ${code} before listening`)); return; }
        const i = this.#running.indexOf(running);
        if (this.#stopping || i < 0) return;
        this.#log(`ingress proxy worker ${id} exited with code ${code}; starting another`);
        this.#running.splice(i, 1);
        // On the ports the first worker bound (the configured ones may say 0).
        void this.#replace(this.#config ?? config);
      });
    });
  }

  async #replace(config: WorkerConfig): Promise<void> {
    try {
      const table = this.#table;
      const { running } = await this.#spawn({ ...config, table: workerTable(table) });
      if (this.#stopping) { await running.worker.terminate(); return; }
      this.#running.push(running);
      if (this.#table !== table) await this.#call(running, (seq) => ({ type: 'routes', seq, table: workerTable(this.#table) }));
    } catch (err) {
      this.#log(`ingress proxy: could not start a replacement worker (trying again in 1 s): ${String(err)}`);
      if (!this.#stopping) setTimeout(() => { if (!this.#stopping) void this.#replace(config); }, 1000).unref();
    }
  }
}

/** Workers need only what routes requests: streams are served by the main thread, problems and statuses are the controller's. */
function workerTable(table: RouteTable): RouteTable {
  return { ...table, streams: [], served: [], problems: [] };
}

/** Rejects with EADDRINUSE when something already listens on the port (bound once, without SO_REUSEPORT). */
function assertPortFree(port: number, host: string | undefined): Promise<void> {
  const probe = net.createServer();
  return new Promise((resolve, reject) => {
    probe.once('error', reject);
    probe.listen({ port, ...(host ? { host } : {}) }, () => probe.close(() => resolve()));
  });
}
