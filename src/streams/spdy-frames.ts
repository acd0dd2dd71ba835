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
} as const;

export const settingsIds = { initialWindowSize: 7 } as const;

export const flagFin = 0x01;
export const flagUnidirectional = 0x02;

/** The largest payload a frame's 24-bit length can carry. */
export const maxFramePayload = 0xffffff;

/** A frame as read off the wire; header blocks are still compressed. */
export type SpdyFrame =
  | { kind: 'data'; streamId: number; flags: number; data: Buffer }
  | { kind: 'control'; type: number; flags: number; payload: Buffer };

/**
 * Splits a byte stream into frames. Chunks are kept as a list so a 100 MB transfer is not copied
 * into one growing buffer; only a frame that straddles chunks is concatenated.
 */
export class FrameReader {
  #chunks: Buffer[] = [];
  #length = 0;

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.#length += chunk.length;
  }

  /** The next complete frame, or undefined until more bytes arrive. */
  next(): SpdyFrame | undefined {
    if (this.#length < 8) return undefined;
    const header = this.#peek(8);
    const length = header.readUIntBE(5, 3);
    if (this.#length < 8 + length) return undefined;
    this.#take(8);
    const payload = this.#take(length);
    const flags = header[4] ?? 0;
    if ((header[0] ?? 0) & 0x80) {
      return { kind: 'control', type: header.readUInt16BE(2), flags, payload };
    }
    return { kind: 'data', streamId: header.readUInt32BE(0) & 0x7fffffff, flags, data: payload };
  }

  #peek(n: number): Buffer {
    const first = this.#chunks[0];
    if (first !== undefined && first.length >= n) return first.subarray(0, n);
    const merged = Buffer.concat(this.#chunks);
    this.#chunks = [merged];
    return merged.subarray(0, n);
  }

  #take(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0);
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
      out = Buffer.concat(parts, n);
    }
    this.#length -= n;
    return out;
  }
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

export function parseSettings(payload: Buffer): { id: number; value: number; flags: number }[] {
  const count = payload.length >= 4 ? payload.readUInt32BE(0) : 0;
  const out: { id: number; value: number; flags: number }[] = [];
  for (let i = 0; i < count && 4 + i * 8 + 8 <= payload.length; i++) {
    const word = payload.readUInt32BE(4 + i * 8);
    out.push({ flags: word >>> 24, id: word & 0xffffff, value: payload.readUInt32BE(8 + i * 8) });
  }
  return out;
}
