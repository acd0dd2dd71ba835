// The addresses the ingress reports (pure): the Ready Nodes labelled as running podgate's ingress,
// or every labelled Node while none is Ready (a single node stopping or starting, or late with
// its heartbeat, keeps its address), each by its ExternalIP when it has one, else its InternalIP
// (ingress-nginx's GetNodeIPOrName); sorted and distinct whatever the order the informer lists
// them in; the given address when no Node carries the label.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Node } from 'kubernetes-types/core/v1.d.ts';
import { INGRESS_NODE_LABEL, ingressNodeAddresses, isNodeReady, nodeIngressAddress } from './ingress-nodes.ts';

function makeNode(name: string, edit: (n: Node) => void = () => {}): Node {
  const n: Node = {
    apiVersion: 'v1', kind: 'Node',
    metadata: { name, labels: { 'kubernetes.io/hostname': name, [INGRESS_NODE_LABEL]: 'true' } },
    status: { addresses: [{ type: 'Hostname', address: name }], conditions: [{ type: 'Ready', status: 'True' }] },
  };
  edit(n);
  return n;
}
const withIP = (type: string, address: string) => (n: Node) => { n.status!.addresses!.unshift({ type, address }); };
const ready = (status: string) => (n: Node) => { n.status!.conditions = [{ type: 'MemoryPressure', status: 'False' }, { type: 'Ready', status }]; };
const unlabelled = (n: Node) => { delete n.metadata!.labels![INGRESS_NODE_LABEL]; };
const all = (...fs: ((n: Node) => void)[]) => (n: Node) => { for (const f of fs) f(n); };

describe('ingressNodeAddresses', () => {
  const cases: { name: string; nodes: Node[]; fallback?: string[]; want: string[] }[] = [
    {
      name: 'labelled Ready nodes, sorted whatever the list order',
      nodes: [makeNode('c', withIP('InternalIP', '10.0.0.3')), makeNode('a', withIP('InternalIP', '10.0.0.1')), makeNode('b', withIP('InternalIP', '10.0.0.2'))],
      want: ['10.0.0.1', '10.0.0.2', '10.0.0.3'],
    },
    {
      name: 'the same address twice is reported once',
      nodes: [makeNode('a', withIP('InternalIP', '10.0.0.1')), makeNode('b', withIP('InternalIP', '10.0.0.1'))],
      want: ['10.0.0.1'],
    },
    {
      name: 'a node whose Ready is False or Unknown (the node lifecycle controller) drops out',
      nodes: [makeNode('a', withIP('InternalIP', '10.0.0.1')), makeNode('b', all(withIP('InternalIP', '10.0.0.2'), ready('Unknown'))), makeNode('c', all(withIP('InternalIP', '10.0.0.3'), ready('False')))],
      want: ['10.0.0.1'],
    },
    {
      name: 'a node without conditions is not Ready',
      nodes: [makeNode('a', all(withIP('InternalIP', '10.0.0.1'), (n) => { delete n.status!.conditions; })), makeNode('b', withIP('InternalIP', '10.0.0.2'))],
      fallback: ['192.0.2.9'],
      want: ['10.0.0.2'],
    },
    {
      name: 'unlabelled nodes (no proxy) are left out',
      nodes: [makeNode('a', withIP('InternalIP', '10.0.0.1')), makeNode('b', all(withIP('InternalIP', '10.0.0.2'), unlabelled)), makeNode('c', all(withIP('InternalIP', '10.0.0.3'), (n) => { n.metadata!.labels![INGRESS_NODE_LABEL] = 'false'; }))],
      want: ['10.0.0.1'],
    },
    {
      name: 'no node carries the label: the fallback, sorted and distinct',
      nodes: [makeNode('a', all(withIP('InternalIP', '10.0.0.1'), unlabelled))],
      fallback: ['192.0.2.9', 'lb.example.com', '192.0.2.9'],
      want: ['192.0.2.9', 'lb.example.com'],
    },
    { name: 'no nodes at all: the fallback', nodes: [], fallback: ['192.0.2.9'], want: ['192.0.2.9'] },
    {
      name: 'the only labelled node turning Ready=False (its agent stopping cleanly): still its address, not the fallback',
      nodes: [makeNode('a', all(withIP('InternalIP', '10.0.0.1'), ready('False')))],
      fallback: ['192.0.2.9'],
      want: ['10.0.0.1'],
    },
    {
      name: 'the only labelled node Unknown (a late heartbeat): still its address',
      nodes: [makeNode('a', all(withIP('InternalIP', '10.0.0.1'), ready('Unknown')))],
      want: ['10.0.0.1'],
    },
    {
      name: 'the only labelled node not Ready yet (without conditions, as at start): its address',
      nodes: [makeNode('a', all(withIP('InternalIP', '10.0.0.1'), (n) => { delete n.status!.conditions; })), makeNode('b', all(withIP('InternalIP', '10.0.0.2'), unlabelled))],
      fallback: ['192.0.2.9'],
      want: ['10.0.0.1'],
    },
    {
      name: 'labelled nodes, none Ready: every labelled one with an address, unlabelled ones still out',
      nodes: [makeNode('c', all(withIP('InternalIP', '10.0.0.3'), ready('Unknown'))), makeNode('a', all(withIP('InternalIP', '10.0.0.1'), ready('False'))), makeNode('b', ready('False')), makeNode('d', all(withIP('InternalIP', '10.0.0.4'), unlabelled))],
      want: ['10.0.0.1', '10.0.0.3'],
    },
    {
      name: 'a labelled node without an IP is left out',
      nodes: [makeNode('a'), makeNode('b', withIP('InternalIP', '10.0.0.2'))],
      want: ['10.0.0.2'],
    },
  ];
  for (const c of cases) {
    it(c.name, () => assert.deepEqual(ingressNodeAddresses(c.nodes, c.fallback ?? []), c.want));
  }
});

describe('nodeIngressAddress', () => {
  it('is the ExternalIP when the node has one, as ingress-nginx without --report-node-internal-ip-address', () => {
    assert.equal(nodeIngressAddress(makeNode('a', all(withIP('InternalIP', '10.0.0.1'), withIP('ExternalIP', '203.0.113.1')))), '203.0.113.1');
  });
  it('is the first non-empty InternalIP otherwise', () => {
    assert.equal(nodeIngressAddress(makeNode('a', all(withIP('InternalIP', '10.0.0.2'), withIP('InternalIP', ''), withIP('ExternalIP', '')))), '10.0.0.2');
  });
  it('is undefined for a node with neither', () => {
    assert.equal(nodeIngressAddress(makeNode('a')), undefined);
  });
});

describe('isNodeReady', () => {
  it('only a Ready condition with status True counts', () => {
    assert.equal(isNodeReady(makeNode('a')), true);
    assert.equal(isNodeReady(makeNode('a', ready('False'))), false);
    assert.equal(isNodeReady(makeNode('a', ready('Unknown'))), false);
  });
});
