// Helpers for tests of the proxy with real sockets on 127.0.0.1: backends, a route installer and
// plain HTTP/1.1 and HTTP/2 requests. Used by the tests of the newer annotations.
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import type { Ingress } from 'kubernetes-types/networking/v1.d.ts';
import type { Secret } from 'kubernetes-types/core/v1.d.ts';
import type { ProxyServer } from './proxy-server.ts';
import { translate } from './translate.ts';
import type { RouteTable } from './route-table.ts';
import { makeService, makeSlice } from './test-builders.ts';

export { freePort, listensHere } from '../util/test-ports.ts';

export interface TestBackend { readonly name: string; readonly port: number; close(): Promise<void> }

/** An HTTP backend answering JSON {backend, url, method, headers} unless given a handler. */
export async function startBackend(name: string, handler?: http.RequestListener): Promise<TestBackend & { server: http.Server }> {
  const server = http.createServer(handler ?? ((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ backend: name, url: req.url, method: req.method, headers: req.headers }));
  }));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { name, server, port: (server.address() as net.AddressInfo).port, close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }) };
}

/** A backend that accepts connections and never reads from them. */
export async function startStalledBackend(name: string): Promise<TestBackend> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => { sockets.add(s); s.pause(); s.on('error', () => {}); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { name, port: (server.address() as net.AddressInfo).port, close: () => new Promise((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }) };
}

/** The route table for these Ingresses, each backend a Service "NAME" port 80 (named http) with one endpoint. */
export function tableFor(ingresses: Ingress[], backends: readonly TestBackend[], secrets: Secret[] = []): RouteTable {
  const services = backends.map((b) => makeService('default', b.name, [{ name: 'http', port: 80, targetPort: 'http' }]));
  const slices = backends.map((b) => makeSlice('default', b.name, ['127.0.0.1'], [{ name: 'http', port: b.port }]));
  return translate({ ingresses, ingressClasses: [], services, endpointSlices: slices, secrets });
}

export async function install(proxy: ProxyServer, ingresses: Ingress[], backends: readonly TestBackend[], secrets: Secret[] = []): Promise<RouteTable> {
  const t = tableFor(ingresses, backends, secrets);
  await proxy.setRoutes(t);
  return t;
}

export interface Reply { status: number; headers: http.IncomingHttpHeaders; body: string }

export function request(port: number, host: string, p: string, opts: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: p, method: opts.method ?? 'GET', headers: { host, ...opts.headers }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** One HTTP/2 request over TLS (any certificate accepted). */
export function requestH2(port: number, host: string, p: string, opts: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    // A large body is queued in the session at once: room for it (the default is 10 MB).
    const session = http2.connect(`https://${host}:${port}`, { maxSessionMemory: 1024, createConnection: () => tls.connect({ host: '127.0.0.1', port, servername: host, rejectUnauthorized: false, ALPNProtocols: ['h2'] }) });
    session.on('error', reject);
    const st = session.request({ ':path': p, ':authority': host, ':method': opts.method ?? 'GET', ...opts.headers }, { endStream: opts.body === undefined });
    let status = 0;
    let headers: http.IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    st.on('response', (h) => { status = Number(h[':status']); headers = h as http.IncomingHttpHeaders; });
    st.on('data', (c: Buffer) => chunks.push(c));
    st.on('end', () => { session.close(); resolve({ status, headers, body: Buffer.concat(chunks).toString() }); });
    st.on('error', (err) => { session.destroy(); reject(err); });
    if (opts.body !== undefined) st.end(opts.body);
  });
}

/**
 * Sends a head announcing `total` body bytes and then writes the body as fast as the proxy takes
 * it, until a response head arrives; resolves with the response's first line.
 */
export function sendUntilAnswered(port: number, host: string, total: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port });
    let got = '';
    let answered = false;
    const chunk = Buffer.alloc(256 * 1024, 0x61);
    let sent = 0;
    const pump = () => {
      while (!answered && sent < total) {
        sent += chunk.length;
        if (!s.write(chunk)) { s.once('drain', pump); return; }
      }
    };
    s.on('connect', () => { s.write(`POST /upload HTTP/1.1\r\nHost: ${host}\r\nContent-Length: ${total}\r\n\r\n`); pump(); });
    s.on('data', (c: Buffer) => {
      got += c.toString('latin1');
      const eol = got.indexOf('\r\n');
      if (eol >= 0 && !answered) { answered = true; s.destroy(); resolve(got.slice(0, eol)); }
    });
    s.on('error', (err) => { if (!answered) reject(err); });
    s.on('close', () => { if (!answered) reject(new Error(`closed without an answer after ${sent} bytes`)); });
  });
}
