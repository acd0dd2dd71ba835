import { createSocket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import type { Duplex, Readable, Writable } from 'node:stream';
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

/**
 * podgate's extension for UDP: a stream pair whose headers carry `protocol: udp` forwards datagrams
 * instead of a TCP connection. The kubelet protocol has no UDP; kubectl never sends this header, and
 * a kubelet that does not know it would dial TCP, so only `podgate port-forward` uses it, against
 * podgate's own node agent. On the data stream each datagram travels as a 2-byte big-endian length
 * followed by that many bytes, both ways.
 */
export const protocolHeader = 'protocol';
/** Largest datagram the 2-byte length prefix can carry. */
export const maxDatagram = 0xffff;
/** Datagrams queued for a slow data stream beyond this are dropped, as a full socket buffer would. */
const maxQueuedUdpBytes = 1024 * 1024;

/** A datagram path to one port of the pod, as `dialUdp` returns it. */
export interface DatagramTarget {
  send(datagram: Buffer): void;
  close(): void;
}

/** Prefixes a datagram with its 2-byte length for the data stream. */
export function encodeDatagram(datagram: Buffer): Buffer {
  if (datagram.length > maxDatagram) throw new RangeError(`datagram of ${datagram.length} bytes exceeds ${maxDatagram}`);
  const head = Buffer.allocUnsafe(2);
  head.writeUInt16BE(datagram.length, 0);
  return Buffer.concat([head, datagram]);
}

/** Splits a data stream's bytes back into datagrams, across any chunking. */
export class DatagramDecoder {
  // Chunks are kept apart until a whole datagram is there, so a datagram that arrives in many small
  // pieces costs one copy, not one per piece.
  #chunks: Buffer[] = [];
  #length = 0;

  /** Feeds bytes; returns every datagram they complete. */
  push(chunk: Buffer): Buffer[] {
    if (chunk.length > 0) {
      this.#chunks.push(chunk);
      this.#length += chunk.length;
    }
    const out: Buffer[] = [];
    while (this.#length >= 2) {
      let first = this.#chunks[0]!;
      if (first.length < 2) first = this.#merge();
      const need = 2 + first.readUInt16BE(0);
      if (this.#length < need) break;
      if (first.length < need) first = this.#merge();
      // Copy: the datagram may outlive the chunk, which the stream may reuse.
      out.push(Buffer.from(first.subarray(2, need)));
      const rest = first.subarray(need);
      this.#length -= need;
      if (rest.length > 0) this.#chunks[0] = rest; else this.#chunks.shift();
    }
    return out;
  }

  #merge(): Buffer {
    const all = Buffer.concat(this.#chunks, this.#length);
    this.#chunks = [all];
    return all;
  }

  /** Bytes of an incomplete datagram still waiting for the rest. */
  get pendingBytes(): number { return this.#length; }
}

/**
 * A connected UDP socket to host:port (the pod's IP), for `dialUdp`. Connected, so only the pod's
 * answers arrive and each client address gets its own source port at the pod.
 */
export function connectUdp(host: string, port: number, onMessage: (datagram: Buffer) => void,
  log?: (message: string) => void): Promise<DatagramTarget> {
  return new Promise((resolve, reject) => {
    const socket = createSocket(isIPv6(host) ? 'udp6' : 'udp4');
    let connected = false;
    let closed = false;
    socket.on('message', (msg) => onMessage(msg));
    socket.on('error', (err) => {
      if (!connected) { reject(err); socket.close(); return; }
      // ICMP port unreachable and the like: UDP loses the datagram, the pair stays.
      log?.(`port-forward: udp ${host}:${port}: ${err.message}`);
    });
    socket.connect(port, host, () => {
      connected = true;
      resolve({
        send: (d) => { if (!closed) socket.send(d); },
        close: () => { if (!closed) { closed = true; socket.close(); } },
      });
    });
  });
}

export interface PortForwardOptions {
  /**
   * Connects to a port inside the pod's network namespace. Give the socket `allowHalfOpen: true`
   * so a client's FIN half-closes the connection instead of ending it. Rejections are reported to
   * the client on the error stream.
   */
  dial(port: number): Promise<Duplex>;
  /**
   * Opens a datagram path to a UDP port of the pod (for stream pairs with `protocol: udp`);
   * `onMessage` receives the pod's answers. Without it such pairs are refused on the error stream.
   */
  dialUdp?(port: number, onMessage: (datagram: Buffer) => void): Promise<DatagramTarget>;
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
  const protocol = data.headers[protocolHeader] ?? 'tcp';
  if (protocol === 'udp') return forwardUdp(errorStream, data, port, portText, options);
  if (protocol !== 'tcp') {
    errorStream.end(`error forwarding port ${port} to pod ${options.pod}, uid ${options.uid ?? ''}: unsupported protocol ${JSON.stringify(protocol)}`);
    data.end();
    return;
  }
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
    // What kubectl still sends for a target that is gone is read and dropped, as spdystream drops
    // data for a finished stream: left unread it would fill the stream's buffer, and a stream whose
    // reader is behind pauses the whole session (SpdySession #onData), so no later SYN_STREAM of
    // this kubectl would ever be read. `pipe` stops reading on the target's error or close.
    discardReadable(data, target);
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

/**
 * Stops piping `from` into `to` and reads the rest of `from` into nothing. For a SPDY stream whose
 * destination went away: unread, it would hold up every other stream of its session.
 */
export function discardReadable(from: Readable, to: Writable): void {
  from.unpipe(to);
  if (!from.destroyed && !from.readableEnded) from.resume();
}

/** One UDP stream pair: datagrams from the data stream go to the pod, the pod's answers come back. */
async function forwardUdp(errorStream: SpdyStream, data: SpdyStream, port: number, portText: string, options: PortForwardOptions): Promise<void> {
  let target: DatagramTarget;
  try {
    if (port < 1 || port > 65535) throw new Error(`invalid port ${JSON.stringify(portText)}`);
    if (!options.dialUdp) throw new Error('UDP forwarding is not supported by this node');
    target = await options.dialUdp(port, (datagram) => {
      if (data.destroyed || data.writableEnded || datagram.length > maxDatagram) return;
      if (data.writableLength > maxQueuedUdpBytes) return; // the client is not keeping up: drop, as UDP may
      data.write(encodeDatagram(datagram));
    });
  } catch (err) {
    const message = `error forwarding port ${port}/udp to pod ${options.pod}, uid ${options.uid ?? ''}: ${(err as Error).message}`;
    options.log?.(message);
    errorStream.end(message);
    data.end();
    return;
  }
  if (data.destroyed) {
    target.close();
    errorStream.end();
    return;
  }
  let open = true;
  const closeTarget = () => { if (open) { open = false; target.close(); } };
  const decoder = new DatagramDecoder();
  data.on('data', (chunk: Buffer) => {
    if (open) for (const d of decoder.push(chunk)) target.send(d);
  });
  // The client half-closes the data stream when its flow goes idle: that ends the pair.
  data.once('end', () => {
    closeTarget();
    if (!data.writableEnded && !data.destroyed) data.end();
    if (!errorStream.writableEnded && !errorStream.destroyed) errorStream.end();
  });
  data.once('close', () => {
    closeTarget();
    if (!errorStream.writableEnded && !errorStream.destroyed) errorStream.end();
  });
}
