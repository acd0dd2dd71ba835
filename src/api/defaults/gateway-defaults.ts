// The defaults the Gateway API CRDs declare (gateway.networking.k8s.io, standard channel v1.x:
// `default:` in config/crd/standard/*.yaml), applied as the CRD's structural defaulting would on
// create and update. Pure, in place, never throws on odd shapes (validation reports them).
import type { KObject } from '../object.ts';
import { isRecord } from '../object.ts';

type Rec = Record<string, unknown>;
const recs = (v: unknown): Rec[] => (Array.isArray(v) ? v.filter(isRecord) : []);

/** The status a CRD gives a new object before any controller looked at it ("Waiting for controller"). */
function pendingConditions(types: readonly string[]): Rec[] {
  return types.map((type) => ({ type, status: 'Unknown', reason: 'Pending', message: 'Waiting for controller', lastTransitionTime: '1970-01-01T00:00:00Z' }));
}

/** A ParentReference's group and kind (GatewayClass spec has none). */
function defaultParentRef(p: Rec): void {
  p.group ??= 'gateway.networking.k8s.io';
  p.kind ??= 'Gateway';
}

/** BackendObjectReference: group "" (core) and kind Service; HTTPBackendRef weight 1. */
function defaultBackendRef(b: Rec): void {
  b.group ??= '';
  b.kind ??= 'Service';
  b.weight ??= 1;
}

const rootPath = (): Rec => ({ type: 'PathPrefix', value: '/' });

export function defaultGatewayClass(obj: KObject): void {
  if (!isRecord(obj.status)) obj.status = { conditions: pendingConditions(['Accepted']) };
}

export function defaultGateway(obj: KObject): void {
  const spec = isRecord(obj.spec) ? obj.spec : (obj.spec = {});
  for (const l of recs(spec.listeners)) {
    const ar = isRecord(l.allowedRoutes) ? l.allowedRoutes : (l.allowedRoutes = {});
    const ns = isRecord(ar.namespaces) ? ar.namespaces : (ar.namespaces = {});
    ns.from ??= 'Same';
    if (isRecord(l.tls)) {
      l.tls.mode ??= 'Terminate';
      for (const c of recs(l.tls.certificateRefs)) { c.group ??= ''; c.kind ??= 'Secret'; }
    }
  }
  if (!isRecord(obj.status)) obj.status = { conditions: pendingConditions(['Accepted', 'Programmed']) };
}

export function defaultHTTPRoute(obj: KObject): void {
  const spec = isRecord(obj.spec) ? obj.spec : (obj.spec = {});
  for (const p of recs(spec.parentRefs)) defaultParentRef(p);
  if (spec.rules === undefined || spec.rules === null) spec.rules = [{ matches: [{ path: rootPath() }] }];
  for (const rule of recs(spec.rules)) {
    if (rule.matches === undefined || rule.matches === null) rule.matches = [{ path: rootPath() }];
    for (const m of recs(rule.matches)) {
      if (!isRecord(m.path)) m.path = rootPath();
      else { m.path.type ??= 'PathPrefix'; m.path.value ??= '/'; }
      for (const h of recs(m.headers)) h.type ??= 'Exact';
      for (const q of recs(m.queryParams)) q.type ??= 'Exact';
    }
    for (const b of recs(rule.backendRefs)) {
      defaultBackendRef(b);
      for (const f of recs(b.filters)) defaultFilter(f);
    }
    for (const f of recs(rule.filters)) defaultFilter(f);
  }
}

function defaultFilter(f: Rec): void {
  if (f.type === 'RequestMirror' && isRecord(f.requestMirror) && isRecord(f.requestMirror.backendRef)) {
    const b = f.requestMirror.backendRef;
    b.group ??= ''; b.kind ??= 'Service';
  }
  // RequestRedirect's statusCode defaults to 302 in the CRD.
  if (f.type === 'RequestRedirect' && isRecord(f.requestRedirect)) f.requestRedirect.statusCode ??= 302;
}
