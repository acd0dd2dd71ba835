// The schemas of every kind podgate serves, in every version it serves them, loaded once.

import { servedGroupVersions } from '../resources.ts';
import { addListExtensions } from './kube-extensions.ts';
import { metallbSchemaDependencies, metallbSchemaName, metallbSchemas } from './metallb-schemas.ts';
import { gatewaySchemaPrefix, loadModelSchemas, refPrefix, type Schema } from './models-schema-source.ts';

export const metaV1 = 'io.k8s.apimachinery.pkg.apis.meta.v1';

/** kube's schema name for a kind: ('', 'v1', 'Service') → `io.k8s.api.core.v1.Service`; MetalLB's as a CRD's. */
export function schemaNameFor(group: string, version: string, kind: string): string {
  if (group === 'metallb.io') return metallbSchemaName(version, kind);
  if (group === 'gateway.networking.k8s.io') return `${gatewaySchemaPrefix}${version}.${kind}`;
  return `io.k8s.api.${group === '' ? 'core' : group.split('.')[0]}.${version}.${kind}`;
}

let cache: Map<string, Schema> | undefined;

/**
 * Every schema reachable from the served kinds and their lists (plus Status, DeleteOptions and
 * Patch for the operations), with kube's list extensions and `x-kubernetes-group-version-kind`
 * on the kinds. Computed on first use; throws if `kubernetes-models` is missing or unreadable.
 */
export function servedSchemas(): ReadonlyMap<string, Schema> {
  if (cache) return cache;
  const roots = [`${metaV1}.Status`, `${metaV1}.DeleteOptions`, `${metaV1}.Patch`];
  const gvks: [string, { group: string; kind: string; version: string }][] = [
    [`${metaV1}.Status`, { group: '', kind: 'Status', version: 'v1' }],
  ];
  for (const gv of servedGroupVersions()) {
    for (const r of gv.resources) {
      for (const kind of [r.kind, r.listKind]) {
        const name = schemaNameFor(gv.group, gv.version, kind);
        roots.push(name);
        gvks.push([name, { group: gv.group, kind, version: gv.version }]);
      }
    }
  }
  // Kinds that are not Kubernetes' own carry their schemas with them; the rest come from the models.
  const extra = metallbSchemas();
  const schemas = loadModelSchemas([...roots.filter((n) => !extra.has(n)), ...metallbSchemaDependencies]);
  for (const [name, s] of extra) schemas.set(name, s);
  addListExtensions(schemas);
  for (const [name, gvk] of gvks) {
    const s = schemas.get(name)!;
    s['x-kubernetes-group-version-kind'] = [gvk];
  }
  cache = schemas;
  return schemas;
}

/** The names of all schemas `root` refers to, itself included, sorted. */
export function closureOf(schemas: ReadonlyMap<string, Schema>, rootNames: readonly string[]): string[] {
  const seen = new Set<string>();
  const visit = (s: Schema | undefined) => {
    if (!s) return;
    if (s.$ref) {
      const name = s.$ref.slice(refPrefix.length);
      if (!seen.has(name)) {
        seen.add(name);
        visit(schemas.get(name));
      }
    }
    for (const p of Object.values(s.properties ?? {})) visit(p);
    for (const a of s.allOf ?? []) visit(a);
    visit(s.items);
    visit(s.additionalProperties);
  };
  for (const r of rootNames) visit({ $ref: refPrefix + r });
  return [...seen].sort();
}
