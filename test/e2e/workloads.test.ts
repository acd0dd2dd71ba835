// apps/v1 Deployments and ReplicaSets end to end with the real kubectl: `podgate up` in a throwaway
// node host, the commands networking tutorials start with (create deployment, rollout status,
// expose, scale, set image, rollout undo, delete) and the garbage collector removing what a
// deleted Deployment owned.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { expectOk, type Podgate } from './harness.ts';
import { type LanCluster, startLanCluster } from './lan-cluster.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('Deployments and ReplicaSets', () => {
  let cluster: LanCluster;
  let pg: Podgate;

  before(async () => {
    cluster = await startLanCluster({ hosts: [], extraArgs: ['--ingress-http-port', '0', '--ingress-https-port', '0'] });
    ({ pg } = cluster);
  });
  after(async () => { await cluster?.stop(); });

  const k = async (...args: string[]) => expectOk(await pg.kubectl(args), `kubectl ${args.join(' ')}`);
  const podNames = async (selector: string) => (await k('get', 'pods', '-l', selector, '-o', 'jsonpath={.items[*].metadata.name}')).split(' ').filter(Boolean).sort();
  const until = async (what: string, f: () => Promise<boolean>, ms = 30_000) => {
    const end = Date.now() + ms;
    while (!(await f())) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await sleep(200);
    }
  };

  it('creates a Deployment, rolls it out, prints it as a real cluster does, and serves it through an exposed Service', async () => {
    assert.equal(await k('create', 'deployment', 'web', '--image=podgate/echo', '--replicas=3', '--port=8080'), 'deployment.apps/web created\n');
    const status = await k('rollout', 'status', 'deployment/web', '--timeout=60s');
    assert.match(status, /deployment "web" successfully rolled out\n$/);
    const table = await k('get', 'deploy,rs');
    assert.match(table, /^NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE\n/);
    assert.match(table, /\ndeployment\.apps\/web\s+3\/3\s+3\s+3\s+\d+s\n/);
    assert.match(table, /\nNAME\s+DESIRED\s+CURRENT\s+READY\s+AGE\n/);
    assert.match(table, /\nreplicaset\.apps\/web-[bcdfghjklmnpqrstvwxz2456789]+\s+3\s+3\s+3\s+\d+s\n/);
    const wide = await k('get', 'deploy', 'web', '-o', 'wide');
    assert.match(wide, /^NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE\s+CONTAINERS\s+IMAGES\s+SELECTOR\n/);
    assert.match(wide, /\nweb\s+3\/3\s+3\s+3\s+\d+s\s+echo\s+podgate\/echo\s+app=web\n/);
    const pods = await podNames('app=web');
    assert.equal(pods.length, 3);
    for (const p of pods) assert.match(p, /^web-[a-z0-9]+-[a-z0-9]{5}$/);
    const owner = await k('get', 'pod', pods[0]!, '-o', 'jsonpath={.metadata.ownerReferences[0].kind} {.metadata.ownerReferences[0].controller} {.metadata.ownerReferences[0].blockOwnerDeletion}');
    assert.equal(owner, 'ReplicaSet true true');
    assert.equal(await k('get', 'deploy', 'web', '-o', 'jsonpath={.metadata.annotations.deployment\\.kubernetes\\.io/revision} {.status.conditions[?(@.type=="Available")].reason} {.status.conditions[?(@.type=="Progressing")].reason}'),
      '1 MinimumReplicasAvailable NewReplicaSetAvailable');

    assert.equal(await k('expose', 'deployment', 'web', '--port=80', '--target-port=8080'), 'service/web exposed\n');
    const podIPs = (await k('get', 'pods', '-l', 'app=web', '-o', 'jsonpath={.items[*].status.podIP}')).split(' ').sort();
    await until('3 endpoints', async () => (await k('get', 'endpoints', 'web', '-o', 'jsonpath={.subsets[*].addresses[*].ip}')).split(' ').sort().join() === podIPs.join());
    const ip = await k('get', 'svc', 'web', '-o', 'jsonpath={.spec.clusterIP}');
    const seen = new Set<string>();
    for (let i = 0; i < 30 && seen.size < 3; i++) {
      const r = await pg.run(['curl', '-s', '-m', '3', `http://${ip}/`]);
      if (r.code === 0) seen.add((JSON.parse(r.stdout) as { pod: { name: string } }).pod.name);
    }
    assert.deepEqual([...seen].sort(), pods, 'the ClusterIP reaches every pod of the Deployment');
  });

  it('scales to 1 and back to 3 (kubectl scale through the scale subresource)', async () => {
    assert.equal(await k('scale', 'deployment', 'web', '--replicas=1'), 'deployment.apps/web scaled\n');
    await until('1 pod', async () => (await podNames('app=web')).length === 1 && /web\s+1\/1\s+1\s+1\s/.test(await k('get', 'deploy', 'web')));
    assert.equal(await k('get', 'deploy', 'web', '-o', 'jsonpath={.spec.replicas} {.status.replicas} {.status.observedGeneration}'), '1 1 2');
    await k('scale', 'deployment', 'web', '--replicas=3');
    await k('rollout', 'status', 'deployment/web', '--timeout=60s');
    assert.match(await k('get', 'deploy', 'web'), /\nweb\s+3\/3\s+3\s+3\s/);
  });

  it('rolls out a new image within maxSurge/maxUnavailable, scales the old ReplicaSet to 0, and rolls back with rollout undo', async () => {
    const oldRS = await k('get', 'rs', '-l', 'app=web', '-o', 'jsonpath={.items[0].metadata.name}');
    // Every ReplicaSet change, in the order the API server made them.
    const watch: ChildProcess = pg.spawnKubectl(['get', 'rs', '-l', 'app=web', '--watch', '--output-watch-events', '-o',
      'jsonpath={.type} {.object.metadata.name} {.object.spec.replicas} {.object.status.availableReplicas}{"\\n"}']);
    let out = '';
    watch.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
    try {
      await sleep(500);
      assert.equal(await k('set', 'image', 'deployment/web', 'echo=registry.k8s.io/echoserver:1.10'), 'deployment.apps/web image updated\n');
      await k('rollout', 'status', 'deployment/web', '--timeout=90s');
      await sleep(500);
    } finally {
      watch.kill();
    }
    // 3 replicas at 25%/25%: maxSurge 1 (rounded up), maxUnavailable 0 (rounded down). At every step
    // at most 4 pods are wanted, and once the new ReplicaSet exists, 3 stay available.
    const state = new Map<string, { spec: number; available: number }>();
    let maxWanted = 0;
    let minAvailable = Infinity;
    for (const line of out.trim().split('\n')) {
      const [type, name, spec, available] = line.split(' ');
      if (type === 'DELETED') state.delete(name!); else state.set(name!, { spec: Number(spec), available: Number(available || 0) });
      const wanted = [...state.values()].reduce((n, s) => n + s.spec, 0);
      const avail = [...state.values()].reduce((n, s) => n + s.available, 0);
      maxWanted = Math.max(maxWanted, wanted);
      if (state.size > 1) minAvailable = Math.min(minAvailable, avail);
    }
    assert.equal(state.size, 2, out);
    assert.equal(maxWanted, 4, `maxSurge 1 over 3 replicas:\n${out}`);
    assert.equal(minAvailable, 3, `maxUnavailable 0:\n${out}`);
    assert.equal(state.get(oldRS)?.spec, 0, 'the old ReplicaSet is scaled to 0 and kept as history');
    const rs = await k('get', 'rs', '-l', 'app=web', '-o', 'jsonpath={range .items[*]}{.metadata.name} {.spec.replicas} {.metadata.annotations.deployment\\.kubernetes\\.io/revision}{"\\n"}{end}');
    const newRS = [...state.keys()].find((n) => n !== oldRS)!;
    assert.deepEqual(rs.trim().split('\n').sort(), [`${newRS} 3 2`, `${oldRS} 0 1`].sort());
    const images = await k('get', 'pods', '-l', 'app=web', '-o', 'jsonpath={.items[*].spec.containers[0].image}');
    await until('old pods gone', async () => (await podNames(`pod-template-hash=${oldRS.slice('web-'.length)}`)).length === 0);
    assert.match(images, /registry\.k8s\.io\/echoserver:1\.10/);
    assert.match(await k('rollout', 'history', 'deployment/web'), /REVISION\s+CHANGE-CAUSE\n1\s+<none>\n2\s+<none>\n/);

    assert.equal(await k('rollout', 'undo', 'deployment/web'), 'deployment.apps/web rolled back\n');
    await k('rollout', 'status', 'deployment/web', '--timeout=90s');
    // The first ReplicaSet is the new one again, with the next revision.
    const after = await k('get', 'rs', '-l', 'app=web', '-o', 'jsonpath={range .items[*]}{.metadata.name} {.spec.replicas} {.metadata.annotations.deployment\\.kubernetes\\.io/revision}{"\\n"}{end}');
    assert.deepEqual(after.trim().split('\n').sort(), [`${newRS} 0 2`, `${oldRS} 3 3`].sort());
    assert.equal(await k('get', 'deploy', 'web', '-o', 'jsonpath={.spec.template.spec.containers[0].image} {.metadata.annotations.deployment\\.kubernetes\\.io/revision}'), 'podgate/echo 3');
  });

  it("refuses a Deployment whose selector does not match its template with kube-apiserver's 422", async () => {
    const r = await pg.apply(`apiVersion: apps/v1
kind: Deployment
metadata: { name: bad }
spec:
  selector: { matchLabels: { app: bad } }
  template:
    metadata: { labels: { app: other } }
    spec: { containers: [{ name: c, image: podgate/echo }] }
`);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'The Deployment "bad" is invalid: spec.template.metadata.labels: Invalid value: map[string]string{"app":"other"}: `selector` does not match template `labels`\n');
  });

  it('deletes the ReplicaSets and pods of a deleted Deployment (background cascade); --cascade=orphan leaves them', async () => {
    const rsNames = (await k('get', 'rs', '-l', 'app=web', '-o', 'name')).trim().split('\n');
    assert.equal(rsNames.length, 2);
    assert.equal(await k('delete', 'deployment', 'web'), 'deployment.apps "web" deleted\n');
    await until('ReplicaSets and pods gone', async () =>
      (await k('get', 'rs,pods', '-l', 'app=web', '-o', 'name')).trim() === '', 60_000);

    await k('create', 'deployment', 'keep', '--image=podgate/echo', '--replicas=1');
    await k('rollout', 'status', 'deployment/keep', '--timeout=60s');
    assert.equal(await k('delete', 'deployment', 'keep', '--cascade=orphan'), 'deployment.apps "keep" deleted\n');
    await until('the ReplicaSet orphaned', async () =>
      (await k('get', 'rs', '-l', 'app=keep', '-o', 'jsonpath={.items[0].metadata.ownerReferences}')) === '');
    await sleep(1000);
    assert.equal((await podNames('app=keep')).length, 1, 'the orphaned ReplicaSet keeps its pod');
    await k('delete', 'rs', '-l', 'app=keep');
    await until('the pod gone with its ReplicaSet', async () => (await podNames('app=keep')).length === 0, 60_000);
  });
});
