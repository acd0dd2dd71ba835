// A minimal protocol-buffers wire reader: enough for the proto2 messages Kubernetes sends.
// https://protobuf.dev/programming-guides/encoding/

/** A malformed or truncated encoding; `offset` is the byte where reading failed. */
export class WireError extends Error {
  readonly offset: number;

  constructor(message: string, offset: number) {
    super(`${message} at byte ${offset}`);
    this.name = 'WireError';
    this.offset = offset;
  }
}

export const WIRE_VARINT = 0;
export const WIRE_FIXED64 = 1;
export const WIRE_BYTES = 2;
export const WIRE_FIXED32 = 5;

/** Reads one message's bytes, [start, end) of a buffer, front to back. */
export class WireReader {
  readonly #buf: Uint8Array;
  readonly #view: DataView;
  readonly end: number;
  pos: number;

  constructor(buf: Uint8Array, start = 0, end = buf.length) {
    this.#buf = buf;
    this.#view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.pos = start;
    this.end = end;
  }

  get done(): boolean {
    return this.pos >= this.end;
  }

  /**
   * An unsigned varint: a number while it fits in 49 bits (exact), else a bigint holding the
   * 64-bit pattern, so negative int32/int64 values (sent as 10 bytes) survive.
   */
  varint(): number | bigint {
    const start = this.pos;
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      const b = this.#byte();
      if (i === 7) return this.#bigVarint(start);
      value += (b & 0x7f) * scale;
      scale *= 128;
      if (b < 0x80) return value;
    }
    throw new WireError('varint longer than 10 bytes', start);
  }

  #bigVarint(start: number): bigint {
    this.pos = start;
    let value = 0n;
    for (let i = 0n; i < 10n; i++) {
      const b = this.#byte();
      value |= BigInt(b & 0x7f) << (7n * i);
      if (b < 0x80) return BigInt.asUintN(64, value);
    }
    throw new WireError('varint longer than 10 bytes', start);
  }

  /** A field key: the field number and wire type. */
  key(): { field: number; wire: number } {
    const at = this.pos;
    const k = this.varint();
    if (typeof k === 'bigint' || k > 0xffffffff) throw new WireError('field key out of range', at);
    const field = Math.floor(k / 8);
    if (field === 0) throw new WireError('field number 0', at);
    return { field, wire: k % 8 };
  }

  /** A length-delimited payload, as a view into the same buffer. */
  bytes(): Uint8Array {
    const at = this.pos;
    const len = this.varint();
    if (typeof len === 'bigint' || len > this.end - this.pos) throw new WireError('length-delimited field runs past its message', at);
    const out = this.#buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }

  fixed32(): number {
    this.#need(4);
    const v = this.#view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }

  fixed64(): bigint {
    this.#need(8);
    const v = this.#view.getBigUint64(this.pos, true);
    this.pos += 8;
    return v;
  }

  float(): number {
    this.#need(4);
    const v = this.#view.getFloat32(this.pos, true);
    this.pos += 4;
    return v;
  }

  double(): number {
    this.#need(8);
    const v = this.#view.getFloat64(this.pos, true);
    this.pos += 8;
    return v;
  }

  /** Skips one value of the given wire type (unknown fields are ignored, as Go's decoder does). */
  skip(wire: number): void {
    switch (wire) {
      case WIRE_VARINT:
        this.varint();
        return;
      case WIRE_FIXED64:
        this.#need(8);
        this.pos += 8;
        return;
      case WIRE_BYTES:
        this.bytes();
        return;
      case WIRE_FIXED32:
        this.#need(4);
        this.pos += 4;
        return;
      default:
        throw new WireError(`unsupported wire type ${wire}`, this.pos);
    }
  }

  #byte(): number {
    const b = this.pos < this.end ? this.#buf[this.pos] : undefined;
    if (b === undefined) throw new WireError('unexpected end of message', this.pos);
    this.pos++;
    return b;
  }

  #need(n: number): void {
    if (this.end - this.pos < n) throw new WireError('unexpected end of message', this.pos);
  }
}

/** The low 32 bits of a varint as a signed int32 (Go sends negative int32 sign-extended to 64). */
export function toInt32(v: number | bigint): number {
  if (typeof v === 'bigint') return Number(BigInt.asIntN(32, v));
  const low = v % 4294967296;
  return low >= 2147483648 ? low - 4294967296 : low;
}

/** A varint as a signed int64; beyond 2^53 it loses precision, as JSON numbers would. */
export function toInt64(v: number | bigint): number {
  return typeof v === 'bigint' ? Number(BigInt.asIntN(64, v)) : v;
}

/** A varint as an unsigned integer of the given width. */
export function toUint(v: number | bigint, bits: 32 | 64): number {
  return typeof v === 'bigint' ? Number(BigInt.asUintN(bits, v)) : bits === 32 ? v % 4294967296 : v;
}

/** A zigzag-encoded varint (sint32, sint64). */
export function toZigzag(v: number | bigint): number {
  if (typeof v === 'bigint') return Number((v >> 1n) ^ -(v & 1n));
  return v % 2 === 0 ? v / 2 : -(v + 1) / 2;
}
