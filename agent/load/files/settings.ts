// `capstan.yaml` at the root of the manifests path: repository-wide settings (today, fleet
// placement's default). Optional; a broken one stops the commit like a broken manifest.
import type { ValidateFunction } from 'ajv';
import type { Checkout } from './repo-files.js';
import { join } from 'node:path';
import type { Static } from '@sinclair/typebox';
import type { ManifestProblem } from '../../errors.js';
import { locate } from './locate.js';
import { parseManifest } from './parse.js';
import type { RepositorySettings } from '../schema/placement.js';
import { schemaValidator, SETTINGS_SCHEMA_FILE } from '../../schema-file.js';

export const SETTINGS_FILE = 'capstan.yaml';

let compiled: ValidateFunction | undefined;

export async function readRepositorySettings(
  folder: string,
  repoPath: string,
  checkout: Checkout,
): Promise<{ settings?: Static<typeof RepositorySettings>; problems: ManifestProblem[] }> {
  let text: string;
  try {
    const read = await checkout.reader.read(join(folder, SETTINGS_FILE), repoPath);
    if ('problem' in read) return { problems: [read.problem] };
    text = read.text;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { problems: [] };
    throw error;
  }
  const { parsed, problems } = parseManifest(text, repoPath);
  if (!parsed) return { problems };
  compiled ??= schemaValidator(SETTINGS_SCHEMA_FILE);
  if (parsed.data === null || parsed.data === undefined) return { settings: {}, problems: [] };
  if (compiled(parsed.data)) return { settings: parsed.data as Static<typeof RepositorySettings>, problems: [] };
  return {
    problems: (compiled.errors ?? []).map((error) => {
      const path = error.instancePath.split('/').filter(Boolean);
      const extra = error.keyword === 'additionalProperties' ? (error.params as { additionalProperty: string }).additionalProperty : undefined;
      const keyPath = extra ? [...path, extra] : path;
      const { line, column } = locate(parsed.doc, parsed.lineCounter, keyPath, extra !== undefined);
      return { code: 'SETTINGS_INVALID', file: repoPath, line, column, key: keyPath.join('.'), message: extra ? `unknown key '${extra}'` : `${error.message ?? 'invalid'}` };
    }),
  };
}
