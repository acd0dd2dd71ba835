// Splits a request path into what it addresses, as k8s.io/apiserver's RequestInfoFactory does:
// /api/v1/namespaces/default/services/web/proxy/x → group '', version v1, namespace default,
// resource services, name web, subresource proxy, rest 'x'.

export interface ResourceRequest {
  readonly kind: 'resource';
  readonly group: string;
  readonly version: string;
  readonly namespace: string | undefined;
  readonly resource: string;
  readonly name: string | undefined;
  readonly subresource: string | undefined;
  /** Whatever follows the subresource (the proxied path of `.../proxy/...`), without leading slash. */
  readonly rest: string;
}

export interface OtherRequest {
  readonly kind: 'other';
  readonly path: string;
}

export type RequestInfo = ResourceRequest | OtherRequest;

export function parseRequestPath(pathname: string): RequestInfo {
  const parts = pathname.split('/').filter((p, i) => i > 0 || p !== '');
  // keep empty trailing segments out but remember the raw tail for proxy paths
  const segs = pathname.replace(/^\/+/, '').split('/');
  let i = 0;
  let group: string;
  let version: string;
  if (segs[0] === 'api' && segs.length >= 3 && segs[1]) {
    group = '';
    version = segs[1];
    i = 2;
  } else if (segs[0] === 'apis' && segs.length >= 4 && segs[1] && segs[2]) {
    group = segs[1];
    version = segs[2];
    i = 3;
  } else {
    void parts;
    return { kind: 'other', path: pathname };
  }
  let namespace: string | undefined;
  let resource = segs[i++] ?? '';
  if (resource === 'namespaces' && segs.length > i + 1 && segs[i + 1] !== '' && !isNamespaceSubresource(segs[i + 1]!, segs.length - i)) {
    namespace = decodeURIComponent(segs[i]!);
    resource = segs[i + 1]!;
    i += 2;
  }
  if (!resource) return { kind: 'other', path: pathname };
  const name = segs[i] !== undefined && segs[i] !== '' ? decodeURIComponent(segs[i]!) : undefined;
  if (name !== undefined) i++;
  const subresource = name !== undefined && segs[i] ? segs[i] : undefined;
  if (subresource !== undefined) i++;
  const rest = subresource !== undefined ? segs.slice(i).join('/') : '';
  return { kind: 'resource', group, version, namespace, resource, name, subresource, rest };
}

/** `/api/v1/namespaces/foo/status` and `/finalize` address the namespace itself, not a resource in it. */
function isNamespaceSubresource(seg: string, remaining: number): boolean {
  return remaining === 2 && (seg === 'status' || seg === 'finalize');
}
