// postStart hooks end to end: `podgate up` inside a throwaway node host on a test LAN and the real
// kubectl. The hook runs right after its container starts and holds back the next container; a
// failing hook gives the kubelet's events and waiting reason; deleting a pod is not held up by a
// hook that never ends.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestLan } from '../lib/netns-hosts.ts';
import { expectOk, type Podgate } from './harness.ts';
import { type LanCluster, startLanCluster } from './lan-cluster.ts';

/** A busybox pod whose one container loops, with `hook` as its postStart exec (sh -c). */
function hookedShell(name: string, hook: string): string {
  return `apiVersion: v1
kind: Pod
metadata: { name: ${name} }
spec:
  terminationGracePeriodSeconds: 2
  containers:
    - name: app
      image: busybox
      command: [sh, -c, 'while true; do sleep 1; done']
      lifecycle:
        postStart:
          exec: { command: [sh, -c, '${hook}'] }
`;
}

describe('lifecycle postStart hooks', () => {
  let cluster: LanCluster;
  let lan: TestLan;
  let pg: Podgate;
  // Pod processes see the node's files: the hooks leave their mark in a directory of this run.
  const dir = mkdtempSync(join(tmpdir(), 'podgate-poststart-'));

  before(async () => {
    cluster = await startLanCluster({ hosts: [] });
    ({ lan, pg } = cluster);
  });
  after(async () => {
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const get = async (pod: string, jsonpath: string) => expectOk(await pg.kubectl(['get', 'pod', pod, '-o', `jsonpath=${jsonpath}`]), `get ${pod} ${jsonpath}`);
  /** Pod processes (hooks' included) carry their pod's name and their node's name in their environment. */
  const processesOf = async (pod: string) => (await lan.exec('node', ['sh', '-c',
    `for f in $(grep -l "PODGATE_NODE_NAME=${`${lan.prefix}node`.toLowerCase()}" /proc/[0-9]*/environ 2>/dev/null); do grep -l "PODGATE_POD_NAME=${pod}" "$f"; done 2>/dev/null | wc -l`],
  { allowFailure: true })).stdout.trim();

  it('runs the hook after its container started, and the next container only once the hook returned', async () => {
    const mark = join(dir, 'hooked');
    expectOk(await pg.apply(`apiVersion: v1
kind: Pod
metadata: { name: hooked }
spec:
  terminationGracePeriodSeconds: 2
  containers:
    - name: app
      image: busybox
      command: [sh, -c, 'while [ ! -e ${mark} ]; do sleep 0.1; done; echo app saw the hook; while true; do sleep 1; done']
      lifecycle:
        postStart:
          exec: { command: [sh, -c, 'sleep 1; echo from the hook > ${mark}'] }
    - name: next
      image: busybox
      command: [sh, -c, 'if [ -e ${mark} ]; then echo started after the hook; else echo started before the hook; fi; while true; do sleep 1; done']
`), 'apply hooked');
    expectOk(await pg.kubectl(['wait', '--for=condition=Ready', 'pod/hooked', '--timeout=30s']), 'wait Ready');
    assert.equal(await get('hooked', '{.status.containerStatuses[*].started} {.status.containerStatuses[*].restartCount}'), 'true true 0 0');
    assert.equal(expectOk(await pg.kubectl(['exec', 'hooked', '-c', 'app', '--', 'cat', mark]), 'exec cat').trim(), 'from the hook');
    assert.match(expectOk(await pg.kubectl(['logs', 'hooked', '-c', 'app']), 'logs app'), /app saw the hook/);
    assert.equal(expectOk(await pg.kubectl(['logs', 'hooked', '-c', 'next']), 'logs next').trim(), 'started after the hook');
    expectOk(await pg.kubectl(['delete', 'pod', 'hooked', '--timeout=30s']), 'delete hooked');
  });

  it('kills the container of a failing hook: FailedPostStartHook and Killing events, waiting PostStartHookError with the handler\'s words', async () => {
    // The hook takes a second: its restart's hook runs long enough to see the first failure in the status.
    expectOk(await pg.apply(hookedShell('hook-fails', 'sleep 1; echo oops; exit 3')), 'apply hook-fails');
    // One read of every field (the reason turns CrashLoopBackOff after the second failure).
    const fields = '{.metadata.uid}|{.status.containerStatuses[0].state.waiting.reason}|{.status.containerStatuses[0].state.waiting.message}|' +
      '{.status.containerStatuses[0].lastState.terminated.exitCode} {.status.containerStatuses[0].ready} {.status.phase}';
    let seen: string[] = [];
    for (let i = 0; i < 300 && seen[1] !== 'PostStartHookError'; i++) {
      if (i) await new Promise((r) => setTimeout(r, 100));
      seen = (await get('hook-fails', fields)).split('|');
    }
    const [uid, reason, message, rest] = seen;
    assert.equal(reason, 'PostStartHookError', seen.join('|'));
    assert.equal(message,
      `Exec lifecycle hook ([sh -c sleep 1; echo oops; exit 3]) for Container "app" in Pod "hook-fails_default(${uid})" failed - error: command 'sh -c sleep 1; echo oops; exit 3' exited with 3: , message: "oops\\n"`);
    // Killed with SIGTERM (the pod's grace period): 143, counted as the run before.
    assert.equal(rest, '143 false Running');
    const described = expectOk(await pg.kubectl(['describe', 'pod', 'hook-fails']), 'describe');
    assert.match(described, /Warning\s+FailedPostStartHook\s+.*PostStartHook failed/);
    assert.match(described, /Normal\s+Killing\s+.*FailedPostStartHook/);
    assert.doesNotMatch(described, /Warning\s+FailedPostStartHook\s+.*oops/, 'the event keeps the hook\'s output out');
    expectOk(await pg.kubectl(['delete', 'pod', 'hook-fails', '--timeout=30s']), 'delete hook-fails');
  });

  it('deletes a pod whose hook never ends without waiting for the hook', async () => {
    expectOk(await pg.apply(hookedShell('hook-hangs', 'sleep 3600')), 'apply hook-hangs');
    // Started, its hook running: the API still shows it as not started.
    let events = '';
    for (let i = 0; i < 50 && !/Started/.test(events); i++) {
      if (i) await new Promise((r) => setTimeout(r, 100));
      events = expectOk(await pg.kubectl(['get', 'events', '--field-selector', 'involvedObject.name=hook-hangs', '-o', 'custom-columns=REASON:.reason']), 'events');
    }
    assert.match(events, /Started/);
    assert.equal(await get('hook-hangs', '{.status.phase} {.status.containerStatuses[0].started}'), 'Pending false');
    const t0 = Date.now();
    expectOk(await pg.kubectl(['delete', 'pod', 'hook-hangs', '--timeout=20s']), 'delete hook-hangs');
    assert.ok(Date.now() - t0 < 10_000, `deleted in ${Date.now() - t0} ms`);
    assert.equal(await processesOf('hook-hangs'), '0', 'neither the container nor its hook is left');
  });
});
