// Two nodes on a test LAN: `podgate up` on one host, `podgate agent` on another joining with the
// command `up` printed (bootstrap token, CA pin, CSRs for the node's client and serving
// certificates). Pods on one node reach pods on the other with their own addresses, NodePorts
// answer on both nodes for pods on either, the API server reaches the second node's kubelet
// (logs, exec) over the certificate the cluster signed, and when the second node dies its
// LoadBalancer address moves to the first.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { electionOrder } from '../../src/lb/announce.ts';
import type { TestLan } from '../lib/netns-hosts.ts';
import { expectOk, type Podgate } from './harness.ts';
import { type LanCluster, startLanCluster } from './lan-cluster.ts';

describe('two nodes: podgate up and podgate agent on a test LAN', () => {
  let cluster: LanCluster;
  let lan: TestLan;
  let pg: Podgate;
  let n1: string;
  let n2: string;
  let lbIP: string;

  before(async () => {
    let pool: string[] = [];
    cluster = await startLanCluster({
      agents: ['node2'],
      extraArgs: (l) => {
        const base = l.subnet.replace(/\.0\/24$/, '');
        pool = Array.from({ length: 10 }, (_, i) => `${base}.${200 + i}`);
        // A dead node is noticed after 8 s instead of kube's 40 s.
        return ['--lb-pool', `${pool[0]}-${pool.at(-1)}`, '--node-monitor-grace-period', '8s', '--ingress-http-port', '0', '--ingress-https-port', '0'];
      },
      agentArgs: ['--ingress-http-port', '0', '--ingress-https-port', '0'],
    });
    ({ lan, pg } = cluster);
    n1 = cluster.nodeName('node');
    n2 = cluster.nodeName('node2');
    // An address MetalLB's election gives to the second node, so that its death has to move it.
    lbIP = pool.find((ip) => electionOrder([n1, n2], ip)[0] === n2)!;
    const pod = (name: string, node: string, app: string) => `apiVersion: v1
kind: Pod
metadata: { name: ${name}, labels: { app: ${app}, tier: web } }
spec:
  nodeName: ${node}
  terminationGracePeriodSeconds: 2
  containers:
    - name: web
      image: podgate/echo
      ports: [{ containerPort: 8080 }]
      readinessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 1 }
`;
    const svc = (name: string, app: string, extra = '') => `apiVersion: v1
kind: Service
metadata: { name: ${name}${extra ? `, annotations: { metallb.io/loadBalancerIPs: "${extra}" }` : ''} }
spec:
  type: ${extra ? 'LoadBalancer' : 'NodePort'}
  selector: { ${app === 'web' ? 'tier' : 'app'}: ${app} }
  ports: [{ port: 80, targetPort: 8080 }]
`;
    expectOk(await pg.apply([pod('a', n1, 'a'), pod('b', n2, 'b'), svc('to-a', 'a'), svc('to-b', 'b'), svc('lb', 'web', lbIP)].join('---\n')), 'apply');
    expectOk(await pg.kubectl(['wait', '--for=condition=Ready', 'pod/a', 'pod/b', '--timeout=60s']), 'wait for pods');
  });
  after(async () => { await cluster?.stop(); });

  const get = async (what: string[], path: string) => expectOk(await pg.kubectl(['get', ...what, '-o', `jsonpath=${path}`]), `get ${what.join(' ')}`);
  const curl = async (host: string, url: string) => {
    let last = '';
    for (let i = 0; i < 50; i++) {
      const r = await lan.exec(host, ['curl', '-s', '-m', '3', url], { allowFailure: true });
      if (r.code === 0) return r.stdout;
      last = `${r.code} ${r.stderr}`;
      await new Promise((res) => setTimeout(res, 200));
    }
    throw new Error(`curl ${url} from ${host}: ${last}`);
  };

  it('the second node joins with the printed command: Ready, its own pod range, its certificates from approved CSRs', async () => {
    const nodes = expectOk(await pg.kubectl(['get', 'nodes', '-o', 'wide']), 'get nodes');
    for (const [n, host] of [[n1, 'node'], [n2, 'node2']] as const) {
      assert.match(nodes, new RegExp(`^${n}\\s+Ready\\s+\\S+\\s+\\S+\\s+\\S+\\s+${lan.host(host).ip.replaceAll('.', '\\.')}\\s`, 'm'), nodes);
    }
    const cidrs = (await get(['nodes'], '{range .items[*]}{.spec.podCIDR}{"\\n"}{end}')).trim().split('\n');
    assert.equal(new Set(cidrs).size, 2, `two pod ranges: ${cidrs.join(', ')}`);
    const csrs = expectOk(await pg.kubectl(['get', 'csr']), 'get csr');
    assert.match(csrs, /^NAME\s+AGE\s+SIGNERNAME\s+REQUESTOR\s+REQUESTEDDURATION\s+CONDITION$/m);
    assert.match(csrs, /^node-csr-\S+\s+\S+\s+kubernetes\.io\/kube-apiserver-client-kubelet\s+system:bootstrap:[a-z0-9]{6}\s+<none>\s+Approved,Issued$/m, csrs);
    assert.match(csrs, new RegExp(`^csr-\\S+\\s+\\S+\\s+kubernetes\\.io/kubelet-serving\\s+system:node:${n2}\\s+<none>\\s+Approved,Issued$`, 'm'), csrs);
  });

  it('a pod reaches a pod on the other node at its own address, and is seen with its own', async () => {
    const [ipA, ipB] = [await get(['pod', 'a'], '{.status.podIP}'), await get(['pod', 'b'], '{.status.podIP}')];
    const r = expectOk(await pg.kubectl(['exec', 'a', '--', 'wget', '-qO-', `http://${ipB}:8080/from-a`]), 'exec a wget b');
    const seen = JSON.parse(r) as { client: { address: string } };
    assert.equal(seen.client.address, ipA, 'not masqueraded between nodes');
  });

  it('a NodePort answers on either node for a pod on either node', async () => {
    for (const svc of ['to-a', 'to-b']) {
      const port = await get(['svc', svc], '{.spec.ports[0].nodePort}');
      for (const host of ['node', 'node2']) {
        const body = await curl('client', `http://${lan.host(host).ip}:${port}/`);
        assert.match(body, /"client"/, `${svc} through ${host}`);
      }
    }
  });

  it('kubectl logs and exec reach the pod on the joined node through its kubelet', async () => {
    const ipB = await get(['pod', 'b'], '{.status.podIP}');
    // The kubelet-style /etc/hosts of the pod names its own address.
    assert.match(expectOk(await pg.kubectl(['exec', 'b', '--', 'cat', '/etc/hosts']), 'exec b'), new RegExp(`^${ipB.replaceAll('.', '\\.')}\\s+b$`, 'm'));
    await curl('client', `http://${lan.host('node').ip}:${await get(['svc', 'to-b'], '{.spec.ports[0].nodePort}')}/logged`);
    assert.match(expectOk(await pg.kubectl(['logs', 'b']), 'logs b'), /GET \/logged/);
    // The node proxy verifies the kubelet's certificate too.
    assert.equal(expectOk(await pg.kubectl(['get', '--raw', `/api/v1/nodes/${n2}/proxy/healthz`]), 'node proxy'), 'ok');
  });

  it('a joined node stopped cleanly takes its pods out of the endpoints, and comes back with the certificates it kept', async () => {
    const agent = cluster.agents.get('node2')!;
    const readyEndpoints = () => get(['endpointslices', '-l', 'kubernetes.io/service-name=to-b'], '{.items[*].endpoints[?(@.conditions.ready==true)].addresses[0]}');
    assert.notEqual((await readyEndpoints()).trim(), '');
    await agent.terminate();
    expectOk(await pg.kubectl(['wait', '--for=condition=Ready=False', `node/${n2}`, '--timeout=30s']), 'node2 reports itself not ready');
    expectOk(await pg.kubectl(['wait', '--for=condition=Ready=False', 'pod/b', '--timeout=30s']), 'its pod turns not ready');
    for (let i = 0; i < 50 && (await readyEndpoints()).trim() !== ''; i++) await new Promise((r) => setTimeout(r, 200));
    assert.equal((await readyEndpoints()).trim(), '', 'no ready endpoint left on the stopped node');
    await agent.restart();
    assert.match(agent.output(), /using the client certificate in/);
    expectOk(await pg.kubectl(['wait', '--for=condition=Ready', `node/${n2}`, 'pod/b', '--timeout=60s']), 'node2 and its pod are back');
    const csrs = expectOk(await pg.kubectl(['get', 'csr', '-o', 'name']), 'get csr').trim().split('\n');
    assert.equal(csrs.length, 2, `no new certificate requests: ${csrs.join(', ')}`);
  });

  it('when the second node dies, it turns NotReady, its pods leave the endpoints and its LoadBalancer address moves to the first node', async () => {
    assert.equal(await get(['svc', 'lb'], '{.status.loadBalancer.ingress[0].ip}'), lbIP);
    const addrs = async (host: string) => (await lan.exec(host, ['ip', '-o', '-4', 'addr', 'show'])).stdout;
    for (let i = 0; i < 50 && !(await addrs('node2')).includes(`${lbIP}/32`); i++) await new Promise((r) => setTimeout(r, 200));
    assert.ok((await addrs('node2')).includes(`${lbIP}/32`), 'the second node announces it first');
    assert.ok(!(await addrs('node')).includes(`${lbIP}/32`));
    // The agent crashes while its machine stays on the LAN: nothing takes the address off its link,
    // but nothing renews it either, so it expires there (30 s) and node2 stops answering ARP for it.
    const crashedAt = Date.now();
    await cluster.agents.get('node2')!.crash();
    expectOk(await pg.kubectl(['wait', '--for=condition=Ready=Unknown', `node/${n2}`, '--timeout=60s']), 'node2 turns Unknown');
    const taints = await get(['node', n2], '{.spec.taints[*].key}');
    assert.match(taints, /node\.kubernetes\.io\/unreachable/);
    for (let i = 0; i < 100 && !(await addrs('node')).includes(`${lbIP}/32`); i++) await new Promise((r) => setTimeout(r, 200));
    assert.ok((await addrs('node')).includes(`${lbIP}/32`), 'the first node took the address over');
    for (let i = 0; i < 250 && (await addrs('node2')).includes(`${lbIP}/32`); i++) await new Promise((r) => setTimeout(r, 200));
    assert.ok(!(await addrs('node2')).includes(`${lbIP}/32`), `the crashed node's address expired (${Math.round((Date.now() - crashedAt) / 1000)} s after the crash)`);
    const ipA = await get(['pod', 'a'], '{.status.podIP}');
    const readyEndpoints = () => get(['endpointslices', '-l', 'kubernetes.io/service-name=lb'], '{.items[*].endpoints[?(@.conditions.ready==true)].addresses[0]}');
    for (let i = 0; i < 50 && (await readyEndpoints()).trim() !== ipA; i++) await new Promise((r) => setTimeout(r, 200));
    assert.equal((await readyEndpoints()).trim(), ipA, 'only the pod on the live node is a ready endpoint');
    assert.equal(await get(['pod', 'b'], '{.status.conditions[?(@.type=="Ready")].status}'), 'False');
    // The takeover's gratuitous ARP pointed the client at the first node.
    for (let i = 0; i < 5; i++) assert.match(await curl('client', `http://${lbIP}/after-failover`), /after-failover/);
  });
});
