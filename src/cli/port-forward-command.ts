// `podgate port-forward`: kubectl port-forward's syntax and output, plus what kubectl lacks: UDP
// (`9000/udp`, over podgate's extension of the port-forward protocol) and surviving the pod being
// replaced (the local ports stay open; the forward re-resolves its target and reconnects).
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Pod, Container } from 'kubernetes-types/core/v1.d.ts';
import type { Service, ServicePort } from 'kubernetes-types/core/v1.d.ts';
import { parse as parseYaml } from 'yaml';
import { StatusError } from '../api/errors.ts';
import type { KObject } from '../api/object.ts';
import { lookupResource, type ResourceInfo } from '../api/resources.ts';
import { configFromKubeconfig, KubeClient, type ClientConfig, type WatchEvent } from '../client/rest-client.ts';
import { dialPortForward, LocalForwarder, UpgradeRefusedError, type PortForwardClient } from '../streams/port-forward-client.ts';
import { parseDuration as parseGoDuration } from '../util/duration.ts';

/** One `[LOCAL:]REMOTE[/udp]` argument. REMOTE is a number or a port name, resolved per pod. */
export interface PortSpec {
  /** undefined: same as the resolved remote port (kubectl's `8080`); 0: any free port (`:8080`). */
  local: number | undefined;
  remote: number | string;
  protocol: 'tcp' | 'udp';
  text: string;
}

export type Target = { kind: 'pod' | 'service'; name: string };

/** Parses kubectl's `[LOCAL:]REMOTE` with podgate's optional `/udp` (or `/tcp`). */
export function parsePortSpec(text: string): PortSpec {
  const m = /^(?:(\d*):)?(\d+|[a-z0-9]([-a-z0-9]*[a-z0-9])?)(?:\/(tcp|udp))?$/i.exec(text);
  if (!m) throw new Error(`invalid port specification ${JSON.stringify(text)}: expected [LOCAL:]REMOTE[/udp]`);
  const [, localText, remoteText = '', , proto] = m;
  const num = (s: string, what: string, allowZero: boolean) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < (allowZero ? 0 : 1) || n > 65535) throw new Error(`invalid ${what} port in ${JSON.stringify(text)}`);
    return n;
  };
  const local = localText === undefined ? undefined : localText === '' ? 0 : num(localText, 'local', true);
  const remote = /^\d+$/.test(remoteText) ? num(remoteText, 'remote', false) : remoteText;
  return { local, remote, protocol: proto?.toLowerCase() === 'udp' ? 'udp' : 'tcp', text };
}

/** `pod/NAME`, `pods/NAME`, `po/NAME`, `svc/NAME`, `service/NAME`, `services/NAME`, or a bare pod NAME. */
export function parseTarget(text: string): Target {
  const slash = text.indexOf('/');
  if (slash < 0) return { kind: 'pod', name: text };
  const type = text.slice(0, slash).toLowerCase();
  const name = text.slice(slash + 1);
  if (name === '' || name.includes('/')) throw new Error(`invalid resource name ${JSON.stringify(text)}`);
  if (['pod', 'pods', 'po'].includes(type)) return { kind: 'pod', name };
  if (['svc', 'service', 'services'].includes(type)) return { kind: 'service', name };
  throw new Error(`podgate port-forward forwards to pods and services, not ${JSON.stringify(type)}`);
}

export function isPodReady(pod: Pod): boolean {
  return (pod.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
}

function isRunning(pod: Pod): boolean {
  return pod.status?.phase === 'Running' && !pod.metadata?.deletionTimestamp;
}

/** A container port of the pod by name (kubectl util.LookupContainerPortNumberByName). */
function containerPortByName(pod: Pod, name: string, protocol: 'tcp' | 'udp'): number | undefined {
  const containers: Container[] = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])];
  const all = containers.flatMap((c) => c.ports ?? []).filter((p) => p.name === name);
  const proto = protocol.toUpperCase();
  return (all.find((p) => (p.protocol ?? 'TCP') === proto) ?? all[0])?.containerPort;
}

/**
 * The pod-side port of each spec for this pod. For a Service, REMOTE names a service port (by
 * number or name) and the result is its targetPort, a number or a container port name looked up in
 * the pod (kubectl's translateServicePortToTargetPort); for a pod, a number or a container port name.
 */
export function remotePortsFor(specs: readonly PortSpec[], pod: Pod, service?: Service): number[] {
  const podName = pod.metadata?.name ?? '';
  return specs.map((spec) => {
    let want: number | string = spec.remote;
    if (service) {
      const sp = servicePortOf(spec, service);
      want = sp.targetPort === undefined || sp.targetPort === 0 || sp.targetPort === '' ? sp.port : sp.targetPort;
      if (typeof want === 'string' && /^\d+$/.test(want)) want = Number(want);
    }
    if (typeof want === 'number') return want;
    const n = containerPortByName(pod, want, spec.protocol);
    if (n === undefined) throw new Error(`Pod '${podName}' does not have a named port '${want}'`);
    return n;
  });
}

function servicePortOf(spec: PortSpec, service: Service): ServicePort {
  const proto = spec.protocol.toUpperCase();
  const matching = (service.spec?.ports ?? []).filter((p) => (typeof spec.remote === 'number' ? p.port === spec.remote : p.name === spec.remote));
  const sp = matching.find((p) => (p.protocol ?? 'TCP') === proto) ?? matching[0];
  // kubectl's words (translateServicePortToTargetPort).
  if (!sp) {
    const name = service.metadata?.name ?? '';
    throw new Error(typeof spec.remote === 'number' ? `Service ${name} does not have a service port ${spec.remote}` : `Service '${name}' does not have a named port '${spec.remote}'`);
  }
  return sp;
}

/**
 * The local port when the spec gives none, as kubectl picks it: the number given, else for a
 * Service the named service port's number, for a pod the named container port's number.
 */
export function defaultLocalPort(spec: PortSpec, remote: number, service?: Service): number {
  if (spec.local !== undefined) return spec.local;
  if (typeof spec.remote === 'number') return spec.remote;
  return service ? servicePortOf(spec, service).port : remote;
}

/** The pod a Service forward uses: Running and Ready, not terminating; the oldest first, as stable. */
export function choosePod(pods: readonly Pod[], avoidUid?: string): Pod | undefined {
  const ready = pods.filter((p) => isRunning(p) && isPodReady(p))
    .sort((a, b) => (a.metadata?.creationTimestamp ?? '').localeCompare(b.metadata?.creationTimestamp ?? '') ||
      (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''));
  return ready.find((p) => p.metadata?.uid !== avoidUid) ?? ready[0];
}

/** A target that is not there yet (no ready pod, pod not Running): worth waiting for. */
class NotReadyError extends Error {}

function selectorText(selector: Record<string, string>): string {
  return Object.entries(selector).map(([k, v]) => `${k}=${v}`).join(',');
}

function resource(plural: string): ResourceInfo {
  const r = lookupResource('', 'v1', plural);
  if (!r) throw new Error(`no resource ${plural}`);
  return r;
}

const sleep = (ms: number, signal?: AbortSignal) => new Promise<void>((resolve) => {
  const t = setTimeout(resolve, ms);
  signal?.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
});

export interface PortForwardRunOptions {
  config: ClientConfig;
  namespace: string;
  target: Target;
  specs: readonly PortSpec[];
  addresses: readonly string[];
  /** How long to wait for the target to have a running pod at the start (kubectl's --pod-running-timeout). */
  podRunningTimeoutMs: number;
  udpIdleMs: number;
  out: (line: string) => void;
  err: (line: string) => void;
  signal: AbortSignal;
}

interface Resolved {
  pod: Pod;
  remotePorts: number[];
  service?: Service;
}

/**
 * Runs the forward until `signal` aborts: resolve the target to a pod, open the session, and
 * whenever the session drops or the pod goes away (deleted, terminating, no longer Running or, for
 * a Service, no longer Ready), resolve again and reopen with back-off while the local ports stay.
 * Rejects only if the first connection cannot be made within podRunningTimeoutMs.
 */
export async function runPortForward(o: PortForwardRunOptions): Promise<void> {
  const client = new KubeClient(o.config);
  const pods = resource('pods');
  const services = resource('services');

  /** `connected`: a first connection was made; a pod missing before that is kubectl's NotFound, after it a pod being replaced. */
  let connected = false;
  const resolve = async (avoidUid?: string): Promise<Resolved> => {
    if (o.target.kind === 'pod') {
      let pod: Pod;
      try {
        pod = await client.get(pods, o.namespace, o.target.name) as Pod;
      } catch (err) {
        if (connected && err instanceof StatusError && err.code === 404) throw new NotReadyError(err.message);
        throw err;
      }
      if (!isRunning(pod)) {
        throw new NotReadyError(pod.metadata?.deletionTimestamp
          ? `pod ${o.target.name} is terminating`
          : `unable to forward port because pod is not running. Current status=${pod.status?.phase ?? 'Unknown'}`);
      }
      return { pod, remotePorts: remotePortsFor(o.specs, pod) };
    }
    const svc = await client.get(services, o.namespace, o.target.name) as Service;
    const selector = svc.spec?.selector ?? {};
    if (Object.keys(selector).length === 0) {
      throw new Error(`cannot attach to Service ${o.target.name}: it is defined without a selector`);
    }
    // The ports first, as kubectl checks them: a wrong one is an error at once, not a wait for a pod.
    for (const spec of o.specs) if (typeof spec.remote !== 'number') servicePortOf(spec, svc);
    const list = await client.list(pods, o.namespace, { labelSelector: selectorText(selector) });
    const pod = choosePod(list.items as unknown as Pod[], avoidUid);
    if (!pod) throw new NotReadyError(`no ready pod for service ${o.target.name} (selector ${selectorText(selector)})`);
    return { pod, remotePorts: remotePortsFor(o.specs, pod, svc), service: svc };
  };

  const connect = async (avoidUid?: string): Promise<Resolved & { session: PortForwardClient }> => {
    const r = await resolve(avoidUid);
    const name = r.pod.metadata?.name ?? '';
    try {
      const session = await dialPortForward(o.config, o.namespace, name);
      return { ...r, session };
    } catch (err) {
      // The pod may have gone between the lookup and the upgrade: that is worth another try.
      if (err instanceof UpgradeRefusedError && err.statusCode < 500 && err.statusCode !== 404 && err.statusCode !== 400) throw err;
      throw new NotReadyError((err as Error).message);
    }
  };

  // The first connection: wait for the target up to podRunningTimeoutMs, then give up like kubectl.
  let current: Resolved & { session: PortForwardClient };
  const deadline = performance.now() + o.podRunningTimeoutMs;
  for (let delay = 250, last = ''; ; delay = Math.min(delay * 2, 2000)) {
    try {
      current = await connect();
      connected = true;
      break;
    } catch (err) {
      // Ctrl-C while waiting is a stop, not a failure.
      if (o.signal.aborted) { client.close(); return; }
      if (!(err instanceof NotReadyError) || performance.now() + delay > deadline) {
        client.close();
        throw err;
      }
      if (err.message !== last) o.err(`Waiting: ${err.message}`);
      last = err.message;
      await sleep(delay, o.signal);
    }
  }

  const forwarder = new LocalForwarder({
    addresses: o.addresses,
    ports: o.specs.map((s, i) => ({ protocol: s.protocol, localPort: defaultLocalPort(s, current.remotePorts[i] ?? 0, current.service) })),
    out: o.out, err: o.err, udpIdleMs: o.udpIdleMs,
  });
  try {
    const bound = await forwarder.listen();
    for (const b of bound) {
      const host = b.address.includes(':') ? `[${b.address}]` : b.address;
      const suffix = b.protocol === 'udp' ? '/udp' : '';
      o.out(`Forwarding from ${host}:${b.localPort}${suffix} -> ${current.remotePorts[b.index] ?? 0}${suffix}`);
    }
  } catch (err) {
    current.session.destroy();
    client.close();
    throw err;
  }

  try {
    for (;;) {
      forwarder.setSession(current.session, current.remotePorts);
      const reason = await watchSession(client, pods, o, current);
      forwarder.setSession(undefined);
      current.session.close();
      if (o.signal.aborted) return;
      const lostName = current.pod.metadata?.name ?? '';
      const lostUid = current.pod.metadata?.uid;
      o.out(`Lost connection to pod ${lostName} (${reason}); reconnecting`);
      let next: (Resolved & { session: PortForwardClient }) | undefined;
      for (let delay = 250, last = ''; !o.signal.aborted; delay = Math.min(delay * 2, 5000)) {
        try {
          next = await connect(o.target.kind === 'service' ? lostUid : undefined);
          break;
        } catch (err) {
          const msg = (err as Error).message;
          if (msg !== last) o.err(`Waiting to reconnect: ${msg}`);
          last = msg;
          await sleep(delay, o.signal);
        }
      }
      if (!next) return;
      const before = current.remotePorts;
      current = next;
      o.out(`Reconnected to pod ${current.pod.metadata?.name ?? ''}`);
      // A Service's new pod may give a named targetPort another number.
      current.remotePorts.forEach((p, i) => {
        if (p !== before[i]) o.out(`Forwarding ${forwarder.boundPorts[i] ?? 0} -> ${p} now (was ${before[i] ?? 0})`);
      });
    }
  } finally {
    forwarder.close();
    client.close();
  }
}

/**
 * Resolves with why the session is over: it closed, a keep-alive PING went unanswered, or the pod
 * it reaches went away (watched by name from the resourceVersion it was resolved at, so nothing in
 * between is missed). Also resolves when the run is aborted.
 */
async function watchSession(client: KubeClient, pods: ResourceInfo, o: PortForwardRunOptions,
  current: Resolved & { session: PortForwardClient }): Promise<string> {
  const stop = new AbortController();
  const name = current.pod.metadata?.name ?? '';
  const uid = current.pod.metadata?.uid;
  const needReady = o.target.kind === 'service';
  const goneReason = (pod: Pod, type: WatchEvent['type'] | 'GET'): string | undefined => {
    if (type === 'DELETED') return `pod ${name} was deleted`;
    if (pod.metadata?.uid !== uid) return `pod ${name} was replaced`;
    if (pod.metadata?.deletionTimestamp) return `pod ${name} is terminating`;
    if (pod.status?.phase !== 'Running') return `pod ${name} is ${pod.status?.phase ?? 'not running'}`;
    if (needReady && !isPodReady(pod)) return `pod ${name} is not ready`;
    return undefined;
  };
  // Forward the run's abort to this session's watchers (removed again below: one per session).
  const onAbort = () => stop.abort();
  o.signal.addEventListener('abort', onAbort, { once: true });
  if (o.signal.aborted) stop.abort();
  try {
    return await new Promise<string>((resolve) => {
      stop.signal.addEventListener('abort', () => resolve('stopped'));
      if (current.session.isClosed) resolve('the connection closed');
      current.session.once('close', () => resolve('the connection closed'));
      // A session can die without a FIN (a node or API server gone from the network).
      void (async () => {
        while (!stop.signal.aborted) {
          await sleep(10_000, stop.signal);
          if (stop.signal.aborted) return;
          const pong = await Promise.race([current.session.ping().then(() => true, () => false), sleep(10_000, stop.signal).then(() => false)]);
          if (!pong && !stop.signal.aborted) { current.session.destroy(); resolve('the connection stopped answering'); }
        }
      })();
      void (async () => {
        let rv = current.pod.metadata?.resourceVersion;
        while (!stop.signal.aborted) {
          if (rv === undefined) {
            // After a watch ends or fails, look again before watching from the present.
            try {
              const pod = await client.get(pods, o.namespace, name) as Pod;
              const why = goneReason(pod, 'GET');
              if (why) { resolve(why); return; }
              rv = pod.metadata?.resourceVersion;
            } catch (err) {
              if (err instanceof StatusError && err.code === 404) { resolve(`pod ${name} was deleted`); return; }
              await sleep(1000, stop.signal);
              continue;
            }
          }
          try {
            await client.watch(pods, o.namespace, { fieldSelector: `metadata.name=${name}`, resourceVersion: rv, timeoutSeconds: 300 }, (ev) => {
              if (ev.type === 'BOOKMARK') return;
              const why = goneReason(ev.object as unknown as Pod & KObject, ev.type);
              if (why) resolve(why);
            }, stop.signal);
          } catch {
            if (!stop.signal.aborted) await sleep(1000, stop.signal);
          }
          rv = undefined;
        }
      })();
    });
  } finally {
    o.signal.removeEventListener('abort', onAbort);
    stop.abort();
  }
}

/** The kubeconfig's current context namespace, or 'default'. */
function contextNamespace(path: string): string {
  try {
    const kc = parseYaml(readFileSync(path, 'utf8')) as { 'current-context'?: string; contexts?: { name: string; context?: { namespace?: string } }[] };
    const ctx = kc.contexts?.find((c) => c.name === kc['current-context']) ?? kc.contexts?.[0];
    return ctx?.context?.namespace || 'default';
  } catch {
    return 'default';
  }
}

/** A Go duration as kubectl takes it (`1m30s`, `500ms`, `2h`), or a bare number of seconds; in ms. */
export function parseDuration(text: string): number {
  const t = text.trim();
  return /^\d+(?:\.\d+)?$/.test(t) ? Number(t) * 1000 : parseGoDuration(t);
}

interface PortForwardFlags {
  kubeconfig?: string;
  namespace?: string;
  address: string;
  podRunningTimeout: string;
  udpIdleTimeout: string;
}

/** Adds `podgate port-forward` to the command line. */
export function registerPortForward(program: Command): Command {
  return program.command('port-forward')
    .description('forward local ports to a pod or a Service\'s pod, like kubectl port-forward, plus UDP (PORT/udp) and reconnecting when the pod is replaced')
    .usage('[options] TYPE/NAME [LOCAL:]REMOTE[/udp] ...')
    .argument('<target>', 'pod/NAME, svc/NAME (a ready pod of the Service), or a pod NAME')
    .argument('<ports...>', '[LOCAL:]REMOTE[/udp]: REMOTE is a number or port name (for svc/, a service port); LOCAL omitted = REMOTE, empty = any free port')
    .option('--kubeconfig <file>', 'kubeconfig to use (default: $KUBECONFIG or ~/.kube/config)')
    .option('-n, --namespace <namespace>', 'namespace of the pod or Service (default: the context\'s, or default)')
    .option('--address <addresses>', 'comma-separated local addresses to listen on; localhost means 127.0.0.1 and ::1', '127.0.0.1')
    .option('--pod-running-timeout <duration>', 'how long to wait at the start for a running pod (e.g. 30s, 1m)', '1m')
    .option('--udp-idle-timeout <duration>', 'close a UDP sender\'s stream pair after this long without traffic', '60s')
    .action(async (targetText: string, portTexts: string[], flags: PortForwardFlags) => {
      const kubeconfig = flags.kubeconfig ?? process.env.KUBECONFIG?.split(':')[0] ?? join(homedir(), '.kube', 'config');
      const target = parseTarget(targetText);
      const specs = portTexts.map(parsePortSpec);
      const addresses = [...new Set(flags.address.split(',').map((a) => a.trim()).filter(Boolean)
        .flatMap((a) => (a === 'localhost' ? ['127.0.0.1', '::1'] : [a])))];
      const abort = new AbortController();
      const onSignal = () => abort.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      try {
        await runPortForward({
          config: { ...configFromKubeconfig(kubeconfig), userAgent: 'podgate-port-forward' },
          namespace: flags.namespace ?? contextNamespace(kubeconfig),
          target, specs, addresses,
          podRunningTimeoutMs: parseDuration(flags.podRunningTimeout),
          udpIdleMs: parseDuration(flags.udpIdleTimeout),
          out: (line) => process.stdout.write(`${line}\n`),
          err: (line) => process.stderr.write(`${line}\n`),
          signal: abort.signal,
        });
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
      // Connections still open through the forward would keep the process alive after ^C.
      process.exit(0);
    });
}
