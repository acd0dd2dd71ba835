// The node half of `podgate up`: pod network, process runtime, node agent and its kubelet
// endpoint (logs, exec, port-forward), wired from the pieces in src/agent and src/streams.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import net from 'node:net';
import { spawn } from 'node:child_process';
import { Duplex } from 'node:stream';
import { NodeAgent } from '../agent/agent.ts';
import { KubeletServer } from '../agent/kubelet-server.ts';
import { BRIDGE_NAME, PodNetwork } from '../agent/network/index.ts';
import { ProcessRuntimePort } from '../agent/process-runtime-port.ts';
import { compileBuiltinImages } from '../agent/images/compile-images.ts';
import { BUILTIN_IMAGES_DIR, loadImageTable } from '../agent/runtime/image-table.ts';
import { LogNotFoundError, LogStore } from '../agent/runtime/log-store.ts';
import { ProcessRuntime } from '../agent/runtime/process-runtime.ts';
import { EventRecorder } from '../client/event-recorder.ts';
import { IngressController } from '../ingress/index.ts';
import { L2Announcer } from '../lb/l2-announcer.ts';
import { ServiceProxy } from '../proxy/index.ts';
import type { KubeClient } from '../client/rest-client.ts';
import { issueCertificate, loadCertificateAuthority } from '../pki/index.ts';
import { connectUdp, servePortForward } from '../streams/port-forward.ts';
import { serveRemoteCommand } from '../streams/remote-command.ts';

export interface NodeOptions {
  client: KubeClient;
  dataDir: string;
  nodeName: string;
  nodeIP: string;
  clusterCIDR: string;
  imageConfig?: string;
  pki: { ca: string; caKey: string };
  kubeletPort?: number;
  ingress: { httpPort: number; httpsPort: number; classes: string[]; tcpServicesConfigMap?: string; udpServicesConfigMap?: string };
  /** The Service cluster IP range (for the node's route to it). */
  serviceCIDR: string;
  log: (m: string) => void;
}

export interface RunningNode {
  readonly podCIDR: string;
  stop(): Promise<void>;
}

/** Connects to a port of a pod: its IP from the node, or (for servers bound to loopback) from inside its netns. */
function dialPod(podIP: string, netnsPath: string | undefined, port: number): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: podIP, port, allowHalfOpen: true, noDelay: true });
    s.once('connect', () => resolve(s));
    s.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'ECONNREFUSED' || !netnsPath) { reject(err); return; }
      // kubelet connects to localhost inside the pod's netns; a helper process there does the same.
      const relay = `const s=require('net').connect(${port},'127.0.0.1');s.on('error',e=>{process.stderr.write(e.message);process.exit(1)});` +
        `s.on('connect',()=>process.stderr.write('ok\\n'));process.stdin.pipe(s);s.pipe(process.stdout);`;
      const child = spawn('nsenter', [`--net=${netnsPath}`, '--', process.execPath, '-e', relay], { stdio: ['pipe', 'pipe', 'pipe'] });
      let err2 = '';
      child.stderr.on('data', (d: Buffer) => {
        const t = d.toString();
        if (t.startsWith('ok')) {
          resolve(Duplex.from({ readable: child.stdout, writable: child.stdin }));
        } else err2 += t;
      });
      child.once('exit', () => { if (err2) reject(new Error(`dial tcp 127.0.0.1:${port}: ${err2.trim()}`)); });
    });
  });
}

/** The programs the node parts run, with the Debian package that has each. */
const requiredPrograms: [string, string][] = [['ip', 'iproute2'], ['nft', 'nftables'], ['nsenter', 'util-linux'], ['setpriv', 'util-linux']];

/** Fails at start, with what to install, rather than at the first pod. */
export function checkNodePrograms(): void {
  const dirs = (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':').concat(['/usr/sbin', '/sbin']);
  const missing = requiredPrograms.filter(([p]) => !dirs.some((d) => existsSync(join(d, p))));
  if (missing.length) {
    throw new Error(`the node agent needs ${missing.map(([p]) => p).join(', ')}: apt-get install ${[...new Set(missing.map(([, pkg]) => pkg))].join(' ')}`);
  }
}

/** Adds a route for the Service range via the pod bridge when the node has none; undone on stop. */
async function ensureServiceRoute(serviceCIDR: string, log: (m: string) => void): Promise<{ remove(): Promise<void> }> {
  const run = (argv: string[]) => new Promise<{ code: number; out: string }>((resolve) => {
    const c = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    c.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    c.on('close', (code) => resolve({ code: code ?? 1, out }));
  });
  const first = serviceCIDR.split('/')[0]!;
  const route = await run(['ip', 'route', 'get', first]);
  if (route.code === 0) return { remove: async () => {} };
  const add = await run(['ip', 'route', 'add', serviceCIDR, 'dev', BRIDGE_NAME]);
  if (add.code !== 0) { log(`node: could not add a route for ${serviceCIDR} via ${BRIDGE_NAME}`); return { remove: async () => {} }; }
  log(`node: routing ${serviceCIDR} via ${BRIDGE_NAME} (no other route to the Service range)`);
  return { remove: async () => { await run(['ip', 'route', 'del', serviceCIDR, 'dev', BRIDGE_NAME]); } };
}

export async function startNode(o: NodeOptions): Promise<RunningNode> {
  checkNodePrograms();
  const events = new EventRecorder({ client: o.client, source: { component: 'kubelet', host: o.nodeName }, log: o.log });
  const runtime = new ProcessRuntime({ stateDir: join(o.dataDir, 'node', 'pids') });
  const logs = new LogStore({ dir: join(o.dataDir, 'node', 'logs'), isRunning: (uid, c) => runtime.isRunning(uid, c) });
  const images = await loadImageTable({
    configFile: o.imageConfig ?? join(o.dataDir, 'images.yaml'),
    imagesDir: compileBuiltinImages(BUILTIN_IMAGES_DIR, join(o.dataDir, 'node', 'images')), scriptExtension: '.cjs',
  });
  let agent!: NodeAgent;
  const port = new ProcessRuntimePort({ runtime, logs, images, container: (uid, name) => agent.container(uid, name) });
  let podCIDR = '';
  agent = new NodeAgent({
    client: o.client, events, nodeName: o.nodeName, nodeIP: o.nodeIP, runtime: port, log: o.log,
    network: (cidr) => {
      podCIDR = cidr;
      return new PodNetwork({ nodeName: o.nodeName, nodeIP: o.nodeIP, podCIDR: cidr, clusterCIDR: o.clusterCIDR, stateDir: join(o.dataDir, 'node'), log: o.log });
    },
  });
  const ca = await loadCertificateAuthority(o.pki.ca, o.pki.caKey);
  const serving = await issueCertificate(ca, {
    commonName: o.nodeName, usage: 'server', now: new Date(),
    hosts: { ips: [...new Set([o.nodeIP, '127.0.0.1'])], dnsNames: [o.nodeName, 'localhost'] },
  });
  const kubelet = new KubeletServer({
    bindAddress: o.nodeIP === '127.0.0.1' ? '127.0.0.1' : '0.0.0.0',
    port: o.kubeletPort ?? 10250,
    tls: { cert: serving.certPem, key: serving.keyPem, ca: o.pki.ca },
    log: o.log,
    logs: async (req) => {
      const found = agent.findPod(req.namespace, req.pod);
      if (!found) return { code: 404, message: `pod ${req.namespace}/${req.pod} not found on this node` };
      try {
        const it = logs.read({
          podUid: found.pod.metadata!.uid!, container: req.container, previous: req.previous, tailLines: req.tailLines,
          sinceSeconds: req.sinceSeconds, sinceTime: req.sinceTime, timestamps: req.timestamps, follow: req.follow,
          limitBytes: req.limitBytes, signal: req.signal,
        })[Symbol.asyncIterator]();
        const first = await it.next();
        return (async function* () {
          if (!first.done) yield first.value;
          for (;;) { const n = await it.next(); if (n.done) return; yield n.value; }
        })();
      } catch (err) {
        if (err instanceof LogNotFoundError) {
          return { code: 400, message: req.previous
            ? `previous terminated container "${req.container}" in pod "${req.pod}" not found`
            : `container "${req.container}" in pod "${req.pod}" is waiting to start: ContainerCreating` };
        }
        throw err;
      }
    },
    upgrades: new Map([
      ['portForward', (req, socket, head) => {
        const [, , ns, name] = new URL(req.url ?? '/', 'https://x').pathname.split('/').map(decodeURIComponent);
        const found = agent.findPod(ns ?? '', name ?? '');
        void servePortForward({ req, socket, head }, {
          pod: name ?? '', uid: found?.pod.metadata?.uid, log: o.log,
          dial: (p) => {
            if (!found) return Promise.reject(new Error(`pod ${ns}/${name} not found`));
            const ip = found.pod.spec?.hostNetwork ? '127.0.0.1' : found.podIP;
            if (!ip) return Promise.reject(new Error('pod has no IP yet'));
            return dialPod(ip, found.netnsPath, p);
          },
          // podgate port-forward's UDP (`PORT/udp`): a connected UDP socket from the node to the pod.
          dialUdp: (p, onMessage) => {
            if (!found) return Promise.reject(new Error(`pod ${ns}/${name} not found`));
            const ip = found.pod.spec?.hostNetwork ? '127.0.0.1' : found.podIP;
            if (!ip) return Promise.reject(new Error('pod has no IP yet'));
            return connectUdp(ip, p, onMessage, o.log);
          },
        });
      }],
      ...(['exec', 'attach'] as const).map((verb) => [verb, (req: import('node:http').IncomingMessage, socket: Duplex, head: Buffer) => {
        const url = new URL(req.url ?? '/', 'https://x');
        const [, , ns, name, container] = url.pathname.split('/').map(decodeURIComponent);
        const q = url.searchParams;
        const flag = (k: string) => q.get(k) === 'true' || q.get(k) === '1';
        const found = agent.findPod(ns ?? '', name ?? '');
        const command = q.getAll('command');
        const tty = flag('tty');
        void serveRemoteCommand({ req, socket, head }, {
          stdin: flag('stdin'), stdout: flag('stdout'), stderr: flag('stderr') && !tty, tty, command, log: o.log,
          run: async (io) => {
            if (!found) return { error: `pod ${ns}/${name} not found` };
            if (verb === 'attach') return { error: 'attach is not supported by podgate\'s process runtime; use exec' };
            // Without a pty library, `script` gives an interactive command its terminal.
            const argv = tty ? ['script', '-qfec', command.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' '), '/dev/null'] : command;
            let child;
            try {
              child = port.exec(found.pod.metadata!.uid!, container, argv, { stdin: Boolean(io.stdin) });
            } catch (err) {
              return { error: (err as Error).message };
            }
            if (io.stdin && child.stdin) io.stdin.pipe(child.stdin); else child.stdin?.end();
            if (io.stdout) child.stdout?.pipe(io.stdout, { end: false });
            if (io.stderr) child.stderr?.pipe(io.stderr, { end: false }); else if (io.stdout) child.stderr?.pipe(io.stdout, { end: false });
            io.signal.addEventListener('abort', () => child.kill('SIGKILL'));
            return await new Promise((resolve) => {
              child.once('error', (e) => resolve({ error: e.message }));
              child.once('close', (code, sig) => resolve({ exitCode: code ?? (sig ? 128 + 9 : 1) }));
            });
          },
        });
      }] as const),
    ]),
  });
  await kubelet.listen();
  await agent.start();
  // kube-proxy's part: ClusterIP, NodePort, LoadBalancer and external IPs in the kernel.
  const proxy = new ServiceProxy({ client: o.client, nodeName: o.nodeName, nodeAddresses: [o.nodeIP], clusterCIDR: o.clusterCIDR, log: o.log });
  await proxy.start();
  // The node reaches cluster IPs through the bridge when nothing else routes them (a real
  // machine's default route does; a test host may have none). The output hook DNATs them to pods.
  const serviceRoute = await ensureServiceRoute(o.serviceCIDR, o.log);
  const ingress = new IngressController({
    client: o.client, addresses: [o.nodeIP], bindAddress: '0.0.0.0',
    httpPort: o.ingress.httpPort || null, httpsPort: o.ingress.httpsPort || null, classes: o.ingress.classes,
    // The seeds' Ingresses name no class; podgate is the only controller, so it serves them.
    watchWithoutClass: true,
    tcpServicesConfigMap: o.ingress.tcpServicesConfigMap, udpServicesConfigMap: o.ingress.udpServicesConfigMap,
    events: new EventRecorder({ client: o.client, source: { component: 'podgate-ingress' }, log: o.log }), log: o.log,
  });
  await ingress.start();
  const announcer = new L2Announcer({ client: o.client, nodeName: o.nodeName, stateDir: join(o.dataDir, 'node'), log: o.log });
  await announcer.start();
  return {
    get podCIDR() { return podCIDR; },
    async stop() {
      await announcer.stop();
      await ingress.stop();
      await proxy.stop();
      await serviceRoute.remove();
      await kubelet.close();
      await agent.stop();
    },
  };
}
