import { Duplex } from 'node:stream';
import { concatOwned, rstStatus } from './spdy-frames.ts';
import type { SpdyHeaders } from './spdy-header-codec.ts';

/** Payloads shorter than this are gathered and handed to the reader as one buffer per batch. */
const batchBelow = 4096;

/** What a stream needs from its session; SpdySession implements it. */
export interface SpdyStreamHost {
  sendData(stream: SpdyStream, data: Buffer, fin: boolean, done: (err?: Error | null) => void): void;
  sendReset(stream: SpdyStream, status: number): void;
  readResumed(stream: SpdyStream): void;
  /** The stream will never be read again (its readable side ended, or it was destroyed). */
  readFinished(stream: SpdyStream): void;
}

/**
 * One SPDY stream as a Node Duplex: writes become DATA frames, end() sends FIN (half-close, the
 * readable side stays open), the readable side ends at the peer's FIN. destroy() before both
 * sides have finished sends RST_STREAM CANCEL, as spdystream's Reset does.
 */
export class SpdyStream extends Duplex {
  readonly id: number;
  /** Headers of the SYN_STREAM that opened the stream. */
  readonly headers: SpdyHeaders;
  /** The RST_STREAM status that ended the stream (the peer's, or ours), or CANCEL when the session went away. */
  resetStatus: number | undefined;
  #host: SpdyStreamHost;
  #remoteFin = false;
  #localFin = false;
  /** Small payloads delivered since the last push; pushed together once the session's frame handling is done. */
  #batch: Buffer[] = [];
  #batchBytes = 0;

  constructor(options: { id: number; headers: SpdyHeaders; host: SpdyStreamHost }) {
    super({ allowHalfOpen: true });
    this.id = options.id;
    this.headers = options.headers;
    this.#host = options.host;
    // Node never calls _read once the peer's FIN is pushed, so a reader that was behind when the FIN
    // arrived (the session paused its transport for it) would never resume the session otherwise.
    this.once('end', () => this.#host.readFinished(this));
  }

  get isRemoteFinished(): boolean { return this.#remoteFin; }
  get isLocalFinished(): boolean { return this.#localFin; }

  /** Sends RST_STREAM with the status and tears the stream down. */
  reset(status: number): void {
    if (this.destroyed) return;
    if (!(this.#remoteFin && this.#localFin) && this.resetStatus === undefined) this.#host.sendReset(this, status);
    this.resetStatus ??= status;
    this.destroy();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.#host.sendData(this, chunk, false, cb);
  }

  override _writev(chunks: { chunk: Buffer }[], cb: (err?: Error | null) => void): void {
    this.#host.sendData(this, Buffer.concat(chunks.map((c) => c.chunk)), false, cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    // Opened with FLAG_FIN on its SYN_STREAM: a second FIN (an empty DATA frame) would be data after
    // our half-close, which the peer must answer STREAM_ALREADY_CLOSED (draft §2.3.6).
    if (this.#localFin) {
      cb();
      return;
    }
    this.#host.sendData(this, Buffer.alloc(0), true, (err) => {
      if (!err) this.#localFin = true;
      cb(err);
    });
  }

  override _read(): void {
    this.#host.readResumed(this);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (!(this.#remoteFin && this.#localFin) && this.resetStatus === undefined) {
      this.resetStatus = rstStatus.cancel;
      this.#host.sendReset(this, rstStatus.cancel);
    }
    this.#host.readFinished(this);
    cb(err);
  }

  /**
   * Session side: a DATA payload arrived. Returns false when the reader is behind. What the reader
   * holds costs about what the peer sent: small payloads (a peer may send 1-byte frames) are
   * gathered into one buffer, and a payload that is a small part of a larger buffer (the rest of
   * a read holding other frames) is copied, so it does not keep that whole buffer alive.
   */
  deliver(data: Buffer): boolean {
    if (this.#remoteFin || this.destroyed) return true;
    if (data.length < batchBelow) {
      this.#batch.push(data);
      this.#batchBytes += data.length;
      if (this.#batch.length === 1) queueMicrotask(() => this.#pushBatch());
      return this.readableLength + this.#batchBytes < this.readableHighWaterMark;
    }
    this.#pushBatch();
    return this.push(data.buffer.byteLength > 2 * data.length ? concatOwned([data]) : data);
  }

  #pushBatch(): void {
    if (this.#batch.length === 0) return;
    const data = concatOwned(this.#batch);
    this.#batch = [];
    this.#batchBytes = 0;
    if (!this.#remoteFin && !this.destroyed) this.push(data);
  }

  /** Session side: the peer half-closed. */
  deliverFin(): void {
    if (this.#remoteFin) return;
    this.#pushBatch();
    this.#remoteFin = true;
    if (!this.destroyed) this.push(null);
  }

  /** Session side: our FIN went out (also used when the session sends FIN for us). */
  markLocalFin(): void {
    this.#localFin = true;
  }

  /**
   * Session side: the peer reset the stream, the session reset it for a peer's error, or the
   * session went away. `err` is passed on only to an owner listening for 'error': what a peer
   * sends must never become an unhandled 'error' event, which would take the process down.
   */
  deliverReset(status: number, err?: Error): void {
    this.#batch = [];
    this.#batchBytes = 0;
    this.resetStatus ??= status;
    this.#remoteFin = true;
    this.#localFin = true;
    this.destroy(err !== undefined && this.listenerCount('error') > 0 ? err : undefined);
  }
}
