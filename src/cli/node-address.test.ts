import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { defaultRouteInterface } from './node-address.ts';

describe('defaultRouteInterface', () => {
  it('finds the interface of the 0.0.0.0/0 route', () => {
    const table = `Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth1\t0010A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
eth0\t00000000\t0100A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0
`;
    assert.equal(defaultRouteInterface(table), 'eth0');
  });
  it('says nothing without a default route', () => {
    assert.equal(defaultRouteInterface('Iface\tDestination\n'), undefined);
  });
});
