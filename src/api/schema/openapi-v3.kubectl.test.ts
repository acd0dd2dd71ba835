// The real kubectl against a throwaway plain-HTTP server on 127.0.0.1 that serves /version,
// legacy discovery, these OpenAPI v3 documents, and a Service collection that enforces
// fieldValidation with findUnknownFields. Proves `kubectl explain` reads the schemas and
// `kubectl apply` takes the server-side validation path (no /openapi/v2 request).

import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { resources, servedGroupVersions } from '../resources.ts';
import { findUnknownFields, strictDecodingMessage } from './field-validation.ts';
import { openapiV3Document, openapiV3Root } from './openapi-v3.ts';

const kubectl = '/usr/bin/kubectl';

interface Seen {
  method: string;
  url: string;
  contentType?: string;
  body?: string;
}

function send(res: ServerResponse, code: number, body: unknown): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(text);
}

function status(code: number, reason: string, message: string): object {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

function discovery(group: string, version: string): object {
  const gv = servedGroupVersions().find((g) => g.group === group && g.version === version);
  if (!gv) return status(404, 'NotFound', 'the server could not find the requested resource');
  const list: object[] = [];
  for (const r of gv.resources) {
    list.push({ name: r.resource, singularName: r.singular, namespaced: r.namespaced, kind: r.kind, verbs: r.verbs,
      ...(r.shortNames.length ? { shortNames: r.shortNames } : {}), ...(r.categories.length ? { categories: r.categories } : {}) });
    for (const s of r.subresources) list.push({ name: `${r.resource}/${s.name}`, singularName: '', namespaced: r.namespaced, kind: s.kind, verbs: s.verbs });
  }
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: group ? `${group}/${version}` : version, resources: list };
}

const stored = new Map<string, object>();

function handle(req: IncomingMessage, body: string, res: ServerResponse, seen: Seen[]): void {
  const url = new URL(req.url ?? '/', 'http://x');
  seen.push({ method: req.method ?? '', url: req.url ?? '', contentType: req.headers['content-type'], body });
  const p = url.pathname;
  if (p === '/version') return send(res, 200, { major: '1', minor: '32', gitVersion: 'v1.32.0', platform: 'linux/amd64' });
  if (p === '/api') return send(res, 200, { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [] });
  if (p === '/apis') {
    const groups = new Map<string, string[]>();
    for (const gv of servedGroupVersions()) if (gv.group) groups.set(gv.group, [...(groups.get(gv.group) ?? []), gv.version]);
    return send(res, 200, { kind: 'APIGroupList', apiVersion: 'v1', groups: [...groups].map(([name, versions]) => {
      const vs = versions.map((v) => ({ groupVersion: `${name}/${v}`, version: v }));
      return { name, versions: vs, preferredVersion: vs[0] };
    }) });
  }
  if (p === '/api/v1') return send(res, 200, discovery('', 'v1'));
  let m = /^\/apis\/([^/]+)\/([^/]+)$/.exec(p);
  if (m) return send(res, 200, discovery(m[1]!, m[2]!));
  if (p === '/openapi/v3') return send(res, 200, openapiV3Root());
  if (p.startsWith('/openapi/v3/')) {
    const doc = openapiV3Document(p.slice('/openapi/v3/'.length));
    return doc ? send(res, 200, doc.body) : send(res, 404, status(404, 'NotFound', 'not found'));
  }
  m = /^\/api\/v1\/namespaces\/([^/]+)\/services(?:\/([^/]+))?$/.exec(p);
  if (m && req.method === 'GET' && m[2]) {
    const obj = stored.get(m[2]);
    return obj ? send(res, 200, obj) : send(res, 404, status(404, 'NotFound', `services "${m[2]}" not found`));
  }
  if (m && req.method === 'PATCH' && m[2] && stored.has(m[2])) return send(res, 200, stored.get(m[2])!);
  if (m && req.method === 'POST') {
    const obj = JSON.parse(body) as { apiVersion: string; kind: string };
    if (url.searchParams.get('fieldValidation') === 'Strict') {
      const unknown = findUnknownFields(obj.apiVersion, obj.kind, obj);
      if (unknown.length) return send(res, 400, status(400, 'BadRequest', strictDecodingMessage(obj.kind, 'v1', unknown)));
    }
    const named = obj as { metadata?: { name?: string } };
    if (named.metadata?.name) stored.set(named.metadata.name, obj);
    return send(res, 201, obj);
  }
  return send(res, 404, status(404, 'NotFound', 'the server could not find the requested resource'));
}

function run(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(kubectl, args, { env, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

describe('kubectl 1.32 against the OpenAPI v3 documents', () => {
  // A test that needs kubectl fails, with what to install, rather than skipping.
  before(() => {
    if (!existsSync(kubectl)) throw new Error(`this test needs the real kubectl at ${kubectl} (v1.32); install it (apt-get install kubectl)`);
  });
  const seen: Seen[] = [];
  let dir = '';
  let env: NodeJS.ProcessEnv = {};
  let args: string[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => { body += c.toString(); });
    req.on('end', () => handle(req, body, res, seen));
  });

  before(async () => {
    assert.ok(resources.length > 0);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    dir = mkdtempSync(join(tmpdir(), 'podgate-openapi-'));
    writeFileSync(join(dir, 'kubeconfig'), [
      'apiVersion: v1', 'kind: Config', 'current-context: t',
      'clusters: [{name: t, cluster: {server: "http://127.0.0.1:' + port + '"}}]',
      'users: [{name: t, user: {}}]',
      'contexts: [{name: t, context: {cluster: t, user: t, namespace: default}}]', '',
    ].join('\n'));
    env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, KUBECONFIG: join(dir, 'kubeconfig') };
    args = ['--cache-dir', join(dir, 'cache')];
  });

  after(() => {
    server.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('explain service.spec.ports prints the fields and their descriptions', async () => {
    const r = await run([...args, 'explain', 'service.spec.ports'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /KIND:\s+Service/);
    assert.match(r.stdout, /FIELD:\s+ports <\[\]ServicePort>/);
    assert.match(r.stdout, /targetPort\s+<IntOrString>/);
    assert.match(r.stdout, /The port that will be exposed by this service\./);
    assert.match(r.stdout, /protocol\s+<string>\n\s+enum: SCTP, TCP, UDP/);
  });

  it('explain ingress.spec.rules (networking.k8s.io/v1) works', async () => {
    const r = await run([...args, 'explain', 'ingress.spec.rules.http.paths.backend.service'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /GROUP:\s+networking.k8s.io/);
    assert.match(r.stdout, /port\s+<ServiceBackendPort>/);
  });

  it('explain reads the old Ingress version too', async () => {
    const r = await run([...args, 'explain', 'ingress.spec.backend', '--api-version=extensions/v1beta1'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /VERSION:\s+v1beta1/);
    assert.match(r.stdout, /serviceName\s+<string>/);
  });

  it('apply sends fieldValidation=Strict and shows the server\'s unknown-field error', async () => {
    const file = join(dir, 'svc.yaml');
    writeFileSync(file, 'apiVersion: v1\nkind: Service\nmetadata: {name: unknownfield}\nspec:\n  selector: {app: x}\n  ports: [{port: 80, bogus: 1}]\n  bogusField: 1\n');
    seen.length = 0;
    const r = await run([...args, 'apply', '-f', file], env);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Error from server \(BadRequest\): error when creating ".*svc.yaml": Service in version "v1" cannot be handled as a Service: strict decoding error: unknown field "spec.bogusField", unknown field "spec.ports\[0\].bogus"/);
    const post = seen.find((s) => s.method === 'POST');
    assert.ok(post, 'kubectl posted the object');
    assert.match(post.url, /fieldValidation=Strict/);
    assert.ok(!seen.some((s) => s.url.startsWith('/openapi/v2')), 'no fallback to OpenAPI v2');
  });

  it('apply of a valid Service succeeds without warnings', async () => {
    const file = join(dir, 'ok.yaml');
    writeFileSync(file, 'apiVersion: v1\nkind: Service\nmetadata: {name: ok}\nspec:\n  selector: {app: x}\n  ports: [{port: 80, targetPort: http}]\n');
    const r = await run([...args, 'apply', '-f', file], env);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    assert.match(r.stdout, /service\/ok created/);
  });

  it('re-apply sends a strategic merge patch keyed by the schema\'s merge keys', async () => {
    const file = join(dir, 'ok.yaml');
    writeFileSync(file, 'apiVersion: v1\nkind: Service\nmetadata: {name: ok}\nspec:\n  selector: {app: x}\n  ports: [{port: 80, targetPort: web}, {port: 81, name: b}]\n');
    seen.length = 0;
    const r = await run([...args, 'apply', '-f', file], env);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '', 'no "error calculating patch from openapi v3 spec" warning');
    const patch = seen.find((s) => s.method === 'PATCH');
    assert.ok(patch, 'kubectl patched the object');
    assert.equal(patch.contentType, 'application/strategic-merge-patch+json');
    assert.match(patch.url, /fieldValidation=Strict/);
    const body = JSON.parse(patch.body ?? '{}') as { spec: Record<string, unknown> };
    assert.deepEqual(body.spec['$setElementOrder/ports'], [{ port: 80 }, { port: 81 }]);
  });
});
