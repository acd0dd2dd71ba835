// A one-node podgate cluster on a throwaway test LAN: the node host runs `podgate up`, the other
// hosts (a client by default) are outside machines. Everything is removed by stop(), even after
// a failed test.
import { netnsPrefix } from '../../src/agent/network/index.ts';
import { createLan, requireNetTools, type TestLan } from '../lib/netns-hosts.ts';
import { type Podgate, startPodgate } from './harness.ts';

export interface LanCluster {
  readonly lan: TestLan;
  readonly pg: Podgate;
  readonly nodeIP: string;
  /** The nodes that joined with `podgate agent`, by host name. */
  readonly agents: ReadonlyMap<string, Podgate>;
  /** The Node name of a test host (the first node's host is `node`). */
  nodeName(host: string): string;
  stop(): Promise<void>;
}

/**
 * `opts.agents`: hosts that join the cluster as more nodes with `podgate agent` and the join
 * command `podgate up` printed; `agentArgs` are added to theirs.
 */
export async function startLanCluster(opts: { hosts?: string[]; agents?: string[]; extraArgs?: string[] | ((lan: TestLan) => string[]); agentArgs?: string[] } = {}): Promise<LanCluster> {
  requireNetTools();
  const agentHosts = opts.agents ?? [];
  const lan = await createLan({ hosts: ['node', ...agentHosts, ...(opts.hosts ?? ['client'])] });
  const agents = new Map<string, Podgate>();
  let pg: Podgate | undefined;
  const stopAll = async () => {
    try {
      for (const a of [...agents.values()].reverse()) await a.stop().catch(() => {});
      await pg?.stop();
    } finally {
      await lan.destroy();
    }
  };
  try {
    const nodeIP = lan.host('node').ip;
    const nodeName = (host: string) => `${lan.prefix}${host}`.toLowerCase();
    for (const h of ['node', ...agentHosts]) lan.trackNetnsPrefix(netnsPrefix(nodeName(h)));
    const extraArgs = typeof opts.extraArgs === 'function' ? opts.extraArgs(lan) : opts.extraArgs;
    pg = await startPodgate({ verb: 'up', netns: lan.host('node').netns, nodeIP, nodeName: nodeName('node'), extraArgs });
    const join = /join a node: podgate agent (.*)\n/.exec(pg.output())?.[1];
    if (agentHosts.length && !join) throw new Error(`podgate up printed no join command:\n${pg.output()}`);
    for (const h of agentHosts) {
      agents.set(h, await startPodgate({
        verb: 'agent', netns: lan.host(h).netns, nodeIP: lan.host(h).ip, nodeName: nodeName(h), kubeconfig: pg.kubeconfig,
        extraArgs: [...join!.split(' '), ...(opts.agentArgs ?? [])],
      }));
    }
    return { lan, pg, nodeIP, agents, nodeName, stop: stopAll };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/**
 * A `podgate/echo` pod as the data-plane tests use it: a readiness probe on its port and a preStop
 * sleep, so a deleted pod leaves the endpoints before it stops serving (as on a real cluster).
 */
export function echoPod(name: string, labels: Record<string, string>, port = 8080): string {
  const l = Object.entries(labels).map(([k, v]) => `${k}: ${v}`).join(', ');
  return `apiVersion: v1
kind: Pod
metadata: { name: ${name}, labels: { ${l} } }
spec:
  terminationGracePeriodSeconds: 5
  containers:
    - name: web
      image: podgate/echo
      ports: [{ containerPort: ${port} }]
      readinessProbe: { tcpSocket: { port: ${port} }, periodSeconds: 1 }
      lifecycle: { preStop: { sleep: { seconds: 2 } } }
`;
}
