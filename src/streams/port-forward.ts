import type { Duplex } from 'node:stream';
import { SpdySession } from './spdy-session.ts';
import type { SpdyStream } from './spdy-stream.ts';
import { rstStatus } from './spdy-frames.ts';
import {
  acceptSpdyUpgrade, acceptWebSocket, isSpdyUpgrade, isWebSocketUpgrade, rejectUpgrade, statusBody,
  type StreamUpgrade,
} from './upgrade.ts';
import { WebSocketDuplex } from './web-socket-duplex.ts';

/** The SPDY protocol name (apimachinery util/portforward constants.go PortForwardV1Name). */
export const portForwardProtocol = 'portforward.k8s.io';
/** The WebSocket subprotocol of the SPDY tunnel kubectl 1.30+ tries first (KEP-4006). */
export const portForwardTunnelProtocol = `SPDY/3.1+${portForwardProtocol}`;

export interface PortForwardOptions {
  /**
   * Connects to a port inside the pod's network namespace. Give the socket `allowHalfOpen: true`
   * so a client's FIN half-closes the connection instead of ending it. Rejections are reported to
   * the client on the error stream.
   */
  dial(port: number): Promise<Duplex>;
  /** How error texts name the pod; the kubelet puts the sandbox id or pod name here. */
  pod: string;
  uid?: string;
  log?: (message: string) => void;
  /** How long half of a stream pair waits for the other (kubelet: streamCreationTimeout, 30 s). */
  pairTimeoutMs?: number;
}

interface StreamPair {
  requestId: string;
  error?: SpdyStream;
  data?: SpdyStream;
  timer: NodeJS.Timeout;
}

/**
 * Serves `pods/portforward` on an upgrade: a WebSocket tunnelling SPDY/3.1
 * (`SPDY/3.1+portforward.k8s.io`) or a plain `Upgrade: SPDY/3.1` with X-Stream-Protocol-Version
 * `portforward.k8s.io`. Each error+data stream pair (paired by requestID) becomes one dialled
 * connection. Resolves when the session ends; never rejects (failures are answered on the wire).
 */
export async function servePortForward(upgrade: StreamUpgrade, options: PortForwardOptions): Promise<void> {
  let transport: Duplex;
  if (isWebSocketUpgrade(upgrade.req)) {
    const accepted = await acceptWebSocket(upgrade, [portForwardTunnelProtocol]);
    if (!accepted) return;
    transport = new WebSocketDuplex(accepted.ws);
  } else if (isSpdyUpgrade(upgrade.req)) {
    if (acceptSpdyUpgrade(upgrade, [portForwardProtocol]) === undefined) return;
    transport = upgrade.socket;
  } else {
    rejectUpgrade(upgrade.socket, 400, statusBody(400, 'BadRequest', 'Upgrade request required'), { contentType: 'application/json' });
    return;
  }
  const session = new SpdySession(transport, { isServer: true });
  const closed = new Promise<void>((resolve) => session.once('close', resolve));
  session.on('error', (err: Error) => options.log?.(`port-forward session: ${err.message}`));
  const pairs = new Map<string, StreamPair>();
  session.on('stream', (stream: SpdyStream) => onStream(stream, pairs, options));
  if (transport === upgrade.socket && upgrade.head.length > 0) session.feed(upgrade.head);
  await closed;
  for (const p of pairs.values()) clearTimeout(p.timer);
}

/** The pairing key; clients older than requestID paired by stream id (kubelet httpstream.go requestID). */
function requestIdOf(stream: SpdyStream): string {
  const id = stream.headers.requestid;
  if (id !== undefined && id !== '') return id;
  return String(stream.headers.streamtype === 'data' ? stream.id - 2 : stream.id);
}

function onStream(stream: SpdyStream, pairs: Map<string, StreamPair>, options: PortForwardOptions): void {
  const type = stream.headers.streamtype;
  if (type !== 'error' && type !== 'data') {
    options.log?.(`port-forward: invalid stream type ${JSON.stringify(type)}`);
    stream.reset(rstStatus.protocolError);
    return;
  }
  // A data stream nobody reads yet must not hold up the whole session: keep errors drained.
  stream.on('error', () => {});
  const requestId = requestIdOf(stream);
  let pair = pairs.get(requestId);
  if (!pair) {
    const timer = setTimeout(() => {
      pairs.delete(requestId);
      const p = pair!;
      options.log?.(`port-forward: request ${requestId}: timed out waiting for streams`);
      if (p.error) p.error.end(`error processing stream for request ${requestId}: timed out waiting for streams`);
      p.data?.reset(rstStatus.cancel);
    }, options.pairTimeoutMs ?? 30_000);
    timer.unref();
    pair = { requestId, timer };
    pairs.set(requestId, pair);
  }
  if (pair[type] !== undefined) {
    options.log?.(`port-forward: request ${requestId}: ${type} stream already assigned`);
    stream.reset(rstStatus.protocolError);
    return;
  }
  pair[type] = stream;
  if (pair.error && pair.data) {
    clearTimeout(pair.timer);
    pairs.delete(requestId);
    void forward(pair.error, pair.data, options);
  }
}

async function forward(errorStream: SpdyStream, data: SpdyStream, options: PortForwardOptions): Promise<void> {
  errorStream.resume(); // kubectl half-closes it at once and never writes on it
  const portText = data.headers.port ?? '';
  const port = /^\d+$/.test(portText) ? Number(portText) : 0;
  let target: Duplex;
  try {
    if (port < 1 || port > 65535) throw new Error(`invalid port ${JSON.stringify(portText)}`);
    target = await options.dial(port);
  } catch (err) {
    // kubelet pkg/kubelet/cri/streaming/portforward/httpstream.go portForward: this text is what
    // kubectl prints after "an error occurred forwarding L -> R: ".
    const message = `error forwarding port ${port} to pod ${options.pod}, uid ${options.uid ?? ''}: ${(err as Error).message}`;
    options.log?.(message);
    errorStream.end(message);
    data.end();
    return;
  }
  if (data.destroyed) {
    target.destroy();
    errorStream.end();
    return;
  }
  target.on('error', (err: Error) => options.log?.(`port-forward: port ${port}: ${err.message}`));
  // The forward is over for kubectl once the pod side has ended and the error stream is at EOF
  // (client-go portforward.go handleConnection waits for both), so FIN the error stream as soon as
  // our data FIN is out, and FIN data when the target goes away even without a clean end.
  data.once('finish', () => errorStream.end());
  target.once('close', () => {
    if (!data.writableEnded && !data.destroyed) data.end();
    if (!errorStream.writableEnded && !errorStream.destroyed) errorStream.end();
  });
  data.once('close', () => {
    // A reset (kubectl sends CANCEL after our FIN if it has not FIN'ed itself) drops the target;
    // after a clean FIN both ways the target closes by itself once its buffers are flushed.
    if (data.resetStatus !== undefined) target.destroy();
  });
  data.pipe(target);
  target.pipe(data);
}
