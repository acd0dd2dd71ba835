// Pod rows: READY, STATUS and RESTARTS computed the way kubectl users know them
// (pkg/printers/internalversion/printers.go printPod, Kubernetes 1.32), including sidecar
// (restartable init) containers, Init:N/M, CrashLoopBackOff-style waiting reasons and Terminating.
import type { Container, ContainerStatus, Pod } from 'kubernetes-types/core/v1.d.ts';
import type { KObject } from '../object.ts';
import { descriptions } from './descriptions.ts';
import { since } from './duration.ts';
import { ageColumn, as, column, nameColumn, type KindPrinter, type PrintedRow, type TableRowCondition } from './types.ts';

const columns = [
  nameColumn(),
  column('Ready', 'string', 'The aggregate readiness state of this pod for accepting traffic.'),
  column('Status', 'string', 'The aggregate status of the containers in this pod.'),
  column('Restarts', 'string', 'The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.'),
  ageColumn(),
  column('IP', 'string', descriptions.podIP, { wide: true }),
  column('Node', 'string', descriptions.podNodeName, { wide: true }),
  column('Nominated Node', 'string', descriptions.podNominatedNodeName, { wide: true }),
  column('Readiness Gates', 'string', descriptions.podReadinessGates, { wide: true }),
];

const succeeded: TableRowCondition[] = [{ type: 'Completed', status: 'True', reason: 'Succeeded', message: 'The pod has completed successfully.' }];
const failed: TableRowCondition[] = [{ type: 'Completed', status: 'True', reason: 'Failed', message: 'The pod failed.' }];

// The reason the node lifecycle controller gives pods on a node that stopped answering.
const NODE_UNREACHABLE_REASON = 'NodeLost';

const isRestartable = (c: Container | undefined): boolean => c?.restartPolicy === 'Always';

const hasCondition = (pod: Pod, type: string): boolean =>
  (pod.status?.conditions ?? []).some(c => c.type === type && c.status === 'True');

/** The first condition of that type decides (printers.go isPodInitializedConditionTrue). */
function isInitializedTrue(pod: Pod): boolean {
  const c = (pod.status?.conditions ?? []).find(c => c.type === 'Initialized');
  return c?.status === 'True';
}

function terminatedReason(t: { reason?: string; signal?: number; exitCode: number }, prefix: string): string {
  if (t.reason) return prefix + t.reason;
  return t.signal ? `${prefix}Signal:${t.signal}` : `${prefix}ExitCode:${t.exitCode}`;
}

/** Latest of two RFC 3339 timestamps as epoch ms (0 = none). */
function laterRestart(current: number, s: ContainerStatus): number {
  const finished = s.lastState?.terminated?.finishedAt;
  const t = finished ? Date.parse(finished) : NaN;
  return !Number.isNaN(t) && t > current ? t : current;
}

function printPod(obj: KObject, now: Date): PrintedRow {
  const pod = as<Pod>(obj);
  const spec = pod.spec;
  const status = pod.status ?? {};
  const phase = status.phase ?? '';
  let reason = status.reason || phase;
  if ((status.conditions ?? []).some(c => c.type === 'PodScheduled' && c.reason === 'SchedulingGated')) reason = 'SchedulingGated';

  const initContainers = new Map((spec?.initContainers ?? []).map(c => [c.name, c]));
  const total = (spec?.containers ?? []).length + [...initContainers.values()].filter(isRestartable).length;
  let ready = 0;
  let restarts = 0;
  let lastRestart = 0;
  let sidecarRestarts = 0;
  let lastSidecarRestart = 0;

  let initializing = false;
  const initStatuses = status.initContainerStatuses ?? [];
  for (const [i, c] of initStatuses.entries()) {
    restarts += c.restartCount ?? 0;
    lastRestart = laterRestart(lastRestart, c);
    const sidecar = isRestartable(initContainers.get(c.name));
    if (sidecar) {
      sidecarRestarts += c.restartCount ?? 0;
      lastSidecarRestart = laterRestart(lastSidecarRestart, c);
    }
    const terminated = c.state?.terminated;
    const waiting = c.state?.waiting;
    if (terminated && terminated.exitCode === 0) continue;
    if (sidecar && c.started === true) {
      if (c.ready) ready++;
      continue;
    }
    if (terminated) {
      reason = terminatedReason(terminated, 'Init:');
    } else if (waiting?.reason && waiting.reason !== 'PodInitializing') {
      reason = `Init:${waiting.reason}`;
    } else {
      reason = `Init:${i}/${(spec?.initContainers ?? []).length}`;
    }
    initializing = true;
    break;
  }

  if (!initializing || isInitializedTrue(pod)) {
    restarts = sidecarRestarts;
    lastRestart = lastSidecarRestart;
    let hasRunning = false;
    const statuses = status.containerStatuses ?? [];
    // Walked backwards so the first container's state wins the STATUS cell.
    for (let i = statuses.length - 1; i >= 0; i--) {
      const c = statuses[i];
      if (!c) continue;
      restarts += c.restartCount ?? 0;
      lastRestart = laterRestart(lastRestart, c);
      const terminated = c.state?.terminated;
      if (c.state?.waiting?.reason) {
        reason = c.state.waiting.reason;
      } else if (terminated) {
        reason = terminatedReason(terminated, '');
      } else if (c.ready && c.state?.running) {
        hasRunning = true;
        ready++;
      }
    }
    if (reason === 'Completed' && hasRunning) reason = hasCondition(pod, 'Ready') ? 'Running' : 'NotReady';
  }

  if (pod.metadata?.deletionTimestamp) {
    if (status.reason === NODE_UNREACHABLE_REASON) reason = 'Unknown';
    else if (phase !== 'Succeeded' && phase !== 'Failed') reason = 'Terminating';
  }

  const restartsCell = restarts !== 0 && lastRestart !== 0
    ? `${restarts} (${since(new Date(lastRestart).toISOString(), now)} ago)`
    : String(restarts);

  const podIP = status.podIPs?.[0]?.ip || status.podIP || '<none>';
  const gates = spec?.readinessGates ?? [];
  let gatesCell = '<none>';
  if (gates.length > 0) {
    const conditions = status.conditions ?? [];
    const trueGates = gates.filter(g => conditions.find(c => c.type === g.conditionType)?.status === 'True').length;
    gatesCell = `${trueGates}/${gates.length}`;
  }

  const row: PrintedRow = {
    cells: [
      pod.metadata?.name ?? '',
      `${ready}/${total}`,
      reason,
      restartsCell,
      since(pod.metadata?.creationTimestamp, now),
      podIP,
      spec?.nodeName || '<none>',
      status.nominatedNodeName || '<none>',
      gatesCell,
    ],
  };
  if (phase === 'Succeeded') row.conditions = succeeded;
  if (phase === 'Failed') row.conditions = failed;
  return row;
}

export const podPrinter: KindPrinter = { columns, print: printPod };
