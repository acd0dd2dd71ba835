// Reads Kubernetes schemas (with their descriptions) from the `kubernetes-models` package.
//
// No npm package ships the raw Kubernetes OpenAPI JSON. `kubernetes-models` is generated from
// it and keeps every type, field, enum, required field and description in its `.d.ts` files
// (its runtime files hold only compiled validators). Those files come from one generator and
// have one regular shape, so this module parses them back into OpenAPI 3 schemas named like
// kube's (`io.k8s.api.core.v1.Service`). What the generator drops (formats, the
// `x-kubernetes-*` extensions) is added by ./kube-extensions.ts.

import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** An OpenAPI 3.0 schema object as kube-apiserver publishes it (only the parts used here). */
export interface Schema {
  description?: string;
  type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  format?: string;
  enum?: string[];
  properties?: Record<string, Schema>;
  additionalProperties?: Schema;
  items?: Schema;
  required?: string[];
  $ref?: string;
  allOf?: Schema[];
  oneOf?: Schema[];
  default?: unknown;
  [extension: `x-${string}`]: unknown;
}

export const refPrefix = '#/components/schemas/';

/** A type the generator writes as an alias (not an interface); kube gives these fixed schemas. */
const aliasSchemas: Record<string, Schema> = {
  // kube-openapi publishes these two as oneOf without a `type` (OpenAPIV3OneOfTypes), which is
  // also what makes `kubectl explain` print `<IntOrString>` / `<Quantity>` for them.
  'io.k8s.apimachinery.pkg.util.intstr.IntOrString': { format: 'int-or-string', oneOf: [{ type: 'integer' }, { type: 'string' }] },
  'io.k8s.apimachinery.pkg.api.resource.Quantity': { oneOf: [{ type: 'string' }, { type: 'number' }] },
  'io.k8s.apimachinery.pkg.apis.meta.v1.Time': { type: 'string', format: 'date-time' },
  'io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime': { type: 'string', format: 'date-time' },
};

// TypeMeta fields carry no comment in the generated files; these are kube's own descriptions.
const typeMetaDescriptions: Record<string, string> = {
  apiVersion: 'APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources',
  kind: 'Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds',
};

interface PackageRoots {
  readonly models: string; // .../node_modules/kubernetes-models
  readonly apimachinery: string; // .../node_modules/@kubernetes-models/apimachinery
  /** .../node_modules/@kubernetes-models/gateway-api: the Gateway API CRDs, generated the same way. */
  readonly gateway: string;
}

/**
 * Schema names of the Gateway API kinds: named as kube-apiserver names a CRD's schema (the group
 * reversed), `gateway.networking.k8s.io/v1 HTTPRoute` → `io.k8s.networking.gateway.v1.HTTPRoute`.
 * A CRD's nested types have no names of their own on a real cluster; here they keep the
 * generator's type names under the same prefix (kubectl explain resolves either way).
 */
export const gatewaySchemaPrefix = 'io.k8s.networking.gateway.';
const gatewayGroupDir = 'gateway.networking.k8s.io';

function findPackageDir(name: string, from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', ...name.split('/'));
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    if (dirname(dir) === dir) throw new Error(`schema source: package ${name} not found from ${from}`);
  }
}

function packageRoots(): PackageRoots {
  const here = dirname(fileURLToPath(import.meta.url));
  const models = findPackageDir('kubernetes-models', here);
  return { models, apimachinery: findPackageDir('@kubernetes-models/apimachinery', models), gateway: findPackageDir('@kubernetes-models/gateway-api', here) };
}

/**
 * The kube schema name for a generated file: `kubernetes-models/v1/Service` →
 * `io.k8s.api.core.v1.Service`, `networking.k8s.io/v1/Ingress` → `io.k8s.api.networking.v1.Ingress`,
 * `@kubernetes-models/apimachinery/apis/meta/v1/ObjectMeta` → `io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta`.
 */
function schemaNameForFile(roots: PackageRoots, file: string): string {
  const rel = (root: string) => relative(root, file).replace(/\.d\.ts$/, '').split(sep);
  if (file.startsWith(roots.apimachinery + sep)) return ['io.k8s.apimachinery.pkg', ...rel(roots.apimachinery)].join('.');
  if (file.startsWith(roots.gateway + sep)) {
    const [, version, type] = rel(roots.gateway) as [string, string, string];
    return `${gatewaySchemaPrefix}${version}.${type}`;
  }
  const parts = rel(roots.models);
  if (parts.length === 2) return ['io.k8s.api.core', ...parts].join('.');
  if (parts.length === 3) return ['io.k8s.api', parts[0]!.split('.')[0]!, parts[1]!, parts[2]!].join('.');
  throw new Error(`schema source: unexpected file ${file}`);
}

const bareGroups = new Set(['apps', 'autoscaling', 'batch', 'extensions', 'policy']);

/** The file holding a kube schema name; the inverse of schemaNameForFile for the names we use. */
function fileForSchemaName(roots: PackageRoots, name: string): string {
  const p = name.split('.');
  if (name.startsWith('io.k8s.apimachinery.pkg.')) return join(roots.apimachinery, ...p.slice(4)) + '.d.ts';
  if (name.startsWith(gatewaySchemaPrefix)) return join(roots.gateway, gatewayGroupDir, p[4]!, p[5]!) + '.d.ts';
  if (name.startsWith('io.k8s.api.core.')) return join(roots.models, ...p.slice(4)) + '.d.ts';
  if (name.startsWith('io.k8s.api.') && p.length === 6) {
    // The groups named before the `.k8s.io` convention keep their bare names.
    const group = bareGroups.has(p[3]!) ? p[3]! : `${p[3]}.k8s.io`;
    return join(roots.models, group, p[4]!, p[5]!) + '.d.ts';
  }
  throw new Error(`schema source: no file for schema ${name}`);
}

// ---- a tokenizer and parser for the generated type expressions ----

type TypeExpr =
  | { t: 'string' | 'number' | 'boolean' | 'unknown' }
  | { t: 'literals'; values: string[] }
  | { t: 'ref'; ident: string }
  | { t: 'array'; of: TypeExpr }
  | { t: 'map'; of: TypeExpr };

function tokenize(s: string): string[] {
  const out: string[] = [];
  const re = /\s*("(?:[^"\\]|\\.)*"|[A-Za-z_$][\w$]*|\d+|[<>{}[\]:;|,?()])/y;
  let m: RegExpExecArray | null;
  while (re.lastIndex < s.length && (m = re.exec(s))) out.push(m[1]!);
  if (s.slice(re.lastIndex).trim()) throw new Error(`schema source: cannot tokenize ${JSON.stringify(s)}`);
  return out;
}

function parseType(tokens: string[]): TypeExpr {
  let i = 0;
  const expect = (tok: string) => {
    if (tokens[i] !== tok) throw new Error(`schema source: expected ${tok} in ${tokens.join(' ')}`);
    i++;
  };
  const primary = (): TypeExpr => {
    const tok = tokens[i++];
    if (tok === undefined) throw new Error('schema source: unexpected end of type');
    if (tok.startsWith('"')) return { t: 'literals', values: [JSON.parse(tok) as string] };
    if (tok === 'string' || tok === 'number' || tok === 'boolean') return { t: tok };
    // The Gateway API's integer enums (RequestRedirect statusCode: 301 | 302): an integer here.
    if (/^\d+$/.test(tok)) return { t: 'number' };
    if (tok === 'any' || tok === 'unknown' || tok === 'object') return { t: 'unknown' };
    if (tok === 'Array') {
      expect('<');
      const of = union();
      expect('>');
      return { t: 'array', of };
    }
    if (tok === '{') {
      if (tokens[i] === '}') { i++; return { t: 'unknown' }; }
      expect('['); i++; expect(':'); expect('string'); expect(']'); expect(':');
      const of = union();
      if (tokens[i] === ';') i++;
      expect('}');
      return { t: 'map', of };
    }
    if (/^[A-Za-z_$]/.test(tok)) return { t: 'ref', ident: tok };
    throw new Error(`schema source: unexpected token ${tok}`);
  };
  const union = (): TypeExpr => {
    const first = primary();
    if (tokens[i] !== '|') return first;
    const values = first.t === 'literals' ? [...first.values] : undefined;
    let other: TypeExpr | undefined = first.t === 'literals' ? undefined : first;
    while (tokens[i] === '|') {
      i++;
      const next = primary();
      if (next.t === 'literals' && values) values.push(...next.values);
      else other = next;
    }
    // A literal union is an enum; `string | number` style unions only appear in the aliases
    // handled by name (IntOrString, Quantity), so meeting one elsewhere means the format changed.
    if (values && !other) return { t: 'literals', values };
    if (!values && other?.t === 'number') return other;
    throw new Error(`schema source: unexpected union in ${tokens.join(' ')}`);
  };
  const result = union();
  if (i !== tokens.length) throw new Error(`schema source: trailing tokens in ${tokens.join(' ')}`);
  return result;
}

function cleanDescription(lines: string[]): string | undefined {
  const text = lines
    .filter((l) => l.trim() !== '@deprecated')
    // The generator escapes `*` so a description cannot end the comment; undo that.
    .map((l) => l.replaceAll('\\*', '*'))
    .join('\n')
    .trim();
  return text || undefined;
}

/** Reads the JSDoc block that ends at `lines[end - 1]`, if any. */
function docBefore(lines: string[], end: number): string | undefined {
  if (!lines[end - 1]?.trim().endsWith('*/')) return undefined;
  let start = end - 1;
  while (start >= 0 && !lines[start]!.trim().startsWith('/**')) start--;
  const body = lines.slice(start + 1, end - 1).map((l) => l.replace(/^\s*\* ?/, ''));
  return cleanDescription(body);
}

function aliasDescription(file: string): string | undefined {
  const lines = readFileSync(file, 'utf8').split('\n');
  const at = lines.findIndex((l) => /^export type I\w+ = /.test(l));
  return at < 0 ? undefined : docBefore(lines, at);
}

interface ParsedFile {
  readonly description?: string;
  readonly typeMeta: boolean;
  readonly fields: { name: string; optional: boolean; type: TypeExpr; description?: string }[];
  readonly imports: Map<string, string>; // identifier → absolute .d.ts path
  readonly exportedAs?: string; // the generator's flat name, e.g. IoK8sApiCoreV1Service
}

function resolveImport(roots: PackageRoots, fromFile: string, spec: string): string {
  if (spec.startsWith('.')) return join(dirname(fromFile), spec.replace(/\.js$/, '.d.ts'));
  const prefix = '@kubernetes-models/apimachinery/';
  if (spec.startsWith(prefix)) return join(roots.apimachinery, spec.slice(prefix.length) + '.d.ts');
  return ''; // @kubernetes-models/base and the like: not schemas
}

function parseFile(roots: PackageRoots, file: string): ParsedFile {
  const lines = readFileSync(file, 'utf8').split('\n');
  const imports = new Map<string, string>();
  for (const line of lines) {
    const m = /^import \{ ([^}]+) \} from "([^"]+)";/.exec(line);
    if (!m) continue;
    const target = resolveImport(roots, file, m[2]!);
    if (target) for (const id of m[1]!.split(',')) imports.set(id.trim(), target);
  }
  const start = lines.findIndex((l) => /^export interface I\w+( extends \w+)? \{$/.test(l));
  if (start < 0) throw new Error(`schema source: no interface in ${file}`);
  const fields: ParsedFile['fields'] = [];
  // The Gateway API's specs embed a common part (HTTPRouteSpec extends CommonRouteSpec): its
  // fields come first, as Go's embedded struct puts them, and its imports come along.
  const parent = /extends (\w+) \{$/.exec(lines[start]!)?.[1];
  if (parent !== undefined && parent !== 'TypeMeta') {
    const from = imports.get(parent);
    if (!from) throw new Error(`schema source: unresolved ${parent} in ${file}`);
    const base = parseFile(roots, from);
    fields.push(...base.fields);
    for (const [k, v] of base.imports) if (!imports.has(k)) imports.set(k, v);
  }
  for (let i = start + 1; i < lines.length && lines[i] !== '}'; i++) {
    const m = /^ {4}"([^"]+)"(\?)?: (.*)$/.exec(lines[i]!);
    if (!m) continue;
    const first = i;
    let text = m[3]!;
    // A map type spans lines until its braces balance.
    while ((text.match(/\{/g)?.length ?? 0) > (text.match(/\}/g)?.length ?? 0)) text += ' ' + lines[++i]!.trim();
    const description = docBefore(lines, first);
    fields.push({ name: m[1]!, optional: m[2] === '?', type: parseType(tokenize(text.replace(/;$/, ''))), description });
  }
  const exportedAs = /^export type \{ I\w+ as I(\w+),/m.exec(lines.join('\n'))?.[1];
  return { description: docBefore(lines, start), typeMeta: lines[start]!.includes('extends TypeMeta'), fields, imports, exportedAs };
}

/** A Gateway API alias file (`export type IPortNumber = number;`): its type, or undefined for an interface file. */
function gatewayAlias(file: string): { type: TypeExpr; description?: string } | undefined {
  const lines = readFileSync(file, 'utf8').split('\n');
  if (lines.some((l) => /^export interface I\w+/.test(l))) return undefined;
  const at = lines.findIndex((l) => /^export type I\w+ = .*;$/.test(l));
  if (at < 0) return undefined;
  const text = /^export type I\w+ = (.*);$/.exec(lines[at]!)![1]!;
  const ref = /^IIoK8sSigsGatewayApiApisV1(\w+)$/.exec(text);
  // An alias of an alias (HTTPHeaderName = HeaderName): follow it in the same folder.
  if (ref) return gatewayAlias(join(dirname(file), `${ref[1]}.d.ts`));
  const description = docBefore(lines, at);
  return { type: parseType(tokenize(text)), ...(description ? { description } : {}) };
}

/** Parses one generated file into a kube-style schema; references become `$ref`s by kube name. */
function schemaFromFile(roots: PackageRoots, file: string, onReference: (schemaName: string) => void): Schema {
  const parsed = parseFile(roots, file);
  // The path-derived kube name must agree with the generator's own flat name for the type.
  const kubeName = schemaNameForFile(roots, file);
  // The gateway generator names its types after the Go package (sigs.k8s.io/gateway-api/apis/v1).
  const flat = kubeName.startsWith(gatewaySchemaPrefix)
    ? `IoK8sSigsGatewayApiApis${kubeName.split('.').slice(4).map((p) => p.charAt(0).toUpperCase() + p.slice(1)).join('')}`
    : kubeName.split('.').map((p) => p.charAt(0).toUpperCase() + p.slice(1)).join('');
  if (parsed.exportedAs !== flat) throw new Error(`schema source: ${file} exports ${parsed.exportedAs}, expected ${flat}`);
  const toSchema = (t: TypeExpr): Schema => {
    switch (t.t) {
      case 'string': return { type: 'string' };
      case 'boolean': return { type: 'boolean' };
      // Kubernetes core types have no floating-point fields (only JSONSchemaProps, not served).
      case 'number': return { type: 'integer' };
      case 'unknown': return { type: 'object' };
      case 'literals': return { type: 'string', enum: t.values };
      case 'array': return { type: 'array', items: toSchema(t.of) };
      case 'map': return { type: 'object', additionalProperties: toSchema(t.of) };
      case 'ref': {
        const target = parsed.imports.get(t.ident);
        if (!target) throw new Error(`schema source: unresolved ${t.ident} in ${file}`);
        // The Gateway API's named scalars (PortNumber, Hostname, PathMatchType, …) are aliases:
        // a CRD's schema has them inline, so they are inlined here too.
        if (target.startsWith(roots.gateway + sep)) {
          const alias = gatewayAlias(target);
          // The field's own description (added by the caller) says more than the alias's.
          if (alias) return toSchema(alias.type);
        }
        const name = schemaNameForFile(roots, target);
        onReference(name);
        return { $ref: refPrefix + name };
      }
    }
  };
  const properties: Record<string, Schema> = {};
  const required: string[] = [];
  for (const f of parsed.fields) {
    let s: Schema;
    if (parsed.typeMeta && (f.name === 'apiVersion' || f.name === 'kind')) {
      s = { description: typeMetaDescriptions[f.name], type: 'string' };
    } else {
      s = toSchema(f.type);
      // kube wraps a described reference in allOf so the description can sit beside it.
      if (s.$ref) s = f.description ? { allOf: [s], description: f.description } : s;
      else if (f.description) s = { description: f.description, ...s };
    }
    properties[f.name] = s;
    if (!f.optional && !(parsed.typeMeta && (f.name === 'apiVersion' || f.name === 'kind'))) required.push(f.name);
  }
  const schema: Schema = { type: 'object' };
  if (parsed.description) schema.description = parsed.description;
  if (parsed.fields.length) schema.properties = properties;
  if (required.length) schema.required = required.sort();
  return schema;
}

/**
 * Every schema reachable from `roots` (kube names), read from the installed `kubernetes-models`.
 * Throws when the package is missing or a file does not have the generator's shape.
 */
export function loadModelSchemas(rootNames: readonly string[]): Map<string, Schema> {
  const roots = packageRoots();
  const out = new Map<string, Schema>();
  const queue = [...rootNames];
  while (queue.length) {
    const name = queue.shift()!;
    if (out.has(name)) continue;
    const alias = aliasSchemas[name];
    const file = fileForSchemaName(roots, name);
    if (alias) {
      const description = existsSync(file) ? aliasDescription(file) : undefined;
      out.set(name, description ? { description, ...alias } : { ...alias });
      continue;
    }
    if (!existsSync(file)) throw new Error(`schema source: ${name} not found in kubernetes-models (${file})`);
    out.set(name, schemaFromFile(roots, file, (dep) => { if (!out.has(dep)) queue.push(dep); }));
  }
  return out;
}
