// Keep-alive connections to endpoints, one idle stack per endpoint and protocol (LIFO, so the
// warmest socket is reused and surplus ones time out), as nginx's upstream keepalive does.
// A socket has one owner at a time; its event handlers are bound once and dispatch to the owner,
// so reusing a socket costs no listener churn.
import net from 'node:net';
import tls from 'node:tls';
import type { Endpoint } from './route-table.ts';

export interface UpstreamOwner {
  onUpstreamConnect(up: UpstreamSocket): void;
  /** `chunk` may be a view of a buffer reused by the next read: copy what must outlive the call. */
  onUpstreamData(up: UpstreamSocket, chunk: Buffer): void;
  /** Whether a write queued during the last onUpstreamData may still reference its chunk. */
  holdsChunk(): boolean;
  /** The upstream closed (or failed); `err` set when it failed. */
  onUpstreamClose(up: UpstreamSocket, err: Error | undefined): void;
  onUpstreamTimeout(up: UpstreamSocket): void;
  onUpstreamDrain(up: UpstreamSocket): void;
}

/** node:net's `onread`: reads into a buffer we hand out instead of a new Buffer and a 'data' event per read. */
export type OnRead = NonNullable<net.OnReadOpts>;

/**
 * Network seam: how sockets to endpoints are opened. A connector may honour `onread` (plain TCP
 * through node:net does); sockets that do not, deliver 'data' events as usual.
 */
export type Connector = (ep: Endpoint, protocol: 'HTTP' | 'HTTPS', onread?: OnRead) => net.Socket;

export const defaultConnector: Connector = (ep, protocol, onread) => {
  if (protocol === 'HTTPS') {
    // ingress-nginx does not verify upstream certificates unless proxy-ssl-verify is on, and sends no SNI by default.
    return tls.connect({ host: ep.address, port: ep.port, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] });
  }
  return net.connect({ host: ep.address, port: ep.port, noDelay: true, ...(onread ? { onread } : {}) });
};

/** Per upstream socket (nginx's proxy_buffer_size is 4-8 KiB; larger bodies take more reads). */
const READ_BUFFER_BYTES = 32 * 1024;

export class UpstreamSocket {
  readonly socket: net.Socket;
  readonly key: string;
  readonly endpoint: Endpoint;
  owner: UpstreamOwner | undefined;
  connected = false;
  /** Requests this socket has carried (0 = fresh). */
  uses = 0;
  #timeoutMs = 0;
  #readBuffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
  readonly #pool: UpstreamPool;

  constructor(pool: UpstreamPool, key: string, endpoint: Endpoint, connect: (onread: OnRead) => net.Socket) {
    this.#pool = pool;
    this.key = key;
    this.endpoint = endpoint;
    // With onread, chunks are views of this socket's read buffer, valid during onUpstreamData only;
    // node asks for the next buffer right after each callback.
    const socket = connect({ buffer: () => this.#readBuffer, callback: (n, buf) => { this.#onChunk((buf as Buffer).subarray(0, n), true); return true; } });
    this.socket = socket;
    const connectEvent = socket instanceof tls.TLSSocket ? 'secureConnect' : 'connect';
    socket.once(connectEvent, () => { this.connected = true; this.owner?.onUpstreamConnect(this); });
    socket.on('data', (c: Buffer) => this.#onChunk(c, false));
    let failure: Error | undefined;
    socket.on('error', (e) => { failure = e; });
    socket.on('close', () => {
      this.#pool.forget(this);
      const o = this.owner;
      this.owner = undefined;
      o?.onUpstreamClose(this, failure);
    });
    socket.on('end', () => {
      // A response framed by the end of the connection is complete now; let the owner see it as a close.
      if (!this.owner) socket.destroy();
    });
    socket.on('timeout', () => {
      if (this.owner) this.owner.onUpstreamTimeout(this);
      else socket.destroy();
    });
    socket.on('drain', () => this.owner?.onUpstreamDrain(this));
  }

  #onChunk(chunk: Buffer, shared: boolean): void {
    const owner = this.owner;
    if (!owner) { this.socket.destroy(); return; } // an idle keep-alive connection must not talk
    owner.onUpstreamData(this, chunk);
    // A write that did not complete still points into the buffer: the next reads get a new one.
    if (shared && owner.holdsChunk()) this.#readBuffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
  }

  setTimeout(ms: number): void {
    if (ms !== this.#timeoutMs) { this.#timeoutMs = ms; this.socket.setTimeout(ms); }
  }

  get usable(): boolean {
    return !this.socket.destroyed && this.socket.writable && this.socket.readable;
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

export class UpstreamPool {
  readonly #idle = new Map<string, UpstreamSocket[]>();
  readonly #connector: Connector;
  readonly #maxIdle: number;
  readonly #idleTimeoutMs: number;
  readonly #maxRequests: number;
  readonly #all = new Set<UpstreamSocket>();

  constructor(opts: UpstreamPoolOptions = {}) {
    this.#connector = opts.connector ?? defaultConnector;
    this.#maxIdle = opts.maxIdlePerEndpoint ?? 128;
    this.#idleTimeoutMs = opts.idleTimeoutMs ?? 60_000;
    this.#maxRequests = opts.maxRequestsPerConnection ?? 10_000;
  }

  /** A new socket to `ep` through the connector, outside the pool (auth-url subrequests). */
  connect(ep: Endpoint, protocol: 'HTTP' | 'HTTPS'): net.Socket {
    return this.#connector(ep, protocol);
  }

  /** An idle socket to `ep` or a new, connecting one; `owner` receives its events from now on. */
  acquire(ep: Endpoint, protocol: 'HTTP' | 'HTTPS', owner: UpstreamOwner, connectTimeoutMs: number): UpstreamSocket {
    const key = `${protocol}|${ep.address}|${ep.port}`;
    const stack = this.#idle.get(key);
    while (stack && stack.length) {
      const up = stack.pop()!;
      if (!up.usable) continue;
      up.owner = owner;
      up.uses++;
      return up;
    }
    const up = new UpstreamSocket(this, key, ep, (onread) => this.#connector(ep, protocol, onread));
    this.#all.add(up);
    up.owner = owner;
    up.uses = 1;
    up.setTimeout(connectTimeoutMs);
    return up;
  }

    /** Returns a socket whose last response ended cleanly; closes it when the pool is full. */
  release(up: UpstreamSocket): void {
    up.owner = undefined;
    if (!up.usable || up.uses >= this.#maxRequests) { up.socket.destroy(); return; }
    let stack = this.#idle.get(up.key);
    if (!stack) this.#idle.set(up.key, (stack = []));
    if (stack.length >= this.#maxIdle) { up.socket.destroy(); return; }
    up.setTimeout(this.#idleTimeoutMs);
    if (up.socket.isPaused()) up.socket.resume();
    stack.push(up);
  }

  forget(up: UpstreamSocket): void {
    this.#all.delete(up);
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
    for (const up of this.#all) up.socket.destroy();
    this.#all.clear();
    this.#idle.clear();
  }
}
