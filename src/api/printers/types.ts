// The meta.k8s.io/v1 Table shapes, and the contract every per-kind printer fulfils.
import type { KObject } from '../object.ts';
import { descriptions } from './descriptions.ts';

export interface TableColumnDefinition {
  name: string;
  /** OpenAPI type of the cells: 'string', 'integer', 'number', 'boolean' or 'date'. */
  type: string;
  /** 'name' marks the column kubectl prefixes with `kind/` in multi-kind output; '' otherwise. */
  format: string;
  description: string;
  /** 0 is always shown; 1 only with `-o wide`. */
  priority: number;
}

export interface TableRowCondition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

export interface TableRow {
  cells: unknown[];
  conditions?: TableRowCondition[];
  object?: unknown;
}

export interface Table {
  kind: 'Table';
  apiVersion: 'meta.k8s.io/v1';
  metadata: { resourceVersion?: string; continue?: string; remainingItemCount?: number };
  columnDefinitions: TableColumnDefinition[] | null;
  rows: TableRow[] | null;
}

/** What a printer makes of one object; conditions only where kube sets them (finished pods). */
export interface PrintedRow {
  cells: unknown[];
  conditions?: TableRowCondition[];
}

export interface KindPrinter {
  readonly columns: readonly TableColumnDefinition[];
  /** Pure: everything time-dependent is computed against `now`. */
  print(obj: KObject, now: Date): PrintedRow;
}

/** A column definition; `wide` columns get priority 1. */
export function column(name: string, type: string, description: string, opts: { wide?: boolean; format?: string } = {}): TableColumnDefinition {
  return { name, type, format: opts.format ?? '', description, priority: opts.wide ? 1 : 0 };
}

export const nameColumn = (opts: { wide?: boolean } = {}): TableColumnDefinition =>
  column('Name', 'string', descriptions.name, { ...opts, format: 'name' });
export const ageColumn = (): TableColumnDefinition => column('Age', 'string', descriptions.creationTimestamp);

/** Views a stored object through its kubernetes-types shape; objects are validated where they enter. */
export function as<T>(obj: KObject): T {
  return obj as unknown as T;
}
