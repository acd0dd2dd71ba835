import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { applyJsonPatch } from './json-patch.ts';
import { assertStatusError, deepFreeze } from './test-helpers.ts';

const svc = {
  metadata: { name: 'web', labels: { app: 'web' } },
  spec: { ports: [{ port: 80, targetPort: 8080 }], type: 'ClusterIP' },
};

const cases: { name: string; ops: unknown; want: unknown }[] = [
  {
    name: 'replace a field',
    ops: [{ op: 'replace', path: '/spec/type', value: 'NodePort' }],
    want: { ...svc, spec: { ...svc.spec, type: 'NodePort' } },
  },
  {
    name: 'add to the end of a list',
    ops: [{ op: 'add', path: '/spec/ports/-', value: { port: 443 } }],
    want: { ...svc, spec: { ...svc.spec, ports: [{ port: 80, targetPort: 8080 }, { port: 443 }] } },
  },
  {
    name: 'remove a label with an escaped key',
    ops: [
      { op: 'add', path: '/metadata/labels/app.kubernetes.io~1name', value: 'x' },
      { op: 'remove', path: '/metadata/labels/app' },
    ],
    want: { ...svc, metadata: { name: 'web', labels: { 'app.kubernetes.io/name': 'x' } } },
  },
  {
    name: 'a passing test, then a copy and a move',
    ops: [
      { op: 'test', path: '/spec/ports/0/port', value: 80 },
      { op: 'copy', from: '/spec/ports/0/port', path: '/spec/ports/0/nodePort' },
      { op: 'move', from: '/spec/ports/0/targetPort', path: '/spec/ports/0/name' },
    ],
    want: { ...svc, spec: { ...svc.spec, ports: [{ port: 80, nodePort: 80, name: 8080 }] } },
  },
  { name: 'an empty patch', ops: [], want: svc },
  { name: 'a null patch (Go decodes it as empty)', ops: null, want: svc },
];

describe('applyJsonPatch', () => {
  for (const tc of cases) {
    it(tc.name, () => {
      assert.deepStrictEqual(applyJsonPatch(deepFreeze(structuredClone(svc)), deepFreeze(structuredClone(tc.ops))), tc.want);
    });
  }

  it('shares nothing with the operations', () => {
    const ops = [{ op: 'add', path: '/x', value: { y: [1] } }];
    const out = applyJsonPatch({}, ops) as { x: { y: number[] } };
    out.x.y.push(2);
    assert.deepStrictEqual(ops[0]?.value, { y: [1] });
  });

  const failures: { name: string; ops: unknown; code: number; reason: string; message: string }[] = [
    { name: 'a failed test', ops: [{ op: 'test', path: '/spec/type', value: 'NodePort' }], code: 422, reason: 'Invalid', message: 'the server rejected our request due to an error in our request' },
    { name: 'remove of a missing path', ops: [{ op: 'remove', path: '/spec/nope' }], code: 422, reason: 'Invalid', message: 'the server rejected our request due to an error in our request' },
    { name: 'replace of a missing path', ops: [{ op: 'replace', path: '/status/x', value: 1 }], code: 422, reason: 'Invalid', message: 'the server rejected our request due to an error in our request' },
    { name: 'an unknown op', ops: [{ op: 'frobnicate', path: '/spec' }], code: 422, reason: 'Invalid', message: 'the server rejected our request due to an error in our request' },
    { name: 'an add without value', ops: [{ op: 'add', path: '/spec/x' }], code: 422, reason: 'Invalid', message: 'the server rejected our request due to an error in our request' },
    { name: 'a body that is an object', ops: { op: 'add' }, code: 400, reason: 'BadRequest', message: 'json: cannot unmarshal object into Go value of type jsonpatch.Patch' },
    { name: 'an operation that is a string', ops: ['add'], code: 400, reason: 'BadRequest', message: 'json: cannot unmarshal string into Go value of type jsonpatch.Operation' },
    {
      name: 'more than 10000 operations',
      ops: Array.from({ length: 10001 }, () => ({ op: 'test', path: '/spec/type', value: 'ClusterIP' })),
      code: 413,
      reason: 'RequestEntityTooLarge',
      message: 'The allowed maximum operations in a JSON patch is 10000, got 10001',
    },
  ];
  for (const tc of failures) {
    it(`fails: ${tc.name}`, () => {
      const original = deepFreeze(structuredClone(svc));
      assertStatusError(() => applyJsonPatch(original, tc.ops), tc.code, tc.reason, tc.message);
      assert.deepStrictEqual(original, svc);
    });
  }

  it('a failed operation leaves no partial result behind', () => {
    const original = structuredClone(svc);
    assertStatusError(
      () => applyJsonPatch(original, [{ op: 'replace', path: '/spec/type', value: 'NodePort' }, { op: 'test', path: '/spec/type', value: 'x' }]),
      422,
      'Invalid',
    );
    assert.deepStrictEqual(original, svc);
  });

  it('a 422 carries empty details, as NewGenericServerResponse builds it', () => {
    const err = assertStatusError(() => applyJsonPatch(svc, [{ op: 'test', path: '/spec/type', value: 'x' }]), 422, 'Invalid');
    assert.deepStrictEqual(err.toStatus(), {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'the server rejected our request due to an error in our request',
      reason: 'Invalid',
      details: {},
      code: 422,
    });
  });
});
