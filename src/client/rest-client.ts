// The Kubernetes REST client every component uses to reach the API server (podgate's own, or a
// real cluster's): JSON over HTTPS with a bearer token or client certificate, watch streams as
// async iterables, errors turned back into StatusError.
import http from 'node:http';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { StatusError, type Status } from '../api/errors.ts';
import type { KObject } from '../api/object.ts';
import { apiVersionOf, type ResourceInfo } from '../api/resources.ts';

export interface ClientConfig {
  server: string; // https://127.0.0.1:6443
  caPem?: string;
  token?: string;
  certPem?: string;
  keyPem?: string;
  insecureSkipVerify?: boolean;
  userAgent?: string;
}

export interface ObjectList {
  apiVersion: string;
  kind: string;
  metadata: { resourceVersion?: string; continue?: string };
  items: KObject[];
}

export interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: KObject;
}

export interface ListQuery {
  labelSelector?: string;
  fieldSelector?: string;
  limit?: number;
  continue?: string;
  resourceVersion?: string;
}

/** Reads a kubeconfig file's current context into a ClientConfig. */
export function configFromKubeconfig(path: string): ClientConfig {
  const kc = parseYaml(readFileSync(path, 'utf8')) as {
    'current-context'?: string;
    contexts?: { name: string; context: { cluster: string; user: string } }[];
    clusters?: { name: string; cluster: { server: string; 'certificate-authority-data'?: string; 'certificate-authority'?: string; 'insecure-skip-tls-verify'?: boolean } }[];
    users?: { name: string; user: { token?: string; 'client-certificate-data'?: string; 'client-key-data'?: string; 'client-certificate'?: string; 'client-key'?: string } }[];
  };
  const ctx = kc.contexts?.find((c) => c.name === kc['current-context']) ?? kc.contexts?.[0];
  if (!ctx) throw new Error(`${path}: no context in kubeconfig`);
  const cluster = kc.clusters?.find((c) => c.name === ctx.context.cluster)?.cluster;
  const user = kc.users?.find((u) => u.name === ctx.context.user)?.user ?? {};
  if (!cluster) throw new Error(`${path}: cluster ${ctx.context.cluster} not found`);
  const b64 = (s: string | undefined) => (s ? Buffer.from(s, 'base64').toString('utf8') : undefined);
  const file = (s: string | undefined) => (s ? readFileSync(s, 'utf8') : undefined);
  return {
    server: cluster.server,
    caPem: b64(cluster['certificate-authority-data']) ?? file(cluster['certificate-authority']),
    insecureSkipVerify: cluster['insecure-skip-tls-verify'],
    token: user.token,
    certPem: b64(user['client-certificate-data']) ?? file(user['client-certificate']),
    keyPem: b64(user['client-key-data']) ?? file(user['client-key']),
  };
}

/** The URL path of a resource collection or object. */
export function resourcePath(r: ResourceInfo, namespace?: string, name?: string, subresource?: string): string {
  const base = r.group ? `/apis/${r.group}/${r.version}` : `/api/${r.version}`;
  let p = r.namespaced && namespace !== undefined ? `${base}/namespaces/${encodeURIComponent(namespace)}/${r.resource}` : `${base}/${r.resource}`;
  if (name !== undefined) p += `/${encodeURIComponent(name)}`;
  if (subresource) p += `/${subresource}`;
  return p;
}

function queryString(q: Record<string, string | number | boolean | undefined>): string {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v !== undefined && v !== '') u.set(k, String(v));
  const s = u.toString();
  return s ? `?${s}` : '';
}

export class KubeClient {
  readonly #url: URL;
  readonly #agent: http.Agent;
  readonly #headers: Record<string, string>;
  readonly #mod: typeof http | typeof https;

  constructor(cfg: ClientConfig) {
    this.#url = new URL(cfg.server);
    const isHttps = this.#url.protocol === 'https:';
    this.#mod = isHttps ? https : http;
    // No socket limit: every informer holds a watch open for minutes, and in `podgate up` all the
    // components share one client; a limit would leave requests queued behind watches forever.
    this.#agent = isHttps
      ? new https.Agent({ keepAlive: true, ca: cfg.caPem, cert: cfg.certPem, key: cfg.keyPem, rejectUnauthorized: !cfg.insecureSkipVerify })
      : new http.Agent({ keepAlive: true });
    this.#headers = { 'User-Agent': cfg.userAgent ?? 'podgate' };
    if (cfg.token) this.#headers.Authorization = `Bearer ${cfg.token}`;
  }

  close(): void {
    this.#agent.destroy();
  }

  /** One request; resolves to the parsed JSON body, rejects with StatusError on 4xx/5xx. */
  request<T = unknown>(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<T> {
    return new Promise((resolve, reject) => {
      const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
      const req = this.#mod.request({
        hostname: this.#url.hostname, port: this.#url.port, path, method, agent: this.#agent,
        headers: { ...this.#headers, Accept: 'application/json', ...(data ? { 'Content-Type': contentType, 'Content-Length': data.length } : {}) },
      }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          try { parsed = text ? JSON.parse(text) : undefined; } catch { /* plain text */ }
          if ((res.statusCode ?? 500) >= 400) { reject(toError(res.statusCode ?? 500, parsed, text)); return; }
          resolve(parsed as T);
        });
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(data);
    });
  }

  get(r: ResourceInfo, namespace: string | undefined, name: string): Promise<KObject> {
    return this.request('GET', resourcePath(r, namespace, name));
  }

  list(r: ResourceInfo, namespace?: string, q: ListQuery = {}): Promise<ObjectList> {
    return this.request('GET', resourcePath(r, namespace) + queryString({ ...q }));
  }

  create(r: ResourceInfo, namespace: string | undefined, obj: KObject): Promise<KObject> {
    return this.request('POST', resourcePath(r, namespace), { ...obj, apiVersion: apiVersionOf(r.group, r.version), kind: r.kind });
  }

  update(r: ResourceInfo, obj: KObject, subresource?: string): Promise<KObject> {
    return this.request('PUT', resourcePath(r, obj.metadata.namespace, obj.metadata.name!, subresource), obj);
  }

  patch(r: ResourceInfo, namespace: string | undefined, name: string, patch: unknown,
    type: 'merge' | 'strategic' | 'json' = 'merge', subresource?: string): Promise<KObject> {
    const ct = type === 'merge' ? 'application/merge-patch+json' : type === 'json' ? 'application/json-patch+json' : 'application/strategic-merge-patch+json';
    return this.request('PATCH', resourcePath(r, namespace, name, subresource), patch, ct);
  }

  delete(r: ResourceInfo, namespace: string | undefined, name: string, opts: { gracePeriodSeconds?: number; preconditions?: { uid?: string } } = {}): Promise<KObject> {
    return this.request('DELETE', resourcePath(r, namespace, name), { kind: 'DeleteOptions', apiVersion: 'v1', ...opts });
  }

  /**
   * Opens a watch; events arrive through `onEvent` until the server ends the stream (resolve) or it
   * fails (reject). `abort` closes it early.
   */
  watch(r: ResourceInfo, namespace: string | undefined, q: ListQuery & { allowWatchBookmarks?: boolean; timeoutSeconds?: number },
    onEvent: (ev: WatchEvent) => void, signal?: AbortSignal): Promise<void> {
    const path = resourcePath(r, namespace) + queryString({ ...q, watch: 'true' });
    return new Promise((resolve, reject) => {
      const req = this.#mod.request({
        hostname: this.#url.hostname, port: this.#url.port, path, method: 'GET', agent: this.#agent,
        headers: { ...this.#headers, Accept: 'application/json' }, signal,
      }, (res) => {
        if ((res.statusCode ?? 500) >= 400) {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown;
            try { parsed = JSON.parse(text); } catch { parsed = undefined; }
            reject(toError(res.statusCode ?? 500, parsed, text));
          });
          return;
        }
        let buf = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buf += chunk;
          let nl: number;
          while ((nl = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, nl);
            buf = buf.slice(nl + 1);
            if (!line.trim()) continue;
            const ev = JSON.parse(line) as WatchEvent;
            if (ev.type === 'ERROR') {
              const st = ev.object as unknown as Status;
              reject(new StatusError(st.code, st.reason ?? 'InternalError', st.message ?? 'watch error'));
              req.destroy();
              return;
            }
            onEvent(ev);
          }
        });
        res.on('end', () => resolve());
        res.on('error', (err) => (signal?.aborted ? resolve() : reject(err)));
      });
      req.on('error', (err) => (signal?.aborted ? resolve() : reject(err)));
      req.end();
    });
  }
}

function toError(code: number, parsed: unknown, text: string): StatusError {
  if (typeof parsed === 'object' && parsed !== null && (parsed as Status).kind === 'Status') {
    const st = parsed as Status;
    return new StatusError(st.code ?? code, st.reason ?? 'InternalError', st.message ?? text, st.details);
  }
  return new StatusError(code, code === 404 ? 'NotFound' : 'InternalError', text || `HTTP ${code}`);
}
