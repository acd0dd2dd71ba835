// Services end to end through podgate's nftables proxy: the seeds' NodePort example, ClusterIP from
// the node and from a pod, spreading, pods going away under load, a Service without endpoints,
// externalTrafficPolicy Local (also with no local endpoint) and ClientIP affinity — from an outside
// client on the test LAN; ports a Service lacks refused, podgate's own ports kept from LoadBalancers.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { nodeBin, type TestLan } from '../lib/netns-hosts.ts';
import { expectOk, type Podgate } from './harness.ts';
import { echoPod, type LanCluster, startLanCluster } from './lan-cluster.ts';

const seed = (name: string) => readFileSync(join(import.meta.dirname, 'seeds', name), 'utf8');

function webPods(n: number): string {
  return Array.from({ length: n }, (_, i) => echoPod(`web-${i}`, { app: 'web' })).join('---\n');
}

/** Makes `count` HTTP requests on new connections and tallies the answering pods and failures. */
const tally = `
const http = require('http');
const [url, count, ms] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3] || 0)];
const seen = {}; let failed = 0; let done = 0;
const deadline = ms ? Date.now() + ms : Infinity;
function one() {
  return new Promise((resolve) => {
    const req = http.get(url, { agent: false, timeout: 3000 }, (res) => {
      let b = ''; res.on('data', (d) => b += d); res.on('end', () => { try { const n = JSON.parse(b).pod.name; seen[n] = (seen[n] || 0) + 1; } catch { failed++; } resolve(); });
    });
    req.on('error', () => { failed++; resolve(); });
    req.on('timeout', () => { req.destroy(); });
  });
}
(async () => {
  if (ms) { while (Date.now() < deadline) { await one(); done++; } }
  else { for (let i = 0; i < count; i++) { await one(); done++; } }
  console.log(JSON.stringify({ seen, failed, done }));
})();
`;

describe('services through the nftables proxy', () => {
  let cluster: LanCluster;
  let lan: TestLan;
  let pg: Podgate;
  let nodeIP: string;

  before(async () => {
    cluster = await startLanCluster({ extraArgs: ['--ingress-http-port', '0', '--ingress-https-port', '0'] });
    ({ lan, pg, nodeIP } = cluster);
  });
  after(async () => { await cluster?.stop(); });

  const fromClient = async (url: string, count: number, ms = 0) => {
    const r = await lan.exec('client', [nodeBin, '-e', tally, url, String(count), String(ms)], { timeoutMs: 60_000 });
    return JSON.parse(r.stdout) as { seen: Record<string, number>; failed: number; done: number };
  };
  const clusterIP = async (svc: string) => expectOk(await pg.kubectl(['get', 'svc', svc, '-o', 'jsonpath={.spec.clusterIP}']), 'clusterIP');
  const nodePort = async (svc: string) => expectOk(await pg.kubectl(['get', 'svc', svc, '-o', 'jsonpath={.spec.ports[0].nodePort}']), 'nodePort');
  const curlCode = async (host: 'client' | 'node', url: string) => {
    for (let i = 0; i < 40; i++) {
      const r = host === 'client'
        ? await lan.exec('client', ['curl', '-s', '-m', '3', '-o', '/dev/null', '-w', '%{http_code}', url], { allowFailure: true })
        : await pg.run(['curl', '-s', '-m', '3', '-o', '/dev/null', '-w', '%{http_code}', url]);
      if (r.stdout !== '000') return r.stdout;
      await new Promise((res) => setTimeout(res, 100));
    }
    return '000';
  };

  it('answers the seeds\' NodePort example at NODE_IP:30086 and at an allocated port', async () => {
    expectOk(await pg.apply(seed('000-03.yaml')), 'apply NodePort seed');
    expectOk(await pg.kubectl(['wait', '--for=condition=Ready', 'pod/influxdb', '--timeout=30s']), 'wait');
    assert.equal(await curlCode('client', `http://${nodeIP}:30086/ping`), '204');
    const allocated = seed('000-03.yaml').split('---')[1]!.replace('name: influxdb', 'name: influxdb-auto').replace(/\s+nodePort: 30086.*\n/, '\n');
    expectOk(await pg.apply(allocated), 'apply allocated');
    const port = await nodePort('influxdb-auto');
    assert.match(port, /^3\d{4}$/);
    assert.equal(await curlCode('client', `http://${nodeIP}:${port}/ping`), '204');
  });

  it('gives a LoadBalancer Service the node address when no pool is configured (as k3s\'s ServiceLB)', async () => {
    expectOk(await pg.apply(seed('000-04.yaml').replace('name: influxdb\n', 'name: influxdb-lb\n')), 'apply LoadBalancer seed');
    let ip = '';
    for (let i = 0; i < 50 && !ip; i++) {
      ip = expectOk(await pg.kubectl(['get', 'svc', 'influxdb-lb', '-o', 'jsonpath={.status.loadBalancer.ingress[0].ip}']), 'get');
      if (!ip) await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(ip, nodeIP);
    assert.equal(await curlCode('client', `http://${nodeIP}:8086/ping`), '204');
  });

  it('keeps a LoadBalancer Service asking for podgate\'s own ports (API server, kubelet) pending, and them reachable', async () => {
    expectOk(await pg.apply(`apiVersion: v1
kind: Service
metadata: { name: grab }
spec:
  type: LoadBalancer
  selector: { app: influxdb }
  ports: [{ name: api, port: 6443, targetPort: 8086 }, { name: kubelet, port: 10250, targetPort: 8086 }]
`), 'apply grab');
    let events = '';
    for (let i = 0; i < 50 && !events.includes('no available nodes'); i++) {
      events = expectOk(await pg.kubectl(['get', 'events', '--field-selector', 'involvedObject.name=grab', '-o', 'jsonpath={.items[*].message}']), 'events');
      if (!events.includes('no available nodes')) await new Promise((r) => setTimeout(r, 100));
    }
    assert.match(events, /There are no available nodes for LoadBalancer/);
    assert.equal(expectOk(await pg.kubectl(['get', 'svc', 'grab', '-o', 'jsonpath={.status.loadBalancer.ingress}']), 'status'), '');
    const api = await lan.exec('client', ['curl', '-sk', '-m', '3', '-o', '/dev/null', '-w', '%{http_code}', `https://${nodeIP}:6443/version`], { allowFailure: true });
    assert.notEqual(api.stdout, '000', 'the API server still answers on the node address');
    expectOk(await pg.kubectl(['delete', 'svc', 'grab']), 'delete grab');
  });

  it('answers a ClusterIP from the node and from another pod', async () => {
    const ip = await clusterIP('influxdb');
    assert.equal(await curlCode('node', `http://${ip}:8086/ping`), '204');
    expectOk(await pg.apply('apiVersion: v1\nkind: Pod\nmetadata: { name: shell }\nspec:\n  containers: [{ name: sh, image: busybox, command: [sleep, "3600"] }]\n'), 'apply shell');
    expectOk(await pg.kubectl(['wait', '--for=condition=Ready', 'pod/shell', '--timeout=30s']), 'wait shell');
    const r = await pg.kubectl(['exec', 'shell', '--', 'wget', '-q', '-S', '-O', '/dev/null', `http://${ip}:8086/ping`]);
    assert.match(r.stderr, /HTTP\/1\.1 204/, r.stderr);
  });

  it('refuses at once a ClusterIP on a port its Service does not define, from the node and from a pod', async () => {
    const ip = await clusterIP('influxdb');
    const t0 = Date.now();
    const c = await pg.run(['curl', '-s', '-m', '5', `http://${ip}:8087/`]);
    const ms = Date.now() - t0;
    assert.equal(c.code, 7, `curl exit ${c.code} after ${ms} ms (28 would be a hang)`);
    assert.ok(ms < 2000, `refused after ${ms} ms`);
    const w = await pg.kubectl(['exec', 'shell', '--', 'wget', '-T', '5', '-O', '/dev/null', `http://${ip}:8087/`]);
    assert.match(w.stderr, /refused/i, w.stderr);
  });

  it('spreads 300 new connections over three pods and loses none when two go away', async () => {
    expectOk(await pg.apply(`${webPods(3)}---
apiVersion: v1
kind: Service
metadata: { name: web }
spec:
  type: NodePort
  selector: { app: web }
  ports: [{ port: 80, targetPort: 8080 }]
`), 'apply web');
    expectOk(await pg.kubectl(['wait', '--for=condition=Ready', 'pod/web-0', 'pod/web-1', 'pod/web-2', '--timeout=30s']), 'wait web');
    const url = `http://${nodeIP}:${await nodePort('web')}/`;
    assert.equal(await curlCode('client', url), '200');
    let spread = await fromClient(url, 300);
    for (let i = 0; i < 20 && Object.keys(spread.seen).length < 3; i++) spread = await fromClient(url, 300);
    assert.equal(spread.failed, 0);
    assert.deepEqual(Object.keys(spread.seen).sort(), ['web-0', 'web-1', 'web-2']);
    for (const n of Object.values(spread.seen)) assert.ok(n >= 30, `each pod gets a share: ${JSON.stringify(spread.seen)}`);
    const load = fromClient(url, 0, 6000);
    await new Promise((r) => setTimeout(r, 1000));
    expectOk(await pg.kubectl(['delete', 'pod', 'web-1', 'web-2', '--wait=false']), 'delete two');
    const during = await load;
    assert.ok(during.done > 50, `load ran (${during.done} connections)`);
    assert.equal(during.failed, 0, `no connection failed while pods went away: ${JSON.stringify(during)}`);
  });

  it('refuses at once when a Service has no endpoints', async () => {
    expectOk(await pg.apply('apiVersion: v1\nkind: Service\nmetadata: { name: empty }\nspec:\n  type: NodePort\n  selector: { app: nothing }\n  ports: [{ port: 80 }]\n'), 'apply empty');
    const port = await nodePort('empty');
    await new Promise((r) => setTimeout(r, 500));
    const t0 = Date.now();
    const r = await lan.exec('client', ['curl', '-s', '-m', '5', `http://${nodeIP}:${port}/`], { allowFailure: true });
    const ms = Date.now() - t0;
    // curl exit 7: the connection was refused (a hang would be exit 28 after the 5 s limit).
    assert.equal(r.code, 7, `curl exit ${r.code} after ${ms} ms`);
    const ip = await clusterIP('empty');
    const c = await pg.run(['curl', '-s', '-m', '5', `http://${ip}:80/`]);
    assert.equal(c.code, 7);
  });

  it('keeps the client\'s address with externalTrafficPolicy Local, and a client on one pod with ClientIP affinity', async () => {
    expectOk(await pg.apply(`${webPods(2).replace(/web-/g, 'aff-').replace(/app: web/g, 'app: aff')}---
apiVersion: v1
kind: Service
metadata: { name: local }
spec:
  type: NodePort
  externalTrafficPolicy: Local
  selector: { app: aff }
  ports: [{ port: 80, targetPort: 8080 }]
---
apiVersion: v1
kind: Service
metadata: { name: sticky }
spec:
  type: NodePort
  sessionAffinity: ClientIP
  selector: { app: aff }
  ports: [{ port: 80, targetPort: 8080 }]
`), 'apply');
    expectOk(await pg.kubectl(['wait', '--for=condition=Ready', 'pod/aff-0', 'pod/aff-1', '--timeout=30s']), 'wait');
    const localURL = `http://${nodeIP}:${await nodePort('local')}/`;
    assert.equal(await curlCode('client', localURL), '200');
    const body = JSON.parse((await lan.exec('client', ['curl', '-s', localURL])).stdout) as { client: { address: string } };
    assert.equal(body.client.address, lan.host('client').ip, 'the pod sees the client\'s own address');
    const stickyURL = `http://${nodeIP}:${await nodePort('sticky')}/`;
    assert.equal(await curlCode('client', stickyURL), '200');
    const sticky = await fromClient(stickyURL, 40);
    assert.equal(sticky.failed, 0);
    assert.equal(Object.keys(sticky.seen).length, 1, `one pod answered every request: ${JSON.stringify(sticky.seen)}`);
  });

  it('with externalTrafficPolicy Local and no local endpoint, drops outside clients only: the node and pods are served', async () => {
    const podIP = expectOk(await pg.kubectl(['get', 'pod', 'aff-0', '-o', 'jsonpath={.status.podIP}']), 'pod IP');
    // A selectorless Service whose only endpoint the slice places on another node.
    expectOk(await pg.apply(`apiVersion: v1
kind: Service
metadata: { name: remote-only }
spec:
  type: NodePort
  externalTrafficPolicy: Local
  ports: [{ port: 80, targetPort: 8080 }]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: remote-only-1
  labels: { kubernetes.io/service-name: remote-only }
addressType: IPv4
ports: [{ name: "", port: 8080, protocol: TCP }]
endpoints: [{ addresses: ["${podIP}"], nodeName: elsewhere, conditions: { ready: true } }]
`), 'apply remote-only');
    const url = `http://${nodeIP}:${await nodePort('remote-only')}/`;
    assert.equal(await curlCode('node', url), '200', 'from the node');
    const fromPod = await pg.kubectl(['exec', 'shell', '--', 'wget', '-q', '-T', '5', '-O', '-', url]);
    assert.match(fromPod.stdout, /"name": "aff-0"/, `from a pod: ${fromPod.stderr}`);
    const r = await lan.exec('client', ['curl', '-s', '-m', '1', url], { allowFailure: true });
    assert.equal(r.code, 28, 'an outside client is dropped (curl timed out)');
  });
});
