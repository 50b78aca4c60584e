import assert from 'node:assert/strict';
import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ManifestError, formatProblem, type ManifestProblem } from '../../agent/errors.js';
import { loadDesiredState, validateDir } from '../../agent/load/index.js';
import type { DesiredState, Service } from '../../agent/model.js';
import { encryptEnv, newKeyringKey, type Keyring } from '../../secrets/index.js';
import { withCheckout } from '../helpers/model.js';

// Encrypted env files in the loader: where variables come from and in which order, and every way
// an env file is refused. Each test writes its own checkout into a temp folder, encrypting with
// a keyring made in memory.

const COMMIT = 'b'.repeat(40);
const hashKey = new TextEncoder().encode('load-secrets-test-key');
/** A value that must never appear in a problem. */
const SENTINEL = 'S3NT1NEL-unit-7f3a';

function makeKeyring(source = 'test.keys'): Keyring {
  const key = newKeyringKey(Date.now());
  return { source, keys: [key], primary: key };
}

const keyring = makeKeyring();

/** An encrypted env file bound to `repoPath`, as `capstan secrets set` writes it. */
function envFile(repoPath: string, values: Record<string, string>, ring: Keyring = keyring): Record<string, string> {
  return { [repoPath]: encryptEnv({ values, repoPath, keyring: ring }) };
}

function serviceOf(state: DesiredState, app: string, name: string): Service {
  const service = state.apps.find((candidate) => candidate.name === app)?.services.find((candidate) => candidate.name === name);
  assert.ok(service, `service ${app}/${name} loaded`);
  return service;
}

async function problemsOf(root: string, ring: Keyring | undefined, path = '.'): Promise<ManifestProblem[]> {
  const result = await validateDir({ root, path, commit: COMMIT, hashKey, keyring: ring });
  assert.equal(result.state, undefined, 'a load with problems returns no state');
  for (const problem of result.problems) assert.ok(!JSON.stringify(problem).includes(SENTINEL), `no value in ${formatProblem(problem)}`);
  return result.problems;
}

const SHOP = `app: shop
env_files: [shop.env]
services:
  web:
    image: local/busybox:1
    environment:
      DB: \${DB_PASSWORD}
`;

describe('env files: where variables come from', () => {
  it('resolves placeholders from the manifest\'s env files, paths relative to its folder', async () => {
    await withCheckout({ 'apps/shop.yaml': SHOP, ...envFile('apps/shop.env', { DB_PASSWORD: SENTINEL }) }, async (root) => {
      const state = await loadDesiredState({ root, commit: COMMIT, hashKey, keyring });
      assert.deepEqual(serviceOf(state, 'shop', 'web').environment, { DB: SENTINEL });
    });
  });

  it('a later env file wins over an earlier one, and both over the default capstan.env', async () => {
    const manifest = `app: shop
env_files: [one.env, ../shared/two.env]
services:
  web:
    image: local/busybox:1
    environment:
      A: \${A}
      B: \${B}
      C: \${C}
      D: \${D:-none}
`;
    const files = {
      'deploy/apps/shop.yaml': manifest,
      ...envFile('deploy/apps/one.env', { A: 'one', B: 'one' }),
      ...envFile('deploy/shared/two.env', { A: 'two' }),
      ...envFile('deploy/capstan.env', { A: 'default', B: 'default', C: 'default' }),
      // Only the manifests path's own capstan.env is the default.
      ...envFile('capstan.env', { D: 'outside the manifests path' }),
    };
    await withCheckout(files, async (root) => {
      const state = await loadDesiredState({ root, path: 'deploy', commit: COMMIT, hashKey, keyring });
      assert.deepEqual(serviceOf(state, 'shop', 'web').environment, { A: 'two', B: 'one', C: 'default', D: 'none' });
    });
  });

  it('the default capstan.env feeds every manifest, and may name the app env files\' paths', async () => {
    const other = `app: blog
env_files: ["\${ENV_DIR}/blog.env"]
services:
  db:
    image: local/busybox:1
    environment:
      REGION: \${REGION}
      PASSWORD: \${BLOG_PASSWORD}
`;
    const files = {
      'apps/shop.yaml': SHOP,
      'apps/blog.yaml': other,
      ...envFile('apps/shop.env', { DB_PASSWORD: 'shop-secret' }),
      ...envFile('env/blog.env', { BLOG_PASSWORD: 'blog-secret' }),
      ...envFile('capstan.env', { REGION: 'eu', ENV_DIR: '../env' }),
    };
    await withCheckout(files, async (root) => {
      const state = await loadDesiredState({ root, commit: COMMIT, hashKey, keyring });
      assert.deepEqual(serviceOf(state, 'blog', 'db').environment, { REGION: 'eu', PASSWORD: 'blog-secret' });
      assert.deepEqual(serviceOf(state, 'shop', 'web').environment, { DB: 'shop-secret' });
    });
  });

  it('service env files add to the environment, explicit environment wins, and they resolve no placeholder', async () => {
    const manifest = `app: shop
services:
  web:
    image: local/busybox:1
    env_files: [web.env, web-override.env]
    environment:
      MODE: explicit
  worker:
    image: local/busybox:1
    env_files: [web.env]
    command: ["echo", "\${TOKEN}"]
`;
    const files = {
      'shop.yaml': manifest,
      ...envFile('web.env', { TOKEN: 't1', MODE: 'from-file', LEVEL: 'debug' }),
      ...envFile('web-override.env', { LEVEL: 'info' }),
    };
    await withCheckout(files, async (root) => {
      const problems = await problemsOf(root, keyring);
      assert.deepEqual(problems.map((problem) => [problem.file, problem.line, problem.key, problem.code]), [
        ['shop.yaml', 11, 'services.worker.command[1]', 'UNDEFINED_VARIABLE'],
      ]);
      await writeFile(join(root, 'shop.yaml'), manifest.replace('"${TOKEN}"', () => '"$$TOKEN"'));
      const state = await loadDesiredState({ root, commit: COMMIT, hashKey, keyring });
      assert.deepEqual(serviceOf(state, 'shop', 'web').environment, { TOKEN: 't1', MODE: 'explicit', LEVEL: 'info' });
      assert.deepEqual(serviceOf(state, 'shop', 'worker').environment, { TOKEN: 't1', MODE: 'from-file', LEVEL: 'debug' });
      assert.deepEqual(serviceOf(state, 'shop', 'worker').command, ['echo', '$TOKEN']);
    });
  });

  it('never reads the agent\'s own environment', async () => {
    const manifest = SHOP.replace('${DB_PASSWORD}', '${CAPSTAN_UNIT_HOST_VARIABLE}');
    process.env.CAPSTAN_UNIT_HOST_VARIABLE = 'from the host';
    try {
      await withCheckout({ 'apps/shop.yaml': manifest, ...envFile('apps/shop.env', { DB_PASSWORD: 'x' }) }, async (root) => {
        const problems = await problemsOf(root, keyring);
        assert.deepEqual(problems.map((problem) => problem.code), ['UNDEFINED_VARIABLE']);
      });
    } finally {
      delete process.env.CAPSTAN_UNIT_HOST_VARIABLE;
    }
  });

  it('an undefined variable names the file, line, key and variable', async () => {
    const manifest = SHOP.replace('DB: ${DB_PASSWORD}', 'DB: ${DB_PASSWORD}\n      URL: ${DATABASE_URL:?add it to shop.env}');
    await withCheckout({ 'apps/shop.yaml': manifest, ...envFile('apps/shop.env', { DB_PASSWORD: SENTINEL }) }, async (root) => {
      const problems = await problemsOf(root, keyring);
      assert.deepEqual(problems.map(formatProblem), [
        "apps/shop.yaml:8:12: services.web.environment.URL: variable 'DATABASE_URL' is not set or empty: add it to shop.env [UNDEFINED_VARIABLE]",
      ]);
    });
  });
});

describe('env files: refused, and nothing of the commit loads', () => {
  async function assertRefused(root: string, ring: Keyring | undefined, expected: string[][]): Promise<ManifestProblem[]> {
    const problems = await problemsOf(root, ring);
    assert.deepEqual(problems.map((problem) => [problem.code, problem.file, String(problem.line), problem.key]), expected);
    await assert.rejects(loadDesiredState({ root, commit: COMMIT, hashKey, keyring: ring }), ManifestError);
    return problems;
  }

  it('a plaintext env file, told from its header, with the command that fixes it', async () => {
    await withCheckout({ 'apps/shop.yaml': SHOP, 'apps/shop.env': `DB_PASSWORD=${SENTINEL}\n` }, async (root) => {
      const [problem] = await assertRefused(root, keyring, [['SECRETS_NOT_ENCRYPTED', 'apps/shop.env', '1', '']]);
      assert.match(problem.message, /capstan secrets encrypt apps\/shop\.env/);
    });
  });

  it('a plaintext env file even without a key', async () => {
    await withCheckout({ 'apps/shop.yaml': SHOP, 'apps/shop.env': `# a comment first\nDB_PASSWORD=${SENTINEL}\n` }, async (root) => {
      await assertRefused(root, undefined, [['SECRETS_NOT_ENCRYPTED', 'apps/shop.env', '1', '']]);
    });
  });

  it('a tampered value names the file, line and variable, and nothing else', async () => {
    const encrypted = envFile('apps/shop.env', { OTHER: 'o', DB_PASSWORD: SENTINEL })['apps/shop.env'];
    const lines = encrypted.split('\n');
    const token = lines[2].slice('DB_PASSWORD='.length);
    lines[2] = 'DB_PASSWORD=' + token.slice(0, 40) + (token[40] === 'A' ? 'B' : 'A') + token.slice(41);
    await withCheckout({ 'apps/shop.yaml': SHOP, 'apps/shop.env': lines.join('\n') }, async (root) => {
      const [problem] = await assertRefused(root, keyring, [['SECRETS_TAMPERED', 'apps/shop.env', '3', 'DB_PASSWORD']]);
      assert.match(formatProblem(problem), /^apps\/shop\.env:3:1: DB_PASSWORD: the value does not decrypt/);
    });
  });

  it('a removed line (the file MAC)', async () => {
    const encrypted = envFile('apps/shop.env', { DB_PASSWORD: SENTINEL, OTHER: 'o' })['apps/shop.env'];
    const withoutOther = encrypted.split('\n').filter((line) => !line.startsWith('OTHER=')).join('\n');
    await withCheckout({ 'apps/shop.yaml': SHOP, 'apps/shop.env': withoutOther }, async (root) => {
      await assertRefused(root, keyring, [['SECRETS_TAMPERED', 'apps/shop.env', '0', '']]);
    });
  });

  it('a file encrypted with a key the key file does not hold', async () => {
    const files = { 'apps/shop.yaml': SHOP, ...envFile('apps/shop.env', { DB_PASSWORD: SENTINEL }, makeKeyring('other.keys')) };
    await withCheckout(files, async (root) => {
      const [problem] = await assertRefused(root, keyring, [['SECRETS_UNKNOWN_KEY_ID', 'apps/shop.env', '1', '']]);
      assert.match(problem.message, /test\.keys/);
    });
  });

  it('a file copied from another path', async () => {
    const copied = envFile('apps/other.env', { DB_PASSWORD: SENTINEL })['apps/other.env'];
    await withCheckout({ 'apps/shop.yaml': SHOP, 'apps/shop.env': copied }, async (root) => {
      await assertRefused(root, keyring, [['SECRETS_PATH_MISMATCH', 'apps/shop.env', '1', '']]);
    });
  });

  it('an env file while no key file is configured, at the env_files entry, without undefined-variable noise', async () => {
    await withCheckout({ 'apps/shop.yaml': SHOP, ...envFile('apps/shop.env', { DB_PASSWORD: SENTINEL }) }, async (root) => {
      const [problem] = await assertRefused(root, undefined, [['SECRETS_NO_KEY', 'apps/shop.yaml', '2', 'env_files[0]']]);
      assert.match(problem.message, /--key-file or set CAPSTAN_KEY_FILE/);
    });
  });

  it('a missing env file, and one outside the checkout, at their entries', async () => {
    const manifest = SHOP.replace('env_files: [shop.env]', 'env_files: [missing.env, ../../outside.env]');
    await withCheckout({ 'apps/shop.yaml': manifest }, async (root) => {
      await assertRefused(root, keyring, [
        ['ENV_FILE_NOT_FOUND', 'apps/shop.yaml', '2', 'env_files[0]'],
        ['ENV_FILE_OUTSIDE_CHECKOUT', 'apps/shop.yaml', '2', 'env_files[1]'],
      ]);
    });
  });

  it('an env file linked from outside the checkout', async () => {
    const outside = await mkdtemp(join(tmpdir(), 'capstan-load-secrets-outside-'));
    try {
      await writeFile(join(outside, 'shop.env'), envFile('apps/shop.env', { DB_PASSWORD: SENTINEL })['apps/shop.env']);
      await withCheckout({ 'apps/shop.yaml': SHOP }, async (root) => {
        await symlink(join(outside, 'shop.env'), join(root, 'apps', 'shop.env'));
        await assertRefused(root, keyring, [['ENV_FILE_OUTSIDE_CHECKOUT', 'apps/shop.yaml', '2', 'env_files[0]']]);
      });
    } finally {
      await rm(outside, { recursive: true, force: true });
    }
  });

  it('a broken env file is reported once, however many manifests name it', async () => {
    const blog = SHOP.replace('app: shop', 'app: blog').replace('shop.env', 'shop.env, ../capstan.env');
    const files = { 'apps/shop.yaml': SHOP, 'apps/blog.yaml': blog, 'apps/shop.env': 'DB_PASSWORD=plain\n', ...envFile('capstan.env', { X: 'x' }) };
    await withCheckout(files, async (root) => {
      await assertRefused(root, keyring, [['SECRETS_NOT_ENCRYPTED', 'apps/shop.env', '1', '']]);
    });
  });

  it('a broken default capstan.env', async () => {
    await withCheckout({ 'apps/shop.yaml': SHOP, ...envFile('apps/shop.env', { DB_PASSWORD: 'x' }), 'capstan.env': 'REGION=eu\n' }, async (root) => {
      await assertRefused(root, keyring, [['SECRETS_NOT_ENCRYPTED', 'capstan.env', '1', '']]);
    });
  });

  it('a value that breaks a field is reported without the value', async () => {
    const shop = `app: shop
env_files: [shop.env]
services:
  web:
    image: local/busybox:1
    restart: \${SECRET}
    replicas: \${SECRET}
`;
    const blog = `app: blog
env_files: [shop.env]
services:
  web:
    image: local/busybox:1
    ports: ["\${SECRET}"]
    command: "echo '\${SECRET}"
`;
    await withCheckout({ 'apps/shop.yaml': shop, 'apps/blog.yaml': blog, ...envFile('apps/shop.env', { SECRET: SENTINEL }) }, async (root) => {
      const problems = await problemsOf(root, keyring);
      assert.deepEqual(problems.map((problem) => `${problem.file} ${problem.key} ${problem.code}`), [
        'apps/blog.yaml services.web.ports[0] PORT_INVALID',
        'apps/blog.yaml services.web.command COMMAND_INVALID',
        'apps/shop.yaml services.web.restart SCHEMA',
        'apps/shop.yaml services.web.replicas SCHEMA',
      ]);
    });
  });
});

describe('capstan validate without a key: env files unchecked', () => {
  it('checks headers and takes the names an env file holds as set, values unchecked', async () => {
    const manifest = `app: shop
env_files: [shop.env]
services:
  web:
    image: local/busybox:1
    replicas: \${REPLICAS}
    ports: ["\${PORT}:80"]
    environment:
      DB: \${DB_PASSWORD}
    secrets:
      /run/secrets/db: \${DB_PASSWORD}
    env_files: [web.env]
`;
    const files = {
      'apps/shop.yaml': manifest,
      ...envFile('apps/shop.env', { REPLICAS: '2', PORT: '8080', DB_PASSWORD: SENTINEL }),
      ...envFile('apps/web.env', { LEVEL: 'info' }),
      ...envFile('capstan.env', { REGION: 'eu' }),
    };
    await withCheckout(files, async (root) => {
      const result = await validateDir({ root, uncheckedEnvFiles: true });
      assert.deepEqual(result.problems, []);
      assert.deepEqual(result.uncheckedEnvFiles, ['apps/shop.env', 'apps/web.env', 'capstan.env']);

      await writeFile(join(root, 'apps/shop.yaml'), manifest.replace('DB: ${DB_PASSWORD}', () => 'DB: ${DB_PASSWORD}\n      X: ${NOT_IN_ANY_FILE}'));
      const withTypo = await validateDir({ root, uncheckedEnvFiles: true });
      assert.deepEqual(withTypo.problems.map((problem) => [problem.code, problem.key]), [['UNDEFINED_VARIABLE', 'services.web.environment.X']]);

      await writeFile(join(root, 'apps/web.env'), 'LEVEL=info\n');
      const plaintext = await validateDir({ root, uncheckedEnvFiles: true });
      assert.ok(plaintext.problems.some((problem) => problem.code === 'SECRETS_NOT_ENCRYPTED' && problem.file === 'apps/web.env'));
    });
  });

  it('with a key, validate decrypts and checks values too', async () => {
    const files = { 'apps/shop.yaml': SHOP, ...envFile('apps/shop.env', { DB_PASSWORD: SENTINEL }, makeKeyring('other.keys')) };
    await withCheckout(files, async (root) => {
      assert.deepEqual((await validateDir({ root, uncheckedEnvFiles: true })).problems, []);
      const checked = await validateDir({ root, keyring });
      assert.deepEqual(checked.problems.map((problem) => problem.code), ['SECRETS_UNKNOWN_KEY_ID']);
      assert.deepEqual(checked.uncheckedEnvFiles, []);
    });
  });
});
