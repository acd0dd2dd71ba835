// pods/binding: how a scheduler assigns a pod to a node (kube's BindingREST). Sets spec.nodeName
// once, with the PodScheduled condition, and refuses a second assignment.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { errors } from '../../api/errors.ts';
import { isRecord, type KObject } from '../../api/object.ts';
import type { ResourceInfo } from '../../api/resources.ts';
import { sendJson, type ResponseStyle } from '../http.ts';
import { k8sTime } from '../object-meta.ts';
import type { ResourceRequest } from '../request-info.ts';
import { decodeObjectBody, type ResourceContext } from './resource.ts';

export async function handleBinding(ctx: ResourceContext, req: IncomingMessage, res: ServerResponse,
  info: ResourceRequest, r: ResourceInfo, style: ResponseStyle): Promise<void> {
  if (req.method !== 'POST') throw errors.methodNotAllowed('the server does not allow this method on the requested resource');
  const body = await decodeObjectBody(ctx, req);
  const target = isRecord(body) && isRecord(body.target) ? body.target : undefined;
  const node = typeof target?.name === 'string' ? target.name : '';
  if (!node) throw errors.invalid('Binding', '', info.name!, [{ type: 'FieldValueRequired', field: 'target.name', message: 'Required value' }]);
  for (let attempt = 0; ; attempt++) {
    const pod = await ctx.registry.get(r, info.namespace, info.name!);
    const spec = (pod.spec ?? {}) as { nodeName?: string };
    if (pod.metadata.deletionTimestamp) throw errors.conflict(r, info.name!, 'pod is being deleted, cannot be assigned to a host');
    if (spec.nodeName) throw errors.conflict(r, info.name!, `pod ${info.name} is already assigned to node "${spec.nodeName}"`);
    const next: KObject = structuredClone(pod);
    (next.spec as { nodeName?: string }).nodeName = node;
    const status = (isRecord(next.status) ? next.status : (next.status = {})) as { conditions?: Record<string, unknown>[] };
    const conditions = (status.conditions ?? []).filter((c) => c.type !== 'PodScheduled');
    conditions.push({ type: 'PodScheduled', status: 'True', lastProbeTime: null, lastTransitionTime: k8sTime(ctx.now()) });
    status.conditions = conditions;
    try {
      // Bypass the spec-immutability of pod updates: binding is the one way nodeName is set.
      await ctx.registry.update(r, info.namespace, info.name!, next, { baseRevision: Number(pod.metadata.resourceVersion), subresource: 'binding' });
      break;
    } catch (err) {
      if (attempt < 3 && err instanceof Error && (err as { reason?: string }).reason === 'Conflict') continue;
      throw err;
    }
  }
  sendJson(res, 201, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 201 }, style);
}
