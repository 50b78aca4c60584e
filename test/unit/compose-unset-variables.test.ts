import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatProblem } from '../../agent/errors.js';
import { validateDir } from '../../agent/load/index.js';
import { loadComposeFolder, renderManifest } from '../../agent/load/compose/index.js';
import { loadManifestFile } from '../../agent/load/load-file.js';
import { openCheckout } from '../../agent/load/files/repo-files.js';
import { openEnvFiles } from '../../agent/load/variables/env-files.js';
import { emptyWhenUnset, interpolate } from '../../agent/load/variables/interpolate.js';
import { DEFAULT_POLICY, parsePolicy, type HostPolicy } from '../../agent/policy/index.js';
import { cleanupCheckouts, convertCompose, hashKey, writeCheckout } from './compose-helpers.js';

// allow_unset_variables: Compose makes an unset `${VAR}` (no default, no `?`) empty; Capstan
// refuses it unless the host policy says to follow Compose, and then only for Compose files.

const COMPOSE = 'services:\n  db:\n    image: local/busybox:1\n    environment:\n      POSTGRES_PASSWORD: ${POSTGRES_PASSWORD}\n';
const ALLOW = { ...DEFAULT_POLICY, allowUnsetVariables: true };

describe('allow_unset_variables', () => {
  after(cleanupCheckouts);

  it('is parsed from the policy file, false by default', () => {
    assert.equal(DEFAULT_POLICY.allowUnsetVariables, false);
    assert.equal(parsePolicy('allow_unset_variables: true\n', 'policy.yaml').allowUnsetVariables, true);
    assert.equal(parsePolicy('allow_devices: true\n', 'policy.yaml').allowUnsetVariables, false);
  });

  it('by default refuses an unset variable in a Compose file, naming the setting', async () => {
    const result = await convertCompose(COMPOSE);
    assert.equal(result.state, undefined);
    const problem = result.problems.find((text) => text.includes('[UNDEFINED_VARIABLE]'));
    assert.ok(problem, result.problems.join('\n'));
    assert.match(problem, /^app\/compose\.yaml:5:\d+: services\.db\.environment\.POSTGRES_PASSWORD: variable 'POSTGRES_PASSWORD' is not set/);
    assert.match(problem, /allow_unset_variables: true/);
    assert.deepEqual(result.notes.filter((note) => note.includes('POSTGRES_PASSWORD')), []);
  });

  it('with the policy, leaves it empty as Compose does, with a note naming file, line, key and variable', async () => {
    const result = await convertCompose(COMPOSE, {}, { policy: ALLOW });
    assert.deepEqual(result.problems, []);
    assert.equal(result.app?.services[0]?.environment.POSTGRES_PASSWORD, '');
    const note = result.notes.find((text) => text.includes("'POSTGRES_PASSWORD'"));
    assert.ok(note, result.notes.join('\n'));
    assert.match(note, /^app\/compose\.yaml:5:\d+: services\.db\.environment\.POSTGRES_PASSWORD: variable 'POSTGRES_PASSWORD' is not set: it is an empty string/);
  });

  it('with the policy, still refuses ${X:?} and ${X?}', async () => {
    for (const form of ['${POSTGRES_PASSWORD:?give a password}', '${POSTGRES_PASSWORD?}']) {
      const result = await convertCompose(COMPOSE.replace('${POSTGRES_PASSWORD}', form), {}, { policy: ALLOW });
      assert.equal(result.state, undefined, form);
      assert.ok(result.problems.some((text) => text.includes('[UNDEFINED_VARIABLE]') && !text.includes('allow_unset_variables')), `${form}: ${result.problems.join('\n')}`);
    }
  });

  it('with the policy, a native manifest still refuses an unset variable', async () => {
    const root = await writeCheckout({ 'app/app.yaml': `app: app\n${COMPOSE}` });
    const validation = await validateDir({ root, path: 'app', commit: 'a'.repeat(40), hashKey, policy: ALLOW });
    assert.equal(validation.state, undefined);
    const problems = validation.problems.map(formatProblem);
    assert.ok(problems.some((text) => text.includes("variable 'POSTGRES_PASSWORD' is not set") && text.includes('[UNDEFINED_VARIABLE]')), problems.join('\n'));
  });
});

/** `capstan convert` of `app/` as the CLI prints it, then that output loaded as the native manifest it is. */
async function convertThenLoad(files: Record<string, string>, policy: HostPolicy) {
  const root = await writeCheckout(files);
  const checkout = await openCheckout(root);
  const load = await loadComposeFolder(join(root, 'app'), checkout, { envFiles: openEnvFiles(checkout, {}), fallback: () => undefined }, policy);
  assert.deepEqual(load.result.problems.map(formatProblem), []);
  const rendered = renderManifest(load.conversion.document!.data, { schema: 'x.json', from: 'compose.yaml' });
  writeFileSync(join(root, 'app', 'app.yaml'), rendered);
  const native = await loadManifestFile(join(root, 'app', 'app.yaml'), await openCheckout(root), { envFiles: openEnvFiles(checkout, {}), fallback: () => undefined }, policy);
  return { rendered, native, notes: load.notes };
}

describe('capstan convert under allow_unset_variables', () => {
  after(cleanupCheckouts);

  it('writes an unset variable ${VAR:-}, so its output loads as a native manifest with the same values', async () => {
    const compose = [
      'services:',
      '  db:',
      '    image: local/busybox:1',
      '    environment:',
      '      POSTGRES_PASSWORD: ${POSTGRES_PASSWORD}',
      '      URL: http://$HOST:${PORT:-80}/x?a=$$b',
      '      NESTED: ${DEFAULTED:-${INNER}}',
      '',
    ].join('\n');
    const { rendered, native, notes } = await convertThenLoad({ 'app/compose.yaml': compose }, ALLOW);
    assert.match(rendered, /POSTGRES_PASSWORD: \$\{POSTGRES_PASSWORD:-\}/);
    assert.match(rendered, /URL: http:\/\/\$\{HOST:-\}:\$\{PORT:-80\}\/x\?a=\$\$b/);
    assert.match(rendered, /NESTED: \$\{DEFAULTED:-\$\{INNER:-\}\}/);
    assert.deepEqual(native.problems.map(formatProblem), []);
    const environment = native.app?.services.find((service) => service.name === 'db')?.environment;
    assert.deepEqual({ ...environment }, { POSTGRES_PASSWORD: '', URL: 'http://:80/x?a=$b', NESTED: '' });
    assert.ok(notes.some((note) => note.message.includes("variable 'POSTGRES_PASSWORD' is not set") && note.message.includes('capstan convert writes it ${POSTGRES_PASSWORD:-}')), notes.map((note) => note.message).join('\n'));
  });

  it('keeps a variable that is set as written: the native manifest still refuses it once unset', async () => {
    const compose = 'services:\n  db:\n    image: local/busybox:1\n    environment:\n      SET: ${DEFINED}\n      UNSET: ${MISSING}\n';
    const { rendered } = await convertThenLoad({ 'app/compose.yaml': compose, 'app/.env': 'DEFINED=yes\n' }, ALLOW);
    assert.match(rendered, /SET: \$\{DEFINED\}\n/);
    assert.match(rendered, /UNSET: \$\{MISSING:-\}\n/);
  });

  it('without the policy, leaves the refusal to convert (nothing printed)', async () => {
    const root = await writeCheckout({ 'app/compose.yaml': COMPOSE });
    const checkout = await openCheckout(root);
    const load = await loadComposeFolder(join(root, 'app'), checkout, { envFiles: openEnvFiles(checkout, {}), fallback: () => undefined }, DEFAULT_POLICY);
    assert.ok(load.result.problems.some((problem) => problem.code === 'UNDEFINED_VARIABLE'));
    assert.equal((load.conversion.document?.data.services as Record<string, { environment: Record<string, string> }>).db.environment.POSTGRES_PASSWORD, '${POSTGRES_PASSWORD}');
  });

  it('emptyWhenUnset rewrites only plain references to the named variables, and keeps their value', () => {
    const names = new Set(['A', 'B']);
    const cases: Array<[string, string]> = [
      ['$A', '${A:-}'],
      ['${A}', '${A:-}'],
      ['x${A}y$B-z', 'x${A:-}y${B:-}-z'],
      ['$AB ${C} $$A $', '$AB ${C} $$A $'],
      ['${C:-${A}}', '${C:-${A:-}}'],
      ['${C:+$B}', '${C:+${B:-}}'],
      ['${A:?set it}', '${A:?set it}'],
      ['${A-x}', '${A-x}'],
      ['${C:-{"json":$A}}', '${C:-{"json":${A:-}}}'],
      ['${oops', '${oops'],
    ];
    for (const [template, expected] of cases) assert.equal(emptyWhenUnset(template, names), expected, template);
    // Same value whatever the variables hold, set or not.
    for (const values of [{}, { A: 'a', B: '' }, { A: '', B: 'b', C: 'c' }] as Array<Record<string, string>>) {
      const lookup = (name: string) => values[name];
      for (const [template] of cases.slice(0, 9)) assert.equal(interpolate(emptyWhenUnset(template, names), lookup).value, interpolate(template, lookup).value, `${template} with ${JSON.stringify(values)}`);
    }
  });
});
