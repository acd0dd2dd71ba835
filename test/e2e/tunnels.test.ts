// The API server's tunnels with the real kubectl: port-forward (to the echo pod and to redis,
// 100 MB intact, 50 connections at once, a missing port), kubectl proxy to a Service and a pod,
// logs -f, exec with its exit code, and an interactive shell through a pty.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { nodeBin } from '../lib/netns-hosts.ts';
import { expectOk, freePort, type Podgate } from './harness.ts';
import { type LanCluster, startLanCluster } from './lan-cluster.ts';

const pods = `apiVersion: v1
kind: Pod
metadata: { name: echo, labels: { app: echo } }
spec:
  containers:
    - name: echo
      image: podgate/echo
      ports: [{ name: http, containerPort: 8080 }]
    - name: tcp
      image: podgate/tcp-echo
      ports: [{ containerPort: 9000 }]
---
apiVersion: v1
kind: Service
metadata: { name: echo }
spec:
  selector: { app: echo }
  ports: [{ name: web, port: 80, targetPort: http }]
---
apiVersion: v1
kind: Pod
metadata: { name: redis }
spec:
  containers:
    - name: redis
      image: redis
      ports: [{ containerPort: 6379 }]
---
apiVersion: v1
kind: Pod
metadata: { name: dier }
spec:
  containers:
    - name: dier
      image: podgate/custom
      # Answers with a head promising 1000 bytes, sends 8, then drops the connection.
      command: [${JSON.stringify(nodeBin)}, -e, "const e = String.fromCharCode(13, 10); require('net').createServer((s) => s.once('data', () => { s.write('HTTP/1.1 200 OK' + e + 'Content-Length: 1000' + e + e + 'partial-'); setTimeout(() => s.destroy(), 200); })).listen(8000)"]
      ports: [{ containerPort: 8000 }]
      readinessProbe: { tcpSocket: { port: 8000 }, periodSeconds: 1 }
---
apiVersion: v1
kind: Pod
metadata: { name: ticker }
spec:
  containers:
    - name: ticker
      image: busybox
      command: [sh, -c, 'i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done']
`;

/** Waits until the child prints `pattern` (on stdout or stderr). */
function waitFor(child: ChildProcess, pattern: RegExp, timeoutMs = 15_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    const t = setTimeout(() => reject(new Error(`timed out waiting for ${pattern}; got: ${out}`)), timeoutMs);
    const on = (d: Buffer) => {
      out += d.toString();
      if (pattern.test(out)) { clearTimeout(t); resolve(out); }
    };
    child.stdout?.on('data', on);
    child.stderr?.on('data', on);
    child.once('exit', () => { if (!pattern.test(out)) { clearTimeout(t); reject(new Error(`exited before ${pattern}: ${out}`)); } });
  });
}

// A client run inside the node's netns (where kubectl port-forward listens on 127.0.0.1).
const bulkClient = `
const net = require('net'), crypto = require('crypto');
const [port, mb, conns] = process.argv.slice(1).map(Number);
function one(bytes) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    const sent = crypto.createHash('sha256'), got = crypto.createHash('sha256');
    let received = 0, written = 0;
    const chunk = crypto.randomBytes(64 * 1024);
    s.on('data', (d) => { got.update(d); received += d.length; if (received >= bytes) { s.end(); resolve(sent.digest('hex') === got.digest('hex')); } });
    s.on('error', reject);
    const pump = () => { while (written < bytes) { const c = chunk.subarray(0, Math.min(chunk.length, bytes - written)); sent.update(c); written += c.length; if (!s.write(c)) { s.once('drain', pump); return; } } };
    s.on('connect', pump);
  });
}
(async () => {
  const t0 = Date.now();
  const big = await one(mb * 1024 * 1024);
  const t1 = Date.now();
  const many = await Promise.all(Array.from({ length: conns }, () => one(64 * 1024)));
  const t2 = Date.now();
  console.log(JSON.stringify({ big, bigMs: t1 - t0, many: many.filter(Boolean).length, manyMs: t2 - t1 }));
})().catch((e) => { console.error(e); process.exit(1); });
`;

describe('tunnels through the API server', () => {
  let cluster: LanCluster;
  let pg: Podgate;
  const children: ChildProcess[] = [];

  before(async () => {
    cluster = await startLanCluster({ hosts: [], extraArgs: ['--ingress-http-port', '0', '--ingress-https-port', '0'] });
    pg = cluster.pg;
    expectOk(await pg.apply(pods), 'apply pods');
    expectOk(await pg.kubectl(['wait', '--for=condition=Ready', 'pod/echo', 'pod/redis', 'pod/ticker', 'pod/dier', '--timeout=60s']), 'wait');
  });
  after(async () => {
    for (const c of children) c.kill('SIGKILL');
    await cluster?.stop();
  });

  const spawn = (args: string[], wrap?: (argv: string[]) => string[]) => {
    const c = pg.spawnKubectl(args, { wrap });
    children.push(c);
    return c;
  };

  it('port-forwards HTTP to the echo pod', async () => {
    const port = await freePort();
    const pf = spawn(['port-forward', 'pod/echo', `${port}:8080`]);
    await waitFor(pf, /Forwarding from 127\.0\.0\.1/);
    const r = await pg.run(['curl', '-s', `http://127.0.0.1:${port}/through-the-tunnel`]);
    const body = JSON.parse(r.stdout) as { request: { path: string }; pod: { name: string } };
    assert.equal(body.request.path, '/through-the-tunnel');
    assert.equal(body.pod.name, 'echo');
    pf.kill();
  });

  it('port-forwards to redis: redis-cli PING through the forward', async () => {
    const port = await freePort();
    const pf = spawn(['port-forward', 'pod/redis', `${port}:6379`]);
    await waitFor(pf, /Forwarding from 127\.0\.0\.1/);
    const r = await pg.run(['redis-cli', '-h', '127.0.0.1', '-p', String(port), 'PING']);
    assert.equal(r.stdout.trim(), 'PONG', r.stderr);
    pf.kill();
  });

  it('carries 100 MB intact through one connection and 50 connections at once', async () => {
    const port = await freePort();
    const pf = spawn(['port-forward', 'pod/echo', `${port}:9000`]);
    await waitFor(pf, /Forwarding from 127\.0\.0\.1/);
    const r = await pg.run([nodeBin, '-e', bulkClient, String(port), '100', '50'], { timeoutMs: 120_000 });
    const res = JSON.parse(r.stdout) as { big: boolean; bigMs: number; many: number; manyMs: number };
    assert.equal(res.big, true, '100 MB came back byte for byte');
    assert.equal(res.many, 50, 'all 50 concurrent connections echoed intact');
    pf.kill();
  });

  it('reports a port with nothing listening', async () => {
    const port = await freePort();
    const pf = spawn(['port-forward', 'pod/echo', `${port}:9999`]);
    await waitFor(pf, /Forwarding from 127\.0\.0\.1/);
    void pg.run(['curl', '-s', '-m', '3', `http://127.0.0.1:${port}/`]);
    await waitFor(pf, /error forwarding port 9999 to pod echo/);
    pf.kill();
  });

  it('reaches a Service and a pod through kubectl proxy', async () => {
    const port = await freePort();
    const proxy = spawn(['proxy', `--port=${port}`]);
    await waitFor(proxy, /Starting to serve/);
    const svc = await pg.run(['curl', '-s', `http://127.0.0.1:${port}/api/v1/namespaces/default/services/echo:web/proxy/via-service`]);
    assert.equal((JSON.parse(svc.stdout) as { request: { path: string } }).request.path, '/via-service');
    const pod = await pg.run(['curl', '-s', `http://127.0.0.1:${port}/api/v1/namespaces/default/pods/echo:8080/proxy/via-pod`]);
    assert.equal((JSON.parse(pod.stdout) as { request: { path: string } }).request.path, '/via-pod');
    const none = await pg.run(['curl', '-s', `http://127.0.0.1:${port}/api/v1/namespaces/default/services/nosuch/proxy/`]);
    assert.match(none.stdout, /services \\?"nosuch\\?" not found/);
    // A backend that dies mid-answer: the client sees the body cut short (curl 18), not a hang.
    const cut = await pg.run(['curl', '-s', '-m', '10', '-o', '/dev/null', '-w', '%{http_code} %{size_download}', `http://127.0.0.1:${port}/api/v1/namespaces/default/pods/dier:8000/proxy/x`]);
    assert.deepEqual([cut.code, cut.stdout], [18, '200 8']);
    proxy.kill();
  });

  it('follows logs with kubectl logs -f', async () => {
    const logs = spawn(['logs', '-f', 'ticker', '--tail=1']);
    const out = await waitFor(logs, /tick \d+\n.*tick \d+\n.*tick \d+\n/s);
    const ticks = out.match(/tick (\d+)/g) ?? [];
    assert.ok(ticks.length >= 3);
    logs.kill();
  });

  it('returns exec output and a non-zero exit code faithfully', async () => {
    const r = await pg.kubectl(['exec', 'echo', '-c', 'echo', '--', 'sh', '-c', 'echo out; echo err >&2; exit 3']);
    assert.equal(r.code, 3);
    assert.equal(r.stdout, 'out\n');
    assert.match(r.stderr, /^err\n/);
    const ip = await pg.kubectl(['exec', 'echo', '-c', 'echo', '--', 'sh', '-c', 'ip -4 -o addr show eth0']);
    assert.match(ip.stdout, /inet 10\.244\./, 'exec runs in the pod\'s network namespace');
    // Killed by a signal: 128 + its number, as runc reports it.
    assert.equal((await pg.kubectl(['exec', 'echo', '-c', 'echo', '--', 'sh', '-c', 'kill -TERM $$'])).code, 143);
  });

  it('drops the stdin a command leaves unread, and stays up', async () => {
    const r = await pg.kubectl(['exec', '-i', 'echo', '-c', 'echo', '--', 'head', '-c', '10'], { input: 'x'.repeat(8 * 1024 * 1024) });
    assert.deepEqual([r.code, r.stdout], [0, 'x'.repeat(10)], r.stderr);
    expectOk(await pg.kubectl(['get', 'pod', 'echo']), 'podgate still answers');
  });

  it('gives an interactive shell through a pty', async () => {
    // `script` gives kubectl a terminal, as a person's would be.
    const sh = spawn(['exec', '-it', 'echo', '-c', 'echo', '--', 'sh'], (argv) => ['script', '-qfec', argv.map((a) => `'${a}'`).join(' '), '/dev/null']);
    await new Promise((r) => setTimeout(r, 1500));
    sh.stdin!.write('echo answer-$((6*7))\n');
    await waitFor(sh, /answer-42/);
    sh.stdin!.write('exit\n');
  });
});
