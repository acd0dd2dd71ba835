// Pod address allocation, pure: state in, state out. pod-network.ts persists the state as one
// small JSON file (written atomically) so a restarted agent gives every pod its old address back.
import { formatIPv4, parseIPv4 } from './cidr.ts';
import { type NodePlan, isPodAddress } from './plan.ts';
import { type HostPortMapping, validateHostPorts } from './node-ruleset.ts';

export interface PodAllocation {
  readonly ip: string;
  readonly netns: string;
  readonly namespace: string;
  readonly name: string;
}

export interface NetworkState {
  readonly version: 1;
  readonly podCIDR: string;
  /** The last address handed out: allocation continues after it (as CNI host-local does) so a freed address is not reused at once while stale conntrack entries may still point at it. */
  readonly lastIP: string | null;
  readonly pods: Readonly<Record<string, PodAllocation>>;
  /** The last hostPort mappings applied, so a restart programs the same rules before the agent resyncs. */
  readonly hostPorts: readonly HostPortMapping[];
}

export class PoolExhaustedError extends Error {
  readonly code = 'EPODCIDREXHAUSTED';
  constructor(podCIDR: string) {
    super(`pod network: no free address left in podCIDR ${podCIDR}`);
  }
}

export function emptyState(podCIDR: string): NetworkState {
  return { version: 1, podCIDR, lastIP: null, pods: {}, hostPorts: [] };
}

/** Returns the pod's address, allocating the next free one after `lastIP` when the uid has none. Throws PoolExhaustedError when the range is full. */
export function allocate(state: NetworkState, plan: NodePlan, uid: string, pod: Omit<PodAllocation, 'ip'>): { state: NetworkState; allocation: PodAllocation; created: boolean } {
  const existing = state.pods[uid];
  if (existing) return { state, allocation: existing, created: false };
  const used = new Set(Object.values(state.pods).map((p) => parseIPv4(p.ip)));
  const span = plan.lastPod - plan.firstPod + 1;
  const last = state.lastIP === null ? plan.lastPod : parseIPv4(state.lastIP);
  const start = isPodAddress(plan, last) ? last - plan.firstPod + 1 : 0;
  for (let i = 0; i < span; i++) {
    const candidate = plan.firstPod + ((start + i) % span);
    if (used.has(candidate)) continue;
    const allocation: PodAllocation = { ip: formatIPv4(candidate), ...pod };
    return { state: { ...state, lastIP: allocation.ip, pods: { ...state.pods, [uid]: allocation } }, allocation, created: true };
  }
  throw new PoolExhaustedError(state.podCIDR);
}

export function release(state: NetworkState, uid: string): NetworkState {
  if (!(uid in state.pods)) return state;
  const pods = { ...state.pods };
  delete pods[uid];
  return { ...state, pods };
}

/** Serialises deterministically (sorted keys) so the file diffs cleanly. */
export function serializeState(state: NetworkState): string {
  const pods: Record<string, PodAllocation> = {};
  for (const uid of Object.keys(state.pods).sort()) pods[uid] = state.pods[uid]!;
  return `${JSON.stringify({ ...state, pods }, null, 2)}\n`;
}

/**
 * Reads a state file's text. Entries that do not fit the current plan (the node got another
 * podCIDR, or the file was edited) are dropped and named in `dropped`; unreadable text throws.
 */
export function parseState(text: string, plan: NodePlan): { state: NetworkState; dropped: string[] } {
  const raw: unknown = JSON.parse(text);
  if (!isRecord(raw) || raw.version !== 1 || !isRecord(raw.pods)) throw new Error('pod network state: not a version 1 state file');
  const podCIDR = `${formatIPv4(plan.podCIDR.base)}/${plan.podCIDR.prefix}`;
  const dropped: string[] = [];
  const pods: Record<string, PodAllocation> = {};
  const seen = new Set<string>();
  for (const [uid, v] of Object.entries(raw.pods)) {
    const ok = isRecord(v) && typeof v.ip === 'string' && typeof v.netns === 'string' && typeof v.namespace === 'string' && typeof v.name === 'string'
      && fitsPlan(plan, v.ip) && !seen.has(v.ip);
    if (!ok) { dropped.push(uid); continue; }
    seen.add(v.ip as string);
    pods[uid] = { ip: v.ip as string, netns: v.netns as string, namespace: v.namespace as string, name: v.name as string };
  }
  const lastIP = typeof raw.lastIP === 'string' && fitsPlan(plan, raw.lastIP) ? raw.lastIP : null;
  let hostPorts: HostPortMapping[] = [];
  if (Array.isArray(raw.hostPorts) && raw.podCIDR === podCIDR) {
    try {
      hostPorts = validateHostPorts(raw.hostPorts as HostPortMapping[]);
    } catch {
      hostPorts = [];
    }
  }
  return { state: { version: 1, podCIDR, lastIP, pods, hostPorts }, dropped: dropped.sort() };
}

function fitsPlan(plan: NodePlan, ip: string): boolean {
  try {
    return isPodAddress(plan, parseIPv4(ip));
  } catch {
    return false;
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
