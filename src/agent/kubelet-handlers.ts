// What the node agent's kubelet endpoint answers: container logs, and the streaming upgrades
// (port-forward over SPDY/WebSocket with podgate's UDP extension, exec), wired to the pods this
// node runs. The protocols themselves are in src/streams.
import type { IncomingMessage } from 'node:http';
import net from 'node:net';
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { Duplex } from 'node:stream';
import { connectUdp, discardReadable, servePortForward } from '../streams/port-forward.ts';
import { serveRemoteCommand, type RemoteCommandIO, type RemoteCommandResult, type TerminalSize } from '../streams/remote-command.ts';
import type { FoundPod, NodeAgent } from './agent.ts';
import { selectLogRun } from './container-log-run.ts';
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

/**
 * Where a port-forward connection goes: the pod's IP (loopback for hostNetwork) and netns, if the
 * pod the session was opened for (`want.uid`) still runs here. Throws otherwise, with the words of
 * containerd's portForward (the kubelet prefixes them with "error forwarding port …"), so a new
 * connection fails at once instead of dialling an address that may belong to another pod now.
 */
export function forwardTarget(found: FoundPod | undefined, want: { namespace: string; name: string; uid: string | undefined }): { ip: string; netnsPath?: string } {
  if (want.uid === undefined) throw new Error(`pod ${want.namespace}/${want.name} not found`);
  if (!found || found.pod.metadata?.uid !== want.uid || !found.running) {
    throw new Error(`failed to find sandbox "${want.uid}" in store: not found`);
  }
  const ip = found.pod.spec?.hostNetwork ? '127.0.0.1' : found.podIP;
  if (!ip) throw new Error('pod has no IP yet');
  return { ip, ...(found.netnsPath ? { netnsPath: found.netnsPath } : {}) };
}

/** Applies each terminal size the client reports, in order, until it stops reporting. */
async function followResizes(sizes: AsyncIterable<TerminalSize>, apply: (size: TerminalSize) => Promise<boolean>): Promise<void> {
  for await (const size of sizes) await apply(size);
}

/**
 * `pods/attach`: the session lasts until the container's output ends, the client detaches or goes
 * away; then the kubelet's ServeAttach writes Success, or InternalError "error attaching to
 * container: …" when the runtime refused (containerd: the container is not running).
 */
async function attachContainer(port: ProcessRuntimePort, uid: string, container: string | undefined, io: RemoteCommandIO): Promise<RemoteCommandResult> {
  if (io.resize) void followResizes(io.resize, (size) => port.resize(uid, container, size));
  try {
    await port.attach(uid, container, io);
  } catch (err) {
    return { error: (err as Error).message, during: 'attach' };
  }
  return { exitCode: 0 };
}

/** The `logs` and `upgrades` options of a KubeletServer for this node. */
export function kubeletHandlers(o: { agent: NodeAgent; logs: LogStore; runtime: ProcessRuntimePort; log: (m: string) => void }): Pick<KubeletServerOptions, 'logs' | 'upgrades'> {
  const { agent, logs, runtime: port } = o;
  return {
      logs: async (req) => {
        const found = agent.findPod(req.namespace, req.pod);
        if (!found) return { code: 404, message: `pod ${req.namespace}/${req.pod} not found on this node` };
        const selected = selectLogRun(found.containerStatus(req.container), { container: req.container, pod: req.pod, previous: req.previous });
        if ('error' in selected) return { code: 400, message: selected.error };
        try {
          const it = logs.read({
            podUid: found.pod.metadata!.uid!, container: req.container, run: selected.run, previous: req.previous, tailLines: req.tailLines,
            sinceSeconds: req.sinceSeconds, sinceTime: req.sinceTime, timestamps: req.timestamps, follow: req.follow,
            limitBytes: req.limitBytes, signal: req.signal,
          })[Symbol.asyncIterator]();
          const first = await it.next();
          return (async function* () {
            if (!first.done) yield first.value;
            for (;;) { const n = await it.next(); if (n.done) return; yield n.value; }
          })();
        } catch (err) {
          // The run's log is gone from the disk (only the current and the previous run are kept).
          if (err instanceof LogNotFoundError) {
            return { code: 400, message: req.previous
              ? `previous terminated container "${req.container}" in pod "${req.pod}" not found`
              : `container "${req.container}" in pod "${req.pod}" is not available` };
          }
          throw err;
        }
      },
      upgrades: new Map<string, (req: IncomingMessage, socket: Duplex, head: Buffer) => void>([
        ['portForward', (req, socket, head) => {
          const [, , ns, name] = new URL(req.url ?? '/', 'https://x').pathname.split('/').map(decodeURIComponent);
          const uid = agent.findPod(ns ?? '', name ?? '')?.pod.metadata?.uid;
          // Looked up again for every forwarded connection: a session outlives the pod it was opened
          // for, and the pod's IP may belong to another pod by then.
          const where = () => forwardTarget(agent.findPod(ns ?? '', name ?? ''), { namespace: ns ?? '', name: name ?? '', uid });
          void servePortForward({ req, socket, head }, {
            pod: name ?? '', uid, log: o.log,
            dial: async (p) => {
              const t = where();
              return dialPod(t.ip, t.netnsPath, p);
            },
            // podgate port-forward's UDP (`PORT/udp`): a connected UDP socket from the node to the pod.
            dialUdp: async (p, onMessage) => connectUdp(where().ip, p, onMessage, o.log),
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
              const uid = found.pod.metadata!.uid!;
              if (verb === 'attach') return attachContainer(port, uid, container, io);
              let child;
              try {
                child = port.exec(uid, container, command, { stdin: Boolean(io.stdin), tty });
              } catch (err) {
                return { error: (err as Error).message };
              }
              if (io.resize) void followResizes(io.resize, (size) => port.resizeExec(child, size));
              if (io.stdin && child.stdin) {
                const from = io.stdin, to = child.stdin;
                from.pipe(to);
                // A command that exits before reading all its input (`head -c 10`): the rest is
                // dropped, as the kubelet drops a failed stdin copy, and never an error that ends
                // podgate; nor left unread, which would hold up the whole SPDY session.
                to.on('error', () => discardReadable(from, to));
                to.once('close', () => discardReadable(from, to));
              } else if (!tty) child.stdin?.end();
              if (io.stdout) child.stdout?.pipe(io.stdout, { end: false });
              if (io.stderr) child.stderr?.pipe(io.stderr, { end: false }); else if (io.stdout) child.stderr?.pipe(io.stdout, { end: false });
              io.signal.addEventListener('abort', () => port.killExec(child));
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
