// `npm run schema`: regenerates manifests-schema/ (the schemas and their validators) from the TypeBox definitions. A unit test fails
// when a checked-in file differs, so run this after changing a schema.
import { existsSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderSchemaFiles } from './schema-json.js';
import { renderValidatorFiles } from './validator-code.js';

function repositoryRoot(start: string): string {
  for (let dir = start, depth = 0; depth < 10; dir = dirname(dir), depth++) {
    if (existsSync(join(dir, 'package.json'))) return dir;
  }
  throw new Error(`no package.json above ${start}`);
}

const root = repositoryRoot(dirname(fileURLToPath(import.meta.url)));
const schemas = renderSchemaFiles();
for (const { file, text } of [...schemas, ...renderValidatorFiles(schemas)]) {
  const target = join(root, file);
  writeFileSync(target, text);
  process.stdout.write(`wrote ${target}\n`);
}
