// Kubernetes API errors as values: each carries the HTTP code, the Status `reason` and the
// message worded exactly as kube-apiserver words it (k8s.io/apimachinery/pkg/api/errors).

/** One invalid field, as in field.Error (k8s.io/apimachinery/pkg/util/validation/field). */
export type FieldErrorType =
  | 'FieldValueNotFound'
  | 'FieldValueRequired'
  | 'FieldValueDuplicate'
  | 'FieldValueInvalid'
  | 'FieldValueNotSupported'
  | 'FieldValueForbidden'
  | 'FieldValueTooLong'
  | 'FieldValueTooMany'
  | 'InternalError'
  | 'FieldValueTypeInvalid';

export interface FieldError {
  readonly type: FieldErrorType;
  readonly field: string;
  /** The message without the field prefix, e.g. `Invalid value: 80: provided port is ...`. */
  readonly message: string;
}

/** Renders a value the way field.Error does: strings quoted, numbers bare, others as given. */
export function formatFieldValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (value === null || value === undefined) return 'null';
  return JSON.stringify(value);
}

export const field = {
  required(path: string, detail = ''): FieldError {
    return { type: 'FieldValueRequired', field: path, message: detail ? `Required value: ${detail}` : 'Required value' };
  },
  invalid(path: string, value: unknown, detail: string, rendered?: string): FieldError {
    const v = rendered ?? formatFieldValue(value);
    return { type: 'FieldValueInvalid', field: path, message: detail ? `Invalid value: ${v}: ${detail}` : `Invalid value: ${v}` };
  },
  duplicate(path: string, value: unknown, rendered?: string): FieldError {
    return { type: 'FieldValueDuplicate', field: path, message: `Duplicate value: ${rendered ?? formatFieldValue(value)}` };
  },
  forbidden(path: string, detail: string): FieldError {
    return { type: 'FieldValueForbidden', field: path, message: `Forbidden: ${detail}` };
  },
  notSupported(path: string, value: unknown, valid: readonly string[]): FieldError {
    const list = valid.map((s) => JSON.stringify(s)).join(', ');
    return {
      type: 'FieldValueNotSupported',
      field: path,
      message: `Unsupported value: ${formatFieldValue(value)}${valid.length ? `: supported values: ${list}` : ''}`,
    };
  },
  tooLong(path: string, value: unknown, max: number): FieldError {
    return { type: 'FieldValueTooLong', field: path, message: `Too long: may not be more than ${max} bytes` };
  },
  typeInvalid(path: string, value: unknown, detail: string): FieldError {
    return { type: 'FieldValueTypeInvalid', field: path, message: `Invalid value: ${formatFieldValue(value)}: ${detail}` };
  },
} as const;

export type StatusReason =
  | 'BadRequest'
  | 'Unauthorized'
  | 'Forbidden'
  | 'NotFound'
  | 'AlreadyExists'
  | 'Conflict'
  | 'Gone'
  | 'Invalid'
  | 'MethodNotAllowed'
  | 'NotAcceptable'
  | 'UnsupportedMediaType'
  | 'RequestEntityTooLarge'
  | 'TooManyRequests'
  | 'InternalError'
  | 'ServiceUnavailable'
  | 'Timeout'
  | 'Expired';

export interface StatusCause {
  reason?: string;
  message?: string;
  field?: string;
}

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: StatusCause[];
  retryAfterSeconds?: number;
}

/** The metav1.Status body every error response carries. */
export interface Status {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never> | { resourceVersion?: string };
  status: 'Failure' | 'Success';
  message?: string;
  reason?: StatusReason;
  details?: StatusDetails;
  code: number;
}

/** A resource identity used to word messages: `services "web" not found`. */
export interface GroupResource {
  group: string;
  resource: string;
}

function qualified(gr: GroupResource): string {
  return gr.group ? `${gr.resource}.${gr.group}` : gr.resource;
}

export class StatusError extends Error {
  readonly code: number;
  readonly reason: StatusReason;
  readonly details: StatusDetails | undefined;

  constructor(code: number, reason: StatusReason, message: string, details?: StatusDetails) {
    super(message);
    this.name = 'StatusError';
    this.code = code;
    this.reason = reason;
    this.details = details;
  }

  toStatus(): Status {
    const s: Status = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: this.message, reason: this.reason, code: this.code };
    if (this.details) s.details = this.details;
    return s;
  }
}

function detailsFor(gr: GroupResource, name: string): StatusDetails {
  const d: StatusDetails = { name, kind: gr.resource };
  if (gr.group) d.group = gr.group;
  return d;
}

export const errors = {
  notFound(gr: GroupResource, name: string): StatusError {
    return new StatusError(404, 'NotFound', `${qualified(gr)} "${name}" not found`, detailsFor(gr, name));
  },
  alreadyExists(gr: GroupResource, name: string): StatusError {
    return new StatusError(409, 'AlreadyExists', `${qualified(gr)} "${name}" already exists`, detailsFor(gr, name));
  },
  conflict(gr: GroupResource, name: string, why = 'the object has been modified; please apply your changes to the latest version and try again'): StatusError {
    return new StatusError(409, 'Conflict', `Operation cannot be fulfilled on ${qualified(gr)} "${name}": ${why}`, detailsFor(gr, name));
  },
  /** 422 with causes; `kind` is the object's Kind (`Service`), `group` its API group. */
  invalid(kind: string, group: string, name: string, errs: readonly FieldError[]): StatusError {
    const parts = errs.map((e) => `${e.field}: ${e.message}`);
    const joined = parts.length === 1 ? parts[0]! : `[${parts.join(', ')}]`;
    const qualifiedKind = group ? `${kind}.${group}` : kind;
    const details: StatusDetails = { name, kind };
    if (group) details.group = group;
    details.causes = errs.map((e) => ({ reason: e.type, message: e.message, field: e.field }));
    return new StatusError(422, 'Invalid', `${qualifiedKind} "${name}" is invalid: ${joined}`, details);
  },
  /** A path nothing is served at (kube's wording for unknown resources and non-resource URLs). */
  notFoundPath(): StatusError {
    return new StatusError(404, 'NotFound', 'the server could not find the requested resource', {});
  },
  badRequest(message: string): StatusError {
    return new StatusError(400, 'BadRequest', message);
  },
  gone(message: string): StatusError {
    return new StatusError(410, 'Expired', message);
  },
  unauthorized(message = 'Unauthorized'): StatusError {
    return new StatusError(401, 'Unauthorized', message);
  },
  forbidden(gr: GroupResource, name: string, why: string): StatusError {
    return new StatusError(403, 'Forbidden', `${qualified(gr)} "${name}" is forbidden: ${why}`, detailsFor(gr, name));
  },
  methodNotAllowed(message: string): StatusError {
    return new StatusError(405, 'MethodNotAllowed', message);
  },
  notAcceptable(message: string): StatusError {
    return new StatusError(406, 'NotAcceptable', message);
  },
  unsupportedMediaType(contentType: string): StatusError {
    return new StatusError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf${contentType ? '' : ''}`);
  },
  tooLarge(message = 'the request is too large'): StatusError {
    return new StatusError(413, 'RequestEntityTooLarge', message);
  },
  internal(message: string): StatusError {
    return new StatusError(500, 'InternalError', `Internal error occurred: ${message}`);
  },
  serviceUnavailable(message: string): StatusError {
    return new StatusError(503, 'ServiceUnavailable', message);
  },
} as const;

/** Wraps anything thrown into a StatusError so handlers always answer with a Status. */
export function toStatusError(err: unknown): StatusError {
  if (err instanceof StatusError) return err;
  const msg = err instanceof Error ? err.message : String(err);
  return errors.internal(msg);
}
