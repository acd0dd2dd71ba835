// PROXY protocol headers: v1 and v2 read from any split of the bytes, malformed and oversized
// headers refused, and the v1 line written for the upstream.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { formatProxyV1, MAX_HEADER_LENGTH, parseProxyHeader, V1_MAX_LENGTH } from './proxy-protocol.ts';

const v1 = (s: string) => Buffer.from(s, 'latin1');

/** A v2 header: fixed part, then `body` (addresses and TLVs). */
function v2(versionCommand: number, familyTransport: number, body: Buffer): Buffer {
  const fixed = Buffer.alloc(16);
  Buffer.from('\r\n\r\n\0\r\nQUIT\n', 'latin1').copy(fixed);
  fixed[12] = versionCommand;
  fixed[13] = familyTransport;
  fixed.writeUInt16BE(body.length, 14);
  return Buffer.concat([fixed, body]);
}

function v2Inet(src: number[], dst: number[], sport: number, dport: number, tlvs = Buffer.alloc(0)): Buffer {
  const ports = Buffer.alloc(4);
  ports.writeUInt16BE(sport, 0);
  ports.writeUInt16BE(dport, 2);
  return v2(0x21, src.length === 4 ? 0x11 : 0x21, Buffer.concat([Buffer.from(src), Buffer.from(dst), ports, tlvs]));
}

describe('parseProxyHeader v1', () => {
  it('reads TCP4 and TCP6 lines and stops at the CRLF', () => {
    const h4 = 'PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n', h6 = 'PROXY TCP6 2001:db8::1 2001:db8::2 0 65535\r\n';
    assert.deepEqual(parseProxyHeader(v1(`${h4}PING`)), { kind: 'complete', length: h4.length,
      addresses: { family: 'TCP4', source: { address: '192.0.2.1', port: 56324 }, destination: { address: '198.51.100.2', port: 443 } } });
    assert.deepEqual(parseProxyHeader(v1(h6)), { kind: 'complete', length: h6.length,
      addresses: { family: 'TCP6', source: { address: '2001:db8::1', port: 0 }, destination: { address: '2001:db8::2', port: 65535 } } });
  });

  it('accepts UNKNOWN with or without addresses, and carries no addresses for it', () => {
    assert.deepEqual(parseProxyHeader(v1('PROXY UNKNOWN\r\nx')), { kind: 'complete', length: 15 });
    assert.deepEqual(parseProxyHeader(v1('PROXY UNKNOWN ffff:: ffff:: 1 2\r\n')), { kind: 'complete', length: 33 });
  });

  it('waits for more at every split of the header', () => {
    const h = v1('PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n');
    for (let n = 0; n < h.length; n++) assert.deepEqual(parseProxyHeader(h.subarray(0, n)), { kind: 'incomplete' }, `first ${n} bytes`);
    assert.equal(parseProxyHeader(h).kind, 'complete');
  });

  it('refuses a connection that does not start with a header, at its first byte', () => {
    for (const s of ['G', 'GET / HTTP/1.1\r\n', 'PROXX', 'proxy TCP4 ', '\r\n\r\nX']) assert.equal(parseProxyHeader(v1(s)).kind, 'invalid', JSON.stringify(s));
  });

  it('refuses malformed lines', () => {
    for (const s of [
      'PROXY TCP5 192.0.2.1 192.0.2.2 1 2\r\n',
      'PROXY TCP4 192.0.2.1 192.0.2.2 1\r\n',
      'PROXY TCP4 192.0.2.1 192.0.2.2 1 2 3\r\n',
      'PROXY TCP4 2001:db8::1 192.0.2.2 1 2\r\n',
      'PROXY TCP6 192.0.2.1 2001:db8::2 1 2\r\n',
      'PROXY TCP4 192.0.2.300 192.0.2.2 1 2\r\n',
      'PROXY TCP4 192.0.2.1 192.0.2.2 1 65536\r\n',
      'PROXY TCP4 192.0.2.1 192.0.2.2 -1 2\r\n',
      'PROXY TCP4 192.0.2.1 192.0.2.2 1 2\n',
      'PROXY TCP4  192.0.2.1 192.0.2.2 1 2\r\n',
      'PROXY \r\n',
    ]) assert.equal(parseProxyHeader(v1(s)).kind, 'invalid', JSON.stringify(s));
  });

  it('refuses a line longer than 107 bytes, without waiting for its end', () => {
    const fits = `PROXY UNKNOWN ${'x'.repeat(V1_MAX_LENGTH - 16)}\r\n`;
    assert.equal(fits.length, V1_MAX_LENGTH);
    assert.deepEqual(parseProxyHeader(v1(fits)), { kind: 'complete', length: V1_MAX_LENGTH });
    assert.equal(parseProxyHeader(v1(`PROXY UNKNOWN ${'x'.repeat(V1_MAX_LENGTH - 15)}\r\n`)).kind, 'invalid');
    assert.equal(parseProxyHeader(v1(`PROXY UNKNOWN ${'x'.repeat(V1_MAX_LENGTH)}`)).kind, 'invalid');
    assert.equal(parseProxyHeader(v1(`PROXY UNKNOWN ${'x'.repeat(V1_MAX_LENGTH - 15)}`)).kind, 'incomplete');
  });
});

describe('parseProxyHeader v2', () => {
  it('reads IPv4 and IPv6 addresses, skipping TLVs', () => {
    const tlv = Buffer.from([0x01, 0x00, 0x02, 0x68, 0x32]);
    const h4 = v2Inet([192, 0, 2, 1], [198, 51, 100, 2], 56324, 443, tlv);
    assert.deepEqual(parseProxyHeader(Buffer.concat([h4, v1('PING')])), { kind: 'complete', length: 16 + 12 + 5,
      addresses: { family: 'TCP4', source: { address: '192.0.2.1', port: 56324 }, destination: { address: '198.51.100.2', port: 443 } } });
    const a = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    const b = [0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    const mapped = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1];
    assert.deepEqual(parseProxyHeader(v2Inet(a, b, 1, 2)), { kind: 'complete', length: 16 + 36,
      addresses: { family: 'TCP6', source: { address: '2001:db8::1', port: 1 }, destination: { address: '2001:db8:1:0:1::', port: 2 } } });
    const zero = new Array<number>(16).fill(0);
    assert.deepEqual(parseProxyHeader(v2Inet(mapped, zero, 1, 2)), { kind: 'complete', length: 16 + 36,
      addresses: { family: 'TCP6', source: { address: '::ffff:10.0.0.1', port: 1 }, destination: { address: '::', port: 2 } } });
  });

  it('waits for more at every split of the header', () => {
    const h = v2Inet([192, 0, 2, 1], [198, 51, 100, 2], 1, 2, Buffer.from([0x04, 0x00, 0x01, 0x00]));
    for (let n = 0; n < h.length; n++) assert.deepEqual(parseProxyHeader(h.subarray(0, n)), { kind: 'incomplete' }, `first ${n} bytes`);
    assert.equal(parseProxyHeader(h).kind, 'complete');
  });

  it('skips LOCAL, UDP and unspecified-family headers whole, with no addresses', () => {
    assert.deepEqual(parseProxyHeader(v2(0x20, 0x00, Buffer.alloc(0))), { kind: 'complete', length: 16 });
    assert.deepEqual(parseProxyHeader(v2(0x21, 0x12, Buffer.alloc(12))), { kind: 'complete', length: 28 });
    assert.deepEqual(parseProxyHeader(v2(0x21, 0x31, Buffer.alloc(216))), { kind: 'complete', length: 232 });
  });

  it('refuses another version, addresses longer than the header, and a header over 4096 bytes', () => {
    assert.equal(parseProxyHeader(v2(0x11, 0x11, Buffer.alloc(12))).kind, 'invalid');
    assert.equal(parseProxyHeader(v2(0x21, 0x11, Buffer.alloc(11))).kind, 'invalid');
    assert.equal(parseProxyHeader(v2(0x21, 0x21, Buffer.alloc(35))).kind, 'invalid');
    const fits = v2(0x21, 0x11, Buffer.alloc(MAX_HEADER_LENGTH - 16));
    assert.deepEqual(parseProxyHeader(fits), { kind: 'complete', length: MAX_HEADER_LENGTH,
      addresses: { family: 'TCP4', source: { address: '0.0.0.0', port: 0 }, destination: { address: '0.0.0.0', port: 0 } } });
    // Refused as soon as the length field is in, not after 64 KiB have been buffered.
    assert.equal(parseProxyHeader(v2(0x21, 0x11, Buffer.alloc(MAX_HEADER_LENGTH - 15)).subarray(0, 16)).kind, 'invalid');
  });
});

describe('formatProxyV1', () => {
  it('writes TCP4 and TCP6 lines the parser reads back', () => {
    const line4 = formatProxyV1({ address: '192.0.2.1', port: 56324 }, { address: '198.51.100.2', port: 443 });
    assert.equal(line4, 'PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n');
    const line6 = formatProxyV1({ address: '2001:db8::1', port: 1 }, { address: 'fe80::1%eth0', port: 2 });
    assert.equal(line6, 'PROXY TCP6 2001:db8::1 fe80::1 1 2\r\n');
    for (const line of [line4, line6]) assert.equal(parseProxyHeader(v1(line)).kind, 'complete');
  });

  it('writes an IPv4 client on a dual-stack listener as TCP4, as nginx (separate IPv4 and IPv6 listeners) sees it', () => {
    assert.equal(formatProxyV1({ address: '::ffff:127.0.0.1', port: 5000 }, { address: '::FFFF:127.0.0.1', port: 9000 }), 'PROXY TCP4 127.0.0.1 127.0.0.1 5000 9000\r\n');
  });

  it('writes UNKNOWN when an address is missing or the two are of different families', () => {
    assert.equal(formatProxyV1({}, { address: '127.0.0.1', port: 1 }), 'PROXY UNKNOWN\r\n');
    assert.equal(formatProxyV1({ address: '127.0.0.1', port: 1 }, { address: '::1', port: 2 }), 'PROXY UNKNOWN\r\n');
    assert.equal(formatProxyV1({ address: '127.0.0.1' }, { address: '127.0.0.1', port: 2 }), 'PROXY UNKNOWN\r\n');
  });
});
