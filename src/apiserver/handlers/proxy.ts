// The proxy subresources (services/NAME[:PORT]/proxy, pods/NAME[:PORT]/proxy, nodes/NAME/proxy),
// which `kubectl proxy` users reach: HTTP and WebSocket, with kube-apiserver's name forms
// (`name`, `name:port`, `scheme:name:port`), its redirect of `.../proxy` to `.../proxy/`, and its
// errors (503 `no endpoints available for service "web"`, 400 `address not allowed`).
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import type { Node, Pod, Service } from 'kubernetes-types/core/v1.d.ts';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.d.ts';
import { errors, StatusError } from '../../api/errors.ts';
import { resources } from '../../api/resources.ts';
import { sendError, type ResponseStyle } from '../http.ts';
import type { ResourceRequest } from '../request-info.ts';
import type { Registry } from '../registry/registry.ts';
import { kubeletTlsOptions, type KubeletClientConfig } from './kubelet-proxy.ts';
import { refuseUpgrade, replayUpgrade } from './upgrade-proxy.ts';

const r = (name: string) => resources.find((x) => x.resource === name)!;

export interface ProxyTarget {
  scheme: 'http' | 'https';
  host: string;
  port: number;
  /** TLS client credentials (kubelet). */
  tls?: KubeletClientConfig;
}

/** `web`, `web:80`, `web:http`, `https:web:443` → scheme, name, port. */
export function parseProxyName(id: string): { scheme: string; name: string; port: string } {
  const parts = id.split(':');
  if (parts.length === 3) return { scheme: parts[0]!, name: parts[1]!, port: parts[2]! };
  if (parts.length === 2) return { scheme: '', name: parts[0]!, port: parts[1]! };
  return { scheme: '', name: id, port: '' };
}

/** kube-apiserver refuses to proxy to loopback and link-local addresses (proxyutil.IsProxyableIP). */
function checkProxyable(ip: string): void {
  if (net.isIPv4(ip) && (ip.startsWith('127.') || ip.startsWith('169.254.') || ip === '0.0.0.0')) throw errors.badRequest('address not allowed');
  if (ip === '::1' || ip.toLowerCase().startsWith('fe80:')) throw errors.badRequest('address not allowed');
}

async function serviceTarget(registry: Registry, ns: string, id: string): Promise<ProxyTarget> {
  const { scheme, name, port } = parseProxyName(id);
  const svc = await registry.get(r('services'), ns, name) as unknown as Service;
  const ports = svc.spec?.ports ?? [];
  const sp = port === '' ? ports[0] : ports.find((p) => p.name === port || String(p.port) === port);
  if (!sp) throw errors.notFound({ group: '', resource: 'services' }, `${name}:${port}`.replace(/:$/, ''));
  if (svc.spec?.type === 'ExternalName') {
    return { scheme: scheme === 'https' ? 'https' : 'http', host: svc.spec.externalName ?? '', port: sp.port };
  }
  const slices = (await registry.list(r('endpointslices'), ns, {
    filter: (o) => o.metadata.labels?.['kubernetes.io/service-name'] === name,
  })).items as unknown as EndpointSlice[];
  const candidates: { ip: string; port: number }[] = [];
  for (const s of slices) {
    const ep = (s.ports ?? []).find((p) => (p.name ?? '') === (sp.name ?? ''));
    if (!ep?.port) continue;
    for (const e of s.endpoints ?? []) {
      if (e.conditions?.ready === false) continue;
      for (const a of e.addresses) candidates.push({ ip: a, port: ep.port });
    }
  }
  if (candidates.length === 0) throw errors.serviceUnavailable(`no endpoints available for service "${name}"`);
  const pick = candidates[Math.floor(Math.random() * candidates.length)]!;
  checkProxyable(pick.ip);
  return { scheme: scheme === 'https' ? 'https' : 'http', host: pick.ip, port: pick.port };
}

async function podTarget(registry: Registry, ns: string, id: string): Promise<ProxyTarget> {
  const { scheme, name, port } = parseProxyName(id);
  const pod = await registry.get(r('pods'), ns, name) as unknown as Pod;
  const ip = pod.status?.podIP;
  if (!ip) throw errors.badRequest(`address not allowed`);
  let p = port;
  if (p === '') p = String(pod.spec?.containers.flatMap((c) => c.ports ?? [])[0]?.containerPort ?? 80);
  if (!/^\d+$/.test(p)) {
    const named = pod.spec?.containers.flatMap((c) => c.ports ?? []).find((x) => x.name === p);
    if (!named) throw errors.badRequest(`no port named ${p} in pod ${name}`);
    p = String(named.containerPort);
  }
  checkProxyable(ip);
  return { scheme: scheme === 'https' ? 'https' : 'http', host: ip, port: Number(p) };
}

async function nodeTarget(registry: Registry, id: string, kubelet: KubeletClientConfig): Promise<ProxyTarget> {
  const node = await registry.get(r('nodes'), undefined, parseProxyName(id).name) as unknown as Node;
  return nodeProxyTarget(node, id, kubelet);
}

/**
 * Where `nodes/ID/proxy` goes, as kube's node ResourceLocation decides: the kubelet (https, its
 * certificate verified) when ID names no port or the kubelet's; any other port of the node with
 * the scheme asked for (`https:node:9443`, plain http by default) and no kubelet credentials.
 */
export function nodeProxyTarget(node: Node, id: string, kubelet: KubeletClientConfig): ProxyTarget {
  const { scheme, name, port } = parseProxyName(id);
  const ip = node.status?.addresses?.find((a) => a.type === 'InternalIP')?.address;
  if (!ip) throw errors.badRequest(`node ${name} has no InternalIP address`);
  const kp = node.status?.daemonEndpoints?.kubeletEndpoint?.Port ?? 10250;
  if (port === '' || Number(port) === kp) return { scheme: 'https', host: ip, port: kp, tls: kubelet };
  if (!/^\d+$/.test(port) || Number(port) > 65535) throw errors.badRequest(`invalid port ${JSON.stringify(port)} for node ${name}`);
  checkProxyable(ip);
  return { scheme: scheme === 'https' ? 'https' : 'http', host: ip, port: Number(port) };
}

/** TLS to an https target: a node's kubelet is verified; pods and Services are not, as kube-apiserver does not verify them either. */
function targetTls(target: ProxyTarget): tls.ConnectionOptions {
  return target.tls ? kubeletTlsOptions(target.host, target.tls) : { rejectUnauthorized: false };
}

export async function resolveProxyTarget(registry: Registry, info: ResourceRequest, kubelet: KubeletClientConfig): Promise<ProxyTarget> {
  if (info.resource === 'services') return serviceTarget(registry, info.namespace!, info.name!);
  if (info.resource === 'pods') return podTarget(registry, info.namespace!, info.name!);
  return nodeTarget(registry, info.name!, kubelet);
}

function forwardHeaders(req: http.IncomingMessage): http.OutgoingHttpHeaders {
  const h: http.OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(req.headers)) {
    // Credentials for the API server are not the backend's business.
    if (k === 'authorization' || k === 'host' || v === undefined) continue;
    h[k] = v;
  }
  return h;
}

/** Plain HTTP through `.../proxy/...`. */
export function proxyHandler(registry: Registry, kubelet: KubeletClientConfig) {
  return async (req: http.IncomingMessage, res: http.ServerResponse, info: ResourceRequest, url: URL, style: ResponseStyle): Promise<void> => {
    try {
      // kube-apiserver redirects `.../proxy` to `.../proxy/` for GET so relative links work.
      if (!url.pathname.endsWith('/') && url.pathname.endsWith('/proxy') && req.method === 'GET') {
        res.writeHead(301, { Location: `${url.pathname}/${url.search}` });
        res.end();
        return;
      }
      const target = await resolveProxyTarget(registry, info, kubelet);
      const path = `/${info.rest}${url.search}`;
      const mod = target.scheme === 'https' ? https : http;
      const upstream = mod.request({
        host: target.host, port: target.port, method: req.method, path, headers: { ...forwardHeaders(req), host: `${target.host}:${target.port}` },
        ...(target.scheme === 'https' ? targetTls(target) : {}),
      });
      upstream.on('response', (ur) => {
        res.writeHead(ur.statusCode ?? 502, ur.statusMessage, ur.headers);
        ur.pipe(res);
        // Cut short by the backend: the client's response is aborted too (httputil.ReverseProxy's
        // way), so it sees a truncated body instead of waiting for the rest forever.
        ur.on('close', () => { if (!ur.complete) res.destroy(); });
      });
      upstream.on('error', (err) => {
        if (res.headersSent) { res.destroy(); return; }
        sendError(res, new StatusError(503, 'ServiceUnavailable', `error trying to reach service: ${err.message}`), style);
      });
      res.on('close', () => upstream.destroy());
      req.pipe(upstream);
    } catch (err) {
      sendError(res, err, style);
    }
  };
}

/** WebSocket (any upgrade) through `.../proxy/...`: replay the request to the backend, then copy bytes. */
export async function proxyUpgrade(registry: Registry, kubelet: KubeletClientConfig, req: http.IncomingMessage, socket: Duplex, head: Buffer,
  info: ResourceRequest, url: URL): Promise<void> {
  let target: ProxyTarget;
  try {
    target = await resolveProxyTarget(registry, info, kubelet);
  } catch (err) {
    refuseUpgrade(socket, err);
    return;
  }
  const upstream: net.Socket = target.scheme === 'https'
    ? tls.connect({ host: target.host, port: target.port, ...targetTls(target) })
    : net.connect({ host: target.host, port: target.port });
  upstream.once('error', (err) => refuseUpgrade(socket, new StatusError(503, 'ServiceUnavailable', `error trying to reach service: ${err.message}`)));
  upstream.once(target.scheme === 'https' ? 'secureConnect' : 'connect', () => {
    upstream.removeAllListeners('error');
    replayUpgrade(req, socket, head, upstream, `/${info.rest}${url.search}`, `${target.host}:${target.port}`);
  });
}
