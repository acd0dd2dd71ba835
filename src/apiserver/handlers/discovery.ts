// Discovery: /api, /apis and each group-version, in both the legacy form (APIVersions,
// APIGroupList, APIResourceList) and the aggregated apidiscovery.k8s.io/v2 form kubectl 1.32
// prefers (one request instead of one per group-version). Built once from the resource table.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { apiVersionOf, type ResourceInfo, servedGroupVersions } from '../../api/resources.ts';
import { parseMediaTypes, responseStyle, sendJson } from '../http.ts';

export const serverVersion = {
  major: '1',
  minor: '32',
  gitVersion: 'v1.32.0-podgate',
  gitCommit: '0000000000000000000000000000000000000000',
  gitTreeState: 'clean',
  buildDate: '2026-11-22T00:00:00Z',
  goVersion: 'go1.23.0',
  compiler: 'gc',
  platform: 'linux/amd64',
} as const;

interface GroupEntry { name: string; versions: { version: string; resources: ResourceInfo[] }[] }

function groups(): { core: GroupEntry; others: GroupEntry[] } {
  const byGroup = new Map<string, GroupEntry>();
  for (const gv of servedGroupVersions()) {
    let g = byGroup.get(gv.group);
    if (!g) byGroup.set(gv.group, (g = { name: gv.group, versions: [] }));
    g.versions.push({ version: gv.version, resources: gv.resources });
  }
  // The preferred (storage) version first, as kube lists them.
  for (const g of byGroup.values()) g.versions.sort((a, b) => versionPriority(b.version) - versionPriority(a.version));
  const core = byGroup.get('')!;
  byGroup.delete('');
  return { core, others: [...byGroup.values()] };
}

function versionPriority(v: string): number {
  const m = /^v(\d+)(alpha|beta)?(\d*)$/.exec(v);
  if (!m) return 0;
  const major = Number(m[1]);
  const stage = m[2] === 'alpha' ? 0 : m[2] === 'beta' ? 1 : 2;
  return stage * 1000 + major * 10 + Number(m[3] || 0);
}

/** Short names and categories belong to the preferred version only; kubectl warns about ambiguity otherwise. */
function isStorageVersion(r: ResourceInfo, group: string, version: string): boolean {
  return r.group === group && r.version === version;
}

function resourceList(group: string, version: string, list: ResourceInfo[]): unknown {
  const out: unknown[] = [];
  for (const r of [...list].sort((a, b) => a.resource.localeCompare(b.resource))) {
    const e: Record<string, unknown> = { name: r.resource, singularName: r.singular, namespaced: r.namespaced, kind: r.kind, verbs: r.verbs };
    if (r.shortNames.length && isStorageVersion(r, group, version)) e.shortNames = r.shortNames;
    if (r.categories.length && isStorageVersion(r, group, version)) e.categories = r.categories;
    out.push(e);
    for (const s of r.subresources) {
      // kube names the group and version of a subresource whose kind lives elsewhere (scale: autoscaling/v1 Scale).
      const gv = s.responseGroupVersion ? { group: s.responseGroupVersion.group, version: s.responseGroupVersion.version } : {};
      out.push({ name: `${r.resource}/${s.name}`, singularName: '', namespaced: r.namespaced, ...gv, kind: s.kind, verbs: s.verbs });
    }
  }
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: apiVersionOf(group, version), resources: out };
}

function aggregatedGroup(g: GroupEntry): unknown {
  return {
    metadata: { name: g.name, creationTimestamp: null },
    versions: g.versions.map((v) => ({
      version: v.version,
      freshness: 'Current',
      resources: [...v.resources].sort((a, b) => a.resource.localeCompare(b.resource)).map((r) => {
        const e: Record<string, unknown> = {
          resource: r.resource,
          responseKind: { group: g.name, version: v.version, kind: r.kind },
          scope: r.namespaced ? 'Namespaced' : 'Cluster',
          singularResource: r.singular,
          verbs: r.verbs,
        };
        if (r.shortNames.length && isStorageVersion(r, g.name, v.version)) e.shortNames = r.shortNames;
        if (r.categories.length && isStorageVersion(r, g.name, v.version)) e.categories = r.categories;
        if (r.subresources.length) {
          e.subresources = r.subresources.map((s) => ({
            subresource: s.name,
            responseKind: s.responseGroupVersion
              ? { group: s.responseGroupVersion.group, version: s.responseGroupVersion.version, kind: s.kind }
              : { group: s.kind === r.kind ? g.name : '', version: v.version, kind: s.kind },
            verbs: s.verbs,
          }));
        }
        return e;
      }),
    })),
  };
}

const aggregatedType = 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList';

function wantsAggregated(req: IncomingMessage): boolean {
  for (const m of parseMediaTypes(req.headers.accept)) {
    if (m.params.g === 'apidiscovery.k8s.io' && m.params.v === 'v2' && m.params.as === 'APIGroupDiscoveryList') return true;
    if (m.type === 'application/json' && !m.params.g) return false;
  }
  return false;
}

/** Answers /api, /apis and /api/v1, /apis/G and /apis/G/V; returns false for other paths. */
export function handleDiscovery(req: IncomingMessage, res: ServerResponse, url: URL, serverAddress: string): boolean {
  const style = responseStyle(req, url);
  const path = url.pathname.replace(/\/+$/, '');
  const { core, others } = groups();
  if (path === '/api') {
    if (wantsAggregated(req)) {
      sendJson(res, 200, { kind: 'APIGroupDiscoveryList', apiVersion: 'apidiscovery.k8s.io/v2', metadata: {}, items: [aggregatedGroup(core)] }, style, { 'Content-Type': aggregatedType });
    } else {
      sendJson(res, 200, { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }] }, style);
    }
    return true;
  }
  if (path === '/apis') {
    if (wantsAggregated(req)) {
      sendJson(res, 200, { kind: 'APIGroupDiscoveryList', apiVersion: 'apidiscovery.k8s.io/v2', metadata: {}, items: others.map(aggregatedGroup) }, style, { 'Content-Type': aggregatedType });
    } else {
      sendJson(res, 200, { kind: 'APIGroupList', apiVersion: 'v1', groups: others.map(apiGroup) }, style);
    }
    return true;
  }
  if (path === '/api/v1') {
    sendJson(res, 200, resourceList('', 'v1', core.versions[0]!.resources), style);
    return true;
  }
  const m = /^\/apis\/([^/]+)(?:\/([^/]+))?$/.exec(path);
  if (m) {
    const g = others.find((x) => x.name === m[1]);
    if (!g) return false;
    if (!m[2]) { sendJson(res, 200, apiGroup(g), style); return true; }
    const v = g.versions.find((x) => x.version === m[2]);
    if (!v) return false;
    sendJson(res, 200, resourceList(g.name, v.version, v.resources), style);
    return true;
  }
  return false;
}

function apiGroup(g: GroupEntry): unknown {
  const versions = g.versions.map((v) => ({ groupVersion: `${g.name}/${v.version}`, version: v.version }));
  return { kind: 'APIGroup', apiVersion: 'v1', name: g.name, versions, preferredVersion: versions[0] };
}
