import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { formatProblem } from '../../agent/errors.js';
import { loadDesiredState, validateDir } from '../../agent/load/index.js';
import type { DesiredState } from '../../agent/model.js';
import { addPrimaryKey, encryptEnv, newKeyringKey, type Keyring } from '../../secrets/index.js';

// Secret files (`secrets:`) as the loader normalizes them, and the config hash over secret
// values: a changed value changes exactly the hashes of the services that use it; re-encrypting
// the same values under a new key (rotation) changes none.

const COMMIT = 'c'.repeat(40);
const hashKey = new TextEncoder().encode('load-secrets-hash-test-key');

function makeKeyring(): Keyring {
  const key = newKeyringKey(Date.now());
  return { source: 'test.keys', keys: [key], primary: key };
}

async function withCheckout(body: (root: string, write: (files: Record<string, string>) => Promise<void>) => Promise<void>): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'capstan-load-secrets-hash-'));
  const write = async (files: Record<string, string>) => {
    for (const [path, content] of Object.entries(files)) {
      await mkdir(dirname(join(root, path)), { recursive: true });
      await writeFile(join(root, path), content);
    }
  };
  try {
    await body(root, write);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

const encrypted = (repoPath: string, values: Record<string, string>, keyring: Keyring) => ({ [repoPath]: encryptEnv({ values, repoPath, keyring }) });

describe('secret files', () => {
  it('short and long forms, sorted by target, mode 0400 unless set', async () => {
    const manifest = `app: shop
env_files: [shop.env]
volumes:
  data: {}
services:
  api:
    image: local/busybox:1
    volumes: ["data:/data"]
    secrets:
      /run/secrets/z_token: \${API_TOKEN}
      /run/secrets/db_password:
        value: \${DB_PASSWORD}
        mode: "0440"
      /etc/app/literal: not a secret
  web:
    image: local/busybox:1
`;
    const keyring = makeKeyring();
    await withCheckout(async (root, write) => {
      await write({ 'shop.yaml': manifest, ...encrypted('shop.env', { API_TOKEN: 'token-1', DB_PASSWORD: 'pw-1' }, keyring) });
      const state = await loadDesiredState({ root, commit: COMMIT, hashKey, keyring });
      const [api, web] = state.apps[0].services;
      assert.deepEqual(api.secretFiles, [
        { target: '/etc/app/literal', value: 'not a secret', mode: 0o400 },
        { target: '/run/secrets/db_password', value: 'pw-1', mode: 0o440 },
        { target: '/run/secrets/z_token', value: 'token-1', mode: 0o400 },
      ]);
      assert.deepEqual(api.environment, {}, 'secret files do not reach the environment');
      assert.equal('secretFiles' in web, false, 'left out when there are none, so older hashes stay');
    });
  });

  it('refuses odd targets, targets inside mounts and unquoted modes, naming the key', async () => {
    const manifest = `app: shop
volumes:
  data: {}
services:
  api:
    image: local/busybox:1
    volumes: ["data:/data"]
    secrets:
      /run/secrets/../x: a
      /run//x: b
      /data/password: c
      /data: d
      relative/path: e
      /run/secrets/octal:
        value: f
        mode: 0440
      /run/secrets/nine:
        value: g
        mode: "0999"
`;
    await withCheckout(async (root, write) => {
      await write({ 'shop.yaml': manifest });
      const schema = await validateDir({ root });
      assert.deepEqual(schema.problems.map(formatProblem), [
        "shop.yaml:13:7: services.api.secrets[\"relative/path\"]: a secret file's key is its absolute path inside the container (starting with '/') [SCHEMA]",
        'shop.yaml:16:15: services.api.secrets["/run/secrets/octal"].mode: must be a string, not a number [SCHEMA]',
        'shop.yaml:19:15: services.api.secrets["/run/secrets/nine"].mode: must be permission bits in octal, such as "0400" or "0440" [SCHEMA]',
      ]);
      await write({ 'shop.yaml': manifest.split('\n').slice(0, 12).join('\n') + '\n' });
      const normalized = await validateDir({ root });
      assert.deepEqual(normalized.problems.map((problem) => [problem.line, problem.key, problem.code]), [
        [9, 'services.api.secrets["/run/secrets/../x"]', 'SECRET_TARGET_INVALID'],
        [10, 'services.api.secrets["/run//x"]', 'SECRET_TARGET_INVALID'],
        [11, 'services.api.secrets["/data/password"]', 'SECRET_TARGET_IN_MOUNT'],
        [12, 'services.api.secrets["/data"]', 'SECRET_TARGET_IN_MOUNT'],
      ]);
    });
  });
});

describe('config hash over secret values', () => {
  const manifest = `app: shop
env_files: [shop.env]
services:
  api:
    image: local/busybox:1
    environment:
      DB_PASSWORD: \${DB_PASSWORD}
  worker:
    image: local/busybox:1
    secrets:
      /run/secrets/token: \${API_TOKEN}
  web:
    image: local/busybox:1
    env_files: [web.env]
  static:
    image: local/busybox:1
    environment:
      MODE: static
`;
  const values = { DB_PASSWORD: 'pw-1', API_TOKEN: 'token-1' };
  const webValues = { LEVEL: 'info' };

  async function hashes(root: string, keyring: Keyring): Promise<Record<string, string>> {
    const state: DesiredState = await loadDesiredState({ root, commit: COMMIT, hashKey, keyring });
    return Object.fromEntries(state.apps[0].services.map((service) => [service.name, service.configHash]));
  }

  function changedServices(before: Record<string, string>, after: Record<string, string>): string[] {
    return Object.keys(before).filter((name) => before[name] !== after[name]).sort();
  }

  const cases: [what: string, shop: Record<string, string>, web: Record<string, string>, changed: string[]][] = [
    ['an environment value', { ...values, DB_PASSWORD: 'pw-2' }, webValues, ['api']],
    ['a secret file value', { ...values, API_TOKEN: 'token-2' }, webValues, ['worker']],
    ['a service env file value', values, { LEVEL: 'debug' }, ['web']],
    ['a variable no service uses', { ...values, UNUSED: 'x' }, webValues, []],
  ];
  for (const [what, shopChanged, webChanged, expected] of cases) {
    it(`a changed ${what} changes exactly the hashes of the services using it`, async () => {
      const keyring = makeKeyring();
      await withCheckout(async (root, write) => {
        await write({ 'shop.yaml': manifest, ...encrypted('shop.env', values, keyring), ...encrypted('web.env', webValues, keyring) });
        const before = await hashes(root, keyring);
        await write({ ...encrypted('shop.env', shopChanged, keyring), ...encrypted('web.env', webChanged, keyring) });
        assert.deepEqual(changedServices(before, await hashes(root, keyring)), expected);
      });
    });
  }

  it('rotation to a new key, same values, changes no hash, and hashes reveal no value', async () => {
    const oldKeyring = makeKeyring();
    await withCheckout(async (root, write) => {
      await write({ 'shop.yaml': manifest, ...encrypted('shop.env', values, oldKeyring), ...encrypted('web.env', webValues, oldKeyring) });
      const before = await hashes(root, oldKeyring);

      const newKey = newKeyringKey(Date.now() + 1);
      const keys = addPrimaryKey(oldKeyring.keys, newKey);
      const rotatedKeyring: Keyring = { source: 'test.keys', keys, primary: keys[keys.length - 1] };
      await write({ ...encrypted('shop.env', values, rotatedKeyring), ...encrypted('web.env', webValues, rotatedKeyring) });
      assert.deepEqual(await hashes(root, rotatedKeyring), before);
      await assert.rejects(hashes(root, oldKeyring), /SECRETS_UNKNOWN_KEY_ID/, 'the files really are under the new key');

      // Keyed: the same value under another agent's hash key hashes differently.
      const otherAgent = await loadDesiredState({ root, commit: COMMIT, hashKey: new TextEncoder().encode('another state dir'), keyring: rotatedKeyring });
      assert.notEqual(otherAgent.apps[0].services[0].configHash, before.api);
    });
  });
});
