import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inspect } from 'node:util';
import { parse } from 'dotenv';
import { CapstanError } from '../../agent/errors.js';
import {
  decryptEnvDocument,
  decryptEnvFile,
  encryptEnv,
  isEncryptedEnv,
  newKeyringKey,
  parseKeyring,
  serializeKeyring,
  type Keyring,
  type KeyringKey,
} from '../../secrets/index.js';

const SENTINEL = 'S3NT1NEL';
const REPO_PATH = 'apps/web/prod.env';
const VALUES = {
  DB_PASSWORD: `${SENTINEL}-value`,
  API_TOKEN: `${SENTINEL}-value-api`,
  MULTILINE: `${SENTINEL}-value\nsecond "line" # not a comment`,
  EMPTY: '',
  UNICODE: `${SENTINEL}-välue-✓`,
};
const NOW = Date.parse('2025-01-01T00:00:00Z');

function ringOf(...keys: KeyringKey[]): Keyring {
  return parseKeyring(serializeKeyring(keys.map((key, index) => ({ ...key, marked: index === keys.length - 1 }))), 'test.key');
}

const keyA = newKeyringKey(NOW);
const keyB = newKeyringKey(NOW + 1);
const ringA = ringOf(keyA);
const ringB = ringOf(keyB);

/** Every error must fail closed as a CapstanError and carry no part of any value. */
function expectError(run: () => unknown, code: string | string[]): CapstanError {
  let caught: unknown;
  try {
    run();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof CapstanError, `expected a CapstanError, got ${String(caught)}`);
  const codes = Array.isArray(code) ? code : [code];
  assert.ok(codes.includes(caught.code), `expected ${codes.join('|')}, got ${caught.code}: ${caught.message}`);
  assert.equal(caught.errorClass, 'terminal');
  for (const rendering of [caught.message, String(caught), JSON.stringify(caught), inspect(caught, { depth: 10 }), caught.stack ?? '']) {
    assert.ok(!rendering.includes(SENTINEL), `error text leaks a value: ${rendering}`);
  }
  return caught;
}

function decryptA(text: string, repoPath = REPO_PATH): Record<string, string> {
  return decryptEnvFile({ text, repoPath, keyring: ringA });
}

function lines(text: string): string[] {
  return text.split('\n');
}

test('round trip keeps every value, including empty, multi-line and non-ASCII ones', () => {
  const text = encryptEnv({ values: VALUES, repoPath: REPO_PATH, keyring: ringA });
  assert.deepEqual(decryptA(text), VALUES);
  assert.deepEqual(Object.keys(decryptA(text)), Object.keys(VALUES));
  assert.deepEqual(decryptA(encryptEnv({ values: {}, repoPath: REPO_PATH, keyring: ringA })), {});
});

test('the encrypted file is dotenv: names visible, values not, header and trailer ignored', () => {
  const text = encryptEnv({ values: VALUES, repoPath: REPO_PATH, keyring: ringA });
  assert.ok(!text.includes(SENTINEL));
  assert.ok(isEncryptedEnv(text));
  const seen = parse(text);
  assert.deepEqual(Object.keys(seen), Object.keys(VALUES));
  for (const token of Object.values(seen)) assert.match(token, /^[A-Za-z0-9_-]{96,}$/);
  assert.match(lines(text)[0], new RegExp(`^# capstan-secrets v1 key=${keyA.id} path="apps/web/prod.env"$`));
  assert.match(lines(text)[lines(text).length - 2], /^# capstan-secrets-mac [A-Za-z0-9_-]{43}$/);
});

test('each value gets a fresh nonce; padding hides lengths within 32 bytes', () => {
  const first = parse(encryptEnv({ values: { A: 'x', B: 'x'.repeat(31) }, repoPath: REPO_PATH, keyring: ringA }));
  const second = parse(encryptEnv({ values: { A: 'x', B: 'x'.repeat(31) }, repoPath: REPO_PATH, keyring: ringA }));
  assert.notEqual(first.A, second.A);
  assert.equal(first.A.length, first.B.length);
});

test('with the previous file, unchanged values keep their lines so a diff shows only what changed', () => {
  const before = encryptEnv({ values: VALUES, repoPath: REPO_PATH, keyring: ringA });
  const previous = decryptEnvDocument({ text: before, repoPath: REPO_PATH, keyring: ringA });
  const after = encryptEnv({ values: { ...VALUES, API_TOKEN: `${SENTINEL}-new` }, repoPath: REPO_PATH, keyring: ringA, previous });
  const changed = lines(after).filter((line, index) => line !== lines(before)[index]);
  assert.equal(changed.length, 2);
  assert.ok(changed[0].startsWith('API_TOKEN='));
  assert.ok(changed[1].startsWith('# capstan-secrets-mac '));
});

test('CRLF line endings (a Windows checkout) still decrypt', () => {
  const text = encryptEnv({ values: VALUES, repoPath: REPO_PATH, keyring: ringA });
  assert.deepEqual(decryptA(text.replace(/\n/g, '\r\n')), VALUES);
});

test('a flipped bit anywhere fails closed', () => {
  const text = encryptEnv({ values: { DB_PASSWORD: VALUES.DB_PASSWORD, API_TOKEN: VALUES.API_TOKEN }, repoPath: REPO_PATH, keyring: ringA });
  const bytes = Buffer.from(text);
  const headerEnd = text.indexOf('\n');
  for (let position = 0; position < bytes.length; position++) {
    for (const mask of [0x01, 0x20]) {
      const flipped = Buffer.from(bytes);
      flipped[position] ^= mask;
      const codes =
        position <= headerEnd
          ? ['SECRETS_NOT_ENCRYPTED', 'SECRETS_UNSUPPORTED_VERSION', 'SECRETS_MALFORMED', 'SECRETS_PATH_MISMATCH', 'SECRETS_UNKNOWN_KEY_ID', 'SECRETS_TAMPERED']
          : ['SECRETS_TAMPERED'];
      expectError(() => decryptA(flipped.toString('latin1')), codes);
    }
  }
});

test('values swapped between variables fail on the first swapped line, named', () => {
  const text = encryptEnv({ values: VALUES, repoPath: REPO_PATH, keyring: ringA });
  const tokens = parse(text);
  const swapped = text
    .replace(`DB_PASSWORD=${tokens.DB_PASSWORD}`, `DB_PASSWORD=${tokens.API_TOKEN}`)
    .replace(`API_TOKEN=${tokens.API_TOKEN}`, `API_TOKEN=${tokens.DB_PASSWORD}`);
  const error = expectError(() => decryptA(swapped), 'SECRETS_TAMPERED');
  assert.deepEqual(error.data, { file: REPO_PATH, line: 2, variable: 'DB_PASSWORD' });
  assert.match(error.message, /^apps\/web\/prod\.env:2: DB_PASSWORD: /);
});

test('a value copied from another file fails, naming line and variable', () => {
  const text = encryptEnv({ values: VALUES, repoPath: REPO_PATH, keyring: ringA });
  const other = encryptEnv({ values: VALUES, repoPath: 'apps/web/staging.env', keyring: ringA });
  const copied = text.replace(`API_TOKEN=${parse(text).API_TOKEN}`, `API_TOKEN=${parse(other).API_TOKEN}`);
  const error = expectError(() => decryptA(copied), 'SECRETS_TAMPERED');
  assert.deepEqual(error.data, { file: REPO_PATH, line: 3, variable: 'API_TOKEN' });
});

test('a whole file copied to another path fails, with or without its header rewritten', () => {
  const other = encryptEnv({ values: VALUES, repoPath: 'apps/web/staging.env', keyring: ringA });
  const error = expectError(() => decryptA(other), 'SECRETS_PATH_MISMATCH');
  assert.equal(error.data.boundPath, 'apps/web/staging.env');
  expectError(() => decryptA(other.replace('path="apps/web/staging.env"', `path="${REPO_PATH}"`)), 'SECRETS_TAMPERED');
});

test('truncation fails closed: a line removed, the trailer cut or removed, only the header left', () => {
  const text = encryptEnv({ values: VALUES, repoPath: REPO_PATH, keyring: ringA });
  const all = lines(text);
  const withoutLine3 = all.filter((_, index) => index !== 2).join('\n');
  assert.equal(expectError(() => decryptA(withoutLine3), 'SECRETS_TAMPERED').data.variable, undefined);
  expectError(() => decryptA(text.slice(0, text.length - 20)), 'SECRETS_TAMPERED');
  expectError(() => decryptA(all.slice(0, -2).join('\n') + '\n'), 'SECRETS_TAMPERED');
  expectError(() => decryptA(all[0] + '\n'), 'SECRETS_TAMPERED');
  expectError(() => decryptA(text.slice(0, text.indexOf('\n') + 5)), 'SECRETS_TAMPERED');
});

test('added lines fail closed, even a validly encrypted one replayed from an older version', () => {
  const older = encryptEnv({ values: { ...VALUES, REMOVED: `${SENTINEL}-old` }, repoPath: REPO_PATH, keyring: ringA });
  const text = encryptEnv({ values: VALUES, repoPath: REPO_PATH, keyring: ringA });
  const all = lines(text);
  const insert = (line: string, at: number) => [...all.slice(0, at), line, ...all.slice(at)].join('\n');
  const trailerIndex = all.length - 2;
  expectError(() => decryptA(insert(`REMOVED=${parse(older).REMOVED}`, trailerIndex)), 'SECRETS_TAMPERED');
  expectError(() => decryptA(insert('# a reviewer comment', 1)), 'SECRETS_TAMPERED');
  expectError(() => decryptA(insert('', trailerIndex)), 'SECRETS_TAMPERED');
  expectError(() => decryptA(text + 'LATE=x\n'), 'SECRETS_TAMPERED');
  // A single value rolled back to its older token decrypts alone, but not within the file.
  const rolledBack = text.replace(`DB_PASSWORD=${parse(text).DB_PASSWORD}`, `DB_PASSWORD=${parse(older).DB_PASSWORD}`);
  expectError(() => decryptA(rolledBack), 'SECRETS_TAMPERED');
});

test('a plaintext value pasted into an encrypted file fails without echoing it', () => {
  const text = encryptEnv({ values: VALUES, repoPath: REPO_PATH, keyring: ringA });
  const pasted = text.replace(`DB_PASSWORD=${parse(text).DB_PASSWORD}`, `DB_PASSWORD=${VALUES.DB_PASSWORD}`);
  const error = expectError(() => decryptA(pasted), 'SECRETS_TAMPERED');
  assert.equal(error.data.line, 2);
  assert.equal(error.data.variable, 'DB_PASSWORD');
});

test('a wrong key fails closed with the key ids, not the keys', () => {
  const text = encryptEnv({ values: VALUES, repoPath: REPO_PATH, keyring: ringA });
  const error = expectError(() => decryptEnvFile({ text, repoPath: REPO_PATH, keyring: ringB }), 'SECRETS_UNKNOWN_KEY_ID');
  assert.equal(error.data.keyId, keyA.id);
  assert.ok(error.message.includes(keyB.id));
  assert.ok(!error.message.includes(Buffer.from(keyB.secret).toString('base64url')));
});

test('a keyring with two keys decrypts files made with either, and encrypts with the primary', () => {
  const both = ringOf(keyA, keyB);
  assert.equal(both.primary.id, keyB.id);
  const underA = encryptEnv({ values: VALUES, repoPath: REPO_PATH, keyring: ringA });
  const underB = encryptEnv({ values: VALUES, repoPath: REPO_PATH, keyring: ringB });
  assert.deepEqual(decryptEnvFile({ text: underA, repoPath: REPO_PATH, keyring: both }), VALUES);
  assert.deepEqual(decryptEnvFile({ text: underB, repoPath: REPO_PATH, keyring: both }), VALUES);
  assert.equal(decryptEnvDocument({ text: encryptEnv({ values: VALUES, repoPath: REPO_PATH, keyring: both }), repoPath: REPO_PATH, keyring: both }).keyId, keyB.id);
});

test('a plaintext file is not decrypted: no header means SECRETS_NOT_ENCRYPTED', () => {
  const plaintext = `DB_PASSWORD=${VALUES.DB_PASSWORD}\n`;
  assert.equal(isEncryptedEnv(plaintext), false);
  const error = expectError(() => decryptA(plaintext), 'SECRETS_NOT_ENCRYPTED');
  assert.equal(error.data.line, 1);
  expectError(() => decryptA(''), 'SECRETS_NOT_ENCRYPTED');
  // A file that mentions the header text elsewhere is still not encrypted.
  expectError(() => decryptA(`# notes\n# capstan-secrets v1 key=${keyA.id} path="${REPO_PATH}"\nA=1\n`), 'SECRETS_NOT_ENCRYPTED');
});

test('headers of other versions or shapes are refused', () => {
  const text = encryptEnv({ values: VALUES, repoPath: REPO_PATH, keyring: ringA });
  expectError(() => decryptA(text.replace('# capstan-secrets v1 ', '# capstan-secrets v2 ')), 'SECRETS_UNSUPPORTED_VERSION');
  expectError(() => decryptA(text.replace(`key=${keyA.id}`, 'key=zz')), 'SECRETS_MALFORMED');
});

test('invalid names and repository paths are refused before encrypting', () => {
  expectError(() => encryptEnv({ values: { '1ABC': VALUES.DB_PASSWORD }, repoPath: REPO_PATH, keyring: ringA }), 'SECRETS_INVALID_NAME');
  expectError(() => encryptEnv({ values: { A: VALUES.DB_PASSWORD }, repoPath: '/abs/prod.env', keyring: ringA }), 'SECRETS_MALFORMED');
});
