// What the node agent's kubelet endpoint answers: container logs, and the streaming upgrades
// (port-forward over SPDY/WebSocket with podgate's UDP extension, exec), wired to the pods this
// node runs. The protocols themselves are in src/streams.
import type { IncomingMessage } from 'node:http';
import net from 'node:net';
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { Duplex } from 'node:stream';
import { connectUdp, servePortForward } from '../streams/port-forward.ts';
import { serveRemoteCommand } from '../streams/remote-command.ts';
import type { NodeAgent } from './agent.ts';
import type { KubeletServerOptions } from './kubelet-server.ts';
import type { ProcessRuntimePort } from './process-runtime-port.ts';
import { LogNotFoundError, type LogStore } from './runtime/log-store.ts';

/** Connects to a port of a pod: its IP from the node, or (for servers bound to loopback) from inside its netns. */
export function dialPod(podIP: string, netnsPath: string | undefined, port: number): Promise<Duplex> {
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

/** The `logs` and `upgrades` options of a KubeletServer for this node. */
export function kubeletHandlers(o: { agent: NodeAgent; logs: LogStore; runtime: ProcessRuntimePort; log: (m: string) => void }): Pick<KubeletServerOptions, 'logs' | 'upgrades'> {
  const { agent, logs, runtime: port } = o;
  return {
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
      upgrades: new Map<string, (req: IncomingMessage, socket: Duplex, head: Buffer) => void>([
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
        ...(['exec', 'attach'] as const).map((verb) => [verb, (req: IncomingMessage, socket: Duplex, head: Buffer) => {
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
              if (io.stdin && child.stdin) {
                const from = io.stdin, to = child.stdin;
                from.pipe(to);
                // A command that exits before reading all its input (`head -c 10`): the rest is
                // dropped, as the kubelet drops a failed stdin copy, and never an error that ends podgate.
                to.on('error', () => { from.unpipe(to); from.resume(); });
              } else child.stdin?.end();
              if (io.stdout) child.stdout?.pipe(io.stdout, { end: false });
              if (io.stderr) child.stderr?.pipe(io.stderr, { end: false }); else if (io.stdout) child.stderr?.pipe(io.stdout, { end: false });
              io.signal.addEventListener('abort', () => child.kill('SIGKILL'));
              return await new Promise((resolve) => {
                child.once('error', (e) => resolve({ error: e.message }));
                // Killed by a signal: 128 + its number, as runc reports it (SIGTERM 143, SIGKILL 137).
                child.once('close', (code, sig) => resolve({ exitCode: code ?? (sig ? 128 + (constants.signals[sig] ?? 9) : 1) }));
              });
            },
          });
        }] as const),
      ]),
  };
}
