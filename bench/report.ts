// Rows every benchmark module returns, and the table/JSON/Markdown they are reported as.
// A row compares its value with a target (from the issue) and/or a peer measured in the same run.
// Ratios are always value ÷ reference; `better` says which direction is good, and the printed
// text turns that into words ("3.2× under target", "4.1× slower than peer").

export type Better = 'lower' | 'higher';

export interface Row {
  name: string;
  value: number;
  unit: string;
  better: Better;
  target?: number;
  peer?: number;
  /** Key into the module's peer legend, e.g. 'https-floor'. */
  peerName?: string;
  /** value ÷ peer when a peer exists, otherwise value ÷ target. */
  ratio?: number;
  targetRatio?: number;
  peerRatio?: number;
  note?: string;
}

export interface ModuleResult {
  module: string;
  description: string;
  rows: Row[];
  /** What each peer is, keyed by Row.peerName. */
  peers: Record<string, string>;
  notes: string[];
  error?: string;
  elapsedMs: number;
}

/** Fills in targetRatio/peerRatio/ratio from value, target and peer. */
export function withRatios(row: Row): Row {
  const out = { ...row };
  if (row.target !== undefined && row.target > 0) out.targetRatio = row.value / row.target;
  if (row.peer !== undefined && row.peer > 0) out.peerRatio = row.value / row.peer;
  out.ratio = out.peerRatio ?? out.targetRatio;
  return out;
}

/** Three significant digits, no exponent for the magnitudes benchmarks produce. */
export function fmt(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const a = Math.abs(n);
  if (a >= 1000) return Math.round(n).toLocaleString('en-US');
  if (a >= 100) return n.toFixed(0);
  if (a >= 10) return n.toFixed(1);
  if (a >= 1) return n.toFixed(2);
  if (a === 0) return '0';
  return n.toPrecision(3);
}

function times(r: number): string {
  return `${r >= 10 ? r.toFixed(0) : r.toFixed(1)}×`;
}

/** "3.2× under" when lower is better and value < target, and so on. */
export function describeTarget(row: Row): string {
  if (row.targetRatio === undefined) return '';
  const r = row.targetRatio;
  if (row.better === 'lower') return r <= 1 ? `${times(1 / r)} under ✓` : `${times(r)} over ✗`;
  return r >= 1 ? `${times(r)} above ✓` : `${times(1 / r)} below ✗`;
}

/** "4.1× slower" / "1.3× faster" (or "more"/"less" memory) than the peer. */
export function describePeer(row: Row): string {
  if (row.peerRatio === undefined) return '';
  const r = row.peerRatio;
  const isMemory = /B$/.test(row.unit) && !/\/s$/.test(row.unit);
  if (Math.abs(r - 1) < 0.05) return 'same';
  if (row.better === 'lower') {
    if (isMemory) return r > 1 ? `${times(r)} more` : `${times(1 / r)} less`;
    return r > 1 ? `${times(r)} slower` : `${times(1 / r)} faster`;
  }
  return r < 1 ? `${times(1 / r)} slower` : `${times(r)} faster`;
}

const headers = ['benchmark', 'value', 'target', 'vs target', 'peer', 'vs peer'] as const;

function cells(row: Row): string[] {
  const u = (n: number | undefined) => (n === undefined ? '' : `${fmt(n)} ${row.unit}`);
  return [
    row.name,
    u(row.value),
    u(row.target),
    describeTarget(row),
    row.peer === undefined ? '' : `${u(row.peer)} (${row.peerName ?? 'peer'})`,
    describePeer(row),
  ];
}

/** A fixed-width table for the terminal. */
export function renderText(results: ModuleResult[]): string {
  const lines: string[] = [];
  for (const m of results) {
    lines.push(`== ${m.module}: ${m.description} (${(m.elapsedMs / 1000).toFixed(1)} s)`);
    if (m.error) lines.push(`   FAILED: ${m.error}`);
    const table = [headers.slice() as string[], ...m.rows.map(cells)];
    const widths = headers.map((_, i) => Math.max(...table.map((r) => (r[i] ?? '').length)));
    for (const [n, r] of table.entries()) {
      lines.push(r.map((c, i) => (i === 1 || i === 2 || i === 4 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd());
      if (n === 0) lines.push(widths.map((w) => '-'.repeat(w)).join('  '));
    }
    const peerKeys = Object.keys(m.peers).sort();
    if (peerKeys.length) {
      lines.push('', 'peers:');
      for (const k of peerKeys) lines.push(`  ${k}: ${m.peers[k]}`);
    }
    if (m.notes.length) {
      lines.push('', 'notes:');
      for (const n of m.notes) lines.push(`  - ${n}`);
    }
    lines.push('');
  }
  return lines.join('\n');
}

/** The same tables as Markdown, with a header describing the run. */
export function renderMarkdown(results: ModuleResult[], env: Record<string, string>): string {
  const esc = (s: string) => s.replaceAll('|', '\\|');
  const lines = ['# podgate benchmark report', ''];
  for (const [k, v] of Object.entries(env)) lines.push(`- ${k}: ${v}`);
  lines.push('');
  for (const m of results) {
    lines.push(`## ${m.module}`, '', `${m.description} (${(m.elapsedMs / 1000).toFixed(1)} s)`, '');
    if (m.error) lines.push(`**FAILED:** ${esc(m.error)}`, '');
    lines.push(`| ${headers.join(' | ')} |`, `|${headers.map((_, i) => (i === 1 || i === 2 || i === 4 ? '---:' : '---')).join('|')}|`);
    for (const r of m.rows) lines.push(`| ${cells(r).map(esc).join(' | ')} |`);
    const peerKeys = Object.keys(m.peers).sort();
    if (peerKeys.length) {
      lines.push('', 'Peers:', '');
      for (const k of peerKeys) lines.push(`- **${k}**: ${m.peers[k]}`);
    }
    if (m.notes.length) {
      lines.push('', 'Notes:', '');
      for (const n of m.notes) lines.push(`- ${n}`);
    }
    lines.push('');
  }
  return lines.join('\n');
}
