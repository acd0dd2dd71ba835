// Server-side printing: a list of objects → the meta.k8s.io/v1 Table that kube-apiserver returns
// for `Accept: application/json;as=Table;v=v1;g=meta.k8s.io` (what `kubectl get` prints).
import { cloneJson, type KObject } from '../object.ts';
import { daemonSetPrinter, deploymentPrinter, leasePrinter, replicaSetPrinter } from './apps.ts';
import {
  configMapPrinter, endpointsPrinter, eventPrinter, namespacePrinter, nodePrinter, secretPrinter,
  serviceAccountPrinter, servicePrinter,
} from './core.ts';
import { certificateSigningRequestPrinter } from './certificates.ts';
import { descriptions } from './descriptions.ts';
import { gatewayClassPrinter, gatewayPrinter, httpRoutePrinter, referenceGrantPrinter } from './gateway.ts';
import { ipAddressPoolPrinter, l2AdvertisementPrinter } from './metallb.ts';
import { endpointSlicePrinter, ingressClassPrinter, ingressPrinter } from './networking.ts';
import { podPrinter } from './pod.ts';
import { column, nameColumn, type KindPrinter, type Table, type TableColumnDefinition, type TableRow } from './types.ts';

export type { Table, TableColumnDefinition, TableRow, TableRowCondition } from './types.ts';

const printers: ReadonlyMap<string, KindPrinter> = new Map([
  ['Pod', podPrinter],
  ['Service', servicePrinter],
  ['Endpoints', endpointsPrinter],
  ['Node', nodePrinter],
  ['Namespace', namespacePrinter],
  ['ConfigMap', configMapPrinter],
  ['Secret', secretPrinter],
  ['ServiceAccount', serviceAccountPrinter],
  ['Event', eventPrinter],
  ['EndpointSlice', endpointSlicePrinter],
  ['Ingress', ingressPrinter],
  ['IngressClass', ingressClassPrinter],
  ['Deployment', deploymentPrinter],
  ['ReplicaSet', replicaSetPrinter],
  ['DaemonSet', daemonSetPrinter],
  ['Lease', leasePrinter],
  ['IPAddressPool', ipAddressPoolPrinter], ['L2Advertisement', l2AdvertisementPrinter],
  ['GatewayClass', gatewayClassPrinter], ['Gateway', gatewayPrinter], ['HTTPRoute', httpRoutePrinter],
  ['ReferenceGrant', referenceGrantPrinter],
  ['CertificateSigningRequest', certificateSigningRequestPrinter],
]);

// k8s.io/apiserver/pkg/registry/rest/table.go defaultTableConvertor: kinds without a printer get
// their name and the creation time as an RFC 3339 date (kubectl shows it as-is under CREATED AT).
const defaultPrinter: KindPrinter = {
  columns: [nameColumn(), column('Created At', 'date', descriptions.creationTimestamp)],
  print: obj => ({ cells: [obj.metadata?.name ?? '', createdAt(obj.metadata?.creationTimestamp)] }),
};

function createdAt(timestamp: string | undefined): string {
  const t = timestamp ? Date.parse(timestamp) : NaN;
  // Go formats the zero time when the timestamp is missing.
  if (Number.isNaN(t)) return '0001-01-01T00:00:00Z';
  return new Date(t).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Whether `kind` has its own printer (otherwise the Name / Created At fallback is used). */
export function hasPrinter(kind: string): boolean {
  return printers.has(kind);
}

function printerFor(kind: string): KindPrinter {
  return printers.get(kind) ?? defaultPrinter;
}

/** The column definitions kube-apiserver sends for `kind`, wide (priority 1) columns included. */
export function columnDefinitions(kind: string): TableColumnDefinition[] {
  return printerFor(kind).columns.map(c => ({ ...c }));
}

/** The cells of one row, one per column of columnDefinitions(kind); ages are measured against `now`. */
export function printRow(obj: KObject, now: Date, kind: string = obj.kind): unknown[] {
  return printerFor(kind).print(obj, now).cells;
}

export type IncludeObject = 'None' | 'Metadata' | 'Object';

export interface ToTableOptions {
  now: Date;
  /** The list's resourceVersion (or the object's, for a single GET or a watch event); omitted when ''. */
  resourceVersion: string;
  /** `?includeObject=`; kubectl sends nothing (Metadata) except with --sort-by (Object). */
  includeObject: IncludeObject;
  /** False for `?includeHeader=false` and for watch events after the first. */
  includeHeader: boolean;
  continueToken?: string;
  remainingItemCount?: number;
}

/**
 * Prints `objects` as kube-apiserver does for a list, a single GET or a watch event.
 * `kind` picks the printer (e.g. 'Service'); unknown kinds get the Name / Created At columns.
 * Pure and total: missing fields print as kube prints zero values.
 */
export function toTable(objects: readonly KObject[], kind: string, opts: ToTableOptions): Table {
  const printer = printerFor(kind);
  const rows: TableRow[] = objects.map(obj => {
    const printed = printer.print(obj, opts.now);
    const row: TableRow = { cells: printed.cells };
    if (printed.conditions) row.conditions = printed.conditions.map(c => ({ ...c }));
    // Go marshals the emptied RawExtension of includeObject=None as null, not as a missing key.
    row.object = opts.includeObject === 'None' ? null
      : opts.includeObject === 'Object' ? cloneJson(obj)
      : partialObjectMetadata(obj);
    return row;
  });
  const metadata: Table['metadata'] = {};
  if (opts.resourceVersion) metadata.resourceVersion = opts.resourceVersion;
  if (opts.continueToken) metadata.continue = opts.continueToken;
  if (opts.remainingItemCount !== undefined) metadata.remainingItemCount = opts.remainingItemCount;
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata,
    columnDefinitions: opts.includeHeader ? printer.columns.map(c => ({ ...c })) : null,
    // The default convertor appends to a nil slice, so an empty list of an unprinted kind
    // serializes as null; the printers always produce [].
    rows: rows.length === 0 && printer === defaultPrinter ? null : rows,
  };
}

// metav1.ObjectMeta field order, so the JSON reads like kube-apiserver's.
const metadataOrder = [
  'name', 'generateName', 'namespace', 'selfLink', 'uid', 'resourceVersion', 'generation', 'creationTimestamp',
  'deletionTimestamp', 'deletionGracePeriodSeconds', 'labels', 'annotations', 'ownerReferences', 'finalizers', 'managedFields',
] as const;

function isOmitted(key: string, value: unknown): boolean {
  if (value === undefined || value === null || value === '') return true;
  if (key === 'generation' && value === 0) return true;
  if (Array.isArray(value)) return value.length === 0;
  if (typeof value === 'object') return Object.keys(value).length === 0;
  return false;
}

/** The row object for includeObject=Metadata: the object's whole metadata, nothing else. */
export function partialObjectMetadata(obj: KObject): { kind: 'PartialObjectMetadata'; apiVersion: 'meta.k8s.io/v1'; metadata: Record<string, unknown> } {
  const source = cloneJson(obj.metadata ?? {}) as Record<string, unknown>;
  const metadata: Record<string, unknown> = {};
  for (const key of metadataOrder) {
    const value = source[key];
    if (key === 'creationTimestamp' && (value === undefined || value === null)) {
      metadata[key] = null; // metav1.Time marshals its zero value as null
      continue;
    }
    if (!isOmitted(key, value)) metadata[key] = value;
  }
  for (const [key, value] of Object.entries(source)) {
    if (!(key in metadata) && !(metadataOrder as readonly string[]).includes(key) && !isOmitted(key, value)) metadata[key] = value;
  }
  return { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata };
}
