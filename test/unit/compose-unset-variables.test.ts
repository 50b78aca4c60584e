import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { formatProblem } from '../../agent/errors.js';
import { validateDir } from '../../agent/load/index.js';
import { DEFAULT_POLICY, parsePolicy } from '../../agent/policy/index.js';
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
