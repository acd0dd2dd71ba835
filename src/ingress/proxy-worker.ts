// One proxy worker thread: a ProxyServer listening with SO_REUSEPORT on the same ports as its
// siblings (the kernel spreads connections over them, as over nginx's workers), its limits in the
// SharedArrayBuffer every worker shares. It takes route tables from the main thread and answers
// each message once it is applied; access entries go back in batches.
import { parentPort, workerData } from 'node:worker_threads';
import type { AccessEntry } from './http1-connection.ts';
import { ProxyServer } from './proxy-server.ts';
import { SharedLimits } from './shared-limits.ts';
import type { ToMain, ToWorker, WorkerConfig } from './proxy-workers.ts';

const ACCESS_BATCH = 256;
const ACCESS_FLUSH_MS = 100;

const config = workerData as WorkerConfig;
const port = parentPort!;
const post = (m: ToMain) => port.postMessage(m);

let access: AccessEntry[] = [];
let flushTimer: NodeJS.Timeout | undefined;
const flush = () => {
  flushTimer = undefined;
  if (!access.length) return;
  post({ type: 'access', entries: access });
  access = [];
};

const server = new ProxyServer({
  httpPort: config.httpPort, httpsPort: config.httpsPort,
  ...(config.bindAddress ? { bindAddress: config.bindAddress } : {}),
  ...(config.publicHttpsPort ? { publicHttpsPort: config.publicHttpsPort } : {}),
  ...(config.maxHeadBytes ? { maxHeadBytes: config.maxHeadBytes } : {}),
  ...(config.clientIdleTimeoutMs ? { clientIdleTimeoutMs: config.clientIdleTimeoutMs } : {}),
  ...(config.upstreamIdleTimeoutMs ? { upstreamIdleTimeoutMs: config.upstreamIdleTimeoutMs } : {}),
  defaultCertificate: config.defaultCertificate,
  reusePort: true,
  limits: new SharedLimits({ buffer: config.limits }),
  log: (msg) => post({ type: 'log', msg }),
  ...(config.accessLog ? {
    onAccess: (e: AccessEntry) => {
      access.push(e);
      if (access.length >= ACCESS_BATCH) flush();
      else flushTimer ??= setTimeout(flush, ACCESS_FLUSH_MS);
    },
  } : {}),
});

port.on('message', (m: ToWorker) => {
  const done = () => post({ type: 'done', seq: m.seq });
  const failed = (err: unknown) => post({ type: 'failed', seq: m.seq, message: err instanceof Error ? err.message : String(err) });
  if (m.type === 'routes') server.setRoutes(m.table).then(done, failed);
  else if (m.type === 'metrics') server.metrics().then((snapshot) => post({ type: 'metrics', seq: m.seq, snapshot }), failed);
  else if (m.type === 'stop') {
    if (flushTimer) clearTimeout(flushTimer);
    flush();
    server.stop().then(done, failed);
  }
});

(config.table ? server.setRoutes(config.table) : Promise.resolve()).then(() => server.start()).then(
  () => post({ type: 'listening', httpPort: server.httpPort ?? null, httpsPort: server.httpsPort ?? null }),
  (err: NodeJS.ErrnoException) => post({ type: 'start-failed', message: err.message, ...(err.code ? { code: err.code } : {}) }),
);
