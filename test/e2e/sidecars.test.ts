// Native sidecar containers (an init container with `restartPolicy: Always`) end to end: `podgate
// up` inside a throwaway node host on a test LAN and the real kubectl.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { podNetnsName } from '../../src/agent/network/index.ts';
import type { TestLan } from '../lib/netns-hosts.ts';
import { expectOk, type Podgate } from './harness.ts';
import { type LanCluster, startLanCluster } from './lan-cluster.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('native sidecar containers', () => {
  let cluster: LanCluster;
  let lan: TestLan;
  let pg: Podgate;
  // The pods' processes see the node's files: a file per run makes the sidecar exit on demand.
  const trigger = `/tmp/podgate-sidecar-exit-${process.pid}-${Date.now()}`;

  before(async () => {
    cluster = await startLanCluster({ hosts: [] });
    ({ lan, pg } = cluster);
  });
  after(async () => {
    await lan?.exec('node', ['rm', '-f', trigger], { allowFailure: true });
    await cluster?.stop();
  });

  const get = async (pod: string, jsonpath: string) => expectOk(await pg.kubectl(['get', 'pod', pod, '-o', `jsonpath=${jsonpath}`]), `get ${pod} ${jsonpath}`);
  const deletePod = async (pod: string) => expectOk(await pg.kubectl(['delete', 'pod', pod, '--timeout=30s']), `delete ${pod}`);
  /** Pod processes carry their pod's name and their node's name in their environment. */
  const processesOf = async (pod: string) => (await lan.exec('node', ['sh', '-c',
    `for f in $(grep -l "PODGATE_NODE_NAME=${`${lan.prefix}node`.toLowerCase()}" /proc/[0-9]*/environ 2>/dev/null); do grep -l "PODGATE_POD_NAME=${pod}" "$f"; done 2>/dev/null | wc -l`],
  { allowFailure: true })).stdout.trim();

  it('runs a sidecar that never exits next to the app: Running, READY 2/2, and restarts the sidecar when it exits', async () => {
    expectOk(await pg.apply(`apiVersion: v1
kind: Pod
metadata: { name: with-sidecar }
spec:
  terminationGracePeriodSeconds: 5
  initContainers:
    - name: side
      image: busybox
      restartPolicy: Always
      command: [sh, -c, 'echo sidecar up; while [ ! -e ${trigger} ]; do sleep 0.2; done; rm -f ${trigger}; echo sidecar exits; exit 3']
  containers:
    - name: app
      image: busybox
      command: [sh, -c, 'while true; do sleep 1; done']
`), 'apply with-sidecar');
    expectOk(await pg.kubectl(['wait', '--for=condition=Ready', 'pod/with-sidecar', '--timeout=30s']), 'wait Ready');
    assert.equal(await get('with-sidecar', '{.status.phase} {.status.conditions[?(@.type=="Initialized")].status} {.status.conditions[?(@.type=="ContainersReady")].status}'),
      'Running True True');
    const side = await get('with-sidecar', '{.status.initContainerStatuses[0].name} {.status.initContainerStatuses[0].started} {.status.initContainerStatuses[0].ready} {.status.initContainerStatuses[0].state.running.startedAt}');
    assert.match(side, /^side true true \d{4}-\d\d-\d\dT\S+Z$/);
    assert.equal(await get('with-sidecar', '{.status.containerStatuses[0].ready}'), 'true');
    assert.match(expectOk(await pg.kubectl(['get', 'pod', 'with-sidecar']), 'get'), /with-sidecar\s+2\/2\s+Running\s+0\s/);
    assert.match(expectOk(await pg.kubectl(['logs', 'with-sidecar', '-c', 'side']), 'logs side'), /sidecar up/);

    // The sidecar exits (exit 3): it is restarted at once, the app goes on.
    expectOk(await pg.kubectl(['exec', 'with-sidecar', '-c', 'side', '--', 'touch', trigger]), 'exec touch');
    let restarts = '';
    for (let i = 0; i < 100; i++) {
      restarts = await get('with-sidecar', '{.status.initContainerStatuses[0].restartCount} {.status.initContainerStatuses[0].ready} {.status.initContainerStatuses[0].lastState.terminated.exitCode}');
      if (restarts === '1 true 3') break;
      await sleep(200);
    }
    assert.equal(restarts, '1 true 3', 'restartCount, ready, last exit code of the sidecar');
    assert.equal(await get('with-sidecar', '{.status.containerStatuses[0].restartCount} {.status.phase}'), '0 Running');
    let table = '';
    for (let i = 0; i < 50 && !/2\/2\s+Running/.test(table); i++) {
      if (i) await sleep(200);
      table = expectOk(await pg.kubectl(['get', 'pod', 'with-sidecar']), 'get');
    }
    assert.match(table, /with-sidecar\s+2\/2\s+Running\s+1 \(\S+ ago\)\s/);
    await deletePod('with-sidecar');
    assert.equal(await processesOf('with-sidecar'), '0', 'no process of the deleted pod is left');
  });

  it('ends a restartPolicy Never pod Succeeded once its app exited 0, with the sidecar stopped', async () => {
    expectOk(await pg.apply(`apiVersion: v1
kind: Pod
metadata: { name: job-sidecar }
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 5
  initContainers:
    - name: side
      image: busybox
      restartPolicy: Always
      command: [sh, -c, 'while true; do sleep 1; done']
  containers:
    - name: app
      image: busybox
      command: [sh, -c, 'sleep 1; echo work done']
`), 'apply job-sidecar');
    expectOk(await pg.kubectl(['wait', '--for=jsonpath={.status.phase}=Succeeded', 'pod/job-sidecar', '--timeout=30s']), 'wait Succeeded');
    assert.equal(await get('job-sidecar', '{.status.containerStatuses[0].state.terminated.exitCode} {.status.containerStatuses[0].state.terminated.reason}'), '0 Completed');
    // Stopped with SIGTERM (143) by podgate, not restarted, not counted against the pod.
    assert.equal(await get('job-sidecar', '{.status.initContainerStatuses[0].state.terminated.exitCode} {.status.initContainerStatuses[0].restartCount} {.status.initContainerStatuses[0].started}'), '143 0 false');
    assert.equal(await get('job-sidecar', '{.status.conditions[?(@.type=="Ready")].reason}'), 'PodCompleted');
    assert.match(expectOk(await pg.kubectl(['get', 'pod', 'job-sidecar']), 'get'), /job-sidecar\s+0\/2\s+Completed\s+0\s/);
    assert.equal(await processesOf('job-sidecar'), '0', 'the sidecar process is gone');
    const uid = await get('job-sidecar', '{.metadata.uid}');
    let left = '';
    for (let i = 0; i < 25; i++) {
      left = (await lan.exec('node', ['sh', '-c', `ip netns list | grep -c '^${podNetnsName(`${lan.prefix}node`.toLowerCase(), uid)}' || true`], { allowFailure: true })).stdout.trim();
      if (left === '0') break;
      await sleep(200);
    }
    assert.equal(left, '0', 'its netns is gone');
    await deletePod('job-sidecar');
  });

  it('probes a sidecar on a named port of its own (startupProbe httpGet port: http)', async () => {
    expectOk(await pg.apply(`apiVersion: v1
kind: Pod
metadata: { name: named-port }
spec:
  terminationGracePeriodSeconds: 2
  initContainers:
    - name: side
      image: podgate/echo
      restartPolicy: Always
      ports: [{ name: http, containerPort: 8080 }]
      startupProbe: { httpGet: { port: http, path: / }, periodSeconds: 1, failureThreshold: 10 }
  containers:
    - name: app
      image: busybox
      command: [sh, -c, 'while true; do sleep 1; done']
`), 'apply named-port');
    expectOk(await pg.kubectl(['wait', '--for=condition=Ready', 'pod/named-port', '--timeout=30s']), 'wait Ready');
    assert.equal(await get('named-port', '{.status.initContainerStatuses[0].started} {.status.initContainerStatuses[0].ready} {.status.initContainerStatuses[0].restartCount} {.status.phase}'),
      'true true 0 Running');
    const events = expectOk(await pg.kubectl(['get', 'events', '--field-selector', 'involvedObject.name=named-port', '-o', 'custom-columns=REASON:.reason,MSG:.message']), 'events');
    assert.doesNotMatch(events, /couldn't find port/);
    await deletePod('named-port');
  });
});
