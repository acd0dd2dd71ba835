// `podgate port-forward` against the real `podgate up`: HTTP through svc/NAME (service port →
// named targetPort), UDP datagrams to a pod and through a Service's UDP port, and the forward
// surviving its pod being replaced (a Service's pod deleted and another created; a pod deleted and
// re-created under the same name), with the local ports staying open throughout.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { netnsPrefix } from '../../src/agent/network/index.ts';
import { createLan, nodeBin, repoRoot, requireNetTools, type TestLan } from '../lib/netns-hosts.ts';
import { expectOk, freePort, type Podgate, startPodgate } from './harness.ts';

const echoPod = (name: string) => `apiVersion: v1
kind: Pod
metadata: { name: ${name}, labels: { app: pf-echo } }
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: echo
      image: podgate/echo
      ports: [{ name: http, containerPort: 8080 }]
    - name: tcp
      image: podgate/tcp-echo
      ports: [{ name: echo-udp, containerPort: 9000, protocol: UDP }]
`;

const udpPod = `apiVersion: v1
kind: Pod
metadata: { name: pf-udp }
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: tcp
      image: podgate/tcp-echo
      ports: [{ containerPort: 9000 }]
`;

const service = `apiVersion: v1
kind: Service
metadata: { name: pf-echo }
spec:
  selector: { app: pf-echo }
  ports:
    - { name: web, port: 80, targetPort: http }
    - { name: dns, port: 53, targetPort: echo-udp, protocol: UDP }
`;

/**
 * A UDP client run inside the node's netns: args PORT COUNT TAG. Sends COUNT datagrams one at a
 * time (each resent until its echo arrives, as UDP may lose one) from two sockets, and prints
 * {ok, misrouted}: echoes that matched, and replies that reached the wrong sender.
 */
const udpClient = `
const dgram = require('node:dgram');
const [port, count, tag] = process.argv.slice(1);
const socks = [dgram.createSocket('udp4'), dgram.createSocket('udp4')];
let ok = 0, misrouted = 0;
function roundTrip(s, i, text) {
  return new Promise((resolve, reject) => {
    const other = socks[1 - i];
    const onOther = (m) => { if (String(m) === text) misrouted++; };
    other.on('message', onOther);
    const onMsg = (m) => { if (String(m) === text) { clearInterval(t); clearTimeout(k); s.off('message', onMsg); other.off('message', onOther); resolve(); } };
    s.on('message', onMsg);
    const send = () => s.send(text, +port, '127.0.0.1');
    const t = setInterval(send, 200); send();
    const k = setTimeout(() => { clearInterval(t); reject(new Error('no echo for ' + text)); }, 10000);
  });
}
(async () => {
  await Promise.all(socks.map((s) => new Promise((r) => s.bind(0, '127.0.0.1', r))));
  for (let n = 0; n < +count; n++) {
    await roundTrip(socks[n % 2], n % 2, tag + ' datagram ' + n + ' ' + 'x'.repeat(n * 37));
    ok++;
  }
  console.log(JSON.stringify({ ok, misrouted }));
  process.exit(0);
})().catch((e) => { console.error(e.message); console.log(JSON.stringify({ ok, misrouted })); process.exit(1); });
`;

/** Waits until the child prints `pattern` (on stdout or stderr) from now on. */
function waitFor(child: ChildProcess, pattern: RegExp, timeoutMs = 30_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    const finish = (err?: Error) => {
      clearTimeout(t);
      child.stdout?.off('data', on);
      child.stderr?.off('data', on);
      child.off('exit', onExit);
      if (err) reject(err); else resolve(out);
    };
    const t = setTimeout(() => finish(new Error(`timed out waiting for ${pattern}; got: ${out}`)), timeoutMs);
    const on = (d: Buffer) => { out += d.toString(); if (pattern.test(out)) finish(); };
    const onExit = () => finish(new Error(`exited before ${pattern}: ${out}`));
    child.stdout?.on('data', on);
    child.stderr?.on('data', on);
    child.once('exit', onExit);
  });
}

/**
 * The command line for `podgate port-forward`: bin/podgate once src/cli/index.ts registers the verb,
 * and until then the same registerPortForward on a bare commander program.
 */
function portForwardArgv(args: string[]): string[] {
  const registered = readFileSync(join(repoRoot, 'src/cli/index.ts'), 'utf8').includes('registerPortForward');
  if (registered) return [join(repoRoot, 'bin/podgate'), 'port-forward', ...args];
  const entry = `import { Command } from 'commander';
import { registerPortForward } from ${JSON.stringify(join(repoRoot, 'src/cli/port-forward-command.ts'))};
const p = new Command('podgate'); registerPortForward(p);
await p.parseAsync(['port-forward', ...process.argv.slice(1)], { from: 'user' });`;
  return [nodeBin, '--input-type=module', '-e', entry, '--', ...args];
}

describe('podgate port-forward', () => {
  let lan: TestLan;
  let pg: Podgate;
  let netns: string;
  const children: ChildProcess[] = [];
  const outputs = new Map<ChildProcess, string>();

  before(async () => {
    requireNetTools();
    lan = await createLan({ hosts: ['node'] });
    netns = lan.host('node').netns;
    const nodeName = `${lan.prefix}node`.toLowerCase();
    lan.trackNetnsPrefix(netnsPrefix(nodeName));
    pg = await startPodgate({ verb: 'up', netns, nodeIP: lan.host('node').ip, nodeName,
      extraArgs: ['--ingress-http-port', '0', '--ingress-https-port', '0'] });
    expectOk(await pg.apply([echoPod('pf-echo-a'), udpPod, service].join('---\n')), 'apply');
    expectOk(await pg.kubectl(['wait', '--for=condition=Ready', 'pod/pf-echo-a', 'pod/pf-udp', '--timeout=60s']), 'wait');
  });
  after(async () => {
    for (const c of children) {
      if (c.pid !== undefined && c.exitCode === null && c.signalCode === null) process.kill(c.pid, 'SIGKILL');
    }
    await pg?.stop();
    await lan?.destroy();
  });

  /** Starts `podgate port-forward ARGS` in the node's netns, where the API server is 127.0.0.1. */
  const forward = (args: string[]): ChildProcess => {
    const argv = ['nsenter', `--net=/run/netns/${netns}`, '--', ...portForwardArgv(['--kubeconfig', pg.kubeconfig, ...args])];
    const child = spawn(argv[0]!, argv.slice(1), { cwd: repoRoot, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: pg.home }, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    outputs.set(child, '');
    const keep = (d: Buffer) => outputs.set(child, outputs.get(child) + d.toString());
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    return child;
  };
  const stop = async (child: ChildProcess) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    process.kill(child.pid!, 'SIGTERM');
    assert.equal(await exited, 0, 'exits 0 on SIGTERM');
  };
  /** GETs through the forward; `retryMs`: a just-started pod is Ready (no probe) before it listens. */
  const curlPod = async (port: number, path: string, retryMs = 0): Promise<string> => {
    const deadline = performance.now() + retryMs;
    let r = await pg.run(['curl', '-s', '-m', '10', `http://127.0.0.1:${port}${path}`]);
    while (r.code !== 0 && performance.now() < deadline) {
      await new Promise((res) => setTimeout(res, 250));
      r = await pg.run(['curl', '-s', '-m', '10', `http://127.0.0.1:${port}${path}`]);
    }
    assert.equal(r.code, 0, `curl: exit ${r.code} ${r.stderr}`);
    const body = JSON.parse(r.stdout) as { request: { path: string }; pod: { name: string } };
    assert.equal(body.request.path, path);
    return body.pod.name;
  };
  const udpRoundTrips = async (port: number, count: number, tag: string) => {
    const r = await pg.run([nodeBin, '-e', udpClient, String(port), String(count), tag], { timeoutMs: 60_000 });
    return { ...(JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { ok: number; misrouted: number }), stderr: r.stderr };
  };

  it('forwards HTTP through svc/NAME (service port 80 → targetPort http) and UDP through the Service\'s UDP port', async () => {
    const [web, dns] = [await freePort(), await freePort()];
    const pf = forward(['svc/pf-echo', `${web}:80`, `${dns}:53/udp`]);
    const out = await waitFor(pf, new RegExp(`Forwarding from 127\\.0\\.0\\.1:${dns}/udp -> 9000/udp`));
    assert.match(out, new RegExp(`Forwarding from 127\\.0\\.0\\.1:${web} -> 8080\\n`));
    assert.equal(await curlPod(web, '/via-podgate-port-forward'), 'pf-echo-a');
    const udp = await udpRoundTrips(dns, 10, 'svc');
    assert.deepEqual({ ok: udp.ok, misrouted: udp.misrouted }, { ok: 10, misrouted: 0 }, udp.stderr);
    assert.match(outputs.get(pf)!, new RegExp(`Handling connection for ${web}`));
    assert.match(outputs.get(pf)!, new RegExp(`Handling UDP flow from 127\\.0\\.0\\.1:\\d+ for ${dns}`));
    await stop(pf);
  });

  it('echoes UDP datagrams through pod/NAME PORT/udp, each reply to its own sender', async () => {
    const port = await freePort();
    const pf = forward(['-n', 'default', 'pod/pf-udp', `${port}:9000/udp`]);
    await waitFor(pf, new RegExp(`Forwarding from 127\\.0\\.0\\.1:${port}/udp -> 9000/udp`));
    const t0 = performance.now();
    const udp = await udpRoundTrips(port, 40, 'pod');
    const ms = performance.now() - t0;
    assert.deepEqual({ ok: udp.ok, misrouted: udp.misrouted }, { ok: 40, misrouted: 0 }, udp.stderr);
    console.log(`# 40 UDP round trips (2 senders, up to 1.4 KB) through podgate port-forward in ${ms.toFixed(0)} ms (including the client process start-up)`);
    await stop(pf);
  });

  it('reconnects a svc/ forward to a new pod when its pod is deleted and a replacement created', async () => {
    const [web, dns] = [await freePort(), await freePort()];
    const pf = forward(['svc/pf-echo', `${web}:80`, `${dns}:53/udp`]);
    await waitFor(pf, /Forwarding from 127\.0\.0\.1:\d+\/udp/);
    assert.equal(await curlPod(web, '/before'), 'pf-echo-a');
    const lost = waitFor(pf, /Lost connection to pod pf-echo-a/, 60_000);
    expectOk(await pg.kubectl(['delete', 'pod', 'pf-echo-a', '--wait=false']), 'delete pod');
    await lost;
    const reconnected = waitFor(pf, /Reconnected to pod pf-echo-b/, 90_000);
    const t0 = performance.now();
    expectOk(await pg.apply(echoPod('pf-echo-b')), 'apply replacement');
    await reconnected;
    console.log(`# svc/ forward reconnected ${((performance.now() - t0) / 1000).toFixed(1)} s after the replacement pod was created`);
    // The same local ports, a new pod behind them.
    assert.equal(await curlPod(web, '/after', 10_000), 'pf-echo-b');
    const udp = await udpRoundTrips(dns, 6, 'after');
    assert.deepEqual({ ok: udp.ok, misrouted: udp.misrouted }, { ok: 6, misrouted: 0 }, udp.stderr);
    assert.equal(pf.exitCode, null, 'the forward kept running');
    await stop(pf);
  });

  it('with two ready pods behind the Service, deleting the one in use switches to the other at once', async () => {
    expectOk(await pg.apply(echoPod('pf-echo-c')), 'apply second pod');
    expectOk(await pg.kubectl(['wait', '--for=condition=Ready', 'pod/pf-echo-b', 'pod/pf-echo-c', '--timeout=60s']), 'wait');
    const web = await freePort();
    const pf = forward(['svc/pf-echo', `${web}:web`]);
    await waitFor(pf, new RegExp(`Forwarding from 127\\.0\\.0\\.1:${web} -> 8080`));
    // The oldest ready pod is used; deleting the other one leaves the forward alone.
    assert.equal(await curlPod(web, '/two', 10_000), 'pf-echo-b');
    const t0 = performance.now();
    const switched = waitFor(pf, /Reconnected to pod pf-echo-c/, 60_000);
    expectOk(await pg.kubectl(['delete', 'pod', 'pf-echo-b', '--wait=false']), 'delete the pod in use');
    await switched;
    console.log(`# svc/ forward switched to the other ready pod in ${(performance.now() - t0).toFixed(0)} ms`);
    assert.equal(await curlPod(web, '/switched'), 'pf-echo-c');
    assert.doesNotMatch(outputs.get(pf)!, /Waiting to reconnect/, 'another ready pod was there: no waiting');
    await stop(pf);
  });

  it('reconnects a pod/ forward when the pod is deleted and re-created under the same name', async () => {
    const port = await freePort();
    const pf = forward(['pod/pf-udp', `${port}:9000/udp`]);
    await waitFor(pf, /Forwarding from/);
    const first = await udpRoundTrips(port, 4, 'first');
    assert.equal(first.ok, 4, first.stderr);
    const lost = waitFor(pf, /Lost connection to pod pf-udp/, 60_000);
    expectOk(await pg.kubectl(['delete', 'pod', 'pf-udp', '--wait=true', '--timeout=60s']), 'delete pod');
    await lost;
    const reconnected = waitFor(pf, /Reconnected to pod pf-udp/, 90_000);
    expectOk(await pg.apply(udpPod), 're-create pod');
    await reconnected;
    const again = await udpRoundTrips(port, 4, 'again');
    assert.deepEqual({ ok: again.ok, misrouted: again.misrouted }, { ok: 4, misrouted: 0 }, again.stderr);
    await stop(pf);
  });

  it('fails like kubectl for a Service port that does not exist', async () => {
    const pf = forward(['svc/pf-echo', `${await freePort()}:81`]);
    const code = await new Promise<number | null>((r) => pf.once('exit', (c) => r(c)));
    assert.equal(code, 1);
    assert.match(outputs.get(pf)!, /Service pf-echo does not have a service port 81/);
    // A named port the Service lacks, and a pod that does not exist: at once, in kubectl's words.
    for (const [args, words] of [
      [['svc/pf-echo', `${await freePort()}:nosuch`], /Service 'pf-echo' does not have a named port 'nosuch'/],
      [['pod/nope', `${await freePort()}:80`], /pods "nope" not found/],
    ] as const) {
      const p = forward([...args]);
      assert.equal(await new Promise<number | null>((r) => p.once('exit', (c) => r(c))), 1, args.join(' '));
      assert.match(outputs.get(p)!, words);
      assert.doesNotMatch(outputs.get(p)!, /Waiting/);
    }
  });
});
