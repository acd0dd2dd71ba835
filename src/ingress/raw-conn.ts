// The HTTP/1.1 proxy's connections on Node's stream handles themselves: TCP (libuv) for plain
// clients and upstreams, and TLS (node's TLSWrap, after node:tls has done the handshake) for HTTPS
// clients. Reads arrive as one callback into a reused buffer; writes go straight to uv_try_write
// (or to TLS). net.Socket and TLSSocket do the same underneath, but add a Duplex stream per socket
// (a state machine, a 'data' event, a nextTick after every write and a timer refresh on every read
// and write): measured on a bare relay, that layer cost more user CPU per request than the whole
// of nginx's. This file is the only one that touches Node's internal bindings (process.binding,
// what node:net and node:tls are built on); `rawTcp` is undefined when they are missing or
// changed, and callers fall back to node:net / node:tls.
import { Buffer } from 'node:buffer';
import { performance } from 'node:perf_hooks';
import net from 'node:net';
import type tls from 'node:tls';
import { getSystemErrorName } from 'node:util';
import type { Conn, ConnHandler } from './conn.ts';
import { IdleTimer } from './idle-timer.ts';

interface UvHandle {
  onread: (this: UvHandle, ab: ArrayBuffer | undefined) => Buffer | undefined;
  /** The RawConn driving this handle (read by the shared onread). */
  conn?: RawConn | undefined;
  onconnection?: (status: number, client: UvHandle | undefined) => void;
  readonly writeQueueSize: number;
  /** Kept by node:net (and TLS) for the handles it drives. */
  readonly reading?: boolean;
  readStart(): number;
  useUserBuffer(buf: Buffer): void;
  readStop(): number;
  writeBuffer(req: object, buf: Buffer): number;
  writeLatin1String(req: object, s: string): number;
  writev(req: object, chunks: unknown[], allBuffers: boolean): number;
  shutdown(req: object): number;
  close(cb?: () => void): void;
  setNoDelay(on: boolean): number;
  getpeername(out: { address?: string }): number;
  connect(req: object, address: string, port: number): number;
  connect6(req: object, address: string, port: number): number;
}
interface Req { handle?: UvHandle; oncomplete?: (this: Req, status: number) => void; buffer?: unknown; conn?: RawConn | undefined; bytes?: number; [k: string]: unknown }
interface Bindings {
  TCP: new (type: number) => UvHandle;
  TCPConnectWrap: new () => Req;
  WriteWrap: new () => Req;
  ShutdownWrap: new () => Req;
  SOCKET: number;
  state: Int32Array;
  kRead: number;
    kAsync: number;
}

function loadBindings(): Bindings | undefined {
  try {
    const binding = (process as unknown as { binding(name: string): Record<string, unknown> }).binding;
    const tcp = binding('tcp_wrap') as { TCP?: Bindings['TCP']; TCPConnectWrap?: Bindings['TCPConnectWrap']; constants?: { SOCKET?: number } };
    const stream = binding('stream_wrap') as Record<string, unknown>;
    const b = {
      TCP: tcp.TCP!, TCPConnectWrap: tcp.TCPConnectWrap!, SOCKET: tcp.constants!.SOCKET!,
      WriteWrap: stream.WriteWrap as Bindings['WriteWrap'], ShutdownWrap: stream.ShutdownWrap as Bindings['ShutdownWrap'],
      state: stream.streamBaseState as Int32Array, kRead: stream.kReadBytesOrError as number,
      kAsync: stream.kLastWriteWasAsync as number,
    };
    const proto = b.TCP?.prototype as Partial<UvHandle> | undefined;
    const ok = typeof b.TCP === 'function' && typeof b.TCPConnectWrap === 'function' && typeof b.WriteWrap === 'function' &&
      typeof b.ShutdownWrap === 'function' && b.state instanceof Int32Array && [b.kRead, b.kAsync, b.SOCKET].every((k) => typeof k === 'number') &&
      ['readStart', 'readStop', 'useUserBuffer', 'writeBuffer', 'writeLatin1String', 'writev', 'shutdown', 'close', 'setNoDelay', 'getpeername', 'connect', 'connect6'].every((m) => typeof (proto as Record<string, unknown>)?.[m] === 'function');
    // writeQueueSize (libuv's pending bytes) is what backpressure and buffer reuse are decided on.
    return ok && 'writeQueueSize' in (proto as object) ? b : undefined;
  } catch {
    return undefined;
  }
}

const B = process.env.PODGATE_INGRESS_TRANSPORT === 'stream' ? undefined : loadBindings();
const UV_EOF = -4095;
/** net.Socket's writableHighWaterMark: above this many pending bytes write() asks the caller to wait. */
const HIGH_WATER = 16 * 1024;

function uvError(status: number, syscall: string): Error {
  const code = getSystemErrorName(status);
  return Object.assign(new Error(`${syscall} ${code}`), { code, errno: status, syscall });
}

const ignoreRead = (): undefined => undefined;
/**
 * Accepted connections all read into this one buffer: a read is handled before the next one
 * starts, so one buffer per thread serves every client (owners copy what they keep).
 */
const CLIENT_READ_BYTES = 64 * 1024;
let clientReadBuffer: Buffer | undefined;
/** Each upstream connection reads into its own buffer, replaced when a write still points into it. */
const UPSTREAM_READ_BYTES = 32 * 1024;
const noHandler: ConnHandler = { onData() {}, onDrain() {}, onEnd() {}, onTimeout() {}, onClose() {} };

/**
 * A write that completes at once leaves its request object unused (uv_try_write took it all), so
 * one object serves every such write; only a write libuv has to queue keeps it, and the next write
 * makes a new one.
 */
let spareReq: Req | undefined;
/** Where writeHeadAndBody joins a small head and body (replaced when a write still points into it). */
const SCRATCH_BYTES = 16 * 1024;
let scratch = Buffer.allocUnsafe(SCRATCH_BYTES);
/**
 * The monotonic clock as read when the read callback in progress began: writes and timeouts set
 * while it runs stamp their activity with it (one clock read per callback instead of one per call).
 */
let inRead = false;
let readNow = 0;
const clock = (): number => (inRead ? readNow : performance.now());
/** getpeername's output object, reused (its shape stays the same). */
const peer: { address?: string | undefined } = {};
function writeReq(conn: RawConn): Req {
  let req = spareReq;
  if (!req) {
    req = spareReq = new B!.WriteWrap();
    req.oncomplete = RawConn.onWriteComplete;
  }
  req.conn = conn;
  return req;
}

export class RawConn implements Conn {
  readonly #h: UvHandle;
  /** What reads land in (useUserBuffer); shared by all accepted connections of the thread. */
  #readBuf: Buffer;
  /**
   * The last view of #readBuf handed to the owner: a read of the same length gets it again (a
   * keep-alive connection's requests and answers are often all alike), one object less per read.
   * Owners copy what must outlive onData (transientReads), so which object they got never matters.
   */
  #view: Buffer | undefined;
  readonly #ownBuffer: boolean;
  #owner: ConnHandler = noHandler;
  #connected: boolean;
  #closed = false;
  #readEnded = false;
  #writeEnded = false;
  #reading = false;
  #wantRead = true;
  #needDrain = false;
  #closeWhenFlushed = false;
  #failure: Error | undefined;
  /**
   * Writes that cannot be handed over yet: before the connection is up, or (TLS, which takes one
   * write at a time) while a write is in progress. Copied, since callers may reuse their buffers;
   * sent together as one write once possible.
   */
  #held: (Buffer | string)[] | undefined;
  #heldBytes = 0;
  /** end() was called while writes were held or (TLS) in progress: FIN once they are out. */
  #endWhenFlushed = false;
  #remote: string | undefined;
  /** setTimeout's inactivity timer: each read and write only stamps it (idle-timer.ts). */
  readonly #idle = IdleTimer.for<RawConn>(this, RawConn.#timedOut);
  /**
   * TCP_NODELAY is set before the second write, or once a write could not go out whole: a first
   * write never waits for Nagle (nothing is unacknowledged yet), so a connection that answers one
   * request and closes skips the setsockopt(2), as nginx does for connections that are not kept alive.
   * (This holds for Linux's Nagle, which podgate runs on; BSD stacks may hold a first write's tail.)
   */
  #noDelay: boolean;
  #wrote = false;
  /**
   * For a TLS connection taken over after its handshake: the TLSSocket, which still owns closing
   * (so node:tls and the server's connection count see it end); its 'close' is our onClose.
   */
  readonly #tls: tls.TLSSocket | undefined;
  /** TLS: bytes of writes not finished yet (TLS encrypts during the call; they finish once sent). */
  #inflight = 0;
  /** Writes libuv queued (could not hand to the kernel at once) and has not completed yet. */
  #queuedWrites = 0;
  /** TLS: cleartext that node:tls had read before the takeover, handed over first. */
  #initial: Buffer[] | undefined;

  private constructor(h: UvHandle, connected: boolean, readBuf: Buffer, ownBuffer: boolean, tlsSocket?: tls.TLSSocket) {
    this.#h = h;
    this.#connected = connected;
    this.#readBuf = readBuf;
    this.#ownBuffer = ownBuffer;
    this.#tls = tlsSocket;
    this.#noDelay = tlsSocket !== undefined; // node:tls set it on the TCP socket underneath
    h.useUserBuffer(readBuf);
    // One function for every handle (no closure per connection): libuv's read callback calls it
    // with the handle as `this`.
    h.conn = this;
    h.onread = RawConn.#onReadOf;
  }

  static #timedOut(c: RawConn): void {
    c.#owner.onTimeout();
  }

  static #onReadOf(this: UvHandle): Buffer | undefined {
    return this.conn!.#onRead();
  }

  /** Sets TCP_NODELAY before any write but the first. */
  #beforeWrite(): void {
    if (this.#noDelay) return;
    if (!this.#wrote) { this.#wrote = true; return; }
    this.#setNoDelay();
  }

  #setNoDelay(): void {
    if (this.#noDelay) return;
    this.#noDelay = true;
    this.#h.setNoDelay(true);
  }

  /**
   * Takes a TLS connection over from node:tls once its handshake is done: its TLSWrap is a stream
   * handle like TCP's, reading cleartext and encrypting writes, so the rest is as for plain TCP.
   * undefined when this Node's TLS handle does not look as expected (the caller keeps the TLSSocket).
   */
  static adoptTls(s: tls.TLSSocket): RawConn | undefined {
    const h = (s as unknown as { _handle?: Partial<UvHandle> })._handle;
    if (!h || !['readStart', 'readStop', 'useUserBuffer', 'writeBuffer', 'writeLatin1String', 'writev', 'shutdown', 'getpeername'].every((m) => typeof (h as Record<string, unknown>)[m] === 'function')) return undefined;
    const initial: Buffer[] = [];
    for (let chunk: Buffer | null; (chunk = s.read() as Buffer | null) !== null;) initial.push(chunk);
    const c = new RawConn(h as UvHandle, true, clientReadBuffer ??= Buffer.allocUnsafe(CLIENT_READ_BYTES), false, s);
    if (initial.length) c.#initial = initial;
    s.on('error', (e) => { c.#failure ??= e; c.destroy(); });
    s.once('close', () => c.#onTlsClose());
    c.#reading = h.reading === true;
    c.#startReading();
    return c;
  }

  /** Adopts a handle accepted by a listener. */
  static accept(h: UvHandle): RawConn {
    const c = new RawConn(h, true, clientReadBuffer ??= Buffer.allocUnsafe(CLIENT_READ_BYTES), false);
    c.#startReading();
    return c;
  }

  /** Opens a TCP connection; writes made meanwhile are sent once it is up. */
  static connect(address: string, port: number): RawConn {
    const h = new B!.TCP(B!.SOCKET);
    const c = new RawConn(h, false, Buffer.allocUnsafe(UPSTREAM_READ_BYTES), true);
    const req = new B!.TCPConnectWrap();
    req.oncomplete = (status: number) => c.#afterConnect(status);
    req.address = address;
    req.port = port;
    const err = net.isIPv6(address) ? h.connect6(req, address, port) : h.connect(req, address, port);
    if (err) c.#fail(uvError(err, 'connect'));
    return c;
  }

  get remoteAddress(): string {
    if (this.#remote === undefined) {
      peer.address = undefined;
      this.#remote = this.#closed || this.#h.getpeername(peer) ? '' : peer.address ?? '';
    }
    return this.#remote;
  }

  get transientReads(): boolean { return true; }
  get connected(): boolean { return this.#connected; }
  get usable(): boolean { return !this.#closed && !this.#readEnded && !this.#writeEnded; }
  get pendingBytes(): number { return this.#closed ? 0 : this.#queueSize(); }
  get needsDrain(): boolean { return this.#needDrain; }
  get holdsWrittenBuffers(): boolean { return !this.#tls && this.pendingBytes > 0; }
  get paused(): boolean { return !this.#wantRead; }

  /**
   * Bytes held or not yet taken by the kernel (TLS: by TLS's own write in progress). libuv's
   * writeQueueSize is an accessor into C++ (a slow call from JS), and it is 0 whenever no write of
   * ours is queued in libuv, which is most of the time: writes that go out at once never queue.
   */
  #queueSize(): number {
    if (this.#tls) return this.#heldBytes + this.#inflight;
    return this.#queuedWrites === 0 ? this.#heldBytes : this.#heldBytes + this.#h.writeQueueSize;
  }

  /** Whether a write now must wait: not connected yet, or a TLS write in progress. */
  #mustHold(): boolean { return !this.#connected || this.#inflight > 0; }

  #hold(data: Buffer | string): boolean {
    (this.#held ??= []).push(typeof data === 'string' ? data : Buffer.from(data));
    this.#heldBytes += data.length;
    return this.#afterWrite();
  }

  #flushHeld(): void {
    const q = this.#held;
    if (!q) return;
    const bytes = this.#heldBytes;
    this.#held = undefined;
    this.#heldBytes = 0;
    const chunks: unknown[] = [];
    for (const x of q) chunks.push(x, typeof x === 'string' ? 'latin1' : 'buffer');
    this.#beforeWrite();
    const req = writeReq(this);
    this.#afterDispatch(req, this.#h.writev(req, chunks, false), chunks, bytes);
  }

  setHandler(h: ConnHandler): void {
    this.#owner = h;
    const initial = this.#initial;
    if (!initial) return;
    this.#initial = undefined;
    // Before any new read: reads only come from the event loop, after this tick.
    process.nextTick(() => { for (const c of initial) if (!this.#closed) this.#owner.onData(c); });
  }

  write(data: Buffer | string): boolean {
    if (this.#closed || this.#writeEnded) return false;
    if (this.#mustHold()) return this.#hold(data);
    this.#beforeWrite();
    const req = writeReq(this);
    const err = typeof data === 'string' ? this.#h.writeLatin1String(req, data) : this.#h.writeBuffer(req, data);
    return this.#afterDispatch(req, err, data, data.length);
  }

  writeHeadAndBody(head: string | Buffer, body: Buffer): boolean {
    if (this.#closed || this.#writeEnded) return false;
    if (body.length === 0 || this.#mustHold()) { this.write(head); return body.length ? this.write(body) : this.#afterWrite(); }
    const n = head.length + body.length;
    this.#beforeWrite();
    if (n <= scratch.length) {
      // Small answers: one copy into a reused buffer is cheaper than writev's per-call allocation.
      if (typeof head === 'string') scratch.write(head, 0, 'latin1');
      else scratch.set(head, 0);
      body.copy(scratch, head.length);
      const view = scratch.subarray(0, n);
      const req = writeReq(this);
      const err = this.#h.writeBuffer(req, view);
      if (B!.state[B!.kAsync] && !this.#tls) scratch = Buffer.allocUnsafe(SCRATCH_BYTES); // libuv still points into it
      return this.#afterDispatch(req, err, view, n);
    }
    const chunks = [head, typeof head === 'string' ? 'latin1' : 'buffer', body, 'buffer'];
    const req = writeReq(this);
    return this.#afterDispatch(req, this.#h.writev(req, chunks, false), chunks, n);
  }

  #afterDispatch(req: Req, err: number, data: unknown, bytes: number): boolean {
    const async = B!.state[B!.kAsync] !== 0;
    if (async) {
      spareReq = undefined; // the request object now belongs to this write
      if (!this.#tls) this.#queuedWrites++; // (TLS counts its bytes in #inflight instead)
    }
    // A TLS write whose sending failed at once has completed (and closed us) inside the call.
    if (this.#closed) return false;
    if (async) {
      // The rest goes out as the socket drains: no Nagle delay on its last segment.
      this.#setNoDelay();
      // libuv keeps the request (and a pointer into a Buffer it could not write at once) until
      // the write completes: keep the Buffer alive too.
      req.buffer = data;
      if (this.#tls) { req.bytes = bytes; this.#inflight += bytes; }
    } else req.conn = undefined;
    if (err) { this.#fail(uvError(err, 'write')); return false; }
    this.#idle.touch(clock());
    return this.#afterWrite();
  }

  /** A write that libuv queued is done (WriteWrap's oncomplete, `this` being the request). */
  static onWriteComplete(this: Req, status: number): void {
    const c = this.conn!;
    this.conn = undefined;
    this.buffer = undefined;
    if (!c.#tls) c.#queuedWrites--;
    if (c.#tls && this.bytes !== undefined) {
      c.#inflight -= this.bytes;
      this.bytes = undefined;
      if (status === 0 && !c.#closed) c.#flushHeld();
    }
    c.#onWriteDone(status);
  }

  #afterWrite(): boolean {
    if (this.pendingBytes < HIGH_WATER) return true;
    this.#needDrain = true;
    return false;
  }

  #onWriteDone(status: number): void {
    if (this.#closed) return;
    if (status < 0) { this.#fail(uvError(status, 'write')); return; }
    this.#idle.touch(performance.now());
    if (this.#queueSize() > 0) return;
    if (this.#closeWhenFlushed) { this.destroy(); return; }
    if (this.#endWhenFlushed) { this.#endWhenFlushed = false; this.#shutdown(); }
    if (this.#needDrain) {
      this.#needDrain = false;
      this.#owner.onDrain();
    }
  }

  close(): void {
    if (this.#closed) return;
    // TLS ends with close_notify (so a body ended by the close is not taken for a cut one), and
    // the peer's close_notify is data: closing with it unread would make the kernel reset the
    // connection and drop what is still queued for the peer. So TLS closes as end() does.
    if (this.#tls) { this.end(); return; }
    if (this.#queueSize() > 0) { this.#closeWhenFlushed = true; this.pause(); return; }
    this.destroy();
  }

  end(data?: string): void {
    if (this.#closed || this.#writeEnded) return;
    if (data !== undefined && data.length) this.write(data);
    this.#writeEnded = true;
    // Held writes go first; TLS also waits for the write in progress (node:tls shuts down after
    // its writes finish, too). libuv itself sends the FIN after its queued writes.
    if (this.#held || (this.#tls && this.#inflight > 0)) { this.#endWhenFlushed = true; return; }
    this.#shutdown();
  }

  #shutdown(): void {
    const req = new B!.ShutdownWrap();
    req.handle = this.#h;
    // libuv sends the FIN after the pending writes.
    req.oncomplete = (status) => { if (status < 0 || this.#readEnded) this.destroy(); };
    if (this.#h.shutdown(req)) this.destroy();
  }

  destroy(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#idle.stop();
    this.#h.onread = ignoreRead;
    this.#h.conn = undefined;
    // onClose never re-enters the caller: TLS's runs on the socket's 'close', a later loop turn;
    // TCP's once the current callback has returned. libuv closes the descriptor in uv_close itself,
    // and without a JS close callback Node's handle close calls no JS back (one callback less per connection).
    if (this.#tls) this.#tls.destroy();
    else { this.#h.close(); RawConn.#afterCallback(this); }
  }

  /** The TLSSocket closed: by destroy() above, or by node:tls itself (a TLS error, a reset). */
  #onTlsClose(): void {
    if (!this.#closed) {
      this.#closed = true;
      this.#idle.stop();
      this.#h.onread = ignoreRead;
      this.#h.conn = undefined;
    }
    this.#owner.onClose(this.#failure);
  }

  pause(): void {
    this.#wantRead = false;
    if (this.#reading) { this.#reading = false; this.#h.readStop(); }
  }

  resume(): void {
    this.#wantRead = true;
    this.#startReading();
  }

  setTimeout(ms: number): void {
    if (!this.#closed) this.#idle.set(ms, clock());
  }

  /**
   * TCP connections destroyed during the current callback, told once it has returned: by the read
   * callback itself as it ends (the usual case: an answer written, the connection closed), or else
   * by one microtask for all.
   */
  static #closing: RawConn[] = [];

  static #afterCallback(c: RawConn): void {
    if (RawConn.#closing.push(c) === 1 && !inRead) queueMicrotask(RawConn.#tellClosed);
  }

  static #tellClosed(): void {
    const list = RawConn.#closing;
    RawConn.#closing = [];
    for (let i = 0; i < list.length; i++) {
      try {
        list[i]!.#owner.onClose(list[i]!.#failure);
      } catch (err) {
        // The rest are still told (as separate close callbacks would have been); the error goes on.
        for (const c of list.slice(i + 1)) RawConn.#afterCallback(c);
        throw err;
      }
    }
  }

  #startReading(): void {
    if (this.#reading || !this.#wantRead || !this.#connected || this.#readEnded || this.#closed) return;
    this.#reading = true;
    const err = this.#h.readStart();
    if (err) this.#fail(uvError(err, 'read'));
  }

  /** Returns the buffer the next read goes to when it changes. */
  #onRead(): Buffer | undefined {
    const n = B!.state[B!.kRead]!;
    if (n > 0) {
      readNow = performance.now();
      this.#idle.touch(readNow);
      const owner = this.#owner;
      inRead = true;
      let done = false;
      try {
        let view = this.#view;
        if (view === undefined || view.length !== n) view = this.#view = this.#readBuf.subarray(0, n);
        owner.onData(view);
        done = true;
      } finally {
        inRead = false;
        // Connections closed by a handler that threw are told as any others are: in a microtask.
        if (!done && RawConn.#closing.length !== 0) queueMicrotask(RawConn.#tellClosed);
      }
      let next: Buffer | undefined;
      try {
        if (this.#ownBuffer && owner.holdsChunk?.()) {
          this.#view = undefined;
          next = this.#readBuf = Buffer.allocUnsafe(UPSTREAM_READ_BYTES);
        }
      } finally {
        // What this read closed is told now that its handler has returned: no microtask for it. A
        // close handler that throws must not keep `next` from libuv (reads would go on landing in
        // the old buffer while the owner is handed the new one): its error goes on from a microtask.
        if (RawConn.#closing.length !== 0) {
          try { RawConn.#tellClosed(); } catch (err) { queueMicrotask(() => { throw err; }); }
        }
      }
      return next;
    }
    if (n === 0 || this.#closed) return undefined;
    if (n !== UV_EOF) { this.#fail(uvError(n, 'read')); return undefined; }
    this.#readEnded = true;
    this.#reading = false;
    this.#h.readStop();
    this.#owner.onEnd();
    if (this.#writeEnded && !this.#closed && this.#queueSize() === 0) this.destroy();
    return undefined;
  }

  #afterConnect(status: number): void {
    if (this.#closed) return;
    if (status < 0) { this.#fail(uvError(status, 'connect')); return; }
    this.#connected = true;
    const drain = this.#needDrain;
    this.#needDrain = false;
    this.#flushHeld();
    if (this.#closed) return; // the held write failed
    if (this.#endWhenFlushed && !this.#mustHold()) { this.#endWhenFlushed = false; this.#shutdown(); }
    if (this.#closeWhenFlushed && this.#queueSize() === 0) { this.destroy(); return; }
    this.#startReading();
    this.#owner.onConnect?.();
    if (drain && !this.#needDrain && !this.#closed) this.#owner.onDrain();
  }

  #fail(err: Error): void {
    this.#failure ??= err;
    this.destroy();
  }
}

/** Plain TCP on raw handles, or undefined when this Node's internals do not offer them. */
export const rawTcp = B ? {
  /**
   * Monotonic milliseconds, as read when the current read callback began (one clock read per
   * callback; nginx likewise caches its time per event loop turn); outside read callbacks, now.
   */
  eventTime: clock,
  connect: (address: string, port: number): Conn => RawConn.connect(address, port),
  /** A TLS connection after its handshake, or undefined to keep it on node:tls. */
  adoptTls: (s: tls.TLSSocket): Conn | undefined => RawConn.adoptTls(s),
  /**
   * Takes over a listening net.Server's accepted connections: each arrives as a Conn and never
   * becomes a net.Socket; a failed accept (EMFILE, ENFILE, ENOBUFS) goes to `onError`, as node:net
   * emits it as the server's 'error', and the listener goes on. Returns false (nothing changed) if
   * the server's handle is not a libuv TCP handle.
   */
  takeOver(server: net.Server, onConn: (c: Conn) => void, onError: (err: Error) => void): boolean {
    const handle = (server as unknown as { _handle?: UvHandle })._handle;
    if (!handle || typeof handle.onconnection !== 'function') return false;
    handle.onconnection = (status, client) => {
      if (status < 0) onError(uvError(status, 'accept'));
      else if (client) onConn(RawConn.accept(client));
    };
    return true;
  },
} : undefined;
