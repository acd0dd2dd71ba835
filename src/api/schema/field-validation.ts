// Strict field validation (`?fieldValidation=Strict|Warn`): finding the fields of a request body
// that the kind's schema does not know, named and worded as kube-apiserver names them.
//
// kube-apiserver decodes with sigs.k8s.io/json's UnmarshalStrict, which records each unknown
// field as `unknown field "<path>"` with the path of struct fields joined by `.` and list items
// as `[i]` (e.g. `spec.template.spec.containers[0].redinessProbe`), in document order, without
// duplicates, at most 100. The request then fails with
// `<Kind> in version "<v>" cannot be handled as a <Kind>: strict decoding error: <errors joined by ", ">`.

import { lookupKind } from '../resources.ts';
import { refPrefix, type Schema } from './models-schema-source.ts';
import { schemaNameFor, servedSchemas } from './served-schemas.ts';

/** A compiled view of a schema: only what unknown-field detection needs. */
type FieldNode =
  | { readonly t: 'struct'; readonly fields: Map<string, FieldNode> }
  | { readonly t: 'list'; items: FieldNode }
  | { readonly t: 'map'; values: FieldNode }
  | { readonly t: 'any' }; // scalars, IntOrString, Quantity, Time, and free-form objects (RawExtension, FieldsV1)

const anyNode: FieldNode = { t: 'any' };

/** kube-apiserver stops collecting strict errors after this many (sigs.k8s.io/json saveStrictError). */
const maxStrictErrors = 100;

function compile(schemas: ReadonlyMap<string, Schema>, memo: Map<string, FieldNode>, s: Schema): FieldNode {
  if (s.$ref) {
    const name = s.$ref.slice(refPrefix.length);
    const known = memo.get(name);
    if (known) return known;
    const target = schemas.get(name);
    if (!target) return anyNode;
    // Register a struct before filling it so recursive types terminate.
    if (target.properties) {
      const node: FieldNode = { t: 'struct', fields: new Map() };
      memo.set(name, node);
      for (const [k, v] of Object.entries(target.properties)) node.fields.set(k, compile(schemas, memo, v));
      return node;
    }
    const node = compile(schemas, memo, target);
    memo.set(name, node);
    return node;
  }
  if (s.allOf?.[0]) return compile(schemas, memo, s.allOf[0]);
  if (s.type === 'array' && s.items) return { t: 'list', items: compile(schemas, memo, s.items) };
  if (s.type === 'object' && s.properties) {
    const fields = new Map<string, FieldNode>();
    for (const [k, v] of Object.entries(s.properties)) fields.set(k, compile(schemas, memo, v));
    return { t: 'struct', fields };
  }
  if (s.type === 'object' && s.additionalProperties) return { t: 'map', values: compile(schemas, memo, s.additionalProperties) };
  return anyNode;
}

let trees: Map<string, FieldNode | null> | undefined;

function treeFor(apiVersion: string, kind: string): FieldNode | undefined {
  trees ??= new Map();
  const key = `${apiVersion}\n${kind}`;
  const cached = trees.get(key);
  if (cached !== undefined) return cached ?? undefined;
  let node: FieldNode | null = null;
  if (lookupKind(apiVersion, kind)) {
    const [group, version] = apiVersion.includes('/') ? apiVersion.split('/', 2) as [string, string] : ['', apiVersion];
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

function walk(node: FieldNode, value: unknown, path: string, out: Set<string>): void {
  if (out.size >= maxStrictErrors) return;
  switch (node.t) {
    case 'any':
      return;
    case 'struct':
      if (!isPlainObject(value)) return; // a type mismatch is the decoder's error, not an unknown field
      for (const key in value) {
        const child = node.fields.get(key);
        const p = path ? `${path}.${key}` : key;
        if (!child) {
          if (out.size < maxStrictErrors) out.add(p);
        } else if (child.t !== 'any') walk(child, value[key], p, out);
      }
      return;
    case 'list':
      if (!Array.isArray(value) || node.items.t === 'any') return;
      for (let i = 0; i < value.length; i++) walk(node.items, value[i], `${path}[${i}]`, out);
      return;
    case 'map':
      if (!isPlainObject(value) || node.values.t === 'any') return;
      for (const key in value) walk(node.values, value[key], `${path}[${key}]`, out);
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
