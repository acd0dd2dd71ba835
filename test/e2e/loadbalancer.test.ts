// LoadBalancer Services on the test LAN: addresses from a pool on the LAN's own subnet, announced
// by the node (the client finds them by ARP), shared by key, pending when the pool is exhausted,
// handed on when a Service goes, taken off the link with the last Service using them, and guarded
// by loadBalancerSourceRanges.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestLan } from '../lib/netns-hosts.ts';
import { expectOk, type Podgate } from './harness.ts';
import { type LanCluster, startLanCluster } from './lan-cluster.ts';

const seed = (name: string) => readFileSync(join(import.meta.dirname, 'seeds', name), 'utf8');

describe('LoadBalancer Services on a test LAN', () => {
  let cluster: LanCluster;
  let lan: TestLan;
  let pg: Podgate;
  let nodeIP: string;
  let pool: [string, string];

  before(async () => {
    cluster = await startLanCluster({
      extraArgs: (l) => {
        const base = l.subnet.replace(/\.0\/24$/, '');
        pool = [`${base}.200`, `${base}.201`];
        return ['--lb-pool', `${pool[0]}-${pool[1]}`, '--ingress-http-port', '0', '--ingress-https-port', '0'];
      },
    });
    ({ lan, pg, nodeIP } = cluster);
    // The seeds' influxdb Pod (from the NodePort example), behind the LoadBalancer example.
    expectOk(await pg.apply(seed('000-03.yaml').split('---')[0]!), 'apply pod');
    expectOk(await pg.kubectl(['wait', '--for=condition=Ready', 'pod/influxdb', '--timeout=30s']), 'wait');
  });
  after(async () => { await cluster?.stop(); });

  const externalIP = async (svc: string) => {
    for (let i = 0; i < 50; i++) {
      const ip = expectOk(await pg.kubectl(['get', 'svc', svc, '-o', 'jsonpath={.status.loadBalancer.ingress[0].ip}']), 'get');
      if (ip) return ip;
      await new Promise((r) => setTimeout(r, 100));
    }
    return '';
  };
  const curlCode = async (url: string) => {
    for (let i = 0; i < 40; i++) {
      const r = await lan.exec('client', ['curl', '-s', '-m', '3', '-o', '/dev/null', '-w', '%{http_code}', url], { allowFailure: true });
      if (r.stdout !== '000') return r.stdout;
      await new Promise((res) => setTimeout(res, 100));
    }
    return '000';
  };
  const nodeAddrs = async () => (await lan.exec('node', ['ip', '-o', '-4', 'addr', 'show'])).stdout;
  const shared = (name: string, port: number) => `apiVersion: v1
kind: Service
metadata:
  name: ${name}
  annotations: { metallb.io/allow-shared-ip: team-a }
spec:
  type: LoadBalancer
  selector: { app: influxdb }
  ports: [{ name: p${port}, port: ${port}, targetPort: 8086 }]
`;

  it('gives the seeds\' LoadBalancer example an address from the pool that answers on the LAN', async () => {
    expectOk(await pg.apply(seed('000-04.yaml')), 'apply LoadBalancer seed');
    const ip = await externalIP('influxdb');
    assert.equal(ip, pool[0]);
    const row = expectOk(await pg.kubectl(['get', 'svc', 'influxdb']), 'get svc').trim().split('\n')[1]!.split(/\s+/);
    assert.equal(row[1], 'LoadBalancer');
    assert.equal(row[3], ip);
    assert.match(row[4]!, /^8086:3\d{4}\/TCP$/);
    assert.match(await nodeAddrs(), new RegExp(`inet ${ip.replace(/\./g, '\\.')}/32`), 'the node holds the address on its link');
    assert.equal(await curlCode(`http://${ip}:8086/ping`), '204');
    const neigh = (await lan.exec('client', ['ip', 'neigh', 'show', ip])).stdout;
    assert.match(neigh, /lladdr/, 'the client resolved the address by ARP');
    const nodePort = row[4]!.split(':')[1]!.split('/')[0]!;
    assert.equal(await curlCode(`http://${nodeIP}:${nodePort}/ping`), '204');
    const other = await lan.exec('client', ['curl', '-s', '-m', '2', `http://${ip}:9999/`], { allowFailure: true });
    assert.notEqual(other.code, 0, 'ports not in the Service are not answered');
  });

  it('shares an address between Services with the same key and other ports', async () => {
    expectOk(await pg.apply(`${shared('shared-a', 80)}---\n${shared('shared-b', 81)}`), 'apply shared');
    const a = await externalIP('shared-a');
    const b = await externalIP('shared-b');
    assert.equal(a, pool[1]);
    assert.equal(b, a);
    assert.equal(await curlCode(`http://${a}:80/ping`), '204');
    assert.equal(await curlCode(`http://${a}:81/ping`), '204');
  });

  it('leaves a Service pending with an event when the pool is exhausted, until an address frees up', async () => {
    expectOk(await pg.apply(seed('000-04.yaml').replace('name: influxdb\n', 'name: waiting\n')), 'apply third');
    await new Promise((r) => setTimeout(r, 1000));
    const row = expectOk(await pg.kubectl(['get', 'svc', 'waiting']), 'get').trim().split('\n')[1]!.split(/\s+/);
    assert.equal(row[3], '<pending>');
    const events = expectOk(await pg.kubectl(['get', 'events', '--field-selector', 'involvedObject.name=waiting', '-o', 'jsonpath={.items[*].message}']), 'events');
    assert.match(events, /Failed to allocate IP for "default\/waiting": no available IPs/);
    expectOk(await pg.kubectl(['delete', 'svc', 'influxdb']), 'delete influxdb');
    assert.equal(await externalIP('waiting'), pool[0]);
    assert.equal(await curlCode(`http://${pool[0]}:8086/ping`), '204');
  });

  it('takes the address off the link when its last Service goes', async () => {
    expectOk(await pg.kubectl(['delete', 'svc', 'waiting']), 'delete waiting');
    let addrs = '';
    for (let i = 0; i < 50; i++) {
      addrs = await nodeAddrs();
      if (!addrs.includes(`inet ${pool[0]}/32`)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(!addrs.includes(`inet ${pool[0]}/32`), addrs);
    assert.ok(addrs.includes(`inet ${pool[1]}/32`), 'the shared address stays while its Services do');
  });

  it('lets only loadBalancerSourceRanges reach the address; the NodePort stays open', async () => {
    const guarded = (ranges: string) => `apiVersion: v1
kind: Service
metadata: { name: guarded }
spec:
  type: LoadBalancer
  selector: { app: influxdb }
  loadBalancerSourceRanges: [${ranges}]
  ports: [{ port: 8086 }]
`;
    expectOk(await pg.apply(guarded(`"${lan.host('client').ip}/32"`)), 'apply guarded');
    const ip = await externalIP('guarded');
    assert.equal(ip, pool[0]);
    assert.equal(await curlCode(`http://${ip}:8086/ping`), '204', 'the client is in the ranges');
    expectOk(await pg.apply(guarded('"192.0.2.0/24"')), 'ranges without the client');
    let code: number | null = 0;
    for (let i = 0; i < 10 && code !== 28; i++) code = (await lan.exec('client', ['curl', '-s', '-m', '1', `http://${ip}:8086/ping`], { allowFailure: true })).code;
    assert.equal(code, 28, 'the client is dropped (curl timed out)');
    const nodePort = expectOk(await pg.kubectl(['get', 'svc', 'guarded', '-o', 'jsonpath={.spec.ports[0].nodePort}']), 'nodePort');
    assert.equal(await curlCode(`http://${nodeIP}:${nodePort}/ping`), '204', 'NodePorts are not subject to the ranges');
    expectOk(await pg.kubectl(['delete', 'svc', 'guarded']), 'delete guarded');
  });
});
