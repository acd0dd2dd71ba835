// Test support (not shipped): a minimal plain-HTTP API server that the real kubectl 1.32 accepts
// for port-forward and exec, and helpers to run kubectl against it. Traffic stays on 127.0.0.1.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import type { StreamUpgrade } from './upgrade.ts';

export const kubectlPath = '/usr/bin/kubectl';

/** Fails (never skips) when kubectl is missing. */
export function requireKubectl(): void {
  if (!existsSync(kubectlPath)) {
    throw new Error(`${kubectlPath} is missing: install kubectl v1.32 (e.g. apt-get install kubectl, or the google-cloud-sdk kubectl dispatcher) to run these tests`);
  }
}

function pod(port: number): object {
  return {
    kind: 'Pod', apiVersion: 'v1',
    metadata: { name: 'web', namespace: 'default', uid: '6b1f0c1e-0000-4000-8000-000000000001', resourceVersion: '1', creationTimestamp: '2026-01-01T00:00:00Z' },
    spec: { containers: [{ name: 'c', image: 'busybox', ports: [{ containerPort: port, protocol: 'TCP' }] }] },
    status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }], containerStatuses: [{ name: 'c', ready: true, restartCount: 0, image: 'busybox', imageID: '', state: { running: { startedAt: '2026-01-01T00:00:00Z' } } }] },
  };
}

const apiResources = {
  kind: 'APIResourceList', apiVersion: 'v1', groupVersion: 'v1',
  resources: [
    { name: 'pods', singularName: 'pod', namespaced: true, kind: 'Pod', verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'], shortNames: ['po'] },
    { name: 'pods/attach', singularName: '', namespaced: true, kind: 'PodAttachOptions', verbs: ['create', 'get'] },
    { name: 'pods/exec', singularName: '', namespaced: true, kind: 'PodExecOptions', verbs: ['create', 'get'] },
    { name: 'pods/log', singularName: '', namespaced: true, kind: 'Pod', verbs: ['get'] },
    { name: 'pods/portforward', singularName: '', namespaced: true, kind: 'PodPortForwardOptions', verbs: ['create', 'get'] },
  ],
};

export interface FakeApiServer {
  url: string;
  server: Server;
  upgrades: { method: string; path: string; upgrade: string }[];
  close(): Promise<void>;
}

/** Starts the fake API server; `onUpgrade` gets every upgrade request with its parsed URL. */
export async function startFakeApiServer(
  onUpgrade: (up: StreamUpgrade, url: URL) => void,
  containerPort = 8080,
): Promise<FakeApiServer> {
  const sockets = new Set<Duplex>();
  const upgrades: FakeApiServer['upgrades'] = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const json = (code: number, body: object): void => {
      res.writeHead(code, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    switch (url.pathname) {
      case '/version':
        return json(200, { major: '1', minor: '32', gitVersion: 'v1.32.4', platform: 'linux/amd64', goVersion: 'go1.23', compiler: 'gc', buildDate: '2025-01-01T00:00:00Z', gitCommit: '', gitTreeState: 'clean' });
      case '/api':
        return json(200, { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: '127.0.0.1' }] });
      case '/apis':
        return json(200, { kind: 'APIGroupList', apiVersion: 'v1', groups: [] });
      case '/api/v1':
        return json(200, apiResources);
      case '/api/v1/namespaces/default/pods/web':
        return json(200, pod(containerPort));
      default:
        return json(404, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: `the server could not find the requested resource`, reason: 'NotFound', code: 404 });
    }
  });
  server.on('connection', (s: Duplex) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    upgrades.push({ method: req.method ?? '', path: url.pathname, upgrade: req.headers.upgrade ?? '' });
    onUpgrade({ req, socket, head }, url);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  return {
    url: `http://127.0.0.1:${address.port}`,
    server,
    upgrades,
    close: () => new Promise((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}

/** A temp HOME with a kubeconfig pointing at the fake server. */
export function makeKubeHome(serverUrl: string): { env: NodeJS.ProcessEnv; cleanup(): void } {
  const home = mkdtempSync(join(tmpdir(), 'podgate-streams-'));
  const kubeconfig = join(home, 'kubeconfig');
  writeFileSync(kubeconfig, [
    'apiVersion: v1', 'kind: Config',
    'clusters:', '- name: t', '  cluster:', `    server: ${serverUrl}`,
    'contexts:', '- name: t', '  context:', '    cluster: t', '    user: u', '    namespace: default',
    'current-context: t',
    'users:', '- name: u', '  user: {}', '',
  ].join('\n'));
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, KUBECONFIG: kubeconfig,
    NO_PROXY: '*', LANG: 'C.UTF-8',
  };
  return { env, cleanup: () => rmSync(home, { recursive: true, force: true }) };
}

/** Spawns a command in its own process group so the whole group can be ended by its id. */
export function spawnGroup(cmd: string, args: string[], env: NodeJS.ProcessEnv): ChildProcess {
  return spawn(cmd, args, { env, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
}

export function killGroup(child: ChildProcess): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, 'SIGTERM');
  } catch {
    // already gone
  }
}

/** Runs to completion and collects output. */
export function runToEnd(
  cmd: string, args: string[], env: NodeJS.ProcessEnv, stdin?: string, timeoutMs = 30_000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawnGroup(cmd, args, env);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
    const timer = setTimeout(() => killGroup(child), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    if (stdin !== undefined) child.stdin!.end(stdin);
    else child.stdin!.end();
  });
}

/** Starts `kubectl port-forward pod/web :REMOTE…` and resolves with the local ports it chose. */
export async function startPortForward(
  env: NodeJS.ProcessEnv, remotePorts: number[], extraEnv: NodeJS.ProcessEnv = {},
): Promise<{ child: ChildProcess; localPorts: number[]; output: () => string }> {
  const child = spawnGroup(kubectlPath, ['port-forward', '--address', '127.0.0.1', 'pod/web', ...remotePorts.map((p) => `:${p}`), '-v=4'], { ...env, ...extraEnv });
  let out = '';
  const localPorts = await new Promise<number[]>((resolve, reject) => {
    const ports: number[] = [];
    const timer = setTimeout(() => reject(new Error(`port-forward did not start: ${out}`)), 20_000);
    const onData = (d: Buffer): void => {
      out += d.toString();
      for (const m of out.matchAll(/Forwarding from 127\.0\.0\.1:(\d+) -> (\d+)/g)) {
        const local = Number(m[1]);
        if (!ports.includes(local)) ports.push(local);
      }
      if (ports.length === remotePorts.length) {
        clearTimeout(timer);
        resolve(ports);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
    child.on('exit', () => reject(new Error(`port-forward exited: ${out}`)));
  });
  return { child, localPorts, output: () => out };
}
