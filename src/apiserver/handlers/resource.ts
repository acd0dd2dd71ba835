// REST verbs on a resource: get, list, watch, create, update, patch, delete, deletecollection,
// and the status subresource. Talks to the Registry; everything kind-specific is elsewhere.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parse as parseYaml } from 'yaml';
import { errors, field, StatusError } from '../../api/errors.ts';
import { goQuote } from '../../api/validation/field-errors.ts';
import { isRecord, type KObject } from '../../api/object.ts';
import { apiVersionOf, type ResourceInfo } from '../../api/resources.ts';
import {
  checkFieldSelector, matchesFields, matchesLabels, parseFieldSelector, parseLabelSelector,
} from '../../api/selectors.ts';
import { parseMediaTypes, readBody, responseStyle, sendError, sendJson, type ResponseStyle } from '../http.ts';
import type { ApiMachinery } from '../machinery.ts';
import type { ResourceRequest } from '../request-info.ts';
import type { Registry } from '../registry/registry.ts';
import type { Requester } from '../registry/strategy.ts';
import { handleBinding } from './binding.ts';
import { handleScale } from './scale.ts';
import { checkListOptions, deleteOptions, writeOptions, type WriteOptions } from './request-options.ts';
import { serveWatch } from './watch.ts';

export interface ResourceContext {
  registry: Registry;
  machinery: ApiMachinery;
  now: () => Date;
  bookmarkIntervalMs: number;
}

/** A handler for a subresource other than status (log, proxy, portforward, exec…), added by later parts. */
export type SubresourceHandler = (req: IncomingMessage, res: ServerResponse, info: ResourceRequest, url: URL) => Promise<void> | void;

interface Served {
  r: ResourceInfo;
  /** The apiVersion the client addressed (may differ from storage for older Ingress versions). */
  apiVersion: string;
}

/** Subresources served by the generic handlers: the write goes to the registry with the subresource named. */
const genericSubresources = ['status', 'finalize', 'approval'];

/**
 * `requester`: the authenticated user, handed to the registry on create (a CSR records it) and
 * on update and patch (a CSR's /approval is refused to those who may not approve); undefined when
 * the server has no authenticator.
 */
export async function handleResource(ctx: ResourceContext, req: IncomingMessage, res: ServerResponse, url: URL,
  info: ResourceRequest, r: ResourceInfo, requester?: Requester): Promise<void> {
  const style = responseStyle(req, url);
  const served: Served = { r, apiVersion: apiVersionOf(info.group, info.version) };
  const warning = ctx.machinery.deprecationWarning(served.apiVersion, r.kind);
  if (warning) res.setHeader('Warning', warning);
  try {
    if (r.namespaced && info.namespace === undefined && info.name !== undefined) {
      throw errors.notFound({ group: r.group, resource: r.resource }, info.name);
    }
    const method = req.method ?? 'GET';
    const sub = info.subresource;
    if (sub === 'binding' && r.resource === 'pods') return await handleBinding(ctx, req, res, info, r, style);
    if (sub === 'scale' && info.name !== undefined && r.subresources.some((s) => s.name === 'scale')) {
      return await handleScale(ctx, req, res, url, info, r, style);
    }
    if (sub && !genericSubresources.includes(sub)) {
      throw errors.notFound({ group: r.group, resource: `${r.resource}/${sub}` }, info.name ?? '');
    }
    if (sub && !r.subresources.some((s) => s.name === sub)) {
      throw errors.notFound({ group: r.group, resource: r.resource }, info.name ?? '');
    }
    if (info.name === undefined) {
      if (method === 'GET') {
        const w = url.searchParams.get('watch');
        if (w === 'true' || w === '1') return await serveWatch(ctx, req, res, url, served.r, served.apiVersion, info.namespace);
        return await list(ctx, req, res, url, served, info.namespace, style);
      }
      if (method === 'POST') return await create(ctx, req, res, url, served, info.namespace, style, requester);
      if (method === 'DELETE') return await deleteCollection(ctx, req, res, url, served, info.namespace, style);
      throw errors.methodNotAllowed(`the server does not allow this method on the requested resource`);
    }
    switch (method) {
      case 'GET': return await get(ctx, req, res, url, served, info, style);
      case 'PUT': return await update(ctx, req, res, url, served, info, style, requester);
      case 'PATCH': return await patch(ctx, req, res, url, served, info, style, requester);
      case 'DELETE': return await del(ctx, req, res, url, served, info, style);
      default: throw errors.methodNotAllowed('the server does not allow this method on the requested resource');
    }
  } catch (err) {
    sendError(res, err, style);
  }
}

/** The objects the client should see in the version it asked for. */
function present(ctx: ResourceContext, s: Served, obj: KObject): KObject {
  return obj.apiVersion === s.apiVersion ? obj : ctx.machinery.convert(obj, s.apiVersion);
}

interface TableRequest { includeObject: 'None' | 'Metadata' | 'Object' }

/** kubectl asks for server-side tables with `application/json;as=Table;v=v1;g=meta.k8s.io`. */
export function wantsTable(req: IncomingMessage, url: URL): TableRequest | undefined {
  for (const m of parseMediaTypes(req.headers.accept)) {
    if (m.params.as === 'Table' && m.params.g === 'meta.k8s.io' && (m.params.v === 'v1' || m.params.v === 'v1beta1')) {
      const io = url.searchParams.get('includeObject');
      return { includeObject: io === 'None' || io === 'Object' ? io : 'Metadata' };
    }
  }
  return undefined;
}

export function selectorFilter(url: URL, r: ResourceInfo, version: string): ((o: KObject) => boolean) | undefined {
  const ls = url.searchParams.get('labelSelector');
  const fs = url.searchParams.get('fieldSelector');
  if (!ls && !fs) return undefined;
  const labels = parseLabelSelector(ls ?? '');
  const fields = parseFieldSelector(fs ?? '');
  checkFieldSelector(r.kind, version, fields);
  return (o) => matchesLabels(labels, o.metadata.labels) && matchesFields(fields, o);
}

async function list(ctx: ResourceContext, req: IncomingMessage, res: ServerResponse, url: URL, s: Served,
  namespace: string | undefined, style: ResponseStyle): Promise<void> {
  checkListOptions(url);
  const limitParam = url.searchParams.get('limit');
  const result = await ctx.registry.list(s.r, namespace, {
    limit: limitParam ? Number(limitParam) : undefined,
    continueToken: url.searchParams.get('continue') ?? undefined,
    filter: selectorFilter(url, s.r, s.apiVersion),
  });
  const items = result.items.map((o) => present(ctx, s, o));
  const table = wantsTable(req, url);
  if (table) {
    sendJson(res, 200, ctx.machinery.toTable(items, s.r.kind, {
      now: ctx.now(), resourceVersion: result.resourceVersion, includeObject: table.includeObject, includeHeader: true,
      continueToken: result.continueToken,
    }), style);
    return;
  }
  const metadata: Record<string, unknown> = { resourceVersion: result.resourceVersion };
  if (result.continueToken) metadata.continue = result.continueToken;
  sendJson(res, 200, { kind: s.r.listKind, apiVersion: s.apiVersion, metadata, items }, style);
}

async function get(ctx: ResourceContext, req: IncomingMessage, res: ServerResponse, url: URL, s: Served,
  info: ResourceRequest, style: ResponseStyle): Promise<void> {
  const obj = present(ctx, s, await ctx.registry.get(s.r, info.namespace, info.name!));
  const table = wantsTable(req, url);
  if (table && !info.subresource) {
    sendJson(res, 200, ctx.machinery.toTable([obj], s.r.kind, {
      now: ctx.now(), resourceVersion: obj.metadata.resourceVersion ?? '', includeObject: table.includeObject, includeHeader: true,
    }), style);
    return;
  }
  sendJson(res, 200, obj, style);
}

/** Decodes a JSON, YAML or protobuf body into an object, refusing anything else with kube's words. */
export async function decodeObjectBody(ctx: ResourceContext, req: IncomingMessage): Promise<unknown> {
  const buf = await readBody(req);
  const ct = parseMediaTypes(req.headers['content-type'])[0]?.type ?? 'application/json';
  if (buf.length === 0) throw errors.badRequest('the body of the request was empty');
  if (ct === 'application/vnd.kubernetes.protobuf') return ctx.machinery.decodeProtobuf(buf);
  const text = buf.toString('utf8');
  if (ct === 'application/json' || ct === '*/*') {
    try {
      return JSON.parse(text);
    } catch (err) {
      throw errors.badRequest(`couldn't get version/kind; json parse error: ${(err as Error).message}`);
    }
  }
  if (ct === 'application/yaml' || ct === 'application/x-yaml' || ct === 'text/yaml') {
    try {
      return parseYaml(text);
    } catch (err) {
      throw errors.badRequest(`error converting YAML to JSON: ${(err as Error).message}`);
    }
  }
  throw new StatusError(415, 'UnsupportedMediaType',
    `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf`);
}

/**
 * Checks the body is an object of the kind the URL names, that it decodes (every field of its
 * type), applies `fieldValidation`, and converts it to the storage version. Unknown fields become
 * `Warning` headers. `patched`: the body is what a patch made, refused as kube refuses those.
 */
function admitBody(ctx: ResourceContext, s: Served, body: unknown, opts: WriteOptions, res: ServerResponse, patched = false): KObject {
  if (!isRecord(body)) throw errors.badRequest(`Object 'Kind' is missing in '${JSON.stringify(body)}'`);
  const kind = body.kind;
  const apiVersion = body.apiVersion;
  if (typeof kind !== 'string' || !kind) throw errors.badRequest(`Object 'Kind' is missing in '${JSON.stringify(body).slice(0, 200)}'`);
  if (typeof apiVersion !== 'string' || !apiVersion) throw errors.badRequest(`Object 'apiVersion' is missing in '${JSON.stringify(body).slice(0, 200)}'`);
  const version = s.apiVersion.includes('/') ? s.apiVersion.split('/')[1]! : s.apiVersion;
  if (kind !== s.r.kind) {
    throw errors.badRequest(`the object provided is unrecognized (must be of type ${s.r.kind}): ${kind} in version "${apiVersion}" is not ${s.r.kind}`);
  }
  if (apiVersion !== s.apiVersion) {
    throw errors.badRequest(`the API version in the data (${apiVersion}) does not match the expected API version (${s.apiVersion})`);
  }
  // Decoding into the Go types comes first in kube-apiserver: a value of the wrong JSON type is a
  // 400 (422 naming the patch, for a patch's result), before unknown fields are looked at.
  const decodeError = ctx.machinery.findDecodeError(apiVersion, kind, body);
  if (decodeError !== undefined) {
    if (patched) throw errors.invalid('', '', '', [field.invalid('patch', JSON.stringify(body), decodeError, goQuote(JSON.stringify(body)))]);
    throw errors.badRequest(`${s.r.kind} in version "${version}" cannot be handled as a ${s.r.kind}: ${decodeError}`);
  }
  const mode = opts.fieldValidation;
  if (mode !== 'Ignore') {
    const unknown = ctx.machinery.findUnknownFields(apiVersion, kind, body);
    if (unknown.length) {
      if (mode === 'Strict') throw errors.badRequest(ctx.machinery.strictDecodingMessage(kind, version, unknown));
      res.setHeader('Warning', unknown.map((p) => `299 - "unknown field \\"${p}\\""`));
    }
    for (const p of unknown) deletePath(body, p);
  }
  if (body.metadata === undefined || body.metadata === null) body.metadata = {};
  let obj = body as KObject;
  if (apiVersion !== apiVersionOf(s.r.group, s.r.version)) obj = ctx.machinery.convert(obj, apiVersionOf(s.r.group, s.r.version));
  return obj;
}

/** Removes `spec.ports[0].bogus` from an object (unknown fields are dropped, as kube's decoder does). */
function deletePath(obj: unknown, path: string): void {
  const parts = path.replace(/\[(\d+)\]/g, '.$1').split('.');
  let cur: unknown = obj;
  for (let i = 0; i < parts.length - 1; i++) {
    if (typeof cur !== 'object' || cur === null) return;
    cur = (cur as Record<string, unknown>)[parts[i]!];
  }
  if (typeof cur === 'object' && cur !== null) delete (cur as Record<string, unknown>)[parts.at(-1)!];
}

async function create(ctx: ResourceContext, req: IncomingMessage, res: ServerResponse, url: URL, s: Served,
  namespace: string | undefined, style: ResponseStyle, requester: Requester | undefined): Promise<void> {
  const opts = writeOptions('CreateOptions', url);
  const body = await decodeObjectBody(ctx, req);
  const obj = admitBody(ctx, s, body, opts, res);
  const created = await ctx.registry.create(s.r, namespace, obj, { dryRun: opts.dryRun, requester });
  sendJson(res, 201, present(ctx, s, created), style);
}

async function update(ctx: ResourceContext, req: IncomingMessage, res: ServerResponse, url: URL, s: Served,
  info: ResourceRequest, style: ResponseStyle, requester: Requester | undefined): Promise<void> {
  const opts = writeOptions('UpdateOptions', url);
  const body = await decodeObjectBody(ctx, req);
  const obj = admitBody(ctx, s, body, opts, res);
  // Without a resourceVersion the update is unconditional (for kinds that allow it): retried on a
  // race with another writer, as kube-apiserver's GuaranteedUpdate retries it.
  const unconditional = !obj.metadata.resourceVersion;
  for (let attempt = 0; ; attempt++) {
    try {
      const out = await ctx.registry.update(s.r, info.namespace, info.name!, obj, { subresource: info.subresource, dryRun: opts.dryRun, requester });
      sendJson(res, out.created ? 201 : 200, present(ctx, s, out.object), style);
      return;
    } catch (err) {
      if (unconditional && err instanceof StatusError && err.reason === 'Conflict' && !/Precondition failed/.test(err.message) && attempt < 5) continue;
      throw err;
    }
  }
}

async function patch(ctx: ResourceContext, req: IncomingMessage, res: ServerResponse, url: URL, s: Served,
  info: ResourceRequest, style: ResponseStyle, requester: Requester | undefined): Promise<void> {
  const ct = parseMediaTypes(req.headers['content-type'])[0]?.type ?? '';
  const opts = writeOptions('PatchOptions', url, ct);
  const buf = await readBody(req);
  let patchBody: unknown;
  try {
    patchBody = ct === 'application/apply-patch+yaml' ? parseYaml(buf.toString('utf8')) : JSON.parse(buf.toString('utf8'));
  } catch (err) {
    throw errors.badRequest(`error decoding patch: ${(err as Error).message}`);
  }
  const [group, version] = s.apiVersion.includes('/') ? s.apiVersion.split('/') as [string, string] : ['', s.apiVersion];
  const gvk = { group, version, kind: s.r.kind };
  for (let attempt = 0; ; attempt++) {
    const current = await ctx.registry.tryGet(s.r, info.namespace, info.name!);
    if (!current) {
      if (ct === 'application/apply-patch+yaml') {
        const created = ctx.machinery.applyPatch(ct, undefined, patchBody, gvk);
        const obj = admitBody(ctx, s, created, opts, res);
        const out = await ctx.registry.create(s.r, info.namespace, obj, { dryRun: opts.dryRun, requester });
        sendJson(res, 201, present(ctx, s, out), style);
        return;
      }
      throw errors.notFound({ group: s.r.group, resource: s.r.resource }, info.name!);
    }
    const base = present(ctx, s, current);
    const patched = ctx.machinery.applyPatch(ct, base, patchBody, gvk);
    if (!isRecord(patched)) throw errors.badRequest('the patch did not produce an object');
    const obj = admitBody(ctx, s, patched, opts, res, true);
    // A patch that names a resourceVersion is conditional on it; otherwise retry on races.
    const explicitRv = isRecord(patchBody) && isRecord(patchBody.metadata) && typeof patchBody.metadata.resourceVersion === 'string';
    try {
      const out = await ctx.registry.update(s.r, info.namespace, info.name!, obj, {
        subresource: info.subresource, dryRun: opts.dryRun, patch: true, requester,
        baseRevision: explicitRv ? undefined : Number(current.metadata.resourceVersion),
      });
      sendJson(res, 200, present(ctx, s, out.object), style);
      return;
    } catch (err) {
      if (!explicitRv && err instanceof StatusError && err.reason === 'Conflict' && attempt < 5) continue;
      throw err;
    }
  }
}

/** A DeleteOptions body, or {} without one. */
async function readDeleteBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const buf = await readBody(req);
  let opts: Record<string, unknown> = {};
  if (buf.length) {
    try {
      const parsed: unknown = JSON.parse(buf.toString('utf8'));
      if (isRecord(parsed)) opts = parsed;
    } catch (err) {
      throw errors.badRequest(`error decoding DeleteOptions: ${(err as Error).message}`);
    }
  }
  return opts;
}

async function del(ctx: ResourceContext, req: IncomingMessage, res: ServerResponse, url: URL, s: Served,
  info: ResourceRequest, style: ResponseStyle): Promise<void> {
  const opts = deleteOptions(url, await readDeleteBody(req));
  const out = await ctx.registry.delete(s.r, info.namespace, info.name!, opts);
  sendJson(res, 200, present(ctx, s, out), style);
}

async function deleteCollection(ctx: ResourceContext, req: IncomingMessage, res: ServerResponse, url: URL, s: Served,
  namespace: string | undefined, style: ResponseStyle): Promise<void> {
  if (!s.r.verbs.includes('deletecollection')) throw errors.methodNotAllowed('the server does not allow this method on the requested resource');
  const opts = deleteOptions(url, await readDeleteBody(req));
  const found = await ctx.registry.list(s.r, namespace, { filter: selectorFilter(url, s.r, s.apiVersion) });
  const deleted: KObject[] = [];
  const failures: unknown[] = [];
  for (const o of found.items) {
    try {
      // The same options for each, preconditions and dry run included, as kube-apiserver passes them.
      deleted.push(await ctx.registry.delete(s.r, o.metadata.namespace, o.metadata.name!, opts));
    } catch (err) {
      if (err instanceof StatusError && err.code === 404) continue;
      failures.push(err);
    }
  }
  // As kube-apiserver: the first failure is the answer (a failed precondition is a 409, not a 500).
  if (failures[0] instanceof StatusError) throw failures[0];
  if (failures.length) throw errors.internal(failures.map((f) => (f instanceof Error ? f.message : String(f))).join('; '));
  sendJson(res, 200, { kind: s.r.listKind, apiVersion: s.apiVersion, metadata: { resourceVersion: String(ctx.registry.store.currentRevision()) },
    items: deleted.map((o) => present(ctx, s, o)) }, style);
}
