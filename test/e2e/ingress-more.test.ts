// The ingress controller end to end, continued: ssl-passthrough to a backend that terminates TLS
// itself (the client sees the backend's certificate, not podgate's), and the method of HAProxy's
// published ingress-controller benchmark as a correctness test — 100 Ingress changes and every
// backend pod replaced while a load generator runs, with zero failed requests.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nodeBin, type TestLan, waitForOutput } from '../lib/netns-hosts.ts';
import { expectOk, type Podgate } from './harness.ts';
import { type LanCluster, startLanCluster, echoPod } from './lan-cluster.ts';

/** An HTTPS server script (args: PORT CERT KEY) answering `backend <pod name>`: TLS terminated by the pod itself. */
const httpsServerSource = `
const https = require('node:https'); const fs = require('node:fs');
const [port, cert, key] = process.argv.slice(2);
https.createServer({ cert: fs.readFileSync(cert), key: fs.readFileSync(key) }, (req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain' }).end('backend ' + (process.env.POD_NAME || '') + ' ' + req.headers.host + '\\n');
}).listen(+port, () => console.log('listening'));
process.on('SIGTERM', () => process.exit(0));
`;

/** An auth service script (args: PORT): 200 with X-User for `Authorization: Bearer letmein`, 401 otherwise. */
const authServerSource = `
const http = require('node:http');
http.createServer((req, res) => {
  if (req.headers.authorization === 'Bearer letmein') res.writeHead(200, { 'X-User': 'alice' }).end();
  else res.writeHead(401, { 'WWW-Authenticate': 'Bearer realm="e2e"' }).end();
}).listen(+process.argv[2], () => console.log('listening'));
process.on('SIGTERM', () => process.exit(0));
`;

/**
 * A load generator (args: URL HOST KEEPALIVE_WORKERS FRESH_WORKERS): keep-alive workers reuse one
 * connection each, fresh workers open a new connection per request. Each worker sends requests
 * back to back until SIGTERM; then the in-flight ones finish and it prints one JSON line of counts:
 * ok (2xx, also by the pod that answered), bad (other status, by code), errors (by error code), and
 * the first few failures.
 */
const loadSource = `
const http = require('node:http');
const [url, host, ka, fresh] = process.argv.slice(1);
const u = new URL(url);
const stats = { ok: 0, bad: {}, errors: {}, samples: [], keepAliveOk: 0, freshOk: 0, byPod: {} };
let stopping = false;
const fail = (kind, what, detail) => { stats[kind][what] = (stats[kind][what] || 0) + 1; if (stats.samples.length < 10) stats.samples.push(kind + ' ' + what + ' ' + detail + ' at ' + new Date().toISOString()); };
const once = (agent, keepAlive) => new Promise((resolve) => {
  const req = http.request({ host: u.hostname, port: u.port || 80, path: u.pathname, agent, headers: { host, connection: keepAlive ? 'keep-alive' : 'close' }, timeout: 5000 }, (res) => {
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (d) => { body += d; });
    res.on('end', () => {
      if (res.statusCode >= 200 && res.statusCode < 300) {
        stats.ok++; if (keepAlive) stats.keepAliveOk++; else stats.freshOk++;
        let pod = '?'; try { pod = JSON.parse(body).pod.name; } catch {}
        stats.byPod[pod] = (stats.byPod[pod] || 0) + 1;
      }
      else fail('bad', String(res.statusCode), body.slice(0, 200).replace(/\\s+/g, ' '));
      resolve();
    });
    res.on('error', (e) => { fail('errors', e.code || e.message, 'during body'); resolve(); });
  });
  req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
  req.on('error', (e) => { fail('errors', e.code || e.message, e.message); resolve(); });
  req.end();
});
const worker = async (keepAlive) => {
  const agent = keepAlive ? new http.Agent({ keepAlive: true, maxSockets: 1 }) : false;
  while (!stopping) await once(agent, keepAlive);
  if (agent) agent.destroy();
};
const workers = [...Array(+ka)].map(() => worker(true)).concat([...Array(+fresh)].map(() => worker(false)));
console.log('started');
process.on('SIGTERM', () => { stopping = true; Promise.all(workers).then(() => { console.log(JSON.stringify(stats)); process.exit(0); }); });
`;

describe('ingress controller on a test LAN: passthrough and churn', () => {
  let cluster: LanCluster | undefined;
  let lan: TestLan;
  let pg: Podgate;
  let nodeIP: string;
  let dir: string | undefined;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'podgate-ingress-more-'));
    cluster = await startLanCluster();
    ({ lan, pg, nodeIP } = cluster);
  });
  after(async () => {
    await cluster?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Routes take effect shortly after the write: retry until the answer is the expected one. */
  const eventually = async (fn: () => Promise<boolean>, what: string) => {
    for (let i = 0; i < 50; i++) { if (await fn()) return; await new Promise((r) => setTimeout(r, 100)); }
    assert.fail(`never: ${what}`);
  };
  const selfSigned = (name: string, cn: string) => {
    const key = join(dir!, `${name}.key`);
    const crt = join(dir!, `${name}.crt`);
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
      '-subj', `/CN=${cn}`, '-addext', `subjectAltName=DNS:${cn}`, '-keyout', key, '-out', crt], { stdio: 'ignore' });
    return { key, crt };
  };
  /** Waits for pods to be Ready; on failure the error carries what kubectl describes. */
  const waitReady = async (pods: string[]) => {
    const r = await pg.kubectl(['wait', '--for=condition=Ready', 'pod', ...pods, '--timeout=30s']);
    if (r.code === 0) return;
    const logs = await Promise.all(pods.map(async (p) => `${p}: ${(await pg.kubectl(['logs', p, '--previous'])).stdout}${(await pg.kubectl(['logs', p])).stdout}`));
    assert.fail(`pods not Ready: ${r.stderr}\n${(await pg.kubectl(['describe', 'pod', ...pods])).stdout}\n${logs.join('\n')}`);
  };
  /** The certificate the node's port 443 presents for `sni`, as the outside client sees it. */
  const servedCert = async (sni: string) => {
    const r = await lan.exec('client', ['sh', '-c', `timeout 5 openssl s_client -servername ${sni} -connect ${nodeIP}:443 </dev/null 2>/dev/null | openssl x509`], { allowFailure: true, timeoutMs: 8000 });
    return r.stdout.includes('BEGIN CERTIFICATE') ? new X509Certificate(r.stdout) : undefined;
  };

  it('ssl-passthrough hands pass.example.com to a backend that presents its own certificate', async () => {
    const backendCert = selfSigned('pass', 'pass.example.com');
    const termCert = selfSigned('term', 'term.example.com');
    writeFileSync(join(dir!, 'https-server.js'), httpsServerSource);
    expectOk(await pg.kubectl(['create', 'secret', 'tls', 'term-tls', `--cert=${termCert.crt}`, `--key=${termCert.key}`]), 'tls secret');
    expectOk(await pg.apply(`apiVersion: v1
kind: Pod
metadata: { name: tls-backend, labels: { app: tls-backend } }
spec:
  containers:
    - name: https
      image: podgate/custom
      command: [${JSON.stringify(nodeBin)}, ${JSON.stringify(join(dir!, 'https-server.js'))}, "8443", ${JSON.stringify(backendCert.crt)}, ${JSON.stringify(backendCert.key)}]
      env: [{ name: POD_NAME, valueFrom: { fieldRef: { fieldPath: metadata.name } } }]
      ports: [{ containerPort: 8443 }]
      readinessProbe: { tcpSocket: { port: 8443 }, periodSeconds: 1 }
---
apiVersion: v1
kind: Pod
metadata: { name: plain-backend, labels: { app: plain-backend } }
spec:
  containers: [{ name: web, image: podgate/echo, ports: [{ containerPort: 8080 }] }]
---
apiVersion: v1
kind: Service
metadata: { name: tls-backend }
spec:
  selector: { app: tls-backend }
  ports: [{ port: 443, targetPort: 8443 }]
---
apiVersion: v1
kind: Service
metadata: { name: plain-backend }
spec:
  selector: { app: plain-backend }
  ports: [{ port: 80, targetPort: 8080 }]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: pass
  annotations:
    nginx.ingress.kubernetes.io/ssl-passthrough: "true"
spec:
  ingressClassName: nginx
  rules:
    - host: pass.example.com
      http: { paths: [{ path: /, pathType: Prefix, backend: { service: { name: tls-backend, port: { number: 443 } } } }] }
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: { name: term }
spec:
  ingressClassName: nginx
  tls: [{ hosts: [term.example.com], secretName: term-tls }]
  rules:
    - host: term.example.com
      http: { paths: [{ path: /, pathType: Prefix, backend: { service: { name: plain-backend, port: { number: 80 } } } }] }
`), 'apply');
    await waitReady(['tls-backend', 'plain-backend']);

    const curl = (host: string, ca: string) => lan.exec('client', ['curl', '-sS', '-m', '3', '--resolve', `${host}:443:${nodeIP}`, '--cacert', ca, '-w', '\n%{http_code}', `https://${host}/`], { allowFailure: true });
    await eventually(async () => (await curl('pass.example.com', backendCert.crt)).stdout.endsWith('\n200'), 'pass.example.com answers through passthrough');
    const r = await curl('pass.example.com', backendCert.crt);
    assert.match(r.stdout, /^backend tls-backend pass\.example\.com\n\n200$/, 'the pod itself answered, over TLS it terminated');

    const want = new X509Certificate(readFileSync(backendCert.crt));
    const seen = await servedCert('pass.example.com');
    assert.ok(seen, 'openssl s_client got a certificate');
    assert.equal(seen.subject, 'CN=pass.example.com');
    assert.equal(seen.fingerprint256, want.fingerprint256, 'the client sees the backend\'s certificate');
    // ...and not podgate's: with the same listener, other hosts still get podgate's own TLS.
    const other = await servedCert('nobody.example.com');
    assert.ok(other, 'a certificate for another host');
    assert.notEqual(other.fingerprint256, want.fingerprint256, 'podgate\'s default certificate for other hosts');
    // A host podgate terminates is still served beside the passthrough one (the peeked ClientHello is replayed).
    await eventually(async () => (await curl('term.example.com', termCert.crt)).stdout.endsWith('\n200'), 'term.example.com terminated by podgate');
    assert.equal((await servedCert('term.example.com'))?.fingerprint256, new X509Certificate(readFileSync(termCert.crt)).fingerprint256);
  });

  it('auth-url: an auth pod behind a Service decides by header; auth-response-headers reach the backend', async () => {
    writeFileSync(join(dir!, 'auth-server.js'), authServerSource);
    expectOk(await pg.apply(`apiVersion: v1
kind: Pod
metadata: { name: auth, labels: { app: auth } }
spec:
  containers:
    - name: auth
      image: podgate/custom
      command: [${JSON.stringify(nodeBin)}, ${JSON.stringify(join(dir!, 'auth-server.js'))}, "9000"]
      ports: [{ containerPort: 9000 }]
      readinessProbe: { tcpSocket: { port: 9000 }, periodSeconds: 1 }
---
${echoPod('protected', { app: 'protected' })}---
apiVersion: v1
kind: Service
metadata: { name: auth }
spec:
  selector: { app: auth }
  ports: [{ port: 80, targetPort: 9000 }]
---
apiVersion: v1
kind: Service
metadata: { name: protected }
spec:
  selector: { app: protected }
  ports: [{ port: 80, targetPort: 8080 }]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: protected
  annotations:
    nginx.ingress.kubernetes.io/auth-url: "http://auth.default.svc.cluster.local/check"
    nginx.ingress.kubernetes.io/auth-response-headers: "X-User"
spec:
  ingressClassName: nginx
  rules:
    - host: protected.example.com
      http: { paths: [{ path: /, pathType: Prefix, backend: { service: { name: protected, port: { number: 80 } } } }] }
`), 'apply');
    await waitReady(['auth', 'protected']);
    const curl = (...args: string[]) => lan.exec('client', ['curl', '-sS', '-m', '3', '-H', 'Host: protected.example.com', ...args, '-w', '\n%{http_code}', `http://${nodeIP}/app`], { allowFailure: true });
    await eventually(async () => (await curl()).stdout.endsWith('\n401'), 'protected.example.com asks for authentication');
    const ok = await curl('-H', 'Authorization: Bearer letmein', '-H', 'X-User: mallory');
    assert.match(ok.stdout, /\n200$/);
    const echoed = JSON.parse(ok.stdout.slice(0, ok.stdout.lastIndexOf('\n'))) as { pod: { name: string }; request: { headers: Record<string, string> } };
    assert.equal(echoed.pod.name, 'protected');
    assert.equal(echoed.request.headers['x-user'], 'alice');
    const denied = await lan.exec('client', ['curl', '-sS', '-m', '3', '-o', '/dev/null', '-D', '-', '-H', 'Host: protected.example.com', `http://${nodeIP}/app`], { allowFailure: true });
    assert.match(denied.stdout, /^HTTP\/1\.1 401 /);
    assert.match(denied.stdout, /WWW-Authenticate: Bearer realm="e2e"/i);
  });

  it('100 Ingress changes and every backend pod replaced under load: zero failed requests', async () => {
    const pod = (name: string) => echoPod(name, { app: 'load' });
    const service = (name: string) => `apiVersion: v1
kind: Service
metadata: { name: ${name} }
spec:
  selector: { app: load }
  ports: [{ port: 80, targetPort: 8080 }]
`;
    const loadIngress = (svc: string, n: number) => `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: load
  annotations:
    nginx.ingress.kubernetes.io/proxy-read-timeout: "${60 + n}"
spec:
  ingressClassName: nginx
  rules:
    - host: load.example.com
      http: { paths: [{ path: /, pathType: Prefix, backend: { service: { name: ${svc}, port: { number: 80 } } } }] }
`;
    const otherIngress = (i: number) => `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: { name: other-${i} }
spec:
  ingressClassName: nginx
  rules:
    - host: other-${i}.example.com
      http: { paths: [{ path: /p${i}, pathType: Prefix, backend: { service: { name: load-b, port: { number: 80 } } } }] }
    - host: load.example.com
      http: { paths: [{ path: /elsewhere-${i}, pathType: Exact, backend: { service: { name: load-b, port: { number: 80 } } } }] }
`;
    const oldPods = ['load-0', 'load-1', 'load-2'];
    const newPods = ['load-3', 'load-4', 'load-5'];
    expectOk(await pg.apply([...oldPods.map(pod), service('load-a'), service('load-b'), loadIngress('load-a', 0)].join('---\n')), 'apply');
    await waitReady(oldPods);
    await eventually(async () => {
      const r = await lan.exec('client', ['curl', '-s', '-m', '2', '-o', '/dev/null', '-w', '%{http_code}', '--resolve', `load.example.com:80:${nodeIP}`, 'http://load.example.com/'], { allowFailure: true });
      return r.stdout === '200';
    }, 'load.example.com answers');

    const load = lan.spawn('client', [nodeBin, '-e', loadSource, `http://${nodeIP}/`, 'load.example.com', '6', '2']);
    let out = '';
    load.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
    await waitForOutput(load, /started/);
    const t0 = Date.now();
    await new Promise((r) => setTimeout(r, 1000));

    // 100 changes, one write each: 50 annotation patches on the load Ingress (a new route table
    // every time), 20 re-pointings of load.example.com between two Services over the same pods,
    // and 30 other Ingresses created and deleted (15 + 15), each with a path on load.example.com
    // the load does not use.
    const changes: (() => Promise<unknown>)[] = [];
    let n = 0;
    for (let i = 0; i < 50; i++) {
      const k = ++n;
      changes.push(async () => expectOk(await pg.kubectl(['annotate', '--overwrite', 'ingress', 'load', `nginx.ingress.kubernetes.io/proxy-read-timeout=${60 + k}`]), `annotate ${k}`));
      if (i % 5 === 4) {
        const svc = (i / 5) % 2 === 0 ? 'load-b' : 'load-a';
        changes.push(async () => expectOk(await pg.kubectl(['patch', 'ingress', 'load', '--type=json', '-p',
          JSON.stringify([{ op: 'replace', path: '/spec/rules/0/http/paths/0/backend/service/name', value: svc }])]), `re-point to ${svc}`));
        changes.push(async () => expectOk(await pg.kubectl(['patch', 'ingress', 'load', '--type=json', '-p',
          JSON.stringify([{ op: 'replace', path: '/spec/rules/0/http/paths/0/backend/service/name', value: svc === 'load-a' ? 'load-b' : 'load-a' }])]), 're-point back'));
      }
      if (i % 10 < 3) {
        const j = i;
        changes.push(async () => expectOk(await pg.apply(otherIngress(j)), `create other-${j}`));
        changes.push(async () => expectOk(await pg.kubectl(['delete', 'ingress', `other-${j}`, '--wait=false']), `delete other-${j}`));
      }
    }
    assert.equal(changes.length, 100);

    let applied = 0;
    const churn = (async () => {
      for (const c of changes) { await c(); applied++; }
    })();
    const replace = (async () => {
      // A rolling replacement spread over the churn: a new pod, Ready, then one old pod deleted
      // (preStop, then SIGTERM), starting after 10, 35 and 60 of the Ingress changes.
      for (const [i, name] of newPods.entries()) {
        while (applied < 10 + 25 * i) await new Promise((r) => setTimeout(r, 50));
        expectOk(await pg.apply(pod(name)), `create ${name}`);
        expectOk(await pg.kubectl(['wait', '--for=condition=Ready', 'pod', name, '--timeout=30s']), `wait ${name}`);
        expectOk(await pg.kubectl(['delete', 'pod', oldPods[i]!, '--wait=false']), `delete ${oldPods[i]}`);
      }
      expectOk(await pg.kubectl(['wait', '--for=delete', 'pod', ...oldPods, '--timeout=30s']), 'old pods gone');
    })();
    let stats: { ok: number; bad: Record<string, number>; errors: Record<string, number>; samples: string[]; keepAliveOk: number; freshOk: number; byPod: Record<string, number> };
    try {
      await Promise.all([churn, replace]);
      await new Promise((r) => setTimeout(r, 1000));
    } finally {
      if (load.exitCode === null && load.signalCode === null) {
        const exited = new Promise<void>((r) => load.once('exit', () => r()));
        load.kill('SIGTERM');
        await exited;
      }
    }
    const seconds = (Date.now() - t0) / 1000;
    const last = out.trim().split('\n').at(-1) ?? '';
    assert.ok(last.startsWith('{'), `the load generator reported: ${out}`);
    stats = JSON.parse(last) as typeof stats;
    const table = expectOk(await pg.kubectl(['get', 'pods', '-l', 'app=load', '-o', 'jsonpath={.items[*].metadata.name}']), 'get pods');
    assert.deepEqual(table.split(' ').sort(), newPods, 'every backend pod was replaced');
    const failed = Object.values(stats.bad).reduce((a, b) => a + b, 0) + Object.values(stats.errors).reduce((a, b) => a + b, 0);
    const summary = `${stats.ok} ok (${stats.keepAliveOk} keep-alive, ${stats.freshOk} new connections) in ${seconds.toFixed(1)} s, ${failed} failed: ${JSON.stringify({ byPod: stats.byPod, bad: stats.bad, errors: stats.errors, samples: stats.samples })}`;
    console.log(`ingress churn: ${summary}`);
    assert.equal(failed, 0, summary);
    assert.ok(stats.keepAliveOk > 1000 && stats.freshOk > 200, `a meaningful number of requests: ${summary}`);
    // The load really moved from the old pods to the new ones while it ran.
    assert.deepEqual(Object.keys(stats.byPod).sort(), [...oldPods, ...newPods], `every old and new pod answered: ${summary}`);
  });
});
