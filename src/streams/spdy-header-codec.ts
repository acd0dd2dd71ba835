import { constants, createInflate, type Inflate } from 'node:zlib';
import { adler32, spdyDictionary } from './spdy-dictionary.ts';
import { SpdyProtocolError, SpdyStreamError, rstStatus } from './spdy-frames.ts';

/**
 * SPDY header names are lower-case; a name with several values carries them NUL-joined
 * (spdystream spdy/write.go writeHeaderValueBlock). Values here are the raw NUL-joined strings.
 */
export type SpdyHeaders = Record<string, string>;

/** The name/value block before compression: count(32) { len(32) name len(32) value }*. */
export function encodeNameValueBlock(headers: SpdyHeaders): Buffer {
  const entries = Object.entries(headers);
  const parts: Buffer[] = [];
  const count = Buffer.allocUnsafe(4);
  count.writeUInt32BE(entries.length);
  parts.push(count);
  for (const [name, value] of entries) {
    for (const s of [name.toLowerCase(), value]) {
      const bytes = Buffer.from(s, 'utf8');
      const len = Buffer.allocUnsafe(4);
      len.writeUInt32BE(bytes.length);
      parts.push(len, bytes);
    }
  }
  return Buffer.concat(parts);
}

/** The largest header block, once inflated, that a session accepts (see maxControlPayload). */
export const maxHeaderBlockLength = 256 * 1024;

/**
 * Reads an inflated name/value block. Throws SpdyProtocolError when the block's structure is broken
 * (truncated, or bytes left over), and SpdyStreamError PROTOCOL_ERROR for what draft §2.6.10 makes
 * a stream error: an empty name, or a value with an empty NUL-separated part. Upper-case or repeated
 * names, which the spec forbids without naming the error, are folded as before.
 */
export function decodeNameValueBlock(block: Buffer): SpdyHeaders {
  const headers: SpdyHeaders = {};
  let off = 0;
  const readString = (): string => {
    if (off + 4 > block.length) throw new SpdyProtocolError('SPDY header block truncated');
    const len = block.readUInt32BE(off);
    off += 4;
    if (len > block.length - off) throw new SpdyProtocolError('SPDY header block truncated');
    const s = block.toString('utf8', off, off + len);
    off += len;
    return s;
  };
  if (block.length < 4) throw new SpdyProtocolError('SPDY header block truncated');
  const count = block.readUInt32BE(0);
  off = 4;
  // Each pair takes at least 8 bytes; this also keeps a huge count from looping.
  if (count > (block.length - 4) / 8) throw new SpdyProtocolError(`SPDY header block announces ${count} headers in ${block.length} bytes`);
  for (let i = 0; i < count; i++) {
    const name = readString().toLowerCase();
    const value = readString();
    if (name === '' || name.includes('\0')) throw new SpdyStreamError('SPDY header name is empty or contains NUL', rstStatus.protocolError);
    if (value !== '' && value.split('\0').includes('')) {
      throw new SpdyStreamError(`SPDY header ${JSON.stringify(name)} has an empty NUL-separated value`, rstStatus.protocolError);
    }
    // defineProperty, so that a name like "__proto__" is a header and not the object's prototype.
    const merged = Object.hasOwn(headers, name) ? `${headers[name]}\0${value}` : value;
    Object.defineProperty(headers, name, { value: merged, enumerable: true, writable: true, configurable: true });
  }
  if (off !== block.length) throw new SpdyProtocolError(`SPDY header block has ${block.length - off} bytes after its last header`);
  return headers;
}

/**
 * Compresses header blocks for one session direction. It emits *stored* deflate blocks ended by
 * the sync-flush marker: valid zlib that any inflater primed with the dictionary reads, produced
 * synchronously, and exactly flush-aligned, which Go's flate reader needs (spdystream rejects a
 * frame whose compressed bytes are not all consumed: WrongCompressedPayloadSize). Header blocks
 * on these sessions are a few dozen bytes, so compression would gain nothing.
 */
export class HeaderCompressor {
  #started = false;

  compress(headers: SpdyHeaders): Buffer {
    const raw = encodeNameValueBlock(headers);
    const parts: Buffer[] = [];
    if (!this.#started) {
      this.#started = true;
      // CMF 0x78 (deflate, 32K window); FLG 0xbb: FDICT set, FCHECK makes CMF*256+FLG divisible by 31.
      const zhdr = Buffer.from([0x78, 0xbb, 0, 0, 0, 0]);
      zhdr.writeUInt32BE(adler32(spdyDictionary), 2);
      parts.push(zhdr);
    }
    for (let off = 0; off < raw.length; off += 0xffff) {
      const piece = raw.subarray(off, off + 0xffff);
      const hdr = Buffer.from([0x00, 0, 0, 0, 0]);
      hdr.writeUInt16LE(piece.length, 1);
      hdr.writeUInt16LE(~piece.length & 0xffff, 3);
      parts.push(hdr, piece);
    }
    // Z_SYNC_FLUSH boundary: an empty stored block.
    parts.push(Buffer.from([0x00, 0x00, 0x00, 0xff, 0xff]));
    return Buffer.concat(parts);
  }
}

/**
 * Inflates header blocks for one session direction: one zlib stream for the whole connection,
 * primed with the SPDY/3 dictionary, each block read up to its sync flush. Every header-bearing
 * frame must pass through here in order, even ones we ignore, or later blocks will not decode.
 * Output is taken as it is produced (flowing mode): a paused inflater stops at its 16 KiB
 * highWaterMark and never calls the flush callback, which used to hang the session on any larger
 * block. A block inflating past `maxLength` (a zlib bomb) fails the decompressor for good.
 */
export class HeaderDecompressor {
  #inflate: Inflate;
  #maxLength: number;
  #failed: Error | undefined;
  #out: Buffer[] = [];
  #outLength = 0;
  #pending: { resolve: (h: SpdyHeaders) => void; reject: (err: Error) => void } | undefined;

  constructor(options: { maxLength?: number } = {}) {
    this.#maxLength = options.maxLength ?? maxHeaderBlockLength;
    this.#inflate = createInflate({ dictionary: spdyDictionary });
    this.#inflate.on('data', (chunk: Buffer) => {
      this.#outLength += chunk.length;
      if (this.#outLength > this.#maxLength) {
        this.#fail(new SpdyProtocolError(`SPDY header block inflates to more than ${this.#maxLength} bytes`));
        return;
      }
      this.#out.push(chunk);
    });
    this.#inflate.on('error', (err: Error) => this.#fail(new SpdyProtocolError(`SPDY header block is not valid zlib: ${err.message}`)));
    // A zlib stream that ends (a final block) leaves nothing to decode later blocks with.
    this.#inflate.on('end', () => this.#fail(new SpdyProtocolError('SPDY header compression stream ended')));
  }

  /**
   * Resolves with the decoded headers. Rejects with SpdyProtocolError when the block is not valid
   * zlib, too large, or structurally broken (the compression state is then lost for good), and with
   * SpdyStreamError for a well-formed block with illegal names or values. Call serially.
   */
  decompress(block: Buffer): Promise<SpdyHeaders> {
    return new Promise((resolve, reject) => {
      if (this.#failed) return reject(this.#failed);
      if (this.#pending) return reject(new Error('HeaderDecompressor: decompress called before the previous block was done'));
      this.#pending = { resolve, reject };
      this.#out = [];
      this.#outLength = 0;
      this.#inflate.write(block);
      this.#inflate.flush(constants.Z_SYNC_FLUSH, () => {
        const pending = this.#pending;
        if (this.#failed || !pending) return;
        this.#pending = undefined;
        const raw = Buffer.concat(this.#out, this.#outLength);
        this.#out = [];
        try {
          pending.resolve(decodeNameValueBlock(raw));
        } catch (err) {
          pending.reject(err as Error);
        }
      });
    });
  }

  close(): void {
    this.#fail(new Error('HeaderDecompressor closed'));
  }

  #fail(err: Error): void {
    if (this.#failed) return;
    this.#failed = err;
    this.#out = [];
    this.#inflate.destroy();
    const pending = this.#pending;
    this.#pending = undefined;
    pending?.reject(err);
  }
}
