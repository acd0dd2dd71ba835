// The Node object a kubelet registers and keeps current (pure: facts in, object out).
import type { Node, NodeCondition } from 'kubernetes-types/core/v1.d.ts';

export interface NodeFacts {
  name: string;
  nodeIP: string;
  hostname: string;
  cpus: number;
  memoryBytes: number;
  osImage: string;
  kernelVersion: string;
  architecture: string;
  version: string; // kubeletVersion, e.g. v1.32.0-podgate
  maxPods: number;
  /** Where the API server reaches this node's kubelet endpoint (status.daemonEndpoints). */
  kubeletPort: number;
  /** More labels (the kubelet's --node-labels); null: none of this name (taken off a Node registered before). */
  extraLabels?: Readonly<Record<string, string | null>>;
}

/** The Node's labels: the well-known ones the kubelet sets, then the extra ones that are not null. */
export function nodeLabels(f: NodeFacts): Record<string, string> {
  return Object.fromEntries(Object.entries(nodeLabelsPatch(f)).filter((e): e is [string, string] => e[1] !== null));
}

/** The labels as a merge patch on a Node taken over: null removes an extra label an earlier run set. */
export function nodeLabelsPatch(f: NodeFacts): Record<string, string | null> {
  return {
    ...f.extraLabels,
    'kubernetes.io/hostname': f.name,
    'kubernetes.io/os': 'linux',
    'kubernetes.io/arch': f.architecture,
    'beta.kubernetes.io/os': 'linux',
    'beta.kubernetes.io/arch': f.architecture,
  };
}

function conditions(ready: boolean, now: string, prev: readonly NodeCondition[] | undefined): NodeCondition[] {
  const make = (type: string, status: string, reason: string, message: string): NodeCondition => {
    const before = prev?.find((c) => c.type === type);
    return {
      type, status, reason, message, lastHeartbeatTime: now,
      lastTransitionTime: before && before.status === status && before.lastTransitionTime ? before.lastTransitionTime : now,
    };
  };
  return [
    make('MemoryPressure', 'False', 'KubeletHasSufficientMemory', 'kubelet has sufficient memory available'),
    make('DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'),
    make('PIDPressure', 'False', 'KubeletHasSufficientPID', 'kubelet has sufficient PID available'),
    ready
      ? make('Ready', 'True', 'KubeletReady', 'kubelet is posting ready status')
      : make('Ready', 'False', 'KubeletNotReady', 'podgate node agent stopped'),
  ];
}

export function nodeStatus(f: NodeFacts, ready: boolean, now: string, prev?: Node['status']): NonNullable<Node['status']> {
  const capacity = { cpu: String(f.cpus), memory: `${Math.floor(f.memoryBytes / 1024)}Ki`, pods: String(f.maxPods), 'ephemeral-storage': '0' };
  return {
    addresses: [{ type: 'InternalIP', address: f.nodeIP }, { type: 'Hostname', address: f.hostname }],
    capacity,
    allocatable: capacity,
    conditions: conditions(ready, now, prev?.conditions),
    daemonEndpoints: { kubeletEndpoint: { Port: f.kubeletPort } },
    nodeInfo: {
      machineID: '', systemUUID: '', bootID: '',
      kernelVersion: f.kernelVersion, osImage: f.osImage, containerRuntimeVersion: 'podgate://0.1.0',
      kubeletVersion: f.version, kubeProxyVersion: f.version, operatingSystem: 'linux', architecture: f.architecture,
    },
  };
}

export function newNode(f: NodeFacts, now: string): Node {
  return {
    apiVersion: 'v1', kind: 'Node',
    metadata: { name: f.name, labels: nodeLabels(f), annotations: { 'node.alpha.kubernetes.io/ttl': '0' } },
    spec: {},
    status: nodeStatus(f, true, now),
  };
}
