// The Gateway API end to end (gateway.networking.k8s.io/v1): a GatewayClass for podgate's
// controller, a Gateway with an HTTP listener (and one on a port the proxy does not serve), two
// echo backends and HTTPRoutes splitting by path and header with a redirect rule, applied with the
// real kubectl and reached with curl --resolve from the outside client on the test LAN.
import { after, before, describe, it } from 'node:test';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import type { TestLan } from '../lib/netns-hosts.ts';
import { expectOk, type Podgate } from './harness.ts';
import { type LanCluster, startLanCluster } from './lan-cluster.ts';

function backend(name: string): string {
  return `apiVersion: v1
kind: Pod
metadata: { name: ${name}, labels: { app: ${name} } }
spec:
  containers:
    - name: web
      image: podgate/echo
      env: [{ name: PORT, value: "8080" }]
      ports: [{ containerPort: 8080 }]
---
apiVersion: v1
kind: Service
metadata: { name: ${name} }
spec:
  selector: { app: ${name} }
  ports: [{ port: 80, targetPort: 8080 }]
`;
}

const GATEWAY = `apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: { name: podgate }
spec:
  controllerName: podgate.io/gateway-controller
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: web }
spec:
  gatewayClassName: podgate
  listeners:
    - { name: http, protocol: HTTP, port: 80 }
    - { name: other, protocol: HTTP, port: 8081 }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: shop }
spec:
  parentRefs: [{ name: web, sectionName: http }]
  hostnames: [shop.example.com]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /api } }]
      backendRefs: [{ name: echo-b, port: 80 }]
    - matches: [{ headers: [{ name: X-Canary, value: "yes" }] }]
      backendRefs: [{ name: echo-b, port: 80 }]
      filters:
        - type: RequestHeaderModifier
          requestHeaderModifier: { set: [{ name: X-Route, value: canary }] }
    - matches: [{ path: { type: Exact, value: /old } }]
      filters:
        - type: RequestRedirect
          requestRedirect: { path: { type: ReplaceFullPath, replaceFullPath: /new }, statusCode: 301 }
    - backendRefs: [{ name: echo-a, port: 80 }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: broken }
spec:
  parentRefs: [{ name: web }]
  hostnames: [broken.example.com]
  rules:
    - backendRefs: [{ name: missing, port: 80 }]
`;

describe('Gateway API on a test LAN', () => {
  let cluster: LanCluster;
  let lan: TestLan;
  let pg: Podgate;
  let nodeIP: string;

  before(async () => {
    cluster = await startLanCluster();
    ({ lan, pg, nodeIP } = cluster);
    expectOk(await pg.apply([backend('echo-a'), backend('echo-b')].join('---\n')), 'apply backends');
    expectOk(await pg.kubectl(['wait', '--for=condition=Ready', 'pod', '--all', '--timeout=60s']), 'wait pods');
    expectOk(await pg.apply(GATEWAY), 'apply gateway');
  });
  after(async () => { await cluster?.stop(); });

  const curl = async (url: string, extra: string[] = []) => {
    const u = new URL(url);
    const port = u.port || (u.protocol === 'https:' ? '443' : '80');
    const r = await lan.exec('client', ['curl', '-s', '-m', '5', '--resolve', `${u.hostname}:${port}:${nodeIP}`, '-w', '\n%{http_code} %{redirect_url}', ...extra, url], { allowFailure: true });
    const i = r.stdout.lastIndexOf('\n');
    const [code, location] = r.stdout.slice(i + 1).split(' ') as [string, string];
    return { code, location, body: r.stdout.slice(0, i) };
  };
  const podOf = (body: string) => (JSON.parse(body) as { pod: { name: string } }).pod.name;
  const eventually = async (fn: () => Promise<boolean>, what: string) => {
    for (let i = 0; i < 80; i++) { if (await fn()) return; await new Promise((r) => setTimeout(r, 100)); }
    assert.fail(`never: ${what}`);
  };

  it('accepts the class and programs the gateway: kubectl get shows ADDRESS and PROGRAMMED True', async () => {
    await eventually(async () => (await pg.kubectl(['get', 'gatewayclass', 'podgate'])).stdout.includes('True'), 'GatewayClass Accepted');
    let out = '';
    await eventually(async () => { out = (await pg.kubectl(['get', 'gateway', 'web'])).stdout; return out.includes(nodeIP) && /\bTrue\b/.test(out); }, 'Gateway programmed');
    assert.match(out, /^NAME\s+CLASS\s+ADDRESS\s+PROGRAMMED\s+AGE\n/);
    assert.match(out, new RegExp(`^web\\s+podgate\\s+${nodeIP.replace(/\./g, '\\.')}\\s+True\\s+`, 'm'));
    // The routes are created one after the other: the count settles once both are in.
    type GatewayStatus = { status: { listeners: { name: string; attachedRoutes: number; conditions: { type: string; status: string; reason: string }[] }[] } };
    let gw: GatewayStatus | undefined;
    await eventually(async () => {
      gw = JSON.parse((await pg.kubectl(['get', 'gateway', 'web', '-o', 'json'])).stdout) as GatewayStatus;
      return gw.status.listeners.find((l) => l.name === 'http')?.attachedRoutes === 2;
    }, 'two routes attached to the http listener');
    const other = gw!.status.listeners.find((l) => l.name === 'other')!;
    assert.deepEqual(other.conditions.find((c) => c.type === 'Accepted'), { ...other.conditions.find((c) => c.type === 'Accepted'), status: 'False', reason: 'PortUnavailable' });
    const routes = (await pg.kubectl(['get', 'httproute'])).stdout;
    assert.match(routes, /^NAME\s+HOSTNAMES\s+AGE\n/);
    assert.match(routes, /^shop\s+\["shop\.example\.com"\]\s+/m);
  });

  it('routes by path and header to the right backend', async () => {
    await eventually(async () => (await curl('http://shop.example.com/')).code === '200', 'route served');
    assert.equal(podOf((await curl('http://shop.example.com/')).body), 'echo-a');
    assert.equal(podOf((await curl('http://shop.example.com/api/items')).body), 'echo-b');
    assert.equal(podOf((await curl('http://shop.example.com/apix')).body), 'echo-a', 'PathPrefix matches whole path elements');
    const canary = await curl('http://shop.example.com/', ['-H', 'X-Canary: yes']);
    assert.equal(podOf(canary.body), 'echo-b');
    assert.match(canary.body, /"x-route":\s*"canary"/i, 'RequestHeaderModifier set the header upstream');
    assert.equal((await curl('http://other.example.com/')).code, '404');
  });

  it('redirects with the RequestRedirect filter', async () => {
    const r = await curl('http://shop.example.com/old?q=1');
    assert.equal(r.code, '301');
    assert.equal(r.location, 'http://shop.example.com/new?q=1');
  });

  it('answers 500 for a rule whose backends are all invalid, and reports statuses', async () => {
    await eventually(async () => (await curl('http://broken.example.com/')).code === '500', 'broken route answers 500');
    // Statuses are written after the route table is in place.
    await eventually(async () => /BackendNotFound/.test((await pg.kubectl(['get', 'httproute', 'broken', '-o', 'yaml'])).stdout), 'broken route status written');
    const yaml = (await pg.kubectl(['get', 'httproute', 'shop', '-o', 'yaml'])).stdout;
    assert.match(yaml, /controllerName: podgate\.io\/gateway-controller/);
    assert.match(yaml, /reason: Accepted\n\s+status: "True"\n\s+type: Accepted/);
    assert.match(yaml, /reason: ResolvedRefs\n\s+status: "True"\n\s+type: ResolvedRefs/);
    const broken = (await pg.kubectl(['get', 'httproute', 'broken', '-o', 'yaml'])).stdout;
    assert.match(broken, /reason: BackendNotFound\n\s+status: "False"\n\s+type: ResolvedRefs/);
  });
  it('terminates TLS on an HTTPS listener without a hostname with its certificateRef, for its routes only', async () => {
    const certDir = mkdtempSync(join(tmpdir(), 'podgate-gateway-'));
    try {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
        '-subj', '/CN=secure.example.com', '-addext', 'subjectAltName=DNS:secure.example.com',
        '-keyout', join(certDir, 'tls.key'), '-out', join(certDir, 'tls.crt')], { stdio: 'ignore' });
      expectOk(await pg.kubectl(['create', 'secret', 'tls', 'secure-tls', `--cert=${join(certDir, 'tls.crt')}`, `--key=${join(certDir, 'tls.key')}`]), 'tls secret');
      await lan.exec('client', ['sh', '-c', `cat > /tmp/${lan.prefix}gw-ca.crt`], { input: readFileSync(join(certDir, 'tls.crt'), 'utf8') });
    } finally {
      rmSync(certDir, { recursive: true, force: true });
    }
    expectOk(await pg.apply(`apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: secure }
spec:
  gatewayClassName: podgate
  listeners:
    - name: https
      protocol: HTTPS
      port: 443
      tls: { mode: Terminate, certificateRefs: [{ name: secure-tls }] }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: secure-shop }
spec:
  parentRefs: [{ name: secure }]
  hostnames: [secure.example.com]
  rules:
    - backendRefs: [{ name: echo-a, port: 80 }]
`), 'apply secure gateway');
    const cacert = ['--cacert', `/tmp/${lan.prefix}gw-ca.crt`];
    // curl verifies the chain and the name against the Secret's certificate: the listener's own.
    await eventually(async () => (await curl('https://secure.example.com/', cacert)).code === '200', 'https answers with the listener\'s certificate');
    assert.equal(podOf((await curl('https://secure.example.com/', cacert)).body), 'echo-a');
    assert.equal((await curl('http://secure.example.com/')).code, '404', 'a route of an HTTPS listener is not served over HTTP');
    await eventually(async () => /attachedRoutes: 1/.test((await pg.kubectl(['get', 'gateway', 'secure', '-o', 'yaml'])).stdout), 'the route attached to the https listener');
  });
  it('routes to a Service in another namespace once a ReferenceGrant there allows it', async () => {
    expectOk(await pg.kubectl(['create', 'namespace', 'shared']), 'namespace');
    expectOk(await pg.apply(backend('echo-c'), ['-n', 'shared']), 'apply echo-c');
    expectOk(await pg.kubectl(['wait', '-n', 'shared', '--for=condition=Ready', 'pod/echo-c', '--timeout=60s']), 'wait echo-c');
    expectOk(await pg.apply(`apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: cross }
spec:
  parentRefs: [{ name: web, sectionName: http }]
  hostnames: [cross.example.com]
  rules:
    - backendRefs: [{ name: echo-c, namespace: shared, port: 80 }]
`), 'apply cross route');
    await eventually(async () => (await curl('http://cross.example.com/')).code === '500', 'refused without a grant');
    await eventually(async () => /RefNotPermitted/.test((await pg.kubectl(['get', 'httproute', 'cross', '-o', 'yaml'])).stdout), 'RefNotPermitted in the status');
    expectOk(await pg.apply(`apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: { name: from-default, namespace: shared }
spec:
  from: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: default }]
  to: [{ group: "", kind: Service }]
`), 'apply grant');
    await eventually(async () => (await curl('http://cross.example.com/')).code === '200', 'served once granted');
    assert.equal(podOf((await curl('http://cross.example.com/')).body), 'echo-c');
    expectOk(await pg.kubectl(['delete', 'referencegrant', '-n', 'shared', 'from-default']), 'delete grant');
    await eventually(async () => (await curl('http://cross.example.com/')).code === '500', 'refused again once the grant is gone');
  });
});
