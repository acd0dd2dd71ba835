// Keep-alive connections to endpoints, one idle stack per endpoint and protocol (LIFO, so the
// warmest socket is reused and surplus ones time out), as nginx's upstream keepalive does.
// A socket has one owner at a time; its event handlers are bound once and dispatch to the owner,
// so reusing a socket costs no listener churn.
import net from 'node:net';
import tls from 'node:tls';
import { LiveList, type LiveEntry } from '../util/live-list.ts';
import { StreamConn, type Conn, type ConnHandler } from './conn.ts';
import { rawTcp } from './raw-conn.ts';
import type { Endpoint } from './route-table.ts';

export interface UpstreamOwner {
  onUpstreamConnect(up: UpstreamSocket): void;
  /** `chunk` may be a view of a buffer reused by the next read (Conn.transientReads): copy what must outlive the call. */
  onUpstreamData(up: UpstreamSocket, chunk: Buffer): void;
  /** Whether a write made during the last onUpstreamData may still point into its chunk. */
  holdsChunk(): boolean;
  /** The upstream closed (or failed); `err` set when it failed. */
  onUpstreamClose(up: UpstreamSocket, err: Error | undefined): void;
  onUpstreamTimeout(up: UpstreamSocket): void;
  onUpstreamDrain(up: UpstreamSocket): void;
}

/**
 * Network seam: how sockets to endpoints are opened when not the default way (tests, auth-url
 * subrequests). Plain TCP to endpoints goes through raw handles (raw-conn.ts) unless a connector is given.
 */
export type Connector = (ep: Endpoint, protocol: 'HTTP' | 'HTTPS') => net.Socket;

export const defaultConnector: Connector = (ep, protocol) => {
  if (protocol === 'HTTPS') {
    // ingress-nginx does not verify upstream certificates unless proxy-ssl-verify is on, and sends no SNI by default.
    return tls.connect({ host: ep.address, port: ep.port, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] });
  }
  return net.connect({ host: ep.address, port: ep.port, noDelay: true });
};

export class UpstreamSocket implements ConnHandler {
  readonly conn: Conn;
  readonly key: string;
  readonly endpoint: Endpoint;
  owner: UpstreamOwner | undefined;
  /** Requests this socket has carried (0 = fresh). */
  uses = 0;
  /** Its place in the pool's list of every socket. */
  entry: LiveEntry<UpstreamSocket> | undefined;
  readonly #pool: UpstreamPool;

  constructor(pool: UpstreamPool, key: string, endpoint: Endpoint, conn: Conn) {
    this.#pool = pool;
    this.key = key;
    this.endpoint = endpoint;
    this.conn = conn;
    conn.setHandler(this);
  }

  get connected(): boolean { return this.conn.connected; }
  get usable(): boolean { return this.conn.usable; }
  setTimeout(ms: number): void { this.conn.setTimeout(ms); }

  onConnect(): void { this.owner?.onUpstreamConnect(this); }
  /** Who got the last chunk: it may have released this socket since, with its write still pending. */
  #reader: UpstreamOwner | undefined;

  onData(chunk: Buffer): void {
    const owner = this.owner;
    if (!owner) { this.conn.destroy(); return; } // an idle keep-alive connection must not talk
    this.#reader = owner;
    owner.onUpstreamData(this, chunk);
  }
  // A response framed by the end of the connection is complete now; the owner sees it as the close.
  onEnd(): void { this.conn.destroy(); }
  onTimeout(): void {
    if (this.owner) this.owner.onUpstreamTimeout(this);
    else this.conn.destroy();
  }
  onDrain(): void { this.owner?.onUpstreamDrain(this); }
  holdsChunk(): boolean {
    const r = this.#reader;
    this.#reader = undefined;
    return r?.holdsChunk() ?? false;
  }
  onClose(err: Error | undefined): void {
    this.#pool.forget(this);
    const o = this.owner;
    this.owner = undefined;
    o?.onUpstreamClose(this, err);
  }
}

export interface UpstreamPoolOptions {
  connector?: Connector;
  /** Idle connections kept per endpoint (ingress-nginx: upstream-keepalive-connections 320 per worker). */
  maxIdlePerEndpoint?: number;
  /** ingress-nginx: upstream-keepalive-timeout 60 s. */
  idleTimeoutMs?: number;
  /** ingress-nginx: upstream-keepalive-requests 10000. */
  maxRequestsPerConnection?: number;
}

/**
 * Pool keys per endpoint object, made once: a route table's endpoints live as long as it does, and
 * a key built per request would be a new string to hash on every lookup.
 */
const poolKeys = { HTTP: new WeakMap<Endpoint, string>(), HTTPS: new WeakMap<Endpoint, string>() };
function poolKey(ep: Endpoint, protocol: 'HTTP' | 'HTTPS'): string {
  let key = poolKeys[protocol].get(ep);
  if (key === undefined) poolKeys[protocol].set(ep, (key = `${protocol}|${ep.address}|${ep.port}`));
  return key;
}

export class UpstreamPool {
  readonly #idle = new Map<string, UpstreamSocket[]>();
  readonly #connector: Connector | undefined;
  readonly #maxIdle: number;
  readonly #idleTimeoutMs: number;
  readonly #maxRequests: number;
  readonly #all = new LiveList<UpstreamSocket>();

  constructor(opts: UpstreamPoolOptions = {}) {
    this.#connector = opts.connector;
    this.#maxIdle = opts.maxIdlePerEndpoint ?? 128;
    this.#idleTimeoutMs = opts.idleTimeoutMs ?? 60_000;
    this.#maxRequests = opts.maxRequestsPerConnection ?? 10_000;
  }

  /** A new socket to `ep` through the connector, outside the pool (auth-url subrequests). */
  connect(ep: Endpoint, protocol: 'HTTP' | 'HTTPS'): net.Socket {
    return (this.#connector ?? defaultConnector)(ep, protocol);
  }

  #open(ep: Endpoint, protocol: 'HTTP' | 'HTTPS'): Conn {
    // Raw handles take IP addresses; a name (an ExternalName Service) is resolved by node:net.
    if (!this.#connector && protocol === 'HTTP' && rawTcp && net.isIP(ep.address)) return rawTcp.connect(ep.address, ep.port);
    return new StreamConn(this.connect(ep, protocol), protocol === 'HTTPS' ? 'secureConnect' : 'connect');
  }

  /** An idle socket to `ep` or a new, connecting one; `owner` receives its events from now on. */
  acquire(ep: Endpoint, protocol: 'HTTP' | 'HTTPS', owner: UpstreamOwner, connectTimeoutMs: number): UpstreamSocket {
    const key = poolKey(ep, protocol);
    const stack = this.#idle.get(key);
    while (stack && stack.length) {
      const up = stack.pop()!;
      if (!up.usable) continue;
      up.owner = owner;
      up.uses++;
      return up;
    }
    const up = new UpstreamSocket(this, key, ep, this.#open(ep, protocol));
    up.entry = this.#all.add(up);
    up.owner = owner;
    up.uses = 1;
    up.setTimeout(connectTimeoutMs);
    return up;
  }

    /** Returns a socket whose last response ended cleanly; closes it when the pool is full. */
  release(up: UpstreamSocket): void {
    up.owner = undefined;
    if (!up.usable || up.uses >= this.#maxRequests) { up.conn.destroy(); return; }
    let stack = this.#idle.get(up.key);
    if (!stack) this.#idle.set(up.key, (stack = []));
    if (stack.length >= this.#maxIdle) { up.conn.destroy(); return; }
    up.setTimeout(this.#idleTimeoutMs);
    if (up.conn.paused) up.conn.resume();
    stack.push(up);
  }

  forget(up: UpstreamSocket): void {
    if (up.entry) this.#all.remove(up.entry);
    const stack = this.#idle.get(up.key);
    if (!stack) return;
    const i = stack.indexOf(up);
    if (i >= 0) stack.splice(i, 1);
    if (stack.length === 0) this.#idle.delete(up.key);
  }

  /** Idle sockets per "protocol|address|port" (for tests and metrics). */
  idleCount(): number {
    let n = 0;
    for (const s of this.#idle.values()) n += s.length;
    return n;
  }

  destroy(): void {
    for (const up of this.#all.values()) up.conn.destroy();
    this.#idle.clear();
  }
}
