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
  stop(): Promise<void>;
}

export async function startLanCluster(opts: { hosts?: string[]; extraArgs?: string[] | ((lan: TestLan) => string[]) } = {}): Promise<LanCluster> {
  requireNetTools();
  const lan = await createLan({ hosts: ['node', ...(opts.hosts ?? ['client'])] });
  try {
    const nodeIP = lan.host('node').ip;
    const nodeName = `${lan.prefix}node`.toLowerCase();
    lan.trackNetnsPrefix(netnsPrefix(nodeName));
    const extraArgs = typeof opts.extraArgs === 'function' ? opts.extraArgs(lan) : opts.extraArgs;
    const pg = await startPodgate({ verb: 'up', netns: lan.host('node').netns, nodeIP, nodeName, extraArgs });
    return {
      lan, pg, nodeIP,
      async stop() {
        try { await pg.stop(); } finally { await lan.destroy(); }
      },
    };
  } catch (err) {
    await lan.destroy();
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
