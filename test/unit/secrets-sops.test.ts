import assert from 'node:assert/strict';
import { chmod, copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CapstanError } from '../../agent/errors.js';
import { loadDesiredState, validateDir } from '../../agent/load/index.js';
import type { DesiredState } from '../../agent/model.js';
import { SecretRegistry } from '../../agent/secret-registry.js';
import { openAgeStanza } from '../../secrets/sops/keys.js';
import { decryptSops, emitPlain, goFormatFloat, goRfc3339, isSopsFile, loadSopsKeys, parseAgeKeys, parsePgpKeys, sopsEnvValues, type SopsKeys } from '../../secrets/sops/index.js';
import { runCapstan } from '../helpers/cli.js';
import { repoRoot } from '../helpers/paths.js';
import { ageKeygen, buildSopsFile } from '../helpers/sops.js';
import { withCheckout } from '../helpers/model.js';

// SOPS files: SOPS's own test vectors (test/fixtures/sops, OpenPGP), files built with Debian's
// `age` for the data key (test/helpers/sops.ts), every tamper case failing closed by file, line
// and key, and the loader reading them wherever an encrypted env file is accepted.

const FIXTURES = join(repoRoot(), 'test', 'fixtures', 'sops');
const SENTINEL = 'S0PS-S3NT1NEL-4c1d';
const COMMIT = 'c'.repeat(40);
const hashKey = new TextEncoder().encode('sops-test-key');

let scratch: string;
let pgpKeys: SopsKeys;
let hostAge: { file: string; recipient: string };
let otherAge: { file: string; recipient: string };
let thirdAge: { file: string; recipient: string };
let ageKeys: SopsKeys;

before(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'capstan-sops-'));
  const pgpFile = join(scratch, 'sops-test.asc');
  await copyFile(join(FIXTURES, 'sops_functional_tests_key.asc'), pgpFile);
  await chmod(pgpFile, 0o600);
  pgpKeys = await loadSopsKeys({ pgpKeyFile: pgpFile });
  hostAge = ageKeygen(scratch, 'host.key');
  otherAge = ageKeygen(scratch, 'other.key');
  thirdAge = ageKeygen(scratch, 'third.key');
  ageKeys = await loadSopsKeys({ ageKeyFile: hostAge.file });
});
after(async () => {
  await rm(scratch, { recursive: true, force: true });
});

const fixture = (name: string) => readFile(join(FIXTURES, name), 'utf8');

async function refusal(promise: Promise<unknown>, code: string): Promise<CapstanError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof CapstanError, `a CapstanError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    assert.ok(!error.message.includes(SENTINEL) && !JSON.stringify(error.data).includes(SENTINEL), `no value in ${error.message}`);
    return error;
  }
  assert.fail(`expected ${code}`);
}

describe('SOPS test vectors (getsops/sops functional tests, OpenPGP)', () => {
  for (const [name, format] of [['format.enc.yaml', 'yaml'], ['format.enc.json', 'json']] as const) {
    it(`${name} decrypts to foo=bar with its MAC verified`, async () => {
      const decrypted = await decryptSops({ text: await fixture(name), file: name, keys: pgpKeys });
      assert.equal(decrypted.format, format);
      assert.deepEqual([...sopsEnvValues(decrypted, name)], [['foo', 'bar']]);
      assert.deepEqual(decrypted.openedWith, ['pgp FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4']);
    });
  }

  it('format.enc.env decrypts as SOPS reads dotenv: `foo = bar` is key `foo ` (no variable name), value ` bar`', async () => {
    const decrypted = await decryptSops({ text: await fixture('format.enc.env'), file: 'format.enc.env', keys: pgpKeys });
    assert.equal(emitPlain(decrypted), 'foo = bar\n');
    const error = await refusal(Promise.resolve().then(() => sopsEnvValues(decrypted, 'format.enc.env')), 'SOPS_MALFORMED');
    assert.equal(error.data.line, 1);
  });

  it('a file for two recipients opens with either; comments are skipped', async () => {
    const multiple = await decryptSops({ text: await fixture('multiple_keys.yaml'), file: 'm.yaml', keys: pgpKeys });
    assert.equal(emitPlain(multiple), 'message: hello\n');
    const comments = await decryptSops({ text: await fixture('comments.enc.yaml'), file: 'c.yaml', keys: pgpKeys });
    assert.deepEqual([...sopsEnvValues(comments, 'c.yaml')], [['lorem', 'ipsum'], ['dolor', 'sit']]);
  });

  it('no_mac.yaml (no sops.mac) is refused, where Flux would read it', async () => {
    const error = await refusal(decryptSops({ text: await fixture('no_mac.yaml'), file: 'no_mac.yaml', keys: pgpKeys }), 'SOPS_TAMPERED');
    assert.match(error.message, /no MAC/);
  });

  it('tampering with a vector fails closed: a flipped byte, a changed lastmodified, a removed MAC', async () => {
    const text = await fixture('format.enc.yaml');
    const flipped = text.replace('data:8CvE,', 'data:8CvF,');
    const byte = await refusal(decryptSops({ text: flipped, file: 'f.yaml', keys: pgpKeys }), 'SOPS_TAMPERED');
    assert.deepEqual([byte.data.file, byte.data.line, byte.data.variable], ['f.yaml', 1, 'foo']);
    await refusal(decryptSops({ text: text.replace('2026-05-22T20:16:23Z', '2026-05-22T20:16:24Z'), file: 'f.yaml', keys: pgpKeys }), 'SOPS_TAMPERED');
    await refusal(decryptSops({ text: text.replace(/^ {4}mac: .*\n/m, ''), file: 'f.yaml', keys: pgpKeys }), 'SOPS_TAMPERED');
  });

  it('values swapped between keys of a SOPS-written file fail by line and key', async () => {
    const text = await fixture('comments.enc.yaml');
    const lorem = /^lorem: (.*)$/m.exec(text)![1];
    const dolor = /^dolor: (.*)$/m.exec(text)![1];
    const swapped = text.replace(`lorem: ${lorem}`, `lorem: ${dolor}`).replace(`dolor: ${dolor}`, `dolor: ${lorem}`);
    const error = await refusal(decryptSops({ text: swapped, file: 'c.yaml', keys: pgpKeys }), 'SOPS_TAMPERED');
    assert.deepEqual([error.data.line, error.data.variable], [2, 'lorem']);
  });

  it('the age layer: SOPS\'s age test file opens with its identity (age-encryption)', async () => {
    const lines = (await fixture('age-layer.txt')).split('\n');
    const identity = lines.find((line) => line.startsWith('AGE-SECRET-KEY-'))!;
    const recipient = lines.find((line) => line.startsWith('age1'))!;
    const armored = lines.slice(lines.findIndex((line) => line.startsWith('-----BEGIN'))).join('\n');
    const keys: SopsKeys = { age: await parseAgeKeys(identity, 'vector'), pgp: [] };
    assert.equal(keys.age[0].recipient, recipient);
    assert.equal(Buffer.from((await openAgeStanza(armored, recipient, keys))!).toString(), 'data');
  });
});

describe('OpenSSH Ed25519 keys as age identities (agessh)', () => {
  it('SOPS\'s SSH test file opens with its key', async () => {
    const text = await fixture('age-layer-ssh.txt');
    const recipient = text.split('\n').find((line) => line.startsWith('ssh-ed25519 '))!;
    const pem = text.slice(text.indexOf('-----BEGIN OPENSSH'), text.indexOf('-----END OPENSSH PRIVATE KEY-----') + 34);
    const armored = text.slice(text.indexOf('-----BEGIN AGE'));
    const keys: SopsKeys = { age: await parseAgeKeys(pem, 'ssh.key'), pgp: [] };
    assert.ok(recipient.startsWith(keys.age[0].recipient));
    assert.equal(Buffer.from((await openAgeStanza(armored, recipient, keys))!).toString(), 'data');
  });

  it('a key made by ssh-keygen opens a SOPS file wrapped by `age -r <ssh public key>`; RSA and protected keys are refused by name', async () => {
    const { execFileSync } = await import('node:child_process');
    const keyPath = join(scratch, 'id_ed25519');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'ops@host', '-f', keyPath]);
    const recipient = (await readFile(`${keyPath}.pub`, 'utf8')).trim();
    const text = await buildSopsFile({ format: 'yaml', values: { DB_PASSWORD: SENTINEL }, keyGroups: [[recipient]] });
    const keys = await loadSopsKeys({ ageKeyFile: keyPath });
    const decrypted = await decryptSops({ text, file: 's.yaml', keys });
    assert.equal(sopsEnvValues(decrypted, 's.yaml').get('DB_PASSWORD'), SENTINEL);
    await refusal(decryptSops({ text, file: 's.yaml', keys: ageKeys }), 'SOPS_NO_MATCHING_KEY');
    const rsaPath = join(scratch, 'id_rsa');
    execFileSync('ssh-keygen', ['-q', '-t', 'rsa', '-b', '2048', '-N', '', '-f', rsaPath]);
    const rsa = await refusal(parseAgeKeys(await readFile(rsaPath, 'utf8'), 'id_rsa'), 'SOPS_KEY_FILE_INVALID');
    assert.match(rsa.message, /ssh-rsa keys are not supported/);
    const lockedPath = join(scratch, 'id_locked');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', 'passphrase', '-f', lockedPath]);
    const locked = await refusal(parseAgeKeys(await readFile(lockedPath, 'utf8'), 'id_locked'), 'SOPS_KEY_FILE_INVALID');
    assert.match(locked.message, /passphrase/);
  });
});

describe('SOPS files with age keys (data key wrapped by the age CLI)', () => {
  const values = { DB_PASSWORD: SENTINEL, API_TOKEN: `${SENTINEL}-api`, MULTI: `${SENTINEL}\nline two`, EMPTY: '' };

  for (const format of ['dotenv', 'yaml', 'json'] as const) {
    it(`${format}: decrypts to its variables`, async () => {
      const text = await buildSopsFile({ format, values, keyGroups: [[hostAge.recipient]] });
      assert.ok(isSopsFile(text));
      const decrypted = await decryptSops({ text, file: `app.${format}`, keys: ageKeys });
      assert.deepEqual(Object.fromEntries(sopsEnvValues(decrypted, `app.${format}`)), values);
    });
  }

  it('a post-quantum age identity (SOPS\'s mockHybridIdentity) is read', async () => {
    const keys = await parseAgeKeys('AGE-SECRET-KEY-PQ-1JPDDEMSK6G9MG0VNJRSA0QKZ05CF4H6TK50YZGDKZKTRGC5Z7KEQUDUPG6\n', 'pq.key');
    assert.match(keys[0].recipient, /^age1pq1/);
  });

  it('several recipients: the host holding any one of them opens the file', async () => {
    const text = await buildSopsFile({ format: 'yaml', values, keyGroups: [[otherAge.recipient, hostAge.recipient]] });
    const decrypted = await decryptSops({ text, file: 'a.yaml', keys: ageKeys });
    assert.deepEqual(decrypted.openedWith, [`age ${hostAge.recipient}`]);
  });

  it('the wrong key: SOPS_NO_MATCHING_KEY naming the recipients, nothing decrypted', async () => {
    const text = await buildSopsFile({ format: 'yaml', values, keyGroups: [[otherAge.recipient]] });
    const error = await refusal(decryptSops({ text, file: 'a.yaml', keys: ageKeys }), 'SOPS_NO_MATCHING_KEY');
    assert.ok(error.message.includes(otherAge.recipient) && error.message.includes(hostAge.file), error.message);
    await refusal(decryptSops({ text, file: 'a.yaml', keys: { age: [], pgp: [] } }), 'SOPS_NO_MATCHING_KEY');
  });

  it('key groups: Shamir 2 of 3 opens with two groups\' keys, not with one', async () => {
    const keyGroups = [[hostAge.recipient], [otherAge.recipient], [thirdAge.recipient]];
    const text = await buildSopsFile({ format: 'yaml', values, keyGroups, shamirThreshold: 2 });
    const two = await loadSopsKeys({ ageKeyFile: await joinedKeyFile([hostAge.file, thirdAge.file]) });
    const decrypted = await decryptSops({ text, file: 'g.yaml', keys: two });
    assert.equal(sopsEnvValues(decrypted, 'g.yaml').get('DB_PASSWORD'), SENTINEL);
    const error = await refusal(decryptSops({ text, file: 'g.yaml', keys: ageKeys }), 'SOPS_NO_MATCHING_KEY');
    assert.match(error.message, /2 of its 3 key groups/);
  });

  it('Shamir parts are SOPS\'s (shamir/shamir.go): Rijndael\'s field, the x coordinate as the last byte', async () => {
    // f(x) = 0x42 + 0x80·x: f(1) = 0xC2; f(2) = 0x42 ^ (0x80·2 = 0x100 mod x⁸+x⁴+x³+x+1 = 0x1B) = 0x59.
    const { combine } = await import('shamir-secret-sharing');
    assert.deepEqual([...(await combine([Uint8Array.from([0xc2, 1]), Uint8Array.from([0x59, 2])]))], [0x42]);
  });

  it('a value moved to another key fails by line and key', async () => {
    const text = await buildSopsFile({ format: 'dotenv', values, keyGroups: [[hostAge.recipient]] });
    const lines = text.split('\n');
    const [db, api] = [lines[0].split('=').slice(1).join('='), lines[1].split('=').slice(1).join('=')];
    const swapped = [`DB_PASSWORD=${api}`, `API_TOKEN=${db}`, ...lines.slice(2)].join('\n');
    const error = await refusal(decryptSops({ text: swapped, file: 'apps/web/.env', keys: ageKeys }), 'SOPS_TAMPERED');
    assert.deepEqual([error.data.file, error.data.line, error.data.variable], ['apps/web/.env', 1, 'DB_PASSWORD']);
  });

  it('a line removed, or a value replaced by plaintext, fails closed', async () => {
    const text = await buildSopsFile({ format: 'dotenv', values, keyGroups: [[hostAge.recipient]] });
    const removed = text.split('\n').filter((line) => !line.startsWith('API_TOKEN=')).join('\n');
    await refusal(decryptSops({ text: removed, file: 'x.env', keys: ageKeys }), 'SOPS_TAMPERED');
    const plain = text.replace(/^DB_PASSWORD=.*$/m, 'DB_PASSWORD=guessed');
    const error = await refusal(decryptSops({ text: plain, file: 'x.env', keys: ageKeys }), 'SOPS_TAMPERED');
    assert.match(error.message, /found plaintext/);
  });

  it('metadata cut out: the ENC values are still recognised and refused, never read as plaintext', async () => {
    const text = await buildSopsFile({ format: 'dotenv', values, keyGroups: [[hostAge.recipient]] });
    const stripped = text.split('\n').filter((line) => !line.startsWith('sops_')).join('\n');
    assert.ok(isSopsFile(stripped));
    await refusal(decryptSops({ text: stripped, file: 'x.env', keys: ageKeys }), 'SOPS_TAMPERED');
  });

  it('unencrypted_suffix and encrypted_regex are honoured, and clear values are still under the MAC', async () => {
    const mixed = { DB_PASSWORD: SENTINEL, PORT_unencrypted: '8080' };
    const suffixed = await buildSopsFile({ format: 'yaml', values: mixed, keyGroups: [[hostAge.recipient]] });
    assert.ok(suffixed.includes('PORT_unencrypted: "8080"'));
    const decrypted = await decryptSops({ text: suffixed, file: 's.yaml', keys: ageKeys });
    assert.deepEqual(decrypted.leaves.map((leaf) => [leaf.path.join('.'), leaf.encrypted]), [['DB_PASSWORD', true], ['PORT_unencrypted', false]]);
    await refusal(decryptSops({ text: suffixed.replace('"8080"', '"8081"'), file: 's.yaml', keys: ageKeys }), 'SOPS_TAMPERED');

    const regex = await buildSopsFile({ format: 'json', values: { password: SENTINEL, host: 'db' }, keyGroups: [[hostAge.recipient]], rule: { encrypted_regex: '^pass' } });
    assert.ok(regex.includes('"host": "db"'));
    const opened = await decryptSops({ text: regex, file: 'r.json', keys: ageKeys });
    assert.deepEqual(Object.fromEntries(sopsEnvValues(opened, 'r.json')), { password: SENTINEL, host: 'db' });
  });

  it('mac_only_encrypted: clear values are outside the MAC, encrypted ones inside; (?i) regexes', async () => {
    const text = await buildSopsFile({ format: 'dotenv', values: { PASSWORD: SENTINEL, host: 'db' }, keyGroups: [[hostAge.recipient]], rule: { encrypted_regex: '(?i)^pass' }, macOnlyEncrypted: true });
    const decrypted = await decryptSops({ text, file: 'm.env', keys: ageKeys });
    assert.deepEqual(Object.fromEntries(sopsEnvValues(decrypted, 'm.env')), { PASSWORD: SENTINEL, host: 'db' });
    const edited = await decryptSops({ text: text.replace('host=db', 'host=other'), file: 'm.env', keys: ageKeys });
    assert.equal(sopsEnvValues(edited, 'm.env').get('host'), 'other');
    await refusal(decryptSops({ text: text.replace('sops_mac_only_encrypted=true', 'sops_mac_only_encrypted=false'), file: 'm.env', keys: ageKeys }), 'SOPS_TAMPERED');
  });

  it('a nested value cannot be an environment variable: refused by line and key', async () => {
    const text = await buildSopsFile({ format: 'yaml', values: { DB: { password: SENTINEL } }, keyGroups: [[hostAge.recipient]] });
    const decrypted = await decryptSops({ text, file: 'n.yaml', keys: ageKeys });
    const error = await refusal(Promise.resolve().then(() => sopsEnvValues(decrypted, 'n.yaml')), 'SOPS_MALFORMED');
    assert.deepEqual([error.data.line, error.data.variable], [1, 'DB']);
  });

  it('key files: a key file readable by others is refused, as are an SSH key cut short and a PEM key', async () => {
    const loose = join(scratch, 'loose.key');
    await copyFile(hostAge.file, loose);
    await chmod(loose, 0o644);
    await refusal(loadSopsKeys({ ageKeyFile: loose }), 'SECRETS_KEY_FILE_MODE');
    await refusal(parseAgeKeys('-----BEGIN OPENSSH PRIVATE KEY-----\n', 'ssh.key'), 'SOPS_KEY_FILE_INVALID');
    await refusal(parseAgeKeys('-----BEGIN RSA PRIVATE KEY-----\n', 'pem.key'), 'SOPS_KEY_FILE_INVALID');
  });
});

describe('Go formatting SOPS authenticates', () => {
  it('lastmodified as time.Format(RFC3339), floats as FormatFloat(f, -1)', () => {
    assert.equal(goRfc3339('2019-08-29T22:22:04Z'), '2019-08-29T22:22:04Z');
    assert.equal(goRfc3339('2019-08-29T22:22:04.123456Z'), '2019-08-29T22:22:04Z');
    assert.equal(goRfc3339('2019-08-29T22:22:04+00:00'), '2019-08-29T22:22:04Z');
    assert.equal(goRfc3339('2019-08-29T22:22:04+02:00'), '2019-08-29T22:22:04+02:00');
    assert.equal(goRfc3339('yesterday'), undefined);
    assert.deepEqual([1234.56789, 1e21, 1.5e-7, 2].map(goFormatFloat), ['1234.56789', '1000000000000000000000', '0.00000015', '2']);
  });
});

describe('the loader reads SOPS env files wherever encrypted ones are accepted', () => {
  const environmentOf = (state: DesiredState, app: string) => state.apps.find((candidate) => candidate.name === app)?.services[0]?.environment;

  it('env_files, capstan.env, a Compose .env and env_file; values registered as decrypted', async () => {
    const manifest = 'app: shop\nenv_files: [shop.sops.yaml]\nservices:\n  web:\n    image: local/busybox:1\n    environment:\n      DB: ${DB_PASSWORD}\n      REGION: ${REGION}\n';
    const compose = 'services:\n  web:\n    image: local/busybox:1\n    env_file: [secrets.json]\n    environment:\n      FROM_DOTENV: ${DOTENV_VALUE}\n';
    const files = {
      'apps/shop.yaml': manifest,
      'apps/shop.sops.yaml': await buildSopsFile({ format: 'yaml', values: { DB_PASSWORD: SENTINEL }, keyGroups: [[hostAge.recipient]] }),
      'apps/capstan.env': await buildSopsFile({ format: 'dotenv', values: { REGION: 'eu-1' }, keyGroups: [[hostAge.recipient]] }),
      'apps/blog/compose.yaml': compose,
      'apps/blog/.env': await buildSopsFile({ format: 'dotenv', values: { DOTENV_VALUE: `${SENTINEL}-dotenv` }, keyGroups: [[hostAge.recipient]] }),
      'apps/blog/secrets.json': await buildSopsFile({ format: 'json', values: { API_TOKEN: `${SENTINEL}-json` }, keyGroups: [[hostAge.recipient]] }),
    };
    await withCheckout(files, async (root) => {
      const secrets = new SecretRegistry();
      const state = await loadDesiredState({ root, path: 'apps', commit: COMMIT, hashKey, sopsKeys: ageKeys, secrets });
      assert.deepEqual(environmentOf(state, 'shop'), { DB: SENTINEL, REGION: 'eu-1' });
      assert.deepEqual(environmentOf(state, 'blog'), { API_TOKEN: `${SENTINEL}-json`, FROM_DOTENV: `${SENTINEL}-dotenv` });
      assert.ok(secrets.values().includes(SENTINEL) && secrets.values().includes(`${SENTINEL}-json`));
      assert.equal(secrets.redact(`x ${SENTINEL}-dotenv y`), 'x [redacted] y');
    });
  });

  it('secrets: file sources: a SOPS file decrypted into a secret file (native `file:`, Compose top-level secrets)', async () => {
    const manifest = 'app: shop\nservices:\n  web:\n    image: local/busybox:1\n    secrets:\n      /run/secrets/config.yaml: { file: config.sops.yaml, mode: "0440" }\n';
    const compose = 'services:\n  web:\n    image: local/busybox:1\n    secrets: [db_password]\nsecrets:\n  db_password:\n    file: ./db_password.sops\n';
    const files = {
      'shop.yaml': manifest,
      'config.sops.yaml': await buildSopsFile({ format: 'yaml', values: { password: SENTINEL, user_unencrypted: 'shop' }, keyGroups: [[hostAge.recipient]] }),
      'blog/compose.yaml': compose,
      'blog/db_password.sops': await buildSopsFile({ format: 'json', values: { data: `${SENTINEL}-binary\n` }, keyGroups: [[hostAge.recipient]] }),
    };
    await withCheckout(files, async (root) => {
      const secrets = new SecretRegistry();
      const state = await loadDesiredState({ root, commit: COMMIT, hashKey, sopsKeys: ageKeys, secrets });
      const shop = state.apps.find((app) => app.name === 'shop')!.services[0];
      assert.deepEqual(shop.secretFiles, [{ target: '/run/secrets/config.yaml', value: `password: ${SENTINEL}\nuser_unencrypted: shop\n`, mode: 0o440 }]);
      const blog = state.apps.find((app) => app.name === 'blog')!.services[0];
      assert.deepEqual(blog.secretFiles, [{ target: '/run/secrets/db_password', value: `${SENTINEL}-binary\n`, mode: 0o400 }]);
      assert.deepEqual(blog.mounts, [], 'a SOPS file is not bind-mounted');
      assert.ok(secrets.values().includes(`${SENTINEL}-binary\n`));
    });
    await withCheckout({ 'shop.yaml': manifest.replace('config.sops.yaml', 'config.txt'), 'config.txt': 'password: plain\n' }, async (root) => {
      const result = await validateDir({ root, commit: COMMIT, hashKey, sopsKeys: ageKeys });
      assert.deepEqual(result.problems.map((problem) => [problem.code, problem.file]), [['SECRET_FILE_NOT_ENCRYPTED', 'config.txt']]);
    });
    const both = manifest.replace('{ file: config.sops.yaml, mode: "0440" }', '{ file: config.sops.yaml, value: x }');
    await withCheckout({ 'shop.yaml': both }, async (root) => {
      const result = await validateDir({ root, commit: COMMIT, hashKey, sopsKeys: ageKeys });
      assert.deepEqual(result.problems.map((problem) => problem.code), ['SECRET_SOURCE_INVALID']);
    });
  });

  it('a tampered file, or no key, stops the whole load with file, line and key; no value in any problem', async () => {
    const good = await buildSopsFile({ format: 'dotenv', values: { DB_PASSWORD: SENTINEL, OTHER: `${SENTINEL}-2` }, keyGroups: [[hostAge.recipient]] });
    const lines = good.split('\n');
    const swapped = [`DB_PASSWORD=${lines[1].split('=').slice(1).join('=')}`, `OTHER=${lines[0].split('=').slice(1).join('=')}`, ...lines.slice(2)].join('\n');
    const compose = 'services:\n  web:\n    image: local/busybox:1\n    environment:\n      DB: ${DB_PASSWORD}\n';
    await withCheckout({ 'blog/compose.yaml': compose, 'blog/.env': swapped }, async (root) => {
      const result = await validateDir({ root, commit: COMMIT, hashKey, sopsKeys: ageKeys });
      assert.equal(result.state, undefined);
      const problem = result.problems.find((candidate) => candidate.code === 'SOPS_TAMPERED');
      assert.ok(problem, JSON.stringify(result.problems));
      assert.deepEqual([problem.file, problem.line, problem.key], ['blog/.env', 1, 'DB_PASSWORD']);
      assert.ok(!JSON.stringify(result.problems).includes(SENTINEL));

      const keyless = await validateDir({ root, commit: COMMIT, hashKey });
      assert.ok(keyless.problems.some((candidate) => candidate.code === 'SOPS_NO_KEY'), JSON.stringify(keyless.problems));
      const unchecked = await validateDir({ root, commit: COMMIT, hashKey, uncheckedSopsFiles: true });
      assert.deepEqual(unchecked.problems, []);
      assert.deepEqual(unchecked.uncheckedEnvFiles, ['blog/.env']);
    });
  });
});

async function joinedKeyFile(files: string[]): Promise<string> {
  const joined = join(scratch, `joined-${files.length}-${Date.now()}.key`);
  await writeFile(joined, (await Promise.all(files.map((file) => readFile(file, 'utf8')))).join('\n'), { mode: 0o600 });
  return joined;
}

describe('capstan secrets decrypt and import-sops on SOPS files', () => {
  it('decrypt prints the plaintext in the file\'s format; import-sops re-encrypts it in Capstan\'s format', async () => {
    const folder = await mkdtemp(join(tmpdir(), 'capstan-sops-cli-'));
    try {
      const file = join(folder, 'app.sops.yaml');
      await writeFile(file, await buildSopsFile({ format: 'yaml', values: { DB_PASSWORD: SENTINEL, PORT_unencrypted: '8080' }, keyGroups: [[hostAge.recipient]] }));
      const env = { CAPSTAN_AGE_KEY_FILE: hostAge.file, SOPS_AGE_KEY_FILE: undefined };
      const decrypted = await runCapstan(['secrets', 'decrypt', file], { env, timeoutMs: 60_000 });
      assert.equal(decrypted.code, 0, decrypted.stderr);
      assert.equal(decrypted.stdout, `DB_PASSWORD: ${SENTINEL}\nPORT_unencrypted: "8080"\n`);
      const wrong = await runCapstan(['secrets', 'decrypt', file, '--age-key-file', otherAge.file], { env, timeoutMs: 60_000 });
      assert.equal(wrong.code, 1);
      assert.match(wrong.stderr, /SOPS_NO_MATCHING_KEY/);

      const keyFile = join(folder, 'capstan.keys');
      const keygen = await runCapstan(['secrets', 'keygen', '--key-file', keyFile], { env, timeoutMs: 60_000 });
      assert.equal(keygen.code, 0, keygen.stderr);
      // `encrypt` would take the ENC[…] strings for plaintext values: refused, pointing at import-sops.
      const encrypt = await runCapstan(['secrets', 'encrypt', file, '--key-file', keyFile], { env, timeoutMs: 60_000 });
      assert.equal(encrypt.code, 1);
      assert.match(encrypt.stderr, /SECRETS_ALREADY_ENCRYPTED[\s\S]*import-sops/);
      const imported = await runCapstan(['secrets', 'import-sops', file, '--key-file', keyFile, '--repo-path', 'apps/app.sops.yaml'], { env, timeoutMs: 60_000 });
      assert.equal(imported.code, 0, imported.stderr);
      assert.ok(!imported.stderr.includes(SENTINEL));
      const text = await readFile(file, 'utf8');
      assert.ok(text.startsWith('# capstan-secrets v1 ') && !text.includes(SENTINEL));
      const native = await runCapstan(['secrets', 'decrypt', file, '--key-file', keyFile, '--repo-path', 'apps/app.sops.yaml'], { env, timeoutMs: 60_000 });
      assert.equal(native.code, 0, native.stderr);
      assert.equal(native.stdout, `DB_PASSWORD=${SENTINEL}\nPORT_unencrypted=8080\n`);
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });
});

describe('hostile SOPS files are refused, never a hang', () => {
  it('too large, too deep, aliases', async () => {
    const keys: SopsKeys = { age: [], pgp: [] };
    const huge = `A=ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]\n${'B=1\n'.repeat(1_100_000)}`;
    assert.ok(isSopsFile(huge));
    await refusal(decryptSops({ text: huge, file: 'huge.env', keys }), 'SOPS_MALFORMED');
    const deep = `${Array.from({ length: 200 }, (_, index) => `${'  '.repeat(index)}k${index}:`).join('\n')} x\nsops: {mac: m}\n`;
    await refusal(decryptSops({ text: deep, file: 'deep.yaml', keys }), 'SOPS_MALFORMED');
    await refusal(decryptSops({ text: 'a: &x ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]\nb: *x\nsops: {mac: m}\n', file: 'alias.yaml', keys }), 'SOPS_MALFORMED');
  });
});

describe('SOPS key configuration', () => {
  it('CAPSTAN_AGE_KEY_FILE wins over SOPS_AGE_KEY_FILE, which is read when it is the only one', async () => {
    const { resolveConfig } = await import('../../agent/cli/config.js');
    const cwd = await mkdtemp(join(tmpdir(), 'capstan-sops-config-'));
    try {
      const base = { CAPSTAN_REPO: '/srv/repo' };
      assert.equal(resolveConfig({}, { ...base, SOPS_AGE_KEY_FILE: '/k/sops.txt' }, cwd).ageKeyFile, '/k/sops.txt');
      assert.equal(resolveConfig({}, { ...base, SOPS_AGE_KEY_FILE: '/k/sops.txt', CAPSTAN_AGE_KEY_FILE: '/k/capstan.txt' }, cwd).ageKeyFile, '/k/capstan.txt');
      assert.equal(resolveConfig({ ageKeyFile: 'rel.txt' }, base, cwd).ageKeyFile, join(cwd, 'rel.txt'));
      assert.equal(resolveConfig({}, { ...base, CAPSTAN_SOPS_PGP_KEY_FILE: '/k/pgp.asc' }, cwd).sopsPgpKeyFile, '/k/pgp.asc');
    } finally {
      await rm(cwd, { recursive: true, force: true });
    }
  });

  it('a passphrase-protected OpenPGP key is refused by name; a key that is not the recipient does not open the file', async () => {
    const openpgp = await import('openpgp');
    const protectedKey = await openpgp.generateKey({ userIDs: [{ name: 'ops' }], passphrase: 'secret', format: 'armored' });
    await refusal(parsePgpKeys(Buffer.from(protectedKey.privateKey), 'ops.asc'), 'SOPS_KEY_FILE_INVALID');
    const other = await openpgp.generateKey({ userIDs: [{ name: 'other' }], format: 'armored' });
    const keys: SopsKeys = { age: [], pgp: await parsePgpKeys(Buffer.from(other.privateKey), 'other.asc') };
    const error = await refusal(decryptSops({ text: await fixture('format.enc.yaml'), file: 'f.yaml', keys }), 'SOPS_NO_MATCHING_KEY');
    assert.match(error.message, /FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4/);
  });
});
