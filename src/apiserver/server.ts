// The API server: HTTPS, authentication, and routing to health, version, discovery, OpenAPI and
// resource handlers. Everything it serves comes from the Registry and the pure API machinery.
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { errors } from '../api/errors.ts';
import { lookupResource } from '../api/resources.ts';
import { handleDiscovery, serverVersion } from './handlers/discovery.ts';
import type { KubeletClientConfig } from './handlers/kubelet-proxy.ts';
import { handleResource, type ResourceContext, type SubresourceHandler } from './handlers/resource.ts';
import { proxyUpgrade } from './handlers/proxy.ts';
import { proxyPodUpgrade, refuseUpgrade } from './handlers/upgrade-proxy.ts';
import { responseStyle, sendError, sendJson } from './http.ts';
import type { ApiMachinery } from './machinery.ts';
import { parseRequestPath } from './request-info.ts';
import type { Registry } from './registry/registry.ts';
import type { Requester } from './registry/strategy.ts';

export interface RequestAuthenticator {
  authenticate(req: { headers: http.IncomingHttpHeaders; socket: TLSSocket | Socket }): { user: string; uid?: string; groups: readonly string[] } | undefined;
}

export interface ApiServerOptions {
  registry: Registry;
  machinery: ApiMachinery;
  /** PEM material; without it the server speaks plain HTTP (tests only). */
  tls?: { key: string; cert: string; ca: string };
  authenticator?: RequestAuthenticator;
  bindAddress: string;
  port: number;
  /** The host advertised in /api's serverAddressByClientCIDRs, with the port listened on. */
  advertiseHost: string;
  /** How the API server reaches kubelets (pods/log, exec, attach, portforward). */
  kubelet?: KubeletClientConfig;
  /** Handlers for `pods/log`, `services/proxy`… keyed `resource/subresource`. */
  subresources?: Map<string, SubresourceHandler>;
  now?: () => Date;
  bookmarkIntervalMs?: number;
  log?: (msg: string) => void;
}

const anonymousPaths = new Set(['/healthz', '/livez', '/readyz', '/version', '/version/']);

/**
 * What a request without credentials may read besides those: kubeadm's cluster-info, which joining
 * nodes fetch before they trust the CA (kubeadm's Role kubeadm:bootstrap-signer-clusterinfo lets
 * system:anonymous get it).
 */
function isAnonymousRead(req: http.IncomingMessage, path: string): boolean {
  // A request with a bad token is refused, not read as anonymous (kube's union authenticator).
  return req.method === 'GET' && path === '/api/v1/namespaces/kube-public/configmaps/cluster-info' && !req.headers.authorization;
}

export class ApiServer {
  readonly #opts: ApiServerOptions;
  readonly #server: http.Server | https.Server;
  readonly #ctx: ResourceContext;
  readonly #sockets = new Set<Socket>();
  #ready = false;
  /** host:port for discovery, known once listening (the port may be 0 until then). */
  #advertised = '';

  constructor(opts: ApiServerOptions) {
    this.#opts = opts;
    this.#ctx = {
      registry: opts.registry,
      machinery: opts.machinery,
      now: opts.now ?? (() => new Date()),
      bookmarkIntervalMs: opts.bookmarkIntervalMs ?? 60_000,
    };
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => { void this.#handle(req, res); };
    this.#server = opts.tls
      ? https.createServer({ key: opts.tls.key, cert: opts.tls.cert, ca: opts.tls.ca, requestCert: true, rejectUnauthorized: false }, handler)
      : http.createServer(handler);
    this.#server.on('connection', (s: Socket) => { this.#sockets.add(s); s.on('close', () => this.#sockets.delete(s)); });
    this.#server.on('secureConnection', (s: TLSSocket) => { this.#sockets.add(s); s.on('close', () => this.#sockets.delete(s)); });
    this.#server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => { void this.#upgrade(req, socket, head); });
    this.#server.keepAliveTimeout = 65_000;
    this.#server.requestTimeout = 0; // watches and streams are long-lived
  }

  async listen(): Promise<AddressInfo> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.#opts.port, this.#opts.bindAddress, () => { this.#server.off('error', reject); resolve(); });
    });
    const addr = this.#server.address() as AddressInfo;
    this.#advertised = `${this.#opts.advertiseHost}:${addr.port}`;
    this.#ready = true;
    return addr;
  }

  async close(): Promise<void> {
    this.#ready = false;
    await new Promise<void>((resolve) => {
      this.#server.close(() => resolve());
      for (const s of this.#sockets) s.destroy();
    });
  }

  /** Upgrade requests: the pod streaming subresources, proxied to the pod's kubelet. */
  async #upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    socket.on('error', () => socket.destroy());
    const url = new URL(req.url ?? '/', 'https://localhost');
    try {
      if (this.#opts.authenticator && !this.#opts.authenticator.authenticate({ headers: req.headers, socket: req.socket as TLSSocket })) {
        throw errors.unauthorized();
      }
      const info = parseRequestPath(url.pathname);
      if (info.kind === 'resource' && info.group === '' && info.subresource === 'proxy' && info.name &&
        (info.resource === 'services' || info.resource === 'pods' || info.resource === 'nodes')) {
        if (!this.#opts.kubelet) throw errors.serviceUnavailable('proxying is not configured');
        await proxyUpgrade(this.#opts.registry, this.#opts.kubelet, req, socket, head, info, url);
        return;
      }
      const streaming = info.kind === 'resource' && info.group === '' && info.resource === 'pods' && info.namespace && info.name &&
        (info.subresource === 'portforward' || info.subresource === 'exec' || info.subresource === 'attach');
      if (!streaming || info.kind !== 'resource') throw errors.badRequest(`the server does not support upgrades on ${url.pathname}`);
      if (!this.#opts.kubelet) throw errors.serviceUnavailable('no node agent is configured to serve pod streams');
      await proxyPodUpgrade(this.#opts.registry, this.#opts.kubelet, req, socket, head, info, url);
    } catch (err) {
      refuseUpgrade(socket, err);
    }
  }

  async #handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://localhost');
    const style = responseStyle(req, url);
    try {
      const path = url.pathname;
      if (path === '/healthz' || path === '/livez' || path === '/readyz' || path.startsWith('/healthz/') || path.startsWith('/livez/') || path.startsWith('/readyz/')) {
        const ok = path.startsWith('/readyz') ? this.#ready : true;
        res.writeHead(ok ? 200 : 500, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' });
        res.end(ok ? 'ok' : 'not ready');
        return;
      }
      if (path === '/version' || path === '/version/') {
        sendJson(res, 200, serverVersion, { pretty: true });
        return;
      }
      // Who is asking, for the writes that record it (a CSR's spec.username and groups).
      let requester: Requester | undefined;
      if (this.#opts.authenticator && !anonymousPaths.has(path)) {
        const who = this.#opts.authenticator.authenticate({ headers: req.headers, socket: req.socket as TLSSocket });
        requester = who;
        if (!who && !isAnonymousRead(req, path)) {
          sendJson(res, 401, errors.unauthorized().toStatus(), style);
          return;
        }
      }
      if (path === '/openapi/v2') {
        // kubectl falls back cleanly when v2 is missing and v3 is served (notes/kubectl-api-surface.md §4.3).
        sendError(res, errors.notFoundPath(), style);
        return;
      }
      if (path === '/openapi/v3' || path === '/openapi/v3/') {
        sendJson(res, 200, this.#opts.machinery.openapiV3Root(), style);
        return;
      }
      if (path.startsWith('/openapi/v3/')) {
        const doc = this.#opts.machinery.openapiV3Document(path.slice('/openapi/v3/'.length));
        if (!doc) { sendError(res, errors.notFoundPath(), style); return; }
        const asked = url.searchParams.get('hash');
        if (asked && asked !== doc.hash) {
          res.writeHead(301, { Location: `${path}?hash=${doc.hash}` });
          res.end();
          return;
        }
        res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': asked ? 'public, immutable' : 'no-cache, private', Etag: `"${doc.hash}"` });
        res.end(doc.body);
        return;
      }
      if (handleDiscovery(req, res, url, this.#advertised)) return;
      const info = parseRequestPath(path);
      if (info.kind === 'resource') {
        const r = lookupResource(info.group, info.version, info.resource);
        if (r) {
          const sub = info.subresource && info.subresource !== 'status' && info.subresource !== 'finalize' && info.subresource !== 'approval'
            ? this.#opts.subresources?.get(`${r.resource}/${info.subresource}`) : undefined;
          if (sub) { await sub(req, res, info, url); return; }
          await handleResource(this.#ctx, req, res, url, info, r, requester);
          return;
        }
      }
      sendError(res, errors.notFoundPath(), style);
    } catch (err) {
      sendError(res, err, style);
    }
  }
}
