// Printers for MetalLB's kinds, with the columns MetalLB's CRDs declare (additionalPrinterColumns
// in config/crd): a CRD with its own columns gets no Age column, and a list-valued JSONPath cell
// prints as JSON, so `kubectl get ipaddresspools` reads exactly as on a cluster running MetalLB.
import type { KObject } from '../object.ts';
import { column, nameColumn, type KindPrinter } from './types.ts';

interface IPAddressPoolSpec { addresses?: unknown[]; autoAssign?: boolean; avoidBuggyIPs?: boolean }
interface L2AdvertisementSpec { ipAddressPools?: unknown[]; ipAddressPoolSelectors?: unknown[]; interfaces?: unknown[]; nodeSelectors?: unknown[] }

const spec = <T>(obj: KObject): T => (obj.spec ?? {}) as T;
/** A JSONPath cell over a list: JSON text, or empty when the field is absent (kubectl shows <none>). */
const listCell = (v: unknown[] | undefined): string | null => (v === undefined ? null : JSON.stringify(v));

export const ipAddressPoolPrinter: KindPrinter = {
  columns: [
    nameColumn(),
    column('Auto Assign', 'boolean', ''),
    column('Avoid Buggy IPs', 'boolean', ''),
    column('Addresses', 'string', ''),
  ],
  print(obj) {
    const s = spec<IPAddressPoolSpec>(obj);
    // The CRD defaults autoAssign to true and avoidBuggyIPs to false, so a real cluster always shows both.
    return { cells: [obj.metadata?.name ?? '', s.autoAssign ?? true, s.avoidBuggyIPs ?? false, listCell(s.addresses)] };
  },
};

export const l2AdvertisementPrinter: KindPrinter = {
  columns: [
    nameColumn(),
    column('IPAddressPools', 'string', ''),
    column('IPAddressPool Selectors', 'string', ''),
    column('Interfaces', 'string', ''),
    column('Node Selectors', 'string', '', { wide: true }),
  ],
  print(obj) {
    const s = spec<L2AdvertisementSpec>(obj);
    return { cells: [obj.metadata?.name ?? '', listCell(s.ipAddressPools), listCell(s.ipAddressPoolSelectors), listCell(s.interfaces), listCell(s.nodeSelectors)] };
  },
};
