// The sockets of the cluster DNS: UDP and TCP on one address and port (53). A thin edge: every
// message goes to `handle`, and what it returns is sent back (TCP: length-prefixed, RFC 1035
// 4.2.2, several queries per connection, answered as they complete, RFC 7766). A failing handler or
// a socket error is logged, never fatal.
import { createSocket, type Socket } from 'node:dgram';
import { createServer, isIPv6, type Server, type Socket as TcpSocket } from 'node:net';
import type { Transport } from './forwarder.ts';

export interface DnsServerOptions {
  readonly address: string;
  /** 53; 0 picks a free port (the same one for UDP and TCP). */
  readonly port: number;
  readonly handle: (msg: Buffer, transport: Transport) => Promise<Buffer | undefined>;
  /** A TCP connection with no complete query for this long is closed (CoreDNS: 10 s idle). */
  readonly tcpIdleMs?: number;
  readonly maxTcpConnections?: number;
  readonly log?: (m: string) => void;
}

export class DnsServer {
  readonly #o: DnsServerOptions;
  readonly #log: (m: string) => void;
  #udp: Socket | undefined;
  #tcp: Server | undefined;
  readonly #conns = new Set<TcpSocket>();
  #port = 0;

  constructor(o: DnsServerOptions) {
    this.#o = o;
    this.#log = o.log ?? (() => {});
  }

  /** The port both sockets are bound to. */
  get port(): number {
    return this.#port;
  }

  get address(): string {
    return this.#o.address;
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
    for (const c of this.#conns) c.destroy();
    await Promise.all([
      udp ? new Promise<void>((r) => udp.close(() => r())) : undefined,
      tcp ? new Promise<void>((r) => tcp.close(() => r())) : undefined,
    ]);
  }

  #onConnection(c: TcpSocket): void {
    this.#conns.add(c);
    c.setTimeout(this.#o.tcpIdleMs ?? 10_000, () => c.destroy());
    c.on('error', () => c.destroy());
    c.on('close', () => this.#conns.delete(c));
    let buf: Buffer = Buffer.alloc(0);
    c.on('data', (chunk: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      while (buf.length >= 2) {
        const n = buf.readUInt16BE(0);
        if (buf.length < 2 + n) break;
        const msg = Buffer.from(buf.subarray(2, 2 + n));
        buf = buf.subarray(2 + n);
        void this.#o.handle(msg, 'tcp').then((reply) => {
          if (!reply || c.destroyed) return;
          const len = Buffer.alloc(2);
          len.writeUInt16BE(reply.length, 0);
          c.write(Buffer.concat([len, reply]));
        }, (err: unknown) => this.#log(`dns: ${String(err)}`));
      }
    });
  }
}
