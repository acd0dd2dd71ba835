// The byte-stream seam of the HTTP/1.1 proxy: what a client or upstream connection must do, and
// nothing more (no Node stream state machine). Two implementations:
// - RawConn (raw-conn.ts): the libuv TCP handle driven directly; plain TCP on the hot path.
// - StreamConn (below): any net.Socket or TLSSocket (HTTPS, backend-protocol HTTPS, test connectors).
import { Buffer } from 'node:buffer';
import net from 'node:net';
import tls from 'node:tls';

/** Events of one connection, delivered to its current owner. */
export interface ConnHandler {
  /**
   * Bytes read. When the Conn's `transientReads` is set, `chunk` is a view of a read buffer that
   * the next read overwrites: copy what must outlive the call, and let `holdsChunk` say whether a
   * write made during the call may still point into it (that Conn then reads into a new buffer).
   * The handler owns chunk's bytes during the call and may overwrite them (the proxy rewrites an
   * upstream's Connection line in place): a Conn must not hand over bytes it still uses.
   */
  onData(chunk: Buffer): void;
  holdsChunk?(): boolean;
  /** Everything written has been taken after a write() returned false. */
  onDrain(): void;
  /** The peer will send no more (FIN). */
  onEnd(): void;
  /** No bytes read or written for the time given to setTimeout(). */
  onTimeout(): void;
  /** Closed; `err` when it failed (connect refused, reset...). Called once, never from inside a call on the Conn. */
  onClose(err: Error | undefined): void;
  /** An outgoing connection is established (TLS: the handshake is done). */
  onConnect?(): void;
}

export interface Conn {
  readonly remoteAddress: string;
  /** Read chunks are views of a reused buffer (see ConnHandler.onData). */
  readonly transientReads: boolean;
  readonly connected: boolean;
  /** Open both ways: neither side has ended, not destroyed (an idle upstream can be reused). */
  readonly usable: boolean;
  /** Bytes accepted by write() and not yet taken by the kernel. */
  readonly pendingBytes: number;
  /** A Buffer given to write() may still be read from: it must not be overwritten yet. */
  readonly holdsWrittenBuffers: boolean;
  /** A write() returned false and onDrain has not followed yet. */
  readonly needsDrain: boolean;
  readonly paused: boolean;
  setHandler(h: ConnHandler): void;
  /** Strings are latin1. false: stop the source until onDrain. */
  write(data: Buffer | string): boolean;
  /** A head (a latin1 string or bytes) and the body bytes after it in one write. */
  writeHeadAndBody(head: string | Buffer, body: Buffer): boolean;
  /** Writes `data`, then sends FIN once everything is out; reading goes on until the peer ends. */
  end(data?: string): void;
  /**
   * Closes once everything written is out, without waiting for the peer's FIN (what nginx does
   * after a request read whole; bytes the peer sends meanwhile would make the kernel reset it).
   */
  close(): void;
  destroy(): void;
  pause(): void;
  resume(): void;
  /** Inactivity timeout (reads and writes), 0 = none. */
  setTimeout(ms: number): void;
}

const noHandler: ConnHandler = { onData() {}, onDrain() {}, onEnd() {}, onTimeout() {}, onClose() {} };

/** A Conn over a node:net or node:tls socket. */
export class StreamConn implements Conn {
  readonly #sock: net.Socket;
  #h: ConnHandler = noHandler;
  #timeoutMs = 0;
  #connected: boolean;
  /**
   * TLS encrypts what it is given during the write call itself, so only a write that the stream
   * queues behind one in progress keeps the caller's Buffer: such writes take a copy instead, and
   * the caller may reuse its buffers at once (TLS writes always finish later).
   */
  readonly #tls: boolean;

  /** `connectEvent`: for an outgoing socket, the event that makes it usable ('connect' or 'secureConnect'). */
  constructor(sock: net.Socket, connectEvent?: 'connect' | 'secureConnect') {
    this.#sock = sock;
    this.#connected = connectEvent === undefined;
    this.#tls = sock instanceof tls.TLSSocket;
    if (connectEvent) sock.once(connectEvent, () => { this.#connected = true; this.#h.onConnect?.(); });
    let failure: Error | undefined;
    sock.on('data', (c: Buffer) => this.#h.onData(c));
    sock.on('drain', () => this.#h.onDrain());
    sock.on('end', () => this.#h.onEnd());
    sock.on('timeout', () => this.#h.onTimeout());
    sock.on('error', (e) => { failure = e; });
    sock.on('close', () => this.#h.onClose(failure));
  }

  get remoteAddress(): string { return this.#sock.remoteAddress ?? ''; }
  get transientReads(): boolean { return false; }
  get connected(): boolean { return this.#connected; }
  get usable(): boolean { return !this.#sock.destroyed && this.#sock.writable && this.#sock.readable; }
  get pendingBytes(): number { return this.#sock.writableLength; }
  get needsDrain(): boolean { return this.#sock.writableNeedDrain; }
  get holdsWrittenBuffers(): boolean { return !this.#tls && this.#sock.writableLength > 0; }
  get paused(): boolean { return this.#sock.isPaused(); }
  setHandler(h: ConnHandler): void { this.#h = h; }
  write(data: Buffer | string): boolean {
    if (typeof data === 'string') return this.#sock.write(data, 'latin1');
    return this.#sock.write(this.#tls && this.#sock.writableLength > 0 ? Buffer.from(data) : data);
  }
  writeHeadAndBody(head: string | Buffer, body: Buffer): boolean {
    if (this.#tls && this.#sock.writableLength > 0) body = Buffer.from(body);
    this.#sock.cork();
    if (typeof head === 'string') this.#sock.write(head, 'latin1');
    else this.#sock.write(this.#tls && this.#sock.writableLength > 0 ? Buffer.from(head) : head);
    const ok = this.#sock.write(body);
    this.#sock.uncork();
    return ok;
  }
  end(data?: string): void { if (data === undefined) this.#sock.end(); else this.#sock.end(data, 'latin1'); }
  close(): void {
    // As RawConn: TLS ends with close_notify and reads on, since closing with the peer's
    // close_notify unread would make the kernel reset the connection and drop what is still queued.
    if (this.#tls) { this.#sock.end(); this.#sock.resume(); } else this.#sock.destroySoon();
  }
  destroy(): void { this.#sock.destroy(); }
  pause(): void { this.#sock.pause(); }
  resume(): void { this.#sock.resume(); }
  setTimeout(ms: number): void {
    if (ms !== this.#timeoutMs) { this.#timeoutMs = ms; this.#sock.setTimeout(ms); }
  }
}
