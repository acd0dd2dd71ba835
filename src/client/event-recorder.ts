// Records core/v1 Events about objects, as client-go's record.EventRecorder: the same
// (object, type, reason, message) seen again bumps `count` and `lastTimestamp` instead of
// creating a new Event.
import { createHash } from 'node:crypto';
import { StatusError } from '../api/errors.ts';
import type { KObject } from '../api/object.ts';
import { resources } from '../api/resources.ts';
import type { KubeClient } from './rest-client.ts';

const eventsInfo = resources.find((r) => r.resource === 'events')!;

export interface EventSource {
  component: string; // 'default-scheduler', 'kubelet'
  host?: string;
}

function k8sTime(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export class EventRecorder {
  readonly #client: KubeClient;
  readonly #source: EventSource;
  readonly #now: () => Date;
  readonly #seen = new Map<string, { name: string; count: number }>();
  readonly #log: (m: string) => void;

  constructor(opts: { client: KubeClient; source: EventSource; now?: () => Date; log?: (m: string) => void }) {
    this.#client = opts.client;
    this.#source = opts.source;
    this.#now = opts.now ?? (() => new Date());
    this.#log = opts.log ?? (() => {});
  }

  /** Fire and forget: an event that cannot be written is logged, never thrown. */
  event(obj: KObject, type: 'Normal' | 'Warning', reason: string, message: string, fieldPath?: string): void {
    void this.#record(obj, type, reason, message, fieldPath).catch((err: unknown) => this.#log(`event ${reason} on ${obj.metadata.name}: ${String(err)}`));
  }

  async #record(obj: KObject, type: string, reason: string, message: string, fieldPath?: string): Promise<void> {
    const namespace = obj.metadata.namespace ?? 'default';
    const key = `${obj.metadata.uid}/${type}/${reason}/${message}/${fieldPath ?? ''}`;
    const now = k8sTime(this.#now());
    const prior = this.#seen.get(key);
    if (prior) {
      prior.count++;
      try {
        await this.#client.patch(eventsInfo, namespace, prior.name, { count: prior.count, lastTimestamp: now });
        return;
      } catch (err) {
        if (!(err instanceof StatusError && err.code === 404)) throw err;
      }
    }
    const name = `${obj.metadata.name}.${createHash('sha1').update(key + now).digest('hex').slice(0, 16)}`;
    const involvedObject: Record<string, unknown> = {
      kind: obj.kind, namespace: obj.metadata.namespace, name: obj.metadata.name, uid: obj.metadata.uid,
      apiVersion: obj.apiVersion, resourceVersion: obj.metadata.resourceVersion,
    };
    if (fieldPath) involvedObject.fieldPath = fieldPath;
    await this.#client.create(eventsInfo, namespace, {
      apiVersion: 'v1', kind: 'Event',
      metadata: { name, namespace },
      involvedObject, reason, message, type,
      source: this.#source, firstTimestamp: now, lastTimestamp: now, count: 1,
      reportingComponent: this.#source.component, reportingInstance: this.#source.host ?? '',
    });
    this.#seen.set(key, { name, count: 1 });
    if (this.#seen.size > 5000) this.#seen.delete(this.#seen.keys().next().value!);
  }
}
