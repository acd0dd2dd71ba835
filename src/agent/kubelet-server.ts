// The node agent's own HTTPS endpoint (kubelet's port 10250): what the API server reaches for
// pods/log (and, with the streams work, exec, attach and port-forward). Only clients with a
// certificate from the cluster CA are served.
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';

export interface LogRequest {
  namespace: string;
  pod: string;
  container: string;
  follow: boolean;
  previous: boolean;
  timestamps: boolean;
  tailLines?: number;
  sinceSeconds?: number;
  sinceTime?: Date;
  limitBytes?: number;
  signal: AbortSignal;
}

export interface KubeletServerOptions {
  bindAddress: string;
  port: number;
  tls: { cert: string; key: string; ca: string };
  /** The log stream, or an error with the HTTP code and message kubelet would answer. */
  logs(req: LogRequest): Promise<AsyncIterable<Buffer> | { code: number; message: string }>;
  /** Upgrade handlers (exec, attach, portForward) keyed by the first path segment. */
  upgrades?: Map<string, (req: IncomingMessage, socket: import('node:stream').Duplex, head: Buffer) => void>;
  log?: (m: string) => void;
}

function num(v: string | null): number | undefined {
  if (v === null || v === '') return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? n : undefined;
}

export class KubeletServer {
  readonly #o: KubeletServerOptions;
  readonly #server: https.Server;

  constructor(o: KubeletServerOptions) {
    this.#o = o;
    this.#server = https.createServer({ cert: o.tls.cert, key: o.tls.key, ca: o.tls.ca, requestCert: true, rejectUnauthorized: true },
      (req, res) => { void this.#handle(req, res); });
    this.#server.on('upgrade', (req: IncomingMessage, socket, head: Buffer) => {
      // Stream frames are small and interactive: no Nagle delay.
      (socket as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
      const first = new URL(req.url ?? '/', 'https://x').pathname.split('/')[1] ?? '';
      const h = this.#o.upgrades?.get(first);
      if (!h) { socket.end('HTTP/1.1 404 Not Found\r\n\r\n'); return; }
      h(req, socket, head);
    });
    this.#server.requestTimeout = 0;
  }

  async listen(): Promise<AddressInfo> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.#o.port, this.#o.bindAddress, () => { this.#server.off('error', reject); resolve(); });
    });
    return this.#server.address() as AddressInfo;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((r) => this.#server.close(() => r()));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!(req.socket as TLSSocket).authorized) {
      res.writeHead(401).end('Unauthorized');
      return;
    }
    const url = new URL(req.url ?? '/', 'https://x');
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    if (parts[0] === 'healthz') { res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok'); return; }
    if (parts[0] !== 'containerLogs' || parts.length !== 4 || req.method !== 'GET') {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('404 page not found\n');
      return;
    }
    const ac = new AbortController();
    res.on('close', () => ac.abort());
    const q = url.searchParams;
    const sinceTime = q.get('sinceTime');
    const result = await this.#o.logs({
      namespace: parts[1]!, pod: parts[2]!, container: parts[3]!,
      follow: q.get('follow') === 'true', previous: q.get('previous') === 'true', timestamps: q.get('timestamps') === 'true',
      tailLines: num(q.get('tailLines')), sinceSeconds: num(q.get('sinceSeconds')), limitBytes: num(q.get('limitBytes')),
      sinceTime: sinceTime ? new Date(sinceTime) : undefined, signal: ac.signal,
    });
    if ('code' in result) {
      res.writeHead(result.code, { 'Content-Type': 'text/plain; charset=utf-8' }).end(result.message);
      return;
    }
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Transfer-Encoding': 'chunked' });
    res.flushHeaders();
    try {
      for await (const chunk of result) {
        if (!res.write(chunk)) await new Promise<void>((r) => res.once('drain', () => r()));
      }
    } catch (err) {
      if (!ac.signal.aborted) this.#o.log?.(`logs ${parts.slice(1).join('/')}: ${String(err)}`);
    }
    res.end();
  }
}
