// Real packets: a node host and a client host on a throwaway LAN (test/lib/netns-hosts.ts), the
// node's pod network built by PodNetwork through `nsenter --net=/run/netns/<node>` (inNetns), echo servers in pods.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestLan, createLan, echoClientSource, echoServerSource, nodeBin, requireNetTools, waitForOutput } from '../../../test/lib/netns-hosts.ts';
import { inNetns, runCommand } from '../../util/exec.ts';
import { PodNetwork, STATE_FILE } from './pod-network.ts';
import { netnsPrefix } from './plan.ts';

const POD_CIDR = '10.244.7.0/24';
const GATEWAY = '10.244.7.1';

describe('PodNetwork in a node netns', () => {
  requireNetTools();
  let lan: TestLan;
  let stateDir: string;
  let nodeName: string;
  const logs: string[] = [];
  const make = () => new PodNetwork({
    nodeName, nodeIP: lan.host('node').ip, podCIDR: POD_CIDR, clusterCIDR: '10.244.0.0/16', stateDir,
    log: (m) => logs.push(m), exec: inNetns(runCommand, lan.host('node').netns),
  });
  let net: PodNetwork;
  const pods: Record<string, { ip: string; netns: string; netnsPath: string }> = {};

  /** One request from `where` (host name or { netns }) with the echo client; returns the reply line or `ERR <reason>`. */
  const ask = async (where: string | { netns: string }, proto: 'tcp' | 'udp', host: string, port: number): Promise<string> => {
    const r = await lan.exec(where, [nodeBin, '-e', echoClientSource, proto, host, String(port), '2000'], { allowFailure: true });
    return r.code === 0 ? r.stdout.trim() : `ERR ${r.stderr.trim()}`;
  };
  const serve = async (where: string | { netns: string }, port: number, tag: string) => {
    await waitForOutput(lan.spawn(where, [nodeBin, '-e', echoServerSource, String(port), tag]), /listening/);
  };
  const nodeExec = (argv: string[]) => lan.exec('node', argv);

  before(async () => {
    lan = await createLan({ hosts: ['node', 'client'] });
    nodeName = `node-${lan.prefix}`;
    lan.trackNetnsPrefix(netnsPrefix(nodeName));
    stateDir = mkdtempSync(join(tmpdir(), 'podgate-net-'));
    net = make();
  });
  after(async () => {
    await lan?.destroy();
    if (stateDir) rmSync(stateDir, { recursive: true, force: true });
  });

  it('sets up the node twice without error', async () => {
    await net.setupNode();
    await net.setupNode();
    const br = JSON.parse((await nodeExec(['ip', '-j', '-4', 'address', 'show', 'dev', 'podgate0'])).stdout) as { addr_info: { local: string; prefixlen: number }[] }[];
    assert.deepEqual(br[0]?.addr_info.map((a) => `${a.local}/${a.prefixlen}`), [`${GATEWAY}/24`]);
    assert.equal((await nodeExec(['sysctl', '-n', 'net.ipv4.ip_forward'])).stdout.trim(), '1');
    assert.match((await nodeExec(['nft', 'list', 'table', 'inet', 'podgate_node'])).stdout, /ip saddr 10\.244\.7\.0\/24 ip daddr != 10\.244\.0\.0\/16 masquerade/);
  });

  it('adds pods idempotently: same uid, same netns and address', async () => {
    pods.a = await net.addPod({ namespace: 'default', name: 'a', uid: 'uid-a' });
    const again = await net.addPod({ namespace: 'default', name: 'a', uid: 'uid-a' });
    assert.deepEqual(again, pods.a);
    pods.b = await net.addPod({ namespace: 'default', name: 'b', uid: 'uid-b' });
    assert.equal(pods.a.ip, '10.244.7.2');
    assert.equal(pods.b.ip, '10.244.7.3');
    assert.ok(pods.a.netns.startsWith(netnsPrefix(nodeName)));
    assert.ok(existsSync(pods.a.netnsPath));
    const routes = (await lan.exec(pods.a, ['ip', '-4', 'route', 'show'])).stdout;
    assert.match(routes, new RegExp(`^default via ${GATEWAY} dev eth0`, 'm'));
    assert.deepEqual(await net.listPodNetns(), [pods.a.netns, pods.b.netns].sort());
  });

  it('connects pod to pod, node to pod, pod to node, and masquerades pods leaving the cluster range', async () => {
    const a = pods.a!;
    const b = pods.b!;
    const node = lan.host('node');
    const client = lan.host('client');
    await serve(a, 7000, 'a');
    await serve(b, 7000, 'b');
    await serve('node', 7100, 'node');
    await serve('client', 7200, 'client');
    assert.equal(await ask(a, 'tcp', b.ip, 7000), `b ${a.ip}`);
    assert.equal(await ask(b, 'udp', a.ip, 7000), `a ${b.ip}`);
    assert.equal(await ask('node', 'tcp', a.ip, 7000), `a ${GATEWAY}`);
    assert.equal(await ask(a, 'tcp', node.ip, 7100), `node ${a.ip}`);
    assert.equal(await ask(a, 'tcp', GATEWAY, 7100), `node ${a.ip}`);
    assert.equal(await ask(a, 'tcp', client.ip, 7200), `client ${node.ip}`);
  });

  it('maps hostPorts like CNI portmap: other hosts, the node itself, localhost and hairpin', async () => {
    const a = pods.a!;
    const b = pods.b!;
    const node = lan.host('node');
    const client = lan.host('client');
    await net.setHostPorts([
      { hostPort: 8080, protocol: 'TCP', podIP: a.ip, containerPort: 7000 },
      { hostPort: 8080, protocol: 'UDP', podIP: a.ip, containerPort: 7000 },
      { hostIP: node.ip, hostPort: 8081, protocol: 'TCP', podIP: b.ip, containerPort: 7000 },
    ]);
    // From another host the pod sees the real client address.
    assert.equal(await ask('client', 'tcp', node.ip, 8080), `a ${client.ip}`);
    assert.equal(await ask('client', 'udp', node.ip, 8080), `a ${client.ip}`);
    assert.equal(await ask('client', 'tcp', node.ip, 8081), `b ${client.ip}`);
    // The node itself, on its address and on localhost (masqueraded: replies to 127.0.0.1 could not come back).
    assert.equal(await ask('node', 'tcp', node.ip, 8080), `a ${node.ip}`);
    assert.equal(await ask('node', 'udp', node.ip, 8080), `a ${node.ip}`);
    assert.equal(await ask('node', 'tcp', '127.0.0.1', 8080), `a ${GATEWAY}`);
    assert.match(await ask('node', 'tcp', '127.0.0.1', 8081), /^ERR ECONNREFUSED/, 'a hostIP mapping answers on that address only');
    // Hairpin: a pod through the node address, to itself and to its neighbour.
    assert.equal(await ask(a, 'tcp', node.ip, 8080), `a ${GATEWAY}`);
    assert.equal(await ask(b, 'tcp', node.ip, 8080), `a ${GATEWAY}`);
    assert.equal(await ask(b, 'udp', node.ip, 8080), `a ${GATEWAY}`);
    assert.equal(await ask(a, 'tcp', node.ip, 8081), `b ${GATEWAY}`);

    await net.setHostPorts([{ hostPort: 8080, protocol: 'TCP', podIP: b.ip, containerPort: 7000 }]);
    assert.equal(await ask('client', 'tcp', node.ip, 8080), `b ${client.ip}`);
    assert.match(await ask('client', 'tcp', node.ip, 8081), /^ERR ECONNREFUSED/);
  });

  it('keeps addresses and rules across a restart (a new PodNetwork on the same state)', async () => {
    const node = lan.host('node');
    const client = lan.host('client');
    const restarted = make();
    await restarted.setupNode();
    assert.equal(await ask('client', 'tcp', node.ip, 8080), `b ${client.ip}`, 'hostPorts re-applied from the state file');
    assert.deepEqual(await restarted.addPod({ namespace: 'default', name: 'a', uid: 'uid-a' }), pods.a);
    assert.equal(await ask(pods.b!, 'tcp', pods.a!.ip, 7000), `a ${pods.b!.ip}`, 'running pods untouched');
    net = restarted;
  });

  it('removePod removes the netns and veth and frees the address (not reused at once)', async () => {
    const b = pods.b!;
    await net.setHostPorts([]);
    await net.removePod('uid-b');
    await net.removePod('uid-b');
    assert.ok(!existsSync(b.netnsPath));
    const links = (await nodeExec(['ip', '-o', 'link', 'show', 'master', 'podgate0'])).stdout;
    assert.equal(links.trim().split('\n').filter(Boolean).length, 1, links);
    const c = await net.addPod({ namespace: 'default', name: 'c', uid: 'uid-c' });
    assert.equal(c.ip, '10.244.7.4');
    assert.deepEqual(await net.collectGarbage(['uid-a']), [c.netns]);
    assert.deepEqual(await net.listPodNetns(), [pods.a!.netns]);
  });

  it('a second node on the same machine has its own names and its own teardown', async () => {
    const other = await lan.addHost('node2');
    const otherName = `node2-${lan.prefix}`;
    lan.trackNetnsPrefix(netnsPrefix(otherName));
    const otherDir = mkdtempSync(join(tmpdir(), 'podgate-net-'));
    try {
      const net2 = new PodNetwork({
        nodeName: otherName, nodeIP: other.ip, podCIDR: POD_CIDR, clusterCIDR: '10.244.0.0/16', stateDir: otherDir,
        log: () => {}, exec: inNetns(runCommand, other.netns),
      });
      await net2.setupNode();
      const twin = await net2.addPod({ namespace: 'default', name: 'a', uid: 'uid-a' });
      assert.equal(twin.ip, pods.a!.ip);
      assert.notEqual(twin.netns, pods.a!.netns);
      assert.deepEqual(await net2.listPodNetns(), [twin.netns]);
      await net2.teardownNode();
      assert.ok(existsSync(pods.a!.netnsPath));
      assert.equal(await ask('node', 'tcp', pods.a!.ip, 7000), `a ${GATEWAY}`);
    } finally {
      rmSync(otherDir, { recursive: true, force: true });
    }
  });

  it('teardownNode leaves nothing behind', async () => {
    await net.teardownNode();
    await net.teardownNode();
    assert.deepEqual(readdirSync('/run/netns').filter((n) => n.startsWith(netnsPrefix(nodeName))), []);
    assert.doesNotMatch((await nodeExec(['nft', 'list', 'tables'])).stdout, /podgate/);
    assert.doesNotMatch((await nodeExec(['ip', '-o', 'link', 'show'])).stdout, /podgate0|veth/);
    assert.ok(!existsSync(join(stateDir, STATE_FILE)));
  });
});
