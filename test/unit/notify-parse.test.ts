// CAPSTAN_NOTIFY: target URLs in, typed targets out; secrets come from env or files, never the URL.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CapstanError } from '../../agent/errors.js';
import { parseNotifyTargets, targetKey, type SecretSources } from '../../agent/notify/index.js';

const sources: SecretSources = {
  env: { HOOK_SECRET: 'hmac-key-123', NTFY_TOKEN: 'tk_abcdef', EMPTY: '' },
  readFile: (path) => {
    if (path === '/run/secrets/ntfy') return 'tk_fromfile\n';
    throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
  },
};

function configError(text: string): CapstanError {
  try {
    parseNotifyTargets(text, sources);
  } catch (error) {
    assert.ok(error instanceof CapstanError, String(error));
    assert.equal(error.code, 'CONFIG_INVALID');
    return error;
  }
  assert.fail(`expected ${text} to be refused`);
}

describe('parseNotifyTargets', () => {
  it('reads every kind, separated by commas or whitespace', () => {
    const targets = parseNotifyTargets(
      `webhook+https://ops.example/hook?secret_env=HOOK_SECRET&events=rollback,quarantined&team=infra,
       ntfy+https://ntfy.example/capstan?token_env=NTFY_TOKEN&priority=high
       slack+https://hooks.slack.com/services/T0/B0/XXXX, discord+https://discord.com/api/webhooks/1/abc?wait=true`,
      sources,
    );
    assert.deepEqual(targets, [
      { kind: 'webhook', url: 'https://ops.example/hook?team=infra', events: ['rollback', 'quarantined'], secret: 'hmac-key-123' },
      { kind: 'ntfy', url: 'https://ntfy.example/capstan', token: 'tk_abcdef', priority: 4 },
      { kind: 'slack', url: 'https://hooks.slack.com/services/T0/B0/XXXX' },
      { kind: 'discord', url: 'https://discord.com/api/webhooks/1/abc?wait=true' },
    ]);
  });

  it('is empty for an unset or blank setting', () => {
    assert.deepEqual(parseNotifyTargets(undefined, sources), []);
    assert.deepEqual(parseNotifyTargets('  \n ', sources), []);
  });

  it('reads a token from a file without its final newline, and numeric priorities', () => {
    assert.deepEqual(parseNotifyTargets('ntfy+http://127.0.0.1:8080/t?token_file=/run/secrets/ntfy&priority=2', sources), [
      { kind: 'ntfy', url: 'http://127.0.0.1:8080/t', token: 'tk_fromfile', priority: 2 },
    ]);
  });

  const refusals: Array<{ text: string; mentions: RegExp }> = [
    { text: 'teams+https://x.example/hook', mentions: /must start with one of webhook\+/ },
    { text: 'https://x.example/hook', mentions: /must start with/ },
    { text: 'slack+https//missing-colon', mentions: /not a valid URL/ },
    { text: 'webhook+ftp://x.example/hook', mentions: /https:\/\// },
    { text: 'ntfy+https://user:pw@ntfy.example/t', mentions: /credentials/ },
    { text: 'slack+https://x.example/h?token_env=NTFY_TOKEN', mentions: /does not take token_env/ },
    { text: 'webhook+https://x.example/h?secret_env=MISSING', mentions: /MISSING, which is not set/ },
    { text: 'webhook+https://x.example/h?secret_env=EMPTY', mentions: /is empty/ },
    { text: 'webhook+https://x.example/h?secret_env=HOOK_SECRET&secret_file=/x', mentions: /not both/ },
    { text: 'ntfy+https://x.example/t?token_file=/nope', mentions: /cannot be read \(ENOENT\)/ },
    { text: 'ntfy+https://x.example/t?priority=9', mentions: /priority=9 must be 1-5/ },
    { text: 'discord+https://x.example/h?events=deployed,exploded', mentions: /events=exploded/ },
  ];
  for (const { text, mentions } of refusals) {
    it(`refuses ${text}`, () => {
      const error = configError(text);
      assert.match(error.message, mentions);
      assert.match(error.message, /^CAPSTAN_NOTIFY target 1/);
    });
  }

  it('never puts a secret value or a webhook path in an error', () => {
    const error = configError('slack+https://hooks.slack.com/services/T0/B0/SECRETPATH?secret_env=HOOK_SECRET');
    assert.doesNotMatch(error.message + JSON.stringify(error.data), /SECRETPATH|hmac-key-123/);
  });

  it('names a target by kind, host and a stable hash, never by its path', () => {
    const [slack, other] = parseNotifyTargets('slack+https://hooks.slack.com/services/T0/B0/AAAA slack+https://hooks.slack.com/services/T0/B0/BBBB', sources);
    assert.match(targetKey(slack), /^slack:hooks\.slack\.com#[0-9a-f]{8}$/);
    assert.notEqual(targetKey(slack), targetKey(other));
    assert.equal(targetKey(slack), targetKey({ kind: 'slack', url: 'https://hooks.slack.com/services/T0/B0/AAAA' }));
  });
});
