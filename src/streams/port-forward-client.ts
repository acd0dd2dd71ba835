// The client side of pods/portforward, for `podgate port-forward`: the SPDY/3.1 upgrade through the
// API server with the kubeconfig's credentials, a stream pair per TCP connection as client-go's
// portforward package opens them, podgate's UDP extension (see protocolHeader in port-forward.ts),
// and the local listeners that stay open while the session underneath is replaced.
import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram';
import { EventEmitter } from 'node:events';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import type { ClientConfig } from '../client/rest-client.ts';
import { SpdySession } from './spdy-session.ts';
import type { SpdyStream } from './spdy-stream.ts';
import { DatagramDecoder, encodeDatagram, maxDatagram, portForwardProtocol, protocolHeader } from './port-forward.ts';
import { protocolVersionHeader } from './upgrade.ts';

/** Datagrams queued on a data stream beyond this are dropped rather than buffered without bound. */
const maxQueuedUdpBytes = 1024 * 1024;

/** The status line, headers and the bytes after them of an HTTP response read off a raw socket. */
export interface ResponseHead {
  statusCode: number;
  statusText: string;
  headers: Map<string, string>;
  /** Bytes that followed the blank line (the first SPDY frames, or the start of the body). */
  rest: Buffer;
}

/**
 * Reads an HTTP/1.1 response head from a socket that will be handed to another protocol after it.
 * Leaves the socket paused, with nothing of what follows the head consumed except `rest`.
 */
export function readResponseHead(socket: Duplex, timeoutMs = 30_000): Promise<ResponseHead> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const done = (err: Error | undefined, head?: ResponseHead) => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('close', onClose);
      socket.pause();
      if (err) reject(err); else resolve(head!);
    };
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) {
        if (buf.length > 64 * 1024) done(new Error('upgrade response head too large'));
        return;
      }
      const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
      const m = /^HTTP\/1\.[01] (\d{3}) ?(.*)$/.exec(lines[0] ?? '');
      if (!m) { done(new Error(`malformed upgrade response: ${JSON.stringify(lines[0])}`)); return; }
      const headers = new Map<string, string>();
      for (const line of lines.slice(1)) {
        const i = line.indexOf(':');
        if (i > 0) headers.set(line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim());
      }
      done(undefined, { statusCode: Number(m[1]), statusText: m[2] ?? '', headers, rest: buf.subarray(end + 4) });
    };
    const onError = (err: Error) => done(err);
    const onClose = () => done(new Error('connection closed before the upgrade response'));
    const timer = setTimeout(() => done(new Error('timed out waiting for the upgrade response')), timeoutMs);
    socket.on('data', onData);
    socket.once('error', onError);
    socket.once('close', onClose);
  });
}

/** Reads the rest of a refused upgrade's body (bounded) and turns a Status into its message. */
function refusalMessage(socket: Duplex, head: ResponseHead): Promise<string> {
  return new Promise((resolve) => {
    const want = Number(head.headers.get('content-length') ?? Number.NaN);
    let body = head.rest;
    const finish = () => {
      clearTimeout(timer);
      socket.destroy();
      const text = body.toString('utf8').trim();
      try {
        const st = JSON.parse(text) as { kind?: string; message?: string };
        if (st.kind === 'Status' && st.message) { resolve(st.message); return; }
      } catch { /* plain text */ }
      resolve(text || `${head.statusCode} ${head.statusText}`);
    };
    const timer = setTimeout(finish, 5000);
    if (body.length >= want) { finish(); return; }
    socket.on('data', (c: Buffer) => {
      body = Buffer.concat([body, c]);
      if (body.length >= want || body.length > 64 * 1024) finish();
    });
    socket.once('end', finish);
    socket.once('error', finish);
    socket.resume();
  });
}

/** Why a port-forward upgrade was refused (the API server's Status message), with the HTTP code. */
export class UpgradeRefusedError extends Error {
  readonly statusCode: number;
  constructor(statusCode: number, message: string) {
    super(message);
    this.statusCode = statusCode;
  }
}

/**
 * Opens `POST /api/v1/namespaces/NS/pods/NAME/portforward` with `Upgrade: SPDY/3.1` and
 * `X-Stream-Protocol-Version: portforward.k8s.io` (client-go's spdy RoundTripper does the same),
 * over TLS with the kubeconfig's client certificate or bearer token.
 */
export async function dialPortForward(cfg: ClientConfig, namespace: string, pod: string,
  options: { timeoutMs?: number } = {}): Promise<PortForwardClient> {
  const url = new URL(cfg.server);
  const secure = url.protocol === 'https:';
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = Number(url.port || (secure ? 443 : 80));
  const timeoutMs = options.timeoutMs ?? 30_000;
  const socket: net.Socket = secure
    ? tls.connect({
      host, port, ca: cfg.caPem, cert: cfg.certPem, key: cfg.keyPem, rejectUnauthorized: !cfg.insecureSkipVerify,
      // SNI takes names only; an upgrade needs HTTP/1.1, never h2.
      servername: net.isIP(host) ? undefined : host, ALPNProtocols: ['http/1.1'],
    })
    : net.connect({ host, port });
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out connecting to ${url.host}`)), timeoutMs);
      socket.once(secure ? 'secureConnect' : 'connect', () => { clearTimeout(timer); resolve(); });
      socket.once('error', (err) => { clearTimeout(timer); reject(err); });
    });
    socket.setNoDelay(true);
    const base = url.pathname.replace(/\/+$/, '');
    const path = `${base}/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(pod)}/portforward`;
    const lines = [
      `POST ${path} HTTP/1.1`,
      `Host: ${url.host}`,
      `User-Agent: ${cfg.userAgent ?? 'podgate'}`,
      'Content-Length: 0',
      'Connection: Upgrade',
      'Upgrade: SPDY/3.1',
      `${protocolVersionHeader}: ${portForwardProtocol}`,
      ...(cfg.token ? [`Authorization: Bearer ${cfg.token}`] : []),
    ];
    socket.write(lines.join('\r\n') + '\r\n\r\n');
    const head = await readResponseHead(socket, timeoutMs);
    if (head.statusCode !== 101) {
      throw new UpgradeRefusedError(head.statusCode, await refusalMessage(socket, head));
    }
    const chosen = head.headers.get(protocolVersionHeader.toLowerCase());
    if (chosen !== portForwardProtocol) {
      throw new Error(`unable to upgrade connection: the server chose protocol ${JSON.stringify(chosen ?? '')}, not ${portForwardProtocol}`);
    }
    socket.removeAllListeners('error');
    return new PortForwardClient(socket, head.rest);
  } catch (err) {
    socket.destroy();
    throw err;
  }
}

/** How one forwarded TCP connection ended. */
export interface ForwardResult {
  /** The text the server sent on the error stream (the kubelet's "error forwarding port ..."). */
  error?: string;
}

/**
 * One port-forward session, client side, over an upgraded byte stream. Emits 'close' when the
 * session ends (the API server, kubelet or network went away, or close() was called).
 */
export class PortForwardClient extends EventEmitter {
  #session: SpdySession;
  #nextRequestId = 0;

  /** `head`: bytes that arrived with the 101 response, already part of the SPDY stream. */
  constructor(transport: Duplex, head: Buffer = Buffer.alloc(0)) {
    super();
    this.#session = new SpdySession(transport, { isServer: false });
    this.#session.on('error', () => {}); // the session tears itself down; 'close' tells the owner
    this.#session.once('close', () => this.emit('close'));
    if (head.length > 0) this.#session.feed(head);
    transport.resume();
  }

  get isClosed(): boolean { return this.#session.isClosed; }

  /** Round-trip time of a SPDY PING, to notice a session that died silently. */
  ping(): Promise<number> { return this.#session.ping(); }

  close(): void { this.#session.close(); }

  destroy(): void { this.#session.destroy(); }

  /**
   * Opens an error+data stream pair for a port, as client-go's handleConnection does: the error
   * stream is half-closed at once (we never write on it), both carry streamType, port and requestID.
   */
  async #openPair(port: number, extra: Record<string, string>): Promise<{ error: SpdyStream; data: SpdyStream }> {
    const requestid = String(this.#nextRequestId++);
    const base = { port: String(port), requestid, ...extra };
    const [error, data] = await Promise.allSettled([
      this.#session.openStream({ streamtype: 'error', ...base }, { fin: true }),
      this.#session.openStream({ streamtype: 'data', ...base }),
    ]);
    if (error.status === 'fulfilled' && data.status === 'fulfilled') return { error: error.value, data: data.value };
    if (error.status === 'fulfilled') error.value.destroy();
    if (data.status === 'fulfilled') data.value.destroy();
    const reason = error.status === 'rejected' ? error.reason : (data as PromiseRejectedResult).reason;
    throw new Error(`error creating forwarding stream for port ${port}: ${(reason as Error).message}`);
  }

  /**
   * Carries one local TCP connection to `port` in the pod until both sides are done. Give `conn`
   * allowHalfOpen so a FIN travels as a half-close. Resolves with the server's error text, if any.
   */
  async forwardConnection(port: number, conn: Duplex): Promise<ForwardResult> {
    let pair: { error: SpdyStream; data: SpdyStream };
    try {
      pair = await this.#openPair(port, {});
    } catch (err) {
      conn.destroy();
      return { error: (err as Error).message };
    }
    const { error, data } = pair;
    if (conn.destroyed) {
      data.destroy();
      error.destroy();
      return {};
    }
    const errorText = readText(error);
    conn.on('error', () => {});
    data.on('error', () => {});
    const finished = new Promise<void>((resolve) => data.once('close', () => resolve()));
    conn.pipe(data);
    data.pipe(conn);
    conn.once('close', () => {
      // After a clean close both ways the data stream finishes by itself; anything else (the local
      // client reset, or closed while the pod was still sending) cancels the pod-side connection.
      if (!(data.isRemoteFinished && data.writableEnded)) data.destroy();
    });
    data.once('close', () => {
      if (data.resetStatus !== undefined) conn.destroy();
    });
    const text = await errorText;
    if (text !== '') {
      // The pod side never connected: drop the local connection, as kubectl does.
      conn.destroy();
      data.destroy();
      return { error: text };
    }
    await finished;
    return {};
  }

  /** Opens a datagram channel to a UDP port of the pod (podgate's extension; see protocolHeader). */
  async openDatagramChannel(port: number): Promise<DatagramChannel> {
    const { error, data } = await this.#openPair(port, { [protocolHeader]: 'udp' });
    return new DatagramChannel(error, data);
  }
}

function readText(stream: SpdyStream): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    const done = () => resolve(Buffer.concat(chunks).toString('utf8'));
    stream.once('end', done);
    stream.once('close', done);
    stream.on('error', () => {});
  });
}

/**
 * A UDP "flow" over one stream pair: send() carries a datagram to the pod's port, 'message'
 * delivers the pod's answers. 'close' once the pair is over; `failure` resolves with the server's
 * error text ('' when there was none).
 */
export class DatagramChannel extends EventEmitter {
  readonly failure: Promise<string>;
  #data: SpdyStream;
  #closed = false;

  constructor(error: SpdyStream, data: SpdyStream) {
    super();
    this.#data = data;
    this.failure = readText(error);
    const decoder = new DatagramDecoder();
    data.on('error', () => {});
    data.on('data', (chunk: Buffer) => {
      for (const d of decoder.push(chunk)) this.emit('message', d);
    });
    // The server ends the data stream when the pair is over (idle close, dial failure, pod gone).
    data.once('end', () => this.close());
    data.once('close', () => {
      this.#closed = true;
      this.emit('close');
    });
    void this.failure.then((text) => { if (text !== '') this.close(); });
  }

  get isClosed(): boolean { return this.#closed || this.#data.writableEnded; }

  /** Sends one datagram; dropped (as UDP may) when the channel is closed or far behind. */
  send(datagram: Buffer): boolean {
    if (this.isClosed || datagram.length > maxDatagram) return false;
    if (this.#data.writableLength > maxQueuedUdpBytes) return false;
    this.#data.write(encodeDatagram(datagram));
    return true;
  }

  /** Half-closes the data stream; the server answers by ending its side, which closes the pair. */
  close(): void {
    if (this.#data.destroyed || this.#data.writableEnded) return;
    this.#data.end();
    // A server that never answers must not keep the pair around.
    setTimeout(() => this.#data.destroy(), 5000).unref();
  }

  destroy(): void {
    this.#data.destroy();
  }
}

/** One local port to forward. `remotePort` is per session (a Service's pods may name ports differently). */
export interface LocalPortSpec {
  protocol: 'tcp' | 'udp';
  /** 0 picks a free port (on the first address; the others reuse it). */
  localPort: number;
}

export interface LocalForwarderOptions {
  /** Local addresses to listen on, e.g. ['127.0.0.1'] (kubectl's --address). */
  addresses: readonly string[];
  ports: readonly LocalPortSpec[];
  /** kubectl-style progress lines ("Handling connection for 8080"). */
  out: (line: string) => void;
  /** Errors ("an error occurred forwarding 8080 -> 80: ..."). */
  err: (line: string) => void;
  /** How long a new TCP connection waits for a session while reconnecting before it is closed. */
  waitForSessionMs?: number;
  /** A UDP flow (one local sender) with no traffic either way for this long closes its stream pair. */
  udpIdleMs?: number;
}

interface ActiveSession {
  client: PortForwardClient;
  /** Pod-side port for each entry of `ports`, for this session's pod. */
  remotePorts: readonly number[];
}

interface UdpFlow {
  session: ActiveSession;
  channel?: DatagramChannel;
  /** Datagrams that arrived before the stream pair was open. */
  queue: Buffer[];
  lastActive: number;
}

/** A bound local listener, for the "Forwarding from" lines. */
export interface BoundPort {
  address: string;
  localPort: number;
  index: number;
  protocol: 'tcp' | 'udp';
}

/**
 * The local end of `podgate port-forward`: TCP listeners and UDP sockets on the local addresses,
 * each connection or UDP sender carried over whatever session is current. The listeners outlive
 * sessions, so a forward survives the pod being replaced: while there is no session, new TCP
 * connections wait (up to waitForSessionMs) and UDP datagrams are dropped.
 */
export class LocalForwarder {
  #o: LocalForwarderOptions;
  #servers: net.Server[] = [];
  #udpSockets: UdpSocket[] = [];
  #session: ActiveSession | undefined;
  #waiters = new Set<() => void>();
  #flows = new Map<string, UdpFlow>();
  #sweep: NodeJS.Timeout | undefined;
  #closed = false;
  #boundPorts: number[] = [];

  constructor(options: LocalForwarderOptions) {
    this.#o = options;
  }

  /** Opens every listener; rejects (after closing those already open) if one cannot be bound. */
  async listen(): Promise<BoundPort[]> {
    const bound: BoundPort[] = [];
    try {
      for (const [index, spec] of this.#o.ports.entries()) {
        let port = spec.localPort;
        const failures: string[] = [];
        for (const address of this.#o.addresses) {
          try {
            port = spec.protocol === 'tcp' ? await this.#listenTcp(address, port, index) : await this.#bindUdp(address, port, index);
            bound.push({ address, localPort: port, index, protocol: spec.protocol });
          } catch (err) {
            failures.push((err as Error).message);
          }
        }
        // Like kubectl: one address failing (no IPv6 for `localhost`) is a warning, all failing an error.
        if (failures.length === this.#o.addresses.length) throw new Error(failures.join('; '));
        for (const f of failures) this.#o.err(`Unable to listen: ${f}`);
        this.#boundPorts[index] = port;
      }
    } catch (err) {
      this.close();
      throw err;
    }
    const idle = this.#o.udpIdleMs ?? 60_000;
    if (this.#o.ports.some((p) => p.protocol === 'udp')) {
      this.#sweep = setInterval(() => this.#sweepFlows(idle), Math.max(50, Math.min(idle / 2, 5000)));
      this.#sweep.unref();
    }
    return bound;
  }

  /** The local port actually bound for each entry of `ports`. */
  get boundPorts(): readonly number[] { return this.#boundPorts; }

  #listenTcp(address: string, port: number, index: number): Promise<number> {
    const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (conn) => this.#onConnection(conn, index));
    this.#servers.push(server);
    return new Promise((resolve, reject) => {
      server.once('error', (err) => reject(new Error(`unable to listen on port ${port} (${address}): ${err.message}`)));
      server.listen({ host: address, port }, () => {
        server.removeAllListeners('error');
        server.on('error', (err) => this.#o.err(`error: listener ${address}:${port}: ${err.message}`));
        resolve((server.address() as net.AddressInfo).port);
      });
    });
  }

  #bindUdp(address: string, port: number, index: number): Promise<number> {
    const socket = createSocket({ type: net.isIPv6(address) ? 'udp6' : 'udp4' });
    this.#udpSockets.push(socket);
    return new Promise((resolve, reject) => {
      socket.once('error', (err) => reject(new Error(`unable to listen on port ${port}/udp (${address}): ${err.message}`)));
      socket.bind(port, address, () => {
        socket.removeAllListeners('error');
        socket.on('error', (err) => this.#o.err(`error: udp ${address}:${port}: ${err.message}`));
        socket.on('message', (msg, rinfo) => this.#onDatagram(socket, index, msg, rinfo));
        resolve(socket.address().port);
      });
    });
  }

  /** Makes `client` the session new connections and UDP flows use (undefined: reconnecting). */
  setSession(client: PortForwardClient | undefined, remotePorts: readonly number[] = []): void {
    this.#session = client ? { client, remotePorts } : undefined;
    // UDP flows belong to the session they were opened on; the next datagram opens a new one.
    for (const [key, flow] of this.#flows) {
      if (flow.session.client !== client) {
        flow.channel?.destroy();
        this.#flows.delete(key);
      }
    }
    if (this.#session) {
      for (const w of this.#waiters) w();
      this.#waiters.clear();
    }
  }

  #waitForSession(): Promise<ActiveSession | undefined> {
    if (this.#session || this.#closed) return Promise.resolve(this.#session);
    return new Promise((resolve) => {
      const waiter = () => { clearTimeout(timer); this.#waiters.delete(waiter); resolve(this.#session); };
      const timer = setTimeout(waiter, this.#o.waitForSessionMs ?? 10_000);
      this.#waiters.add(waiter);
    });
  }

  #onConnection(conn: net.Socket, index: number): void {
    const localPort = this.#boundPorts[index] ?? 0;
    this.#o.out(`Handling connection for ${localPort}`);
    conn.setNoDelay(true);
    conn.on('error', () => {});
    void (async () => {
      const session = await this.#waitForSession();
      if (!session || conn.destroyed) {
        if (!session) this.#o.err(`error: no connection to the pod for ${localPort}; closing the connection`);
        conn.destroy();
        return;
      }
      const remote = session.remotePorts[index] ?? 0;
      // The socket stays paused (pauseOnConnect) until forwardConnection pipes it: no byte is lost.
      const result = await session.client.forwardConnection(remote, conn);
      if (result.error) this.#o.err(`error: an error occurred forwarding ${localPort} -> ${remote}: ${result.error}`);
    })();
  }

  #onDatagram(socket: UdpSocket, index: number, msg: Buffer, rinfo: RemoteInfo): void {
    const session = this.#session;
    if (!session) return; // reconnecting: UDP may lose datagrams, and the sender will retry
    const key = `${index}|${rinfo.address}|${rinfo.port}`;
    let flow = this.#flows.get(key);
    if (flow && (flow.session !== session || flow.channel?.isClosed)) {
      flow.channel?.destroy();
      this.#flows.delete(key);
      flow = undefined;
    }
    const now = performance.now();
    if (flow) {
      flow.lastActive = now;
      if (flow.channel) flow.channel.send(msg);
      else if (flow.queue.length < 64) flow.queue.push(msg);
      return;
    }
    const localPort = this.#boundPorts[index] ?? 0;
    const remote = session.remotePorts[index] ?? 0;
    const created: UdpFlow = { session, queue: [msg], lastActive: now };
    this.#flows.set(key, created);
    this.#o.out(`Handling UDP flow from ${rinfo.address}:${rinfo.port} for ${localPort}`);
    session.client.openDatagramChannel(remote).then((channel) => {
      if (this.#flows.get(key) !== created) { channel.destroy(); return; }
      created.channel = channel;
      channel.on('message', (d: Buffer) => {
        created.lastActive = performance.now();
        socket.send(d, rinfo.port, rinfo.address);
      });
      channel.once('close', () => { if (this.#flows.get(key) === created) this.#flows.delete(key); });
      void channel.failure.then((text) => {
        if (text !== '') this.#o.err(`error: an error occurred forwarding ${localPort}/udp -> ${remote}/udp: ${text}`);
      });
      for (const d of created.queue) channel.send(d);
      created.queue = [];
    }, (err: Error) => {
      if (this.#flows.get(key) === created) this.#flows.delete(key);
      this.#o.err(`error: an error occurred forwarding ${localPort}/udp -> ${remote}/udp: ${err.message}`);
    });
  }

  #sweepFlows(idleMs: number): void {
    const now = performance.now();
    for (const [key, flow] of this.#flows) {
      if (now - flow.lastActive < idleMs) continue;
      this.#flows.delete(key);
      if (flow.channel) flow.channel.close();
    }
  }

  /** Open UDP flows (local senders with a stream pair), for tests and diagnostics. */
  get udpFlowCount(): number { return this.#flows.size; }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#sweep) clearInterval(this.#sweep);
    for (const s of this.#servers) s.close();
    for (const s of this.#udpSockets) { try { s.close(); } catch { /* never bound */ } }
    for (const f of this.#flows.values()) f.channel?.destroy();
    this.#flows.clear();
    for (const w of this.#waiters) w();
    this.#waiters.clear();
  }
}
