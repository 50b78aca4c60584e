// The generated JSON Schemas as ajv compiles them at run time, for the loader (manifests,
// capstan.yaml) and the host policy file alike. The TypeBox definitions (load/schema/schema.ts,
// load/schema/placement.ts, policy/file-schema.ts) stay the one source, but only `npm run schema` and
// the drift test load them: TypeBox adds ~10 MB to the agent's resident memory. The drift test
// keeps these files and the definitions from disagreeing.
import { readFileSync } from 'node:fs';

/** The manifest format; relative to the repository (and the installed package) root, as are the others. */
export const SCHEMA_FILE = 'manifests-schema/capstan.schema.json';
/** `capstan.yaml`, the repository-wide settings at the root of the manifests path. */
export const SETTINGS_SCHEMA_FILE = 'manifests-schema/capstan-settings.schema.json';
/** The host policy file (`--policy-file`). */
export const POLICY_SCHEMA_FILE = 'manifests-schema/host-policy.schema.json';

export const SCHEMA_ID = 'urn:capstan:schema:manifest:v1';

/**
 * Compiled, this module is dist/agent/schema-file.js, two folders below the root that holds
 * manifests-schema/, both in the repository and in an installed package (`files` ships both).
 */
const packageRoot = new URL('../../', import.meta.url);

export function readSchemaFile(file: string): Record<string, unknown> {
  return JSON.parse(readFileSync(new URL(file, packageRoot), 'utf8')) as Record<string, unknown>;
}
