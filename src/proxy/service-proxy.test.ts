// The proxy for real: podgate's API server in-process, a node host (its own netns, a podgate0
// bridge with three "pods", each a netns running an echo server that names itself and the
// client address it saw) and an outside client host on a throwaway LAN. ServiceProxy programs
// the node netns through its exec seam; every assertion is a packet from the client, the node or
// a pod. Needs root, `ip`, `nft`, `nsenter` and `conntrack` (apt-get install -y iproute2 nftables
// util-linux conntrack); it fails, never skips, without them.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import { writeFileSync } from 'node:fs';
import type { Service } from 'kubernetes-types/core/v1.d.ts';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.d.ts';
import type { KObject } from '../api/object.ts';
import { resources } from '../api/resources.ts';
import { KubeClient } from '../client/rest-client.ts';
import { createLan, echoServerSource, nodeBin, requireNetTools, type TestLan, waitForOutput } from '../../test/lib/netns-hosts.ts';
import { inNetns, runCommand } from '../util/exec.ts';
import { renderNft } from './render-nft.ts';
import { ServiceProxy } from './service-proxy.ts';
import { NftSession } from './nft-session.ts';
import { SERVICE_IPS, effectiveValue } from './ruleset.ts';
import { type InProcessApiServer, startInProcessApiServer } from '../apiserver/in-process.ts';

const r = (name: string) => resources.find((x) => x.resource === name)!;
const NODE = 'node1';
const POD_CIDR = '10.244.0.0/24';
const LB_IP = '192.0.2.50';

/** `node -e` client: args PROTO HOST PORT COUNT DURATION_MS TIMEOUT_MS. Opens COUNT new connections one after another (or as many as fit in DURATION_MS when COUNT is 0) and prints JSON: replies, and errors with how long each took. */
const multiClientSource = `
const net = require('node:net'); const dgram = require('node:dgram');
const [proto, host, port, count, duration, timeout] = process.argv.slice(1).map((v, i) => i < 2 ? v : +v);
const replies = []; const errors = []; const end = Date.now() + duration;
const one = () => new Promise((resolve) => {
  const t0 = Date.now(); let done = false;
  const finish = (reply, err) => { if (done) return; done = true; clearTimeout(timer); if (reply) replies.push(reply.trim()); else errors.push({ code: err, ms: Date.now() - t0 }); resolve(); };
  const timer = setTimeout(() => { finish(null, 'TIMEOUT'); try { s.destroy(); } catch {} try { u.close(); } catch {} }, timeout);
  let s, u;
  if (proto === 'tcp') { let b = ''; s = net.connect(+port, host); s.on('data', (d) => { b += d; }); s.on('end', () => finish(b)); s.on('error', (e) => finish(null, e.code)); }
  else { u = dgram.createSocket('udp4'); u.on('message', (m) => { finish(String(m)); u.close(); }); u.on('error', (e) => { finish(null, e.code); try { u.close(); } catch {} }); u.connect(+port, host, () => u.send('ping')); }
});
(async () => { for (let i = 0; count ? i < count : Date.now() < end; i++) await one(); console.log(JSON.stringify({ replies, errors })); process.exit(0); })();
`;

/** `node -e` long-lived client: args HOST PORT; sends a line every 50 ms on one TCP connection, prints `echo N` per reply and `error …` when the connection breaks. */
const longClientSource = `
const net = require('node:net'); const [host, port] = process.argv.slice(1);
let n = 0; const s = net.connect(+port, host, () => { console.log('connected'); setInterval(() => s.write('ping\\n'), 50); });
s.on('data', (d) => { n += String(d).split('\\n').filter(Boolean).length; console.log('echo ' + n); });
s.on('error', (e) => { console.log('error ' + e.code); process.exit(1); }); s.on('close', () => { console.log('error closed'); process.exit(1); });
`;

const lineEchoSource = `require('node:net').createServer((s) => { s.on('error', () => {}); s.pipe(s); }).listen(+process.argv[1], '0.0.0.0', () => console.log('listening'));`;

interface Pod { name: string; netns: string; ip: string }

function makeService(name: string, ports: { name: string; port: number; nodePort?: number; protocol?: string }[], f: (s: Service & { spec: NonNullable<Service['spec']> }) => void = () => {}): KObject {
  const s = { apiVersion: 'v1', kind: 'Service', metadata: { namespace: 'default', name }, spec: { type: 'NodePort', selector: { app: name }, ports: ports.map((p) => ({ protocol: 'TCP', targetPort: 8080, ...p })) } } as unknown as Service & { spec: NonNullable<Service['spec']> };
  f(s);
  return s as unknown as KObject;
}

function makeSlice(service: string, pods: readonly Pod[], ports: { name: string; port: number; protocol?: string }[], nodeName = NODE): KObject {
  const s: EndpointSlice = {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', addressType: 'IPv4',
    metadata: { namespace: 'default', name: `${service}-abcde`, labels: { 'kubernetes.io/service-name': service } },
    ports: ports.map((p) => ({ name: p.name, port: p.port, protocol: p.protocol ?? 'TCP' })),
    endpoints: pods.map((p) => ({ addresses: [p.ip], conditions: { ready: true, serving: true, terminating: false }, nodeName, targetRef: { kind: 'Pod', namespace: 'default', name: p.name } })),
  };
  return s as unknown as KObject;
}

describe('ServiceProxy in network namespaces', () => {
  let api: InProcessApiServer;
  let client: KubeClient;
  let lan: TestLan;
  let proxy: ServiceProxy;
  let nodeIP: string;
  let clientIP: string;
  const pods: Pod[] = [];
  const logs: string[] = [];
  const scripts: string[] = [];

  const newProxy = () => new ServiceProxy({
    client, nodeName: NODE, nodeAddresses: [nodeIP], clusterCIDR: POD_CIDR, serviceCIDRs: ['10.96.0.0/12'],
    exec: (argv, o) => { scripts.push(`${argv.join(' ')}\n${o?.input ?? ''}`); return inNetns(runCommand, lan.host('node').netns)(argv, o); }, healthCheckBindAddress: '127.0.0.1', log: (m) => logs.push(m),
    // Incremental syncs through a long-running nft -i in the node's namespace, as in production.
    nftSession: new NftSession({ argv: ['nsenter', `--net=/run/netns/${lan.host('node').netns}`, '--', 'nft', '-i'] }),
  });

  async function connect(from: string | Pod, proto: 'tcp' | 'udp', host: string, port: number, count = 1, timeoutMs = 2000, durationMs = 0): Promise<{ replies: string[]; errors: { code: string; ms: number }[] }> {
    const res = await lan.exec(typeof from === 'string' ? from : from, [nodeBin, '-e', multiClientSource, proto, host, String(port), String(count), String(durationMs), String(timeoutMs)], { timeoutMs: 60_000 });
    return JSON.parse(res.stdout) as { replies: string[]; errors: { code: string; ms: number }[] };
  }

  /** Waits until the applied ruleset sends `ip . proto . port` (a service-ips key) to a verdict matching `re`. */
  async function programmed(key: string, re: RegExp): Promise<void> {
    await eventually(async () => effectiveValue(proxy.applied!, SERVICE_IPS, key) ?? '', (v) => re.test(v), 5000, `${key} ~ ${re}`);
  }

  async function get(kind: string, name: string): Promise<KObject> {
    return client.get(r(kind), 'default', name);
  }

  before(async () => {
    requireNetTools();
    for (const tool of ['nsenter', 'conntrack']) {
      try { execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }); } catch { throw new Error(`${tool} is missing (apt-get install -y ${tool === 'nsenter' ? 'util-linux' : 'conntrack'})`); }
    }
    api = await startInProcessApiServer({ historyCapacity: 500 });
    client = api.client;

    lan = await createLan({ hosts: ['node', 'client'] });
    nodeIP = lan.host('node').ip;
    clientIP = lan.host('client').ip;
    const node = lan.host('node').netns;
    // What the node agent sets up: the pod bridge, forwarding; plus a route for the service
    // range so the node's own sockets can connect to cluster IPs (real nodes use their default route).
    await lan.exec('node', ['ip', '-batch', '-'], { input: ['link add podgate0 type bridge', 'address add 10.244.0.1/24 dev podgate0', 'link set dev podgate0 up', 'route add 10.96.0.0/12 dev podgate0'].join('\n') + '\n' });
    await lan.exec('node', ['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    // The outside client reaches the LB address through the node, as a router would send it.
    await lan.exec('client', ['ip', 'route', 'add', `${LB_IP}/32`, 'via', nodeIP]);
    for (let i = 1; i <= 3; i++) {
      const pod: Pod = { name: `pod${i}`, netns: `${lan.prefix}pod${i}`, ip: `10.244.0.${10 + i}` };
      await runCommand(['ip', 'netns', 'add', pod.netns]);
      await runCommand(['ip', '-n', node, 'link', 'add', `vpod${i}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', pod.netns]);
      await runCommand(['ip', '-n', node, 'link', 'set', `vpod${i}`, 'master', 'podgate0', 'up']);
      // As the node agent does: with br_netfilter a hairpin DNAT is bridged back out of the port it came in on.
      await runCommand(['ip', '-n', node, 'link', 'set', `vpod${i}`, 'type', 'bridge_slave', 'hairpin', 'on']);
      await runCommand(['ip', '-n', pod.netns, '-batch', '-'], { input: ['link set dev lo up', `address add ${pod.ip}/24 dev eth0`, 'link set dev eth0 up', 'route add default via 10.244.0.1'].join('\n') + '\n' });
      const echo = lan.spawn(pod, [nodeBin, '-e', echoServerSource, '8080', pod.name]);
      await waitForOutput(echo, /listening/);
      const line = lan.spawn(pod, [nodeBin, '-e', lineEchoSource, '9090']);
      await waitForOutput(line, /listening/);
      pods.push(pod);
    }

    const web = [{ name: 'http', port: 80, nodePort: 30080 }];
    await client.create(r('services'), 'default', makeService('web', web));
    await client.create(r('endpointslices'), 'default', makeSlice('web', pods, [{ name: 'http', port: 8080 }]));
    proxy = newProxy();
    await proxy.start();
  });

  after(async () => {
    await proxy?.stop();
    await api?.stop();
    await lan?.destroy();
  });

  it('answers a NodePort from the outside client, masqueraded (externalTrafficPolicy Cluster)', async () => {
    const res = await connect('client', 'tcp', nodeIP, 30080);
    assert.equal(res.errors.length, 0, JSON.stringify(res));
    assert.match(res.replies[0]!, /^pod[123] 10\.244\.0\.1$/);
  });

  it('masquerades NodePort traffic keeping the client source port (a reused port must not meet another connection\'s TIME_WAIT in the pod)', async () => {
    const port = 40123;
    const fromPort = `const s = require('node:net').connect({ host: process.argv[1], port: 30080, localPort: +process.argv[2] }); s.pipe(process.stdout); s.on('error', (e) => { console.error(e.message); process.exit(1); });`;
    const r = await lan.exec('client', [nodeBin, '-e', fromPort, nodeIP, String(port)]);
    assert.match(r.stdout, /^pod[123] 10\.244\.0\.1$/m);
    const ct = await lan.exec('node', ['conntrack', '-L', '-p', 'tcp', '--orig-src', clientIP, '--orig-port-src', String(port), '--orig-port-dst', '30080']);
    // The reply direction (pod → node address) goes to the port the client chose, not a random one.
    assert.match(ct.stdout, new RegExp(`src=${clientIP.replace(/\./g, '\\.')} dst=${nodeIP.replace(/\./g, '\\.')} sport=${port} dport=30080 src=10\\.244\\.0\\.1[123] dst=10\\.244\\.0\\.1 sport=8080 dport=${port} `), ct.stdout);
  });

  it('answers the ClusterIP from the node and from a pod, and a pod reaching itself (hairpin)', async () => {
    const svc = await get('services', 'web') as unknown as Service;
    const cip = svc.spec!.clusterIP!;
    const fromNode = await connect('node', 'tcp', cip, 80, 5);
    assert.deepEqual(fromNode.errors, []);
    assert.ok(fromNode.replies.every((x) => /^pod[123] /.test(x)), fromNode.replies.join());
    const fromPod = await connect(pods[0]!, 'tcp', cip, 80, 30);
    assert.deepEqual(fromPod.errors, []);
    // Another pod sees pod1's own address; pod1 reaching itself sees the node's (hairpin masquerade).
    for (const reply of fromPod.replies) {
      const [tag, addr] = reply.split(' ');
      assert.equal(addr, tag === 'pod1' ? '10.244.0.1' : pods[0]!.ip, reply);
    }
    assert.ok(fromPod.replies.some((x) => x.startsWith('pod1 ')), 'hairpin case was exercised');
  });

  it('spreads 300 new connections over 3 endpoints at random', async () => {
    const res = await connect('client', 'tcp', nodeIP, 30080, 300);
    assert.deepEqual(res.errors, []);
    const counts = new Map<string, number>();
    for (const x of res.replies) counts.set(x.split(' ')[0]!, (counts.get(x.split(' ')[0]!) ?? 0) + 1);
    logs.push(`300 connections: ${JSON.stringify(Object.fromEntries([...counts].sort()))}`);
    assert.equal(counts.size, 3);
    // Binomial(300, 1/3): below 60 is > 6 standard deviations away.
    for (const [, n] of counts) assert.ok(n >= 60, JSON.stringify([...counts]));
  });

  it('keeps a client on one pod with sessionAffinity ClientIP', async () => {
    await client.create(r('services'), 'default', makeService('sticky', [{ name: 'http', port: 80, nodePort: 30081 }], (s) => {
      s.spec.sessionAffinity = 'ClientIP';
      s.spec.sessionAffinityConfig = { clientIP: { timeoutSeconds: 60 } };
    }));
    await client.create(r('endpointslices'), 'default', makeSlice('sticky', pods, [{ name: 'http', port: 8080 }]));
    const svc = await get('services', 'sticky') as unknown as Service;
    await programmed(`${svc.spec!.clusterIP} . tcp . 80`, /goto svc-/);
    const res = await connect('client', 'tcp', nodeIP, 30081, 40);
    assert.deepEqual(res.errors, []);
    assert.equal(new Set(res.replies.map((x) => x.split(' ')[0])).size, 1, res.replies.join());
    const fromPod = await connect(pods[2]!, 'tcp', svc.spec!.clusterIP!, 80, 20);
    assert.equal(new Set(fromPod.replies.map((x) => x.split(' ')[0])).size, 1, fromPod.replies.join());
  });

  it('externalTrafficPolicy Local keeps the client address, uses only local endpoints, serves healthCheckNodePort', async () => {
    await client.create(r('services'), 'default', makeService('local', [{ name: 'http', port: 80, nodePort: 30082 }], (s) => {
      s.spec.type = 'LoadBalancer';
      s.spec.externalTrafficPolicy = 'Local';
    }));
    const svc = await get('services', 'local') as unknown as Service & KObject;
    await client.update(r('services'), { ...svc, status: { loadBalancer: { ingress: [{ ip: LB_IP }] } } } as unknown as KObject, 'status');
    // pod1 on this node, pod2 elsewhere: only pod1 may answer external traffic.
    const slice = makeSlice('local', [pods[0]!], [{ name: 'http', port: 8080 }]) as unknown as EndpointSlice;
    const remote = (makeSlice('local', [pods[1]!], [{ name: 'http', port: 8080 }], 'node2') as unknown as EndpointSlice).endpoints;
    await client.create(r('endpointslices'), 'default', { ...slice, endpoints: [...slice.endpoints, ...remote] } as unknown as KObject);
    await programmed(`${LB_IP} . tcp . 80`, /goto ext-/);
    for (const target of [nodeIP, LB_IP]) {
      const port = target === LB_IP ? 80 : 30082;
      const res = await connect('client', 'tcp', target, port, 20);
      assert.deepEqual(res.errors, [], target);
      assert.deepEqual([...new Set(res.replies)], [`pod1 ${clientIP}`], target);
    }
    const hc = svc.spec!.healthCheckNodePort!;
    assert.ok(hc > 0, 'the API server allocated a healthCheckNodePort');
    const body = await httpGet(hc);
    assert.deepEqual(body, { status: 200, json: { service: { namespace: 'default', name: 'local' }, localEndpoints: 1 } });
    await client.delete(r('endpointslices'), 'default', 'local-abcde');
    const down = await eventually(() => httpGet(hc), (v) => v.status === 503, 5000, 'health check 503');
    assert.deepEqual(down, { status: 503, json: { service: { namespace: 'default', name: 'local' }, localEndpoints: 0 } });
  });

  it('refuses connections to a service without endpoints at once (TCP reset, ICMP for UDP)', async () => {
    await client.create(r('services'), 'default', makeService('empty', [{ name: 'http', port: 80, nodePort: 30083 }, { name: 'dns', port: 53, nodePort: 30085, protocol: 'UDP' }]));
    const svc = await get('services', 'empty') as unknown as Service;
    await programmed(`${svc.spec!.clusterIP} . udp . 53`, /reject-service/);
    const tcp = await connect('client', 'tcp', nodeIP, 30083, 5);
    assert.deepEqual(tcp.replies, []);
    for (const e of tcp.errors) { assert.equal(e.code, 'ECONNREFUSED'); assert.ok(e.ms < 100, `${e.ms} ms`); }
    const fromPod = await connect(pods[0]!, 'tcp', svc.spec!.clusterIP!, 80, 5);
    for (const e of fromPod.errors) { assert.equal(e.code, 'ECONNREFUSED'); assert.ok(e.ms < 100, `${e.ms} ms`); }
    assert.equal(fromPod.errors.length, 5);
    const udp = await connect('client', 'udp', nodeIP, 30085, 3);
    assert.deepEqual(udp.errors.map((e) => e.code), ['ECONNREFUSED', 'ECONNREFUSED', 'ECONNREFUSED']);
    logs.push(`refusals took ${JSON.stringify([...tcp.errors, ...fromPod.errors, ...udp.errors].map((e) => e.ms))} ms`);
  });

  it('refuses a cluster IP on a port its Service lacks, and drops an unallocated address of the Service range', async () => {
    const ip = ((await get('services', 'web')) as unknown as Service).spec!.clusterIP!;
    for (const from of [pods[0]!, 'node'] as const) {
      const res = await connect(from, 'tcp', ip, 81, 2);
      assert.deepEqual(res.replies, []);
      for (const e of res.errors) { assert.equal(e.code, 'ECONNREFUSED'); assert.ok(e.ms < 100, `${e.ms} ms`); }
    }
    // Dropped before routing: no neighbour lookup for it on the pod bridge (routed on, the
    // connection would wait for ARP there and fail with EHOSTUNREACH after about 3 s).
    const unallocated = await connect(pods[0]!, 'tcp', '10.96.123.123', 80, 1, 1000);
    assert.deepEqual(unallocated.errors.map((e) => e.code), ['TIMEOUT']);
    assert.equal((await lan.exec('node', ['ip', 'neigh', 'show', '10.96.123.123'])).stdout.trim(), '');
  });

  it('forwards UDP through NodePort and ClusterIP, and clears stale UDP conntrack entries', async () => {
    await client.create(r('services'), 'default', makeService('udp', [{ name: 'dns', port: 53, nodePort: 30084, protocol: 'UDP' }]));
    await client.create(r('endpointslices'), 'default', makeSlice('udp', [pods[1]!], [{ name: 'dns', port: 8080, protocol: 'UDP' }]));
    const svc = await get('services', 'udp') as unknown as Service;
    await programmed(`${svc.spec!.clusterIP} . udp . 53`, /goto svc-/);
    const res = await connect('client', 'udp', nodeIP, 30084, 3);
    assert.deepEqual(res.errors, []);
    assert.deepEqual([...new Set(res.replies)], ['pod2 10.244.0.1']);
    const fromPod = await connect(pods[0]!, 'udp', svc.spec!.clusterIP!, 53, 2);
    assert.deepEqual([...new Set(fromPod.replies)], [`pod2 ${pods[0]!.ip}`]);
    const flows = async () => (await lan.exec('node', ['conntrack', '-L', '-p', 'udp', '--dst-nat', pods[1]!.ip], { allowFailure: true })).stdout.trim().split('\n').filter(Boolean).length;
    assert.ok(await flows() > 0, 'UDP flows to pod2 exist');
    const slice = await get('endpointslices', 'udp-abcde');
    await client.update(r('endpointslices'), { ...makeSlice('udp', [pods[2]!], [{ name: 'dns', port: 8080, protocol: 'UDP' }]), metadata: slice.metadata });
    await eventually(async () => proxy.applied!.ports.get('default/udp')?.[0]?.endpoints.map((e) => e.ip).join() ?? '', (v) => v === pods[2]!.ip, 5000, 'pod3 programmed');
    await eventually(flows, (n) => n === 0, 2000, 'stale flows to pod2 deleted');
    const after = await connect('client', 'udp', nodeIP, 30084, 2);
    assert.deepEqual([...new Set(after.replies)], ['pod3 10.244.0.1']);
  });

  it('removing two of three endpoints while connecting makes no new connection fail', async () => {
    const running = connect('client', 'tcp', nodeIP, 30080, 0, 2000, 1500);
    await new Promise((res) => setTimeout(res, 400));
    const slice = await get('endpointslices', 'web-abcde');
    // As the EndpointSlice controller does when pods are deleted: they leave the slice while still running (graceful termination).
    await client.update(r('endpointslices'), { ...makeSlice('web', [pods[2]!], [{ name: 'http', port: 8080 }]), metadata: slice.metadata });
    const res = await running;
    assert.deepEqual(res.errors, []);
    const tags = res.replies.map((x) => x.split(' ')[0]);
    logs.push(`during endpoint removal: ${res.replies.length} connections, last 20 to ${[...new Set(tags.slice(-20))].join(',')}`);
    assert.ok(res.replies.length > 50, `${res.replies.length} connections`);
    assert.deepEqual([...new Set(tags.slice(-20))], ['pod3']);
    const last = proxy.lastSync!;
    assert.equal(last.full, false);
    logs.push(`incremental sync: ${JSON.stringify(last)}`);
  });

  it('a restarted proxy replaces the table atomically while a long-lived TCP connection keeps working', async () => {
    const created = await client.create(r('services'), 'default', makeService('long', [{ name: 'echo', port: 9090 }], (s) => { s.spec.ports![0]!.targetPort = 9090; })) as unknown as Service;
    const nodePort = created.spec!.ports![0]!.nodePort!;
    await client.create(r('endpointslices'), 'default', makeSlice('long', [pods[0]!], [{ name: 'echo', port: 9090 }]));
    await programmed(`${created.spec!.clusterIP} . tcp . 9090`, /goto svc-/);
    const long = lan.spawn('client', [nodeBin, '-e', longClientSource, nodeIP, String(nodePort)]);
    let out = '';
    long.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
    await waitForOutput(long, /echo 3\b/);
    // The process goes away leaving its rules in the kernel (as a crash or restart would); a new
    // one takes over: its first sync replaces the whole table in one transaction.
    await proxy.stop({ keepTable: true });
    const before = out.length;
    proxy = newProxy();
    await proxy.start();
    assert.equal(proxy.lastSync!.full, true);
    // And once more by hand, the same full script.
    await lan.exec('node', ['nft', '-f', '-'], { input: renderNft(proxy.applied!) });
    await new Promise((res) => setTimeout(res, 500));
    assert.doesNotMatch(out, /error/);
    assert.ok(out.length > before + 20, 'replies kept coming');
    long.kill('SIGKILL');
    // New connections work through the new table too.
    const res = await connect('client', 'tcp', nodeIP, 30080, 3);
    assert.deepEqual(res.errors, []);
  });

  it('stop() removes only its own table', async () => {
    await lan.exec('node', ['nft', 'add', 'table', 'inet', 'someone_else']);
    await proxy.stop();
    const tables = (await lan.exec('node', ['nft', 'list', 'tables'])).stdout;
    assert.doesNotMatch(tables, /podgate_proxy/);
    assert.match(tables, /someone_else/);
    for (const l of logs) console.log(`# ${l}`);
    if (process.env.PROXY_TEST_SCRIPTS) writeFileSync(process.env.PROXY_TEST_SCRIPTS, scripts.join('\n----\n'));
  });
});

async function eventually<T>(f: () => Promise<T>, ok: (v: T) => boolean, ms = 5000, what = 'condition'): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (ok(v)) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}: last ${JSON.stringify(v)}`);
    await new Promise((res) => setTimeout(res, 20));
  }
}

function httpGet(port: number): Promise<{ status: number; json: unknown }> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/healthz', agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, json: JSON.parse(body) }));
    }).on('error', reject);
  });
}
