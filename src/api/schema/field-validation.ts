// Strict field validation (`?fieldValidation=Strict|Warn`): finding the fields of a request body
// that the kind's schema does not know, named and worded as kube-apiserver names them.
//
// kube-apiserver decodes with sigs.k8s.io/json's UnmarshalStrict, which records each unknown
// field as `unknown field "<path>"` with the path of struct fields joined by `.` and list items
// as `[i]` (e.g. `spec.template.spec.containers[0].redinessProbe`), in document order, without
// duplicates, at most 100. The request then fails with
// `<Kind> in version "<v>" cannot be handled as a <Kind>: strict decoding error: <errors joined by ", ">`.
//
// The same compiled schemas also find the type errors kube's decoder refuses a body with
// (findDecodeError, below), which podgate would otherwise store.

import { MESSAGES as protoMessages, type FieldRow } from '../protobuf/schema.ts';
import { lookupKind } from '../resources.ts';
import { refPrefix, type Schema } from './models-schema-source.ts';
import { schemaNameFor, servedSchemas } from './served-schemas.ts';

/**
 * A compiled view of a schema: the fields unknown-field detection needs, and the Go type each
 * JSON value is decoded into, named as Go's reflect names it (`v1.PodSpec`, `[]string`, `int32`).
 */
type FieldNode =
  | { readonly t: 'struct'; readonly go: string; readonly name: string; readonly fields: Map<string, FieldNode> }
  | { readonly t: 'list'; readonly go: string; readonly items: FieldNode }
  | { readonly t: 'map'; readonly go: string; readonly values: FieldNode }
  | { readonly t: 'scalar'; readonly go: 'string' | 'bool' | 'int32' | 'int64' | 'float64' | '[]uint8' }
  // Types with their own UnmarshalJSON: what they accept, and how they refuse the rest, is theirs.
  | { readonly t: 'intOrString' | 'quantity' | 'time'; readonly go: string }
  | { readonly t: 'any'; readonly go: string }; // free-form objects (RawExtension, FieldsV1): anything decodes

/** kube-apiserver stops collecting strict errors after this many (sigs.k8s.io/json saveStrictError). */
const maxStrictErrors = 100;

const specialTypes: Record<string, FieldNode> = {
  'io.k8s.apimachinery.pkg.util.intstr.IntOrString': { t: 'intOrString', go: 'intstr.IntOrString' },
  'io.k8s.apimachinery.pkg.api.resource.Quantity': { t: 'quantity', go: 'resource.Quantity' },
  'io.k8s.apimachinery.pkg.apis.meta.v1.Time': { t: 'time', go: 'v1.Time' },
  'io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime': { t: 'time', go: 'v1.MicroTime' },
};

/** Go's name for a kube schema's type: package name and type name (`io.k8s.api.core.v1.Container` → `v1.Container`). */
const goTypeName = (schemaName: string) => schemaName.split('.').slice(-2).join('.');

/**
 * The protobuf row of a JSON field of a kube type (`core.v1.PodSpec`), looking into inline
 * (embedded) structs. The models behind these schemas drop OpenAPI formats, so a field's Go
 * integer width (int32 or int64) and []byte-ness (Secret.data) come from the protobuf tables,
 * which are generated from the Go types.
 */
function protoRow(message: string, field: string): FieldRow | undefined {
  for (const row of protoMessages[message] ?? []) {
    if (row[1] === field) return row;
    const inline = row[1] === '' && row[3]?.includes('i') ? protoRow(row[2], field) : undefined;
    if (inline) return inline;
  }
  return undefined;
}

const protoMessageName = (schemaName: string) => schemaName.replace(/^io\.k8s\.(api|apimachinery\.pkg\.apis)\./, '');

/** `proto` is the field's protobuf type where known: it tells int32 from int64 and string from []byte. */
function compile(schemas: ReadonlyMap<string, Schema>, memo: Map<string, FieldNode>, s: Schema, proto?: string): FieldNode {
  if (s.$ref) {
    const name = s.$ref.slice(refPrefix.length);
    const known = specialTypes[name] ?? memo.get(name);
    if (known) return known;
    const target = schemas.get(name);
    if (!target) return { t: 'any', go: goTypeName(name) };
    // Register a struct before filling it so recursive types terminate.
    if (target.properties) {
      const node: FieldNode = { t: 'struct', go: goTypeName(name), name: name.split('.').at(-1)!, fields: new Map() };
      memo.set(name, node);
      const message = protoMessageName(name);
      for (const [k, v] of Object.entries(target.properties)) node.fields.set(k, compile(schemas, memo, v, protoRow(message, k)?.[2]));
      return node;
    }
    let node = compile(schemas, memo, target);
    if (node.t === 'any') node = { t: 'any', go: goTypeName(name) };
    memo.set(name, node);
    return node;
  }
  if (s.allOf?.[0]) return compile(schemas, memo, s.allOf[0], proto);
  if (s.type === 'array' && s.items) {
    const items = compile(schemas, memo, s.items, proto);
    return { t: 'list', go: `[]${items.go}`, items };
  }
  if (s.type === 'object' && s.properties) {
    // Only CRD schemas (MetalLB) nest structs without naming them; custom resources are not decoded into Go types.
    const fields = new Map<string, FieldNode>();
    for (const [k, v] of Object.entries(s.properties)) fields.set(k, compile(schemas, memo, v));
    return { t: 'struct', go: 'struct', name: '', fields };
  }
  if (s.type === 'object' && s.additionalProperties) {
    const values = compile(schemas, memo, s.additionalProperties, proto);
    return { t: 'map', go: `map[string]${values.go}`, values };
  }
  switch (s.type) {
    case 'string': return { t: 'scalar', go: proto === 'bytes' ? '[]uint8' : 'string' };
    case 'boolean': return { t: 'scalar', go: 'bool' };
    case 'integer': return { t: 'scalar', go: (s.format ?? proto) === 'int64' ? 'int64' : 'int32' };
    case 'number': return { t: 'scalar', go: 'float64' };
    default: return { t: 'any', go: 'interface {}' };
  }
}

function splitApiVersion(apiVersion: string): [group: string, version: string] {
  return apiVersion.includes('/') ? apiVersion.split('/', 2) as [string, string] : ['', apiVersion];
}

let trees: Map<string, FieldNode | null> | undefined;

function treeFor(apiVersion: string, kind: string): FieldNode | undefined {
  trees ??= new Map();
  const key = `${apiVersion}\n${kind}`;
  const cached = trees.get(key);
  if (cached !== undefined) return cached ?? undefined;
  let node: FieldNode | null = null;
  if (lookupKind(apiVersion, kind)) {
    const [group, version] = splitApiVersion(apiVersion);
    const schemas = servedSchemas();
    const name = schemaNameFor(group, version, kind);
    if (schemas.has(name)) node = compile(schemas, new Map(), { $ref: refPrefix + name });
  }
  trees.set(key, node);
  return node ?? undefined;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const hasFields = (node: FieldNode) => node.t === 'struct' || node.t === 'list' || node.t === 'map';

function walk(node: FieldNode, value: unknown, path: string, out: Set<string>): void {
  if (out.size >= maxStrictErrors) return;
  switch (node.t) {
    case 'struct':
      if (!isPlainObject(value)) return; // a type mismatch is the decoder's error, not an unknown field
      for (const key in value) {
        const child = node.fields.get(key);
        const p = path ? `${path}.${key}` : key;
        if (!child) {
          if (out.size < maxStrictErrors) out.add(p);
        } else if (hasFields(child)) walk(child, value[key], p, out);
      }
      return;
    case 'list':
      if (!Array.isArray(value) || !hasFields(node.items)) return;
      for (let i = 0; i < value.length; i++) walk(node.items, value[i], `${path}[${i}]`, out);
      return;
    case 'map':
      if (!isPlainObject(value) || !hasFields(node.values)) return;
      for (const key in value) walk(node.values, value[key], `${path}[${key}]`, out);
      return;
    default:
      return;
  }
}

/**
 * The fields of `obj` that the schema of apiVersion/kind does not have, as kube-apiserver
 * names them (`spec.bogusField`, `spec.ports[0].bogus`), in document order, at most 100.
 * Returns [] for a kind podgate does not serve (the caller reports that on its own).
 */
export function findUnknownFields(apiVersion: string, kind: string, obj: unknown): string[] {
  const tree = treeFor(apiVersion, kind);
  if (!tree) return [];
  const out = new Set<string>();
  walk(tree, obj, '', out);
  return [...out];
}

// ---- type mismatches: what decoding the body into kube's Go types would refuse ----
//
// kube-apiserver decodes a body with sigs.k8s.io/json (a copy of Go's encoding/json, decode.go).
// A JSON value of the wrong kind for its Go field becomes an UnmarshalTypeError, worded
// `json: cannot unmarshal <value> into Go struct field <Struct>.<path> of type <Go type>`, where
// <value> is the JSON kind (`string`, `number`, `bool`, `object`, `array`; `number <literal>` for
// a number an integer type cannot hold), <Struct> the Go struct holding the field, and <path>
// the JSON field names from the top, without list indices or map keys. Decoding goes on after
// such an error and the first one is reported. `null` decodes into anything.

/** How resource.Quantity refuses a value that is neither string nor number: ParseQuantity's ErrFormatWrong (api/resource/quantity.go). */
const quantityFormatError = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

function jsonKind(v: unknown): string {
  if (typeof v === 'boolean') return 'bool';
  if (Array.isArray(v)) return 'array';
  return typeof v === 'string' || typeof v === 'number' ? typeof v : 'object';
}

/** The JSON kind of a value an integer type refuses, or undefined when it fits. */
function intMismatch(v: unknown, go: 'int32' | 'int64'): string | undefined {
  if (typeof v !== 'number') return jsonKind(v);
  const bits = go === 'int32' ? 31 : 63;
  // Go parses the literal as an integer; a fraction, an exponent or an overflow is refused with the literal.
  return Number.isInteger(v) && v >= -(2 ** bits) && v < 2 ** bits ? undefined : `number ${v}`;
}

function typeError(value: string, goType: string, struct: string, field: string): string {
  const into = struct || field ? `Go struct field ${struct}.${field}` : 'Go value';
  return `json: cannot unmarshal ${value} into ${into} of type ${goType}`;
}

interface DecodeState {
  saved?: string; // the first type error, reported when decoding ends
}

/**
 * Decodes `value` into `node` as sigs.k8s.io/json does, saving type errors in `st`. Returns the
 * error of a type's own UnmarshalJSON (IntOrString, Quantity, Time): that one ends decoding at
 * once, so it wins over a type error saved earlier in the document. `struct` and `field` are
 * the decoder's error context: the Go struct holding the value and the JSON path to it.
 */
function decode(node: FieldNode, value: unknown, struct: string, field: string, st: DecodeState): string | undefined {
  if (value === null || value === undefined) return undefined;
  const refuse = (what: string | undefined) => {
    if (what) st.saved ??= typeError(what, node.go, struct, field);
    return undefined;
  };
  switch (node.t) {
    case 'any':
      return undefined;
    case 'struct':
      if (!isPlainObject(value)) return refuse(jsonKind(value));
      for (const key in value) {
        const child = node.fields.get(key);
        if (!child) continue; // an unknown field is skipped (findUnknownFields reports it)
        const err = decode(child, value[key], node.name, field ? `${field}.${key}` : key, st);
        if (err) return err;
      }
      return undefined;
    case 'list':
      if (!Array.isArray(value)) return refuse(jsonKind(value));
      for (const item of value) {
        const err = decode(node.items, item, struct, field, st);
        if (err) return err;
      }
      return undefined;
    case 'map':
      if (!isPlainObject(value)) return refuse(jsonKind(value));
      for (const key in value) {
        const err = decode(node.values, value[key], struct, field, st);
        if (err) return err;
      }
      return undefined;
    case 'scalar':
      switch (node.go) {
        case 'int32': case 'int64': return refuse(intMismatch(value, node.go));
        case 'float64': return refuse(typeof value === 'number' ? undefined : jsonKind(value));
        // A string into []byte is base64 (checked by validation); an array of byte values decodes too.
        case '[]uint8': return refuse(typeof value === 'string' || Array.isArray(value) ? undefined : jsonKind(value));
        default: return refuse(jsonKind(value) === node.go ? undefined : jsonKind(value));
      }
    case 'intOrString': {
      // UnmarshalJSON decodes a string into its string and anything else into its int32 with
      // encoding/json; the outer decoder then names the field in that error.
      if (typeof value === 'string') return undefined;
      const what = intMismatch(value, 'int32');
      return what && typeError(what, 'int32', struct, field);
    }
    case 'quantity':
      // UnmarshalJSON parses a string's contents or any other literal's text with ParseQuantity.
      return typeof value === 'string' || typeof value === 'number' ? undefined : quantityFormatError;
    case 'time':
      // UnmarshalJSON decodes the value into a string with encoding/json before parsing it.
      return typeof value === 'string' ? undefined : typeError(jsonKind(value), 'string', struct, field);
  }
}

/**
 * The first error decoding `obj` into kube's Go type for apiVersion/kind would give, worded as
 * kube-apiserver words it (the part after `cannot be handled as a <Kind>: `), e.g.
 * `json: cannot unmarshal bool into Go struct field ConfigMap.data of type string`.
 * Returns undefined when the body decodes, for a kind podgate does not serve, and for custom
 * resources (MetalLB), which kube decodes without Go types and checks against their schema.
 */
export function findDecodeError(apiVersion: string, kind: string, obj: unknown): string | undefined {
  const tree = treeFor(apiVersion, kind);
  const [group, version] = splitApiVersion(apiVersion);
  if (!tree || !schemaNameFor(group, version, kind).startsWith('io.k8s.')) return undefined;
  const st: DecodeState = {};
  return decode(tree, obj, '', '', st) ?? st.saved;
}

/**
 * kube-apiserver's 400 message for a body that does not decode, e.g.
 * `ConfigMap in version "v1" cannot be handled as a ConfigMap: json: cannot unmarshal bool into Go struct field ConfigMap.data of type string`.
 */
export function decodeErrorMessage(kind: string, version: string, err: string): string {
  return `${kind} in version ${JSON.stringify(version)} cannot be handled as a ${kind}: ${err}`;
}

/**
 * kube-apiserver's 400 message for a strict decoding failure, e.g.
 * `Service in version "v1" cannot be handled as a Service: strict decoding error: unknown field "spec.bogusField"`.
 */
export function strictDecodingMessage(kind: string, version: string, paths: readonly string[]): string {
  const errors = paths.map((p) => `unknown field ${JSON.stringify(p)}`).join(', ');
  return `${kind} in version ${JSON.stringify(version)} cannot be handled as a ${kind}: strict decoding error: ${errors}`;
}

/**
 * The `Warning` header texts kube-apiserver sends for `fieldValidation=Warn` (one per field),
 * e.g. `unknown field "spec.bogusField"`.
 */
export function unknownFieldWarnings(paths: readonly string[]): string[] {
  return paths.map((p) => `unknown field ${JSON.stringify(p)}`);
}
