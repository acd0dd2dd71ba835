import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatIpv4, formatPortRange, parseCidr, parseIpv4, parsePortRange } from '../../api/net/cidr.ts';
import { Bitmap } from './bitmap.ts';

test('parseCidr masks host bits and counts addresses', () => {
  const cases: [string, { text: string; size: number }][] = [
    ['10.96.0.0/12', { text: '10.96.0.0/12', size: 1 << 20 }],
    ['10.96.5.7/16', { text: '10.96.0.0/16', size: 65536 }],
    ['192.168.1.0/30', { text: '192.168.1.0/30', size: 4 }],
    ['0.0.0.0/0', { text: '0.0.0.0/0', size: 2 ** 32 }],
  ];
  for (const [input, want] of cases) {
    const c = parseCidr(input);
    assert.deepEqual({ text: c.text, size: c.size }, want, input);
  }
  for (const bad of ['10.96.0.0', '10.96.0.0/33', 'fd00::/108', '10.256.0.0/16', 'x/8']) {
    assert.throws(() => parseCidr(bad), /invalid service CIDR/, bad);
  }
});

test('IPv4 text round-trips through integers', () => {
  for (const ip of ['0.0.0.0', '10.96.0.1', '255.255.255.255', '172.16.3.4']) assert.equal(formatIpv4(parseIpv4(ip)!), ip);
  for (const bad of ['10.96.0', '10.96.0.256', '10.96.0.1.2', '', 'a.b.c.d']) assert.equal(parseIpv4(bad), undefined, bad);
});

test('port ranges parse as net.ParsePortRange and print as PortRange.String', () => {
  const cases: [string, { base: number; size: number }, string][] = [
    ['30000-32767', { base: 30000, size: 2768 }, '30000-32767'],
    ['30000+2767', { base: 30000, size: 2768 }, '30000-32767'],
    ['30000', { base: 30000, size: 1 }, '30000-30000'],
  ];
  for (const [input, want, text] of cases) {
    assert.deepEqual(parsePortRange(input), want);
    assert.equal(formatPortRange(parsePortRange(input)), text);
  }
  for (const bad of ['32767-30000', '30000-70000', 'abc', '']) assert.throws(() => parsePortRange(bad), /invalid port range/, bad);
});

test('bitmap counts, skips full words and wraps', () => {
  const b = new Bitmap(100);
  for (let i = 0; i < 96; i++) assert.ok(b.set(i));
  assert.equal(b.set(5), false);
  assert.equal(b.count, 96);
  assert.equal(b.findFree(0, 100, 0, () => true), 96);
  assert.equal(b.findFree(0, 100, 98, () => true), 98);
  assert.equal(b.findFree(0, 100, 98, (i) => i !== 98 && i !== 99), 96, 'wraps to the start');
  b.clear(40);
  assert.equal(b.findFree(0, 100, 97, (i) => i < 50), 40);
  for (let i = 96; i < 100; i++) b.set(i);
  b.set(40);
  assert.equal(b.pickFree(16, () => 0.5), undefined, 'full');
  b.reset();
  assert.equal(b.count, 0);
});
