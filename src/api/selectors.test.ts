import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { checkFieldSelector, matchesFields, matchesLabels, parseFieldSelector, parseLabelSelector } from './selectors.ts';
import type { KObject } from './object.ts';

describe('label selectors', () => {
  const cases: [string, Record<string, string>, boolean][] = [
    ['app=web', { app: 'web' }, true],
    ['app==web', { app: 'db' }, false],
    ['app!=web', { app: 'db' }, true],
    ['app!=web', {}, true],
    ['app', { app: '' }, true],
    ['!app', { app: 'x' }, false],
    ['tier in (a, b),app', { tier: 'b', app: 'x' }, true],
    ['tier notin (a,b)', { tier: 'c' }, true],
    ['tier notin (a,b)', { tier: 'a' }, false],
    ['', { any: 'thing' }, true],
  ];
  for (const [sel, labels, want] of cases) {
    it(`${JSON.stringify(sel)} on ${JSON.stringify(labels)} is ${want}`, () => {
      assert.equal(matchesLabels(parseLabelSelector(sel), labels), want);
    });
  }
  it('refuses a malformed selector with 400', () => {
    assert.throws(() => parseLabelSelector('a=b,=c'), (e: Error & { code?: number }) => e.code === 400);
  });
});

describe('field selectors', () => {
  const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web', namespace: 'default' }, spec: { nodeName: 'n1' }, status: { phase: 'Running' } } as KObject;
  it('matches name, node and phase', () => {
    assert.equal(matchesFields(parseFieldSelector('metadata.name=web,spec.nodeName=n1'), pod), true);
    assert.equal(matchesFields(parseFieldSelector('status.phase!=Running'), pod), false);
    assert.equal(matchesFields(parseFieldSelector('spec.nodeName='), pod), false);
  });
  it('refuses unsupported fields with kube\'s words', () => {
    assert.throws(() => checkFieldSelector('Service', 'v1', parseFieldSelector('spec.bogus=1')), /is not a known field selector/);
    // Kinds with their own conversion say it their way; a Pod's spec.host is spec.nodeName; a Node has no namespace.
    assert.throws(() => checkFieldSelector('Pod', 'v1', parseFieldSelector('spec.foo=x')), /^StatusError: field label not supported: spec\.foo$/);
    assert.throws(() => checkFieldSelector('Node', 'v1', parseFieldSelector('metadata.namespace=x')), /field label not supported: metadata\.namespace/);
    checkFieldSelector('Pod', 'v1', parseFieldSelector('spec.host=n1'));
    const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { nodeName: 'n1' } };
    assert.equal(matchesFields(parseFieldSelector('spec.host=n1'), pod), true);
    const ev = { apiVersion: 'v1', kind: 'Event', metadata: { name: 'e' }, reportingController: 'ctl-a' };
    assert.equal(matchesFields(parseFieldSelector('source=ctl-a'), ev), true);
    checkFieldSelector('Event', 'v1', parseFieldSelector('involvedObject.name=web,involvedObject.kind=Service'));
  });
});
