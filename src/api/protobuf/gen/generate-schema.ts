// Regenerates ../schema.ts, the field tables the protobuf decoder walks.
//
//   node_modules/.bin/node src/api/protobuf/gen/generate-schema.ts <k8s.io/api git dir> <k8s.io/apimachinery git dir> [tag]
//
// Both arguments are git directories (bare or not) of github.com/kubernetes/api and
// github.com/kubernetes/apimachinery; files are read at the release tag (default v0.36.3, both
// repos tag releases alike) with `git show`. A release, not master: master refers to alpha
// packages this decoder does not carry.
// Field numbers and protobuf types come from each package's generated.proto; the JSON side of
// each field (its name, `omitempty`, whether the Go field is a pointer, `inline`) comes from the
// Go struct tags in the same package, matched by protobuf field number. Only messages reachable
// from ROOTS are emitted.

import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Short package prefix → [which repo, directory in it]. */
const PACKAGES: Record<string, [repo: 'api' | 'apimachinery', dir: string]> = {
  'core.v1': ['api', 'core/v1'],
  'apps.v1': ['api', 'apps/v1'],
  'batch.v1': ['api', 'batch/v1'],
  'networking.v1': ['api', 'networking/v1'],
  'discovery.v1': ['api', 'discovery/v1'],
  'certificates.v1': ['api', 'certificates/v1'],
  'meta.v1': ['apimachinery', 'pkg/apis/meta/v1'],
  runtime: ['apimachinery', 'pkg/runtime'],
  intstr: ['apimachinery', 'pkg/util/intstr'],
  resource: ['apimachinery', 'pkg/api/resource'],
  schema: ['apimachinery', 'pkg/runtime/schema'],
};

/** proto package name → short prefix. */
const PROTO_PACKAGES: Record<string, string> = {
  'k8s.io.api.core.v1': 'core.v1',
  'k8s.io.api.apps.v1': 'apps.v1',
  'k8s.io.api.batch.v1': 'batch.v1',
  'k8s.io.api.networking.v1': 'networking.v1',
  'k8s.io.api.discovery.v1': 'discovery.v1',
  'k8s.io.api.certificates.v1': 'certificates.v1',
  'k8s.io.apimachinery.pkg.apis.meta.v1': 'meta.v1',
  'k8s.io.apimachinery.pkg.runtime': 'runtime',
  'k8s.io.apimachinery.pkg.util.intstr': 'intstr',
  'k8s.io.apimachinery.pkg.api.resource': 'resource',
  'k8s.io.apimachinery.pkg.runtime.schema': 'schema',
};

/** The top-level objects the decoder accepts; everything they reach is emitted. */
const ROOTS = [
  'core.v1.Service', 'core.v1.ConfigMap', 'core.v1.Secret', 'core.v1.Namespace', 'core.v1.ServiceAccount',
  'core.v1.Pod', 'core.v1.Endpoints', 'core.v1.Node', 'core.v1.Event',
  'apps.v1.Deployment', 'apps.v1.ReplicaSet', 'apps.v1.DaemonSet',
  'networking.v1.Ingress', 'networking.v1.IngressClass', 'discovery.v1.EndpointSlice',
  'batch.v1.Job', 'batch.v1.CronJob', 'certificates.v1.CertificateSigningRequest', 'meta.v1.DeleteOptions',
];

/** Messages whose JSON form is not their field-by-field form; the decoder handles them by hand. */
const SPECIAL = new Set([
  'meta.v1.Time', 'meta.v1.MicroTime', 'meta.v1.Duration', 'meta.v1.FieldsV1',
  'runtime.RawExtension', 'intstr.IntOrString', 'resource.Quantity',
  // certificates/v1 ExtraValue is a []string whose proto form wraps it in {repeated string items}.
  'certificates.v1.ExtraValue',
]);

const SCALARS = new Set(['string', 'bytes', 'bool', 'int32', 'int64', 'uint32', 'uint64', 'sint32', 'sint64', 'double', 'float', 'fixed32', 'fixed64']);

interface ProtoField { number: number; name: string; type: string; repeated: boolean; map: boolean }
interface GoField { json: string; omitempty: boolean; pointer: boolean; inline: boolean; skip: boolean }

const [apiDir, machineryDir, ref = 'v0.36.3'] = process.argv.slice(2);
if (!apiDir || !machineryDir) {
  process.stderr.write('usage: generate-schema.ts <k8s.io/api git dir> <k8s.io/apimachinery git dir>\n');
  process.exit(2);
}
const gitDirs = { api: apiDir, apimachinery: machineryDir };

function git(repo: 'api' | 'apimachinery', ...args: string[]): string {
  return execFileSync('git', ['--git-dir', gitDirs[repo], ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
}

function qualify(dotted: string, pkg: string): string {
  const type = dotted.replace(/^\./, '');
  if (SCALARS.has(type)) return type;
  const dot = type.lastIndexOf('.');
  if (dot < 0) return `${pkg}.${type}`;
  const short = PROTO_PACKAGES[type.slice(0, dot)];
  if (!short) throw new Error(`unknown proto package in ${type}`);
  return `${short}.${type.slice(dot + 1)}`;
}

function parseProto(pkg: string, text: string, out: Map<string, ProtoField[]>): void {
  let current: ProtoField[] | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\/\/.*$/, '').trim();
    if (!line) continue;
    const msg = /^message (\w+) \{$/.exec(line);
    if (msg?.[1]) {
      current = [];
      out.set(`${pkg}.${msg[1]}`, current);
      continue;
    }
    if (line === '}') {
      current = undefined;
      continue;
    }
    if (!current) continue;
    const map = /^map<string, ([\w.]+)> (\w+) = (\d+);$/.exec(line);
    if (map?.[1] && map[2] && map[3]) {
      current.push({ number: Number(map[3]), name: map[2], type: qualify(map[1], pkg), repeated: false, map: true });
      continue;
    }
    const f = /^(optional|repeated) ([\w.]+) (\w+) = (\d+);$/.exec(line);
    if (f?.[1] && f[2] && f[3] && f[4]) {
      current.push({ number: Number(f[4]), name: f[3], type: qualify(f[2], pkg), repeated: f[1] === 'repeated', map: false });
      continue;
    }
    if (/^(option|reserved|oneof)\b/.test(line)) continue;
    throw new Error(`${pkg}: cannot parse proto line: ${line}`);
  }
}

function parseGo(pkg: string, text: string, out: Map<string, GoField>): void {
  let struct: string | undefined;
  for (const line of text.split('\n')) {
    const start = /^type (\w+) struct \{/.exec(line);
    if (start?.[1]) {
      struct = start[1];
      continue;
    }
    if (line.startsWith('}')) {
      struct = undefined;
      continue;
    }
    if (!struct) continue;
    const f = /^\s*(?:(\w+)\s+)?([*[\]\w.]+)\s+`([^`]*)`/.exec(line);
    if (!f?.[2] || !f[3]) continue;
    const proto = /protobuf:"[a-z0-9]+,(\d+),/.exec(f[3]);
    if (!proto?.[1]) continue;
    const json = /json:"([^"]*)"/.exec(f[3])?.[1] ?? '';
    const [jsonName = '', ...opts] = json.split(',');
    out.set(`${pkg}.${struct}#${proto[1]}`, {
      json: jsonName,
      omitempty: opts.includes('omitempty'),
      pointer: f[2].startsWith('*'),
      inline: (jsonName === '' && json !== '-') || opts.includes('inline'),
      skip: jsonName === '-',
    });
  }
}

const protoFields = new Map<string, ProtoField[]>();
const goFields = new Map<string, GoField>();
const commits: string[] = [];
for (const repo of ['api', 'apimachinery'] as const) commits.push(`k8s.io/${repo}@${ref}`);
for (const [pkg, [repo, dir]] of Object.entries(PACKAGES)) {
  parseProto(pkg, git(repo, 'show', `${ref}:${dir}/generated.proto`), protoFields);
  const files = git(repo, 'ls-tree', '--name-only', ref, `${dir}/`).split('\n');
  for (const file of files) {
    if (!file.endsWith('.go') || file.endsWith('_test.go') || file.includes('generated')) continue;
    parseGo(pkg, git(repo, 'show', `${ref}:${file}`), goFields);
  }
}

const emitted = new Map<string, string>();
const queue = [...ROOTS];
while (queue.length) {
  const name = queue.shift() as string;
  if (emitted.has(name) || SPECIAL.has(name)) continue;
  const fields = protoFields.get(name);
  if (!fields) throw new Error(`message ${name} not found`);
  const rows: string[] = [];
  for (const f of fields) {
    const go = goFields.get(`${name}#${f.number}`);
    if (!go) throw new Error(`${name}: no Go field for proto field ${f.name} = ${f.number}`);
    if (go.skip) continue;
    if (!SCALARS.has(f.type)) queue.push(f.type);
    // 'r' repeated, 'm' map (string keys), 'k' keep a zero value (pointer, or no omitempty),
    // 'i' inline (an embedded Go struct whose fields sit in the parent's JSON object).
    const flags = `${f.repeated ? 'r' : ''}${f.map ? 'm' : ''}${go.pointer || !go.omitempty ? 'k' : ''}${go.inline ? 'i' : ''}`;
    const jsonName = go.inline ? '' : go.json;
    rows.push(`[${f.number}, ${JSON.stringify(jsonName)}, ${JSON.stringify(f.type)}${flags ? `, ${JSON.stringify(flags)}` : ''}]`);
  }
  emitted.set(name, `  ${JSON.stringify(name)}: [${rows.join(', ')}],`);
}

const here = dirname(fileURLToPath(import.meta.url));
const body = [...emitted.keys()].sort().map((k) => emitted.get(k)).join('\n');
writeFileSync(
  join(here, '..', 'schema.ts'),
  `// Field tables for decoding Kubernetes protobuf, generated by gen/generate-schema.ts from
// ${commits.join(' and ')}. Do not edit by hand; change the generator and run it again.

/**
 * One field: [protobuf field number, JSON name ('' when inline), type, flags]. The type is a
 * protobuf scalar (string, bytes, bool, int32, int64, ...) or a message name in this table or one
 * of the hand-decoded ones (meta.v1.Time, meta.v1.MicroTime, meta.v1.Duration, meta.v1.FieldsV1,
 * runtime.RawExtension, intstr.IntOrString, resource.Quantity, certificates.v1.ExtraValue). Flags: 'r' repeated; 'm' a map
 * with string keys whose values have the type; 'k' keep a zero value (the Go field is a pointer or
 * its JSON tag has no omitempty); 'i' inline (an embedded Go struct whose fields sit in the
 * parent's JSON object).
 */
export type FieldRow = readonly [number: number, json: string, type: string, flags?: string];

/** The top-level messages a request body may hold. */
export const ROOTS: readonly string[] = ${JSON.stringify(ROOTS)};

export const MESSAGES: Readonly<Record<string, readonly FieldRow[]>> = {
${body}
};
`,
);
process.stdout.write(`wrote ${emitted.size} messages\n`);
