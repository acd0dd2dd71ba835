// The node agent end to end: `podgate up` inside a throwaway node host on a test LAN, the real
// kubectl, and an outside client reaching the seeds' hostNetwork and hostPort pods.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BRIDGE_NAME, netnsPrefix, podNetnsName } from '../../src/agent/network/index.ts';
import { createLan, nodeBin, repoRoot, type TestLan, waitForOutput } from '../lib/netns-hosts.ts';
import { expectOk, type Podgate } from './harness.ts';
import { type LanCluster, startLanCluster } from './lan-cluster.ts';

const seed = (name: string) => readFileSync(join(import.meta.dirname, 'seeds', name), 'utf8');

describe('node agent on a test LAN', () => {
  let cluster: LanCluster;
  let lan: TestLan;
  let pg: Podgate;
  let nodeIP: string;

  before(async () => {
    cluster = await startLanCluster();
    ({ lan, pg, nodeIP } = cluster);
  });
  after(async () => { await cluster?.stop(); });

  const client = (argv: string[]) => lan.exec('client', argv, { allowFailure: true, timeoutMs: 15_000 });
  /** The HTTP status the client gets; a pod without a readiness probe is Ready before its server listens, so retry briefly. */
  const httpCode = async (url: string): Promise<string> => {
    let code = '000';
    for (let i = 0; i < 30 && code === '000'; i++) {
      if (i) await new Promise((r) => setTimeout(r, 100));
      code = (await client(['curl', '-s', '-m', '2', '-o', '/dev/null', '-w', '%{http_code}', url])).stdout;
    }
    return code;
  };
  const waitReady = async (pod: string) => expectOk(await pg.kubectl(['wait', '--for=condition=Ready', `pod/${pod}`, '--timeout=30s']), `wait ${pod}`);
  const deletePod = async (pod: string) => expectOk(await pg.kubectl(['delete', 'pod', pod, '--timeout=30s']), `delete ${pod}`);

  it('runs the seeds\' hostNetwork pod and answers the outside client at NODE_IP:8086', async () => {
    expectOk(await pg.apply(seed('000-01.yaml')), 'apply hostNetwork seed');
    await waitReady('influxdb');
    const wide = expectOk(await pg.kubectl(['get', 'pod', 'influxdb', '-o', 'wide']), 'get -o wide');
    assert.match(wide, new RegExp(`influxdb\\s+1/1\\s+Running\\s+0\\s+\\S+\\s+${nodeIP.replace(/\./g, '\\.')}\\s`), 'pod IP is the node IP');
    assert.equal(await httpCode(`http://${nodeIP}:8086/ping`), '204');
    await deletePod('influxdb');
  });

  it('maps the seeds\' hostPort to the pod, with the client\'s own address seen by the pod', async () => {
    expectOk(await pg.apply(seed('000-02.yaml')), 'apply hostPort seed');
    await waitReady('influxdb');
    const podIP = expectOk(await pg.kubectl(['get', 'pod', 'influxdb', '-o', 'jsonpath={.status.podIP}']), 'podIP');
    assert.match(podIP, /^10\.244\.\d+\.\d+$/);
    assert.equal(await httpCode(`http://${nodeIP}:8086/ping`), '204');
    const echo = JSON.parse((await client(['curl', '-s', `http://${nodeIP}:8086/whoami`])).stdout) as { client: { address: string }; server: { address: string }; pod: { name: string; namespace: string } };
    assert.equal(echo.client.address, lan.host('client').ip);
    assert.equal(echo.server.address, podIP);
    assert.deepEqual([echo.pod.name, echo.pod.namespace], ['influxdb', 'default']);
  });

  it('keeps a second pod wanting the same hostPort Pending until the first is deleted', async () => {
    const second = seed('000-02.yaml').replace('name: influxdb\n', 'name: influxdb-two\n');
    expectOk(await pg.apply(second), 'apply second');
    let described = '';
    for (let i = 0; i < 50 && !described.includes('FailedScheduling'); i++) {
      await new Promise((r) => setTimeout(r, 200));
      described = expectOk(await pg.kubectl(['describe', 'pod', 'influxdb-two']), 'describe');
    }
    assert.match(described, /Status:\s+Pending/);
    assert.match(described, /FailedScheduling .*0\/1 nodes are available: 1 node\(s\) didn't have free ports for the requested pod ports/);
    await deletePod('influxdb');
    await waitReady('influxdb-two');
    assert.equal(await httpCode(`http://${nodeIP}:8086/ping`), '204');
    await deletePod('influxdb-two');
  });

  it('runs the seeds\' redis pod unchanged and answers redis-cli from the client', async () => {
    expectOk(await pg.apply(seed('002-01.yaml')), 'apply redis seed');
    await waitReady('redis-demo');
    const r = await client(['redis-cli', '-h', nodeIP, '-p', '6379', 'PING']);
    assert.equal(r.stdout.trim(), 'PONG', r.stderr);
    await deletePod('redis-demo');
  });

  it('flips Ready with a readiness probe, shows CrashLoopBackOff and logs', async () => {
    const yaml = `apiVersion: v1
kind: Pod
metadata:
  name: probed
spec:
  containers:
    - name: web
      image: podgate/echo
      ports: [{ containerPort: 8080 }]
      readinessProbe:
        exec: { command: [sh, -c, 'test -e /tmp/podgate-ready-probed'] }
        periodSeconds: 1
    - name: crasher
      image: busybox
      command: [sh, -c, 'echo crashing now; exit 1']
`;
    expectOk(await pg.apply(yaml), 'apply probed');
    const ready = async () => expectOk(await pg.kubectl(['get', 'pod', 'probed', '-o', 'jsonpath={.status.containerStatuses[?(@.name=="web")].ready}']), 'ready');
    let restarts = 0;
    let waiting = '';
    for (let i = 0; i < 100 && !(restarts >= 2 && waiting === 'CrashLoopBackOff'); i++) {
      await new Promise((r) => setTimeout(r, 200));
      const cs = JSON.parse(expectOk(await pg.kubectl(['get', 'pod', 'probed', '-o', 'jsonpath={.status.containerStatuses[?(@.name=="crasher")]}']), 'status') || '{}') as { restartCount?: number; state?: { waiting?: { reason: string } } };
      restarts = cs.restartCount ?? 0;
      waiting = cs.state?.waiting?.reason ?? '';
    }
    assert.ok(restarts >= 1, `restartCount grows (${restarts})`);
    assert.equal(waiting, 'CrashLoopBackOff');
    const table = expectOk(await pg.kubectl(['get', 'pod', 'probed']), 'get');
    assert.match(table, /probed\s+0\/2\s+(CrashLoopBackOff|Error|NotReady)/);
    assert.equal(await ready(), 'false');
    const logs = expectOk(await pg.kubectl(['logs', 'probed', '-c', 'crasher']), 'logs');
    assert.match(logs, /crashing now/);
    // The probe's file is in the node's /tmp (pods share the host's files); creating it makes the pod ready.
    expectOk(await pg.kubectl(['exec', 'probed', '-c', 'web', '--', 'sh', '-c', 'touch /tmp/podgate-ready-probed']), 'exec touch');
    try {
      let r = '';
      for (let i = 0; i < 50 && r !== 'true'; i++) { await new Promise((res) => setTimeout(res, 200)); r = await ready(); }
      assert.equal(r, 'true');
    } finally {
      await lan.exec('node', ['rm', '-f', '/tmp/podgate-ready-probed'], { allowFailure: true });
    }
    await deletePod('probed');
  });

  it('gives a finished pod\'s hostPort and network back, so the next pod on that port is reached', async () => {
    expectOk(await pg.apply(`apiVersion: v1
kind: Pod
metadata: { name: finished-hp }
spec:
  restartPolicy: Never
  containers: [{ name: c, image: busybox, command: [sh, -c, 'exit 0'], ports: [{ containerPort: 8086, hostPort: 8086 }] }]
`), 'apply finished-hp');
    expectOk(await pg.kubectl(['wait', '--for=jsonpath={.status.phase}=Succeeded', 'pod/finished-hp', '--timeout=30s']), 'wait Succeeded');
    const uid = expectOk(await pg.kubectl(['get', 'pod', 'finished-hp', '-o', 'jsonpath={.metadata.uid}']), 'uid');
    let left = '';
    for (let i = 0; i < 25; i++) {
      left = (await lan.exec('node', ['sh', '-c', `ip netns list | grep -c '^${podNetnsName(`${lan.prefix}node`.toLowerCase(), uid)}' || true`], { allowFailure: true })).stdout.trim();
      if (left === '0') break;
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(left, '0', 'its netns is gone');
    // The seeds' hostPort pod on the same port answers (the next test goes on with it).
    expectOk(await pg.apply(seed('000-02.yaml')), 'apply hostPort seed');
    await waitReady('influxdb');
    assert.equal(await httpCode(`http://${nodeIP}:8086/ping`), '204');
    await deletePod('finished-hp');
  });

  it('restarts its pods cleanly after podgate is killed, keeping their addresses', async () => {
    expectOk(await pg.apply(seed('000-02.yaml')), 'apply hostPort seed');
    await waitReady('influxdb');
    const before = expectOk(await pg.kubectl(['get', 'pod', 'influxdb', '-o', 'jsonpath={.status.podIP} {.status.containerStatuses[0].restartCount}']), 'status');
    const [ipBefore, restartsBefore] = before.split(' ');
    await pg.crash();
    await pg.restart();
    let after = '';
    for (let i = 0; i < 100; i++) {
      after = expectOk(await pg.kubectl(['get', 'pod', 'influxdb', '-o', 'jsonpath={.status.podIP} {.status.containerStatuses[0].restartCount} {.status.containerStatuses[0].ready}']), 'status');
      if (after.endsWith(' true') && after.split(' ')[1] !== restartsBefore) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const [ipAfter, restartsAfter, ready] = after.split(' ');
    assert.equal(ipAfter, ipBefore, 'the pod keeps its IP');
    assert.equal(Number(restartsAfter), Number(restartsBefore) + 1, 'the container was restarted once');
    assert.equal(ready, 'true');
    assert.equal(await httpCode(`http://${nodeIP}:8086/ping`), '204');
    // Exactly one process serves the pod: the one from before the crash was killed.
    const uid = expectOk(await pg.kubectl(['get', 'pod', 'influxdb', '-o', 'jsonpath={.metadata.uid}']), 'uid');
    // Other test files run pods with the same addresses on their own nodes: match this node too.
    const nodeName = `${lan.prefix}node`.toLowerCase();
    const procs = await lan.exec('node', ['sh', '-c',
      `for f in $(grep -l "PODGATE_NODE_NAME=${nodeName}" /proc/[0-9]*/environ 2>/dev/null); do grep -l "PODGATE_POD_IP=${ipAfter}" "$f"; done 2>/dev/null | wc -l`], { allowFailure: true });
    assert.equal(procs.stdout.trim(), '1', `processes for pod ${uid}`);
  });

  it('leaves no process, namespace or rule behind when it stops', async () => {
    await waitReady('influxdb');
    const uid = expectOk(await pg.kubectl(['get', 'pod', 'influxdb', '-o', 'jsonpath={.metadata.uid}']), 'uid');
    await pg.stop();
    const left = await lan.exec('node', ['sh', '-c', `ip netns list | grep -c '^${netnsPrefix(`${lan.prefix}node`.toLowerCase())}' ; nft list tables`], { allowFailure: true });
    assert.equal(left.stdout.trim(), '0', `left behind: ${left.stdout}`);
    // Every container process of this node carries its node name in its environment.
    const procs = await lan.exec('node', ['sh', '-c', `grep -l "PODGATE_NODE_NAME=${`${lan.prefix}node`.toLowerCase()}" /proc/[0-9]*/environ 2>/dev/null | wc -l`], { allowFailure: true });
    assert.equal(procs.stdout.trim(), '0', `processes of pod ${uid} and its neighbours are gone`);
  });
});

describe('podgate up that cannot start', () => {
  it('fails on a port in use with the reason, before any pod or rule, and leaves nothing behind', async () => {
    const lan = await createLan({ hosts: ['node'] });
    const dataDir = mkdtempSync(join(tmpdir(), 'podgate-e2e-'));
    try {
      const nodeName = `${lan.prefix}node`.toLowerCase();
      lan.trackNetnsPrefix(netnsPrefix(nodeName));
      const holder = lan.spawn('node', [nodeBin, '-e', "require('net').createServer().listen(80, '0.0.0.0', () => console.log('holding'))"]);
      await waitForOutput(holder, /holding/);
      const up = await lan.exec('node', [join(repoRoot, 'bin/podgate'), 'up', '--data-dir', dataDir, '--node-ip', lan.host('node').ip, '--node-name', nodeName],
        { allowFailure: true, timeoutMs: 60_000 });
      assert.equal(up.code, 1, `exit code; output:\n${up.stdout}${up.stderr}`);
      assert.match(up.stderr, /podgate: listen EADDRINUSE: address already in use 0\.0\.0\.0:80/);
      const left = await lan.exec('node', ['sh', '-c', `ip netns list | grep -c '^${netnsPrefix(nodeName)}'; nft list tables; ip -o link show ${BRIDGE_NAME} 2>/dev/null; ` +
        `grep -l "PODGATE_NODE_NAME=${nodeName}" /proc/[0-9]*/environ 2>/dev/null | wc -l`], { allowFailure: true });
      assert.equal(left.stdout.trim(), '0\n0', `left behind (netns count, nft tables, bridge, pod processes):\n${left.stdout}`);
    } finally {
      await lan.destroy();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
