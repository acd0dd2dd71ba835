// Printers for the Gateway API kinds, with the columns their CRDs declare
// (additionalPrinterColumns in gateway-api's config/crd/standard): a JSONPath over a list prints
// its values joined by spaces, `.spec.hostnames` (a whole list) prints as JSON.
import type { KObject } from '../object.ts';
import { since } from './duration.ts';
import { ageColumn, column, nameColumn, type KindPrinter } from './types.ts';

interface Condition { type?: string; status?: string }
const name = (obj: KObject): string => obj.metadata?.name ?? '';
const rec = (v: unknown): Record<string, unknown> => (v !== null && typeof v === 'object' && !Array.isArray(v) ? v as Record<string, unknown> : {});
/** `.status.conditions[?(@.type=="X")].status`: empty (kubectl's <none>) when absent. */
function conditionStatus(obj: KObject, type: string): string | null {
  const conds = rec(obj.status).conditions;
  const c = Array.isArray(conds) ? (conds as Condition[]).find((x) => x?.type === type) : undefined;
  return c?.status ?? null;
}

export const gatewayClassPrinter: KindPrinter = {
  columns: [nameColumn(), column('Controller', 'string', ''), column('Accepted', 'string', ''), ageColumn(), column('Description', 'string', '', { wide: true })],
  print(obj, now) {
    const s = rec(obj.spec);
    return { cells: [name(obj), typeof s.controllerName === 'string' ? s.controllerName : null, conditionStatus(obj, 'Accepted'), since(obj.metadata?.creationTimestamp, now), typeof s.description === 'string' ? s.description : null] };
  },
};

export const gatewayPrinter: KindPrinter = {
  columns: [nameColumn(), column('Class', 'string', ''), column('Address', 'string', ''), column('Programmed', 'string', ''), ageColumn()],
  print(obj, now) {
    const s = rec(obj.spec);
    const addrs = rec(obj.status).addresses;
    const values = Array.isArray(addrs) ? addrs.map((a) => rec(a).value).filter((v): v is string => typeof v === 'string') : [];
    return { cells: [name(obj), typeof s.gatewayClassName === 'string' ? s.gatewayClassName : null, values.length ? values.join(' ') : null, conditionStatus(obj, 'Programmed'), since(obj.metadata?.creationTimestamp, now)] };
  },
};

export const httpRoutePrinter: KindPrinter = {
  columns: [nameColumn(), column('Hostnames', 'string', ''), ageColumn()],
  print(obj, now) {
    const h = rec(obj.spec).hostnames;
    return { cells: [name(obj), Array.isArray(h) ? JSON.stringify(h) : null, since(obj.metadata?.creationTimestamp, now)] };
  },
};

/** ReferenceGrant's CRD declares one column, Age: `kubectl get referencegrants` prints NAME AGE. */
export const referenceGrantPrinter: KindPrinter = {
  columns: [nameColumn(), ageColumn()],
  print(obj, now) {
    return { cells: [name(obj), since(obj.metadata?.creationTimestamp, now)] };
  },
};
