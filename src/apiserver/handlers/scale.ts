// The `scale` subresource of Deployments and ReplicaSets (pkg/registry/apps/*/storage ScaleREST):
// an autoscaling/v1 Scale view of spec.replicas, which GET reads and PUT/PATCH write back to the
// object (`kubectl scale` patches it). The resource's own generation bump and validation apply.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { errors, StatusError } from '../../api/errors.ts';
import { isRecord, type KObject } from '../../api/object.ts';
import { selectorString } from '../../api/printers/format.ts';
import type { ResourceInfo } from '../../api/resources.ts';
import { validateScale } from '../../api/validation/index.ts';
import { parseMediaTypes, readBody, sendJson, type ResponseStyle } from '../http.ts';
import type { ResourceRequest } from '../request-info.ts';
import { writeOptions } from './request-options.ts';
import { decodeObjectBody, type ResourceContext } from './resource.ts';

interface Scale {
  kind: 'Scale';
  apiVersion: 'autoscaling/v1';
  metadata: { name?: string; namespace?: string; uid?: string; resourceVersion?: string; creationTimestamp?: string };
  spec: { replicas?: number };
  status: { replicas: number; selector?: string };
}

/** scaleFromDeployment / scaleFromReplicaSet: identity of the object, its desired and current replicas, its selector as text. */
export function scaleOf(obj: KObject): Scale {
  const spec = (obj.spec ?? {}) as { replicas?: number; selector?: Parameters<typeof selectorString>[0] };
  const status = (obj.status ?? {}) as { replicas?: number };
  const m = obj.metadata;
  const metadata: Scale['metadata'] = { name: m.name, namespace: m.namespace, uid: m.uid, resourceVersion: m.resourceVersion, creationTimestamp: m.creationTimestamp };
  // autoscaling/v1 ScaleSpec.replicas is omitempty; ScaleStatus.replicas is not.
  const out: Scale = { kind: 'Scale', apiVersion: 'autoscaling/v1', metadata, spec: {}, status: { replicas: status.replicas ?? 0 } };
  if (spec.replicas) out.spec.replicas = spec.replicas;
  const selector = selectorString(spec.selector);
  if (selector) out.status.selector = selector;
  return out;
}

export async function handleScale(ctx: ResourceContext, req: IncomingMessage, res: ServerResponse, url: URL,
  info: ResourceRequest, r: ResourceInfo, style: ResponseStyle): Promise<void> {
  const name = info.name!;
  const method = req.method ?? 'GET';
  if (method === 'GET') {
    sendJson(res, 200, scaleOf(await ctx.registry.get(r, info.namespace, name)), style);
    return;
  }
  if (method !== 'PUT' && method !== 'PATCH') throw errors.methodNotAllowed('the server does not allow this method on the requested resource');
  const contentType = parseMediaTypes(req.headers['content-type'])[0]?.type ?? '';
  const opts = writeOptions(method === 'PUT' ? 'UpdateOptions' : 'PatchOptions', url, contentType);
  let body: unknown;
  if (method === 'PUT') {
    body = await decodeObjectBody(ctx, req);
  } else {
    const buf = await readBody(req);
    try {
      body = JSON.parse(buf.toString('utf8'));
    } catch (err) {
      throw errors.badRequest(`error decoding patch: ${(err as Error).message}`);
    }
  }
  for (let attempt = 0; ; attempt++) {
    const current = await ctx.registry.get(r, info.namespace, name);
    let scale: unknown = body;
    if (method === 'PATCH') scale = ctx.machinery.applyPatch(contentType, scaleOf(current), body, { group: 'autoscaling', version: 'v1', kind: 'Scale' });
    if (!isRecord(scale)) throw errors.badRequest('the body of the request was not a Scale');
    if (scale.kind !== undefined && scale.kind !== 'Scale') {
      throw errors.badRequest(`the object provided is unrecognized (must be of type Scale): ${String(scale.kind)} in version "${String(scale.apiVersion)}" is not Scale`);
    }
    const meta = (isRecord(scale.metadata) ? scale.metadata : {}) as Scale['metadata'];
    const given = isRecord(scale.spec) ? scale.spec.replicas : undefined;
    if (given !== undefined && given !== null && !Number.isInteger(given)) {
      // What decoding into ScaleSpec's int32 says: a string or a fraction is refused, never read as 0.
      const what = typeof given === 'number' ? `number ${given}` : typeof given === 'string' ? 'string' : typeof given === 'boolean' ? 'bool' : 'object';
      throw errors.badRequest(`Scale in version "v1" cannot be handled as a Scale: json: cannot unmarshal ${what} into Go struct field ScaleSpec.spec.replicas of type int32`);
    }
    const replicas = typeof given === 'number' ? given : 0;
    // The request's namespace and name fill in what the body leaves out, as the update handler does.
    const errs = validateScale({ metadata: { ...meta, name: meta.name || name, namespace: meta.namespace || info.namespace } as { name: string }, spec: { replicas } });
    if (errs.length) throw errors.invalid('Scale', 'autoscaling', name, errs);
    const next: KObject = structuredClone(current);
    (next.spec as { replicas?: number }).replicas = replicas;
    // A resourceVersion in the Scale is a precondition on the object's (scaleUpdatedObjectInfo).
    const precondition = typeof meta.resourceVersion === 'string' && meta.resourceVersion !== '';
    next.metadata.resourceVersion = precondition ? meta.resourceVersion : current.metadata.resourceVersion;
    try {
      const out = await ctx.registry.update(r, info.namespace, name, next, { dryRun: opts.dryRun });
      sendJson(res, 200, scaleOf(out.object), style);
      return;
    } catch (err) {
      if (!precondition && err instanceof StatusError && err.reason === 'Conflict' && attempt < 5) continue;
      throw err;
    }
  }
}
