// SPDY/3.1 frame layouts (draft-mbelshe-httpbis-spdy-00 §2.2, §2.6; moby/spdystream spdy/read.go
// and write.go are the peer we must interoperate with). All integers are big-endian.

export const spdyVersion = 3;

export const frameTypes = {
  synStream: 1,
  synReply: 2,
  rstStream: 3,
  settings: 4,
  ping: 6,
  goAway: 7,
  headers: 8,
  windowUpdate: 9,
} as const;

/** Frame type names as the spec writes them, for error messages. */
export const frameNames: Readonly<Record<number, string>> = {
  [frameTypes.synStream]: 'SYN_STREAM',
  [frameTypes.synReply]: 'SYN_REPLY',
  [frameTypes.rstStream]: 'RST_STREAM',
  [frameTypes.settings]: 'SETTINGS',
  [frameTypes.ping]: 'PING',
  [frameTypes.goAway]: 'GOAWAY',
  [frameTypes.headers]: 'HEADERS',
  [frameTypes.windowUpdate]: 'WINDOW_UPDATE',
};

/** RST_STREAM status codes (spdystream spdy/types.go RstStreamStatus). */
export const rstStatus = {
  protocolError: 1,
  invalidStream: 2,
  refusedStream: 3,
  unsupportedVersion: 4,
  cancel: 5,
  internalError: 6,
  flowControlError: 7,
  streamInUse: 8,
  streamAlreadyClosed: 9,
  invalidCredentials: 10,
  frameTooLarge: 11,
} as const;

/**
 * GOAWAY status codes. The draft lists INTERNAL_ERROR as 11, but SPDY/3.1 and spdystream (spdy/
 * types.go GoAwayInternalError), the peer kubectl uses, number it 2.
 */
export const goAwayStatus = { ok: 0, protocolError: 1, internalError: 2 } as const;

export const settingsIds = { initialWindowSize: 7 } as const;

export const flagFin = 0x01;
export const flagUnidirectional = 0x02;

/** The largest payload a frame's 24-bit length can carry. */
export const maxFramePayload = 0xffffff;

/**
 * The largest control frame payload we buffer. The spec lets an implementation limit it as long as
 * 8192 octets pass (draft §2.2.1); kubectl's header blocks are a few dozen bytes. A larger frame is
 * refused when its header arrives, before its payload is buffered. DATA frames may use the whole
 * 24-bit length, as spdystream (MaxDataLength) allows.
 */
export const maxControlPayload = 256 * 1024;

/** The largest flow-control window (draft §2.6.8: the delta's legal range ends at 2^31-1). */
export const maxWindow = 0x7fffffff;

/** A SPDY error with a Node-style `code`; `name` is its class's. */
export class SpdyError extends Error {
  readonly code: string;
  constructor(message: string, code: string) {
    super(message);
    this.code = code;
    this.name = new.target.name;
  }
}

/**
 * The peer broke the framing layer or the header compression state (draft §2.4.1): the session
 * answers GOAWAY PROTOCOL_ERROR and closes.
 */
export class SpdyProtocolError extends SpdyError {
  constructor(message: string) { super(message, 'ERR_SPDY_PROTOCOL_ERROR'); }
}

/** The peer broke one stream (draft §2.4.2): that stream is answered with RST_STREAM `status`. */
export class SpdyStreamError extends SpdyError {
  readonly status: number;
  constructor(message: string, status: number) {
    super(message, 'ERR_SPDY_STREAM_ERROR');
    this.status = status;
  }
}

/**
 * A DATA frame, or with FrameReader's `dataPieceMin` one piece of it: `first` and `last` mark the
 * frame's first and last pieces, `length` is the whole frame's payload length, and FIN is set in
 * `flags` on the last piece only. A whole frame is one piece that is both first and last.
 */
export interface SpdyDataFrame {
  kind: 'data'; streamId: number; flags: number; data: Buffer; first: boolean; last: boolean; length: number;
}
export interface SpdyControlFrame { kind: 'control'; version: number; type: number; flags: number; payload: Buffer }

/** A frame as read off the wire; header blocks are still compressed. */
export type SpdyFrame = SpdyDataFrame | SpdyControlFrame;

/** Chunks shorter than this are copied together rather than kept one Buffer object each. */
const compactBelow = 4096;
/** At most this many small chunks wait uncopied; then they are merged into one owned buffer. */
const maxSmallRun = 32;

interface FrameHead { isControl: boolean; word0: number; flags: number; length: number; remaining: number; first: boolean }

/**
 * Splits a byte stream into frames. Large chunks are kept as a list so a 100 MB transfer is not
 * copied into one growing buffer; only a frame that straddles chunks is concatenated. Small chunks
 * (a WebSocket tunnel carries messages of a few bytes: kubectl's spdystream writes field by field)
 * are merged as they come, so a peer trickling 1-byte messages into a large frame costs about the
 * bytes it sent, not a Buffer object per byte.
 *
 * With `dataPieceMin`, DATA payloads are handed out in pieces of at least that many bytes (or the
 * rest of the frame) as they arrive, so a peer announcing a 16 MiB frame and sending it slowly
 * never makes us hold the whole frame; without it, frames are returned whole.
 */
export class FrameReader {
  #chunks: Buffer[] = [];
  #small: Buffer[] = [];
  #smallBytes = 0;
  /** Bytes in #chunks and #small. */
  #length = 0;
  #head: FrameHead | undefined;
  #dataPieceMin: number | undefined;

  constructor(options: { dataPieceMin?: number } = {}) {
    this.#dataPieceMin = options.dataPieceMin;
  }

  /** How many Buffer objects the reader holds: what buffering costs beyond the bytes themselves. */
  get bufferedChunks(): number { return this.#chunks.length + this.#small.length; }

  get bufferedBytes(): number { return this.#length; }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.#length += chunk.length;
    if (chunk.length >= compactBelow) {
      this.#sealSmall();
      this.#chunks.push(chunk);
      return;
    }
    this.#small.push(chunk);
    this.#smallBytes += chunk.length;
    if (this.#small.length >= maxSmallRun || this.#smallBytes >= compactBelow) this.#sealSmall();
  }

  /**
   * The next complete frame (or DATA piece), or undefined until more bytes arrive. Throws
   * SpdyProtocolError for a control frame longer than maxControlPayload as soon as its header is in.
   */
  next(): SpdyFrame | undefined {
    let head = this.#head;
    if (head === undefined) {
      if (this.#length < 8) return undefined;
      const header = this.#take(8);
      const length = header.readUIntBE(5, 3);
      const isControl = ((header[0] ?? 0) & 0x80) !== 0;
      if (isControl && length > maxControlPayload) {
        throw new SpdyProtocolError(`control frame of ${length} bytes is over the ${maxControlPayload}-byte limit`);
      }
      head = { isControl, word0: header.readUInt32BE(0), flags: header[4] ?? 0, length, remaining: length, first: true };
      this.#head = head;
    }
    if (head.isControl || this.#dataPieceMin === undefined) {
      if (this.#length < head.length) return undefined;
      this.#head = undefined;
      const payload = this.#take(head.length);
      if (head.isControl) {
        return { kind: 'control', version: (head.word0 >>> 16) & 0x7fff, type: head.word0 & 0xffff, flags: head.flags, payload };
      }
      return { kind: 'data', streamId: head.word0 & 0x7fffffff, flags: head.flags, data: payload, first: true, last: true, length: head.length };
    }
    // A DATA piece. The first one goes out as soon as the header is in, even empty, so the frame's
    // stream and length are checked before any of its payload is buffered.
    const available = Math.min(head.remaining, this.#length);
    const worthIt = available === head.remaining || available >= this.#dataPieceMin;
    if (!worthIt && !head.first) return undefined;
    const n = worthIt ? available : 0;
    const data = this.#take(n);
    head.remaining -= n;
    const piece: SpdyDataFrame = {
      kind: 'data', streamId: head.word0 & 0x7fffffff, flags: head.remaining === 0 ? head.flags : head.flags & ~flagFin,
      data, first: head.first, last: head.remaining === 0, length: head.length,
    };
    head.first = false;
    if (piece.last) this.#head = undefined;
    return piece;
  }

  /** Merges the run of small chunks into one exactly sized buffer, together with a small last chunk. */
  #sealSmall(): void {
    if (this.#small.length === 0) return;
    const last = this.#chunks.at(-1);
    const parts = this.#small;
    if (last !== undefined && last.length < compactBelow) {
      this.#chunks.pop();
      parts.unshift(last);
    }
    this.#chunks.push(concatOwned(parts));
    this.#small = [];
    this.#smallBytes = 0;
  }

  #take(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0);
    this.#sealSmall();
    const first = this.#chunks[0];
    let out: Buffer;
    if (first !== undefined && first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.#chunks.shift();
      else this.#chunks[0] = first.subarray(n);
    } else {
      const parts: Buffer[] = [];
      let need = n;
      while (need > 0) {
        const chunk = this.#chunks[0];
        if (chunk === undefined) throw new Error('FrameReader: take past end');
        if (chunk.length <= need) {
          parts.push(chunk);
          this.#chunks.shift();
          need -= chunk.length;
        } else {
          parts.push(chunk.subarray(0, need));
          this.#chunks[0] = chunk.subarray(need);
          need = 0;
        }
      }
      out = concatOwned(parts);
    }
    this.#length -= n;
    return out;
  }
}

/**
 * The parts copied into one buffer of exactly their size. Unlike Buffer.concat, a small result is
 * not a slice of Node's shared 8 KiB pool, which a long-lived few bytes would keep alive whole.
 */
export function concatOwned(parts: readonly Buffer[]): Buffer {
  let total = 0;
  for (const p of parts) total += p.length;
  const out = Buffer.allocUnsafeSlow(total);
  let off = 0;
  for (const p of parts) off += p.copy(out, off);
  return out;
}

/** The 8-byte header of a DATA frame; the payload is written after it without copying. */
export function encodeDataHeader(streamId: number, flags: number, length: number): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeUInt32BE(streamId & 0x7fffffff, 0);
  b.writeUInt32BE(((flags & 0xff) << 24 | (length & 0xffffff)) >>> 0, 4);
  return b;
}

export function encodeControl(type: number, flags: number, payload: Buffer): Buffer {
  const b = Buffer.allocUnsafe(8 + payload.length);
  b.writeUInt16BE(0x8000 | spdyVersion, 0);
  b.writeUInt16BE(type, 2);
  b.writeUInt32BE(((flags & 0xff) << 24 | (payload.length & 0xffffff)) >>> 0, 4);
  payload.copy(b, 8);
  return b;
}

function u32s(...values: number[]): Buffer {
  const b = Buffer.allocUnsafe(values.length * 4);
  values.forEach((v, i) => b.writeUInt32BE(v >>> 0, i * 4));
  return b;
}

export function encodeSynStream(streamId: number, flags: number, headerBlock: Buffer): Buffer {
  // associated-to-stream-id 0, priority 0, slot 0: what spdystream sends for kubectl's streams.
  return encodeControl(frameTypes.synStream, flags, Buffer.concat([u32s(streamId, 0), Buffer.alloc(2), headerBlock]));
}

export function encodeSynReply(streamId: number, flags: number, headerBlock: Buffer): Buffer {
  return encodeControl(frameTypes.synReply, flags, Buffer.concat([u32s(streamId), headerBlock]));
}

export function encodeHeaders(streamId: number, flags: number, headerBlock: Buffer): Buffer {
  return encodeControl(frameTypes.headers, flags, Buffer.concat([u32s(streamId), headerBlock]));
}

export function encodeRstStream(streamId: number, status: number): Buffer {
  return encodeControl(frameTypes.rstStream, 0, u32s(streamId, status));
}

export function encodeSettings(entries: readonly { id: number; value: number; flags?: number }[]): Buffer {
  const parts = [u32s(entries.length)];
  for (const e of entries) parts.push(u32s(((e.flags ?? 0) << 24 | (e.id & 0xffffff)) >>> 0, e.value));
  return encodeControl(frameTypes.settings, 0, Buffer.concat(parts));
}

export function encodePing(id: number): Buffer {
  return encodeControl(frameTypes.ping, 0, u32s(id));
}

export function encodeGoAway(lastGoodStreamId: number, status: number): Buffer {
  return encodeControl(frameTypes.goAway, 0, u32s(lastGoodStreamId, status));
}

export function encodeWindowUpdate(streamId: number, delta: number): Buffer {
  return encodeControl(frameTypes.windowUpdate, 0, u32s(streamId & 0x7fffffff, delta & 0x7fffffff));
}

/** The 32-bit words of a fixed-size control payload; throws SpdyProtocolError for any other length. */
function fixedWords(frame: string, payload: Buffer, words: number): number[] {
  if (payload.length !== words * 4) {
    throw new SpdyProtocolError(`${frame} payload is ${payload.length} bytes, not ${words * 4}`);
  }
  return Array.from({ length: words }, (_, i) => payload.readUInt32BE(i * 4));
}

/** RST_STREAM (draft §2.6.3): exactly 8 bytes, a non-zero stream id and a non-zero status. */
export function parseRstStream(payload: Buffer): { streamId: number; status: number } {
  const [word0 = 0, status = 0] = fixedWords('RST_STREAM', payload, 2);
  const streamId = word0 & 0x7fffffff;
  if (streamId === 0) throw new SpdyProtocolError('RST_STREAM for stream 0');
  if (status === 0) throw new SpdyProtocolError(`RST_STREAM for stream ${streamId} with status 0`);
  return { streamId, status };
}

/** PING (draft §2.6.5): exactly 4 bytes, the id. */
export function parsePing(payload: Buffer): number {
  const [id = 0] = fixedWords('PING', payload, 1);
  return id;
}

/** GOAWAY (draft §2.6.6): exactly 8 bytes. */
export function parseGoAway(payload: Buffer): { lastGoodStreamId: number; status: number } {
  const [word0 = 0, status = 0] = fixedWords('GOAWAY', payload, 2);
  return { lastGoodStreamId: word0 & 0x7fffffff, status };
}

/** WINDOW_UPDATE (draft §2.6.8): exactly 8 bytes. A delta of 0 is left to the caller, whose error it is depends on the stream. */
export function parseWindowUpdate(payload: Buffer): { streamId: number; delta: number } {
  const [word0 = 0, word1 = 0] = fixedWords('WINDOW_UPDATE', payload, 2);
  return { streamId: word0 & 0x7fffffff, delta: word1 & 0x7fffffff };
}

/**
 * SETTINGS (draft §2.6.4): a count and exactly that many 8-byte entries. Of several values for one
 * id only the first counts, as the spec asks.
 */
export function parseSettings(payload: Buffer): { id: number; value: number; flags: number }[] {
  if (payload.length < 4) throw new SpdyProtocolError(`SETTINGS payload is ${payload.length} bytes, too short for its count`);
  const count = payload.readUInt32BE(0);
  if ((payload.length - 4) / 8 !== count) {
    throw new SpdyProtocolError(`SETTINGS announces ${count} entries in ${payload.length - 4} bytes`);
  }
  const out: { id: number; value: number; flags: number }[] = [];
  const seen = new Set<number>();
  for (let i = 0; i < count; i++) {
    const word = payload.readUInt32BE(4 + i * 8);
    const id = word & 0xffffff;
    if (seen.has(id)) continue;
    seen.add(id);
    out.push({ flags: word >>> 24, id, value: payload.readUInt32BE(8 + i * 8) });
  }
  return out;
}

/**
 * The stream id and compressed header block of a SYN_STREAM (10 bytes before the block), SYN_REPLY
 * or HEADERS (4 bytes). Throws SpdyProtocolError when the fixed part is missing or names stream 0.
 */
export function parseHeaderFrame(type: number, payload: Buffer): { streamId: number; block: Buffer } {
  const name = frameNames[type] ?? `control frame ${type}`;
  const offset = type === frameTypes.synStream ? 10 : 4;
  if (payload.length < offset) {
    throw new SpdyProtocolError(`${name} payload is ${payload.length} bytes, shorter than its ${offset}-byte fixed part`);
  }
  const streamId = payload.readUInt32BE(0) & 0x7fffffff;
  if (streamId === 0) throw new SpdyProtocolError(`${name} for stream 0`);
  return { streamId, block: payload.subarray(offset) };
}
