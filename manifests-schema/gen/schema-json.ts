// The published JSON Schemas: each TypeBox definition plus its document header. `npm run schema`
// writes them to manifests-schema/, which ajv compiles at run time (agent/schema-file.ts); the drift
// test checks that each file is what this renders, so the checked-in files, editors and the
// loader cannot disagree.
import type { TSchema } from '@sinclair/typebox';
import { PolicyFile } from '../../agent/policy/file-schema.js';
import { Manifest } from '../../agent/load/schema/schema.js';
import { POLICY_SCHEMA_FILE, SCHEMA_FILE, SCHEMA_ID, SETTINGS_SCHEMA_FILE } from '../../agent/schema-file.js';
import { RepositorySettings } from '../../agent/load/schema/placement.js';

export { SCHEMA_FILE };

function document(schema: TSchema, id: string, title: string): Record<string, unknown> {
  // JSON round trip drops TypeBox's symbol-keyed metadata, leaving plain JSON Schema.
  const body = JSON.parse(JSON.stringify(schema)) as Record<string, unknown>;
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    $id: id,
    title,
    ...body,
  };
}

function render(schema: Record<string, unknown>): string {
  return JSON.stringify(schema, null, 2) + '\n';
}

export function manifestJsonSchema(): Record<string, unknown> {
  return document(Manifest, SCHEMA_ID, 'Capstan manifest');
}

export function renderSchemaJson(): string {
  return render(manifestJsonSchema());
}

/** Every file under manifests-schema/, with the text `npm run schema` writes to it. */
export function renderSchemaFiles(): Array<{ file: string; text: string }> {
  return [
    { file: SCHEMA_FILE, text: renderSchemaJson() },
    { file: SETTINGS_SCHEMA_FILE, text: render(document(RepositorySettings, 'urn:capstan:schema:settings:v1', 'Capstan repository settings (capstan.yaml)')) },
    { file: POLICY_SCHEMA_FILE, text: render(document(PolicyFile, 'urn:capstan:schema:host-policy:v1', 'Capstan host policy')) },
  ];
}
