// `npm run schema` (last): rewrites the Compose key table in README.md from compose/keys.ts.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { withKeyTable } from './compose-table.js';

let root = dirname(fileURLToPath(import.meta.url));
while (!existsSync(join(root, 'package.json'))) root = dirname(root);
const readme = join(root, 'README.md');
const updated = withKeyTable(readFileSync(readme, 'utf8'));
if (updated === undefined) throw new Error('README.md has no compose-keys markers');
writeFileSync(readme, updated);
process.stdout.write(`wrote ${readme}\n`);
