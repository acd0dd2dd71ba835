// Per-resource hooks the generic registry calls around a write: what kube-apiserver calls a
// REST strategy (PrepareForCreate, Validate, allocation in BeginCreate/BeginUpdate, graceful delete).
import type { FieldError } from '../../api/errors.ts';
import type { KObject } from '../../api/object.ts';

/** What an allocation decided. `commit` holds it before the write; `abort` undoes that on failure. */
export interface Reservation {
  readonly errors: readonly FieldError[];
  /** The object with allocations filled in. */
  readonly object: KObject;
  commit(): void;
  abort(): void;
  /** Called once the write is durable (releases what an update freed). */
  finish(): void;
}

/** The authenticated user a write is made for (kube's user.Info from the request context). */
export interface Requester {
  readonly user: string;
  readonly uid?: string;
  readonly groups: readonly string[];
  readonly extra?: Readonly<Record<string, readonly string[]>>;
}

/** What a write knows about its request beyond the object. */
export interface WriteContext {
  /** Undefined for in-process writes that were not authenticated (tests, a server without an authenticator). */
  readonly requester?: Requester;
}

export interface Strategy {
  /** Reset fields a client may not set on create (usually status); `ctx.requester` is who asks. */
  prepareForCreate?(obj: KObject, ctx: WriteContext): void;
  /**
   * Carry over what this endpoint may not change (status on the main resource, spec on /status).
   * `ctx.requester` is who asks; a hook may refuse the write (throw a StatusError, e.g. 403).
   */
  prepareForUpdate?(obj: KObject, old: KObject, subresource: string | undefined, ctx: WriteContext): void;
  /**
   * A /status write, after the registry kept everything but status from the stored object (kube's
   * status strategies that do more than that: a CSR's Approved/Denied conditions stay as they were).
   */
  prepareForStatusUpdate?(obj: KObject, old: KObject): void;
  /** Allocations (clusterIP, nodePort) planned before the write and committed around it. */
  reserve?(obj: KObject, old: KObject | undefined): Reservation;
  /** Frees what a deleted object held. */
  released?(obj: KObject): void;
  /** Grace period for a delete, or 0 to remove at once (pods bound to a node wait for the kubelet). */
  gracePeriodSeconds?(obj: KObject, requested: number | undefined): number;
  /** Finalizers outside metadata.finalizers (a Namespace's spec.finalizers). */
  pendingFinalizers?(obj: KObject): readonly string[];
  /** Changes made when a delete starts (a Namespace turns Terminating). */
  markDeleting?(obj: KObject): void;
  /** PUT may create when the object is missing (Endpoints, Events). */
  readonly allowCreateOnUpdate?: boolean;
  /** metadata.generation tracks spec changes. */
  readonly tracksGeneration?: boolean;
  /**
   * An annotation change bumps the generation too (a Deployment's annotations are copied to its
   * ReplicaSets: deployment strategy PrepareForUpdate).
   */
  readonly annotationsBumpGeneration?: boolean;
  /**
   * /status writes may change metadata.annotations (kube's status strategies reset only spec and
   * labels of a Deployment; its controller records the revision annotation through /status).
   */
  readonly statusUpdatesAnnotations?: boolean;
  /**
   * false: a PUT must carry metadata.resourceVersion (kube's custom resources). Built-in kinds
   * take one without it as an update of whatever is stored (AllowUnconditionalUpdate).
   */
  readonly allowUnconditionalUpdate?: boolean;
}
