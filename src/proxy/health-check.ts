// healthCheckNodePort for externalTrafficPolicy Local services, as kube-proxy serves it
// (pkg/proxy/healthcheck/service_health.go): an HTTP server per port answering 200 when this node
// has local endpoints and 503 otherwise, with the same JSON body, so cloud load balancers send
// traffic only to nodes that can serve it without a second hop.
import http from 'node:http';
import type { Service } from 'kubernetes-types/core/v1.d.ts';
import type { ServicePortInfo } from './service-ports.ts';

export interface HealthCheck {
  readonly port: number;
  readonly namespace: string;
  readonly name: string;
  readonly localEndpoints: number;
}

/** The health checks this node serves, sorted by port. `ports` are the services' ServicePortInfo by `namespace/name`. */
export function computeHealthChecks(services: readonly Service[], ports: ReadonlyMap<string, readonly ServicePortInfo[]>): HealthCheck[] {
  const out: HealthCheck[] = [];
  for (const svc of services) {
    const port = svc.spec?.healthCheckNodePort;
    if (!port || svc.spec?.externalTrafficPolicy !== 'Local' || svc.spec.type !== 'LoadBalancer') continue;
    const namespace = svc.metadata?.namespace ?? 'default';
    const name = svc.metadata?.name ?? '';
    // kube-proxy counts local endpoints of the service (addresses, not address × port).
    const local = new Set<string>();
    for (const p of ports.get(`${namespace}/${name}`) ?? []) for (const e of p.externalEndpoints) if (e.isLocal) local.add(e.ip);
    out.push({ port, namespace, name, localEndpoints: local.size });
  }
  return out.sort((a, b) => a.port - b.port);
}

/** Keeps one HTTP server per health check port; update() opens, retargets and closes them. */
export class HealthCheckServers {
  readonly #bindAddress: string;
  readonly #log: (msg: string) => void;
  readonly #servers = new Map<number, { server: http.Server; check: HealthCheck }>();

  constructor(opts: { bindAddress: string; log: (msg: string) => void }) {
    this.#bindAddress = opts.bindAddress;
    this.#log = opts.log;
  }

  /** Never throws: a port that cannot be bound is logged and tried again on the next update. */
  async update(checks: readonly HealthCheck[]): Promise<void> {
    const want = new Map(checks.map((c) => [c.port, c]));
    for (const [port, s] of [...this.#servers]) {
      if (want.has(port)) continue;
      this.#servers.delete(port);
      await new Promise<void>((r) => s.server.close(() => r()));
      s.server.closeAllConnections();
    }
    for (const c of checks) {
      const cur = this.#servers.get(c.port);
      if (cur) { cur.check = c; continue; }
      const entry = { server: http.createServer(), check: c };
      entry.server.on('request', (_req, res) => {
        const k = entry.check;
        const body = JSON.stringify({ service: { namespace: k.namespace, name: k.name }, localEndpoints: k.localEndpoints });
        res.writeHead(k.localEndpoints > 0 ? 200 : 503, { 'Content-Type': 'application/json', 'X-Content-Type-Options': 'nosniff' });
        res.end(body);
      });
      try {
        await new Promise<void>((resolve, reject) => {
          entry.server.once('error', reject);
          entry.server.listen(c.port, this.#bindAddress, () => resolve());
        });
        this.#servers.set(c.port, entry);
      } catch (err) {
        this.#log(`healthCheckNodePort ${c.port} for ${c.namespace}/${c.name}: ${(err as Error).message}`);
      }
    }
  }

  async close(): Promise<void> {
    await this.update([]);
  }
}
