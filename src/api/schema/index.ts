// Public surface of the schema package: OpenAPI v3 documents, strict field validation and decode (type) errors.
export { openapiV2Served, openapiV3Document, openapiV3Root, groupVersionPath, patchContentTypes } from './openapi-v3.ts';
export { decodeErrorMessage, findDecodeError, findUnknownFields, strictDecodingMessage, unknownFieldWarnings } from './field-validation.ts';
export { schemaNameFor, servedSchemas } from './served-schemas.ts';
export { listExtensionsFor } from './kube-extensions.ts';
export type { Schema } from './models-schema-source.ts';
