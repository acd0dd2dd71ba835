// PodWorker against fake network and runtime ports: what it starts, stops and reports, with a
// clock the tests move (no sleeping except for the probe loop's own timers).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Container, LifecycleHandler, Pod, PodStatus, Probe } from 'kubernetes-types/core/v1.d.ts';
import { computeHostPortMappings } from './agent.ts';
import { PodWorker, shownBeforeStart, type PodWorkerDeps } from './pod-worker.ts';
import type { ContainerRecord } from './pod-status.ts';
import type { ExitEvent, HostPortMapping, PodNetworkPort, Resolved, RuntimePort, StartSpec } from './ports.ts';
import { StartError } from './runtime/process-runtime.ts';

function makePod(name: string, edit: (p: Pod) => void = () => {}): Pod {
  const pod: Pod = {
    metadata: { name, namespace: 'ns', uid: `uid-${name}` },
    spec: { nodeName: 'node1', containers: [{ name: 'c', image: 'busybox', command: ['sh', '-c', 'true'], ports: [{ containerPort: 80, hostPort: 8080 }] }] },
  };
  edit(pod);
  return pod;
}

class FakeNetwork implements PodNetworkPort {
  readonly pods = new Set<string>();
  readonly calls: string[] = [];
  async setupNode(): Promise<void> {}
  async addPod(p: { uid: string }): Promise<{ ip: string; netnsPath: string }> {
    this.calls.push(`add ${p.uid}`);
    this.pods.add(p.uid);
    return { ip: '10.244.0.5', netnsPath: `/run/netns/${p.uid}` };
  }
  async removePod(uid: string): Promise<void> {
    this.calls.push(`remove ${uid}`);
    this.pods.delete(uid);
  }
  async setHostPorts(_m: HostPortMapping[]): Promise<void> {}
  async listPods(): Promise<string[]> { return [...this.pods]; }
  async teardownNode(): Promise<void> {}
}

type HookResult = { ok: boolean; message: string };
type HookContext = Parameters<RuntimePort['runHook']>[1];

class FakeRuntime implements RuntimePort {
  readonly starts: StartSpec[] = [];
  readonly calls: string[] = [];
  readonly hooks: { handler: LifecycleHandler; ctx: HookContext }[] = [];
  startError: Error | undefined;
  probeResult = { ok: true, message: '' };
  hookResult = { ok: true, message: '' };
  /** Answers a hook instead of `hookResult` (a test may hold one open to see what waits for it). */
  answerHook: ((h: LifecycleHandler) => Promise<HookResult>) | undefined;
  /** When a stopped container's exit happens (the epoch's first second unless a test needs the clock). */
  stoppedAt = () => new Date(1000);
  exit: ((e: ExitEvent) => void) | undefined;
  /** The working directory the image gives (images.yaml `workingDir`), if any. */
  imageWorkingDir: string | undefined;
  resolve(c: Container): Resolved { return { argv: c.command ?? [], ...(this.imageWorkingDir ? { workingDir: this.imageWorkingDir } : {}) }; }
  async start(spec: StartSpec): Promise<{ pid: number; startedAt: Date }> {
    this.calls.push(`start ${spec.containerName}`);
    if (this.startError) throw this.startError;
    this.starts.push(spec);
    return { pid: 100, startedAt: new Date(0) };
  }
  async stop(podUid: string, containerName: string, grace: number): Promise<void> {
    this.calls.push(`stop ${containerName} ${grace}`);
    const finishedAt = this.stoppedAt();
    this.exit?.({ podUid, containerName, exitCode: 137, signal: 9, reason: 'Error', startedAt: new Date(finishedAt.getTime() - 1000), finishedAt });
  }
  onExit(cb: (e: ExitEvent) => void): void { this.exit = cb; }
  async probe(_p: Probe, ctx: { kind: string }): Promise<{ ok: boolean; message: string }> {
    this.calls.push(`probe ${ctx.kind}`);
    return this.probeResult;
  }
  async runHook(h: LifecycleHandler, ctx: HookContext): Promise<HookResult> {
    this.calls.push(`hook ${ctx.containerName} ${ctx.timeoutSeconds}`);
    this.hooks.push({ handler: h, ctx });
    return this.answerHook ? this.answerHook(h) : this.hookResult;
  }
  async killOrphans(): Promise<void> {}
  async forget(): Promise<void> {}
}

function harness(pod: Pod) {
  const network = new FakeNetwork();
  const runtime = new FakeRuntime();
  const statuses: PodStatus[] = [];
  const events: string[] = [];
  const logs: string[] = [];
  const requeues: number[] = [];
  let nowMs = Date.parse('2025-01-01T00:00:00Z');
  const deps: PodWorkerDeps = {
    nodeName: 'node1', nodeIP: '192.0.2.10', network, runtime, hostname: 'node-host',
    envContext: () => ({ configMaps: new Map(), secrets: new Map(), serviceEnv: {}, allocatable: { cpu: '2', memory: '1Gi' } }),
    // Each write gets the next resourceVersion, as the API server's store revision does.
    writeStatus: async (_p, s) => { statuses.push(s); return String(100 + statuses.length); },
    finalizeDelete: async () => { events.push('finalizeDelete'); },
    event: (_p, type, reason, message) => { events.push(`${type} ${reason} ${message}`); },
    networkReady: async () => {},
    requeue: (ms) => { requeues.push(ms); },
    now: () => new Date(nowMs),
    log: (m) => { logs.push(m); },
  };
  const worker = new PodWorker(pod, deps);
  runtime.onExit((e) => worker.onExit(e));
  return {
    network, runtime, statuses, events, logs, requeues, worker,
    advance: (ms: number) => { nowMs += ms; },
    now: () => new Date(nowMs),
    exit: (exitCode: number, name = 'c') => worker.onExit({ podUid: pod.metadata!.uid!, containerName: name, exitCode, reason: exitCode === 0 ? 'Completed' : 'Error', startedAt: new Date(nowMs - 1000), finishedAt: new Date(nowMs) }),
    last: () => statuses[statuses.length - 1]!,
  };
}

const cs = (s: PodStatus, name = 'c') => s.containerStatuses!.find((x) => x.name === name)!;

describe('PodWorker: a finished pod gives its sandbox back', () => {
  it('removes the netns, IP and hostPort of a pod whose containers all exited under restartPolicy Never, keeping the IP in its status', async () => {
    const h = harness(makePod('done', (p) => { p.spec!.restartPolicy = 'Never'; }));
    await h.worker.sync();
    assert.deepEqual([...h.network.pods], ['uid-done']);
    h.exit(0);
    await h.worker.sync();
    assert.deepEqual(h.network.calls, ['add uid-done', 'remove uid-done']);
    assert.equal(h.worker.isFinished, true);
    const s = h.last();
    assert.equal(s.phase, 'Succeeded');
    assert.equal(s.podIP, '10.244.0.5');
    assert.equal(s.conditions!.find((c) => c.type === 'PodReadyToStartContainers')!.status, 'False');
    // Its hostPort goes with it: a new pod given the same port gets it.
    const next = makePod('next');
    assert.deepEqual(computeHostPortMappings([
      { pod: h.worker.pod, podIP: h.worker.podIP, finished: h.worker.isFinished },
      { pod: next, podIP: '10.244.0.6', finished: false },
    ]), [{ hostPort: 8080, protocol: 'TCP', podIP: '10.244.0.6', containerPort: 80 }]);
    await h.worker.sync();
    assert.deepEqual(h.runtime.calls, ['start c'], 'nothing runs again');
  });

  it('writes the final status on the next sync when the first write of it failed (the sandbox already gone)', async () => {
    const h = harness(makePod('flaky', (p) => { p.spec!.restartPolicy = 'Never'; }));
    await h.worker.sync();
    h.exit(0);
    let failOnce = true;
    const orig = h.statuses.push.bind(h.statuses);
    h.statuses.push = (...xs: PodStatus[]) => {
      if (failOnce && xs[0]!.phase === 'Succeeded') { failOnce = false; throw new Error('apiserver unavailable'); }
      return orig(...xs);
    };
    await h.worker.sync(); // the Succeeded write fails: a retry is asked for
    assert.ok(h.requeues.includes(1000));
    await h.worker.sync(); // the retry
    assert.equal(h.last().phase, 'Succeeded');
  });

  it('keeps the sandbox of an OnFailure pod while a failed container restarts', async () => {
    const h = harness(makePod('retry', (p) => { p.spec!.restartPolicy = 'OnFailure'; }));
    await h.worker.sync();
    h.exit(1);
    await h.worker.sync();
    assert.deepEqual(h.network.calls, ['add uid-retry']);
    assert.equal(h.worker.isFinished, false);
  });

  it('removes the network a crashed run left for a pod that had already finished, without setting one up', async () => {
    const pod = makePod('old', (p) => {
      p.spec!.restartPolicy = 'Never';
      Object.assign(p, { status: { phase: 'Succeeded', podIP: '10.244.0.9', containerStatuses: [{ name: 'c', image: 'busybox', imageID: '', ready: false, restartCount: 0,
        state: { terminated: { exitCode: 0, reason: 'Completed', startedAt: '2025-01-01T00:00:00Z', finishedAt: '2025-01-01T00:00:01Z' } } }] } });
    });
    const h = harness(pod);
    h.network.pods.add('uid-old');
    await h.worker.sync();
    assert.deepEqual(h.network.calls, ['remove uid-old']);
    assert.equal(h.network.pods.size, 0);
    // Deleting it later removes nothing more and runs nothing.
    h.worker.update({ ...pod, metadata: { ...pod.metadata, deletionTimestamp: '2025-01-01T00:01:00Z', deletionGracePeriodSeconds: 30 } });
    await h.worker.sync();
    assert.deepEqual(h.runtime.calls, []);
    assert.ok(h.events.includes('finalizeDelete'));
  });

  it('removes the network of a finished pod on deletion even when this run never knew its IP', async () => {
    const pod = makePod('gone', (p) => { Object.assign(p, { status: { phase: 'Failed' } }); Object.assign(p.metadata!, { deletionTimestamp: '2025-01-01T00:01:00Z' }); });
    const h = harness(pod);
    h.network.pods.add('uid-gone');
    await h.worker.sync();
    assert.equal(h.network.pods.size, 0);
  });
});

describe('PodWorker: status written again when another writer changed it', () => {
  it('puts Ready back after the node lifecycle controller marked the pod not ready, and writes nothing while the API shows its own status', async () => {
    const pod = makePod('back');
    const h = harness(pod);
    await h.worker.sync();
    await h.worker.sync();
    const ours = h.last();
    assert.equal(ours.conditions!.find((c) => c.type === 'Ready')!.status, 'True');
    const written = h.statuses.length;
    const ourVersion = String(100 + written);
    // The informer is behind: it still shows an older copy (Ready False, from before the start). Not another writer.
    const older = { ...ours, conditions: ours.conditions!.map((c) => (c.type === 'Ready' ? { ...c, status: 'False' } : c)) };
    h.worker.update({ ...pod, metadata: { ...pod.metadata, resourceVersion: String(Number(ourVersion) - 1) }, status: older });
    await h.worker.sync();
    assert.equal(h.statuses.length, written, 'no write for a copy older than our last write');
    // The informer brings back what was written: nothing new to write.
    h.worker.update({ ...pod, metadata: { ...pod.metadata, resourceVersion: ourVersion }, status: ours });
    await h.worker.sync();
    assert.equal(h.statuses.length, written, 'no write while the API holds our status');
    // The node was unreachable for a while: the controller set Ready False (MarkPodsNotReady).
    h.worker.update({ ...pod, metadata: { ...pod.metadata, resourceVersion: String(Number(ourVersion) + 1) }, status: older });
    await h.worker.sync();
    assert.equal(h.statuses.length, written + 1, 'written again');
    assert.equal(h.last().conditions!.find((c) => c.type === 'Ready')!.status, 'True');
  });
});

describe('PodWorker: the pod\'s files', () => {
  it('starts no container before the pod\'s files are written, and tries them again after a failure', async () => {
    const h = harness(makePod('pf1'));
    let fail = true;
    (h.runtime as RuntimePort).preparePod = async () => {
      if (fail) throw new Error('open /etc/resolv.conf: permission denied');
      return { bindMounts: [{ source: '/data/pf1/resolv.conf', target: '/etc/resolv.conf' }], events: [] };
    };
    await h.worker.sync();
    assert.equal(h.runtime.starts.length, 0, 'not with the host\'s files');
    assert.ok(h.events.includes('Warning FailedCreatePodSandBox Failed to create pod sandbox: open /etc/resolv.conf: permission denied'));
    fail = false;
    await h.worker.sync();
    assert.deepEqual(h.runtime.starts.map((s) => s.bindMounts), [[{ source: '/data/pf1/resolv.conf', target: '/etc/resolv.conf' }]]);
    assert.deepEqual(h.network.calls, ['add uid-pf1'], 'the network was set up once');
  });
});

describe('PodWorker: working directory', () => {
  it('starts in the container\'s workingDir, else in the one its image gives', async () => {
    const h = harness(makePod('wd'));
    h.runtime.imageWorkingDir = '/srv/app';
    await h.worker.sync();
    assert.equal(h.runtime.starts[0]?.workingDir, '/srv/app');
    const h2 = harness(makePod('wd2', (p) => { p.spec!.containers[0]!.workingDir = '/data'; }));
    h2.runtime.imageWorkingDir = '/srv/app';
    await h2.worker.sync();
    assert.equal(h2.runtime.starts[0]?.workingDir, '/data');
  });
});

describe('PodWorker: a command that cannot start', () => {
  const notFound = () => new StartError('exec: "nope": executable file not found in $PATH');

  it('is a StartError exit 128 restarted with back-off and counted restarts (RunContainerError, then CrashLoopBackOff)', async () => {
    const h = harness(makePod('nf'));
    h.runtime.startError = notFound();
    await h.worker.sync();
    let c = cs(h.last());
    assert.deepEqual(c.state, { waiting: { reason: 'RunContainerError', message: 'exec: "nope": executable file not found in $PATH' } });
    assert.equal(c.lastState?.terminated?.exitCode, 128);
    assert.equal(c.lastState?.terminated?.reason, 'StartError');
    assert.equal(c.restartCount, 0);
    await h.worker.sync(); // the first restart is immediate
    assert.equal(cs(h.last()).restartCount, 1);
    await h.worker.sync(); // then it backs off 10 s
    c = cs(h.last());
    assert.equal(c.state?.waiting?.reason, 'CrashLoopBackOff');
    assert.match(c.state?.waiting?.message ?? '', /^back-off 10s restarting failed container=c pod=nf_ns\(uid-nf\)$/);
    for (let i = 0; i < 5; i++) await h.worker.sync();
    assert.equal(h.runtime.calls.length, 2, 'no retry before the back-off ends');
    h.advance(10_000);
    await h.worker.sync();
    assert.equal(h.runtime.calls.length, 3);
    assert.equal(cs(h.last()).restartCount, 2);
    assert.equal(h.last().phase, 'Running');
  });

  it('fails the pod under restartPolicy Never', async () => {
    const h = harness(makePod('nf', (p) => { p.spec!.restartPolicy = 'Never'; }));
    h.runtime.startError = notFound();
    await h.worker.sync();
    await h.worker.sync();
    assert.equal(h.runtime.calls.length, 1);
    const s = h.last();
    assert.equal(s.phase, 'Failed');
    assert.equal(cs(s).state?.terminated?.reason, 'StartError');
    assert.equal(cs(s).state?.terminated?.exitCode, 128);
    assert.equal(h.network.pods.size, 0, 'its sandbox is released');
  });
});

describe('PodWorker: after podgate crashed', () => {
  it('restarts only the containers that were running; an exited container of a Never pod keeps its real exit', async () => {
    const pod = makePod('mn', (p) => {
      p.spec!.restartPolicy = 'Never';
      p.spec!.containers = [{ name: 'quick', image: 'busybox' }, { name: 'slow', image: 'busybox' }];
      Object.assign(p, { status: { phase: 'Running', containerStatuses: [
        { name: 'quick', image: 'busybox', imageID: '', ready: false, restartCount: 0, containerID: 'podgate://uid-mn/quick/0',
          state: { terminated: { exitCode: 0, reason: 'Completed', startedAt: '2025-01-01T00:00:00Z', finishedAt: '2025-01-01T00:00:01Z' } } },
        { name: 'slow', image: 'busybox', imageID: '', ready: true, restartCount: 0, state: { running: { startedAt: '2025-01-01T00:00:00Z' } } },
      ] } });
    });
    const h = harness(pod);
    await h.worker.sync();
    assert.deepEqual(h.runtime.calls, ['start slow']);
    const s = h.last();
    assert.deepEqual(cs(s, 'quick').state?.terminated?.exitCode, 0);
    assert.equal(cs(s, 'quick').restartCount, 0);
    assert.equal(cs(s, 'slow').restartCount, 1);
    assert.equal(s.phase, 'Running');
  });

  it('restarts an exited container when restartPolicy says so, counting the restart', async () => {
    const pod = makePod('al', (p) => {
      Object.assign(p, { status: { phase: 'Running', containerStatuses: [{ name: 'c', image: 'busybox', imageID: '', ready: false, restartCount: 2,
        state: { terminated: { exitCode: 1, reason: 'Error', startedAt: '2025-01-01T00:00:00Z', finishedAt: '2025-01-01T00:00:01Z' } } }] } });
    });
    const h = harness(pod);
    await h.worker.sync();
    assert.deepEqual(h.runtime.calls, ['start c']);
    assert.equal(cs(h.last()).restartCount, 3);
    assert.equal(cs(h.last()).lastState?.terminated?.exitCode, 1, 'the real exit is the last state');
  });
});

describe('PodWorker: a pod with a sidecar after podgate crashed', () => {
  const T = '2025-01-01T00:00:00Z';
  const running = (name: string, o: object = {}) => ({ name, image: 'busybox', imageID: '', ready: true, started: true, restartCount: 0, state: { running: { startedAt: T } }, ...o });
  const withSidecar = (policy: 'Always' | 'Never', status: object, edit: (p: Pod) => void = () => {}) => makePod('scr', (p) => {
    p.spec!.restartPolicy = policy;
    p.spec!.terminationGracePeriodSeconds = 7;
    p.spec!.initContainers = [{ name: 's1', image: 'busybox', restartPolicy: 'Always' }];
    edit(p);
    Object.assign(p, { status: { podIP: '10.244.0.9', ...status } });
  });
  const init = (s: PodStatus, name: string) => s.initContainerStatuses!.find((x) => x.name === name)!;

  it('does not start again the sidecar of a Never pod whose app had finished, nor stop it again: Succeeded, no restart counted', async () => {
    const h = harness(withSidecar('Never', { phase: 'Running',
      initContainerStatuses: [running('s1', { lastState: { terminated: { exitCode: 2, reason: 'Error', startedAt: T, finishedAt: T } }, restartCount: 1 })],
      containerStatuses: [{ name: 'c', image: 'busybox', imageID: '', ready: false, restartCount: 0, state: { terminated: { exitCode: 0, reason: 'Completed', startedAt: T, finishedAt: T } } }] }));
    await h.worker.sync();
    assert.deepEqual(h.runtime.calls, [], 'nothing started, nothing stopped');
    assert.ok(!h.events.some((e) => / (Started|Killing) /.test(e)), h.events.join('\n'));
    const s = h.last();
    assert.equal(s.phase, 'Succeeded');
    const side = init(s, 's1');
    assert.equal(side.restartCount, 1);
    assert.equal(side.state?.terminated?.exitCode, 137, 'the run podgate\'s restart ended');
    assert.equal(side.lastState?.terminated?.exitCode, 2, 'the run before it stays the last state');
    assert.equal(h.network.pods.size, 0, 'the sandbox is released');
    await h.worker.sync();
    assert.deepEqual(h.runtime.calls, []);
  });

  it('keeps a Running pod initialized while its sidecar\'s startup probe runs again: the app is restarted at once, not held back', async () => {
    const h = harness(withSidecar('Always', { phase: 'Running',
      conditions: [{ type: 'Initialized', status: 'True', lastTransitionTime: T }, { type: 'Ready', status: 'True', lastTransitionTime: T }],
      initContainerStatuses: [running('s1')], containerStatuses: [running('c')] },
    (p) => { p.spec!.initContainers![0]!.startupProbe = { exec: { command: ['true'] }, periodSeconds: 1 }; }));
    h.runtime.probeResult = { ok: false, message: 'Startup probe failed: ' };
    await h.worker.sync();
    assert.deepEqual(h.runtime.calls.filter((c) => c.startsWith('start')), ['start s1', 'start c']);
    assert.ok(h.statuses.every((x) => x.phase === 'Running'), JSON.stringify(h.statuses.map((x) => x.phase)));
    const s = h.last();
    assert.equal(s.conditions!.find((c) => c.type === 'Initialized')!.status, 'True');
    assert.deepEqual([cs(s).restartCount, Object.keys(cs(s).state!)[0]], [1, 'running']);
    assert.deepEqual([init(s, 's1').restartCount, init(s, 's1').started, init(s, 's1').ready], [1, false, false]);
    await h.worker.terminate(0, false);
  });

  it('does not start again a sidecar that exited together with the app of a Never pod', async () => {
    const h = harness(withSidecar('Never', {}));
    await h.worker.sync();
    h.exit(0);
    h.exit(1, 's1');
    await h.worker.sync();
    assert.deepEqual(h.runtime.calls, ['start s1', 'start c']);
    assert.equal(h.last().phase, 'Succeeded');
    assert.equal(init(h.last(), 's1').restartCount, 0);
  });
});

describe('PodWorker: probes and preStop', () => {
  const probed = (edit: (c: Container) => void) => makePod('lp', (p) => {
    p.spec!.terminationGracePeriodSeconds = 30;
    edit(p.spec!.containers[0]!);
  });
  const settle = () => new Promise((r) => setTimeout(r, 30));

  it('reports a failed probe with kubelet\'s words, unprefixed twice', async () => {
    const h = harness(probed((c) => { c.readinessProbe = { exec: { command: ['false'] } }; }));
    h.runtime.probeResult = { ok: false, message: 'Readiness probe failed: ' };
    await h.worker.sync();
    await settle();
    await h.worker.terminate(0, false);
    assert.ok(h.events.includes('Warning Unhealthy Readiness probe failed: '), h.events.join('\n'));
  });

  it('runs preStop before a liveness kill and uses the probe\'s own terminationGracePeriodSeconds', async () => {
    const h = harness(probed((c) => {
      c.livenessProbe = { exec: { command: ['false'] }, failureThreshold: 1, terminationGracePeriodSeconds: 3 };
      c.lifecycle = { preStop: { exec: { command: ['sh', '-c', 'exit 7'] } } };
    }));
    h.runtime.probeResult = { ok: false, message: 'Liveness probe failed: ' };
    h.runtime.hookResult = { ok: false, message: 'Exec lifecycle hook ([sh -c exit 7]) for Container "c" in Pod "lp_ns(uid-lp)" failed - error: command \'sh -c exit 7\' exited with 7: , message: ""' };
    await h.worker.sync();
    await settle();
    assert.deepEqual(h.runtime.calls, ['start c', 'probe Liveness', 'hook c 3', 'stop c 3']);
    // kubelet keeps the hook's output out of the event (it may hold secrets) and logs it.
    assert.ok(h.events.includes('Warning FailedPreStopHook PreStopHook failed'), h.events.join('\n'));
    assert.ok(h.logs.some((l) => l.includes('Exec lifecycle hook ([sh -c exit 7])')));
  });

  it('falls back to the pod\'s grace period for a startup kill without its own', async () => {
    const h = harness(probed((c) => { c.startupProbe = { exec: { command: ['false'] }, failureThreshold: 1 }; }));
    h.runtime.probeResult = { ok: false, message: 'Startup probe failed: ' };
    await h.worker.sync();
    await settle();
    assert.deepEqual(h.runtime.calls, ['start c', 'probe Startup', 'stop c 30']);
  });
});

describe('PodWorker: what a container gets', () => {
  it('sets HOSTNAME to the pod name, the node hostname for hostNetwork, the container env winning', async () => {
    const h = harness(makePod('web'));
    await h.worker.sync();
    assert.equal(h.runtime.starts[0]!.env.HOSTNAME, 'web');
    const host = harness(makePod('hn', (p) => { p.spec!.hostNetwork = true; }));
    await host.worker.sync();
    assert.equal(host.runtime.starts[0]!.env.HOSTNAME, 'node-host');
    const own = harness(makePod('own', (p) => { p.spec!.containers[0]!.env = [{ name: 'HOSTNAME', value: 'mine' }]; }));
    await own.worker.sync();
    assert.equal(own.runtime.starts[0]!.env.HOSTNAME, 'mine');
  });

  it('reports Pulled on every start and no signal in a terminated state', async () => {
    const h = harness(makePod('rs'));
    await h.worker.sync();
    h.worker.onExit({ podUid: 'uid-rs', containerName: 'c', exitCode: 137, signal: 9, reason: 'Error', startedAt: new Date(0), finishedAt: new Date(1000) });
    await h.worker.sync();
    assert.equal(h.events.filter((e) => e.startsWith('Normal Pulled ')).length, 2);
    const t = cs(h.last()).lastState?.terminated as unknown as Record<string, unknown>;
    assert.equal(t.exitCode, 137);
    assert.equal('signal' in t, false);
  });
});

describe('PodWorker: init containers', () => {
  const withInit = (policy: 'Always' | 'Never') => makePod('ini', (p) => {
    p.spec!.restartPolicy = policy;
    p.spec!.initContainers = [{ name: 'i1', image: 'busybox' }, { name: 'i2', image: 'busybox' }];
  });

  it('runs them one at a time before the app containers, Pending and not Initialized until all succeeded', async () => {
    const h = harness(withInit('Always'));
    await h.worker.sync();
    assert.deepEqual(h.runtime.calls, ['start i1']);
    let s = h.last();
    assert.equal(s.phase, 'Pending');
    assert.deepEqual(s.conditions!.find((c) => c.type === 'Initialized'), { type: 'Initialized', status: 'False', lastProbeTime: null,
      lastTransitionTime: '2025-01-01T00:00:00Z', reason: 'ContainersNotInitialized', message: 'containers with incomplete status: [i1 i2]' });
    assert.deepEqual(s.initContainerStatuses!.map((c) => Object.keys(c.state!)[0]), ['running', 'waiting']);
    assert.equal(cs(s).state?.waiting?.reason, 'PodInitializing');
    h.exit(1, 'i1'); // a failed init container is restarted (back-off as for any crash)
    await h.worker.sync();
    assert.deepEqual(h.runtime.calls, ['start i1', 'start i1']);
    assert.equal(h.last().initContainerStatuses![0]!.restartCount, 1);
    h.exit(0, 'i1');
    await h.worker.sync();
    assert.deepEqual(h.runtime.calls.slice(2), ['start i2']);
    h.exit(0, 'i2');
    await h.worker.sync();
    assert.deepEqual(h.runtime.calls.slice(3), ['start c']);
    s = h.last();
    assert.equal(s.phase, 'Running');
    assert.equal(s.conditions!.find((c) => c.type === 'Initialized')!.status, 'True');
    assert.deepEqual(s.initContainerStatuses!.map((c) => [c.state?.terminated?.reason, c.ready]), [['Completed', true], ['Completed', true]]);
    h.exit(0);
    await h.worker.sync();
    assert.deepEqual(h.runtime.calls.slice(4), ['start c'], 'an app container restart does not rerun init containers');
  });

  it('fails the pod when an init container fails under restartPolicy Never, running no app container', async () => {
    const h = harness(withInit('Never'));
    await h.worker.sync();
    h.exit(2, 'i1');
    await h.worker.sync();
    assert.deepEqual(h.runtime.calls, ['start i1']);
    assert.equal(h.last().phase, 'Failed');
    assert.equal(h.network.pods.size, 0);
  });
});

describe('PodWorker: sidecars (init containers with restartPolicy Always)', () => {
  const withSidecars = (policy: 'Always' | 'Never', edit: (p: Pod) => void = () => {}) => makePod('sc', (p) => {
    p.spec!.restartPolicy = policy;
    p.spec!.terminationGracePeriodSeconds = 7;
    p.spec!.initContainers = [{ name: 's1', image: 'busybox', restartPolicy: 'Always' }, { name: 'i', image: 'busybox' }, { name: 's2', image: 'busybox', restartPolicy: 'Always' }];
    edit(p);
  });
  const init = (s: PodStatus, name: string) => s.initContainerStatuses!.find((x) => x.name === name)!;

  it('starts a sidecar and goes on without waiting for it to exit; the app runs once all are done, Ready with the sidecars', async () => {
    const h = harness(withSidecars('Always'));
    await h.worker.sync();
    assert.deepEqual(h.runtime.calls, ['start s1', 'start i'], 'the next init container starts once the sidecar has');
    assert.equal(h.last().phase, 'Pending');
    h.exit(0, 'i');
    await h.worker.sync();
    assert.deepEqual(h.runtime.calls.slice(2), ['start s2', 'start c']);
    const s = h.last();
    assert.equal(s.phase, 'Running');
    assert.deepEqual(s.conditions!.filter((c) => c.type !== 'PodReadyToStartContainers').map((c) => [c.type, c.status]), [['Initialized', 'True'], ['Ready', 'True'], ['ContainersReady', 'True']]);
    assert.deepEqual(s.initContainerStatuses!.map((c) => [c.name, Object.keys(c.state!)[0], c.started, c.ready]),
      [['s1', 'running', true, true], ['i', 'terminated', false, true], ['s2', 'running', true, true]]);
  });

  it('holds the next init container until the sidecar\'s startup probe passed', async () => {
    const h = harness(withSidecars('Always', (p) => { p.spec!.initContainers![0]!.startupProbe = { exec: { command: ['true'] }, periodSeconds: 1 }; }));
    h.runtime.probeResult = { ok: false, message: 'Startup probe failed: ' };
    await h.worker.sync();
    assert.deepEqual(h.runtime.calls, ['start s1']);
    assert.equal(init(h.last(), 's1').started, false);
    await h.worker.sync();
    assert.deepEqual(h.runtime.calls.filter((c) => c.startsWith('start')), ['start s1']);
    h.runtime.probeResult = { ok: true, message: '' };
    for (let i = 0; i < 50 && !h.worker.containerRecord('s1')?.started; i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(h.worker.containerRecord('s1')?.started, true);
    assert.ok(h.requeues.includes(0), 'a started sidecar asks for a sync');
    await h.worker.sync();
    assert.deepEqual(h.runtime.calls.filter((c) => c.startsWith('start')), ['start s1', 'start i']);
    await h.worker.terminate(0, false);
  });

  it('reports a restarted sidecar with a startupProbe (no readinessProbe) neither started nor ready until the probe passes again', async () => {
    const h = harness(withSidecars('Always', (p) => {
      p.spec!.initContainers = [{ name: 's1', image: 'busybox', restartPolicy: 'Always', startupProbe: { exec: { command: ['true'] }, periodSeconds: 1 } }];
    }));
    await h.worker.sync();
    for (let i = 0; i < 50 && !h.worker.containerRecord('s1')?.started; i++) await new Promise((r) => setTimeout(r, 20));
    await h.worker.sync();
    assert.equal(h.last().conditions!.find((c) => c.type === 'Ready')!.status, 'True');
    h.runtime.probeResult = { ok: false, message: 'Startup probe failed: ' };
    h.exit(1, 's1');
    await h.worker.sync();
    assert.deepEqual(h.runtime.calls.filter((c) => c.startsWith('start')), ['start s1', 'start c', 'start s1']);
    const s = h.last();
    assert.deepEqual([init(s, 's1').restartCount, Object.keys(init(s, 's1').state!)[0], init(s, 's1').started, init(s, 's1').ready], [1, 'running', false, false]);
    assert.equal(s.conditions!.find((c) => c.type === 'Ready')!.status, 'False');
    await h.worker.terminate(0, false);
  });

  it('reports a restarted app container with a startupProbe not ready before it has started', async () => {
    const h = harness(makePod('ap', (p) => { p.spec!.containers[0]!.startupProbe = { exec: { command: ['true'] }, periodSeconds: 1 }; }));
    await h.worker.sync();
    for (let i = 0; i < 50 && !h.worker.containerRecord('c')?.ready; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(h.worker.containerRecord('c')?.ready, true);
    h.runtime.probeResult = { ok: false, message: 'Startup probe failed: ' };
    h.exit(1);
    await h.worker.sync();
    const c = cs(h.last());
    assert.deepEqual([c.restartCount, c.started, c.ready], [1, false, false]);
    await h.worker.terminate(0, false);
  });

  it('words a sidecar\'s probe kill as kubelet\'s computeInitContainerActions does', async () => {
    const h = harness(withSidecars('Always', (p) => {
      p.spec!.initContainers = [{ name: 's1', image: 'busybox', restartPolicy: 'Always', startupProbe: { exec: { command: ['false'] }, periodSeconds: 1, failureThreshold: 1 } }];
    }));
    h.runtime.probeResult = { ok: false, message: 'Startup probe failed: ' };
    await h.worker.sync();
    for (let i = 0; i < 50 && !h.runtime.calls.some((c) => c.startsWith('stop')); i++) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(h.events.filter((e) => / Killing /.test(e)), ['Normal Killing Init container s1 failed startup probe']);
    await h.worker.terminate(0, false);
  });

  it('restarts a sidecar whatever its exit code and the pod\'s restartPolicy, with back-off', async () => {
    const h = harness(withSidecars('Never'));
    await h.worker.sync();
    h.exit(0, 'i');
    await h.worker.sync();
    h.exit(0, 's1');
    await h.worker.sync();
    assert.deepEqual(h.runtime.calls.slice(4), ['start s1'], 'restarted at once the first time');
    assert.equal(init(h.last(), 's1').restartCount, 1);
    h.exit(1, 's1');
    await h.worker.sync();
    assert.equal(init(h.last(), 's1').state?.waiting?.reason, 'CrashLoopBackOff');
    assert.equal(h.last().phase, 'Running');
    h.advance(10_000);
    await h.worker.sync();
    assert.deepEqual(h.runtime.calls.slice(5), ['start s1']);
    assert.equal(init(h.last(), 's1').restartCount, 2);
    assert.equal(h.runtime.calls.filter((c) => c === 'start i').length, 1, 'the ordinary init container is not rerun');
  });

  it('under Never stops the sidecars (reverse order, pod grace) once the app exited, Succeeded from the app alone', async () => {
    const h = harness(withSidecars('Never'));
    await h.worker.sync();
    h.exit(0, 'i');
    await h.worker.sync();
    h.exit(0);
    await h.worker.sync();
    assert.deepEqual(h.runtime.calls.slice(4), ['stop s2 7', 'stop s1 7']);
    assert.ok(h.events.includes('Normal Killing Stopping container s1'));
    const s = h.last();
    assert.equal(s.phase, 'Succeeded', 'the sidecars\' exit 137 does not fail the pod');
    assert.deepEqual(s.initContainerStatuses!.map((c) => c.state?.terminated?.exitCode), [137, 0, 137]);
    assert.equal(h.network.pods.size, 0, 'the sandbox is released');
    await h.worker.sync();
    assert.equal(h.runtime.calls.filter((c) => c.startsWith('start')).length, 4, 'nothing is started again');
  });

  it('under Never fails the pod and stops the running sidecar when an ordinary init container fails', async () => {
    const h = harness(withSidecars('Never'));
    await h.worker.sync();
    h.exit(3, 'i');
    await h.worker.sync();
    assert.deepEqual(h.runtime.calls, ['start s1', 'start i', 'stop s1 7']);
    assert.equal(h.last().phase, 'Failed');
    assert.equal(h.network.pods.size, 0);
  });

  it('on deletion stops the app containers first, then the sidecars in reverse order, after all preStop hooks', async () => {
    const h = harness(withSidecars('Always', (p) => {
      for (const c of [...p.spec!.initContainers!, ...p.spec!.containers]) c.lifecycle = { preStop: { exec: { command: ['true'] } } };
    }));
    await h.worker.sync();
    h.exit(0, 'i');
    await h.worker.sync();
    h.runtime.calls.length = 0;
    await h.worker.terminate(30, true);
    const stops = h.runtime.calls.filter((c) => c.startsWith('stop'));
    assert.deepEqual(stops, ['stop c 30', 'stop s2 30', 'stop s1 30']);
    assert.deepEqual(h.runtime.calls.slice(0, 3).sort(), ['hook c 30', 'hook s1 30', 'hook s2 30'], 'preStop hooks run first, for all alike');
  });

  it('still gives each sidecar kubelet\'s minimum 2 s of SIGTERM when the preStop hooks used up the grace period; an app container gets what is left', async () => {
    const h = harness(withSidecars('Always', (p) => {
      for (const c of [...p.spec!.initContainers!, ...p.spec!.containers]) c.lifecycle = { preStop: { exec: { command: ['true'] } } };
    }));
    await h.worker.sync();
    h.exit(0, 'i');
    await h.worker.sync();
    h.runtime.runHook = async (_hook, ctx) => { h.runtime.calls.push(`hook ${ctx.containerName}`); h.advance(30_000); return { ok: true, message: '' }; };
    h.runtime.calls.length = 0;
    await h.worker.terminate(30, true);
    assert.deepEqual(h.runtime.calls.filter((c) => c.startsWith('stop')).sort(), ['stop c 0', 'stop s1 2', 'stop s2 2']);
  });

  it('gives a sidecar the 2 s minimum at grace 0 too, while an ordinary pod\'s grace 0 stays immediate', async () => {
    const h = harness(withSidecars('Always'));
    await h.worker.sync();
    h.exit(0, 'i');
    await h.worker.sync();
    h.runtime.calls.length = 0;
    await h.worker.terminate(0, false);
    // No time left to wait for a turn in (as the kubelet's ordering at grace 0): all at once.
    assert.deepEqual(h.runtime.calls.sort(), ['stop c 0', 'stop s1 2', 'stop s2 2']);
    const plain = harness(makePod('plain'));
    await plain.worker.sync();
    await plain.worker.terminate(0, false);
    assert.deepEqual(plain.runtime.calls, ['start c', 'stop c 0']);
  });
});

/** A regression fails instead of hanging the run (a sync that waited for a hook would). */
const noHang = { timeout: 10_000 };

describe('PodWorker: postStart hooks (kubelet\'s startContainer, step 4)', () => {
  /** The kubelet gives postStart no timeout: podgate passes the longest a Node timer can wait. */
  const noTimeout = 2_147_483;
  const settle = () => new Promise((r) => setTimeout(r, 20));
  /** A sync, then what the hooks it started did (they run apart from the sync). */
  const syncSettled = async (h: { worker: PodWorker }) => { await h.worker.sync(); await settle(); };
  function held() {
    let answer!: (r: HookResult) => void;
    const result = new Promise<HookResult>((r) => { answer = r; });
    return { result, answer };
  }
  const execHook = (command: string[]): LifecycleHandler => ({ exec: { command } });
  const twoApps = (name: string, edit: (p: Pod) => void = () => {}) => makePod(name, (p) => {
    p.spec!.containers = [
      { name: 'a', image: 'busybox', command: ['sleep', '1000'], lifecycle: { postStart: execHook(['sh', '-c', 'echo up > /tmp/ready']) } },
      { name: 'b', image: 'busybox', command: ['sleep', '1000'] },
    ];
    edit(p);
  });
  const failing = 'Exec lifecycle hook ([sh -c exit 3]) for Container "c" in Pod "pf_ns(uid-pf)" failed - error: command \'sh -c exit 3\' exited with 3: , message: ""';
  const failingPod = (policy: 'Always' | 'OnFailure' | 'Never') => makePod('pf', (p) => {
    p.spec!.restartPolicy = policy;
    p.spec!.terminationGracePeriodSeconds = 5;
    p.spec!.containers[0]!.lifecycle = { postStart: execHook(['sh', '-c', 'exit 3']), preStop: execHook(['true']) };
  });
  /** A harness whose postStart hooks fail as `sh -c exit 3` does, and whose kills exit on its clock. */
  const failingHarness = (policy: 'Always' | 'OnFailure' | 'Never') => {
    const h = harness(failingPod(policy));
    h.runtime.answerHook = async (hook) => (hook.exec?.command?.includes('exit 3') ? { ok: false, message: failing } : { ok: true, message: '' });
    h.runtime.stoppedAt = h.now;
    return h;
  };

  it('runs the hook right after the start and starts the next container only once it returned; until then the API shows the container as before, neither started nor Ready, and no probe runs', noHang, async (t) => {
    const h = harness(twoApps('ps', (p) => { p.spec!.containers[0]!.readinessProbe = { exec: { command: ['true'] }, periodSeconds: 1 }; }));
    t.after(() => h.worker.terminate(0, false)); // its probe timers
    const hook = held();
    h.runtime.answerHook = () => hook.result;
    // The sync returns while the hook runs: it must not hold one of the node's sync workers.
    await h.worker.sync();
    await settle();
    assert.deepEqual(h.runtime.calls, ['start a', `hook a ${noTimeout}`], 'b waits for a\'s hook; a is not probed');
    await h.worker.sync();
    assert.deepEqual(h.runtime.calls, ['start a', `hook a ${noTimeout}`], 'another sync meanwhile starts nothing');
    assert.deepEqual(h.runtime.hooks[0]!.handler, execHook(['sh', '-c', 'echo up > /tmp/ready']));
    assert.ok(h.events.includes('Normal Started Started container a'), 'Created and Started come before the hook');
    // The node runs it (kubectl exec and logs reach it) ...
    assert.equal(h.worker.containerRecord('a')?.state.kind, 'running');
    // ... the API still shows it as the kubelet wrote it when the sync began.
    let s = h.last();
    assert.deepEqual(cs(s, 'a').state, { waiting: { reason: 'ContainerCreating' } });
    assert.deepEqual([cs(s, 'a').started, cs(s, 'a').ready, s.phase], [false, false, 'Pending']);
    assert.equal(s.conditions!.find((c) => c.type === 'Ready')!.status, 'False');

    h.requeues.length = 0;
    hook.answer({ ok: true, message: '' });
    await settle();
    assert.ok(h.requeues.includes(0), 'the hook\'s end asks for a sync');
    await syncSettled(h);
    assert.ok(h.runtime.calls.indexOf('start b') > 1, 'b starts once a\'s hook returned');
    s = h.last();
    assert.ok(h.runtime.calls.includes('probe Readiness'), 'probes start once the hook returned');
    assert.deepEqual([Object.keys(cs(s, 'a').state!)[0], cs(s, 'a').started, cs(s, 'a').ready, s.phase], ['running', true, true, 'Running']);
  });

  it('holds the next init container until a sidecar\'s hook returned', noHang, async () => {
    const h = harness(makePod('sps', (p) => {
      p.spec!.initContainers = [
        { name: 'side', image: 'busybox', restartPolicy: 'Always', lifecycle: { postStart: execHook(['sh', '-c', 'sleep 1']) } },
        { name: 'i', image: 'busybox' },
      ];
    }));
    const hook = held();
    h.runtime.answerHook = () => hook.result;
    await syncSettled(h);
    await syncSettled(h);
    assert.deepEqual(h.runtime.calls, ['start side', `hook side ${noTimeout}`]);
    const side = h.last().initContainerStatuses!.find((c) => c.name === 'side')!;
    assert.deepEqual([side.state, side.started], [{ waiting: { reason: 'PodInitializing' } }, false]);
    hook.answer({ ok: true, message: '' });
    await settle();
    await syncSettled(h);
    assert.deepEqual(h.runtime.calls.slice(2), ['start i']);
    assert.equal(h.worker.containerRecord('side')?.started, true);
  });

  it('on failure: FailedPostStartHook without the handler\'s text, Killing FailedPostStartHook (preStop, pod grace), waiting PostStartHookError with it, restarted at once and then with back-off (Always)', noHang, async () => {
    const h = failingHarness('Always');
    await syncSettled(h);
    assert.deepEqual(h.runtime.calls, ['start c', `hook c ${noTimeout}`, 'hook c 5', 'stop c 5']);
    assert.deepEqual(h.events.slice(h.events.indexOf('Normal Started Started container c') + 1),
      ['Warning FailedPostStartHook PostStartHook failed', 'Normal Killing FailedPostStartHook']);
    assert.ok(h.logs.some((l) => l.includes(failing)), 'the handler\'s text is in podgate\'s log');
    let c = cs(h.last());
    assert.deepEqual(c.state, { waiting: { reason: 'PostStartHookError', message: failing } });
    assert.deepEqual([c.lastState?.terminated?.exitCode, c.restartCount, c.ready, c.started, h.last().phase], [137, 0, false, false, 'Running']);
    assert.ok(h.requeues.includes(0));

    await syncSettled(h); // the first restart is immediate; its hook fails again
    assert.equal(h.runtime.calls.filter((x) => x === 'start c').length, 2);
    c = cs(h.last());
    assert.deepEqual([c.state?.waiting?.reason, c.restartCount], ['PostStartHookError', 1]);
    await syncSettled(h); // then it backs off 10 s
    c = cs(h.last());
    assert.deepEqual(c.state, { waiting: { reason: 'CrashLoopBackOff', message: 'back-off 10s restarting failed container=c pod=pf_ns(uid-pf)' } });
    assert.equal(h.runtime.calls.filter((x) => x === 'start c').length, 2);
    h.advance(10_000);
    await syncSettled(h);
    assert.equal(h.runtime.calls.filter((x) => x === 'start c').length, 3);
    assert.equal(cs(h.last()).restartCount, 2);
  });

  it('on failure under restartPolicy Never: the killed run stays terminated and the pod fails', noHang, async () => {
    const h = failingHarness('Never');
    await syncSettled(h);
    await syncSettled(h);
    assert.deepEqual(h.runtime.calls.filter((x) => x.startsWith('start')), ['start c']);
    const s = h.last();
    assert.deepEqual([s.phase, cs(s).state?.terminated?.exitCode, cs(s).restartCount], ['Failed', 137, 0]);
    assert.equal(h.network.pods.size, 0, 'its sandbox is released');
  });

  it('on failure under restartPolicy OnFailure: a killed run (exit 137) is restarted', noHang, async () => {
    const h = failingHarness('OnFailure');
    await syncSettled(h);
    assert.equal(cs(h.last()).state?.waiting?.reason, 'PostStartHookError');
    await syncSettled(h);
    assert.deepEqual(h.runtime.calls.filter((x) => x.startsWith('start')), ['start c', 'start c']);
  });

  it('hands exec and httpGet hooks to the runtime for the pod\'s IP; a failed httpGet hook\'s text is the waiting message', noHang, async () => {
    const httpGet: LifecycleHandler = { httpGet: { path: '/started', port: 8080 } };
    const h = harness(makePod('hg', (p) => {
      p.spec!.containers = [
        { name: 'x', image: 'busybox', lifecycle: { postStart: execHook(['touch', '/tmp/x']) } },
        { name: 'h', image: 'podgate/echo', lifecycle: { postStart: httpGet } },
      ];
    }));
    const refused = 'HTTP lifecycle hook (/started) for Container "h" in Pod "hg_ns(uid-hg)" failed - error: Get "http://10.244.0.5:8080/started": dial tcp 10.244.0.5:8080: connect: connection refused';
    h.runtime.answerHook = async (hook) => (hook.httpGet ? { ok: false, message: refused } : { ok: true, message: '' });
    await syncSettled(h); // x, then its hook
    await syncSettled(h); // h, once x's hook returned
    assert.deepEqual(h.runtime.hooks.slice(0, 2).map((x) => [x.handler, x.ctx.containerName, x.ctx.podIP, x.ctx.podName, x.ctx.podNamespace, x.ctx.timeoutSeconds]), [
      [execHook(['touch', '/tmp/x']), 'x', '10.244.0.5', 'hg', 'ns', noTimeout],
      [httpGet, 'h', '10.244.0.5', 'hg', 'ns', noTimeout],
    ]);
    const s = h.last();
    assert.equal(Object.keys(cs(s, 'x').state!)[0], 'running');
    assert.deepEqual(cs(s, 'h').state, { waiting: { reason: 'PostStartHookError', message: refused } });
  });

  it('does not hold up a deletion: the hook is cut short (FailedPostStartHook), nothing more starts, and the container stops with the deletion\'s grace period', noHang, async () => {
    const pod = twoApps('pd');
    const h = harness(pod);
    h.runtime.answerHook = () => new Promise(() => {}); // never returns
    await syncSettled(h);
    const signal = h.runtime.hooks[0]!.ctx.signal;
    assert.equal(signal?.aborted, false);
    h.worker.update({ ...pod, metadata: { ...pod.metadata, deletionTimestamp: '2025-01-01T00:01:00Z', deletionGracePeriodSeconds: 10 } });
    await settle();
    assert.equal(signal?.aborted, true, 'the runtime is told to stop the hook');
    assert.deepEqual(h.runtime.calls, ['start a', `hook a ${noTimeout}`], 'b is not started');
    // As the kubelet's cancelled sync: the hook failed, and killContainer records its Killing event
    // (the termination does the stopping).
    assert.deepEqual(h.events.slice(-2), ['Warning FailedPostStartHook PostStartHook failed', 'Normal Killing FailedPostStartHook']);
    await h.worker.sync();
    assert.deepEqual(h.runtime.calls.slice(2), ['stop a 10']);
    assert.ok(h.events.includes('Normal Killing Stopping container a'));
    assert.ok(h.events.includes('finalizeDelete'));
  });

  it('does not hold up podgate\'s shutdown either (no event then)', noHang, async () => {
    const h = harness(twoApps('pq'));
    h.runtime.answerHook = () => new Promise(() => {});
    await syncSettled(h);
    await h.worker.terminate(3, false);
    await settle();
    assert.deepEqual(h.runtime.calls, ['start a', `hook a ${noTimeout}`, 'stop a 3']);
    assert.ok(!h.events.some((e) => e.includes('FailedPostStartHook')));
  });

  it('shows, while the hook runs, what the container showed before this start', noHang, () => {
    const rec = (state: ContainerRecord['state'], more: Partial<ContainerRecord> = {}): ContainerRecord =>
      ({ name: 'c', image: 'busybox', state, restartCount: 0, ready: false, started: false, done: false, ...more });
    const crashed = { kind: 'terminated', exitCode: 137, reason: 'Error', startedAt: 'a', finishedAt: 'b' } as const;
    const cases: [string, ContainerRecord, string, ContainerRecord['state']][] = [
      ['a first start', rec({ kind: 'waiting', reason: 'ContainerCreating' }), 'ContainerCreating', { kind: 'waiting', reason: 'ContainerCreating' }],
      ['a first start in a pod with init containers', rec({ kind: 'waiting', reason: 'ContainerCreating' }), 'PodInitializing', { kind: 'waiting', reason: 'PodInitializing' }],
      ['a restart after a failed hook', rec({ kind: 'waiting', reason: 'PostStartHookError', message: 'm' }, { lastTerminated: crashed, restartCount: 1 }), 'PodInitializing',
        { kind: 'waiting', reason: 'PostStartHookError', message: 'm' }],
      ['a restart at once after an exit', rec(crashed), 'ContainerCreating', crashed],
    ];
    for (const [what, before, notStarted, want] of cases) {
      const shown = shownBeforeStart(before, notStarted);
      assert.deepEqual(shown, { ...before, state: want, started: false, ready: false }, what);
    }
  });

  it('counts a probe\'s initialDelaySeconds from the container\'s start, the hook\'s time included', noHang, async (t) => {
    const h = harness(makePod('pi', (p) => {
      p.spec!.containers[0]!.lifecycle = { postStart: { sleep: { seconds: 5 } } };
      p.spec!.containers[0]!.readinessProbe = { exec: { command: ['true'] }, initialDelaySeconds: 5, periodSeconds: 1 };
    }));
    t.after(() => h.worker.terminate(0, false)); // its probe timers
    const hook = held();
    h.runtime.answerHook = () => hook.result;
    await syncSettled(h);
    h.advance(5000);
    hook.answer({ ok: true, message: '' });
    await settle();
    assert.ok(h.runtime.calls.includes('probe Readiness'), 'probed at once: the container has run for 5 s');
  });

  it('keeps the exit of a container that ended while its hook ran: not marked started, not probed', noHang, async () => {
    const h = harness(makePod('px', (p) => {
      p.spec!.restartPolicy = 'Never';
      p.spec!.containers[0]!.lifecycle = { postStart: { sleep: { seconds: 1 } } };
      p.spec!.containers[0]!.readinessProbe = { exec: { command: ['true'] }, periodSeconds: 1 };
    }));
    const hook = held();
    h.runtime.answerHook = () => hook.result;
    await syncSettled(h);
    h.exit(0);
    hook.answer({ ok: true, message: '' });
    await settle();
    await syncSettled(h);
    assert.ok(!h.runtime.calls.includes('probe Readiness'));
    const s = h.last();
    assert.deepEqual([cs(s).state?.terminated?.reason, cs(s).started, s.phase], ['Completed', false, 'Succeeded']);
  });
  it('stops starting and cuts the hook short when the pod is gone from the API (a force deletion)', noHang, async () => {
    const pod = twoApps('pr');
    const h = harness(pod);
    h.runtime.answerHook = () => new Promise(() => {});
    await syncSettled(h);
    const signal = h.runtime.hooks[0]!.ctx.signal;
    h.worker.removed();
    await settle();
    assert.equal(signal?.aborted, true);
    await syncSettled(h);
    assert.deepEqual(h.runtime.calls, ['start a', `hook a ${noTimeout}`], 'nothing more starts');
  });

  it('runs no hook for a container whose pod was deleted while it was being started', noHang, async () => {
    const pod = twoApps('pw');
    const h = harness(pod);
    const started = held();
    const realStart = h.runtime.start.bind(h.runtime);
    h.runtime.start = async (spec) => { await started.result; return realStart(spec); };
    const synced = h.worker.sync();
    await settle();
    h.worker.update({ ...pod, metadata: { ...pod.metadata, deletionTimestamp: '2025-01-01T00:01:00Z', deletionGracePeriodSeconds: 10 } });
    started.answer({ ok: true, message: '' });
    await synced;
    await settle();
    assert.deepEqual(h.runtime.hooks, [], 'the hook never ran');
  });

  it('shows the run before the last one as lastState while the hook of an immediate restart runs', noHang, async () => {
    const h = harness(makePod('pl', (p) => { p.spec!.containers[0]!.lifecycle = { postStart: { sleep: { seconds: 1 } } }; }));
    await syncSettled(h); // first run, hook returns at once
    h.exit(1);
    const hook = held();
    h.runtime.answerHook = () => hook.result;
    await syncSettled(h); // restarted at once; its hook holds
    const c = cs(h.last());
    assert.equal(c.state?.terminated?.exitCode, 1, 'the API still shows the exit');
    assert.equal(c.lastState?.terminated, undefined, 'not the same run again as its last state');
    hook.answer({ ok: true, message: '' });
    await settle();
  });
});
