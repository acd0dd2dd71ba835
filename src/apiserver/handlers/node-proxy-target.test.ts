// Where `nodes/ID/proxy` goes (kube's node ResourceLocation): the kubelet with its credentials for
// no port or the kubelet's, any other port of the node as asked, without them.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Node } from 'kubernetes-types/core/v1.d.ts';
import { nodeProxyTarget } from './proxy.ts';

const kubelet = { ca: 'kubelet-ca', cert: 'client-cert', key: 'client-key' };
const node: Node = {
  metadata: { name: 'n1' },
  status: { addresses: [{ type: 'Hostname', address: 'n1' }, { type: 'InternalIP', address: '192.0.2.11' }], daemonEndpoints: { kubeletEndpoint: { Port: 10250 } } },
};

describe('nodeProxyTarget', () => {
  const cases: { id: string; want: ReturnType<typeof nodeProxyTarget> }[] = [
    { id: 'n1', want: { scheme: 'https', host: '192.0.2.11', port: 10250, tls: kubelet } },
    { id: 'n1:10250', want: { scheme: 'https', host: '192.0.2.11', port: 10250, tls: kubelet } },
    { id: 'https:n1:10250', want: { scheme: 'https', host: '192.0.2.11', port: 10250, tls: kubelet } },
    { id: 'n1:9100', want: { scheme: 'http', host: '192.0.2.11', port: 9100 } },
    { id: 'https:n1:9443', want: { scheme: 'https', host: '192.0.2.11', port: 9443 } },
  ];
  for (const c of cases) it(c.id, () => assert.deepEqual(nodeProxyTarget(node, c.id, kubelet), c.want));

  it('refuses a port that is not a number, and a node without an InternalIP', () => {
    assert.throws(() => nodeProxyTarget(node, 'n1:metrics', kubelet), /invalid port "metrics" for node n1/);
    assert.throws(() => nodeProxyTarget({ metadata: { name: 'n2' }, status: {} }, 'n2', kubelet), /node n2 has no InternalIP address/);
  });
});
