// pods/portforward, pods/exec and pods/attach: like kube-apiserver's UpgradeAwareHandler, the API
// server opens a TLS connection to the pod's kubelet, replays the upgrade request there, and then
// copies bytes both ways; the kubelet speaks the streaming protocols (src/streams).
import type { IncomingMessage } from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { errors, StatusError, toStatusError } from '../../api/errors.ts';
import type { ResourceRequest } from '../request-info.ts';
import type { Registry } from '../registry/registry.ts';
import { chooseContainer, kubeletTlsOptions, type KubeletClientConfig, locateKubelet } from './kubelet-proxy.ts';

/** Writes a Status as a plain HTTP answer on a socket that was never upgraded. */
export function refuseUpgrade(socket: Duplex, err: unknown): void {
  const st = toStatusError(err).toStatus();
  const body = JSON.stringify(st);
  const reason = st.code === 404 ? 'Not Found' : st.code === 400 ? 'Bad Request' : st.code === 401 ? 'Unauthorized' : 'Error';
  socket.end(`HTTP/1.1 ${st.code} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

/** The kubelet path for a pod streaming subresource. */
async function kubeletTarget(registry: Registry, info: ResourceRequest, url: URL) {
  const loc = await locateKubelet(registry, info.namespace!, info.name!);
  if (!loc) throw errors.badRequest(`pod ${info.name} does not have a host assigned`);
  const phase = loc.pod.status?.phase;
  const ns = encodeURIComponent(info.namespace!);
  const pod = encodeURIComponent(info.name!);
  if (info.subresource === 'portforward') return { loc, path: `/portForward/${ns}/${pod}${url.search}` };
  if (phase === 'Succeeded' || phase === 'Failed') {
    throw errors.badRequest(`cannot exec into a container in a completed pod; current phase is ${phase}`);
  }
  const container = chooseContainer(loc.pod, url.searchParams.get('container'));
  const verb = info.subresource === 'exec' ? 'exec' : 'attach';
  return { loc, path: `/${verb}/${ns}/${pod}/${encodeURIComponent(container)}${url.search}` };
}

export async function proxyPodUpgrade(registry: Registry, kubelet: KubeletClientConfig, req: IncomingMessage, socket: Duplex, head: Buffer,
  info: ResourceRequest, url: URL): Promise<void> {
  let target: Awaited<ReturnType<typeof kubeletTarget>>;
  try {
    target = await kubeletTarget(registry, info, url);
  } catch (err) {
    refuseUpgrade(socket, err);
    return;
  }
  const upstream = tls.connect({
    host: target.loc.host, port: target.loc.port, ...kubeletTlsOptions(target.loc.host, kubelet),
  });
  upstream.once('error', (err) => {
    refuseUpgrade(socket, new StatusError(500, 'InternalError', `error dialing backend: ${err.message}`));
  });
  upstream.once('secureConnect', () => {
    upstream.removeAllListeners('error');
    replayUpgrade(req, socket, head, upstream, target.path, `${target.loc.host}:${target.loc.port}`);
  });
}

/**
 * Sends the client's upgrade request to an already connected backend (with `path` and `host`, and
 * without the API server's credentials), then copies bytes both ways until either side closes.
 * The backend's own answer (101, or an error) goes back to the client as it is.
 */
export function replayUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, upstream: Duplex, path: string, host: string): void {
  const lines = [`${req.method} ${path} HTTP/1.1`, `Host: ${host}`];
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const lower = raw[i]!.toLowerCase();
    // Credentials stay here (kube-apiserver removes them too); Host is the backend's.
    if (lower === 'authorization' || lower === 'host') continue;
    lines.push(`${raw[i]}: ${raw[i + 1]}`);
  }
  // Streams carry small interactive writes (a keystroke, one echo): Nagle's delay would add
  // ~40 ms to each round trip on both hops.
  if (upstream instanceof net.Socket) upstream.setNoDelay(true);
  if (socket instanceof net.Socket) socket.setNoDelay(true);
  upstream.write(lines.join('\r\n') + '\r\n\r\n');
  if (head.length) upstream.write(head);
  socket.pipe(upstream);
  upstream.pipe(socket);
  const close = () => { socket.destroy(); upstream.destroy(); };
  socket.on('error', close);
  upstream.on('error', close);
  socket.on('close', () => upstream.end());
  upstream.on('close', () => socket.end());
}
