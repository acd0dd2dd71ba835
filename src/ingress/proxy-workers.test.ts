// The proxy on two worker threads sharing the ports (SO_REUSEPORT) on 127.0.0.1, with a real
// backend: new connections are spread over both workers, a rate limit counts once across them,
// route changes reach every worker before setRoutes resolves, HTTPS answers, tcp-services stays
// on the main thread, and stop() leaves nothing listening.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { Ingress } from 'kubernetes-types/networking/v1.d.ts';
import type { AccessEntry } from './http1-connection.ts';
import { startMetricsServer } from './metrics-server.ts';
import { ProxyWorkers } from './proxy-workers.ts';
import { freePort, listensHere } from './proxy-test-kit.ts';
import { translate } from './translate.ts';
import { makeIngress, makeService, makeSlice, path, rule } from './test-builders.ts';

function get(port: number, host: string, p = '/', secure = false): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const mod = secure ? https : http;
    const req = mod.request({ host: '127.0.0.1', port, path: p, headers: { host }, agent: false, rejectUnauthorized: false, servername: host }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => { body += c.toString(); });
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('proxy workers', () => {
  let backend: http.Server;
  let echo: net.Server;
  let backendPort = 0;
  let echoPort = 0;
  let streamPort = 0;
  let proxy: ProxyWorkers;
  const access: AccessEntry[] = [];

  async function routes(ingresses: Ingress[]): Promise<void> {
    await proxy.setRoutes(translate({
      ingresses, ingressClasses: [],
      services: [makeService('default', 'web', [{ name: 'http', port: 80 }]), makeService('default', 'echo', [{ name: 'tcp', port: 7 }])],
      endpointSlices: [makeSlice('default', 'web', ['127.0.0.1'], [{ name: 'http', port: backendPort }]), makeSlice('default', 'echo', ['127.0.0.1'], [{ name: 'tcp', port: echoPort }])],
      secrets: [],
      configMaps: [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { namespace: 'ingress', name: 'tcp-services' }, data: { [String(streamPort)]: 'default/echo:7' } }],
    }, { tcpServicesConfigMap: 'ingress/tcp-services' }));
  }

  before(async () => {
    // Answers with the X-Request-ID it got: its prefix is per worker thread.
    backend = http.createServer((req, res) => res.end(String(req.headers['x-request-id'])));
    await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
    backendPort = (backend.address() as net.AddressInfo).port;
    echo = net.createServer((s) => s.pipe(s));
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    echoPort = (echo.address() as net.AddressInfo).port;
    const free = net.createServer();
    await new Promise<void>((r) => free.listen(0, '127.0.0.1', r));
    streamPort = (free.address() as net.AddressInfo).port;
    await new Promise<void>((r) => free.close(() => r()));
    proxy = new ProxyWorkers({ workers: 2, httpPort: 0, httpsPort: 0, bindAddress: '127.0.0.1', onAccess: (e) => access.push(e) });
    await proxy.start();
    assert.equal(proxy.workers, 2);
    await routes([makeIngress('default', 'web', (i) => { i.spec!.rules = [rule('web.example.com', path('/', 'web', 80))]; })]);
  });

  after(async () => {
    await proxy?.stop();
    backend?.closeAllConnections();
    await new Promise<void>((r) => (backend ? backend.close(() => r()) : r()));
    await new Promise<void>((r) => (echo ? echo.close(() => r()) : r()));
  });

  it('spreads new connections over both workers, every one answered', async () => {
    const ids = await Promise.all(Array.from({ length: 60 }, () => get(proxy.httpPort!, 'web.example.com')));
    assert.ok(ids.every((r) => r.status === 200), JSON.stringify(ids.filter((r) => r.status !== 200)));
    const prefixes = new Set(ids.map((r) => r.body.slice(0, 16)));
    assert.equal(prefixes.size, 2, `request-id prefixes seen: ${[...prefixes].join(', ')}`);
  });

  it('serves HTTPS with the generated default certificate on every worker', async () => {
    const rs = await Promise.all(Array.from({ length: 10 }, () => get(proxy.httpsPort!, 'web.example.com', '/', true)));
    assert.ok(rs.every((r) => r.status === 200));
  });

  it('a route change is served by every worker once setRoutes resolves', async () => {
    await routes([makeIngress('default', 'web', (i) => { i.spec!.rules = [rule('new.example.com', path('/', 'web', 80))]; })]);
    const rs = await Promise.all(Array.from({ length: 40 }, () => get(proxy.httpPort!, 'web.example.com')));
    assert.ok(rs.every((r) => r.status === 404), 'the old host is gone on every worker');
    const ns = await Promise.all(Array.from({ length: 40 }, () => get(proxy.httpPort!, 'new.example.com')));
    assert.ok(ns.every((r) => r.status === 200));
  });

  it('limit-rps counts once across workers (shared memory), as nginx zones do', async () => {
    await routes([makeIngress('default', 'web', (i) => {
      i.metadata!.annotations = { 'nginx.ingress.kubernetes.io/limit-rps': '1' };
      i.spec!.rules = [rule('rl.example.com', path('/', 'web', 80))];
    })]);
    // rps 1 × burst multiplier 5: 6 pass at once (7 if a second goes by); per-worker buckets would pass 12.
    const rs: number[] = [];
    for (let i = 0; i < 24; i++) rs.push((await get(proxy.httpPort!, 'rl.example.com')).status);
    const ok = rs.filter((s) => s === 200).length;
    assert.ok(ok >= 6 && ok <= 8, `${ok} of 24 passed: ${rs.join(' ')}`);
    assert.equal(rs.filter((s) => s === 503).length, 24 - ok);
  });

  it('tcp-services entries are served from the main thread', async () => {
    const port = proxy.tcpServicePort(streamPort);
    assert.ok(port, 'tcp-services listener bound');
    const reply = await new Promise<string>((resolve, reject) => {
      const c = net.connect(port, '127.0.0.1', () => c.write('ping'));
      let got = '';
      c.on('data', (d: Buffer) => { got += d.toString(); if (got === 'ping') c.end(); });
      c.on('close', () => resolve(got));
      c.on('error', reject);
    });
    assert.equal(reply, 'ping');
  });

  it('access entries come back from the workers', async () => {
    await get(proxy.httpPort!, 'nothing.example.com', '/access-probe');
    for (let i = 0; i < 50 && !access.some((e) => e.target === '/access-probe'); i++) await new Promise((r) => setTimeout(r, 20));
    const e = access.find((x) => x.target === '/access-probe');
    assert.equal(e?.status, 404);
  });

  it('a plain HTTP request on the HTTPS port gets nginx\'s 400 from the worker threads (20 connections, spread over both), and is access-logged', async () => {
    const answers = await Promise.all(Array.from({ length: 20 }, (_, n) => new Promise<string>((resolve) => {
      const s = net.connect(proxy.httpsPort!, '127.0.0.1', () => s.write(`GET /plain-${n} HTTP/1.1\r\nHost: web.example.com\r\n\r\n`));
      let got = '';
      s.on('data', (c: Buffer) => { got += c.toString('latin1'); });
      s.on('error', () => {});
      s.on('close', () => resolve(got));
    })));
    for (const a of answers) {
      assert.match(a, /^HTTP\/1\.1 400 Bad Request\r\n[^]*\r\nConnection: close\r\n\r\n<html>\r\n<head><title>400 The plain HTTP request was sent to HTTPS port<\/title><\/head>\r\n/);
    }
    const logged = () => access.filter((e) => e.target.startsWith('/plain-'));
    for (let i = 0; i < 50 && logged().length < 20; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(logged().length, 20);
    assert.ok(logged().every((e) => e.status === 400 && e.method === 'GET' && e.host === 'web.example.com' && e.ingress === undefined));
  });

  it('metrics add up every worker\'s counts, served at /metrics in the Prometheus format', async () => {
    const snap = await proxy.metrics();
    const web = snap.find((x) => x.labels[1] === 'web' && x.labels[3] === 'web.example.com' && x.labels[5] === '200');
    // 60 + 10 (HTTPS) requests answered 200 on web.example.com before its route moved.
    assert.equal(web?.count, 70);
    const server = await startMetricsServer({ proxy, port: 0, bindAddress: '127.0.0.1', controllerClass: 'podgate.io/ingress' });
    try {
      const r = await get(server.port, 'metrics', '/metrics');
      assert.equal(r.status, 200);
      assert.match(r.body, /nginx_ingress_controller_requests\{controller_class="podgate.io\/ingress",namespace="default",ingress="web",service="web",host="web.example.com",method="GET",status="200"\} 70\n/);
      assert.equal((await get(server.port, 'metrics', '/healthz')).status, 200);
    } finally {
      await server.close();
    }
  });

  it('stop() closes every listener', async () => {
    const p = proxy.httpPort!;
    assert.ok(listensHere(p), 'the proxy listens before stop()');
    await proxy.stop();
    assert.equal(listensHere(p), false, 'nothing of this process listens after stop()');
  });
});

describe('proxy workers starting and stopping', () => {
  it('a port someone else holds fails the start with EADDRINUSE (SO_REUSEPORT does not hide it) and leaves nothing listening', async () => {
    const httpPort = await freePort();
    const holder = net.createServer();
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
    try {
      const proxy = new ProxyWorkers({ workers: 2, httpPort, httpsPort: (holder.address() as net.AddressInfo).port, bindAddress: '127.0.0.1' });
      await assert.rejects(proxy.start(), /EADDRINUSE/);
      assert.equal(proxy.workers, 0);
      assert.equal(listensHere(httpPort), false, 'the HTTP port is free again');
    } finally {
      await new Promise<void>((r) => holder.close(() => r()));
    }
  });

  it('stop() while start() runs ends every thread it started', async () => {
    const httpPort = await freePort();
    const proxy = new ProxyWorkers({ workers: 3, httpPort, httpsPort: null, bindAddress: '127.0.0.1' });
    const starting = proxy.start();
    await new Promise((r) => setTimeout(r, 20));
    await proxy.stop();
    await assert.rejects(starting);
    assert.equal(proxy.workers, 0);
    assert.equal(listensHere(httpPort), false, 'nothing listens after stop');
  });
});
