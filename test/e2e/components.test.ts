// `podgate ingress --kubeconfig FILE` runs one part against any API server (here podgate's own
// control plane, reached only through the kubeconfig, as a real cluster would be).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { expectOk, freePort, type Podgate, startPodgate } from './harness.ts';

describe('podgate ingress against a cluster by kubeconfig', () => {
  let pg: Podgate;
  let ingress: ChildProcess | undefined;
  let port: number;
  let metricsPort: number;
  let accessLog: string;

  before(async () => {
    pg = await startPodgate();
    port = await freePort();
    metricsPort = await freePort();
    accessLog = join(pg.dataDir, 'ingress-access.log');
    ingress = spawn(join(import.meta.dirname, '../../bin/podgate'), ['ingress', '--kubeconfig', pg.kubeconfig, '--node-ip', '127.0.0.1',
      '--http-port', String(port), '--https-port', '0', '--data-dir', join(pg.dataDir, 'ingress'),
      '--workers', '2', '--metrics-port', String(metricsPort), '--access-log', accessLog, '--bind-address', '127.0.0.1'], { stdio: ['ignore', 'pipe', 'pipe'] });
    await new Promise<void>((resolve, reject) => {
      let out = '';
      const t = setTimeout(() => reject(new Error(`podgate ingress did not start: ${out}`)), 20_000);
      const on = (d: Buffer) => { out += d.toString(); if (out.includes('is running')) { clearTimeout(t); resolve(); } };
      ingress!.stdout!.on('data', on);
      ingress!.stderr!.on('data', on);
      ingress!.once('exit', (code) => { clearTimeout(t); reject(new Error(`podgate ingress exited ${code}: ${out}`)); });
    });
  });
  after(async () => {
    if (ingress && ingress.exitCode === null) {
      ingress.kill('SIGTERM');
      await new Promise((r) => ingress!.once('exit', r));
    }
    await pg?.stop();
  });

  it('serves and reports the Ingresses of the cluster', async () => {
    expectOk(await pg.apply(`apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: { name: web }
spec:
  ingressClassName: nginx
  defaultBackend: { service: { name: nothing-here, port: { number: 80 } } }
  rules:
    - host: web.example.com
      http: { paths: [{ path: /, pathType: Prefix, backend: { service: { name: nothing-here, port: { number: 80 } } } }] }
`), 'apply');
    let address = '';
    for (let i = 0; i < 50 && !address; i++) {
      address = expectOk(await pg.kubectl(['get', 'ingress', 'web', '-o', 'jsonpath={.status.loadBalancer.ingress[0].ip}']), 'get');
      if (!address) await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(address, '127.0.0.1');
    // The Service does not exist: the route is there but has no endpoints (503). An Ingress with rules
    // and a defaultBackend does not catch other hosts (ingress-nginx: only one without rules does): 404.
    // node:http, not fetch: fetch replaces a Host header with the URL's authority.
    const code = (host: string) => new Promise<number>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port, path: '/', headers: { host }, agent: false }, (res) => { res.resume(); resolve(res.statusCode!); }).on('error', reject);
    });
    assert.equal(await code('web.example.com'), 503);
    assert.equal(await code('other.example.com'), 404, 'other hosts are not this Ingress\'s');
  });

  it('counts the requests in /metrics under ingress-nginx\'s names and logs each as a JSON line', async () => {
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    assert.match(metrics, /^nginx_ingress_controller_requests\{controller_class="podgate.io\/ingress",namespace="default",ingress="web",service="nothing-here",host="web.example.com",method="GET",status="503"\} 1$/m);
    // other.example.com matched no Ingress: counted with empty labels, never with the Host header.
    assert.match(metrics, /^nginx_ingress_controller_request_duration_seconds_count\{controller_class="podgate.io\/ingress",namespace="",ingress="",service="",host="",method="GET",status="404"\} 1$/m);
    let lines: Record<string, unknown>[] = [];
    for (let i = 0; i < 50 && lines.length < 2; i++) {
      lines = readFileSync(accessLog, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
      if (lines.length < 2) await new Promise((r) => setTimeout(r, 100));
    }
    // Two worker threads: the lines of the two requests may come in either order.
    assert.deepEqual(lines.map((l) => [l.host, l.status, l.ingress, l.service]).sort(), [
      ['other.example.com', 404, '', ''],
      ['web.example.com', 503, 'default/web', 'default/nothing-here:80'],
    ]);
  });
});
