// Small cell formatters shared by the printers, worded like apimachinery's labels and
// metav1 helpers so the cells read exactly as kube-apiserver's.
import type { LabelSelector } from 'kubernetes-types/meta/v1.d.ts';
import type { Container } from 'kubernetes-types/core/v1.d.ts';

/** labels.FormatLabels: sorted `k=v` pairs joined by commas, "<none>" when empty. */
export function formatLabels(labels: Readonly<Record<string, string>> | undefined): string {
  const keys = Object.keys(labels ?? {}).sort();
  if (keys.length === 0) return '<none>';
  return keys.map(k => `${k}=${labels?.[k] ?? ''}`).join(',');
}

/**
 * labels.Selector.String() of metav1.LabelSelectorAsSelector: requirements sorted by key,
 * `k=v`, `k in (a,b)`, `k notin (a,b)`, `k`, `!k`; "" for a missing or empty selector.
 * Returns undefined for an operator kube would reject.
 */
export function selectorString(sel: LabelSelector | undefined | null): string | undefined {
  if (!sel) return '';
  const reqs: { key: string; text: string }[] = [];
  for (const [key, value] of Object.entries(sel.matchLabels ?? {})) reqs.push({ key, text: `${key}=${value}` });
  for (const e of sel.matchExpressions ?? []) {
    const values = [...(e.values ?? [])].sort();
    switch (e.operator) {
      case 'In': reqs.push({ key: e.key, text: `${e.key} in (${values.join(',')})` }); break;
      case 'NotIn': reqs.push({ key: e.key, text: `${e.key} notin (${values.join(',')})` }); break;
      case 'Exists': reqs.push({ key: e.key, text: e.key }); break;
      case 'DoesNotExist': reqs.push({ key: e.key, text: `!${e.key}` }); break;
      default: return undefined;
    }
  }
  // Stable sort by key keeps matchLabels before expressions on the same key.
  reqs.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return reqs.map(r => r.text).join(',');
}

/** metav1.FormatLabelSelector: like selectorString but "<none>" when empty and "<error>" when invalid. */
export function formatLabelSelector(sel: LabelSelector | undefined | null): string {
  const s = selectorString(sel);
  if (s === undefined) return '<error>';
  return s === '' ? '<none>' : s;
}

/** Container names and images, each joined by commas (the wide Containers/Images cells). */
export function containerCells(containers: readonly Container[] | undefined): [names: string, images: string] {
  const list = containers ?? [];
  return [list.map(c => c.name).join(','), list.map(c => c.image ?? '').join(',')];
}

/** net.JoinHostPort: IPv6 literals get brackets. */
export function joinHostPort(host: string, port: number | string): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Unique values sorted (Go's sets.String.List()). */
export function sortedSet(values: Iterable<string>): string[] {
  return [...new Set(values)].sort();
}

/** The list joined by commas, with " + N more..." after the first three (printers.go listWithMoreString). */
export function listWithMore(list: readonly string[], total: number, max = 3, empty = '<unset>'): string {
  const text = list.slice(0, max).join(',');
  if (total > max) return `${text} + ${total - max} more...`;
  return text === '' ? empty : text;
}
