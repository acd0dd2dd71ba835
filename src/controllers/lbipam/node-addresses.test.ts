// The node-address (ServiceLB) allocator: pure, in memory.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NodeAddressAllocator } from './node-addresses.ts';

const tcp = (...ports: number[]) => ports.map((port) => ({ proto: 'TCP', port }));

describe('NodeAddressAllocator', () => {
  it('never gives a Service podgate\'s own ports (ingress, API server, kubelet, ingress metrics)', () => {
    const a = new NodeAddressAllocator();
    for (const port of [80, 443, 6443, 10250, 10254]) {
      const d = a.allocate(`default/grab${port}`, tcp(8086, port), ['node-1']);
      assert.deepEqual([d.ok, d.ok ? [] : d.reason], [false, 'There are no available nodes for LoadBalancer'], `port ${port}`);
      assert.deepEqual(d.details, [`port TCP/${port} is used by podgate itself on node node-1`]);
      assert.deepEqual(a.nodes(`default/grab${port}`), []);
    }
    // The same numbers over UDP are free, and a free TCP port is handed out as before.
    assert.deepEqual(a.allocate('default/dns', [{ proto: 'UDP', port: 443 }], ['node-1']).ok, true);
    assert.deepEqual(a.allocate('default/influxdb', tcp(8086), ['node-1']), { ok: true, nodes: ['node-1'], details: [] });
  });

  it('takes the reserved list from its options, and a restored Service on a reserved port is let go', () => {
    const a = new NodeAddressAllocator({ reservedPorts: [8443] });
    assert.equal(a.allocate('default/web', tcp(80), ['node-1']).ok, true, 'port 80 is free when the ingress does not use it');
    assert.equal(a.allocate('default/api', tcp(8443), ['node-1']).ok, false);
    assert.deepEqual(a.restore('default/old', ['node-1'], tcp(8443)), [], 'a status written before the port was reserved is not kept');
  });

  it('still reports other LoadBalancer Services and hostPorts as conflicts', () => {
    const a = new NodeAddressAllocator({ reservedPorts: [] });
    assert.equal(a.allocate('default/a', tcp(8086), ['node-1']).ok, true);
    assert.deepEqual(a.allocate('default/b', tcp(8086), ['node-1', 'node-2'], new Map([['node-2', new Map([['TCP/8086', 'default/hp']])]])).details, [
      'port TCP/8086 is already used by LoadBalancer service default/a on node node-1',
      'port TCP/8086 is already used by hostPort of pod default/hp on node node-2',
    ]);
  });
});
