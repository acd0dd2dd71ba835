// Gives every Node a spec.podCIDR (and podCIDRs) from the cluster pod range, once.
import type { Node } from 'kubernetes-types/core/v1.d.ts';
import { StatusError } from '../../api/errors.ts';
import type { KObject } from '../../api/object.ts';
import { resources } from '../../api/resources.ts';
import type { EventRecorder } from '../../client/event-recorder.ts';
import { Informer } from '../../client/informer.ts';
import type { KubeClient } from '../../client/rest-client.ts';
import { WorkQueue } from '../../client/work-queue.ts';
import { PodCidrAllocator } from './pod-cidr-allocator.ts';

const nodesInfo = resources.find((r) => r.resource === 'nodes')!;

export class NodeIpamController {
  readonly #client: KubeClient;
  readonly #events: EventRecorder;
  readonly #informer: Informer;
  readonly #queue: WorkQueue;
  readonly #alloc: PodCidrAllocator;
  readonly #assigned = new Map<string, string>();

  constructor(opts: { client: KubeClient; events: EventRecorder; clusterCIDR: string; nodeMaskSize?: number; log?: (m: string) => void }) {
    this.#client = opts.client;
    this.#events = opts.events;
    this.#alloc = new PodCidrAllocator({ clusterCIDR: opts.clusterCIDR, nodeMaskSize: opts.nodeMaskSize });
    const log = opts.log ?? (() => {});
    this.#informer = new Informer({ client: opts.client, resource: nodesInfo, onError: (e) => log(`node ipam: ${String(e)}`) });
    this.#queue = new WorkQueue({ process: (k) => this.#sync(k), baseDelayMs: 100, onError: (k, e) => log(`node ipam ${k}: ${String(e)}`) });
    const add = (o: KObject) => this.#queue.add(o.metadata.name!);
    this.#informer.addHandlers({
      onAdd: add, onUpdate: add,
      onDelete: (o) => { const c = (o as unknown as Node).spec?.podCIDR; if (c) this.#alloc.release(c); this.#assigned.delete(o.metadata.name!); },
    });
  }

  async start(): Promise<void> {
    this.#informer.start();
    await this.#informer.waitForSync();
  }

  async stop(): Promise<void> {
    this.#queue.stop();
    await this.#informer.stop();
  }

  async #sync(name: string): Promise<void> {
    // Occupy what every node already holds before handing out anything (restart safety).
    for (const n of this.#informer.list()) {
      const c = (n as unknown as Node).spec?.podCIDR;
      if (c) this.#alloc.occupy(c);
    }
    const node = this.#informer.get(name);
    // The informer may not show our own write yet: remember what we assigned.
    if (!node || (node as unknown as Node).spec?.podCIDR || this.#assigned.has(name)) return;
    const cidr = this.#alloc.allocate();
    if (!cidr) {
      this.#events.event(node, 'Warning', 'CIDRNotAvailable', `Node ${name} status is now: CIDRNotAvailable`);
      return;
    }
    try {
      await this.#client.patch(nodesInfo, undefined, name, { spec: { podCIDR: cidr, podCIDRs: [cidr] } }, 'merge');
      this.#assigned.set(name, cidr);
      this.#events.event(node, 'Normal', 'CIDRAssignmentSucceeded', `Node ${name} was assigned podCIDR ${cidr}`);
    } catch (err) {
      this.#alloc.release(cidr);
      if (!(err instanceof StatusError && err.code === 404)) throw err;
    }
  }
}
