// Wires the pure API machinery (src/api/*) into the one interface the HTTP layer uses.
import { applyDefaults } from '../api/defaults/index.ts';
import { convertIngress, ingressWarningHeader } from '../api/conversion/index.ts';
import type { KObject } from '../api/object.ts';
import { applyPatch } from '../api/patch/index.ts';
import { toTable } from '../api/printers/table.ts';
import { decodeKubernetesProtobuf } from '../api/protobuf/decode-kubernetes-protobuf.ts';
import { lookupKind } from '../api/resources.ts';
import { findDecodeError, findUnknownFields, strictDecodingMessage } from '../api/schema/field-validation.ts';
import { openapiV3Document, openapiV3Root } from '../api/schema/openapi-v3.ts';
import { validateObject } from '../api/validation/index.ts';
import type { ApiMachinery } from './machinery.ts';

function groupOf(obj: KObject): string {
  const r = lookupKind(obj.apiVersion, obj.kind);
  return r?.group ?? '';
}

export function defaultMachinery(): ApiMachinery {
  return {
    decodeProtobuf: decodeKubernetesProtobuf,
    applyPatch,
    toTable: (objects, kind, opts) => toTable(objects, kind, opts),
    findDecodeError,
    findUnknownFields,
    strictDecodingMessage,
    applyDefaults: (obj) => applyDefaults(obj.kind, groupOf(obj), obj),
    validate: (obj, old, subresource) => validateObject(obj.kind, groupOf(obj), obj, old, subresource),
    convert: (obj, toApiVersion) => {
      if (obj.kind === 'Ingress') return convertIngress(obj, toApiVersion);
      return { ...obj, apiVersion: toApiVersion };
    },
    deprecationWarning: (apiVersion, kind) => (kind === 'Ingress' ? ingressWarningHeader(apiVersion) : undefined),
    openapiV3Root,
    openapiV3Document,
  };
}
