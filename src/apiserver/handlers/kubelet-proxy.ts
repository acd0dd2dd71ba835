// Subresources the kubelet answers (pods/log today; exec, attach and portforward with the
// streams work): the API server finds the pod's node and its kubelet endpoint, and streams the
// kubelet's answer back, as kube-apiserver does over HTTPS to port 10250.
import https from 'node:https';
import tls from 'node:tls';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Node, Pod } from 'kubernetes-types/core/v1.d.ts';
import { errors, StatusError } from '../../api/errors.ts';
import { resources } from '../../api/resources.ts';
import { responseStyle, sendError } from '../http.ts';
import type { ResourceRequest } from '../request-info.ts';
import type { Registry } from '../registry/registry.ts';

const podsInfo = resources.find((r) => r.resource === 'pods')!;
const nodesInfo = resources.find((r) => r.resource === 'nodes')!;

export interface KubeletClientConfig {
  /** The kubelet-serving CA (kube-apiserver's --kubelet-certificate-authority). */
  ca: string;
  /** The API server's client certificate, which kubelets accept (--kubelet-client-certificate). */
  cert: string;
  key: string;
}

/**
 * TLS options for reaching a kubelet at `host`: our client certificate, and its serving
 * certificate checked against the kubelet-serving CA and for naming `host`, the address its Node
 * reports (kube-apiserver with --kubelet-certificate-authority): another node's certificate fails.
 */
export function kubeletTlsOptions(host: string, kubelet: KubeletClientConfig): tls.ConnectionOptions {
  return {
    ca: kubelet.ca, cert: kubelet.cert, key: kubelet.key, servername: undefined,
    checkServerIdentity: (_servername, cert) => tls.checkServerIdentity(host, cert),
  };
}

export interface KubeletLocation {
  host: string;
  port: number;
  pod: Pod;
}

/** Where the pod's kubelet listens; throws the Status kube-apiserver answers when it cannot say. */
export async function locateKubelet(registry: Registry, namespace: string, name: string): Promise<KubeletLocation | undefined> {
  const pod = await registry.get(podsInfo, namespace, name) as unknown as Pod;
  const nodeName = pod.spec?.nodeName;
  if (!nodeName) return undefined;
  const node = await registry.get(nodesInfo, undefined, nodeName) as unknown as Node;
  const ip = node.status?.addresses?.find((a) => a.type === 'InternalIP')?.address;
  const port = node.status?.daemonEndpoints?.kubeletEndpoint?.Port ?? 10250;
  if (!ip) throw errors.internal(`node "${nodeName}" has no InternalIP address`);
  return { host: ip, port, pod };
}

/** Picks the container as kube-apiserver does for logs/exec/attach. */
export function chooseContainer(pod: Pod, requested: string | null): string {
  const names = (pod.spec?.containers ?? []).map((c) => c.name);
  const all = [...names, ...(pod.spec?.initContainers ?? []).map((c) => c.name), ...(pod.spec?.ephemeralContainers ?? []).map((c) => c.name)];
  if (requested) {
    if (!all.includes(requested)) throw errors.badRequest(`container ${requested} is not valid for pod ${pod.metadata?.name}`);
    return requested;
  }
  if (names.length === 1) return names[0]!;
  throw errors.badRequest(`a container name must be specified for pod ${pod.metadata?.name}, choose one of: [${names.join(' ')}]`);
}

/** `GET pods/NAME/log`: streamed from the kubelet's /containerLogs. */
export function podLogHandler(registry: Registry, kubelet: KubeletClientConfig) {
  return async (req: IncomingMessage, res: ServerResponse, info: ResourceRequest, url: URL): Promise<void> => {
    const style = responseStyle(req, url);
    try {
      if (req.method !== 'GET') throw errors.methodNotAllowed('the server does not allow this method on the requested resource');
      const loc = await locateKubelet(registry, info.namespace!, info.name!);
      if (!loc) {
        // kube-apiserver answers an unscheduled pod's log request with no content.
        res.writeHead(204);
        res.end();
        return;
      }
      const container = chooseContainer(loc.pod, url.searchParams.get('container'));
      const q = new URLSearchParams();
      for (const k of ['follow', 'previous', 'tailLines', 'sinceSeconds', 'sinceTime', 'timestamps', 'limitBytes']) {
        const v = url.searchParams.get(k);
        if (v !== null) q.set(k, v);
      }
      const path = `/containerLogs/${encodeURIComponent(info.namespace!)}/${encodeURIComponent(info.name!)}/${encodeURIComponent(container)}${q.size ? `?${q}` : ''}`;
      const upstream = https.request({ host: loc.host, port: loc.port, path, method: 'GET', ...kubeletTlsOptions(loc.host, kubelet) });
      upstream.on('response', (ur) => {
        if ((ur.statusCode ?? 500) >= 400) {
          // kube-apiserver turns a kubelet error into a Status carrying the kubelet's text
          // (GenericHttpResponseChecker), so kubectl prints `Error from server (BadRequest): ...`.
          const chunks: Buffer[] = [];
          ur.on('data', (c: Buffer) => chunks.push(c));
          ur.on('end', () => {
            const code = ur.statusCode ?? 500;
            const reason = code === 400 ? 'BadRequest' : code === 404 ? 'NotFound' : code === 403 ? 'Forbidden' : 'InternalError';
            sendError(res, new StatusError(code, reason, Buffer.concat(chunks).toString('utf8').trim()), style);
          });
          return;
        }
        const ct = ur.headers['content-type'] ?? 'text/plain';
        res.writeHead(ur.statusCode ?? 500, { 'Content-Type': ct, 'Cache-Control': 'no-cache, private' });
        res.flushHeaders();
        ur.pipe(res);
        ur.on('close', () => { if (!ur.complete) res.destroy(); });
      });
      upstream.on('error', (err) => {
        if (res.headersSent) { res.destroy(); return; }
        // kube-apiserver's words when the kubelet cannot be reached (notes/kubectl-api-surface.md §13).
        sendError(res, new StatusError(500, 'InternalError', `Get "https://${loc.host}:${loc.port}${path}": ${err.message}`), style);
      });
      res.on('close', () => upstream.destroy());
      upstream.end();
    } catch (err) {
      sendError(res, err instanceof StatusError ? err : errors.internal(String(err)), style);
    }
  };
}
