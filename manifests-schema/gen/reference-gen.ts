// `npm run schema` (after `schema-gen`): writes docs/manifest-reference.md from the schema.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderReference } from './reference.js';
import { renderSchemaJson } from './schema-json.js';

export const REFERENCE_FILE = 'docs/manifest-reference.md';

let root = dirname(fileURLToPath(import.meta.url));
while (!existsSync(join(root, 'package.json'))) root = dirname(root);
const target = join(root, REFERENCE_FILE);
mkdirSync(dirname(target), { recursive: true });
writeFileSync(target, renderReference(JSON.parse(renderSchemaJson())));
process.stdout.write(`wrote ${target}\n`);
