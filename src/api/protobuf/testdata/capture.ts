// Re-creates the protobuf fixtures in this folder from the real kubectl.
//
//   node_modules/.bin/node src/api/protobuf/testdata/capture.ts [/usr/bin/kubectl]
//
// It starts a throwaway plain-HTTP server on 127.0.0.1 that claims to be Kubernetes v1.32 (so the
// kubectl dispatcher picks kubectl 1.32), answers discovery minimally, saves every POST body to
// <kind>-<name>.pb and answers 201 with a JSON echo. For each command it also saves what the same
// command prints with `-o json --dry-run=client` to <kind>-<name>.json: the JSON encoding of the
// very object whose protobuf encoding the .pb file holds. Nothing is sent anywhere but 127.0.0.1;
// KUBECONFIG, HOME and the cache dir are temporary.

import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { servedNode, servedPod } from './served-objects.ts';

const here = dirname(fileURLToPath(import.meta.url));
const kubectl = process.argv[2] ?? '/usr/bin/kubectl';

const groups: Record<string, Array<[resource: string, kind: string, namespaced: boolean]>> = {
  v1: [
    ['namespaces', 'Namespace', false],
    ['services', 'Service', true],
    ['configmaps', 'ConfigMap', true],
    ['secrets', 'Secret', true],
    ['serviceaccounts', 'ServiceAccount', true],
    ['pods', 'Pod', true],
    ['endpoints', 'Endpoints', true],
    ['nodes', 'Node', false],
    ['events', 'Event', true],
  ],
  'apps/v1': [
    ['deployments', 'Deployment', true],
    ['replicasets', 'ReplicaSet', true],
    ['daemonsets', 'DaemonSet', true],
  ],
  'batch/v1': [
    ['jobs', 'Job', true],
    ['cronjobs', 'CronJob', true],
  ],
  'networking.k8s.io/v1': [
    ['ingresses', 'Ingress', true],
    ['ingressclasses', 'IngressClass', false],
  ],
  'discovery.k8s.io/v1': [['endpointslices', 'EndpointSlice', true]],
};

function resourceList(gv: string): unknown {
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: gv,
    resources: (groups[gv] ?? []).map(([name, kind, namespaced]) => ({
      name,
      singularName: kind.toLowerCase(),
      namespaced,
      kind,
      verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'],
    })),
  };
}

function groupList(): unknown {
  return {
    kind: 'APIGroupList',
    apiVersion: 'v1',
    groups: Object.keys(groups)
      .filter((gv) => gv.includes('/'))
      .map((gv) => {
        const [name, version] = gv.split('/') as [string, string];
        const v = { groupVersion: gv, version };
        return { name, versions: [v], preferredVersion: v };
      }),
  };
}

const kindByResource = new Map(Object.values(groups).flat().map(([r, k]) => [r, k]));
const saved: string[] = [];
let currentName = 'x';

function reply(res: ServerResponse, code: number, body: unknown): void {
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

function handle(req: IncomingMessage, res: ServerResponse, body: Buffer): void {
  const url = new URL(req.url ?? '/', 'http://127.0.0.1');
  const path = url.pathname;
  if (req.method === 'GET' && path === '/version') {
    return reply(res, 200, {
      major: '1', minor: '32', gitVersion: 'v1.32.4', gitCommit: '', gitTreeState: 'clean',
      buildDate: '2025-04-22T00:00:00Z', goVersion: 'go1.23.8', compiler: 'gc', platform: 'linux/amd64',
    });
  }
  if (req.method === 'GET' && path === '/api/v1/namespaces/default/pods/web') return reply(res, 200, servedPod);
  if (req.method === 'GET' && path === '/api/v1/nodes/worker') return reply(res, 200, servedNode);
  if (req.method === 'GET' && path === '/api') {
    return reply(res, 200, { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [] });
  }
  if (req.method === 'GET' && path === '/apis') return reply(res, 200, groupList());
  if (req.method === 'GET' && path === '/api/v1') return reply(res, 200, resourceList('v1'));
  const gvMatch = /^\/apis\/([^/]+\/[^/]+)$/.exec(path);
  if (req.method === 'GET' && gvMatch?.[1] && groups[gvMatch[1]]) return reply(res, 200, resourceList(gvMatch[1]));
  if (req.method === 'POST') {
    const resource = path.split('/').at(-1) ?? '';
    const kind = kindByResource.get(resource) ?? resource;
    const name = `${kind.toLowerCase()}-${currentName}`;
    writeFileSync(join(here, `${name}.pb`), body);
    saved.push(`${name}.pb (${req.headers['content-type']}, ${body.length} bytes)`);
    const apiVersion = path.startsWith('/api/') ? 'v1' : path.split('/').slice(2, 4).join('/');
    // `kubectl debug` prints the created pod's first container.
    const spec = kind === 'Pod' ? { containers: [{ name: 'debugger', image: 'busybox' }] } : undefined;
    return reply(res, 201, { kind, apiVersion, metadata: { name: currentName, namespace: 'default' }, spec });
  }
  process.stderr.write(`unanswered: ${req.method} ${req.url}\n`);
  reply(res, 404, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404, message: 'not found' });
}

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => handle(req, res, Buffer.concat(chunks)));
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const port = (server.address() as AddressInfo).port;

const tmp = mkdtempSync(join(tmpdir(), 'podgate-capture-'));
const kubeconfig = join(tmp, 'kubeconfig');
writeFileSync(
  kubeconfig,
  `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "http://127.0.0.1:${port}"}}]
users: [{name: u, user: {}}]
contexts: [{name: c, context: {cluster: c, user: u, namespace: default}}]
current-context: c
`,
);
execFileSync('openssl', [
  'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '3650', '-subj', '/CN=foo.com',
  '-keyout', join(tmp, 'tls.key'), '-out', join(tmp, 'tls.crt'),
], { stdio: 'ignore' });

// [fixture name, kubectl create arguments]
const commands: Array<[string, string[]]> = [
  ['nodeport', ['service', 'nodeport', 'nodeport', '--tcp=80:8080', '--node-port=30080']],
  ['clusterip', ['service', 'clusterip', 'clusterip', '--tcp=80:8080', '--tcp=443:https']],
  ['headless', ['service', 'clusterip', 'headless', '--clusterip=None']],
  ['lb', ['service', 'loadbalancer', 'lb', '--tcp=5678:8080']],
  ['extname', ['service', 'externalname', 'extname', '--external-name=bar.com']],
  ['hello', ['deployment', 'hello', '--image=nginx', '--replicas=2', '--port=80']],
  ['zero', ['deployment', 'zero', '--image=nginx', '--image=busybox', '--replicas=0']],
  ['c', ['configmap', 'c', '--from-literal=a=b', '--from-literal=empty=']],
  ['s', ['secret', 'generic', 's', '--from-literal=p=q', '--type=Opaque']],
  ['tls', ['secret', 'tls', 'tls', `--cert=${join(tmp, 'tls.crt')}`, `--key=${join(tmp, 'tls.key')}`]],
  ['n', ['namespace', 'n']],
  ['sa', ['serviceaccount', 'sa']],
  ['ing', ['ingress', 'ing', '--rule=foo.com/bar=svc1:8080,tls=my-cert', '--class=nginx']],
  ['multi', ['ingress', 'multi', '--rule=foo.com/*=svc:http', '--rule=/path=svc2:9090', '--default-backend=def:80', '--annotation=a=b']],
  ['job', ['job', 'job', '--image=busybox', '--', 'date']],
  ['cron', ['cronjob', 'cron', '--image=busybox', '--schedule=*/1 * * * *', '--restart=OnFailure', '--', 'date']],
];

// [fixture name, kubectl debug arguments]: these have no --dry-run, so only the .pb is saved.
const debugCommands: Array<[string, string[]]> = [
  ['debug-copy', ['web', '--copy-to=web-copy', '--same-node', '--keep-labels', '--keep-annotations', '--keep-liveness',
    '--keep-readiness', '--keep-startup', '--image=busybox', '--container=dbg', '--', 'sleep', '1d']],
  ['debug-node', ['node/worker', '--image=busybox', '--profile=general']],
];

const env = { ...process.env, KUBECONFIG: kubeconfig, HOME: tmp };
try {
  for (const [name, args] of commands) {
    const common = ['create', ...args.slice(0, args.indexOf('--') < 0 ? args.length : args.indexOf('--'))];
    const rest = args.indexOf('--') < 0 ? [] : args.slice(args.indexOf('--'));
    const flags = [`--cache-dir=${join(tmp, 'cache')}`];
    currentName = name;
    const json = await runKubectl([...common, ...flags, '-o', 'json', '--dry-run=client', ...rest], env);
    const kind = (JSON.parse(json) as { kind: string }).kind;
    writeFileSync(join(here, `${kind.toLowerCase()}-${name}.json`), json);
    await runKubectl([...common, ...flags, ...rest], env);
  }
  for (const [name, args] of debugCommands) {
    currentName = name;
    await runKubectl(['debug', `--cache-dir=${join(tmp, 'cache')}`, ...args], env);
  }
} finally {
  server.close();
  rmSync(tmp, { recursive: true, force: true });
}
process.stdout.write(`saved:\n  ${saved.join('\n  ')}\n`);

// The server runs in this process, so kubectl must run asynchronously.
function runKubectl(args: string[], childEnv: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(kubectl, args, { env: childEnv }, (err, stdout, stderr) => {
      if (err) reject(new Error(`kubectl ${args.join(' ')}: ${stderr || err.message}`));
      else resolve(stdout);
    });
  });
}
