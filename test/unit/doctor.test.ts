import assert from 'node:assert/strict';
import { it } from 'node:test';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AgentConfig } from '../../agent/cli/config.js';
import { clockCheck, keyFileCheck } from '../../agent/cli/doctor/checks.js';
import { newKeyringKey, serializeKeyring } from '../../secrets/index.js';

it('flags a clock that is behind the commits it deploys', () => {
  const now = Date.parse('2026-11-21T12:00:00Z');
  const table: [string, number, string][] = [
    ['an hour-old commit', now - 3_600_000, 'ok'],
    ['a commit two minutes ahead (clock skew within tolerance)', now + 120_000, 'ok'],
    ['a commit an hour ahead', now + 3_600_000, 'warn'],
  ];
  for (const [name, committedAt, expected] of table) assert.equal(clockCheck(new Date(committedAt).toISOString(), now).status, expected, name);
  assert.equal(clockCheck('2020-01-01T00:00:00Z', Date.parse('1970-01-02T00:00:00Z')).status, 'fail');
});

it('judges the key file by the same rule as the agent: no access for group or others', async (t) => {
  const folder = await mkdtemp(join(tmpdir(), 'capstan-doctor-key-'));
  t.after(() => rm(folder, { recursive: true, force: true }));
  const keyFile = join(folder, 'key');
  await writeFile(keyFile, serializeKeyring([newKeyringKey(Date.parse('2026-01-01T00:00:00Z'))]), { mode: 0o600 });
  const config = { keyFile } as AgentConfig;
  await chmod(keyFile, 0o640);
  const loose = await keyFileCheck(config);
  assert.equal(loose.status, 'fail');
  assert.match(loose.detail, /SECRETS_KEY_FILE_MODE/);
  assert.ok(loose.detail.includes(`chmod 600 ${keyFile}`), loose.detail);
  await chmod(keyFile, 0o400);
  const readOnly = await keyFileCheck(config);
  assert.equal(readOnly.status, 'ok', readOnly.detail);
  assert.match(readOnly.detail, /mode 0400, 1 key\(s\)/);
});
