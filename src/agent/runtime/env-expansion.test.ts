import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { expandEnvList, expandVars } from './env-expansion.ts';

describe('expandVars (kubelet rules)', () => {
  const vars: Record<string, string> = { VAR: 'value', EMPTY: '' };
  const lookup = (n: string): string | undefined => vars[n];
  const cases: [string, string][] = [
    ['$(VAR)', 'value'],
    ['x$(VAR)y$(VAR)', 'xvalueyvalue'],
    ['$$(VAR)', '$(VAR)'],
    ['$$$(VAR)', '$value'],
    ['$(UNSET)', '$(UNSET)'],
    ['$(EMPTY)!', '!'],
    ['$VAR', '$VAR'],
    ['$', '$'],
    ['a$', 'a$'],
    ['$(VAR', '$(VAR'],
    ['$$', '$'],
    ['${VAR}', '${VAR}'],
    ['$()', '$()'],
  ];
  for (const [input, want] of cases) it(`${input} → ${want}`, () => assert.equal(expandVars(input, lookup), want));
});

describe('expandEnvList', () => {
  it('lets values refer to variables defined earlier, not later', () => {
    assert.deepEqual(expandEnvList([{ name: 'A', value: 'a' }, { name: 'B', value: '$(A)-$(C)' }, { name: 'C', value: 'c' }]), { A: 'a', B: 'a-$(C)', C: 'c' });
  });
});
