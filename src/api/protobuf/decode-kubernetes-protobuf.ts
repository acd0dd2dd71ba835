// Decodes `application/vnd.kubernetes.protobuf` request bodies into the object their JSON
// encoding would be, so the rest of the API server sees one shape whatever the client sent.
//
// kubectl's typed clients (create deployment|service|configmap|secret|...) send protobuf and have
// no JSON fallback on 415 (client-go rest/request.go). The body is the magic `k8s\0` followed by a
// runtime.Unknown {typeMeta{apiVersion, kind}, raw, contentEncoding, contentType} whose `raw` is
// the object's generated.proto encoding (k8s.io/apimachinery/pkg/runtime/serializer/protobuf).
//
// How protobuf presence maps to Go's JSON (the generated Go marshallers write every non-pointer
// field, even when zero, and pointers only when set):
// - a scalar present with its zero value is dropped when the Go field is not a pointer and has
//   `omitempty` (flag 'k' absent), kept otherwise: `replicas: 0` (*int32) stays, `clusterIP: ""`
//   goes, `port: 0` (no omitempty) stays;
// - a message present is always emitted, even empty, since Go's omitempty never drops structs
//   (`status: {}`, `resources: {}`), except a zero metav1.Time, which Go writes as null and which
//   is left out here;
// - repeated fields and maps appear only when they have entries (JSON null and absent are the same
//   to every reader of these objects).

import { errors } from '../errors.ts';
import { type FieldRow, MESSAGES, ROOTS } from './schema.ts';
import {
  WIRE_BYTES,
  WIRE_FIXED32,
  WIRE_FIXED64,
  WIRE_VARINT,
  WireError,
  WireReader,
  toInt32,
  toInt64,
  toUint,
  toZigzag,
} from './wire-reader.ts';

export const KUBERNETES_PROTOBUF_MEDIA_TYPE = 'application/vnd.kubernetes.protobuf';

/** The four bytes every Kubernetes protobuf body starts with: "k8s\0". */
export const KUBERNETES_PROTOBUF_MAGIC: Readonly<Uint8Array> = Uint8Array.of(0x6b, 0x38, 0x73, 0x00);

/** True when a Content-Type header names the Kubernetes protobuf encoding (parameters ignored). */
export function isKubernetesProtobuf(contentType: string | undefined): boolean {
  return (contentType ?? '').split(';')[0]?.trim().toLowerCase() === KUBERNETES_PROTOBUF_MEDIA_TYPE;
}

/** apiVersion → message-name prefix in the schema. */
const PACKAGE_BY_API_VERSION: Readonly<Record<string, string>> = {
  v1: 'core.v1',
  'apps/v1': 'apps.v1',
  'batch/v1': 'batch.v1',
  'networking.k8s.io/v1': 'networking.v1',
  'discovery.k8s.io/v1': 'discovery.v1',
  'certificates.k8s.io/v1': 'certificates.v1',
  'meta.k8s.io/v1': 'meta.v1',
};

const ROOT_SET = new Set(ROOTS);

/** The apiVersion/kind pairs decodeKubernetesProtobuf accepts, sorted. */
export function decodableKinds(): Array<{ apiVersion: string; kind: string }> {
  const out: Array<{ apiVersion: string; kind: string }> = [];
  for (const [apiVersion, pkg] of Object.entries(PACKAGE_BY_API_VERSION)) {
    for (const root of ROOTS) if (root.startsWith(`${pkg}.`)) out.push({ apiVersion, kind: root.slice(pkg.length + 1) });
  }
  return out.sort((a, b) => a.apiVersion.localeCompare(b.apiVersion) || a.kind.localeCompare(b.kind));
}

/**
 * Decodes a Kubernetes protobuf request body into the object its JSON encoding would be, with
 * apiVersion and kind taken from the envelope. Throws a 400 StatusError when the body is not a
 * well-formed envelope, its kind is not one this decoder knows, or the object is malformed.
 */
export function decodeKubernetesProtobuf(body: Uint8Array): Record<string, unknown> {
  if (body.length < 4 || KUBERNETES_PROTOBUF_MAGIC.some((b, i) => body[i] !== b)) {
    throw errors.badRequest('the protobuf body does not start with the Kubernetes magic bytes "k8s\\x00"');
  }
  const envelope = decodeEnvelope(body);
  const { apiVersion, kind } = envelope;
  if (!kind || !apiVersion) {
    throw errors.badRequest(`the protobuf body does not name its ${kind ? 'apiVersion' : 'kind'} (runtime.Unknown typeMeta)`);
  }
  if (envelope.contentEncoding) {
    throw errors.badRequest(`the protobuf body has contentEncoding "${envelope.contentEncoding}"; only unencoded bodies are supported`);
  }
  const message = messageFor(apiVersion, kind);
  if (!message) {
    throw errors.badRequest(`no kind "${kind}" is registered for version "${apiVersion}" in the protobuf decoder; send the object as application/json`);
  }
  const object = decodeObject(envelope.raw, message, kind);
  return { kind, apiVersion, ...object };
}

function messageFor(apiVersion: string, kind: string): string | undefined {
  const pkg = PACKAGE_BY_API_VERSION[apiVersion];
  if (!pkg) return undefined;
  // DeleteOptions is registered in every group version (metav1.AddToGroupVersion).
  if (kind === 'DeleteOptions') return 'meta.v1.DeleteOptions';
  const name = `${pkg}.${kind}`;
  return ROOT_SET.has(name) ? name : undefined;
}

interface Envelope {
  apiVersion: string;
  kind: string;
  raw: Uint8Array;
  contentEncoding: string;
}

function decodeEnvelope(body: Uint8Array): Envelope {
  const env: Envelope = { apiVersion: '', kind: '', raw: new Uint8Array(0), contentEncoding: '' };
  try {
    const r = new WireReader(body, 4);
    while (!r.done) {
      const { field, wire } = r.key();
      if (wire !== WIRE_BYTES) {
        r.skip(wire);
        continue;
      }
      const bytes = r.bytes();
      if (field === 1) {
        const t = new WireReader(bytes);
        while (!t.done) {
          const k = t.key();
          if (k.wire === WIRE_BYTES && k.field === 1) env.apiVersion = utf8.decode(t.bytes());
          else if (k.wire === WIRE_BYTES && k.field === 2) env.kind = utf8.decode(t.bytes());
          else t.skip(k.wire);
        }
      } else if (field === 2) env.raw = bytes;
      else if (field === 3) env.contentEncoding = utf8.decode(bytes);
    }
  } catch (err) {
    if (err instanceof WireError) throw errors.badRequest(`the protobuf envelope (runtime.Unknown) is malformed: ${err.message}`);
    throw err;
  }
  return env;
}

/** A decoding failure with the JSON path it happened at. */
class DecodeFailure extends Error {}

function decodeObject(raw: Uint8Array, message: string, kind: string): Record<string, unknown> {
  try {
    return decodeMessage(new WireReader(raw), message, '');
  } catch (err) {
    if (err instanceof DecodeFailure || err instanceof WireError) {
      throw errors.badRequest(`unable to decode the protobuf body of ${kind}: ${err.message}`);
    }
    throw err;
  }
}

const utf8 = new TextDecoder('utf-8');
const fieldIndex = new Map<string, Map<number, FieldRow>>();

function fieldsOf(message: string): Map<number, FieldRow> {
  let index = fieldIndex.get(message);
  if (!index) {
    const rows = MESSAGES[message];
    if (!rows) throw new Error(`protobuf schema has no message ${message}`);
    index = new Map(rows.map((row) => [row[0], row]));
    fieldIndex.set(message, index);
  }
  return index;
}

function where(path: string, what: string): string {
  return path ? `${what} (at ${path})` : what;
}

function decodeMessage(r: WireReader, message: string, path: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const fields = fieldsOf(message);
  while (!r.done) {
    let key: { field: number; wire: number };
    let row: FieldRow | undefined;
    try {
      key = r.key();
      row = fields.get(key.field);
      if (!row) {
        r.skip(key.wire); // a field newer than this schema, ignored as Go's decoder does
        continue;
      }
    } catch (err) {
      if (err instanceof WireError) throw new DecodeFailure(where(path, err.message));
      throw err;
    }
    const [, json, type, flags = ''] = row;
    const childPath = json ? (path ? `${path}.${json}` : json) : path;
    try {
      if (flags.includes('m')) {
        expectWire(key.wire, WIRE_BYTES, childPath);
        const entry = decodeMapEntry(new WireReader(r.bytes()), type, childPath);
        const map = (out[json] ??= {}) as Record<string, unknown>;
        map[entry.key] = entry.value;
      } else if (flags.includes('r')) {
        const list = (out[json] ??= []) as unknown[];
        if (key.wire === WIRE_BYTES && isPackable(type)) {
          const packed = new WireReader(r.bytes());
          while (!packed.done) list.push(readScalar(packed, type, wireOf(type), childPath));
        } else {
          list.push(readValue(r, type, key.wire, `${childPath}[${list.length}]`));
        }
      } else {
        const value = readValue(r, type, key.wire, childPath);
        if (flags.includes('i')) Object.assign(out, value);
        else if (value === undefined) delete out[json];
        else if (!flags.includes('k') && isScalar(type) && isZeroScalar(value)) delete out[json];
        else if (isPlainObject(value) && isPlainObject(out[json]) && !isSpecial(type)) {
          Object.assign(out[json] as Record<string, unknown>, value); // a repeated message field merges
        } else out[json] = value;
      }
    } catch (err) {
      if (err instanceof WireError) throw new DecodeFailure(where(childPath, err.message));
      throw err;
    }
  }
  return out;
}

function decodeMapEntry(r: WireReader, type: string, path: string): { key: string; value: unknown } {
  let key = '';
  let value: unknown;
  while (!r.done) {
    const k = r.key();
    if (k.field === 1) {
      expectWire(k.wire, WIRE_BYTES, path);
      key = utf8.decode(r.bytes());
    } else if (k.field === 2) {
      value = readValue(r, type, k.wire, `${path}[${JSON.stringify(key)}]`);
    } else r.skip(k.wire);
  }
  return { key, value: value === undefined ? zeroValue(type) : value };
}

function readValue(r: WireReader, type: string, wire: number, path: string): unknown {
  if (isScalar(type)) return readScalar(r, type, wire, path);
  expectWire(wire, WIRE_BYTES, path);
  const bytes = r.bytes();
  const special = SPECIAL_DECODERS[type];
  if (special) return special(new WireReader(bytes), path);
  return decodeMessage(new WireReader(bytes), type, path);
}

const SCALAR_WIRE: Readonly<Record<string, number>> = {
  string: WIRE_BYTES,
  bytes: WIRE_BYTES,
  bool: WIRE_VARINT,
  int32: WIRE_VARINT,
  int64: WIRE_VARINT,
  uint32: WIRE_VARINT,
  uint64: WIRE_VARINT,
  sint32: WIRE_VARINT,
  sint64: WIRE_VARINT,
  double: WIRE_FIXED64,
  fixed64: WIRE_FIXED64,
  float: WIRE_FIXED32,
  fixed32: WIRE_FIXED32,
};

function isScalar(type: string): boolean {
  return SCALAR_WIRE[type] !== undefined;
}

function wireOf(type: string): number {
  return SCALAR_WIRE[type] ?? WIRE_BYTES;
}

function isPackable(type: string): boolean {
  const w = SCALAR_WIRE[type];
  return w !== undefined && w !== WIRE_BYTES;
}

function expectWire(actual: number, expected: number, path: string): void {
  if (actual !== expected) {
    throw new DecodeFailure(where(path, `wire type ${actual} where ${expected} was expected`));
  }
}

function readScalar(r: WireReader, type: string, wire: number, path: string): unknown {
  expectWire(wire, wireOf(type), path);
  switch (type) {
    case 'string':
      return utf8.decode(r.bytes());
    case 'bytes':
      return Buffer.from(r.bytes()).toString('base64');
    case 'bool':
      return r.varint() !== 0;
    case 'int32':
      return toInt32(r.varint());
    case 'int64':
      return toInt64(r.varint());
    case 'uint32':
      return toUint(r.varint(), 32);
    case 'uint64':
      return toUint(r.varint(), 64);
    case 'sint32':
    case 'sint64':
      return toZigzag(r.varint());
    case 'double':
      return r.double();
    case 'fixed64':
      return Number(r.fixed64());
    case 'float':
      return r.float();
    default:
      return r.fixed32();
  }
}

function isZeroScalar(value: unknown): boolean {
  return value === '' || value === 0 || value === false;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isSpecial(type: string): boolean {
  return SPECIAL_DECODERS[type] !== undefined;
}

function zeroValue(type: string): unknown {
  if (type === 'string' || type === 'bytes') return '';
  if (type === 'bool') return false;
  if (isScalar(type)) return 0;
  const special = SPECIAL_DECODERS[type];
  if (special) return special(new WireReader(new Uint8Array(0)), '');
  return {};
}

/** Reads the scalar fields of a small message into a field-number → value map. */
function readFields(r: WireReader, types: Readonly<Record<number, string>>, path: string): Map<number, unknown> {
  const out = new Map<number, unknown>();
  while (!r.done) {
    const k = r.key();
    const type = types[k.field];
    if (type) out.set(k.field, readScalar(r, type, k.wire, path));
    else r.skip(k.wire);
  }
  return out;
}

/** Messages whose JSON form is not field by field (they have their own MarshalJSON in Go). */
const SPECIAL_DECODERS: Readonly<Record<string, (r: WireReader, path: string) => unknown>> = {
  // metav1.Time: {seconds, nanos}, JSON RFC3339 in UTC to the second; Go ignores nanos on both
  // sides (time_proto.go). An empty message is the zero time, which Go writes as null.
  'meta.v1.Time': (r, path) => {
    if (r.done) return undefined;
    const f = readFields(r, { 1: 'int64', 2: 'int32' }, path);
    return formatTime(Number(f.get(1) ?? 0), undefined, path);
  },
  // metav1.MicroTime: the same with six fraction digits (RFC3339Micro).
  'meta.v1.MicroTime': (r, path) => {
    if (r.done) return undefined;
    const f = readFields(r, { 1: 'int64', 2: 'int32' }, path);
    return formatTime(Number(f.get(1) ?? 0), Number(f.get(2) ?? 0), path);
  },
  // metav1.Duration: {duration (ns)}, JSON as Go's time.Duration.String().
  'meta.v1.Duration': (r, path) => formatDuration(BigInt(Number(readFields(r, { 1: 'int64' }, path).get(1) ?? 0))),
  // intstr.IntOrString: {type (0 int, 1 string), intVal, strVal}.
  'intstr.IntOrString': (r, path) => {
    const f = readFields(r, { 1: 'int64', 2: 'int32', 3: 'string' }, path);
    return f.get(1) === 1 ? (f.get(3) ?? '') : (f.get(2) ?? 0);
  },
  // resource.Quantity: {string}, JSON as that string; the zero Quantity is "0".
  'resource.Quantity': (r, path) => {
    const s = readFields(r, { 1: 'string' }, path).get(1);
    return typeof s === 'string' && s !== '' ? s : '0';
  },
  // metav1.FieldsV1 and runtime.RawExtension: {raw}, which holds JSON; written as that JSON.
  'meta.v1.FieldsV1': (r, path) => readRawJson(r, path),
  'runtime.RawExtension': (r, path) => readRawJson(r, path),
  // certificates/v1 ExtraValue ([]string, a CSR's spec.extra values): {repeated string items}.
  'certificates.v1.ExtraValue': (r, path) => {
    const items: unknown[] = [];
    while (!r.done) {
      const k = r.key();
      if (k.field === 1) items.push(readScalar(r, 'string', k.wire, path));
      else r.skip(k.wire);
    }
    return items;
  },
};

function readRawJson(r: WireReader, path: string): unknown {
  const raw = readFields(r, { 1: 'bytes' }, path).get(1);
  if (typeof raw !== 'string' || raw === '') return undefined;
  const text = Buffer.from(raw, 'base64').toString('utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new DecodeFailure(where(path, 'embedded raw value is not JSON'));
  }
}

/** RFC3339 in UTC; with nanos (MicroTime) always six fraction digits, as RFC3339Micro. */
function formatTime(seconds: number, nanos: number | undefined, path: string): string {
  const date = new Date(seconds * 1000);
  if (Number.isNaN(date.getTime())) throw new DecodeFailure(where(path, `time ${seconds}s is out of range`));
  const whole = date.toISOString().replace(/\.\d{3}Z$/, '');
  if (nanos === undefined) return `${whole}Z`;
  return `${whole}.${String(Math.floor(nanos / 1000)).padStart(6, '0')}Z`;
}

/** Go's time.Duration.String(): "0s", "1.5µs", "300ms", "1h2m3.5s". */
export function formatDuration(ns: bigint): string {
  if (ns === 0n) return '0s';
  const sign = ns < 0n ? '-' : '';
  let u = ns < 0n ? -ns : ns;
  if (u < 1000n) return `${sign}${u}ns`;
  if (u < 1_000_000n) return `${sign}${fraction(u, 1000n)}µs`;
  if (u < 1_000_000_000n) return `${sign}${fraction(u, 1_000_000n)}ms`;
  const hours = u / 3_600_000_000_000n;
  u %= 3_600_000_000_000n;
  const minutes = u / 60_000_000_000n;
  u %= 60_000_000_000n;
  const hm = hours ? `${hours}h${minutes}m` : minutes ? `${minutes}m` : '';
  return `${sign}${hm}${fraction(u, 1_000_000_000n)}s`;
}

function fraction(value: bigint, unit: bigint): string {
  const whole = value / unit;
  const rest = value % unit;
  if (rest === 0n) return `${whole}`;
  const digits = String(rest).padStart(String(unit).length - 1, '0').replace(/0+$/, '');
  return `${whole}.${digits}`;
}
