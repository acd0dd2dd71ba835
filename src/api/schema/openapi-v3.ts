// OpenAPI v3 documents as kube-apiserver serves them under /openapi/v3: a root listing one
// document per group-version, and per group-version the schemas of its kinds and the paths of
// its resources.
//
// kubectl 1.32 reads them for three things (shared/notes/kubectl-api-surface.md §4):
// - `apply`/`create` validation: a PATCH operation tagged with the object's GVK and carrying an
//   operation-level `fieldValidation` query parameter makes kubectl send `fieldValidation=Strict`
//   and leave unknown-field checks to the server (see ./field-validation.ts);
// - the client-side-apply patch: the PATCH request body must offer
//   application/strategic-merge-patch+json, and the kind's schema (found by its
//   `x-kubernetes-group-version-kind`) supplies the merge keys and strategies;
// - `kubectl explain`: walks the schemas from the kind's schema, printing their descriptions.

import { createHash } from 'node:crypto';
import { servedGroupVersions, type ResourceInfo } from '../resources.ts';
import { refPrefix, type Schema } from './models-schema-source.ts';
import { closureOf, metaV1, schemaNameFor, servedSchemas } from './served-schemas.ts';

/**
 * OpenAPI v2 is not served: GET /openapi/v2 answers 404 by design. kubectl wants v2 only as
 * protobuf and only when v3 lacks what it needs; with these v3 documents it never falls back
 * (verified with kubectl 1.32 in openapi-v3.kubectl.test.ts).
 */
export const openapiV2Served = false as const;

/** What kube-apiserver reports in `info.version`; matches the /version podgate serves. */
const infoVersion = 'v1.32.0';

export const patchContentTypes = [
  'application/apply-patch+yaml',
  'application/json-patch+json',
  'application/merge-patch+json',
  'application/strategic-merge-patch+json',
] as const;

const responseTypes = ['application/json', 'application/yaml', 'application/vnd.kubernetes.protobuf'] as const;

interface GroupVersion {
  readonly group: string;
  readonly version: string;
  readonly resources: readonly ResourceInfo[];
}

/** `api/v1` or `apis/networking.k8s.io/v1`: the key in the root listing and the URL tail. */
export function groupVersionPath(group: string, version: string): string {
  return group === '' ? `api/${version}` : `apis/${group}/${version}`;
}

// ---- parameters ----

const q = (name: string, description: string, type: 'string' | 'boolean' | 'integer' = 'string'): object =>
  ({ name, in: 'query', description, schema: { type, uniqueItems: true } });

const params = {
  pretty: q('pretty', "If 'true', then the output is pretty printed."),
  dryRun: q('dryRun', 'When present, indicates that modifications should not be persisted. An invalid or unrecognized dryRun directive will result in an error response and no further processing of the request. Valid values are: - All: all dry run stages will be processed'),
  fieldManager: q('fieldManager', 'fieldManager is a name associated with the actor or entity that is making these changes. The value must be less than or 128 characters long, and only contain printable characters, as defined by https://golang.org/pkg/unicode/#IsPrint.'),
  fieldValidation: q('fieldValidation', 'fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore: This will ignore any unknown fields that are silently dropped from the object, and will ignore all but the last duplicate field that the decoder encounters. - Warn: This will send a warning via the standard warning response header for each unknown field that is dropped from the object, and for each duplicate field that is encountered. The request will still succeed if there are no other errors, and will only persist the last of any duplicate fields. This is the default in v1.23+ - Strict: This will fail the request with a BadRequest error if any unknown fields would be dropped from the object, or if any duplicate fields are present. The error returned from the server will contain all unknown and duplicate fields encountered.'),
  force: q('force', 'Force is going to "force" Apply requests. It means user will re-acquire conflicting fields owned by other people. Force flag must be unset for non-apply patch requests.', 'boolean'),
  gracePeriodSeconds: q('gracePeriodSeconds', 'The duration in seconds before the object should be deleted. Value must be non-negative integer. The value zero indicates delete immediately.', 'integer'),
  propagationPolicy: q('propagationPolicy', "Whether and how garbage collection will be performed. Acceptable values are: 'Orphan', 'Background', 'Foreground'."),
  list: [
    q('allowWatchBookmarks', 'allowWatchBookmarks requests watch events with type "BOOKMARK".', 'boolean'),
    q('continue', 'The continue option should be set when retrieving more results from the server.'),
    q('fieldSelector', 'A selector to restrict the list of returned objects by their fields. Defaults to everything.'),
    q('labelSelector', 'A selector to restrict the list of returned objects by their labels. Defaults to everything.'),
    q('limit', 'limit is a maximum number of responses to return for a list call.', 'integer'),
    q('resourceVersion', 'resourceVersion sets a constraint on what resource versions a request may be served from.'),
    q('resourceVersionMatch', 'resourceVersionMatch determines how resourceVersion is applied to list calls.'),
    q('timeoutSeconds', 'Timeout for the list/watch call.', 'integer'),
    q('watch', 'Watch for changes to the described resources and return them as a stream of add, update, and remove notifications.', 'boolean'),
  ],
};

const pathParam = (name: string, description: string): object =>
  ({ name, in: 'path', description, required: true, schema: { type: 'string', uniqueItems: true } });

// ---- operations ----

function content(schema: Schema, types: readonly string[]): Record<string, { schema: Schema }> {
  return Object.fromEntries(types.map((t) => [t, { schema }]));
}

const ref = (name: string): Schema => ({ $ref: refPrefix + name });

function operationIdPart(gv: GroupVersion): string {
  const cap = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
  return cap(gv.group === '' ? 'core' : gv.group.split('.')[0]!) + cap(gv.version);
}

interface OpSpec {
  readonly action: 'get' | 'list' | 'post' | 'put' | 'patch' | 'delete' | 'deletecollection';
  readonly id: string;
  readonly description: string;
  readonly parameters: readonly object[];
  readonly requestBody?: object;
  readonly responses: Record<string, Schema>;
}

function operation(gv: GroupVersion, kind: string, op: OpSpec): object {
  const responses: Record<string, object> = {};
  for (const [code, schema] of Object.entries(op.responses)) {
    responses[code] = { description: code === '201' ? 'Created' : code === '202' ? 'Accepted' : 'OK', content: content(schema, responseTypes) };
  }
  responses['401'] = { description: 'Unauthorized' };
  return {
    tags: [`${gv.group === '' ? 'core' : gv.group.split('.')[0]}_${gv.version}`],
    description: op.description,
    operationId: op.id,
    ...(op.parameters.length ? { parameters: op.parameters } : {}),
    ...(op.requestBody ? { requestBody: op.requestBody } : {}),
    responses,
    'x-kubernetes-action': op.action,
    'x-kubernetes-group-version-kind': { group: gv.group, version: gv.version, kind },
  };
}

function pathsFor(gv: GroupVersion, r: ResourceInfo): Record<string, Record<string, object>> {
  const prefix = '/' + groupVersionPath(gv.group, gv.version);
  const kindRef = ref(schemaNameFor(gv.group, gv.version, r.kind));
  const listRef = ref(schemaNameFor(gv.group, gv.version, r.listKind));
  const status = ref(`${metaV1}.Status`);
  const idPart = operationIdPart(gv);
  const scope = r.namespaced ? 'Namespaced' : '';
  const verbs = new Set<string>(r.verbs);
  const base = r.namespaced ? `${prefix}/namespaces/{namespace}/${r.resource}` : `${prefix}/${r.resource}`;
  const nsParams = r.namespaced ? [pathParam('namespace', 'object name and auth scope, such as for teams and projects')] : [];
  const nameParam = pathParam('name', `name of the ${r.kind}`);
  const writeBody = { content: content(kindRef, ['*/*']), required: true };
  const patchBody = { content: content(ref(`${metaV1}.Patch`), patchContentTypes), required: true };
  const deleteBody = { content: content(ref(`${metaV1}.DeleteOptions`), ['*/*']) };
  const paths: Record<string, Record<string, object>> = {};
  const add = (path: string, method: string, op: OpSpec) => {
    (paths[path] ??= {})[method] = operation(gv, r.kind, op);
  };
  const item = (sub: string, kindName: string, what: string) => {
    const path = `${base}/{name}${sub}`;
    const suffix = sub ? 'Status' : '';
    const of = what ? `${what} of ` : '';
    paths[path] = { parameters: [nameParam, ...nsParams, params.pretty] } as Record<string, object>;
    if (verbs.has('get') || sub) {
      add(path, 'get', { action: 'get', id: `read${idPart}${scope}${kindName}${suffix}`, description: `read ${of}the specified ${r.kind}`, parameters: [], responses: { 200: kindRef } });
    }
    if (verbs.has('update') || sub) {
      add(path, 'put', { action: 'put', id: `replace${idPart}${scope}${kindName}${suffix}`, description: `replace ${of}the specified ${r.kind}`,
        parameters: [params.dryRun, params.fieldManager, params.fieldValidation], requestBody: writeBody, responses: { 200: kindRef, 201: kindRef } });
    }
    if (verbs.has('patch') || sub) {
      add(path, 'patch', { action: 'patch', id: `patch${idPart}${scope}${kindName}${suffix}`, description: `partially update ${of}the specified ${r.kind}`,
        parameters: [params.dryRun, params.fieldManager, params.fieldValidation, params.force], requestBody: patchBody, responses: { 200: kindRef, 201: kindRef } });
    }
    if (verbs.has('delete') && !sub) {
      add(path, 'delete', { action: 'delete', id: `delete${idPart}${scope}${kindName}`, description: `delete a ${r.kind}`,
        parameters: [params.dryRun, params.gracePeriodSeconds, params.propagationPolicy], requestBody: deleteBody, responses: { 200: status, 202: status } });
    }
  };

  paths[base] = { parameters: [...nsParams, params.pretty] } as Record<string, object>;
  if (verbs.has('list')) {
    add(base, 'get', { action: 'list', id: `list${idPart}${scope}${r.kind}`, description: `list or watch objects of kind ${r.kind}`, parameters: params.list, responses: { 200: listRef } });
  }
  if (verbs.has('create')) {
    add(base, 'post', { action: 'post', id: `create${idPart}${scope}${r.kind}`, description: `create a ${r.kind}`,
      parameters: [params.dryRun, params.fieldManager, params.fieldValidation], requestBody: writeBody, responses: { 200: kindRef, 201: kindRef, 202: kindRef } });
  }
  if (verbs.has('deletecollection')) {
    add(base, 'delete', { action: 'deletecollection', id: `delete${idPart}Collection${scope}${r.kind}`, description: `delete collection of ${r.kind}`,
      parameters: [...params.list.filter((p) => (p as { name: string }).name !== 'watch'), params.dryRun, params.gracePeriodSeconds, params.propagationPolicy],
      requestBody: deleteBody, responses: { 200: status } });
  }
  item('', r.kind, '');
  if (r.hasStatus) item('/status', r.kind, 'status');
  if (r.namespaced && verbs.has('list')) {
    const all = `${prefix}/${r.resource}`;
    paths[all] = { parameters: [params.pretty] } as Record<string, object>;
    add(all, 'get', { action: 'list', id: `list${idPart}${r.kind}ForAllNamespaces`, description: `list or watch objects of kind ${r.kind}`, parameters: params.list, responses: { 200: listRef } });
  }
  return paths;
}

function buildDocument(gv: GroupVersion): string {
  const all = servedSchemas();
  const roots = [`${metaV1}.Status`, `${metaV1}.DeleteOptions`, `${metaV1}.Patch`];
  let paths: Record<string, Record<string, object>> = {};
  for (const r of gv.resources) {
    roots.push(schemaNameFor(gv.group, gv.version, r.kind), schemaNameFor(gv.group, gv.version, r.listKind));
    paths = { ...paths, ...pathsFor(gv, r) };
  }
  const schemas: Record<string, Schema> = {};
  for (const name of closureOf(all, roots)) schemas[name] = all.get(name)!;
  // DeleteOptions is accepted by every group-version; kube tags it with each one.
  schemas[`${metaV1}.DeleteOptions`] = {
    ...schemas[`${metaV1}.DeleteOptions`],
    'x-kubernetes-group-version-kind': [{ group: gv.group, kind: 'DeleteOptions', version: gv.version }],
  };
  const sortedPaths = Object.fromEntries(Object.keys(paths).sort().map((k) => [k, paths[k]]));
  return JSON.stringify({ openapi: '3.0.0', info: { title: 'Kubernetes', version: infoVersion }, paths: sortedPaths, components: { schemas } });
}

interface Built {
  readonly body: string;
  readonly hash: string;
}

let documents: Map<string, Built> | undefined;

function allDocuments(): Map<string, Built> {
  if (documents) return documents;
  const out = new Map<string, Built>();
  const gvs = servedGroupVersions().sort((a, b) => groupVersionPath(a.group, a.version).localeCompare(groupVersionPath(b.group, b.version)));
  for (const gv of gvs) {
    const body = buildDocument(gv);
    out.set(groupVersionPath(gv.group, gv.version), { body, hash: createHash('sha512').update(body).digest('hex').toUpperCase() });
  }
  documents = out;
  return out;
}

/**
 * The /openapi/v3 listing: one entry per served group-version whose URL carries the document's
 * content hash, so kubectl's cache of the document is replaced exactly when it changes.
 */
export function openapiV3Root(): { paths: Record<string, { serverRelativeURL: string }> } {
  const paths: Record<string, { serverRelativeURL: string }> = {};
  for (const [path, doc] of allDocuments()) paths[path] = { serverRelativeURL: `/openapi/v3/${path}?hash=${doc.hash}` };
  return { paths };
}

/**
 * The document for `api/v1` or `apis/GROUP/VERSION` (no leading slash), JSON text and its
 * hash; undefined for a group-version not served. Built once, on first call, for all of them.
 */
export function openapiV3Document(groupVersionPath: string): { body: string; hash: string } | undefined {
  const doc = allDocuments().get(groupVersionPath.replace(/^\/+|\/+$/g, ''));
  return doc && { body: doc.body, hash: doc.hash };
}
