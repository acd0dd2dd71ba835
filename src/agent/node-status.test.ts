// The Node's labels (pure): the kubelet's well-known ones plus the agent's extra ones; an extra
// label given as null is left off a new Node and removed (merge patch null) from one taken over.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { newNode, nodeLabels, nodeLabelsPatch, type NodeFacts } from './node-status.ts';

const facts = (extraLabels?: NodeFacts['extraLabels']): NodeFacts => ({
  name: 'n1', nodeIP: '10.0.0.1', hostname: 'n1', cpus: 2, memoryBytes: 2 ** 30, osImage: 'Linux', kernelVersion: '6.1',
  architecture: 'amd64', version: 'v1.32.0-podgate', maxPods: 110, kubeletPort: 10250, ...(extraLabels ? { extraLabels } : {}),
});
const wellKnown = {
  'kubernetes.io/hostname': 'n1', 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64',
  'beta.kubernetes.io/os': 'linux', 'beta.kubernetes.io/arch': 'amd64',
};

describe('node labels', () => {
  it('are the well-known ones without extra labels', () => {
    assert.deepEqual(nodeLabels(facts()), wellKnown);
    assert.deepEqual(nodeLabelsPatch(facts()), wellKnown);
  });
  it('add the extra labels that are not null to a new Node', () => {
    const f = facts({ 'ingress.podgate.io/enabled': 'true', 'example.com/gone': null });
    assert.deepEqual(newNode(f, '2026-01-01T00:00:00Z').metadata?.labels, { ...wellKnown, 'ingress.podgate.io/enabled': 'true' });
  });
  it('patch a Node taken over with null for the extra labels to take off', () => {
    assert.deepEqual(nodeLabelsPatch(facts({ 'ingress.podgate.io/enabled': null })), { ...wellKnown, 'ingress.podgate.io/enabled': null });
  });
  it('cannot replace a well-known label', () => {
    assert.equal(nodeLabels(facts({ 'kubernetes.io/hostname': 'other' }))['kubernetes.io/hostname'], 'n1');
  });
});
