// The ingress controller end to end: the seeds' Ingresses applied unchanged (their old API
// versions included), TLS from a Secret chosen by SNI, path matching, and the annotations people
// use, from an outside client on the test LAN with the real kubectl and curl --resolve.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestLan } from '../lib/netns-hosts.ts';
import { expectOk, type Podgate } from './harness.ts';
import { type LanCluster, startLanCluster } from './lan-cluster.ts';

const seed = (name: string) => readFileSync(join(import.meta.dirname, 'seeds', name), 'utf8');

/** A Deployment-less backend: `replicas` echo pods labelled app=NAME and a Service in front. */
function backend(name: string, servicePort: number, containerPort = 8080, replicas = 1, image = 'podgate/echo'): string {
  const pods = Array.from({ length: replicas }, (_, i) => `apiVersion: v1
kind: Pod
metadata: { name: ${name}${replicas > 1 ? `-${i}` : ''}, labels: { app: ${name} } }
spec:
  containers:
    - name: web
      image: ${image}
      env: [{ name: PORT, value: "${containerPort}" }]
      ports: [{ containerPort: ${containerPort} }]
`);
  return [...pods, `apiVersion: v1
kind: Service
metadata: { name: ${name} }
spec:
  selector: { app: ${name} }
  ports: [{ port: ${servicePort}, targetPort: ${containerPort} }]
`].join('---\n');
}

describe('ingress controller on a test LAN', () => {
  let cluster: LanCluster;
  let lan: TestLan;
  let pg: Podgate;
  let nodeIP: string;
  let certDir: string;

  before(async () => {
    cluster = await startLanCluster({ extraArgs: ['--tcp-services-configmap', 'ingress-nginx/tcp-services'] });
    ({ lan, pg, nodeIP } = cluster);
    const all = [
      backend('influxdb', 8086, 8086, 1, 'influxdb:1.8'), backend('grafana', 3000, 3000), backend('my-service', 80), backend('second-service', 80),
      backend('service1', 4200), backend('service2', 8080), backend('sticky', 80, 8080, 2), backend('redis-demo', 6379, 6379, 1, 'redis'),
    ].join('---\n');
    expectOk(await pg.apply(all), 'apply backends');
    expectOk(await pg.kubectl(['wait', '--for=condition=Ready', 'pod', '--all', '--timeout=60s']), 'wait pods');
    certDir = mkdtempSync(join(tmpdir(), 'podgate-ingress-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
      '-subj', '/CN=api.example.com', '-addext', 'subjectAltName=DNS:api.example.com',
      '-keyout', join(certDir, 'tls.key'), '-out', join(certDir, 'tls.crt')], { stdio: 'ignore' });
    expectOk(await pg.kubectl(['create', 'secret', 'tls', 'api-tls', `--cert=${join(certDir, 'tls.crt')}`, `--key=${join(certDir, 'tls.key')}`]), 'tls secret');
  });
  after(async () => {
    await cluster?.stop();
    if (certDir) rmSync(certDir, { recursive: true, force: true });
  });

  /** curl from the outside client; `host` resolves to the node as DNS would. */
  const curl = async (url: string, extra: string[] = []) => {
    const u = new URL(url);
    const port = u.port || (u.protocol === 'https:' ? '443' : '80');
    const r = await lan.exec('client', ['curl', '-s', '-m', '5', '--resolve', `${u.hostname}:${port}:${nodeIP}`, '-w', '\n%{http_code}', ...extra, url], { allowFailure: true });
    const i = r.stdout.lastIndexOf('\n');
    return { code: r.stdout.slice(i + 1), body: r.stdout.slice(0, i) };
  };
  const podOf = (body: string) => (JSON.parse(body) as { pod: { name: string } }).pod.name;
  /** Routes take effect shortly after the write: retry until the answer is the expected one. */
  const eventually = async (fn: () => Promise<boolean>, what: string) => {
    for (let i = 0; i < 50; i++) { if (await fn()) return; await new Promise((r) => setTimeout(r, 100)); }
    assert.fail(`never: ${what}`);
  };

  it('serves the seeds\' single-host Ingress and reports its address', async () => {
    expectOk(await pg.apply(seed('000-05.yaml')), 'apply');
    // rewrite-target: / on path / rewrites nothing in ingress-nginx (the target is the path): /ping
    // reaches InfluxDB as /ping and gets its 204.
    await eventually(async () => (await curl('http://influxdb.example.com/ping')).code === '204', 'influxdb.example.com answers /ping');
    const r = await curl('http://influxdb.example.com/query?q=1');
    assert.equal(podOf(r.body), 'influxdb');
    assert.equal((JSON.parse(r.body) as { request: { path: string } }).request.path, '/query');
    await eventually(async () => expectOk(await pg.kubectl(['get', 'ingress', 'influxdb', '-o', 'jsonpath={.status.loadBalancer.ingress[0].ip}']), 'get') === nodeIP, 'ADDRESS shown');
    assert.equal((await curl('http://nobody.example.com/')).code, '404');
  });

  it('serves the seeds\' two-host networking.k8s.io/v1beta1 Ingress', async () => {
    expectOk(await pg.apply(seed('004-05.yaml')), 'apply');
    await eventually(async () => (await curl('http://example.com/')).code === '200', 'example.com answers');
    assert.equal(podOf((await curl('http://example.com/a')).body), 'my-service');
    assert.equal(podOf((await curl('http://another-example.com/b')).body), 'second-service');
  });

  it('serves the seeds\' extensions/v1beta1 fan-out on foo.bar.com', async () => {
    expectOk(await pg.apply(seed('003-03.yaml')), 'apply');
    await eventually(async () => (await curl('http://foo.bar.com/foo')).code === '200', 'foo.bar.com answers');
    assert.equal(podOf((await curl('http://foo.bar.com/foo')).body), 'service1');
    assert.equal(podOf((await curl('http://foo.bar.com/bar/x')).body), 'service2');
    assert.equal((await curl('http://foo.bar.com/other')).code, '404');
  });

  it('terminates TLS for api.example.com with the api-tls Secret and redirects HTTP', async () => {
    expectOk(await pg.apply(seed('000-06.yaml')), 'apply');
    const ca = readFileSync(join(certDir, 'tls.crt'), 'utf8');
    await lan.exec('client', ['sh', '-c', `cat > /tmp/${lan.prefix}ca.crt`], { input: ca });
    try {
      await eventually(async () => (await curl('https://api.example.com/influxdb/ping', ['--cacert', `/tmp/${lan.prefix}ca.crt`])).code === '200', 'https answers with the Secret\'s certificate');
      assert.equal(podOf((await curl('https://api.example.com/influxdb/ping', ['--cacert', `/tmp/${lan.prefix}ca.crt`])).body), 'influxdb');
      assert.equal(podOf((await curl('https://api.example.com/grafana/', ['--cacert', `/tmp/${lan.prefix}ca.crt`])).body), 'grafana');
      const http = await curl('http://api.example.com/grafana/', ['-o', '/dev/null', '-D', '-']);
      assert.equal(http.code, '308');
      assert.match(http.body, /[Ll]ocation: https:\/\/api\.example\.com\/grafana\//);
    } finally {
      await lan.exec('client', ['rm', '-f', `/tmp/${lan.prefix}ca.crt`], { allowFailure: true });
    }
  });

  it('matches paths by element and prefers Exact; rewrites with capture groups', async () => {
    expectOk(await pg.apply(`apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: { name: paths }
spec:
  ingressClassName: nginx
  rules:
    - host: paths.example.com
      http:
        paths:
          - { path: /foo, pathType: Prefix, backend: { service: { name: service1, port: { number: 4200 } } } }
          - { path: /foo/exact, pathType: Exact, backend: { service: { name: service2, port: { number: 8080 } } } }
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: rewrite
  annotations:
    nginx.ingress.kubernetes.io/use-regex: "true"
    nginx.ingress.kubernetes.io/rewrite-target: /$2
spec:
  ingressClassName: nginx
  rules:
    - host: rewrite.example.com
      http:
        paths:
          - { path: /something(/|$)(.*), pathType: ImplementationSpecific, backend: { service: { name: service1, port: { number: 4200 } } } }
`), 'apply');
    await eventually(async () => (await curl('http://paths.example.com/foo')).code === '200', 'paths answer');
    assert.equal(podOf((await curl('http://paths.example.com/foo/bar')).body), 'service1');
    assert.equal(podOf((await curl('http://paths.example.com/foo/exact')).body), 'service2');
    assert.equal((await curl('http://paths.example.com/foobar')).code, '404', '/foo does not match /foobar');
    await eventually(async () => (await curl('http://rewrite.example.com/something/new/path')).code === '200', 'rewrite answers');
    const r = await curl('http://rewrite.example.com/something/new/path?q=1');
    assert.equal((JSON.parse(r.body) as { request: { path: string } }).request.path, '/new/path');
  });

  it('keeps a client on one pod with cookie affinity', async () => {
    expectOk(await pg.apply(`apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: sticky
  annotations:
    nginx.ingress.kubernetes.io/affinity: cookie
    nginx.ingress.kubernetes.io/session-cookie-name: route
spec:
  ingressClassName: nginx
  rules:
    - host: sticky.example.com
      http: { paths: [{ path: /, pathType: Prefix, backend: { service: { name: sticky, port: { number: 80 } } } }] }
`), 'apply');
    await eventually(async () => (await curl('http://sticky.example.com/')).code === '200', 'sticky answers');
    const jar = `/tmp/${lan.prefix}jar`;
    try {
      const first = podOf((await curl('http://sticky.example.com/', ['-c', jar, '-b', jar])).body);
      for (let i = 0; i < 10; i++) assert.equal(podOf((await curl('http://sticky.example.com/', ['-c', jar, '-b', jar])).body), first);
      const seen = new Set<string>();
      for (let i = 0; i < 20; i++) seen.add(podOf((await curl('http://sticky.example.com/')).body));
      assert.equal(seen.size, 2, 'without the cookie both pods answer');
    } finally {
      await lan.exec('client', ['rm', '-f', jar], { allowFailure: true });
    }
  });

  it('splits traffic to a canary Ingress by header and by weight, and follows its annotations as they change', async () => {
    expectOk(await pg.apply(`apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: { name: web }
spec:
  ingressClassName: nginx
  rules:
    - host: canary.example.com
      http: { paths: [{ path: /, pathType: Prefix, backend: { service: { name: service1, port: { number: 4200 } } } }] }
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web-canary
  annotations:
    nginx.ingress.kubernetes.io/canary: "true"
    nginx.ingress.kubernetes.io/canary-by-header: X-Canary
    nginx.ingress.kubernetes.io/canary-weight: "0"
spec:
  ingressClassName: nginx
  rules:
    - host: canary.example.com
      http: { paths: [{ path: /, pathType: Prefix, backend: { service: { name: service2, port: { number: 8080 } } } }] }
`), 'apply');
    const canary = ['-H', 'X-Canary: always'];
    await eventually(async () => { const r = await curl('http://canary.example.com/', canary); return r.code === '200' && podOf(r.body) === 'service2'; }, 'X-Canary: always reaches the canary');
    for (let i = 0; i < 10; i++) assert.equal(podOf((await curl('http://canary.example.com/')).body), 'service1', 'weight 0: the rest stays on the primary');
    expectOk(await pg.kubectl(['annotate', '--overwrite', 'ingress', 'web-canary', 'nginx.ingress.kubernetes.io/canary-weight=100']), 'annotate');
    await eventually(async () => podOf((await curl('http://canary.example.com/')).body) === 'service2', 'weight 100 sends everything to the canary');
    for (let i = 0; i < 10; i++) assert.equal(podOf((await curl('http://canary.example.com/')).body), 'service2');
    assert.equal(podOf((await curl('http://canary.example.com/', ['-H', 'X-Canary: never'])).body), 'service1', 'X-Canary: never overrides the weight');
    await eventually(async () => expectOk(await pg.kubectl(['get', 'ingress', 'web-canary', '-o', 'jsonpath={.status.loadBalancer.ingress[0].ip}']), 'get') === nodeIP, 'the canary Ingress shows the ADDRESS too');
  });

  it('asks for basic auth and limits the request rate', async () => {
    const htpasswd = execFileSync('openssl', ['passwd', '-apr1', 's3cret']).toString().trim();
    writeFileSync(join(certDir, 'auth'), `alice:${htpasswd}\n`);
    expectOk(await pg.kubectl(['create', 'secret', 'generic', 'basic-auth', `--from-file=auth=${join(certDir, 'auth')}`]), 'secret');
    expectOk(await pg.apply(`apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: guarded
  annotations:
    nginx.ingress.kubernetes.io/auth-type: basic
    nginx.ingress.kubernetes.io/auth-secret: basic-auth
    nginx.ingress.kubernetes.io/auth-realm: "Authentication Required"
spec:
  ingressClassName: nginx
  rules:
    - host: guarded.example.com
      http: { paths: [{ path: /, pathType: Prefix, backend: { service: { name: service1, port: { number: 4200 } } } }] }
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: limited
  annotations:
    nginx.ingress.kubernetes.io/limit-rps: "1"
spec:
  ingressClassName: nginx
  rules:
    - host: limited.example.com
      http: { paths: [{ path: /, pathType: Prefix, backend: { service: { name: service2, port: { number: 8080 } } } }] }
`), 'apply');
    await eventually(async () => (await curl('http://guarded.example.com/')).code === '401', 'auth asked');
    assert.equal((await curl('http://guarded.example.com/', ['-u', 'alice:wrong'])).code, '401');
    assert.equal((await curl('http://guarded.example.com/', ['-u', 'alice:s3cret'])).code, '200');
    await eventually(async () => (await curl('http://limited.example.com/')).code !== '404', 'limited route present');
    const codes = await lan.exec('client', ['sh', '-c', `for i in $(seq 1 20); do curl -s -o /dev/null -w '%{http_code} ' --resolve limited.example.com:80:${nodeIP} http://limited.example.com/; done`]);
    assert.match(codes.stdout, /200/);
    assert.match(codes.stdout, /503/, `requests past the rate are refused: ${codes.stdout}`);
  });

  it('exposes redis through a tcp-services entry', async () => {
    expectOk(await pg.kubectl(['create', 'namespace', 'ingress-nginx']), 'ns');
    expectOk(await pg.kubectl(['-n', 'ingress-nginx', 'create', 'configmap', 'tcp-services', '--from-literal=6379=default/redis-demo:6379']), 'configmap');
    await eventually(async () => (await lan.exec('client', ['redis-cli', '-h', nodeIP, '-p', '6379', 'PING'], { allowFailure: true, timeoutMs: 3000 })).stdout.trim() === 'PONG', 'redis answers PING on the node');
  });
});
