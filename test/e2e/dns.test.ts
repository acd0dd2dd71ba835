// Cluster DNS end to end, as a Kubernetes user meets it: `podgate up` in a throwaway node netns,
// the real kubectl, and lookups from inside pods (busybox nslookup and wget, and a dns-packet client
// over UDP and TCP) through the kube-dns Service's cluster IP. Names outside the cluster are
// forwarded to a fake upstream resolver on the test LAN (given as --resolv-conf), so nothing leaves
// the test's namespaces.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nodeBin, repoRoot, type TestLan, waitForOutput } from '../lib/netns-hosts.ts';
import { expectOk, type Podgate } from './harness.ts';
import { echoPod, type LanCluster, startLanCluster } from './lan-cluster.ts';

/** A resolver on the client host: *.corp.test and external.example → 192.0.2.77, NXDOMAIN otherwise (UDP and TCP). */
const fakeUpstream = `
const dgram = require('dgram'); const net = require('net'); const p = require('dns-packet');
const answer = (msg) => { const q = p.decode(msg); const qq = q.questions[0]; const known = /(^|\\.)corp\\.test$|^external\\.example$/.test(qq.name);
  console.log('upstream asked ' + qq.type + ' ' + qq.name);
  return p.encode({ id: q.id, type: 'response', flags: p.RECURSION_DESIRED | p.RECURSION_AVAILABLE | (known ? 0 : 3), questions: q.questions,
    answers: known && qq.type === 'A' ? [{ name: qq.name, type: 'A', ttl: 60, data: '192.0.2.77' }] : [] }); };
const u = dgram.createSocket('udp4'); u.on('message', (m, r) => u.send(answer(m), r.port, r.address));
const t = net.createServer((c) => { let b = Buffer.alloc(0); c.on('data', (d) => { b = Buffer.concat([b, d]); if (b.length >= 2 && b.length >= 2 + b.readUInt16BE(0)) { const a = answer(b.subarray(2, 2 + b.readUInt16BE(0))); const l = Buffer.alloc(2); l.writeUInt16BE(a.length); c.end(Buffer.concat([l, a])); } }); c.on('error', () => {}); });
u.bind(53, process.argv[1], () => t.listen(53, process.argv[1], () => console.log('upstream ready')));
`;

/** Asks the cluster DNS at argv[1] for argv[2] (type argv[3]) over argv[4] (udp|tcp); prints rcode, flags and answers as JSON. */
const dnsClient = `
const dgram = require('dgram'); const net = require('net'); const p = require('dns-packet');
const [server, name, type, proto] = process.argv.slice(1);
const q = p.encode({ id: 4242, type: 'query', flags: p.RECURSION_DESIRED, questions: [{ name, type }] });
const done = (m) => { const r = p.decode(m); console.log(JSON.stringify({ rcode: r.rcode, tc: r.flag_tc, aa: r.flag_aa,
  answers: r.answers.map((a) => a.type + ' ' + (typeof a.data === 'object' ? JSON.stringify(a.data) : a.data)), authorities: r.authorities.map((a) => a.type + ' ' + a.name) })); process.exit(0); };
setTimeout(() => { console.log('timeout'); process.exit(1); }, 5000);
if (proto === 'tcp') { const l = Buffer.alloc(2); l.writeUInt16BE(q.length); let b = Buffer.alloc(0); const s = net.connect(53, server, () => s.write(Buffer.concat([l, q])));
  s.on('data', (d) => { b = Buffer.concat([b, d]); if (b.length >= 2 && b.length >= 2 + b.readUInt16BE(0)) done(b.subarray(2, 2 + b.readUInt16BE(0))); }); }
else { const s = dgram.createSocket('udp4'); s.on('message', done); s.send(q, 53, server); }
`;

describe('cluster DNS from pods', () => {
  let cluster: LanCluster;
  let lan: TestLan;
  let pg: Podgate;

  before(async () => {
    cluster = await startLanCluster({
      extraArgs: (l: TestLan) => {
        const resolv = join(tmpdir(), `podgate-dns-e2e-${l.prefix}.resolv.conf`);
        writeFileSync(resolv, `# the test LAN's resolver\nnameserver ${l.host('client').ip}\nsearch corp.test\n`);
        return ['--ingress-http-port', '0', '--ingress-https-port', '0', '--resolv-conf', resolv];
      },
    });
    ({ lan, pg } = cluster);
    const upstream = lan.spawn('client', [nodeBin, '-e', fakeUpstream, lan.host('client').ip], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    await waitForOutput(upstream, /upstream ready/);
    expectOk(await pg.apply(`${echoPod('echo-0', { app: 'echo' })}---
apiVersion: v1
kind: Service
metadata: { name: echo }
spec:
  selector: { app: echo }
  ports: [{ name: http, port: 80, targetPort: 8080 }]
---
apiVersion: v1
kind: Service
metadata: { name: echo-headless }
spec:
  clusterIP: None
  selector: { app: echo }
  ports: [{ name: http, port: 8080 }]
---
apiVersion: v1
kind: Service
metadata: { name: outside }
spec:
  type: ExternalName
  externalName: external.example
---
apiVersion: v1
kind: Pod
metadata: { name: shell }
spec:
  containers: [{ name: sh, image: busybox, command: [sleep, "3600"] }]
`), 'apply');
    expectOk(await pg.kubectl(['wait', '--for=condition=Ready', 'pod/echo-0', 'pod/shell', '--timeout=30s']), 'wait');
  });
  after(async () => {
    await cluster?.stop();
    if (lan) rmSync(join(tmpdir(), `podgate-dns-e2e-${lan.prefix}.resolv.conf`), { force: true });
  });

  const inShell = (argv: string[]) => pg.kubectl(['exec', 'shell', '--', ...argv]);
  const podIP = async (pod: string) => expectOk(await pg.kubectl(['get', 'pod', pod, '-o', 'jsonpath={.status.podIP}']), 'podIP');
  const clusterIP = async (svc: string) => expectOk(await pg.kubectl(['get', 'svc', svc, '-o', 'jsonpath={.spec.clusterIP}']), 'clusterIP');
  /**
   * Debian's busybox has no applet links, so nslookup is `busybox nslookup`. Like busybox images
   * newer than 1.28 on any cluster, its nslookup does not use the search path: short names are
   * looked up with glibc (`getent hosts`), as programs in pods do.
   */
  const nslookup = (name: string) => inShell(['busybox', 'nslookup', name]);
  const getent = async (name: string) => (await inShell(['getent', 'hosts', name])).stdout.trim().split(/\s+/);
  /** busybox nslookup's answer addresses (after its Server/Address lines). */
  const addresses = (out: string) => [...out.split(/\n\s*\n/).slice(1).join('\n').matchAll(/Address:\s*([\d.]+)/g)].map((m) => m[1]!);

  it('has kube-system/kube-dns at 10.96.0.10 with this node\'s DNS server behind it, as on a kubeadm cluster', async () => {
    const svc = JSON.parse(expectOk(await pg.kubectl(['get', 'svc', '-n', 'kube-system', 'kube-dns', '-o', 'json']), 'get kube-dns'));
    assert.equal(svc.spec.clusterIP, '10.96.0.10');
    assert.deepEqual(svc.metadata.labels, { 'k8s-app': 'kube-dns', 'kubernetes.io/cluster-service': 'true', 'kubernetes.io/name': 'CoreDNS' });
    assert.deepEqual(svc.spec.ports.map((p: { name: string; port: number; protocol: string }) => `${p.name} ${p.port}/${p.protocol}`), ['dns 53/UDP', 'dns-tcp 53/TCP']);
    const slices = JSON.parse(expectOk(await pg.kubectl(['get', 'endpointslices', '-n', 'kube-system', '-l', 'kubernetes.io/service-name=kube-dns', '-o', 'json']), 'slices'));
    assert.equal(slices.items.length, 1);
    assert.match(slices.items[0].endpoints[0].addresses[0], /^10\.244\.\d+\.1$/);
  });

  it('gives the pod the kubelet\'s resolv.conf and hosts file, and leaves the node\'s alone', async () => {
    assert.equal(expectOk(await inShell(['cat', '/etc/resolv.conf']), 'cat'), 'search default.svc.cluster.local svc.cluster.local cluster.local corp.test\nnameserver 10.96.0.10\noptions ndots:5\n');
    const hosts = expectOk(await inShell(['cat', '/etc/hosts']), 'cat hosts');
    assert.match(hosts, /^# Kubernetes-managed hosts file\.\n127\.0\.0\.1\tlocalhost\n/);
    assert.ok(hosts.endsWith(`${await podIP('shell')}\tshell\n`), hosts);
    const node = await pg.run(['cat', '/etc/resolv.conf']);
    assert.doesNotMatch(node.stdout, /10\.96\.0\.10/);
  });

  it('resolves a Service by full name (busybox nslookup), and by short name and kubernetes.default through the search path (glibc)', async () => {
    const echoIP = await clusterIP('echo');
    const full = await nslookup('echo.default.svc.cluster.local');
    assert.deepEqual(addresses(full.stdout), [echoIP], full.stdout + full.stderr);
    assert.match(full.stdout, /Server:\s+10\.96\.0\.10/);
    assert.deepEqual(await getent('echo'), [echoIP, 'echo.default.svc.cluster.local']);
    assert.deepEqual(await getent('kubernetes.default'), [await clusterIP('kubernetes'), 'kubernetes.default.svc.cluster.local']);
  });

  it('resolves a headless Service to its ready pods', async () => {
    const r = await nslookup('echo-headless.default.svc.cluster.local');
    assert.deepEqual(addresses(r.stdout), [await podIP('echo-0')], r.stdout + r.stderr);
  });

  it('fetches http://echo/ with wget from a pod', async () => {
    const r = await inShell(['wget', '-qO-', 'http://echo/']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).pod.name, 'echo-0');
  });

  it('answers over UDP and TCP at the cluster IP, with SRV for named ports and NXDOMAIN with the SOA', async () => {
    const ask = async (name: string, type: string, proto: string) => JSON.parse(expectOk(await inShell([nodeBin, '-e', dnsClient.replace("require('dns-packet')", `require(${JSON.stringify(join(repoRoot, 'node_modules/dns-packet'))})`), '10.96.0.10', name, type, proto]), `${proto} ${name}`));
    const echoIP = await clusterIP('echo');
    for (const proto of ['udp', 'tcp']) {
      const a = await ask('echo.default.svc.cluster.local', 'A', proto);
      assert.deepEqual([a.rcode, a.aa, a.answers], ['NOERROR', true, [`A ${echoIP}`]], proto);
    }
    const srv = await ask('_http._tcp.echo.default.svc.cluster.local', 'SRV', 'tcp');
    assert.deepEqual(srv.answers, ['SRV {"priority":0,"weight":100,"port":80,"target":"echo.default.svc.cluster.local"}']);
    const nx = await ask('nope.default.svc.cluster.local', 'A', 'udp');
    assert.deepEqual([nx.rcode, nx.authorities], ['NXDOMAIN', ['SOA cluster.local']]);
    const ptr = await ask(`${echoIP.split('.').reverse().join('.')}.in-addr.arpa`, 'PTR', 'udp');
    assert.deepEqual(ptr.answers, ['PTR echo.default.svc.cluster.local']);
  });

  it('forwards other names to the node\'s resolver (the host\'s search domain too), and follows an ExternalName', async () => {
    const full = await nslookup('www.corp.test');
    assert.deepEqual(addresses(full.stdout), ['192.0.2.77'], full.stdout + full.stderr);
    assert.deepEqual(await getent('www'), ['192.0.2.77', 'www.corp.test']);
    const ext = await nslookup('outside.default.svc.cluster.local');
    assert.match(ext.stdout, /canonical name = external\.example/);
    assert.deepEqual(addresses(ext.stdout), ['192.0.2.77'], ext.stdout);
  });

  it('says NXDOMAIN for a name that does not exist, and knows a new Service at once', async () => {
    const r = await nslookup('nope.default.svc.cluster.local');
    assert.notEqual(r.code, 0);
    assert.match(r.stdout + r.stderr, /NXDOMAIN/);
    expectOk(await pg.apply('apiVersion: v1\nkind: Service\nmetadata: { name: fresh }\nspec:\n  selector: { app: echo }\n  ports: [{ port: 81, targetPort: 8080 }]\n'), 'apply fresh');
    const ip = await clusterIP('fresh');
    const t0 = Date.now();
    let got: string[] = [];
    while (Date.now() - t0 < 2000) {
      got = await getent('fresh');
      if (got[0]) break;
    }
    assert.deepEqual(got, [ip, 'fresh.default.svc.cluster.local']);
  });

  it('runs `kubectl run --rm -i --image=busybox --restart=Never -- nslookup kubernetes.default.svc.cluster.local`', async () => {
    // The short sleep keeps the container alive until kubectl has attached: a container that exits
    // first leaves kubectl to fall back to its logs, which sometimes came back empty (not a DNS matter).
    const r = await pg.kubectl(['run', 'dns-check', '--rm', '-i', '--image=busybox', '--restart=Never', '--', 'sh', '-c', 'sleep 1; busybox nslookup kubernetes.default.svc.cluster.local'], { timeoutMs: 60_000 });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /Name:\s+kubernetes\.default\.svc\.cluster\.local\nAddress:\s+10\.96\.0\.1\b/);
  });
  it('is no open resolver: a LAN host routing the pod range through the node gets no answer, the node does', async () => {
    const gateway = (expectOk(await pg.kubectl(['get', 'endpointslices', '-n', 'kube-system', '-l', 'kubernetes.io/service-name=kube-dns', '-o', 'jsonpath={.items[0].endpoints[0].addresses[0]}']), 'gateway')).trim();
    // One A query over UDP; prints the answer's rcode or "no answer" after 2 s.
    const ask = `const dgram = require('dgram'), dns = require(process.argv[2]); const s = dgram.createSocket('udp4');
      s.on('message', (m) => { console.log('rcode ' + dns.decode(m).rcode); process.exit(0); });
      s.send(dns.encode({ type: 'query', id: 7, flags: dns.RECURSION_DESIRED, questions: [{ type: 'A', name: 'kubernetes.default.svc.cluster.local' }] }), 53, process.argv[1]);
      setTimeout(() => { console.log('no answer'); process.exit(0); }, 2000);`;
    const dnsPacket = join(repoRoot, 'node_modules', 'dns-packet');
    const fromNode = await pg.run([nodeBin, '-e', ask, gateway, dnsPacket]);
    assert.equal(fromNode.stdout.trim(), 'rcode NOERROR', fromNode.stderr);
    await lan.exec('client', ['ip', 'route', 'add', `${gateway}/32`, 'via', cluster.nodeIP]);
    const fromLan = await lan.exec('client', [nodeBin, '-e', ask, gateway, dnsPacket]);
    assert.equal(fromLan.stdout.trim(), 'no answer', fromLan.stderr);
  });
});
