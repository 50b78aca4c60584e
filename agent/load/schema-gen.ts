// `npm run schema`: regenerates manifests-schema/capstan.schema.json from schema.ts.
// A unit test fails when the checked-in file differs, so run this after changing the schema.
import { existsSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SCHEMA_FILE, renderSchemaJson } from './schema-json.js';

function repositoryRoot(start: string): string {
  for (let dir = start, depth = 0; depth < 10; dir = dirname(dir), depth++) {
    if (existsSync(join(dir, 'package.json'))) return dir;
  }
  throw new Error(`no package.json above ${start}`);
}

const target = join(repositoryRoot(dirname(fileURLToPath(import.meta.url))), SCHEMA_FILE);
writeFileSync(target, renderSchemaJson());
process.stdout.write(`wrote ${target}\n`);
