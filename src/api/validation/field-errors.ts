// Field errors rendered the way the v1.25 kube-apiserver renders BadValue: strings with Go's
// %q, numbers bare, anything else in Go syntax (%#v), e.g. `[]string{"10.96.0.99"}`.
import { field, type FieldError } from '../errors.ts';

/** Go's strconv.Quote for the characters that occur in API values. */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\r') out += '\\r';
    else if (c === 7) out += '\\a';
    else if (c === 8) out += '\\b';
    else if (c === 12) out += '\\f';
    else if (c === 11) out += '\\v';
    else if (c < 0x20 || c === 0x7f) out += `\\x${c.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

/** `[]string{"a", "b"}`, or `[]string(nil)` when absent (Go %#v of a slice). */
export function goSlice(type: string, values: readonly string[] | undefined | null): string {
  if (values === undefined || values === null) return `[]${type}(nil)`;
  return `[]${type}{${values.map(goQuote).join(', ')}}`;
}

/** Renders a scalar BadValue as field.Error does. */
export function goValue(v: unknown): string {
  if (typeof v === 'string') return goQuote(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (v === null || v === undefined) return 'null';
  return JSON.stringify(v);
}

export function invalid(path: string, value: unknown, detail: string, rendered?: string): FieldError {
  return field.invalid(path, value, detail, rendered ?? goValue(value));
}

export function duplicate(path: string, value: unknown, rendered?: string): FieldError {
  return field.duplicate(path, value, rendered ?? goValue(value));
}

export function notSupported(path: string, value: unknown, valid: readonly string[]): FieldError {
  const list = valid.map(goQuote).join(', ');
  return {
    type: 'FieldValueNotSupported',
    field: path,
    message: `Unsupported value: ${goValue(value)}${valid.length ? `: supported values: ${list}` : ''}`,
  };
}

export const required = field.required;
export const forbidden = field.forbidden;

/** v1.25 wording of field.TooLong ("must have at most N bytes"); the value is never shown. */
export function tooLong(path: string, max: number): FieldError {
  return { type: 'FieldValueTooLong', field: path, message: `Too long: must have at most ${max} bytes` };
}

export function tooMany(path: string, actual: number, max: number): FieldError {
  return { type: 'FieldValueTooMany', field: path, message: `Too many: ${actual}: must have at most ${max} items` };
}

/** Builds `a.b[0].c` style paths. `key` renders map keys as field.Path does: `data[tls.crt]`. */
export function child(base: string, name: string): string {
  return base ? `${base}.${name}` : name;
}
export function index(base: string, i: number): string {
  return `${base}[${i}]`;
}
export function key(base: string, k: string): string {
  return `${base}[${k}]`;
}
