// `--lb-pool CIDR|range`: a MetalLB IPAddressPool (and an L2Advertisement for it, without which
// MetalLB never announces a pool's addresses) made sure of at start, so a flag is all a user
// needs for LoadBalancer addresses on their LAN.
import { StatusError } from '../../api/errors.ts';
import type { KObject } from '../../api/object.ts';
import { resources } from '../../api/resources.ts';
import type { KubeClient } from '../../client/rest-client.ts';
import { parseRange } from '../../api/net/ip.ts';

const r = (name: string) => resources.find((x) => x.resource === name)!;

export interface DefaultPoolOptions {
  /** Where MetalLB keeps its configuration. */
  namespace?: string;
  name?: string;
}

/**
 * Creates or updates the IPAddressPool `default` in `metallb-system` with these addresses (each a
 * CIDR or `a-b` range; comma-separated text is split) and an L2Advertisement of the same name
 * for it. Throws on a malformed address before writing anything; other pools are not touched.
 */
export async function ensureDefaultPool(client: KubeClient, addresses: string | readonly string[], opts: DefaultPoolOptions = {}): Promise<void> {
  const namespace = opts.namespace ?? 'metallb-system';
  const name = opts.name ?? 'default';
  const list = (typeof addresses === 'string' ? addresses.split(',') : [...addresses]).map((a) => a.trim()).filter((a) => a !== '');
  if (list.length === 0) throw new Error('--lb-pool: no addresses given');
  for (const a of list) {
    try {
      parseRange(a);
    } catch (err) {
      throw new Error(`--lb-pool: ${(err as Error).message}`);
    }
  }
  await createIfMissing(client, 'namespaces', undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } });
  const pool: KObject = { apiVersion: 'metallb.io/v1beta1', kind: 'IPAddressPool', metadata: { name, namespace }, spec: { addresses: list } };
  if (!(await createIfMissing(client, 'ipaddresspools', namespace, pool))) {
    await client.patch(r('ipaddresspools'), namespace, name, { spec: { addresses: list } });
  }
  await createIfMissing(client, 'l2advertisements', namespace, {
    apiVersion: 'metallb.io/v1beta1', kind: 'L2Advertisement', metadata: { name, namespace }, spec: { ipAddressPools: [name] },
  });
}

/** True when created, false when it already existed. */
async function createIfMissing(client: KubeClient, resource: string, namespace: string | undefined, obj: KObject): Promise<boolean> {
  try {
    await client.create(r(resource), namespace, obj);
    return true;
  } catch (err) {
    if (err instanceof StatusError && err.code === 409) return false;
    throw err;
  }
}
