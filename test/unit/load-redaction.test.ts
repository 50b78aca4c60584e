import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { it } from 'node:test';
import { formatProblem } from '../../agent/errors.js';
import { validateDir } from '../../agent/load/index.js';
import { SecretRegistry } from '../../agent/secret-registry.js';
import { encryptEnv, newKeyringKey, type Keyring } from '../../secrets/index.js';

// A commit that fails to load must not carry a decrypted value into its problems (which become
// the error, the log line, the SQLite row and the notification), and every value is registered
// for redaction the moment it is decrypted, whether or not the commit goes on to load.

const COMMIT = 'c'.repeat(40);
const hashKey = new TextEncoder().encode('load-redaction-test-key');
const key = newKeyringKey(Date.now());
const keyring: Keyring = { source: 'test.keys', keys: [key], primary: key };
const VOLUME = 'S3NT1NEL-volume-4c1d';
const BIND = '/srv/S3NT1NEL-bind-9e2a';
const UNUSED = 'S3NT1NEL-unused-77b0';

async function checkout(files: Record<string, string>): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'capstan-load-redaction-'));
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), content);
  }
  return root;
}

it('a commit that fails on a secret used as a volume name or a bind path names neither value', async (t) => {
  const root = await checkout({
    'apps/shop.yaml': [
      'app: shop',
      'env_files: [shop.env]',
      'services:',
      '  web:',
      '    image: local/busybox:1',
      '    volumes: ["${VOL}:/data", "${BIND_PATH}:/srv"]',
      '',
    ].join('\n'),
    'apps/shop.env': encryptEnv({ values: { VOL: VOLUME, BIND_PATH: BIND, UNUSED }, repoPath: 'apps/shop.env', keyring }),
  });
  t.after(() => rm(root, { recursive: true, force: true }));
  const secrets = new SecretRegistry();
  const result = await validateDir({ root, commit: COMMIT, hashKey, keyring, secrets });
  assert.equal(result.state, undefined);
  assert.ok(result.problems.length >= 2, result.problems.map(formatProblem).join('\n'));
  for (const problem of result.problems) {
    const text = `${JSON.stringify(problem)} ${formatProblem(problem)}`;
    for (const value of [VOLUME, BIND, 'S3NT1NEL']) assert.ok(!text.includes(value), `no value in ${text}`);
  }
  assert.ok(result.problems.some((problem) => problem.message.includes('[redacted]')), 'the problem still says where the value was');
  // Registered as decrypted: the agent's log, SQLite and notifications are scrubbed of them all.
  for (const value of [VOLUME, BIND, UNUSED]) assert.ok(secrets.values().includes(value), `${value} registered`);
  assert.equal(secrets.redact(`volume "${VOLUME}" and ${UNUSED}`), 'volume "[redacted]" and [redacted]');
});
