// Where would a new connection go? A small interpreter over the Ruleset value, for the rule
// forms ruleset.ts emits (kube-proxy tests the same way with nftablesTracer). It understands only
// those forms and throws on anything else, so a new emitter cannot silently escape the tests.
import { type Ruleset, HAIRPIN, allChains, effectiveValue } from './ruleset.ts';
import { compareIPv4 } from './service-ports.ts';

export interface TracePacket {
  readonly src: string;
  readonly dst: string;
  readonly protocol: 'tcp' | 'udp' | 'sctp';
  readonly dport: number;
  /** 'output' for packets the node itself sends, 'prerouting' for everything arriving. */
  readonly hook: 'prerouting' | 'output';
  /** The node's own addresses (for `fib … type local`). */
  readonly localAddresses: readonly string[];
}

export interface TraceResult {
  readonly verdict: 'accept' | 'dnat' | 'drop' | 'reject';
  /** `ip:port` after DNAT. */
  readonly dnat?: string;
  /** Masqueraded in postrouting. */
  readonly masquerade: boolean;
  /** Chains entered, in order. */
  readonly chains: readonly string[];
}

/** Dynamic sets (affinity) live across traces; keep one per simulated kernel. */
export type TraceState = Map<string, Set<string>>;

function toInt(ip: string): number {
  return ip.split('.').reduce((a, o) => a * 256 + Number(o), 0);
}

function inCidr(ip: string, cidr: string): boolean {
  const [base, len = '32'] = cidr.split('/');
  const bits = Number(len);
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return ((toInt(ip) & mask) >>> 0) === ((toInt(base!) & mask) >>> 0);
}

/** Follows one new connection through the ruleset. `pick(n)` chooses numgen's result (default 0). */
export function tracePacket(r: Ruleset, p: TracePacket, opts: { pick?: (n: number) => number; state?: TraceState } = {}): TraceResult {
  const chains = new Map(allChains(r).map((c) => [c.name, c]));
  const state = opts.state ?? new Map<string, Set<string>>();
  const pick = opts.pick ?? (() => 0);
  const visited: string[] = [];
  let mark = false;
  let dnat: string | undefined;
  let final: TraceResult['verdict'] | undefined;
  const isLocal = (ip: string) => p.localAddresses.includes(ip) || ip.startsWith('127.');

  type Outcome = 'continue' | 'return' | 'stop';
  let current = 0;
  let chainRuns = 0;
  let cascade: { chain: number; choice: number; pos: number } | undefined;
  const runChain = (name: string): Outcome => {
    const chain = chains.get(name);
    if (!chain) throw new Error(`trace: no chain ${name}`);
    visited.push(name);
    const outer = current;
    current = ++chainRuns;
    try {
      for (const rule of chain.rules) {
        const o = runRule(rule);
        if (o === 'stop') return 'stop';
        if (o === 'return') return 'return';
      }
      return 'continue';
    } finally {
      current = outer;
    }
  };

  /** Applies a verdict text (`goto X`, `jump X`, `drop`). 'return' means the calling chain ends (goto). */
  const verdict = (v: string): Outcome => {
    const [kind, target] = v.trim().split(/\s+/);
    if (kind === 'drop') { final = 'drop'; return 'stop'; }
    if (kind === 'goto' || kind === 'jump') {
      const o = runChain(target!);
      if (o === 'stop') return 'stop';
      return kind === 'goto' ? 'return' : 'continue';
    }
    throw new Error(`trace: verdict ${v}`);
  };

  const runRule = (rule: string): Outcome => {
    let rest = rule.trim();
    const take = (re: RegExp): RegExpExecArray | null => {
      const m = re.exec(rest);
      if (m) rest = rest.slice(m[0].length).trimStart();
      return m;
    };
    while (rest) {
      let m: RegExpExecArray | null;
      if ((m = take(/^ip daddr \. meta l4proto \. th dport vmap @(\S+)/))) {
        const v = effectiveValue(r, m[1]!, `${p.dst} . ${p.protocol} . ${p.dport}`);
        return v === undefined ? 'continue' : verdict(v);
      }
      if ((m = take(/^meta l4proto \. th dport vmap @(\S+)/))) {
        const v = effectiveValue(r, m[1]!, `${p.protocol} . ${p.dport}`);
        return v === undefined ? 'continue' : verdict(v);
      }
      if ((m = take(/^ip (saddr|daddr) (!= )?@(\S+)/))) {
        const ip = m[1] === 'saddr' ? p.src : p.dst;
        const set = m[3]!;
        const members = state.get(set) ?? new Set([...(r.elements.get(set)?.keys() ?? [])]);
        const hit = [...members].some((e) => (e.includes('/') ? inCidr(ip, e) : e === ip));
        if (hit === !!m[2]) return 'continue';
        continue;
      }
      if ((m = take(/^ip (saddr|daddr) (!= )?\{ ([^}]*) \}/))) {
        const ip = m[1] === 'saddr' ? p.src : p.dst;
        if (m[3]!.split(', ').some((c) => inCidr(ip, c)) === !!m[2]) return 'continue';
        continue;
      }
      if ((m = take(/^ip (saddr|daddr) (!= )?(\d+\.\d+\.\d+\.\d+(?:\/\d+)?)/))) {
        const ip = m[1] === 'saddr' ? p.src : p.dst;
        if (inCidr(ip, m[3]!) === !!m[2]) return 'continue';
        continue;
      }
      if ((m = take(/^fib (saddr|daddr) type local/))) {
        if (!isLocal(m[1] === 'saddr' ? p.src : p.dst)) return 'continue';
        continue;
      }
      if ((m = take(/^meta l4proto (tcp|udp|sctp)/))) {
        if (m[1] !== p.protocol) return 'continue';
        continue;
      }
      if (take(/^meta mark set meta mark \| 0x4000/)) { mark = true; continue; }
      if ((m = take(/^update @(\S+) \{ ip saddr \}/))) {
        const s = state.get(m[1]!) ?? new Set<string>();
        s.add(p.src);
        state.set(m[1]!, s);
        continue;
      }
      if ((m = take(/^dnat ip to (\d+\.\d+\.\d+\.\d+):(\d+)$/))) {
        dnat = `${m[1]}:${m[2]}`;
        final = 'dnat';
        return 'stop';
      }
      if ((m = take(/^dnat ip to numgen random mod (\d+) map \{ (.*) \}$/))) {
        const n = Number(m[1]);
        const entries = new Map(m[2]!.split(', ').map((e) => { const [i, v] = e.split(' : '); return [Number(i), v!.replace(' . ', ':')]; }));
        const i = pick(n);
        dnat = entries.get(i);
        if (!dnat) throw new Error(`trace: numgen ${i} not in map`);
        final = 'dnat';
        return 'stop';
      }
      // A cascade: rule i of n reads `numgen random mod n-i == 0`; pick(n) on the first names the winner.
      if ((m = take(/^numgen random mod (\d+) == 0/))) {
        const k = Number(m[1]);
        if (!cascade || cascade.chain !== current) cascade = { chain: current, choice: pick(k), pos: 0 };
        if (cascade.choice !== cascade.pos++) return 'continue';
        continue;
      }
      if ((m = take(/^numgen random mod (\d+) vmap \{ (.*) \}$/))) {
        const entries = new Map(m[2]!.split(', ').map((e) => { const [i, v] = e.split(' : '); return [Number(i), v!]; }));
        return verdict(entries.get(pick(Number(m[1])))!);
      }
      if (take(/^reject.*$/)) { final = 'reject'; return 'stop'; }
      if ((m = take(/^(goto|jump) (\S+)$/))) return verdict(`${m[1]} ${m[2]}`);
      if (take(/^drop$/)) { final = 'drop'; return 'stop'; }
      throw new Error(`trace: cannot interpret "${rest}" in rule "${rule}"`);
    }
    return 'continue';
  };

  runChain(p.hook === 'output' ? 'nat-output' : 'nat-prerouting');
  const v = final ?? 'accept';
  let masquerade = false;
  if (v === 'dnat') {
    const epIP = dnat!.split(':')[0]!;
    masquerade = mark || (r.elements.get(HAIRPIN)?.has(`${p.src} . ${epIP}`) ?? false);
  }
  return { verdict: v, ...(dnat ? { dnat } : {}), masquerade, chains: visited };
}

/** Sorted addresses for readable assertions. */
export function sortIPs(ips: Iterable<string>): string[] {
  return [...ips].sort(compareIPv4);
}
