// The API server's tunnels with the real kubectl: port-forward (to the echo pod and to redis,
// 100 MB intact, 50 connections at once, a missing port, a deleted pod), kubectl proxy to a Service
// and a pod, logs -f, logs and --previous across restarts, logs of a container that never started,
// exec with its exit code and of a file that is not executable, an interactive shell through a pty,
// the seeds' `kubectl run -it --rm` shell and kubectl attach.
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
metadata: { name: gone }
spec:
  containers:
    - name: tcp
      image: podgate/tcp-echo
      ports: [{ containerPort: 9000 }]
---
apiVersion: v1
kind: Pod
metadata: { name: nopull }
spec:
  containers:
    - name: c
      image: example.invalid/no-such-image:1
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

/** Runs kubectl on a terminal of 100 columns and 30 rows (`script` gives it one, as a person's would be). */
const onTerminalOf100x30 = (argv: string[]) => ['script', '-qfec', `stty cols 100 rows 30; ${argv.map((a) => `'${a}'`).join(' ')}`, '/dev/null'];

/**
 * Prints the shell's terminal size once kubectl's resizes have arrived (it sends one right after the
 * stream opens, which may be after the shell has read this line), or what it is after 5 s.
 */
const sizeOnceResized = 'i=0; while [ "$(stty size)" != "30 100" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done; stty size';

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

/** Everything the child prints (stdout and stderr), from now on, and a wait for a pattern in all of it. */
function everything(child: ChildProcess) {
  let out = '';
  const on = (d: Buffer) => { out += d.toString(); };
  child.stdout?.on('data', on);
  child.stderr?.on('data', on);
  return {
    text: () => out,
    async waitFor(pattern: RegExp, timeoutMs = 15_000): Promise<string> {
      const until = Date.now() + timeoutMs;
      while (!pattern.test(out)) {
        if (Date.now() > until || child.exitCode !== null) throw new Error(`no ${pattern} in kubectl's output: ${JSON.stringify(out)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      return out;
    },
  };
}

// Sends 'hi', prints what came back and when the connection closed (or that it hung).
const oneShot = `
const t0 = Date.now(), s = require('net').connect(Number(process.argv[1]), '127.0.0.1', () => s.write('hi'));
let got = '';
s.on('data', (d) => { got += d; if (got === 'hi') s.end(); });
s.on('error', () => {});
s.on('close', () => { console.log('closed after ' + (Date.now() - t0) + ' ms, got ' + JSON.stringify(got)); process.exit(0); });
setTimeout(() => { console.log('hung after ' + (Date.now() - t0) + ' ms'); process.exit(1); }, 20000);
`;

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
    expectOk(await pg.kubectl(['wait', '--for=condition=Ready', 'pod/echo', 'pod/redis', 'pod/ticker', 'pod/dier', 'pod/gone', '--timeout=60s']), 'wait');
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

  it('fails new port-forward connections at once after the pod is deleted', async () => {
    const port = await freePort();
    const pf = spawn(['port-forward', 'pod/gone', `${port}:9000`]);
    await waitFor(pf, /Forwarding from 127\.0\.0\.1/);
    const first = await pg.run([nodeBin, '-e', oneShot, String(port)]);
    assert.match(first.stdout, /got "hi"/, first.stderr);
    expectOk(await pg.kubectl(['delete', 'pod', 'gone', '--grace-period=1']), 'delete pod');
    const refused = waitFor(pf, /error forwarding port 9000 to pod gone, uid [0-9a-f-]+: failed to find sandbox \\?"[0-9a-f-]+\\?" in store: not found/, 10_000);
    // Before: the old pod IP was dialled, and the connection hung ~13 s until EHOSTUNREACH.
    const after = await pg.run([nodeBin, '-e', oneShot, String(port)]);
    const ms = Number(/after (\d+) ms/.exec(after.stdout)?.[1] ?? 'NaN');
    assert.ok(ms < 5000, `closed after ${ms} ms: ${after.stdout}`);
    await refused;
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
    // kubectl proxy (Go's ReverseProxy) passes the cut on: as a short body (18) when it had flushed
    // the head, as an empty reply (52) when it had not; a hang (28, curl's timeout) is the bug.
    assert.ok(cut.code === 18 || cut.code === 52, `curl exit ${cut.code}: ${cut.stdout}`);
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

  it('refuses to exec a file that is not executable with runc\'s words', async () => {
    const r = await pg.kubectl(['exec', 'echo', '-c', 'echo', '--', '/etc/passwd']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /exec: \\?"\/etc\/passwd\\?": permission denied/);
  });

  it('shows the right run with kubectl logs and --previous across restarts', async () => {
    const crash = `apiVersion: v1
kind: Pod
metadata: { name: crash2 }
spec:
  containers:
    - name: c
      image: busybox
      command: [sh, -c, 'echo run $(cat /proc/sys/kernel/random/uuid); sleep 2; exit 1']
`;
    expectOk(await pg.apply(crash), 'apply crash2');
    const state = async () => JSON.parse((await pg.kubectl(['get', 'pod', 'crash2', '-o', 'jsonpath={.status.containerStatuses[0]}'])).stdout || '{}') as
      { restartCount?: number; state?: { running?: unknown; waiting?: { reason?: string } } };
    const until = async (ok: (s: Awaited<ReturnType<typeof state>>) => boolean, what: string) => {
      for (let i = 0; i < 100; i++) { const s = await state(); if (ok(s)) return; await new Promise((r) => setTimeout(r, 100)); }
      assert.fail(`crash2 never got ${what}: ${JSON.stringify(await state())}`);
    };
    const logs = async (...extra: string[]) => {
      const r = await pg.kubectl(['logs', 'crash2', ...extra]);
      return r.code === 0 ? r.stdout : r.stderr;
    };
    await until((s) => s.restartCount === 1 && Boolean(s.state?.running), 'restartCount 1, running');
    const current = await logs();
    const previous = await logs('--previous');
    assert.match(current, /^run \S+\n$/, 'only the current run');
    assert.match(previous, /^run \S+\n$/, 'the run that crashed');
    assert.notEqual(current, previous);
    // In CrashLoopBackOff the kubelet's --previous is the run that just crashed, as the current logs are.
    await until((s) => s.state?.waiting?.reason === 'CrashLoopBackOff', 'CrashLoopBackOff');
    assert.equal(await logs(), current);
    assert.equal(await logs('--previous'), current);
    expectOk(await pg.kubectl(['delete', 'pod', 'crash2', '--grace-period=0', '--wait=false']), 'delete crash2');
  });

  it('says why a container whose image cannot be pulled has no logs', async () => {
    const r = await pg.kubectl(['logs', 'nopull']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /container "c" in pod "nopull" is waiting to start: image can't be pulled/);
  });

  it('drops the stdin a command leaves unread, and stays up', async () => {
    const r = await pg.kubectl(['exec', '-i', 'echo', '-c', 'echo', '--', 'head', '-c', '10'], { input: 'x'.repeat(8 * 1024 * 1024) });
    assert.deepEqual([r.code, r.stdout], [0, 'x'.repeat(10)], r.stderr);
    expectOk(await pg.kubectl(['get', 'pod', 'echo']), 'podgate still answers');
  });

  it('gives an interactive shell through a pty, sized as kubectl\'s terminal', async () => {
    const sh = spawn(['exec', '-it', 'echo', '-c', 'echo', '--', 'sh'], onTerminalOf100x30);
    await new Promise((r) => setTimeout(r, 1500));
    sh.stdin!.write(`echo answer-$((6*7)); ${sizeOnceResized}\n`);
    await waitFor(sh, /answer-42\r?\n30 100/);
    sh.stdin!.write('exit\n');
  });

  it('runs the seeds\' `kubectl run test-pod --rm -it --image=busybox -- sh`: a shell in the cluster that reaches a Service, gone when it exits', async () => {
    const clusterIP = (await pg.kubectl(['get', 'svc', 'echo', '-o', 'jsonpath={.spec.clusterIP}'])).stdout.trim();
    const run = spawn(['run', 'test-pod', '--rm', '-it', '--image=busybox', '--', 'sh'], onTerminalOf100x30);
    const exited = new Promise<number | null>((resolve) => run.once('exit', resolve));
    const seen = everything(run);
    await seen.waitFor(/If you don't see a command prompt, try pressing enter/, 60_000);
    run.stdin!.write(`\nwget -qO- http://${clusterIP}/from-a-shell-in-the-cluster; echo; ${sizeOnceResized}; tty\n`);
    const out = await seen.waitFor(/"path": "\/from-a-shell-in-the-cluster"[\s\S]*30 100\r?\n\/dev\/pts\/\d+/);
    assert.match(out, /"name": "echo"/, 'the echo pod answered through the Service');
    run.stdin!.write('exit\n');
    await seen.waitFor(/pod "test-pod" deleted/, 60_000);
    assert.equal(await exited, 0, seen.text());
    // kubectl run -it makes the pod restartPolicy Always: the shell that exited was restarted, and
    // --rm deleted the pod without waiting. A shell waiting on its terminal ignores SIGTERM (as the
    // container's PID 1 does on a real cluster), so the deletion takes the 30 s grace period.
    expectOk(await pg.kubectl(['wait', '--for=delete', 'pod/test-pod', '--timeout=90s'], { timeoutMs: 120_000 }), 'test-pod deleted');
  });

  it('attaches to a running container\'s output (kubectl attach)', async () => {
    const attach = spawn(['attach', 'ticker']);
    const out = await waitFor(attach, /tick \d+\n[\s\S]*tick \d+\n/);
    assert.doesNotMatch(out, /(^|\n)tick 0\r?\n/, 'output from before attaching is in the logs only');
    attach.kill();
  });
});
