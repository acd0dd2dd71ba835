// The API server through the real kubectl 1.32: the seeds' YAML applied unchanged, the columns a
// real cluster prints, kube-apiserver's error words, watch, edit, protobuf writes, and a crash.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { expectOk, kubectlPath, type Podgate, startPodgate } from './harness.ts';

const seed = (name: string) => readFileSync(join(import.meta.dirname, 'seeds', name), 'utf8');

function inRange(ip: string): boolean {
  // 10.96.0.0/12 = 10.96.0.0 – 10.111.255.255
  const [a, b] = ip.split('.').map(Number);
  return a === 10 && b! >= 96 && b! <= 111;
}

function rows(table: string): string[][] {
  return table.trim().split('\n').map((l) => l.trim().split(/\s{2,}/));
}

describe('API server with the real kubectl', () => {
  let pg: Podgate;
  before(async () => { pg = await startPodgate(); });
  after(async () => { await pg?.stop(); });

  it('answers /version without credentials and 401 elsewhere', async () => {
    const get = (path: string) => new Promise<{ code: number; body: string }>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: pg.port, path, rejectUnauthorized: false }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => { body += d.toString(); });
        res.on('end', () => resolve({ code: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.end();
    });
    const v = await get('/version');
    assert.equal(v.code, 200);
    assert.equal(JSON.parse(v.body).minor, '32');
    assert.equal((await get('/healthz')).code, 200);
    const api = await get('/api/v1/namespaces/default/services');
    assert.equal(api.code, 401);
    assert.equal(JSON.parse(api.body).reason, 'Unauthorized');
  });

  it('applies the seeds\' NodePort Pod and Service unchanged and prints them as a real cluster does', async () => {
    const out = expectOk(await pg.apply(seed('000-03.yaml')), 'apply NodePort seed');
    assert.match(out, /pod\/influxdb created/);
    assert.match(out, /service\/influxdb created/);
    const table = rows(expectOk(await pg.kubectl(['get', 'svc', 'influxdb']), 'get svc'));
    assert.deepEqual(table[0], ['NAME', 'TYPE', 'CLUSTER-IP', 'EXTERNAL-IP', 'PORT(S)', 'AGE']);
    const [name, type, clusterIP, external, ports] = table[1]!;
    assert.equal(name, 'influxdb');
    assert.equal(type, 'NodePort');
    assert.ok(inRange(clusterIP!), `CLUSTER-IP ${clusterIP} is in 10.96.0.0/12`);
    assert.equal(external, '<none>');
    assert.equal(ports, '8086:30086/TCP');
    const again = expectOk(await pg.apply(seed('000-03.yaml')), 're-apply');
    assert.match(again, /service\/influxdb unchanged/);
    const wide = rows(expectOk(await pg.kubectl(['get', 'pods', '-o', 'wide']), 'get pods -o wide'));
    assert.deepEqual(wide[0], ['NAME', 'READY', 'STATUS', 'RESTARTS', 'AGE', 'IP', 'NODE', 'NOMINATED NODE', 'READINESS GATES']);
    assert.equal(wide[1]![0], 'influxdb');
    assert.equal(wide[1]![1], '0/1');
  });

  it('applies the LoadBalancer and the Ingress seeds', async () => {
    const lb = seed('000-04.yaml').replace('name: influxdb', 'name: influxdb-lb');
    expectOk(await pg.apply(lb), 'apply LoadBalancer seed');
    const t = rows(expectOk(await pg.kubectl(['get', 'svc', 'influxdb-lb']), 'get svc'));
    assert.equal(t[1]![1], 'LoadBalancer');
    assert.equal(t[1]![3], '<pending>');
    assert.match(t[1]![4]!, /^8086:3\d{4}\/TCP$/);
    expectOk(await pg.apply(seed('000-05.yaml')), 'apply Ingress seed');
    expectOk(await pg.apply(seed('000-06.yaml')), 'apply TLS Ingress seed');
    const ing = rows(expectOk(await pg.kubectl(['get', 'ingress']), 'get ingress'));
    assert.deepEqual(ing[0], ['NAME', 'CLASS', 'HOSTS', 'ADDRESS', 'PORTS', 'AGE']);
    assert.deepEqual(ing.slice(1).map((r) => [r[0], r[2], r[3]]), [['influxdb', 'influxdb.example.com', '80'], ['multi-service-ingress', 'api.example.com', '80, 443']]);
  });

  it('converts the seeds\' networking.k8s.io/v1beta1 Ingress and warns it is deprecated', async () => {
    const r = await pg.apply(seed('004-05.yaml'));
    expectOk(r, 'apply v1beta1 Ingress');
    assert.match(r.stderr, /networking\.k8s\.io\/v1beta1 Ingress is deprecated/);
    const backend = expectOk(await pg.kubectl(['get', 'ingress', 'my-ingress', '-o', 'jsonpath={.spec.rules[0].http.paths[0].backend.service.name}:{.spec.rules[0].http.paths[0].backend.service.port.number}:{.spec.rules[0].http.paths[0].pathType}']), 'get');
    assert.equal(backend, 'my-service:80:ImplementationSpecific');
  });

  it('refuses the two Services published malformed in the seeds, as a real cluster does', async () => {
    for (const f of ['004-01.yaml', '004-03.yaml']) {
      const r = await pg.apply(seed(f));
      assert.notEqual(r.code, 0, `${f} must be refused`);
      assert.match(r.stderr, /Service in version "v1" cannot be handled as a Service: strict decoding error: unknown field "metadata\.(ports|selector|type)"/);
    }
    const l = expectOk(await pg.kubectl(['get', 'svc', 'my-service', '--ignore-not-found']), 'get');
    assert.equal(l.trim(), '', 'nothing was stored');
    // Seed 003's ClusterIP my-nginx puts targetPort/protocol under spec and splits its one port in two.
    const nginx = await pg.apply(seed('003-01.yaml'));
    assert.notEqual(nginx.code, 0);
    assert.match(nginx.stderr, /strict decoding error: unknown field "spec\.protocol", unknown field "spec\.targetPort"/);
  });

  it('refuses nodePort 80 and a duplicate nodePort with kube-apiserver\'s messages', async () => {
    const np80 = await pg.kubectl(['create', 'service', 'nodeport', 'np80', '--tcp=80:80', '--node-port=80']);
    assert.equal(np80.code, 1);
    assert.match(np80.stderr, /Service "np80" is invalid: spec\.ports\[0\]\.nodePort: Invalid value: 80: provided port is not in the valid range\. The range of valid ports is 30000-32767/);
    const dup = await pg.apply(seed('000-03.yaml').replace(/name: influxdb\n/g, 'name: dup\n').replace('app: influxdb\n---', 'app: dup\n---'));
    assert.equal(dup.code, 1);
    assert.match(dup.stderr, /The Service "dup" is invalid: spec\.ports\[0\]\.nodePort: Invalid value: 30086: provided port is already allocated/);
  });

  it('creates with typed commands (protobuf bodies), labels, annotates, edits and deletes', async () => {
    expectOk(await pg.kubectl(['create', 'service', 'clusterip', 'web', '--tcp=80:8080']), 'create service');
    expectOk(await pg.kubectl(['create', 'configmap', 'cfg', '--from-literal=a=b']), 'create configmap');
    expectOk(await pg.kubectl(['create', 'secret', 'generic', 'sec', '--from-literal=p=q']), 'create secret');
    expectOk(await pg.kubectl(['label', 'svc', 'web', 'tier=fe']), 'label');
    expectOk(await pg.kubectl(['annotate', 'svc', 'web', 'owner=team-a']), 'annotate');
    const edited = await pg.kubectl(['edit', 'svc', 'web'], { env: { KUBE_EDITOR: 'sed -i s/targetPort:\\ 8080/targetPort:\\ 9090/' } });
    expectOk(edited, 'edit');
    const j = JSON.parse(expectOk(await pg.kubectl(['get', 'svc', 'web', '-o', 'json']), 'get -o json')) as {
      metadata: { labels: Record<string, string>; annotations: Record<string, string> }; spec: { ports: { targetPort: number }[] };
    };
    assert.equal(j.metadata.labels.tier, 'fe');
    assert.equal(j.metadata.annotations.owner, 'team-a');
    assert.equal(j.spec.ports[0]!.targetPort, 9090);
    const y = expectOk(await pg.kubectl(['get', 'svc', 'web', '-o', 'yaml']), 'get -o yaml');
    assert.match(y, /kind: Service/);
    const d = expectOk(await pg.kubectl(['describe', 'svc', 'web']), 'describe');
    assert.match(d, /Type:\s+ClusterIP/);
    assert.match(d, /TargetPort:\s+9090\/TCP/);
    assert.match(d, /Session Affinity:\s+None/);
    expectOk(await pg.kubectl(['delete', 'svc/web', 'cm/cfg', 'secret/sec']), 'delete');
    const gone = await pg.kubectl(['get', 'svc', 'web']);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /Error from server \(NotFound\): services "web" not found/);
  });

  it('streams changes to kubectl get -w', async () => {
    const child = spawn(kubectlPath, ['get', 'cm', '-w', '--request-timeout=20s'], {
      env: { PATH: process.env.PATH ?? '', HOME: pg.home, KUBECONFIG: pg.kubeconfig }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    try {
      // kubectl lists first (nothing to print yet), then watches; give it a moment to start watching.
      await new Promise((r) => setTimeout(r, 1000));
      expectOk(await pg.kubectl(['create', 'configmap', 'watched', '--from-literal=x=1']), 'create cm');
      await waitFor(() => /watched\s+1\s/.test(out), 10_000);
      expectOk(await pg.kubectl(['delete', 'configmap', 'watched']), 'delete cm');
      await waitFor(() => (out.match(/watched/g) ?? []).length >= 2, 10_000);
    } finally {
      child.kill();
    }
  });

  it('deletes a namespace with everything in it', async () => {
    expectOk(await pg.kubectl(['create', 'namespace', 'team']), 'create ns');
    expectOk(await pg.kubectl(['-n', 'team', 'create', 'configmap', 'c', '--from-literal=a=b']), 'create cm');
    expectOk(await pg.kubectl(['-n', 'team', 'create', 'service', 'nodeport', 'np', '--tcp=80:80']), 'create svc');
    expectOk(await pg.kubectl(['delete', 'namespace', 'team', '--timeout=20s']), 'delete ns');
    const r = await pg.kubectl(['get', 'namespace', 'team']);
    assert.match(r.stderr, /namespaces "team" not found/);
  });
});

async function waitFor(cond: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 50));
  }
}
