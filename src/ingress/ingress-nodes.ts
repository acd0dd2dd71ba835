// Which addresses the ingress reports in Ingress status.loadBalancer and Gateway status.addresses:
// those of every Ready Node that runs podgate's ingress proxy (its node agent labels it
// INGRESS_NODE_LABEL), or of every such Node when none is Ready. Every node's controller computes
// the same list from the API, so several writers agree instead of undoing each other, and a write
// happens only when a status differs.
// ingress-nginx without --publish-service reports the same: the nodes its Running, Ready controller
// pods run on (internal/ingress/status runningAddresses, internal/k8s GetNodeIPOrName).
import { isDeepStrictEqual } from 'node:util';
import type { Node } from 'kubernetes-types/core/v1.d.ts';
import { resources, type ResourceInfo } from '../api/resources.ts';
import { Informer, stripReadOnly } from '../client/informer.ts';
import type { KubeClient } from '../client/rest-client.ts';

/** The label the node agent puts on a Node whose ingress proxy listens on a port ("true"). */
export const INGRESS_NODE_LABEL = 'ingress.podgate.io/enabled';

/**
 * The address ingress-nginx reports for a node: its ExternalIP when it has one, else its InternalIP
 * (GetNodeIPOrName without --report-node-internal-ip-address); undefined when it has neither.
 */
export function nodeIngressAddress(node: Node): string | undefined {
  const first = (type: string) => node.status?.addresses?.find((a) => a.type === type && a.address)?.address;
  return first('ExternalIP') ?? first('InternalIP');
}

/** Whether the node's Ready condition is True (False and Unknown, as the node lifecycle controller sets it, are not). */
export function isNodeReady(node: Node): boolean {
  return node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

function hasIngressLabel(node: Node): boolean {
  return node.metadata?.labels?.[INGRESS_NODE_LABEL] === 'true';
}

/**
 * The sorted, distinct addresses of the Ready Nodes labelled INGRESS_NODE_LABEL="true"; of all the
 * labelled Nodes when none of them is Ready. When no Node carries the label (the controller runs
 * against a cluster podgate's agents did not join), `fallback`, sorted and distinct: the address
 * the controller was given.
 */
export function ingressNodeAddresses(nodes: readonly Node[], fallback: readonly string[]): string[] {
  const labelled = nodes.filter(hasIngressLabel);
  if (!labelled.length) return [...new Set(fallback)].sort();
  // A not-Ready node drops out while another labelled node is Ready (traffic should go there).
  // When none is Ready, an empty list would help no client, and it is what a single node reported
  // on every clean stop and start of `podgate up` (the agent writes Ready=False on stop while the
  // proxy still serves; at start the proxy runs before the agent reports Ready) and on every late
  // heartbeat: every status was rewritten to nothing and back. So every labelled node is reported,
  // Ready or not. On a single node that is the list the node had while Ready, so nothing is
  // written, and it is the right start value. It is deliberately not "the last list this
  // controller computed": that depends on what each controller happened to see, so a controller
  // started during the outage (all labelled nodes) and one that ran through it (the last Ready
  // ones) would want different lists and undo each other's writes forever; this one is a function
  // of the Nodes alone, the same on every node.
  const ready = labelled.filter(isNodeReady);
  const addresses = (ready.length ? ready : labelled).map(nodeIngressAddress).filter((a): a is string => !!a);
  return [...new Set(addresses)].sort();
}

export interface IngressNodesOptions {
  readonly client: KubeClient;
  /** What to report while no Node carries INGRESS_NODE_LABEL. */
  readonly fallback: readonly string[];
  /** Called when the computed list changes (not on a heartbeat that changes nothing in it). */
  readonly onChange: () => void;
  readonly log?: (msg: string) => void;
}

const nodesInfo: ResourceInfo = (() => {
  const r = resources.find((x) => x.group === '' && x.resource === 'nodes');
  if (!r) throw new Error('resource nodes missing from the resource table');
  return r;
})();

/** A Node informer and the addresses computed from it, kept current. */
export class IngressNodes {
  readonly informer: Informer;
  #addresses: string[];

  constructor(o: IngressNodesOptions) {
    this.#addresses = ingressNodeAddresses([], o.fallback);
    this.informer = new Informer({ client: o.client, resource: nodesInfo, transform: stripReadOnly, onError: (err) => o.log?.(`ingress: watching nodes: ${String(err)}`) });
    // Every heartbeat is an update; only a change in the computed list is reported (kube-proxy's
    // change tracker drops the changes that leave the result equal).
    const recompute = () => {
      const next = ingressNodeAddresses(this.informer.list() as unknown as Node[], o.fallback);
      if (isDeepStrictEqual(next, this.#addresses)) return;
      this.#addresses = next;
      o.onChange();
    };
    this.informer.addHandlers({ onAdd: recompute, onUpdate: recompute, onDelete: recompute });
  }

  /** The addresses to report now (meaningful once the informer has synced). */
  get addresses(): readonly string[] {
    return this.#addresses;
  }
}
