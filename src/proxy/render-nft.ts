// Rulesets to `nft -f` scripts (knftables' transaction-as-value: the string is exactly what the
// kernel gets, in one transaction). Pure.
import { type Chain, type Fragment, type Ruleset, type SetDecl, TABLE_FAMILY, TABLE_NAME, allChains, allSets, changedServiceCandidates, effectiveValue } from './ruleset.ts';

const T = `${TABLE_FAMILY} ${TABLE_NAME}`;

/**
 * The whole table, replacing whatever podgate_proxy held, in one transaction: `add table` (a
 * no-op when it exists) and `delete table` first, so readers see the old ruleset or the new one.
 * Established connections keep flowing: conntrack keeps their NAT bindings, rules only decide
 * new connections.
 */
export function renderNft(r: Ruleset): string {
  const lines = [`add table ${T}`, `delete table ${T}`, `table ${T} {`];
  for (const s of allSets(r)) {
    lines.push(`\t${s.kind} ${s.name} {`, ...s.spec.map((l) => `\t\t${l}`));
    const els = [...(r.elements.get(s.name) ?? new Map()).entries()]
      .map(([key, claims]) => (s.kind === 'map' ? `${key} : ${claims[0]!.value}` : key))
      .sort();
    if (els.length) lines.push(`\t\telements = { ${els.join(',\n\t\t\t     ')} }`);
    lines.push('\t}');
  }
  for (const c of allChains(r)) {
    lines.push(`\tchain ${c.name} {`, ...(c.hook ? [`\t\t${c.hook}`] : []), ...c.rules.map((x) => `\t\t${x}`), '\t}');
  }
  lines.push('}');
  return `${lines.join('\n')}\n`;
}

/** Removes podgate's table (and nothing else); cannot fail for want of the table. */
export function renderDelete(): string {
  return `add table ${T}\ndelete table ${T}\n`;
}

/** A change the incremental path cannot express (a set or base chain redeclared): do a full sync. */
export class NeedsFullSyncError extends Error {
  readonly code = 'ENEEDSFULLSYNC';
}

/**
 * The transaction turning the kernel's `prev` into `next`, touching only the chains, sets and
 * elements of owners whose fragment changed. '' when nothing changed. Throws NeedsFullSyncError
 * when a declaration changed under the same name.
 */
export function renderDiff(prev: Ruleset, next: Ruleset): string {
  const touched: [Fragment | undefined, Fragment | undefined][] = [];
  if (prev.base !== next.base && prev.base.signature !== next.base.signature) touched.push([prev.base, next.base]);
  for (const k of changedServiceCandidates(prev, next)) {
    const a = prev.services.get(k);
    const b = next.services.get(k);
    if (a !== b && a?.signature !== b?.signature) touched.push([a, b]);
  }
  if (!touched.length) return '';
  const oldSets = new Map<string, SetDecl>();
  const newSets = new Map<string, SetDecl>();
  const oldChains = new Map<string, Chain>();
  const newChains = new Map<string, Chain>();
  const keys = new Map<string, { set: string; key: string }>();
  for (const [a, b] of touched) {
    for (const s of a?.sets ?? []) oldSets.set(s.name, s);
    for (const s of b?.sets ?? []) newSets.set(s.name, s);
    for (const c of a?.chains ?? []) oldChains.set(c.name, c);
    for (const c of b?.chains ?? []) newChains.set(c.name, c);
    for (const e of [...(a?.elements ?? []), ...(b?.elements ?? [])]) keys.set(`${e.set}\0${e.key}`, e);
  }
  const out: string[] = [];
  const byName = (x: string, y: string) => (x < y ? -1 : x > y ? 1 : 0);
  for (const name of [...newSets.keys()].sort(byName)) {
    const s = newSets.get(name)!;
    const o = oldSets.get(name);
    if (o && o.spec.join('\n') !== s.spec.join('\n')) throw new NeedsFullSyncError(`set ${name} redeclared`);
    if (!o) out.push(`add ${s.kind} ${T} ${name} { ${s.spec.join('; ')}; }`);
  }
  for (const name of [...newChains.keys()].sort(byName)) {
    const c = newChains.get(name)!;
    const o = oldChains.get(name);
    if (o && (o.hook ?? '') !== (c.hook ?? '')) throw new NeedsFullSyncError(`chain ${name} redeclared`);
    if (!o) out.push(c.hook ? `add chain ${T} ${name} { ${c.hook} }` : `add chain ${T} ${name}`);
  }
  for (const name of [...newChains.keys()].sort(byName)) {
    const c = newChains.get(name)!;
    const o = oldChains.get(name);
    if (o && o.rules.join('\n') === c.rules.join('\n')) continue;
    if (o) out.push(`flush chain ${T} ${name}`);
    for (const rule of c.rules) out.push(`add rule ${T} ${name} ${rule}`);
  }
  const dels: string[] = [];
  const adds: string[] = [];
  for (const { set, key } of [...keys.values()].sort((x, y) => byName(x.set, y.set) || byName(x.key, y.key))) {
    const pv = effectiveValue(prev, set, key);
    const nv = effectiveValue(next, set, key);
    if (pv === nv) continue;
    // A set element has the value ''; a map element its verdict.
    if (pv !== undefined) dels.push(`delete element ${T} ${set} { ${key} }`);
    if (nv !== undefined) adds.push(`add element ${T} ${set} { ${nv ? `${key} : ${nv}` : key} }`);
  }
  out.push(...dels, ...adds);
  const gone = [...oldChains.keys()].filter((n) => !newChains.has(n)).sort(byName);
  // Flush them all before deleting any: a removed chain may jump to another removed chain.
  for (const name of gone) out.push(`flush chain ${T} ${name}`);
  for (const name of gone) out.push(`delete chain ${T} ${name}`);
  for (const name of [...oldSets.keys()].filter((n) => !newSets.has(n)).sort(byName)) out.push(`delete ${oldSets.get(name)!.kind} ${T} ${name}`);
  return out.length ? `${out.join('\n')}\n` : '';
}
