// Real packets across nodes: two "node" hosts on a throwaway LAN (test/lib/netns-hosts.ts), each
// with its pod network built by PodNetwork (bridge, nft table, ip_forward) and one pod, Node
// objects in the in-process API server, and NodeRoutes in each node netns routing the other's
// podCIDR via its LAN address. Strict rp_filter is on in both nodes, as on many distributions.
// Needs root, iproute2 and nftables; fails (never skips) saying what to install.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Node } from 'kubernetes-types/core/v1.d.ts';
import type { KObject } from '../../api/object.ts';
import { resources } from '../../api/resources.ts';
import { type InProcessApiServer, startInProcessApiServer } from '../../apiserver/in-process.ts';
import { type TestLan, createLan, echoClientSource, echoServerSource, nodeBin, requireNetTools, waitForOutput } from '../../../test/lib/netns-hosts.ts';
import { inNetns, runCommand } from '../../util/exec.ts';
import { ServiceProxy } from '../../proxy/index.ts';
import { NodeRoutes, ROUTE_PROTOCOL } from './node-routes.ts';
import { PodNetwork, type PodAttachment } from './pod-network.ts';
import { netnsPrefix } from './plan.ts';
import { until as untilWithin } from '../../util/test-wait.ts';

const until = <T>(what: string, f: () => Promise<T | undefined>, timeoutMs = 8000) => untilWithin(what, f, timeoutMs);

const nodesResource = resources.find((x) => x.resource === 'nodes')!;
const byName = (plural: string) => resources.find((x) => x.resource === plural)!;
const CLUSTER_CIDR = '10.244.0.0/16';
const POD_CIDRS: Record<string, string> = { a: '10.244.1.0/24', b: '10.244.2.0/24' };


describe('NodeRoutes: pods reach each other across nodes (host-gw)', () => {
  requireNetTools();
  let lan: TestLan;
  let api: InProcessApiServer | undefined;
  const stateDirs: string[] = [];
  const nets: Record<string, PodNetwork> = {};
  const pods: Record<string, PodAttachment> = {};
  const routes: Record<string, NodeRoutes> = {};
  let proxy: ServiceProxy | undefined;
  const logs: Record<string, string[]> = { a: [], b: [] };
  const nodeName = (h: string) => `${h}-${lan.prefix}node`;

  const ask = async (where: string | { netns: string }, proto: 'tcp' | 'udp', host: string, port: number, ms = 2000): Promise<string> => {
    const r = await lan.exec(where, [nodeBin, '-e', echoClientSource, proto, host, String(port), String(ms)], { allowFailure: true });
    return r.code === 0 ? r.stdout.trim() : `ERR ${r.stderr.trim()}`;
  };
  /** podgate's routes in a node netns, as `dst via gateway dev dev`. */
  const ourRoutes = async (h: string): Promise<string[]> => {
    const out = (await lan.exec(h, ['ip', '-j', '-4', 'route', 'show', 'proto', String(ROUTE_PROTOCOL)])).stdout;
    return (JSON.parse(out || '[]') as { dst: string; gateway: string; dev: string }[]).map((r) => `${r.dst} via ${r.gateway} dev ${r.dev}`);
  };
  const nodeObject = (name: string, podCIDR: string, ip: string): KObject => ({
    apiVersion: 'v1', kind: 'Node', metadata: { name },
    spec: { podCIDR, podCIDRs: [podCIDR] },
    status: { addresses: [{ type: 'InternalIP', address: ip }, { type: 'Hostname', address: name }] },
  } satisfies Node as unknown as KObject);
  /** Syncs per node (each lists the routing table once). */
  const syncs: Record<string, number> = { a: 0, b: 0 };
  const startRoutes = async (h: string) => {
    const exec = inNetns(runCommand, lan.host(h).netns);
    routes[h] = new NodeRoutes({
      client: api!.client, nodeName: nodeName(h), log: (m) => logs[h]!.push(m), resyncIntervalMs: 0,
      exec: (argv, o) => { if (argv.includes('route') && argv.includes('show')) syncs[h]!++; return exec(argv, o); },
    });
    await routes[h].start();
  };

  before(async () => {
    lan = await createLan({ hosts: ['a', 'b'] });
    for (const h of ['a', 'b']) {
      lan.trackNetnsPrefix(netnsPrefix(nodeName(h)));
      // Strict reverse-path filtering: host-gw must not depend on it being off.
      await lan.exec(h, ['sysctl', '-q', '-w', 'net.ipv4.conf.all.rp_filter=1', 'net.ipv4.conf.default.rp_filter=1', 'net.ipv4.conf.eth0.rp_filter=1']);
      const stateDir = mkdtempSync(join(tmpdir(), 'podgate-routes-'));
      stateDirs.push(stateDir);
      nets[h] = new PodNetwork({
        nodeName: nodeName(h), nodeIP: lan.host(h).ip, podCIDR: POD_CIDRS[h]!, clusterCIDR: CLUSTER_CIDR, stateDir,
        log: () => {}, exec: inNetns(runCommand, lan.host(h).netns),
      });
      await nets[h].setupNode();
      pods[h] = await nets[h].addPod({ namespace: 'default', name: `pod-${h}`, uid: `uid-${h}` });
      await waitForOutput(lan.spawn(pods[h], [nodeBin, '-e', echoServerSource, '7000', `pod-${h}`]), /listening/);
    }
    api = await startInProcessApiServer();
  });

  after(async () => {
    for (const r of Object.values(routes)) await r.stop().catch(() => undefined);
    await proxy?.stop().catch(() => undefined);
    await api?.stop().catch(() => undefined);
    await lan?.destroy();
    for (const d of stateDirs) rmSync(d, { recursive: true, force: true });
  });

  it('without routes, a pod cannot reach the other node\'s pods', async () => {
    assert.match(await ask(pods.a!, 'tcp', pods.b!.ip, 7000, 1000), /^ERR/);
  });

  it('routes every other node\'s podCIDR via its InternalIP, removes its own stale routes, leaves others\' routes alone', async () => {
    const a = lan.host('a');
    const b = lan.host('b');
    // Left by an earlier run (ours: proto 147) and made by someone else (proto static).
    await lan.exec('a', ['ip', 'route', 'add', '10.244.9.0/24', 'via', b.ip, 'proto', String(ROUTE_PROTOCOL)]);
    await lan.exec('a', ['ip', 'route', 'add', '10.244.8.0/24', 'via', b.ip, 'proto', 'static']);
    await api!.client.create(nodesResource, undefined, nodeObject(nodeName('a'), POD_CIDRS.a!, a.ip));
    await api!.client.create(nodesResource, undefined, nodeObject(nodeName('b'), POD_CIDRS.b!, b.ip));
    // Not on the LAN: host-gw cannot reach it, so no route and a reason.
    await api!.client.create(nodesResource, undefined, nodeObject('far-away', '10.244.3.0/24', '192.0.2.50'));
    await startRoutes('a');
    await startRoutes('b');
    assert.deepEqual(await ourRoutes('a'), [`10.244.2.0/24 via ${b.ip} dev eth0`]);
    assert.deepEqual(await ourRoutes('b'), [`10.244.1.0/24 via ${a.ip} dev eth0`]);
    assert.match((await lan.exec('a', ['ip', '-4', 'route', 'show', '10.244.8.0/24'])).stdout, /via .* proto static/);
    for (const h of ['a', 'b']) {
      const skips = logs[h]!.filter((l) => l.includes('far-away'));
      assert.equal(skips.length, 1, logs[h]!.join('\n'));
      assert.match(skips[0]!, /192\.0\.2\.50 is not on a subnet this node is directly connected to/);
    }
  });

  it('pod to pod across nodes, both ways, TCP and UDP: the server sees the client pod\'s own address', async () => {
    assert.equal(await ask(pods.a!, 'tcp', pods.b!.ip, 7000), `pod-b ${pods.a!.ip}`);
    assert.equal(await ask(pods.b!, 'tcp', pods.a!.ip, 7000), `pod-a ${pods.b!.ip}`);
    assert.equal(await ask(pods.a!, 'udp', pods.b!.ip, 7000), `pod-b ${pods.a!.ip}`);
    assert.equal(await ask(pods.b!, 'udp', pods.a!.ip, 7000), `pod-a ${pods.b!.ip}`);
  });

  it('a node reaches the other node\'s pods (LAN traffic for a local pod is forwarded to the bridge)', async () => {
    assert.equal(await ask('b', 'tcp', pods.a!.ip, 7000), `pod-a ${lan.host('b').ip}`);
    assert.equal(await ask('a', 'tcp', pods.b!.ip, 7000), `pod-b ${lan.host('a').ip}`);
  });

  it('with the service proxy on node a: a ClusterIP keeps the pod\'s address across nodes, a NodePort is masqueraded to node a', async () => {
    const a = lan.host('a');
    proxy = new ServiceProxy({
      client: api!.client, nodeName: nodeName('a'), nodeAddresses: [a.ip], clusterCIDR: CLUSTER_CIDR, serviceCIDRs: ['10.96.0.0/12'],
      exec: inNetns(runCommand, a.netns), nftSession: false, healthCheckBindAddress: null, log: () => {},
    });
    await proxy.start();
    const svc = await api!.client.create(byName('services'), 'default', {
      apiVersion: 'v1', kind: 'Service', metadata: { namespace: 'default', name: 'web' },
      spec: { type: 'NodePort', selector: { app: 'web' }, ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 7000, nodePort: 30080 }] },
    } as unknown as KObject) as unknown as { spec: { clusterIP: string } };
    await api!.client.create(byName('endpointslices'), 'default', {
      apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', addressType: 'IPv4',
      metadata: { namespace: 'default', name: 'web-abcde', labels: { 'kubernetes.io/service-name': 'web' } },
      ports: [{ name: 'http', port: 7000, protocol: 'TCP' }],
      endpoints: [{ addresses: [pods.b!.ip], conditions: { ready: true, serving: true, terminating: false }, nodeName: nodeName('b') }],
    } as unknown as KObject);
    const clusterIP = svc.spec.clusterIP;
    await until('the ClusterIP answering from pod a', async () => {
      const reply = await ask(pods.a!, 'tcp', clusterIP, 80, 1000);
      return reply.startsWith('ERR') ? undefined : reply;
    });
    assert.equal(await ask(pods.a!, 'tcp', clusterIP, 80), `pod-b ${pods.a!.ip}`);
    assert.equal(await ask('b', 'tcp', a.ip, 30080), `pod-b ${a.ip}`);
    await proxy.stop();
    proxy = undefined;
  });

  it('a Node change is followed: changes that do not matter sync nothing, a deleted node\'s route goes', async () => {
    const before = logs.a!.length;
    const syncsBefore = syncs.a;
    const current = await api!.client.get(nodesResource, undefined, nodeName('b'));
    await api!.client.update(nodesResource, { ...current, metadata: { ...current.metadata, labels: { touched: 'yes' } } });
    await new Promise((res) => setTimeout(res, 300));
    await routes.a!.idle();
    assert.equal(syncs.a, syncsBefore, 'label changes (like heartbeats) do not resync');
    await api!.client.delete(nodesResource, undefined, nodeName('b'));
    await until('the route to node b removed', async () => ((await ourRoutes('a')).length === 0 ? true : undefined));
    assert.ok(logs.a!.slice(before).some((l) => /removed 10\.244\.2\.0\/24/.test(l)), logs.a!.join('\n'));
    assert.match(await ask(pods.a!, 'tcp', pods.b!.ip, 7000, 1000), /^ERR/);
    await api!.client.create(nodesResource, undefined, nodeObject(nodeName('b'), POD_CIDRS.b!, lan.host('b').ip));
    await until('the route to node b back', async () => ((await ourRoutes('a')).length === 1 ? true : undefined));
    assert.equal(await ask(pods.a!, 'tcp', pods.b!.ip, 7000), `pod-b ${pods.a!.ip}`);
  });

  it('stop removes its routes and only its routes', async () => {
    await routes.a!.stop();
    delete routes.a;
    assert.deepEqual(await ourRoutes('a'), []);
    assert.match((await lan.exec('a', ['ip', '-4', 'route', 'show', '10.244.8.0/24'])).stdout, /proto static/);
    assert.deepEqual(await ourRoutes('b'), [`10.244.1.0/24 via ${lan.host('a').ip} dev eth0`]);
  });
});
