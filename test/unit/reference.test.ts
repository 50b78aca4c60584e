import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import { renderReference } from '../../manifests-schema/gen/reference.js';
import { renderSchemaJson } from '../../manifests-schema/gen/schema-json.js';
import { repoRoot } from '../helpers/paths.js';

it('docs/manifest-reference.md is generated from the schema and up to date (run `npm run schema`)', () => {
  const generated = renderReference(JSON.parse(renderSchemaJson()));
  assert.equal(readFileSync(join(repoRoot(), 'docs', 'manifest-reference.md'), 'utf8'), generated);
});

it('documents every manifest field with a description', () => {
  const generated = renderReference(JSON.parse(renderSchemaJson()));
  for (const field of ['`app`', '`services.<service>.image`', '`services.<service>.healthcheck.test`', '`services.<service>.update.order`', '`volumes.<volume>`']) {
    assert.ok(generated.includes(`| ${field} |`), `${field} is in the reference`);
  }
  const rows = generated.split('\n').filter((line) => line.startsWith('| `'));
  assert.deepEqual(rows.filter((row) => /\| +\|$/.test(row)), [], 'no field without a description');
});
