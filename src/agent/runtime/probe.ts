// Container probes as kubelet runs them (pkg/probe/{http,tcp,exec}): HTTP and TCP probes dial the
// pod IP from the node's network namespace, as kubelet does; exec probes run in the container's
// context through the runtime. Failure messages use kubelet's words, so events read
// `Readiness probe failed: HTTP probe failed with statuscode: 503`.

import type { Probe } from 'kubernetes-types/core/v1.d.ts';
import type { ChildProcess } from 'node:child_process';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';

export type ProbeType = 'Liveness' | 'Readiness' | 'Startup';

export interface ProbeContext {
  probeType: ProbeType;
  podIP: string;
  hostNetwork: boolean;
  /** Runs a command in the container (ProcessRuntime.exec bound to the pod and container). */
  exec?: (argv: string[]) => ChildProcess;
  /** Version reported in the User-Agent (`kube-probe/1.32`, as the node's kubeletVersion v1.32). */
  kubeVersion?: string;
}

export interface ProbeResult {
  result: 'Success' | 'Failure';
  /** The probe's own output: kubelet's failure text, or the command's output for exec. */
  output: string;
  /** The event message for a failure (`Liveness probe failed: …`); empty on success. */
  message: string;
}

/** kubelet reads at most this much of a probe's output. */
const MAX_OUTPUT = 10 * 1024;

/** Runs one probe attempt; never rejects. `timeoutSeconds` defaults to 1 as in the API. */
export async function runProbe(probe: Probe, ctx: ProbeContext): Promise<ProbeResult> {
  const timeoutMs = Math.max(1, probe.timeoutSeconds ?? 1) * 1000;
  let outcome: { ok: boolean; output: string };
  try {
    if (probe.httpGet) outcome = await httpProbe(probe.httpGet, ctx, timeoutMs, { product: 'kube-probe', anyStatus: false });
    else if (probe.tcpSocket) outcome = await tcpProbe(probe.tcpSocket.host || ctx.podIP, probe.tcpSocket.port, timeoutMs);
    else if (probe.exec) outcome = await execProbe(probe.exec.command ?? [], ctx, timeoutMs);
    else if (probe.grpc) outcome = { ok: false, output: 'gRPC probes are not supported by podgate' };
    else outcome = { ok: false, output: 'missing probe handler' };
  } catch (err) {
    const output = (err as Error).message;
    return { result: 'Failure', output, message: `${ctx.probeType} probe errored: ${output}` };
  }
  return outcome.ok
    ? { result: 'Success', output: outcome.output, message: '' }
    : { result: 'Failure', output: outcome.output, message: `${ctx.probeType} probe failed: ${outcome.output}` };
}

function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

function numericPort(port: number | string): number {
  if (typeof port === 'number') return port;
  if (/^\d+$/.test(port)) return Number(port);
  // Named ports are the caller's to resolve against the container's ports.
  throw new Error(`couldn't find port: ${port}`);
}

// Go's net errors, as they appear in kubelet's probe output.
function dialError(err: NodeJS.ErrnoException, addr: string): string {
  switch (err.code) {
    case 'ECONNREFUSED': return `dial tcp ${addr}: connect: connection refused`;
    case 'EHOSTUNREACH': return `dial tcp ${addr}: connect: no route to host`;
    case 'ENETUNREACH': return `dial tcp ${addr}: connect: network is unreachable`;
    case 'ETIMEDOUT': return `dial tcp ${addr}: i/o timeout`;
    case 'ECONNRESET': return `read tcp ${addr}: read: connection reset by peer`;
    default: return `dial tcp ${addr}: ${err.message}`;
  }
}

/**
 * A lifecycle hook's GET, as the kubelet's runHTTPHandler sends it: `User-Agent: kube-lifecycle/…`,
 * and any answer is a success (only a transport error fails the hook); `signal` cancels it.
 * Never rejects; `output` is the Go error text.
 */
export async function lifecycleHttpGet(h: NonNullable<Probe['httpGet']>, ctx: { podIP: string; kubeVersion?: string; timeoutMs: number; signal?: AbortSignal }): Promise<{ ok: boolean; output: string }> {
  try {
    return await httpProbe(h, { podIP: ctx.podIP, ...(ctx.kubeVersion ? { kubeVersion: ctx.kubeVersion } : {}) }, ctx.timeoutMs,
      { product: 'kube-lifecycle', anyStatus: true, ...(ctx.signal ? { signal: ctx.signal } : {}) });
  } catch (err) {
    return { ok: false, output: (err as Error).message };
  }
}

async function httpProbe(h: NonNullable<Probe['httpGet']>, ctx: Pick<ProbeContext, 'podIP' | 'kubeVersion'>, timeoutMs: number,
  how: { product: 'kube-probe' | 'kube-lifecycle'; anyStatus: boolean; signal?: AbortSignal }): Promise<{ ok: boolean; output: string }> {
  const scheme = (h.scheme ?? 'HTTP').toLowerCase();
  const host = h.host || ctx.podIP;
  const port = numericPort(h.port);
  const path = !h.path ? '/' : h.path.startsWith('/') ? h.path : `/${h.path}`;
  const addr = hostPort(host, port);
  const url = `${scheme}://${addr}${path}`;
  const headers: Record<string, string> = { 'User-Agent': `${how.product}/${ctx.kubeVersion ?? '1.32'}`, Accept: '*/*' };
  for (const { name, value } of h.httpHeaders ?? []) {
    for (const k of Object.keys(headers)) if (k.toLowerCase() === name.toLowerCase()) delete headers[k];
    headers[name] = value;
  }
  return new Promise((resolve) => {
    let settled = false;
    const onAbort = () => finish({ ok: false, output: `Get "${url}": context canceled` });
    const finish = (r: { ok: boolean; output: string }): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      how.signal?.removeEventListener('abort', onAbort);
      req.destroy();
      resolve(r);
    };
    const request = scheme === 'https' ? httpsRequest : httpRequest;
    const req = request({
      host, port, path, method: 'GET', headers, agent: false,
      ...(scheme === 'https' ? { rejectUnauthorized: false } : {}),
    }, (res: IncomingMessage) => {
      const code = res.statusCode ?? 0;
      let body = '';
      res.on('data', (c: Buffer) => { if (body.length < MAX_OUTPUT) body += c.toString('utf8'); });
      res.on('end', () => finish(how.anyStatus || (code >= 200 && code < 400)
        ? { ok: true, output: body.slice(0, MAX_OUTPUT) }
        : { ok: false, output: `HTTP probe failed with statuscode: ${code}` }));
      res.on('error', () => finish({ ok: false, output: `HTTP probe failed with statuscode: ${code}` }));
    });
    req.on('error', (err: NodeJS.ErrnoException) => finish({
      ok: false,
      output: err.code === 'ECONNRESET' || err.message === 'socket hang up' ? `Get "${url}": EOF` : `Get "${url}": ${dialError(err, addr)}`,
    }));
    const timer = setTimeout(() => finish({ ok: false, output: `Get "${url}": context deadline exceeded (Client.Timeout exceeded while awaiting headers)` }), timeoutMs);
    how.signal?.addEventListener('abort', onAbort);
    if (how.signal?.aborted) onAbort();
    req.end();
  });
}

function tcpProbe(host: string, rawPort: number | string, timeoutMs: number): Promise<{ ok: boolean; output: string }> {
  const port = numericPort(rawPort);
  const addr = hostPort(host, port);
  return new Promise((resolve) => {
    const sock = connect({ host, port });
    const finish = (r: { ok: boolean; output: string }): void => {
      clearTimeout(timer);
      sock.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => finish({ ok: false, output: `dial tcp ${addr}: i/o timeout` }), timeoutMs);
    sock.once('connect', () => finish({ ok: true, output: '' }));
    sock.once('error', (err: NodeJS.ErrnoException) => finish({ ok: false, output: dialError(err, addr) }));
  });
}

function execProbe(command: string[], ctx: ProbeContext, timeoutMs: number): Promise<{ ok: boolean; output: string }> {
  if (!ctx.exec) throw new Error('exec probes need the container runtime');
  const child = ctx.exec(command);
  return new Promise((resolve) => {
    let output = '';
    let done = false;
    const collect = (c: Buffer): void => { if (output.length < MAX_OUTPUT) output = (output + c.toString('utf8')).slice(0, MAX_OUTPUT); };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    const finish = (r: { ok: boolean; output: string }): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(r);
    };
    const timer = setTimeout(() => {
      try { if (child.pid) process.kill(-child.pid, 'SIGKILL'); } catch { /* already gone */ }
      finish({ ok: false, output: `command ${JSON.stringify(command.join(' '))} timed out` });
    }, timeoutMs);
    child.once('error', (err) => finish({ ok: false, output: err.message }));
    child.once('close', (code) => finish({ ok: code === 0, output }));
  });
}
