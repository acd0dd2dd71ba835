// The ingress controller's metrics endpoint, where ingress-nginx has it (:10254/metrics, with
// /healthz beside it): Prometheus text merged from every proxy thread at scrape time.
import http from 'node:http';
import type net from 'node:net';
import { renderPrometheus } from './metrics.ts';
import type { L7Proxy } from './proxy-workers.ts';

export interface MetricsServer {
  readonly port: number;
  close(): Promise<void>;
}

export async function startMetricsServer(opts: { proxy: Pick<L7Proxy, 'metrics'>; port: number; bindAddress?: string; controllerClass: string }): Promise<MetricsServer> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') { res.writeHead(405, { allow: 'GET, HEAD' }).end(); return; }
    if (path === '/healthz') { res.writeHead(200, { 'content-type': 'text/plain' }).end('ok'); return; }
    if (path !== '/metrics') { res.writeHead(404, { 'content-type': 'text/plain' }).end('404 page not found\n'); return; }
    opts.proxy.metrics().then(
      (snap) => res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(renderPrometheus(snap, opts.controllerClass)),
      (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`collecting metrics failed: ${String(err)}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: opts.port, ...(opts.bindAddress ? { host: opts.bindAddress } : {}) }, () => { server.removeListener('error', reject); resolve(); });
  });
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}
