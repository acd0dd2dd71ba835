import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cidrContains, cidrSize, cidrWithin, formatCidr, formatIPv4, parseCidr, parseIPv4 } from './cidr.ts';

describe('cidr', () => {
  it('round-trips addresses', () => {
    for (const a of ['0.0.0.0', '10.244.0.1', '255.255.255.255', '172.31.7.200']) assert.equal(formatIPv4(parseIPv4(a)), a);
  });

  it('rejects malformed addresses and CIDRs', () => {
    for (const bad of ['10.0.0', '10.0.0.256', '1.2.3.4.5', 'a.b.c.d', '', '10.0.0.-1']) assert.throws(() => parseIPv4(bad), /invalid IPv4/);
    for (const bad of ['10.0.0.0', '10.0.0.0/33', '10.0.0.0/x', '10.0.0.0/']) assert.throws(() => parseCidr(bad), /invalid CIDR/);
    assert.throws(() => parseCidr('10.244.0.5/24'), /host bits set \(did you mean 10\.244\.0\.0\/24\?\)/);
  });

  const cases: { cidr: string; size: number; inside: string[]; outside: string[] }[] = [
    { cidr: '10.244.0.0/24', size: 256, inside: ['10.244.0.0', '10.244.0.255'], outside: ['10.244.1.0', '10.243.255.255'] },
    { cidr: '10.244.0.0/16', size: 65536, inside: ['10.244.200.3'], outside: ['10.245.0.0'] },
    { cidr: '0.0.0.0/0', size: 2 ** 32, inside: ['1.2.3.4', '255.255.255.255'], outside: [] },
    { cidr: '192.168.1.7/32', size: 1, inside: ['192.168.1.7'], outside: ['192.168.1.8'] },
  ];
  for (const c of cases) {
    it(`membership in ${c.cidr}`, () => {
      const p = parseCidr(c.cidr);
      assert.equal(formatCidr(p), c.cidr);
      assert.equal(cidrSize(p), c.size);
      for (const a of c.inside) assert.ok(cidrContains(p, parseIPv4(a)), a);
      for (const a of c.outside) assert.ok(!cidrContains(p, parseIPv4(a)), a);
    });
  }

  it('nests', () => {
    assert.ok(cidrWithin(parseCidr('10.244.3.0/24'), parseCidr('10.244.0.0/16')));
    assert.ok(!cidrWithin(parseCidr('10.245.3.0/24'), parseCidr('10.244.0.0/16')));
    assert.ok(!cidrWithin(parseCidr('10.244.0.0/15'), parseCidr('10.244.0.0/16')));
  });
});
