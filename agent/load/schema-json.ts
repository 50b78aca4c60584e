// The published JSON Schema: the TypeBox definition plus the document header. ajv compiles this
// same object, so the checked-in file, editors and the loader cannot disagree.
import { Manifest } from './schema.js';

/** Where the generated schema lives, relative to the repository root. */
export const SCHEMA_FILE = 'manifests-schema/capstan.schema.json';

export const SCHEMA_ID = 'urn:capstan:schema:manifest:v1';

export function manifestJsonSchema(): Record<string, unknown> {
  // JSON round trip drops TypeBox's symbol-keyed metadata, leaving plain JSON Schema.
  const body = JSON.parse(JSON.stringify(Manifest)) as Record<string, unknown>;
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    $id: SCHEMA_ID,
    title: 'Capstan manifest',
    ...body,
  };
}

export function renderSchemaJson(): string {
  return JSON.stringify(manifestJsonSchema(), null, 2) + '\n';
}
