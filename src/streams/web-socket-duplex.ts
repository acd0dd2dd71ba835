import { Duplex } from 'node:stream';
import type { WebSocket, RawData } from 'ws';

/** Above this many unsent bytes a write waits for the socket, giving pipes backpressure. */
const highWater = 1024 * 1024;

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

/**
 * The bytes of binary WebSocket messages as one Duplex, for the SPDY tunnel kubectl opens with
 * `SPDY/3.1+portforward.k8s.io` (client-go tools/portforward tunneling_connection.go): message
 * boundaries mean nothing there (one SPDY frame arrives in several messages, empty messages
 * occur), every write is one binary message, and a text message is a protocol error.
 * end() closes the WebSocket with 1000, which gorilla reports as a normal EOF.
 */
export class WebSocketDuplex extends Duplex {
  #ws: WebSocket;

  constructor(ws: WebSocket) {
    super({ allowHalfOpen: false });
    this.#ws = ws;
    ws.on('message', (data: RawData, isBinary: boolean) => {
      if (!isBinary) {
        this.destroy(new Error('text message on a binary WebSocket tunnel'));
        return;
      }
      const buf = toBuffer(data);
      if (buf.length > 0 && !this.push(buf)) ws.pause();
    });
    ws.on('close', () => {
      this.push(null);
      this.destroy();
    });
    ws.on('error', (err: Error) => this.destroy(err));
  }

  override _read(): void {
    this.#ws.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.#send(chunk, cb);
  }

  override _writev(chunks: { chunk: Buffer }[], cb: (err?: Error | null) => void): void {
    this.#send(Buffer.concat(chunks.map((c) => c.chunk)), cb);
  }

  #send(data: Buffer, cb: (err?: Error | null) => void): void {
    if (this.#ws.readyState !== this.#ws.OPEN) {
      cb(new Error('WebSocket is closed'));
      return;
    }
    const waitForSocket = this.#ws.bufferedAmount + data.length > highWater;
    this.#ws.send(data, { binary: true }, (err) => {
      if (waitForSocket) cb(err ?? null);
    });
    if (!waitForSocket) cb();
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (this.#ws.readyState === this.#ws.OPEN) this.#ws.close(1000);
    cb();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (this.#ws.readyState === this.#ws.OPEN || this.#ws.readyState === this.#ws.CONNECTING) {
      if (err) this.#ws.terminate();
      else this.#ws.close(1000);
    }
    cb(err);
  }
}
