// TCP and UDP services from ingress-nginx's tcp-services / udp-services ConfigMaps: one listener
// per configured port, round robin over the Service's ready endpoints, the next endpoint tried when
// a TCP connect fails. Bytes are passed through untouched, but for the PROXY protocol headers a TCP
// entry's `:PROXY` suffixes ask for: one read from the client, one sent to the backend.
import dgram from 'node:dgram';
import net from 'node:net';
import { LiveList } from '../util/live-list.ts';
import { formatProxyV1, parseProxyHeader } from './proxy-protocol.ts';
import type { StreamService } from './route-table.ts';
import { BackendPool } from './router.ts';

const UDP_SESSION_IDLE_MS = 60_000;
/**
 * How long a client has to send its PROXY protocol header: nginx's proxy_protocol_timeout default
 * (ngx_stream_core_module.c), which ingress-nginx's template leaves as it is.
 */
const PROXY_HEADER_TIMEOUT_MS = 30_000;

interface ProxyProtocol { decode: boolean; send: boolean }
interface TcpEntry { server: net.Server; pool: BackendPool; key: string; proxyProtocol: ProxyProtocol }
interface UdpSession { up: dgram.Socket; timer: NodeJS.Timeout; endpoint: { address: string; port: number } }
interface UdpEntry { socket: dgram.Socket; pool: BackendPool; key: string; sessions: Map<string, UdpSession> }

export class StreamProxy {
  readonly #bind: string | undefined;
  readonly #tcp = new Map<number, TcpEntry>();
  readonly #udp = new Map<number, UdpEntry>();
  readonly #log: (m: string) => void;
  readonly #sockets = new LiveList<net.Socket>();

  /** How long a client has for its whole PROXY protocol header. */
  readonly #headerTimeoutMs: number;

  constructor(opts: { bindAddress?: string; log?: (m: string) => void; proxyHeaderTimeoutMs?: number }) {
    this.#headerTimeoutMs = opts.proxyHeaderTimeoutMs ?? PROXY_HEADER_TIMEOUT_MS;
    this.#bind = opts.bindAddress;
    this.#log = opts.log ?? (() => {});
  }

  /** Opens, updates and closes listeners to match `streams`. */
  async update(streams: readonly StreamService[]): Promise<void> {
    const wantTcp = new Map(streams.filter((s) => s.protocol === 'TCP').map((s) => [s.port, s]));
    const wantUdp = new Map(streams.filter((s) => s.protocol === 'UDP').map((s) => [s.port, s]));
    for (const [port, e] of this.#tcp) if (!wantTcp.has(port)) { e.server.close(); this.#tcp.delete(port); }
    for (const [port, e] of this.#udp) if (!wantUdp.has(port)) { this.#closeUdp(e); this.#udp.delete(port); }
    for (const [port, s] of wantTcp) {
      const key = JSON.stringify(s.backend);
      const cur = this.#tcp.get(port);
      const proxyProtocol = { decode: s.decodeProxyProtocol === true, send: s.sendProxyProtocol === true };
      if (cur) {
        cur.proxyProtocol = proxyProtocol;
        if (cur.key !== key) { cur.pool = new BackendPool(s.backend); cur.key = key; }
        continue;
      }
      const entry: TcpEntry = { server: net.createServer((c) => this.#onTcp(entry, c)), pool: new BackendPool(s.backend), key, proxyProtocol };
      this.#tcp.set(port, entry);
      await new Promise<void>((resolve) => {
        entry.server.once('error', (err) => { this.#log(`tcp-services: cannot listen on ${port}: ${err.message}`); this.#tcp.delete(port); resolve(); });
        entry.server.listen(port, this.#bind, () => resolve());
      });
    }
    for (const [port, s] of wantUdp) {
      const key = JSON.stringify(s.backend);
      const cur = this.#udp.get(port);
      if (cur) {
        if (cur.key !== key) {
          cur.pool = new BackendPool(s.backend);
          cur.key = key;
          // A client's session on an endpoint that is gone ends: its next datagram is balanced
          // over the endpoints there are now, never sent on to a removed pod.
          const live = new Set(cur.pool.endpoints.map((e) => `${e.address}|${e.port}`));
          for (const [k, session] of cur.sessions) {
            if (live.has(`${session.endpoint.address}|${session.endpoint.port}`)) continue;
            clearTimeout(session.timer);
            session.up.close();
            cur.sessions.delete(k);
          }
        }
        continue;
      }
      const socket = dgram.createSocket(this.#bind && net.isIPv6(this.#bind) ? 'udp6' : 'udp4');
      const entry: UdpEntry = { socket, pool: new BackendPool(s.backend), key, sessions: new Map() };
      socket.on('message', (msg, rinfo) => this.#onUdp(entry, msg, rinfo));
      this.#udp.set(port, entry);
      await new Promise<void>((resolve) => {
        socket.once('error', (err) => { this.#log(`udp-services: cannot bind ${port}: ${err.message}`); this.#udp.delete(port); resolve(); });
        socket.bind(port, this.#bind, () => resolve());
      });
    }
  }

  /** Bound TCP ports (for tests). */
  tcpPort(port: number): number | undefined {
    const a = this.#tcp.get(port)?.server.address();
    return a && typeof a === 'object' ? a.port : undefined;
  }

  async close(): Promise<void> {
    for (const e of this.#tcp.values()) e.server.close();
    for (const s of this.#sockets.values()) s.destroy();
    for (const e of this.#udp.values()) this.#closeUdp(e);
    this.#tcp.clear();
    this.#udp.clear();
  }

  #onTcp(entry: TcpEntry, client: net.Socket): void {
    const clientEntry = this.#sockets.add(client);
    client.on('close', () => this.#sockets.remove(clientEntry));
    client.on('error', () => {});
    client.pause();
    // A connection keeps the PROXY protocol settings it was accepted with.
    const { decode, send } = entry.proxyProtocol;
    // As nginx, no upstream is picked before the header is in: a client without one never reaches a backend.
    if (decode) readProxyHeader(client, this.#headerTimeoutMs, () => this.#connectUpstream(entry, client, send));
    else this.#connectUpstream(entry, client, send);
  }

  /** Connects `client` (paused) to the next endpoint that accepts, and starts passing bytes both ways. */
  #connectUpstream(entry: TcpEntry, client: net.Socket, sendProxyProtocol: boolean): void {
    const tried = new Set<string>();
    const tryNext = () => {
      const ep = entry.pool.next();
      if (!ep || tried.has(`${ep.address}:${ep.port}`) || tried.size >= 3) { client.destroy(); return; }
      tried.add(`${ep.address}:${ep.port}`);
      const up = net.connect({ host: ep.address, port: ep.port, noDelay: true });
      const upEntry = this.#sockets.add(up);
      up.on('close', () => this.#sockets.remove(upEntry));
      let connected = false;
      up.setTimeout(5000, () => up.destroy(new Error('connect timeout')));
      up.once('connect', () => {
        connected = true;
        up.setTimeout(0);
        if (sendProxyProtocol) up.write(proxyHeaderFor(client));
        client.pipe(up);
        up.pipe(client);
        client.resume();
      });
      up.on('error', () => { if (!connected) tryNext(); else client.destroy(); });
      client.on('close', () => up.destroy());
      up.on('close', () => { if (connected) client.destroy(); });
    };
    tryNext();
  }

  #onUdp(entry: UdpEntry, msg: Buffer, rinfo: dgram.RemoteInfo): void {
    const k = `${rinfo.address}|${rinfo.port}`;
    let s = entry.sessions.get(k);
    if (!s) {
      const ep = entry.pool.next();
      if (!ep) return;
      const up = dgram.createSocket(net.isIPv6(ep.address) ? 'udp6' : 'udp4');
      up.on('error', () => {});
      // Replies are activity too (nginx's proxy_timeout counts both ways).
      up.on('message', (reply) => { this.#touch(entry, k); entry.socket.send(reply, rinfo.port, rinfo.address); });
      up.connect(ep.port, ep.address);
      const session: UdpSession = { up, timer: setTimeout(() => {}, 0), endpoint: { address: ep.address, port: ep.port } };
      entry.sessions.set(k, session);
      s = session;
      const pending = msg;
      up.once('connect', () => up.send(pending));
      this.#touch(entry, k);
      return;
    }
    this.#touch(entry, k);
    s.up.send(msg);
  }

  #touch(entry: UdpEntry, k: string): void {
    const s = entry.sessions.get(k);
    if (!s) return;
    clearTimeout(s.timer);
    s.timer = setTimeout(() => { s.up.close(); entry.sessions.delete(k); }, UDP_SESSION_IDLE_MS);
    s.timer.unref();
  }

  #closeUdp(e: UdpEntry): void {
    for (const s of e.sessions.values()) { clearTimeout(s.timer); s.up.close(); }
    e.sessions.clear();
    e.socket.close();
  }
}

/**
 * Reads the PROXY protocol header a decoding listener expects first, then calls `done` with the
 * client paused and the bytes after the header put back, to be forwarded first. A connection that
 * starts with anything else, sends a malformed or oversized header, ends, or takes too long is
 * closed, as nginx closes it (ngx_stream_proxy_protocol_handler). The header may come in any number
 * of chunks, which the PROXY protocol specification allows a receiver to wait for; nginx parses only
 * its first read. The parser bounds what is kept meanwhile.
 */
function readProxyHeader(client: net.Socket, timeoutMs: number, done: () => void): void {
  let received: Buffer = Buffer.alloc(0);
  // One deadline for the whole header, as nginx's proxy_protocol_timeout: bytes trickling in do
  // not extend it (an idle timer would let a client hold the connection for as long as it drips).
  const deadline = setTimeout(() => onGone(), timeoutMs);
  const stop = () => {
    client.off('data', onData);
    client.off('end', onGone);
    clearTimeout(deadline);
  };
  const onGone = () => { stop(); client.destroy(); };
  const onData = (chunk: Buffer) => {
    received = received.length === 0 ? chunk : Buffer.concat([received, chunk]);
    const header = parseProxyHeader(received);
    if (header.kind === 'incomplete') return;
    if (header.kind === 'invalid') { onGone(); return; }
    stop();
    client.pause();
    if (received.length > header.length) client.unshift(received.subarray(header.length));
    done();
  };
  client.on('data', onData);
  client.once('end', onGone);
  client.once('close', () => clearTimeout(deadline));
  client.resume();
}

/**
 * The v1 line `proxy_protocol on` makes nginx send: the address and port the connection comes from
 * and the listener's own (ngx_proxy_protocol_write takes c->sockaddr and c->local_sockaddr). With
 * decoding on, it is still the connection's peer, not the address its header gave: only nginx's
 * realip module puts that one in c->sockaddr, and ingress-nginx configures it for streams only with
 * `enable-real-ip` (off by default), which podgate does not have.
 */
function proxyHeaderFor(client: net.Socket): string {
  return formatProxyV1({ address: client.remoteAddress, port: client.remotePort }, { address: client.localAddress, port: client.localPort });
}
