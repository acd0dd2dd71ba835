// The announcer against real links: a throwaway LAN with a "node" and a "client" namespace, the
// in-process API server and the LB IPAM controller handing out an address from the LAN's subnet.
// Needs root, iproute2 and iputils-arping; fails (never skips) saying what to install.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Service } from 'kubernetes-types/core/v1.d.ts';
import type { KObject } from '../api/object.ts';
import { resources } from '../api/resources.ts';
import { bootstrapCluster } from '../apiserver/bootstrap.ts';
import { defaultMachinery } from '../apiserver/default-machinery.ts';
import { Registry } from '../apiserver/registry/registry.ts';
import { ServiceAllocator } from '../apiserver/registry/service-allocator.ts';
import { defaultStrategies } from '../apiserver/registry/strategies.ts';
import { ApiServer } from '../apiserver/server.ts';
import { KubeClient } from '../client/rest-client.ts';
import { LbIpamController } from '../controllers/lbipam/lbipam-controller.ts';
import { SqliteStore } from '../store/sqlite-store.ts';
import { createLan, echoClientSource, echoServerSource, nodeBin, waitForOutput, type TestLan } from '../../test/lib/netns-hosts.ts';
import { L2Announcer, netnsExec, parseIpAddrJson } from './l2-announcer.ts';
import { until as untilWithin } from '../util/test-wait.ts';

const until = <T>(what: string, f: () => Promise<T | undefined>, timeoutMs = 8000) => untilWithin(what, f, timeoutMs);

const r = (name: string) => resources.find((x) => x.resource === name)!;


describe('L2 announcer on a throwaway LAN', () => {
  let lan: TestLan;
  let store: SqliteStore;
  let server: ApiServer;
  let client: KubeClient;
  let controller: LbIpamController;
  let announcer: L2Announcer | undefined;
  let stateDir: string;
  let base: string;
  const logs: string[] = [];

  const nodeAddrs = async () => parseIpAddrJson((await lan.exec('node', ['ip', '-j', 'addr', 'show', 'dev', 'eth0'])).stdout)[0]!.addresses.map((a) => `${a.ip}/${a.prefixLen}`);
  const connect = (ip: string, ms = 3000) => lan.exec('client', [nodeBin, '-e', echoClientSource, 'tcp', ip, '8086', String(ms)], { allowFailure: true });

  before(async () => {
    if (!existsSync('/usr/bin/arping') && !existsSync('/usr/sbin/arping')) throw new Error('these tests need arping: apt-get install -y iputils-arping');
    lan = await createLan({ hosts: ['node', 'client'] });
    base = lan.subnet.replace(/\.0\/24$/, '');
    stateDir = mkdtempSync(join(tmpdir(), 'podgate-l2-'));
    store = new SqliteStore({ path: ':memory:', historyCapacity: 1000 });
    const machinery = defaultMachinery();
    const registry = new Registry({ store, strategies: defaultStrategies({ serviceAllocator: new ServiceAllocator({ random: Math.random }) }), applyDefaults: machinery.applyDefaults, validate: machinery.validate });
    await bootstrapCluster(registry, { serviceIP: '10.96.0.1', apiAddress: '192.0.2.1', apiPort: 6443 });
    server = new ApiServer({ registry, machinery, bindAddress: '127.0.0.1', port: 0, advertiseHost: '127.0.0.1', bookmarkIntervalMs: 50 });
    client = new KubeClient({ server: `http://127.0.0.1:${(await server.listen()).port}` });
    await client.create(r('nodes'), undefined, { apiVersion: 'v1', kind: 'Node', metadata: { name: 'node' } });
    await client.patch(r('nodes'), undefined, 'node', { status: { addresses: [{ type: 'InternalIP', address: lan.host('node').ip }], conditions: [{ type: 'Ready', status: 'True' }] } }, 'merge', 'status');
    await client.create(r('namespaces'), undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'metallb-system' } });
    await client.create(r('ipaddresspools'), 'metallb-system', { apiVersion: 'metallb.io/v1beta1', kind: 'IPAddressPool', metadata: { name: 'lan' }, spec: { addresses: [`${base}.200-${base}.201`] } } as KObject);
    await client.create(r('l2advertisements'), 'metallb-system', { apiVersion: 'metallb.io/v1beta1', kind: 'L2Advertisement', metadata: { name: 'lan' }, spec: { ipAddressPools: ['lan'] } } as KObject);
    controller = new LbIpamController({ client, log: (m) => logs.push(m) });
    await controller.start();
    // Neighbours learn from gratuitous ARP only with arp_accept (per-namespace sysctl).
    await lan.exec('client', ['sysctl', '-q', '-w', 'net.ipv4.conf.all.arp_accept=1', 'net.ipv4.conf.eth0.arp_accept=1']);
    const server8086 = lan.spawn('node', [nodeBin, '-e', echoServerSource, '8086', 'node']);
    await waitForOutput(server8086, /listening/);
  });

  after(async () => {
    await announcer?.stop().catch(() => {});
    await controller?.stop();
    client?.close();
    await server?.close();
    await store?.close();
    await lan?.destroy();
    if (stateDir) rmSync(stateDir, { recursive: true, force: true });
  });

  it('puts the Service\'s address on the node\'s link: the client reaches it by ARP, learns the MAC from the gratuitous ARP, and loses it on delete', async () => {
    // A /32 the node has that podgate did not add, and a stale one from an earlier run.
    await lan.exec('node', ['ip', 'addr', 'add', `${base}.250/32`, 'dev', 'eth0']);
    await lan.exec('node', ['ip', 'addr', 'add', `${base}.201/32`, 'dev', 'eth0']);
    writeFileSync(join(stateDir, 'l2-announced.json'), JSON.stringify({ node: 'node', addresses: [{ ip: `${base}.201`, iface: 'eth0' }] }));

    announcer = new L2Announcer({ client, nodeName: 'node', stateDir, exec: netnsExec(lan.host('node').netns), log: (m) => logs.push(m) });
    await announcer.start();
    let addrs = await nodeAddrs();
    assert.ok(!addrs.includes(`${base}.201/32`), `the stale address from the state file is removed: ${addrs.join(' ')}`);
    assert.ok(addrs.includes(`${base}.250/32`), 'an address podgate did not add stays');
    assert.notEqual((await connect(`${base}.200`, 800)).code, 0, 'nothing answers before the Service exists');

    await client.create(r('services'), 'default', { apiVersion: 'v1', kind: 'Service', metadata: { name: 'influxdb' }, spec: { type: 'LoadBalancer', selector: { app: 'influxdb' }, ports: [{ port: 8086 }] } });
    const ip = await until('an LB address', async () => ((await client.get(r('services'), 'default', 'influxdb')) as unknown as Service).status?.loadBalancer?.ingress?.[0]?.ip);
    assert.equal(ip, `${base}.200`);
    await until('the address on eth0', async () => ((await nodeAddrs()).includes(`${ip}/32`) ? true : undefined));
    // The address shows on the link a moment before the announcer saves its state and logs.
    await until('the announcement logged', async () => (logs.some((l) => l.includes(`announcing ${ip} on eth0`)) ? true : undefined));

    // The gratuitous ARP reached the client before it sent anything to the address.
    const mac = (JSON.parse((await lan.exec('node', ['ip', '-j', 'link', 'show', 'eth0'])).stdout) as { address: string }[])[0]!.address;
    const neigh = await until('the client to learn the address from the gratuitous ARP', async () => {
      const out = (await lan.exec('client', ['ip', 'neigh', 'show', ip, 'dev', 'eth0'])).stdout;
      return out.includes(mac) ? out : undefined;
    }, 3000);
    assert.match(neigh, new RegExp(`lladdr ${mac}`));

    const reply = await connect(ip);
    assert.equal(reply.code, 0, reply.stderr);
    assert.match(reply.stdout, new RegExp(`^node ${lan.host('client').ip.replace(/\./g, '\\.')}`));

    await client.delete(r('services'), 'default', 'influxdb');
    await until('the address to leave eth0', async () => ((await nodeAddrs()).includes(`${ip}/32`) ? undefined : true));
    await lan.exec('client', ['ip', 'neigh', 'flush', 'dev', 'eth0']);
    assert.notEqual((await connect(ip, 1000)).code, 0, 'the address no longer answers');
    addrs = await nodeAddrs();
    assert.ok(addrs.includes(`${base}.250/32`), 'still never touches the foreign address');
    assert.deepEqual(announcer.owned(), []);
  });

  it('takes its addresses away on stop', async () => {
    await client.create(r('services'), 'default', { apiVersion: 'v1', kind: 'Service', metadata: { name: 'again' }, spec: { type: 'LoadBalancer', selector: { app: 'x' }, ports: [{ port: 8086 }] } });
    await until('the address on eth0', async () => ((await nodeAddrs()).includes(`${base}.200/32`) ? true : undefined));
    await announcer!.stop();
    announcer = undefined;
    const addrs = await nodeAddrs();
    assert.ok(!addrs.includes(`${base}.200/32`), addrs.join(' '));
    assert.ok(addrs.includes(`${base}.250/32`));
  });
});
