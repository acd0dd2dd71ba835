// The announcer against real links: a throwaway LAN with a "node" and a "client" namespace, the
// in-process API server and the LB IPAM controller handing out an address from the LAN's subnet.
// Needs root, iproute2 and iputils-arping; fails (never skips) saying what to install.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
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
import { electionOrder } from './announce.ts';
import { until as untilWithin } from '../util/test-wait.ts';

const until = <T>(what: string, f: () => Promise<T | undefined>, timeoutMs = 8000) => untilWithin(what, f, timeoutMs);

const r = (name: string) => resources.find((x) => x.resource === name)!;

// An announcer in a process of its own, so a crash is a real SIGKILL: no stop(), no timers left.
// argv: API server URL, node netns, state dir, address lifetime (s).
const announcerChildSource = `
const [server, netns, stateDir, lifetime] = process.argv.slice(1);
const { L2Announcer, netnsExec } = await import(${JSON.stringify(pathToFileURL(join(import.meta.dirname, 'l2-announcer.ts')).href)});
const { KubeClient } = await import(${JSON.stringify(pathToFileURL(join(import.meta.dirname, '../client/rest-client.ts')).href)});
const a = new L2Announcer({ client: new KubeClient({ server }), nodeName: 'node', stateDir, exec: netnsExec(netns), addressLifetimeSeconds: Number(lifetime), log: (m) => console.error(m) });
await a.start();
console.log('started');
setInterval(() => {}, 1 << 30);
`;

describe('L2 announcer on a throwaway LAN', () => {
  let lan: TestLan;
  let store: SqliteStore;
  let server: ApiServer;
  let client: KubeClient;
  let controller: LbIpamController;
  let announcer: L2Announcer | undefined;
  let stateDir: string;
  let base: string;
  let serverUrl: string;
  const logs: string[] = [];
  const children = new Set<ChildProcess>();

  const startChild = async (lifetimeSeconds: number): Promise<ChildProcess> => {
    const child = spawn(nodeBin, ['--input-type=module', '-e', announcerChildSource, '--', serverUrl, lan.host('node').netns, stateDir, String(lifetimeSeconds)], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    child.once('exit', () => children.delete(child));
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    await waitForOutput(child, /started/).catch((err: unknown) => { throw new Error(`announcer child: ${String(err)}; stderr: ${stderr}`); });
    return child;
  };
  const killChild = async (child: ChildProcess) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((res) => child.once('exit', res));
    child.kill('SIGKILL');
    await gone;
  };
  /** The LB address on the node's eth0 with its remaining lifetime (undefined = forever), or null when absent. */
  const lbAddr = async (ip: string) => {
    const a = parseIpAddrJson((await lan.exec('node', ['ip', '-j', 'addr', 'show', 'dev', 'eth0'])).stdout)[0]!.addresses.find((x) => x.ip === ip && x.prefixLen === 32);
    return a ? { validLifetime: a.validLifetime } : null;
  };

  /**
   * A second Ready node eligible for the pool that loses the election for `ip` to "node": the
   * address stays on this node's link, but another node could now take it over.
   */
  const addOtherNode = async (ip: string): Promise<string> => {
    const name = ['other-a', 'other-b', 'other-c', 'other-d', 'other-e', 'other-f'].find((n) => electionOrder(['node', n], ip)[0] === 'node')!;
    await client.create(r('nodes'), undefined, { apiVersion: 'v1', kind: 'Node', metadata: { name } });
    await client.patch(r('nodes'), undefined, name, { status: { conditions: [{ type: 'Ready', status: 'True' }] } }, 'merge', 'status');
    return name;
  };

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
    serverUrl = `http://127.0.0.1:${(await server.listen()).port}`;
    client = new KubeClient({ server: serverUrl });
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
    for (const c of [...children]) await killChild(c);
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

  it('the only node that could announce the address holds it forever (a SIGKILL leaves it answering), with a lifetime while another node could take it', async () => {
    // The Service "again" from the test above still has the address; nothing holds it now.
    const ip = `${base}.200`;
    assert.equal(await lbAddr(ip), null);
    const child = await startChild(4);
    try {
      await until('the address on eth0, without a lifetime', async () => { const a = await lbAddr(ip); return a && a.validLifetime === undefined ? true : undefined; });
      const other = await addOtherNode(ip);
      await until('a lifetime once another node is a candidate', async () => ((await lbAddr(ip))?.validLifetime !== undefined ? true : undefined));
      await client.delete(r('nodes'), undefined, other);
      await until('forever again once it is gone', async () => { const a = await lbAddr(ip); return a && a.validLifetime === undefined ? true : undefined; });
      await killChild(child);
      assert.deepEqual(await lbAddr(ip), { validLifetime: undefined }, 'the dead agent\'s address stays: nobody else could take it, and the pods behind it still serve');
    } finally {
      await killChild(child);
    }
    await lan.exec('node', ['ip', 'addr', 'del', `${ip}/32`, 'dev', 'eth0']);
  });

  it('a killed announcer stops answering: its address carries a lifetime, is renewed while it runs, and leaves the link by itself', async () => {
    const ip = `${base}.200`;
    assert.equal(await lbAddr(ip), null);
    await addOtherNode(ip); // so the address is one another node could take over
    const child = await startChild(4);
    try {
      const first = await until('the address on eth0', async () => (await lbAddr(ip)) ?? undefined);
      assert.ok(first.validLifetime !== undefined && first.validLifetime <= 4, `added with a lifetime, not forever: ${JSON.stringify(first)}`);
      // Renewed: the remaining lifetime runs down, then goes back up.
      await until('the lifetime to run down', async () => ((await lbAddr(ip))?.validLifetime ?? 4) < 4 ? true : undefined);
      await until('the lifetime to be renewed', async () => ((await lbAddr(ip))?.validLifetime === 4 ? true : undefined));
      await killChild(child);
      assert.notEqual(await lbAddr(ip), null, 'still there right after the kill');
      await until('the kernel to remove the dead announcer\'s address', async () => ((await lbAddr(ip)) === null ? true : undefined), 15_000);
      const state = JSON.parse(readFileSync(join(stateDir, 'l2-announced.json'), 'utf8')) as { addresses: { ip: string }[] };
      assert.deepEqual(state.addresses.map((a) => a.ip), [ip], 'nothing released it: the state file still lists it');
      assert.ok((await nodeAddrs()).includes(`${base}.250/32`), 'the foreign address stays');
    } finally {
      await killChild(child);
    }
  });

  it('a restarted announcer sends a gratuitous ARP for the address it finds on the link, correcting a neighbour pointing elsewhere', async () => {
    const ip = `${base}.200`;
    const child = await startChild(30);
    try {
      await until('the address on eth0', async () => (await lbAddr(ip)) ?? undefined);
      await killChild(child);
    } finally {
      await killChild(child);
    }
    assert.notEqual(await lbAddr(ip), null, 'kept across the crash (its lifetime is not over)');
    // The client believes another node holds the address (as after a failover and back).
    const elsewhere = '02:00:00:00:be:ef';
    await lan.exec('client', ['ip', 'neigh', 'replace', ip, 'lladdr', elsewhere, 'dev', 'eth0', 'nud', 'stale']);
    const arpings: string[][] = [];
    const exec = netnsExec(lan.host('node').netns);
    announcer = new L2Announcer({ client, nodeName: 'node', stateDir, exec: (argv, o) => { if (argv.includes('arping')) arpings.push([...argv]); return exec(argv, o); }, log: (m) => logs.push(m) });
    await announcer.start();
    const mac = (JSON.parse((await lan.exec('node', ['ip', '-j', 'link', 'show', 'eth0'])).stdout) as { address: string }[])[0]!.address;
    await until('the client to learn the node\'s MAC again', async () => ((await lan.exec('client', ['ip', 'neigh', 'show', ip, 'dev', 'eth0'])).stdout.includes(mac) ? true : undefined), 3000);
    assert.deepEqual(arpings, [['timeout', '-s', 'KILL', '5', 'arping', '-U', '-c', '1', '-w', '1', '-I', 'eth0', ip]], 'one gratuitous ARP, from start(), under a deadline');
    const renewed = await lbAddr(ip);
    assert.ok(renewed?.validLifetime !== undefined && renewed.validLifetime > 25, `renewed to the new lifetime: ${JSON.stringify(renewed)}`);
    await announcer.stop();
    announcer = undefined;
    assert.equal(await lbAddr(ip), null, 'released on stop');
  });
});
