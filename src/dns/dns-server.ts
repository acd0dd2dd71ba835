// The sockets of the cluster DNS: UDP and TCP on one address and port (53). A thin edge: every
// message goes to `handle`, and what it returns is sent back (TCP: length-prefixed, RFC 1035
// 4.2.2, several queries per connection, answered as they complete, RFC 7766). A failing handler or
// a socket error is logged, never fatal.
//
// A TCP client is a pod, so it must not be able to make the node agent hold much for it: a
// connection has at most `maxTcpInFlight` queries being answered and reading stops (the socket is
// paused, so TCP flow control pushes back on the client) while it has that many or while more than
// `maxTcpWriteBuffer` bytes of answers wait for a client that does not read. As CoreDNS's server
// (core/dnsserver/server.go: ReadTimeout 3 s, IdleTimeout 10 s, WriteTimeout 5 s), a message must
// arrive whole within a deadline counted from its first byte (trickling bytes does not extend it),
// a connection without a query is closed after the idle time, and one whose answers the client does
// not take within the write timeout is closed. One source address holds at most
// `maxTcpConnectionsPerSource` connections at once.
import { createSocket, type Socket } from 'node:dgram';
import { createServer, isIPv6, type Server, type Socket as TcpSocket } from 'node:net';
import type { Transport } from './forwarder.ts';

/** The timer seam: tests drive the TCP deadlines with a fake clock. */
export interface DnsServerTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface DnsServerOptions {
  readonly address: string;
  /** 53; 0 picks a free port (the same one for UDP and TCP). */
  readonly port: number;
  readonly handle: (msg: Buffer, transport: Transport) => Promise<Buffer | undefined>;
  /** A TCP connection with nothing to do (no query arriving, none being answered) is closed after this long (CoreDNS: 10 s). */
  readonly tcpIdleMs?: number;
  /** A TCP message must have arrived whole this long after its first byte (CoreDNS's ReadTimeout: 3 s). */
  readonly tcpReadMs?: number;
  /** Answers must leave the write buffer this long after it went over maxTcpWriteBuffer (CoreDNS's WriteTimeout: 5 s). */
  readonly tcpWriteMs?: number;
  /** Queries of one TCP connection being answered at once (default 16). */
  readonly maxTcpInFlight?: number;
  /** Reading a TCP connection stops while more bytes than this wait to be sent on it (default 64 KiB). */
  readonly maxTcpWriteBuffer?: number;
  readonly maxTcpConnections?: number;
  /** Concurrent TCP connections from one source address (default 32). */
  readonly maxTcpConnectionsPerSource?: number;
  readonly timers?: DnsServerTimers;
  readonly log?: (m: string) => void;
}

const REAL_TIMERS: DnsServerTimers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** The state of one TCP connection that the server's accounting looks at. */
interface TcpConnection {
  readonly socket: TcpSocket;
  /** Received bytes not yet made into queries (at most one read chunk and one partial message). */
  pending: Buffer;
}

export class DnsServer {
  readonly #o: DnsServerOptions;
  readonly #log: (m: string) => void;
  readonly #timers: DnsServerTimers;
  #udp: Socket | undefined;
  #tcp: Server | undefined;
  readonly #conns = new Set<TcpConnection>();
  readonly #perSource = new Map<string, number>();
  #port = 0;

  constructor(o: DnsServerOptions) {
    this.#o = o;
    this.#log = o.log ?? (() => {});
    this.#timers = o.timers ?? REAL_TIMERS;
  }

  /** The port both sockets are bound to. */
  get port(): number {
    return this.#port;
  }

  get address(): string {
    return this.#o.address;
  }

  /** What the open TCP connections hold in memory: answers not yet sent and bytes not yet parsed. */
  get tcpBufferedBytes(): number {
    let n = 0;
    for (const c of this.#conns) n += c.socket.writableLength + c.pending.length;
    return n;
  }

  /** Open TCP connections. */
  get tcpConnections(): number {
    return this.#conns.size;
  }

  /** Binds TCP, then UDP on the same port; rejects (binding nothing) when either is taken. */
  async listen(): Promise<void> {
    const tcp = createServer({ pauseOnConnect: false }, (c) => this.#onConnection(c));
    tcp.maxConnections = this.#o.maxTcpConnections ?? 1000;
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen({ host: this.#o.address, port: this.#o.port, exclusive: true }, () => { tcp.off('error', reject); resolve(); });
    });
    tcp.on('error', (err) => this.#log(`dns: tcp: ${err.message}`));
    const port = (tcp.address() as { port: number }).port;
    const udp = createSocket({ type: isIPv6(this.#o.address) ? 'udp6' : 'udp4' });
    try {
      await new Promise<void>((resolve, reject) => {
        udp.once('error', reject);
        udp.bind({ address: this.#o.address, port, exclusive: true }, () => { udp.off('error', reject); resolve(); });
      });
    } catch (err) {
      await new Promise<void>((r) => tcp.close(() => r()));
      throw err;
    }
    udp.on('error', (err) => this.#log(`dns: udp: ${err.message}`));
    udp.on('message', (msg, rinfo) => {
      void this.#o.handle(msg, 'udp').then((reply) => {
        if (reply && this.#udp) udp.send(reply, rinfo.port, rinfo.address, (err) => { if (err) this.#log(`dns: udp send to ${rinfo.address}: ${err.message}`); });
      }, (err: unknown) => this.#log(`dns: ${String(err)}`));
    });
    this.#udp = udp;
    this.#tcp = tcp;
    this.#port = port;
  }

  async close(): Promise<void> {
    const udp = this.#udp;
    const tcp = this.#tcp;
    this.#udp = undefined;
    this.#tcp = undefined;
    for (const c of this.#conns) c.socket.destroy();
    await Promise.all([
      udp ? new Promise<void>((r) => udp.close(() => r())) : undefined,
      tcp ? new Promise<void>((r) => tcp.close(() => r())) : undefined,
    ]);
  }

  #onConnection(c: TcpSocket): void {
    const source = c.remoteAddress ?? '';
    const fromSource = this.#perSource.get(source) ?? 0;
    if (fromSource >= (this.#o.maxTcpConnectionsPerSource ?? 32)) {
      c.destroy();
      return;
    }
    this.#perSource.set(source, fromSource + 1);
    const conn: TcpConnection = { socket: c, pending: Buffer.alloc(0) };
    this.#conns.add(conn);
    const maxInFlight = this.#o.maxTcpInFlight ?? 16;
    const maxWriteBuffer = this.#o.maxTcpWriteBuffer ?? 64 * 1024;
    const t = this.#timers;
    let inFlight = 0;
    // One deadline at a time: idle (nothing to do), read (a message partly received) or write (answers not taken).
    let timer: unknown;
    let timerKind: 'idle' | 'read' | 'write' | undefined;
    const disarm = () => {
      if (timerKind !== undefined) t.clearTimeout(timer);
      timerKind = undefined;
    };
    const arm = (kind: 'idle' | 'read' | 'write', ms: number) => {
      // A running deadline is not restarted: more bytes of the same message do not extend it.
      if (timerKind === kind) return;
      disarm();
      timerKind = kind;
      timer = t.setTimeout(() => { timerKind = undefined; c.destroy(); }, ms);
    };
    const isWriteBlocked = () => c.writableLength > maxWriteBuffer;
    const hasWholeMessage = () => conn.pending.length >= 2 && conn.pending.length >= 2 + conn.pending.readUInt16BE(0);
    const update = () => {
      if (c.destroyed) return;
      // Flow control: read no more than can be started now.
      const full = inFlight >= maxInFlight || isWriteBlocked();
      if (full) c.pause();
      else if (c.isPaused()) c.resume();
      if (isWriteBlocked()) arm('write', this.#o.tcpWriteMs ?? 5000);
      // Not reading (our answers are due): the rest of a partial message cannot come in.
      else if (full || hasWholeMessage()) disarm();
      else if (conn.pending.length > 0) arm('read', this.#o.tcpReadMs ?? 3000);
      else if (inFlight > 0) disarm();
      else arm('idle', this.#o.tcpIdleMs ?? 10_000);
    };
    const pump = () => {
      while (!c.destroyed && inFlight < maxInFlight && !isWriteBlocked() && hasWholeMessage()) {
        const n = conn.pending.readUInt16BE(0);
        const msg = Buffer.from(conn.pending.subarray(2, 2 + n));
        conn.pending = conn.pending.subarray(2 + n);
        if (timerKind === 'read') disarm();
        inFlight++;
        void this.#o.handle(msg, 'tcp').then((reply) => {
          if (!reply || c.destroyed) return;
          const len = Buffer.alloc(2);
          len.writeUInt16BE(reply.length, 0);
          c.write(Buffer.concat([len, reply]));
        }, (err: unknown) => this.#log(`dns: ${String(err)}`)).finally(() => {
          inFlight--;
          pump();
        });
      }
      // Keep the memory of a fully consumed chunk from being held by the slice.
      if (conn.pending.length === 0) conn.pending = Buffer.alloc(0);
      update();
    };
    c.on('error', () => c.destroy());
    c.on('close', () => {
      disarm();
      this.#conns.delete(conn);
      const left = (this.#perSource.get(source) ?? 1) - 1;
      if (left > 0) this.#perSource.set(source, left);
      else this.#perSource.delete(source);
    });
    c.on('drain', () => {
      if (timerKind === 'write') disarm();
      pump();
    });
    c.on('data', (chunk: Buffer) => {
      conn.pending = conn.pending.length ? Buffer.concat([conn.pending, chunk]) : chunk;
      pump();
    });
    update();
  }
}
