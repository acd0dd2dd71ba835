import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { applyJsonMergePatch } from './json-merge-patch.ts';
import { deepFreeze } from './test-helpers.ts';

// The examples of RFC 7386 appendix A, plus the shapes kubectl sends with --type=merge.
const cases: { name: string; original: unknown; patch: unknown; want: unknown }[] = [
  { name: 'replace a value', original: { a: 'b' }, patch: { a: 'c' }, want: { a: 'c' } },
  { name: 'add a key', original: { a: 'b' }, patch: { b: 'c' }, want: { a: 'b', b: 'c' } },
  { name: 'null removes', original: { a: 'b' }, patch: { a: null }, want: {} },
  { name: 'null removes one of two', original: { a: 'b', b: 'c' }, patch: { a: null }, want: { b: 'c' } },
  { name: 'a list replaces a string', original: { a: ['b'] }, patch: { a: 'c' }, want: { a: 'c' } },
  { name: 'a string replaces a list', original: { a: 'c' }, patch: { a: ['b'] }, want: { a: ['b'] } },
  { name: 'nested merge with removal', original: { a: { b: 'c' } }, patch: { a: { b: 'd', c: null } }, want: { a: { b: 'd' } } },
  { name: 'lists of maps are replaced', original: { a: [{ b: 'c' }] }, patch: { a: [1] }, want: { a: [1] } },
  { name: 'a list patch replaces the document', original: ['a', 'b'], patch: ['c', 'd'], want: ['c', 'd'] },
  { name: 'a map patch replaces a list document', original: { a: 'b' }, patch: ['c'], want: ['c'] },
  { name: 'nulls in a new map are dropped', original: {}, patch: { a: { bb: { ccc: null } } }, want: { a: { bb: {} } } },
  { name: 'a nested null over a scalar', original: { e: null }, patch: { a: 1 }, want: { e: null, a: 1 } },
  { name: 'a map patch over a list document', original: [1, 2], patch: { a: 'b', c: null }, want: { a: 'b' } },
  { name: 'a null patch is null', original: { a: 'foo' }, patch: null, want: null },
  { name: 'a string patch', original: { a: 'foo' }, patch: 'bar', want: 'bar' },
  {
    name: 'kubectl patch --type=merge on service ports replaces the list',
    original: { spec: { ports: [{ port: 80 }, { port: 443 }], type: 'ClusterIP' } },
    patch: { spec: { ports: [{ port: 8080 }] } },
    want: { spec: { ports: [{ port: 8080 }], type: 'ClusterIP' } },
  },
];

describe('applyJsonMergePatch', () => {
  for (const tc of cases) {
    it(tc.name, () => {
      assert.deepStrictEqual(applyJsonMergePatch(deepFreeze(structuredClone(tc.original)), deepFreeze(structuredClone(tc.patch))), tc.want);
    });
  }

  it('shares nothing with the patch', () => {
    const patch = { a: { b: [1] } };
    const out = applyJsonMergePatch({}, patch) as { a: { b: number[] } };
    out.a.b.push(2);
    assert.deepStrictEqual(patch, { a: { b: [1] } });
  });
});
