import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WireError, WireReader, toInt32, toInt64, toUint, toZigzag } from './wire-reader.ts';

const read = (...bytes: number[]): number | bigint => new WireReader(Uint8Array.from(bytes)).varint();

describe('WireReader', () => {
  it('reads varints as exact numbers up to 49 bits', () => {
    assert.equal(read(0x00), 0);
    assert.equal(read(0x96, 0x01), 150);
    assert.equal(read(0xff, 0xff, 0xff, 0xff, 0x0f), 0xffffffff);
    assert.equal(read(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f), 2 ** 49 - 1);
  });

  it('reads longer varints as 64-bit patterns, so negatives survive', () => {
    const minusOne = read(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01);
    assert.equal(minusOne, 2n ** 64n - 1n);
    assert.equal(toInt32(minusOne), -1);
    assert.equal(toInt64(minusOne), -1);
    assert.equal(toUint(minusOne, 32), 0xffffffff);
    assert.equal(toInt64(read(0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01)), 2 ** 56);
  });

  it('treats a 5-byte int32 with the top bit set as negative', () => {
    assert.equal(toInt32(read(0xfb, 0xff, 0xff, 0xff, 0x0f)), -5);
  });

  it('decodes zigzag', () => {
    assert.deepEqual([0, 1, 2, 3, 4].map(toZigzag), [0, -1, 1, -2, 2]);
    assert.equal(toZigzag(2n ** 64n - 1n), -(2 ** 63));
  });

  it('fails on truncated and over-long input with the offset', () => {
    assert.throws(() => read(0x80), (e: unknown) => e instanceof WireError && /unexpected end of message at byte 1/.test(e.message));
    assert.throws(() => read(...Array<number>(11).fill(0x80)), /varint longer than 10 bytes at byte 0/);
    assert.throws(() => new WireReader(Uint8Array.of(0x03, 0x61)).bytes(), /runs past its message at byte 0/);
  });

  it('reads keys, fixed-width values and skips every wire type', () => {
    const r = new WireReader(Uint8Array.of(0x08, 0x01, 0x11, 1, 0, 0, 0, 0, 0, 0, 0, 0x1a, 0x01, 0x41, 0x25, 0, 0, 0x80, 0x3f, 0x28, 0x02));
    for (const wire of [0, 1, 2, 5]) {
      const k = r.key();
      assert.equal(k.wire, wire);
      r.skip(k.wire);
    }
    assert.deepEqual(r.key(), { field: 5, wire: 0 });
    assert.equal(r.varint(), 2);
    assert.equal(r.done, true);
    assert.equal(new WireReader(Uint8Array.of(0, 0, 0x80, 0x3f)).float(), 1);
    assert.throws(() => new WireReader(Uint8Array.of(0x0b)).skip(3), /unsupported wire type 3/);
  });
});
