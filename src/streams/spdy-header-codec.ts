import { constants, createInflate, type Inflate } from 'node:zlib';
import { adler32, spdyDictionary } from './spdy-dictionary.ts';

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

export function decodeNameValueBlock(block: Buffer): SpdyHeaders {
  const headers: SpdyHeaders = {};
  let off = 0;
  const readString = (): string => {
    if (off + 4 > block.length) throw new Error('SPDY header block truncated');
    const len = block.readUInt32BE(off);
    off += 4;
    if (off + len > block.length) throw new Error('SPDY header block truncated');
    const s = block.toString('utf8', off, off + len);
    off += len;
    return s;
  };
  if (block.length < 4) throw new Error('SPDY header block truncated');
  const count = block.readUInt32BE(0);
  off = 4;
  for (let i = 0; i < count; i++) {
    const name = readString();
    const value = readString();
    headers[name.toLowerCase()] = name in headers ? `${headers[name]}\0${value}` : value;
  }
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
 */
export class HeaderDecompressor {
  #inflate: Inflate;
  #failed: Error | undefined;

  constructor() {
    this.#inflate = createInflate({ dictionary: spdyDictionary });
    this.#inflate.on('error', (err: Error) => { this.#failed = err; });
  }

  /** Resolves with the decoded headers; rejects when the block is not valid zlib. Call serially. */
  decompress(block: Buffer): Promise<SpdyHeaders> {
    return new Promise((resolve, reject) => {
      if (this.#failed) return reject(this.#failed);
      const onError = (err: Error): void => reject(err);
      this.#inflate.once('error', onError);
      this.#inflate.write(block);
      this.#inflate.flush(constants.Z_SYNC_FLUSH, () => {
        this.#inflate.off('error', onError);
        if (this.#failed) return reject(this.#failed);
        // Paused mode: everything inflated up to the sync flush is buffered by now.
        const out: Buffer[] = [];
        for (let c: Buffer | null; (c = this.#inflate.read() as Buffer | null) !== null;) out.push(c);
        const raw = Buffer.concat(out);
        try {
          resolve(decodeNameValueBlock(raw));
        } catch (err) {
          reject(err as Error);
        }
      });
    });
  }

  close(): void {
    this.#inflate.close();
  }
}
