// Schemas of the MetalLB kinds podgate serves (metallb.io/v1beta1 IPAddressPool and
// L2Advertisement), written from MetalLB's CRD documentation, so `kubectl apply` validates them
// on the server and `kubectl explain` describes them. Named as a CRD's schema is (io.metallb.v1beta1.X).
import type { Schema } from './models-schema-source.ts';

const meta = 'io.k8s.apimachinery.pkg.apis.meta.v1';
const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
const strings = (description: string): Schema => ({ type: 'array', description, items: { type: 'string' } });
const selectors = (description: string): Schema => ({ type: 'array', description, items: ref(`${meta}.LabelSelector`) });

function kind(description: string, spec: Schema, status?: Schema): Schema {
  const properties: Record<string, Schema> = {
    apiVersion: { type: 'string', description: 'APIVersion defines the versioned schema of this representation of an object.' },
    kind: { type: 'string', description: 'Kind is a string value representing the REST resource this object represents.' },
    metadata: ref(`${meta}.ObjectMeta`),
    spec,
  };
  if (status) properties.status = status;
  return { type: 'object', description, properties };
}

function list(item: string): Schema {
  return {
    type: 'object', required: ['items'],
    properties: {
      apiVersion: { type: 'string' }, kind: { type: 'string' }, metadata: ref(`${meta}.ListMeta`),
      items: { type: 'array', items: ref(item) },
    },
  };
}

/** The names metallb's schemas refer to from kube's meta/v1 (loaded from the kube models). */
export const metallbSchemaDependencies = [`${meta}.ObjectMeta`, `${meta}.ListMeta`, `${meta}.LabelSelector`];

export function metallbSchemaName(version: string, kindName: string): string {
  return `io.metallb.${version}.${kindName}`;
}

export function metallbSchemas(): Map<string, Schema> {
  const pool = metallbSchemaName('v1beta1', 'IPAddressPool');
  const l2 = metallbSchemaName('v1beta1', 'L2Advertisement');
  return new Map<string, Schema>([
    [pool, kind('IPAddressPool represents a pool of IP addresses that can be allocated to LoadBalancer services.', {
      type: 'object', required: ['addresses'],
      description: 'IPAddressPoolSpec defines the desired state of IPAddressPool.',
      properties: {
        addresses: strings('A list of IP address ranges over which MetalLB has authority. You can list multiple ranges in a single pool, they will all share the same settings. Each range can be either a CIDR prefix, or an explicit start-end range of IPs.'),
        autoAssign: { type: 'boolean', default: true, description: 'AutoAssign flag used to prevent MetallB from automatic allocation for a pool.' },
        avoidBuggyIPs: { type: 'boolean', default: false, description: 'AvoidBuggyIPs prevents addresses ending with .0 and .255 to be used by a pool.' },
        serviceAllocation: {
          type: 'object',
          description: 'AllocateTo makes ip pool allocation to specific namespace and/or service. The controller will use the pool with lowest value of priority in case of multiple matches.',
          properties: {
            priority: { type: 'integer', description: 'Priority priority given for ip pool while ip allocation on a service.' },
            namespaces: strings('Namespaces list of namespace(s) on which ip pool can be attached.'),
            namespaceSelectors: selectors('NamespaceSelectors list of label selectors to select namespace(s) for ip pool, an alternative to using namespace list.'),
            serviceSelectors: selectors('ServiceSelectors list of label selector to select service(s) for which ip pool can be used for ip allocation.'),
          },
        },
      },
    }, {
      type: 'object', description: 'IPAddressPoolStatus defines the observed state of IPAddressPool.',
      properties: {
        assignedIPv4: { type: 'integer' }, assignedIPv6: { type: 'integer' }, availableIPv4: { type: 'integer' }, availableIPv6: { type: 'integer' },
      },
    })],
    [`${pool}List`, list(pool)],
    [l2, kind('L2Advertisement allows to advertise the LoadBalancer IPs provided by the selected pools via L2.', {
      type: 'object', description: 'L2AdvertisementSpec defines the desired state of L2Advertisement.',
      properties: {
        ipAddressPools: strings('The list of IPAddressPools to advertise via this advertisement, selected by name.'),
        ipAddressPoolSelectors: selectors('A selector for the IPAddressPools which would get advertised via this advertisement. If no IPAddressPool is selected by this or by the list, the advertisement is applied to all the IPAddressPools.'),
        nodeSelectors: selectors('NodeSelectors allows to limit the nodes to announce as next hops for the LoadBalancer IP. When empty, all the nodes having are announced as next hops.'),
        interfaces: strings('A list of interfaces to announce from. The LB IP will be announced only from these interfaces. If the field is not set, we advertise from all the interfaces on the host.'),
      },
    })],
    [`${l2}List`, list(l2)],
  ]);
}
