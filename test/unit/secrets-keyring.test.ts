import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { CapstanError } from '../../agent/errors.js';
import { addPrimaryKey, loadKeyring, newKeyringKey, parseKeyring, serializeKeyring } from '../../secrets/index.js';

const NOW = Date.parse('2025-01-01T00:00:00Z');

async function rejectsWith(run: () => Promise<unknown> | unknown, code: string, forbidden: string[] = []): Promise<CapstanError> {
  let caught: unknown;
  try {
    await run();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof CapstanError, `expected a CapstanError, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  for (const secret of forbidden) assert.ok(!JSON.stringify(caught).includes(secret) && !String(caught).includes(secret));
  return caught;
}

test('a serialized keyring parses back; the primary is the marked key', () => {
  const first = newKeyringKey(NOW);
  const second = newKeyringKey(NOW + 1000);
  const keys = addPrimaryKey([first], second);
  const keyring = parseKeyring(serializeKeyring(keys), 'mem');
  assert.deepEqual(keyring.keys.map((key) => key.id), [first.id, second.id]);
  assert.equal(keyring.primary.id, second.id);
  assert.deepEqual(keyring.keys[0].secret, first.secret);
  assert.equal(keyring.keys[1].created, '2025-01-01T00:00:01.000Z');
  assert.match(first.id, /^[0-9a-f]{16}$/);
  assert.notEqual(first.id, second.id);
});

test('without a primary mark the last key encrypts; a marked older key wins', () => {
  const first = newKeyringKey(NOW);
  const second = newKeyringKey(NOW);
  const unmarked = serializeKeyring([{ ...first, marked: false }, { ...second, marked: false }]);
  assert.equal(parseKeyring(unmarked, 'mem').primary.id, second.id);
  const olderMarked = serializeKeyring([{ ...first, marked: true }, { ...second, marked: false }]);
  assert.equal(parseKeyring(olderMarked, 'mem').primary.id, first.id);
});

test('a damaged or hand-edited key file is refused without echoing its secrets', async () => {
  const key = newKeyringKey(NOW);
  const other = newKeyringKey(NOW);
  const encoded = Buffer.from(key.secret).toString('base64url');
  const otherEncoded = Buffer.from(other.secret).toString('base64url');
  const text = serializeKeyring([key]);
  const secrets = [encoded, otherEncoded];
  await rejectsWith(() => parseKeyring(text.replace(encoded, otherEncoded), 'k'), 'SECRETS_KEY_FILE_INVALID', secrets);
  await rejectsWith(() => parseKeyring(text.replace(encoded, encoded.slice(0, 20)), 'k'), 'SECRETS_KEY_FILE_INVALID', secrets);
  await rejectsWith(() => parseKeyring(text.replace('capstan-keys v1', 'capstan-keys v9'), 'k'), 'SECRETS_KEY_FILE_INVALID', secrets);
  await rejectsWith(() => parseKeyring(serializeKeyring([key, key]), 'k'), 'SECRETS_KEY_FILE_INVALID', secrets);
  await rejectsWith(() => parseKeyring(serializeKeyring([key, { ...other, marked: true }]), 'k'), 'SECRETS_KEY_FILE_INVALID', secrets);
  await rejectsWith(() => parseKeyring('capstan-keys v1\n# nothing\n', 'k'), 'SECRETS_KEY_FILE_INVALID');
  const error = await rejectsWith(() => parseKeyring(text + 'key broken\n', 'k'), 'SECRETS_KEY_FILE_INVALID', secrets);
  assert.equal(error.data.line, 6);
});

test('loadKeyring reads a file and reports a missing one', async (t) => {
  const folder = await mkdtemp(join(tmpdir(), 'capstan-keyring-'));
  t.after(() => rm(folder, { recursive: true, force: true }));
  const key = newKeyringKey(NOW);
  await writeFile(join(folder, 'key'), serializeKeyring([key]), { mode: 0o600 });
  assert.equal((await loadKeyring(join(folder, 'key'))).primary.id, key.id);
  await rejectsWith(() => loadKeyring(join(folder, 'absent')), 'SECRETS_KEY_FILE_MISSING');
});

test('a key file readable or writable by group or others is refused, as ssh refuses such a private key', async (t) => {
  const folder = await mkdtemp(join(tmpdir(), 'capstan-keyring-mode-'));
  t.after(() => rm(folder, { recursive: true, force: true }));
  const key = newKeyringKey(NOW);
  const encoded = Buffer.from(key.secret).toString('base64url');
  const file = join(folder, 'key');
  await writeFile(file, serializeKeyring([key]), { mode: 0o600 });
  for (const mode of [0o644, 0o640, 0o604, 0o620, 0o660]) {
    await chmod(file, mode);
    const error = await rejectsWith(() => loadKeyring(file), 'SECRETS_KEY_FILE_MODE', [encoded]);
    assert.equal(error.data.file, file);
    assert.equal(error.data.mode, `0${mode.toString(8)}`);
    assert.ok(error.message.includes(file), error.message);
    assert.ok(error.message.includes(`chmod 600 ${file}`), error.message);
  }
  for (const mode of [0o600, 0o400]) {
    await chmod(file, mode);
    assert.equal((await loadKeyring(file)).primary.id, key.id, `mode 0${mode.toString(8)} is private`);
  }
});
