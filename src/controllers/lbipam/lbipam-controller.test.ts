// The LB IPAM controller against the in-process API server (plain HTTP, in-memory store),
// through the same Kubernetes client it uses in `podgate up`.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Event, Service } from 'kubernetes-types/core/v1.d.ts';
import type { KObject } from '../../api/object.ts';
import { resources } from '../../api/resources.ts';
import { columnDefinitions, printRow } from '../../api/printers/table.ts';
import { KubeClient } from '../../client/rest-client.ts';
import { ensureDefaultPool } from './default-pool.ts';
import { LbIpamController } from './lbipam-controller.ts';
import { type InProcessApiServer, startInProcessApiServer } from '../../apiserver/in-process.ts';
import { until } from '../../util/test-wait.ts';

const r = (name: string) => resources.find((x) => x.resource === name)!;


describe('LB IPAM controller', () => {
  let api: InProcessApiServer;
  let client: KubeClient;
  let controller: LbIpamController;
  const logs: string[] = [];

  const lbService = (name: string, ports: number[], f: (s: Service) => void = () => {}): KObject => {
    const s: Service = { apiVersion: 'v1', kind: 'Service', metadata: { name, annotations: {} }, spec: { type: 'LoadBalancer', selector: { app: name }, ports: ports.map((port) => ({ name: `p${port}`, port, protocol: 'TCP' as const })) } };
    f(s);
    return s as unknown as KObject;
  };
  const create = (o: KObject) => client.create(r('services'), 'default', o);
  const ingressOf = async (name: string) => ((await client.get(r('services'), 'default', name)) as unknown as Service).status?.loadBalancer?.ingress ?? [];
  const ipsOf = async (name: string) => (await ingressOf(name)).map((i) => i.ip).join(',');
  const waitIps = (name: string, want: string) => until(`${name} → "${want}"`, async () => ((await ipsOf(name)) === want ? true : undefined));
  const eventsOf = async (name: string) => ((await client.list(r('events'), 'default')).items as unknown as Event[])
    .filter((e) => e.involvedObject.name === name).map((e) => `${e.type} ${e.reason} ${e.message}`).sort();
  const waitEvent = (name: string, text: string) => until(`event "${text}" on ${name}`, async () => ((await eventsOf(name)).includes(text) ? true : undefined));

  before(async () => {
    api = await startInProcessApiServer({ historyCapacity: 1000 });
    client = api.client;
    await client.create(r('nodes'), undefined, { apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-1' } });
    await client.patch(r('nodes'), undefined, 'node-1', { status: { addresses: [{ type: 'InternalIP', address: '192.168.50.11' }, { type: 'Hostname', address: 'node-1' }], conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady' }] } }, 'merge', 'status');
    controller = new LbIpamController({ client, log: (m) => logs.push(m) });
    await controller.start();
  });
  after(async () => {
    await controller.stop();
    await api.stop();
  });

  it('without pools gives the node address, and a port taken there leaves the next Service pending until it frees', async () => {
    await create(lbService('influxdb', [8086]));
    await waitIps('influxdb', '192.168.50.11');
    assert.deepEqual(await ingressOf('influxdb'), [{ ip: '192.168.50.11', ipMode: 'VIP' }]);
    await waitEvent('influxdb', 'Normal UpdatedLoadBalancer Updated LoadBalancer with new IPs: [] -> [192.168.50.11]');
    await create(lbService('influxdb-2', [8086, 9000]));
    await waitEvent('influxdb-2', 'Warning UnAvailableLoadBalancer There are no available nodes for LoadBalancer');
    assert.equal(await ipsOf('influxdb-2'), '');
    assert.ok(logs.some((l) => l.includes('port TCP/8086 is already used by LoadBalancer service default/influxdb on node node-1')), logs.join('\n'));
    await client.delete(r('services'), 'default', 'influxdb');
    await waitIps('influxdb-2', '192.168.50.11');
    await client.delete(r('services'), 'default', 'influxdb-2');
  });

  it('without pools leaves a Service asking for podgate\'s own ports (API server 6443) pending', async () => {
    await create(lbService('grab-api', [6443]));
    await waitEvent('grab-api', 'Warning UnAvailableLoadBalancer There are no available nodes for LoadBalancer');
    assert.equal(await ipsOf('grab-api'), '');
    assert.ok(logs.some((l) => l.includes('port TCP/6443 is used by podgate itself on node node-1')), logs.join('\n'));
    await client.delete(r('services'), 'default', 'grab-api');
  });

  it('with a pool: first free address, sharing, exhaustion with MetalLB\'s event, and the freed address goes to the waiting Service', async () => {
    await ensureDefaultPool(client, '10.9.0.1-10.9.0.3');
    const pool = await client.get(r('ipaddresspools'), 'metallb-system', 'default');
    assert.deepEqual(pool.spec, { addresses: ['10.9.0.1-10.9.0.3'] });
    await client.get(r('l2advertisements'), 'metallb-system', 'default');
    // `kubectl get ipaddresspools` prints MetalLB's CRD columns.
    assert.deepEqual(columnDefinitions('IPAddressPool').filter((c) => c.priority === 0).map((c) => c.name), ['Name', 'Auto Assign', 'Avoid Buggy IPs', 'Addresses']);
    assert.deepEqual(printRow(pool, new Date()), ['default', true, false, '["10.9.0.1-10.9.0.3"]']);

    await create(lbService('web', [80], (s) => { s.metadata!.annotations!['metallb.io/allow-shared-ip'] = 'front'; }));
    await waitIps('web', '10.9.0.1').catch((e: unknown) => { throw new Error(`${String(e)}\n${logs.join('\n')}`); });
    await waitEvent('web', 'Normal IPAllocated Assigned IP ["10.9.0.1"]');
    const web = await client.get(r('services'), 'default', 'web');
    assert.equal(web.metadata.annotations?.['metallb.io/ip-allocated-from-pool'], 'default');
    await create(lbService('dns', [53], (s) => { s.metadata!.annotations!['metallb.io/allow-shared-ip'] = 'front'; }));
    await waitIps('dns', '10.9.0.1');
    await create(lbService('web-again', [80], (s) => { s.metadata!.annotations!['metallb.io/allow-shared-ip'] = 'front'; }));
    await waitIps('web-again', '10.9.0.2');
    await create(lbService('api', [8080]));
    await waitIps('api', '10.9.0.3');
    await create(lbService('late', [8080]));
    await waitEvent('late', 'Warning AllocationFailed Failed to allocate IP for "default/late": no available IPs');
    assert.equal(await ipsOf('late'), '');

    await client.delete(r('services'), 'default', 'api');
    await waitIps('late', '10.9.0.3');
  });

  it('leaves another loadBalancerClass alone, serves podgate.io/lb, and releases on a type change', async () => {
    await create(lbService('foreign', [81], (s) => { s.spec!.loadBalancerClass = 'example.com/other'; }));
    await create(lbService('ours', [82], (s) => { s.spec!.loadBalancerClass = 'podgate.io/lb'; s.spec!.loadBalancerIP = '10.9.0.2'; s.metadata!.annotations!['metallb.io/allow-shared-ip'] = 'front'; }));
    await waitIps('ours', '10.9.0.2');
    await controller.idle();
    assert.equal(await ipsOf('foreign'), '');
    assert.deepEqual(await eventsOf('foreign'), []);

    await create(lbService('waiting', [9999]));
    await waitEvent('waiting', 'Warning AllocationFailed Failed to allocate IP for "default/waiting": no available IPs');
    await client.patch(r('services'), 'default', 'late', { spec: { type: 'ClusterIP', ports: [{ name: 'p8080', port: 8080, protocol: 'TCP', nodePort: null }] } });
    await waitIps('late', '');
    await waitIps('waiting', '10.9.0.3');
  });

  it('rebuilt after a restart keeps every address where it is and never hands one out twice', async () => {
    await controller.stop();
    const before = new Map<string, string>();
    for (const n of ['web', 'dns', 'web-again', 'ours', 'waiting']) before.set(n, await ipsOf(n));
    // Made while the controller is down: one newcomer, and one address freed.
    await create(lbService('after-restart', [7000]));
    await create(lbService('after-restart-2', [7001]));
    await client.delete(r('services'), 'default', 'waiting');
    controller = new LbIpamController({ client, log: (m) => logs.push(m) });
    await controller.start();
    await waitIps('after-restart', '10.9.0.3');
    await waitEvent('after-restart-2', 'Warning AllocationFailed Failed to allocate IP for "default/after-restart-2": no available IPs');
    for (const n of ['web', 'dns', 'web-again', 'ours']) assert.equal(await ipsOf(n), before.get(n), n);
    assert.deepEqual([...before.values()].slice(0, 4), ['10.9.0.1', '10.9.0.1', '10.9.0.2', '10.9.0.2']);
  });
});
