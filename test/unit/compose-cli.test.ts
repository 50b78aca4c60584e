import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { renderKeyTable, withKeyTable } from '../../manifests-schema/gen/compose-table.js';
import { KEY_SCOPES } from '../../agent/load/compose/keys.js';
import { runCapstan } from '../helpers/cli.js';
import { repoRoot } from '../helpers/paths.js';

// `capstan convert` as a user runs it, and the README's table of Compose keys.

const corpus = (name: string) => join(repoRoot(), 'test', 'fixtures', 'compose', name);

describe('capstan convert', () => {
  it('prints the native manifest of a Compose folder, notes on stderr', async () => {
    const result = await runCapstan(['convert', corpus('nextcloud'), '--root', repoRoot()]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, readFileSync(join(corpus('nextcloud'), 'expected.yaml'), 'utf8'));
    assert.match(result.stderr, /^note: test\/fixtures\/compose\/nextcloud\/compose\.yaml:2:1: version: obsolete/m);
    assert.doesNotMatch(result.stdout + result.stderr, /change-me/, 'no value of .env is printed');
  });

  it('takes the Compose file itself too', async () => {
    const result = await runCapstan(['convert', join(corpus('paperless-ngx'), 'docker-compose.yml'), '--root', repoRoot()]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, readFileSync(join(corpus('paperless-ngx'), 'expected.yaml'), 'utf8'));
  });

  it('prints problems with file, line and key on stderr, nothing on stdout, and exits 1', async () => {
    const result = await runCapstan(['convert', corpus('refused'), '--root', repoRoot()]);
    assert.equal(result.code, 1);
    assert.equal(result.stdout, '');
    assert.match(result.stderr, /^test\/fixtures\/compose\/refused\/compose\.yaml:6:5: services\.app\.isolation: not supported by Capstan/m);
  });

  it('refuses a path that is no Compose folder or file', async () => {
    const result = await runCapstan(['convert', join(corpus('caddy'), 'Caddyfile')]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /is not a folder holding a Compose file/);
  });
});

describe('README: Compose keys', () => {
  it('the table is generated from keys.ts and up to date (run `npm run build && npm run schema`)', () => {
    const readme = readFileSync(join(repoRoot(), 'README.md'), 'utf8');
    assert.equal(withKeyTable(readme), readme);
    assert.ok(readme.includes(renderKeyTable()));
  });

  it('every supported and noted key says what Capstan does with it', () => {
    for (const scope of KEY_SCOPES) {
      for (const [key, rule] of Object.entries(scope.rules)) {
        if (rule.status !== 'refused') assert.notEqual(rule.capstan, '', `${scope.title} ${key}`);
      }
    }
  });
});
