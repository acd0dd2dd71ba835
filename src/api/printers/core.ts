// Printers for core/v1 kinds other than Pod (printers.go printService, printEndpoints, printNode, …).
import type {
  ConfigMap, Endpoints, Event, LoadBalancerIngress, Namespace, Node, Secret, Service, ServiceAccount,
} from 'kubernetes-types/core/v1.d.ts';
import type { KObject } from '../object.ts';
import { descriptions as d } from './descriptions.ts';
import { since } from './duration.ts';
import { formatLabels, joinHostPort, sortedSet } from './format.ts';
import { ageColumn, as, column, nameColumn, type KindPrinter } from './types.ts';

const name = (obj: KObject): string => obj.metadata?.name ?? '';
const age = (obj: KObject, now: Date): string => since(obj.metadata?.creationTimestamp, now);

/** Ingress points of a load balancer status: IP, else hostname; unique and sorted. */
export function loadBalancerAddresses(ingress: readonly LoadBalancerIngress[] | undefined): string[] {
  return sortedSet((ingress ?? []).map(i => i.ip || i.hostname || '').filter(s => s !== ''));
}

// The server prints with Wide set, so load balancer addresses are never clipped to 16 characters.
function externalIP(svc: Service): string {
  const spec = svc.spec ?? {};
  const externalIPs = spec.externalIPs ?? [];
  switch (spec.type ?? 'ClusterIP') {
    case 'ClusterIP':
    case 'NodePort':
      return externalIPs.length > 0 ? externalIPs.join(',') : '<none>';
    case 'LoadBalancer': {
      const lb = loadBalancerAddresses(svc.status?.loadBalancer?.ingress);
      if (externalIPs.length > 0) return [...lb, ...externalIPs].join(',');
      return lb.length > 0 ? lb.join(',') : '<pending>';
    }
    case 'ExternalName':
      return spec.externalName ?? '';
    default:
      return '<unknown>';
  }
}

/** PORT(S): `80/TCP`, or `80:30080/TCP` when a node port is allocated. */
export function servicePorts(svc: Service): string {
  const ports = (svc.spec?.ports ?? []).map(p => {
    const protocol = p.protocol ?? 'TCP';
    return p.nodePort ? `${p.port}:${p.nodePort}/${protocol}` : `${p.port}/${protocol}`;
  });
  return ports.length > 0 ? ports.join(',') : '<none>';
}

export const servicePrinter: KindPrinter = {
  columns: [
    nameColumn(),
    column('Type', 'string', d.serviceType),
    column('Cluster-IP', 'string', d.serviceClusterIP),
    column('External-IP', 'string', d.serviceExternalIPs),
    column('Port(s)', 'string', d.servicePorts),
    ageColumn(),
    column('Selector', 'string', d.serviceSelector, { wide: true }),
  ],
  print(obj, now) {
    const svc = as<Service>(obj);
    const spec = svc.spec ?? {};
    // spec.clusterIPs is always filled by the API server; clusterIP is the fallback for
    // objects that bypassed defaulting.
    const clusterIP = spec.clusterIPs?.[0] || spec.clusterIP || '<none>';
    return {
      cells: [name(obj), spec.type ?? 'ClusterIP', clusterIP, externalIP(svc), servicePorts(svc), age(obj, now), formatLabels(spec.selector)],
    };
  },
};

/** ENDPOINTS: the first three `ip:port` (or bare IPs for port-less subsets), then "+ N more...". */
export function formatEndpoints(ep: Endpoints): string {
  const subsets = ep.subsets ?? [];
  if (subsets.length === 0) return '<none>';
  const list: string[] = [];
  let count = 0;
  for (const ss of subsets) {
    const addresses = ss.addresses ?? [];
    if ((ss.ports ?? []).length === 0) {
      for (const a of addresses) list.push(a.ip);
      count += addresses.length;
      continue;
    }
    for (const p of ss.ports ?? []) {
      for (const a of addresses) list.push(joinHostPort(a.ip, p.port));
      count += addresses.length;
    }
  }
  const text = list.slice(0, 3).join(',');
  return count > 3 ? `${text} + ${count - 3} more...` : text;
}

export const endpointsPrinter: KindPrinter = {
  columns: [nameColumn(), column('Endpoints', 'string', d.endpointsSubsets), ageColumn()],
  print: (obj, now) => ({ cells: [name(obj), formatEndpoints(as<Endpoints>(obj)), age(obj, now)] }),
};

const NODE_ROLE_PREFIX = 'node-role.kubernetes.io/';

/** Roles from `node-role.kubernetes.io/<role>` label keys and the `kubernetes.io/role` value, sorted. */
export function nodeRoles(node: Node): string[] {
  const roles: string[] = [];
  for (const [k, v] of Object.entries(node.metadata?.labels ?? {})) {
    if (k.startsWith(NODE_ROLE_PREFIX)) {
      const role = k.slice(NODE_ROLE_PREFIX.length);
      if (role) roles.push(role);
    } else if (k === 'kubernetes.io/role' && v !== '') {
      roles.push(v);
    }
  }
  return sortedSet(roles);
}

function nodeStatus(node: Node): string {
  const status: string[] = [];
  // Only the Ready condition is shown; the last one of that type wins, as in a Go map.
  const ready = (node.status?.conditions ?? []).filter(c => c.type === 'Ready').at(-1);
  if (ready) status.push(ready.status === 'True' ? 'Ready' : 'NotReady');
  else status.push('Unknown');
  if (node.spec?.unschedulable) status.push('SchedulingDisabled');
  return status.join(',');
}

const nodeAddress = (node: Node, type: string): string =>
  (node.status?.addresses ?? []).find(a => a.type === type)?.address ?? '<none>';

export const nodePrinter: KindPrinter = {
  columns: [
    nameColumn(),
    column('Status', 'string', 'The status of the node'),
    column('Roles', 'string', 'The roles of the node'),
    ageColumn(),
    column('Version', 'string', d.nodeKubeletVersion),
    column('Internal-IP', 'string', d.nodeAddresses, { wide: true }),
    column('External-IP', 'string', d.nodeAddresses, { wide: true }),
    column('OS-Image', 'string', d.nodeOSImage, { wide: true }),
    column('Kernel-Version', 'string', d.nodeKernelVersion, { wide: true }),
    column('Container-Runtime', 'string', d.nodeContainerRuntimeVersion, { wide: true }),
  ],
  print(obj, now) {
    const node = as<Node>(obj);
    const info = node.status?.nodeInfo;
    const roles = nodeRoles(node);
    return {
      cells: [
        name(obj),
        nodeStatus(node),
        roles.length > 0 ? roles.join(',') : '<none>',
        age(obj, now),
        info?.kubeletVersion ?? '',
        nodeAddress(node, 'InternalIP'),
        nodeAddress(node, 'ExternalIP'),
        info?.osImage || '<unknown>',
        info?.kernelVersion || '<unknown>',
        info?.containerRuntimeVersion || '<unknown>',
      ],
    };
  },
};

export const namespacePrinter: KindPrinter = {
  columns: [nameColumn(), column('Status', 'string', 'The status of the namespace'), ageColumn()],
  print: (obj, now) => ({ cells: [name(obj), as<Namespace>(obj).status?.phase ?? '', age(obj, now)] }),
};

export const configMapPrinter: KindPrinter = {
  columns: [nameColumn(), column('Data', 'string', d.configMapData), ageColumn()],
  print(obj, now) {
    const cm = as<ConfigMap>(obj);
    const count = Object.keys(cm.data ?? {}).length + Object.keys(cm.binaryData ?? {}).length;
    return { cells: [name(obj), count, age(obj, now)] };
  },
};

export const secretPrinter: KindPrinter = {
  columns: [nameColumn(), column('Type', 'string', d.secretType), column('Data', 'string', d.secretData), ageColumn()],
  print(obj, now) {
    const secret = as<Secret>(obj);
    return { cells: [name(obj), secret.type ?? '', Object.keys(secret.data ?? {}).length, age(obj, now)] };
  },
};

export const serviceAccountPrinter: KindPrinter = {
  columns: [nameColumn(), column('Secrets', 'string', d.serviceAccountSecrets), ageColumn()],
  print: (obj, now) => ({ cells: [name(obj), (as<ServiceAccount>(obj).secrets ?? []).length, age(obj, now)] }),
};

/** SOURCE: component (or reportingController), then ", host" (or reportingInstance) when set. */
function eventSource(ev: Event): string {
  const component = ev.source?.component || ev.reportingComponent || '';
  const instance = ev.source?.host || ev.reportingInstance || '';
  return instance ? `${component}, ${instance}` : component;
}

export const eventPrinter: KindPrinter = {
  columns: [
    column('Last Seen', 'string', d.eventLastTimestamp),
    column('Type', 'string', d.eventType),
    column('Reason', 'string', d.eventReason),
    column('Object', 'string', d.eventInvolvedObject),
    column('Subobject', 'string', d.objectReferenceFieldPath, { wide: true }),
    column('Source', 'string', d.eventSource, { wide: true }),
    column('Message', 'string', d.eventMessage),
    column('First Seen', 'string', d.eventFirstTimestamp, { wide: true }),
    column('Count', 'string', d.eventCount, { wide: true }),
    nameColumn({ wide: true }),
  ],
  print(obj, now) {
    const ev = as<Event>(obj);
    const firstSeen = ev.firstTimestamp ? since(ev.firstTimestamp, now) : since(ev.eventTime, now);
    let lastSeen = ev.lastTimestamp ? since(ev.lastTimestamp, now) : firstSeen;
    let count = ev.count ?? 0;
    if (ev.series) {
      lastSeen = since(ev.series.lastObservedTime, now);
      count = ev.series.count ?? 0;
    } else if (count === 0) {
      count = 1; // singleton events of the events.k8s.io API carry no count
    }
    const involved = ev.involvedObject;
    const kind = (involved?.kind ?? '').toLowerCase();
    const target = involved?.name ? `${kind}/${involved.name}` : kind;
    return {
      cells: [
        lastSeen, ev.type ?? '', ev.reason ?? '', target, involved?.fieldPath ?? '', eventSource(ev),
        (ev.message ?? '').trim(), firstSeen, count, name(obj),
      ],
    };
  },
};
