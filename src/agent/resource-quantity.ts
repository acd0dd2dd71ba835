// Kubernetes resource quantities (`500m`, `64Mi`, `1.5`, `2e3`) read exactly (pure), as far as the
// downward API's resourceFieldRef needs them: kubelet's ExtractContainerResourceValue.
import type { Container } from 'kubernetes-types/core/v1.d.ts';

/** A quantity as an exact fraction num/den of its base unit. */
interface Exact {
  num: bigint;
  den: bigint;
}

const binary: Record<string, number> = { Ki: 10, Mi: 20, Gi: 30, Ti: 40, Pi: 50, Ei: 60 };
const decimal: Record<string, number> = { n: -9, u: -6, m: -3, '': 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };

/** Parses a quantity; undefined when it is not one. */
export function parseQuantity(s: string): Exact | undefined {
  const m = /^([+-]?)(\d+(?:\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$/.exec(s.trim());
  if (!m) return undefined;
  const [int = '', frac = ''] = m[2]!.split('.');
  let num = BigInt((int || '0') + frac) * (m[1] === '-' ? -1n : 1n);
  let den = 10n ** BigInt(frac.length);
  const suffix = m[3] ?? '';
  let exp10 = 0;
  if (suffix in binary) num *= 2n ** BigInt(binary[suffix]!);
  else if (/^[eE]/.test(suffix)) exp10 = Number(suffix.slice(1));
  else exp10 = decimal[suffix]!;
  if (exp10 >= 0) num *= 10n ** BigInt(exp10);
  else den *= 10n ** BigInt(-exp10);
  return { num, den };
}

function ceilDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return q * b < a ? q + 1n : q;
}

/**
 * The value of `limits.cpu`, `requests.memory`, … for the downward API, as the kubelet gives it:
 * cpu is ceil(millicores / divisor's millicores), other resources ceil(value / divisor). An unset
 * limit is the node's allocatable (kubelet's MergeContainerResourceLimits); an unset request is the
 * limit when one is set (API defaulting), else 0. Undefined for a resource or divisor it cannot read.
 */
export function containerResourceValue(container: Container, resource: string, divisor: string | undefined, allocatable: Readonly<Record<string, string>>): string | undefined {
  const m = /^(limits|requests)\.(.+)$/.exec(resource);
  if (!m) return undefined;
  const [, kind, name] = m as unknown as [string, 'limits' | 'requests', string];
  if (!['cpu', 'memory', 'ephemeral-storage'].includes(name) && !name.startsWith('hugepages-')) return undefined;
  const limits = container.resources?.limits as Record<string, string> | undefined;
  const requests = container.resources?.requests as Record<string, string> | undefined;
  const raw = kind === 'limits' ? limits?.[name] ?? allocatable[name] : requests?.[name] ?? limits?.[name] ?? '0';
  const q = parseQuantity(String(raw ?? '0'));
  const d = parseQuantity(String(divisor ?? '1'));
  if (!q || !d || d.num <= 0n) return undefined;
  // q/d with each side rounded up first as Quantity.MilliValue()/Value() do.
  const scale = name === 'cpu' ? 1000n : 1n;
  const qv = ceilDiv(q.num * scale, q.den);
  const dv = ceilDiv(d.num * scale, d.den);
  if (dv === 0n) return undefined;
  return String(ceilDiv(qv, dv));
}
