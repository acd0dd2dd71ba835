// The pure API machinery the handlers use (codecs, patching, printing, schemas, conversion),
// gathered in one interface so the HTTP layer stays thin and each piece is tested on its own.
import type { KObject } from '../api/object.ts';

export interface GroupVersionKind {
  group: string;
  version: string;
  kind: string;
}

export interface TableOptions {
  now: Date;
  resourceVersion: string;
  includeObject: 'None' | 'Metadata' | 'Object';
  includeHeader: boolean;
  continueToken?: string;
}

export interface ApiMachinery {
  /** A `application/vnd.kubernetes.protobuf` body as the JSON object it encodes. */
  decodeProtobuf(body: Uint8Array): Record<string, unknown>;
  /** Applies a PATCH body of the given content type; throws StatusError on bad patches. */
  applyPatch(contentType: string, original: unknown, patch: unknown, gvk: GroupVersionKind): unknown;
  /** Server-side Table for `kubectl get`. */
  toTable(objects: KObject[], kind: string, opts: TableOptions): unknown;
  /** The first type error kube's JSON decoder would refuse the body with (`json: cannot unmarshal bool into Go struct field ConfigMap.data of type string`). */
  findDecodeError(apiVersion: string, kind: string, obj: unknown): string | undefined;
  /** Paths of fields the schema does not know (`spec.bogusField`). */
  findUnknownFields(apiVersion: string, kind: string, obj: unknown): string[];
  /** kube's 400 message for unknown fields under fieldValidation=Strict. */
  strictDecodingMessage(kind: string, version: string, paths: string[]): string;
  /** Validation + defaulting hooks for the registry. */
  applyDefaults(obj: KObject): void;
  /** `subresource`: the endpoint of an update (`status`, `approval`), for kinds whose rules differ by it. */
  validate(obj: KObject, old: KObject | undefined, subresource?: string): import('../api/errors.ts').FieldError[];
  /** Converts between served versions of one kind (Ingress v1 ↔ v1beta1). */
  convert(obj: KObject, toApiVersion: string): KObject;
  /** The `Warning` header text for a deprecated version, if it is one. */
  deprecationWarning(apiVersion: string, kind: string): string | undefined;
  openapiV3Root(): unknown;
  openapiV3Document(path: string): { body: string; hash: string } | undefined;
}
