import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { normalizePath } from './normalize-path.ts';

describe('normalizePath (nginx\'s location-matching form)', () => {
  it('leaves a plain path as it is, and `*`', () => {
    for (const p of ['/', '/a', '/a/b/', '/a.b/c.d', '/a-b_c~d', '*']) assert.equal(normalizePath(p), p);
  });
  it('decodes %XX, merges slashes, resolves . and ..', () => {
    const cases: [string, string][] = [
      ['/x/../admin', '/admin'], ['//admin', '/admin'], ['/%61dmin', '/admin'], ['/./admin/', '/admin/'],
      ['/a//b///c', '/a/b/c'], ['/a/.', '/a/'], ['/a/..', '/'], ['/a/b/../../c', '/c'], ['/a%2F..%2Fadmin', '/admin'],
      ['/%2e%2e/', undefined as unknown as string], ['/caf%C3%A9', '/caf\u00c3\u00a9'], ['/%41%42', '/AB'], ['/a/..b', '/a/..b'], ['/.well-known/x', '/.well-known/x'],
    ];
    for (const [raw, want] of cases) assert.equal(normalizePath(raw), want, raw);
  });
  it('refuses what nginx answers with 400: a bad escape, an encoded NUL, .. above the root', () => {
    for (const p of ['/%zz', '/%4', '/a%', '/%00', '/..', '/a/../../b']) assert.equal(normalizePath(p), undefined, p);
  });
});
