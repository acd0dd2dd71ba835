// Printers for apps/v1 workloads and coordination.k8s.io/v1 Lease.
import type { DaemonSet, Deployment, ReplicaSet } from 'kubernetes-types/apps/v1.d.ts';
import type { Lease } from 'kubernetes-types/coordination/v1.d.ts';
import type { KObject } from '../object.ts';
import { descriptions as d } from './descriptions.ts';
import { since } from './duration.ts';
import { containerCells, formatLabelSelector, formatLabels, selectorString } from './format.ts';
import { ageColumn, as, column, nameColumn, type KindPrinter } from './types.ts';

const name = (obj: KObject): string => obj.metadata?.name ?? '';
const age = (obj: KObject, now: Date): string => since(obj.metadata?.creationTimestamp, now);
const containersColumn = column('Containers', 'string', 'Names of each container in the template.', { wide: true });
const imagesColumn = column('Images', 'string', 'Images referenced by each container in the template.', { wide: true });
// spec.replicas defaults to 1 on the server.
const desired = (replicas: number | undefined): number => replicas ?? 1;

export const deploymentPrinter: KindPrinter = {
  columns: [
    nameColumn(),
    column('Ready', 'string', 'Number of the pod with ready state'),
    column('Up-to-date', 'string', d.deploymentUpdatedReplicas),
    column('Available', 'string', d.deploymentAvailableReplicas),
    ageColumn(),
    containersColumn,
    imagesColumn,
    column('Selector', 'string', d.deploymentSelector, { wide: true }),
  ],
  print(obj, now) {
    const dep = as<Deployment>(obj);
    const status = dep.status ?? {};
    const [containers, images] = containerCells(dep.spec?.template?.spec?.containers);
    // Unlike ReplicaSet, an empty selector prints as "" here (selector.String(), not FormatLabelSelector).
    const selector = selectorString(dep.spec?.selector) ?? '<invalid>';
    return {
      cells: [
        name(obj), `${status.readyReplicas ?? 0}/${desired(dep.spec?.replicas)}`, status.updatedReplicas ?? 0,
        status.availableReplicas ?? 0, age(obj, now), containers, images, selector,
      ],
    };
  },
};

export const replicaSetPrinter: KindPrinter = {
  columns: [
    nameColumn(),
    column('Desired', 'integer', d.replicaSetSpecReplicas),
    column('Current', 'integer', d.replicaSetStatusReplicas),
    column('Ready', 'integer', d.replicaSetReadyReplicas),
    ageColumn(),
    containersColumn,
    imagesColumn,
    column('Selector', 'string', d.replicaSetSelector, { wide: true }),
  ],
  print(obj, now) {
    const rs = as<ReplicaSet>(obj);
    const [containers, images] = containerCells(rs.spec?.template?.spec?.containers);
    return {
      cells: [
        name(obj), desired(rs.spec?.replicas), rs.status?.replicas ?? 0, rs.status?.readyReplicas ?? 0, age(obj, now),
        containers, images, formatLabelSelector(rs.spec?.selector),
      ],
    };
  },
};

export const daemonSetPrinter: KindPrinter = {
  columns: [
    nameColumn(),
    column('Desired', 'integer', d.daemonSetDesiredNumberScheduled),
    column('Current', 'integer', d.daemonSetCurrentNumberScheduled),
    column('Ready', 'integer', d.daemonSetNumberReady),
    column('Up-to-date', 'integer', d.daemonSetUpdatedNumberScheduled),
    column('Available', 'integer', d.daemonSetNumberAvailable),
    column('Node Selector', 'string', d.podSpecNodeSelector),
    ageColumn(),
    containersColumn,
    imagesColumn,
    column('Selector', 'string', d.daemonSetSelector, { wide: true }),
  ],
  print(obj, now) {
    const ds = as<DaemonSet>(obj);
    const s = ds.status;
    const [containers, images] = containerCells(ds.spec?.template?.spec?.containers);
    return {
      cells: [
        name(obj), s?.desiredNumberScheduled ?? 0, s?.currentNumberScheduled ?? 0, s?.numberReady ?? 0,
        s?.updatedNumberScheduled ?? 0, s?.numberAvailable ?? 0, formatLabels(ds.spec?.template?.spec?.nodeSelector),
        age(obj, now), containers, images, formatLabelSelector(ds.spec?.selector),
      ],
    };
  },
};

export const leasePrinter: KindPrinter = {
  columns: [nameColumn(), column('Holder', 'string', d.leaseHolderIdentity), ageColumn()],
  print: (obj, now) => ({ cells: [name(obj), as<Lease>(obj).spec?.holderIdentity ?? '', age(obj, now)] }),
};
