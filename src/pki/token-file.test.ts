import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatTokenLine, parseTokenFile } from './token-file.ts';

test('parseTokenFile reads rows as kube-apiserver does', () => {
  const cases: { name: string; text: string; want: { token: string; user: string; uid: string; groups: string[] }[] }[] = [
    { name: 'three columns', text: 'abc,alice,1\n', want: [{ token: 'abc', user: 'alice', uid: '1', groups: [] }] },
    { name: 'quoted groups', text: 'abc,alice,1,"g1,g2,g3"\n', want: [{ token: 'abc', user: 'alice', uid: '1', groups: ['g1', 'g2', 'g3'] }] },
    { name: 'one unquoted group', text: 'abc,alice,1,system:masters', want: [{ token: 'abc', user: 'alice', uid: '1', groups: ['system:masters'] }] },
    { name: 'CRLF and blank lines', text: '\r\nabc,alice,1\r\n\r\ndef,bob,2\r\n', want: [{ token: 'abc', user: 'alice', uid: '1', groups: [] }, { token: 'def', user: 'bob', uid: '2', groups: [] }] },
    { name: 'empty token skipped', text: ',nobody,0\nabc,alice,1\n', want: [{ token: 'abc', user: 'alice', uid: '1', groups: [] }] },
    { name: 'later duplicate wins', text: 'abc,alice,1\nabc,bob,2\n', want: [{ token: 'abc', user: 'bob', uid: '2', groups: [] }] },
    { name: 'doubled quotes', text: 'abc,"al""ice",1\n', want: [{ token: 'abc', user: 'al"ice', uid: '1', groups: [] }] },
    { name: 'empty file', text: '', want: [] },
  ];
  for (const c of cases) assert.deepEqual(parseTokenFile(c.text), c.want, c.name);
});

test('parseTokenFile refuses short rows and open quotes', () => {
  assert.throws(() => parseTokenFile('abc,alice\n'), /at least 3 columns/);
  assert.throws(() => parseTokenFile('abc,"alice,1\n'), /unterminated/);
});

test('formatTokenLine round-trips', () => {
  const entry = { token: 't0k', user: 'a,b', uid: 'u"1', groups: ['system:masters', 'dev'] };
  const line = formatTokenLine(entry);
  assert.equal(line, 't0k,"a,b","u""1","system:masters,dev"\n');
  assert.deepEqual(parseTokenFile(line), [entry]);
  assert.equal(formatTokenLine({ token: 't', user: 'u', uid: '1', groups: [] }), 't,u,1\n');
});
