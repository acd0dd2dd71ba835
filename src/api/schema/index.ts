// Public surface of the schema package: OpenAPI v3 documents and strict field validation.
export { openapiV2Served, openapiV3Document, openapiV3Root, groupVersionPath, patchContentTypes } from './openapi-v3.ts';
export { findUnknownFields, strictDecodingMessage, unknownFieldWarnings } from './field-validation.ts';
export { schemaNameFor, servedSchemas } from './served-schemas.ts';
export { listExtensionsFor } from './kube-extensions.ts';
export type { Schema } from './models-schema-source.ts';
