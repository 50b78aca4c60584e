import assert from 'node:assert/strict';
import { cp, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ManifestError, formatProblem } from '../../agent/errors.js';
import { loadDesiredState, validateDir, type Lookup } from '../../agent/load/index.js';
import type { App, DesiredState } from '../helpers/model.js';
import { DEFAULT_POLICY } from '../../agent/policy/index.js';
import { service as baseService, writeFiles } from '../helpers/model.js';

const COMMIT = 'a'.repeat(40);
/** The `full` fixture mounts /srv/shared, which the default host policy refuses. */
// The full fixture names a Docker volume of its own choosing (`shared-cache`), which the host allows.
const srvPolicy = { ...DEFAULT_POLICY, bindRoots: ['/srv'], allowedVolumeNames: ['shared-cache'] };
const hashKey = new TextEncoder().encode('load-test-key');

function repositoryRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let depth = 0; depth < 10 && !existsSync(join(dir, 'package.json')); depth++) dir = dirname(dir);
  assert.ok(existsSync(join(dir, 'package.json')), 'repository root not found');
  return dir;
}

const fixtures = join(repositoryRoot(), 'test', 'fixtures', 'manifests');
const fixture = (name: string) => join(fixtures, name);

async function problemsOf(root: string, lookup?: Lookup): Promise<string[]> {
  const result = await validateDir({ root, commit: COMMIT, hashKey, lookup, policy: srvPolicy });
  assert.equal(result.state, undefined, 'a load with problems returns no state');
  return result.problems.map(formatProblem);
}

/** The state without config hashes, which are checked on their own. */
function withoutHashes(state: DesiredState): unknown {
  return { ...state, apps: state.apps.map((app) => ({ ...app, services: app.services.map(({ configHash: _hash, ...service }) => service) })) };
}

async function withTempDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'capstan-load-'));
  try {
    await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A loaded service as `withoutHashes` shows it. */
const service = (app: string, name: string, file: string, line: number, fields: Partial<App['services'][number]> = {}) => {
  const { configHash: _hash, ...loaded } = baseService(name, { app, source: { file, line }, ...fields });
  return loaded;
};

describe('loadDesiredState: manifests that load', () => {
  it('the smallest manifest, with defaults', async () => {
    const state = await loadDesiredState({ root: fixture('minimal'), path: '.', commit: COMMIT, hashKey });
    assert.deepEqual(withoutHashes(state), {
      commit: COMMIT,
      apps: [
        {
          name: 'hello',
          source: { file: 'hello.yaml', line: 1 },
          volumes: [],
          services: [service('hello', 'web', 'hello.yaml', 3, { command: ['httpd', '-f', '-p', '8080'] })],
        },
      ],
    });
    assert.match(state.apps[0].services[0].configHash, /^[0-9a-f]{64}$/);
  });

  it('defaults: restart unless-stopped, 1 replica, volume named <app>_<volume>', async () => {
    const state = await loadDesiredState({ root: fixture('defaults'), commit: COMMIT, hashKey });
    const [app] = state.apps;
    assert.deepEqual(app.volumes, [{ name: 'data', dockerName: 'plain_data', labels: {} }]);
    assert.equal(app.services[0].restart, 'unless-stopped');
    assert.equal(app.services[0].replicas, 1);
    assert.deepEqual(app.services[0].mounts, [{ type: 'volume', volume: 'data', target: '/var/lib/db', readOnly: false }]);
  });

  it('every field', async () => {
    const root = fixture('full');
    const state = await loadDesiredState({ root, commit: COMMIT, hashKey, policy: srvPolicy });
    const file = 'apps/web.yaml';
    assert.deepEqual(withoutHashes(state), {
      commit: COMMIT,
      apps: [
        {
          name: 'shop',
          source: { file, line: 2 },
          volumes: [
            { name: 'cache', dockerName: 'shared-cache', labels: { 'com.example.tier': 'cache' } },
            { name: 'data', dockerName: 'shop_data', labels: {} },
          ],
          services: [
            service('shop', 'web', file, 10, {
              command: ['httpd', '-f', '-p', '80', '-h', '/var/www html'],
              entrypoint: ['/bin/sh', '-c'],
              environment: { MODE: 'production', WORKERS: '4', DEBUG: 'false', EMPTY: '' },
              ports: [
                { hostPort: 8080, containerPort: 80, protocol: 'tcp' },
                { hostIp: '127.0.0.1', hostPort: 8081, containerPort: 81, protocol: 'udp' },
                { containerPort: 82, protocol: 'tcp' },
                { containerPort: 83, protocol: 'tcp' },
                { hostIp: '::1', hostPort: 8084, containerPort: 84, protocol: 'tcp' },
                { hostIp: '::1', hostPort: 8085, containerPort: 85, protocol: 'tcp' },
              ],
              mounts: [
                { type: 'volume', volume: 'data', target: '/data', readOnly: false },
                {
                  type: 'bind',
                  source: join(root, 'apps/conf/app.conf'),
                  target: '/etc/app.conf',
                  readOnly: true,
                  // sha256 of "listen 80\n"
                  repo: { path: 'apps/conf/app.conf', digest: 'sha256:f7407318bd2c4a3965c1450b7aceb87ed5336cc46c39a21d0a7124f0ec3797b3' },
                },
                { type: 'bind', source: join(root, 'apps/site'), target: '/var/www', readOnly: true, repo: { path: 'apps/site', digest: 'sha256:f1c9bfce273f5bcab647126d2faf209aa52afe38bc374ed8e5a46643c2d485fa' } },
                { type: 'bind', source: '/srv/shared', target: '/shared', readOnly: false },
                { type: 'volume', volume: 'cache', target: '/cache', readOnly: true },
                { type: 'bind', source: join(root, 'apps/conf'), target: '/conf', readOnly: false, repo: { path: 'apps/conf', digest: 'sha256:f56eab8d63ad001ee8560f82603ee37c3de3f0443cb6f9fae2dec58b06da2fc2' } },
              ],
              restart: 'always',
              labels: { 'com.example.team': 'storefront', 'com.example.empty': '' },
            }),
            service('shop', 'worker', file, 38, {
              command: ['sleep', '3600'],
              environment: { QUEUE: 'orders', VERBOSE: '' },
              labels: { 'com.example.role': 'worker' },
              restart: 'on-failure',
              replicas: 3,
            }),
          ],
        },
      ],
    });
    const digests = state.apps[0].services[0].mounts.flatMap((mount) => (mount.type === 'bind' && mount.repo ? [mount.repo.digest] : []));
    assert.equal(new Set(digests).size, 3, 'a file and two folders have three different digests');
    for (const digest of digests) assert.match(digest, /^sha256:[0-9a-f]{64}$/);
  });

  it('a multi-file directory loads sorted; dot-files and dot-folders are skipped, a Compose folder is one app', async () => {
    const result = await validateDir({ root: fixture('multi'), commit: COMMIT, hashKey });
    assert.deepEqual(result.problems, []);
    assert.deepEqual(result.skipped, []);
    const state = result.state as DesiredState;
    assert.deepEqual(
      state.apps.map((app) => [app.name, app.source.file, app.services.map((each) => each.name)]),
      [
        ['a', 'a.yaml', ['web']],
        ['b', 'b.yml', ['web']],
        ['c', 'nested/c.yaml', ['alpha', 'zeta']],
        ['compose-app', 'compose-app/compose.yaml', ['web']],
      ],
    );
  });

  it('loads only the configured path, with file paths still relative to the checkout root', async () => {
    const state = await loadDesiredState({ root: fixture('multi'), path: 'nested', commit: COMMIT, hashKey });
    assert.deepEqual(state.apps.map((app) => app.source.file), ['nested/c.yaml']);
  });

  it('anchors, aliases and merge keys', async () => {
    const state = await loadDesiredState({ root: fixture('merge'), commit: COMMIT, hashKey });
    const [web, worker] = state.apps[0].services;
    assert.deepEqual([web.image, web.restart, web.environment, web.command], ['local/busybox:1', 'always', { LOG_LEVEL: 'info' }, ['httpd', '-f']]);
    assert.deepEqual([worker.restart, worker.environment, worker.replicas], ['always', { LOG_LEVEL: 'info', QUEUE: 'jobs' }, 2]);
  });

  it('interpolates through the lookup, casting numbers', async () => {
    const variables: Record<string, string> = { TAG: '1.2', SECRET_TOKEN: 'tok', HOST: 'example.com', PORT: '8443', REPLICAS: '1' };
    const state = await loadDesiredState({ root: fixture('interpolation'), commit: COMMIT, hashKey, lookup: (name) => variables[name] });
    const [web] = state.apps[0].services;
    assert.equal(state.apps[0].name, 'interp');
    assert.equal(web.image, 'local/busybox:1.2');
    assert.deepEqual(web.command, ['echo', '$HOME', 'hello']);
    assert.deepEqual(web.environment, { SECRET: 'tok', URL: 'https://example.com:8443/' });
    assert.deepEqual(web.ports, [{ hostPort: 8443, containerPort: 80, protocol: 'tcp' }]);
    assert.equal(web.replicas, 1);
    const other = await loadDesiredState({ root: fixture('interpolation'), commit: COMMIT, hashKey, lookup: (name) => ({ ...variables, SECRET_TOKEN: 'tok2' })[name] });
    assert.notEqual(other.apps[0].services[0].configHash, web.configHash, 'a changed secret changes the hash');
  });

  it('the config hash survives a move of the checkout and follows the content of bound files', async () => {
    await withTempDir(async (dir) => {
      const first = join(dir, 'checkout-1');
      const second = join(dir, 'checkout-2');
      await cp(fixture('full'), first, { recursive: true });
      await cp(fixture('full'), second, { recursive: true });
      const hashes = async (root: string) => (await loadDesiredState({ root, commit: COMMIT, hashKey, policy: srvPolicy })).apps[0].services.map((each) => each.configHash);
      const before = await hashes(first);
      assert.deepEqual(await hashes(second), before);
      await writeFile(join(second, 'apps/site/css/site.css'), 'body{color:red}\n');
      const after = await hashes(second);
      assert.notEqual(after[0], before[0], 'web mounts apps/site, whose content changed');
      assert.equal(after[1], before[1], 'worker mounts nothing');
    });
  });
});

describe('loadDesiredState: manifests that do not load', () => {
  const cases: [name: string, expected: string[]][] = [
    ['malformed-yaml', ['bad.yaml:6:3: Flow sequence in block collection must be sufficiently indented and end with a ] [YAML_SYNTAX]']],
    [
      'wrong-type',
      [
        'app.yaml:5:15: services.web.replicas: must be an integer, not a string [SCHEMA]',
        'app.yaml:7:9: services.web.ports[0]: must be a string, an integer or a map, not a boolean [SCHEMA]',
      ],
    ],
    [
      'unknown-key',
      [
        "app.yaml:4:5: services.web.imgae: unknown key 'imgae' (did you mean 'image'?) [UNKNOWN_KEY]",
        "app.yaml:6:5: services.web.helthcheck: unknown key 'helthcheck' (did you mean 'healthcheck'?) [UNKNOWN_KEY]",
      ],
    ],
    [
      'undefined-variable',
      [
        "app.yaml:4:12: services.web.image: variable 'TAG' is not set; define it in an env file or write ${TAG:-default} [UNDEFINED_VARIABLE]",
        "app.yaml:6:21: services.web.environment.DATABASE_URL: variable 'DATABASE_URL' is not set or empty: set it in secrets/web.env [UNDEFINED_VARIABLE]",
        "app.yaml:8:15: services.web.replicas: variable 'REPLICAS' is not set; define it in an env file or write ${REPLICAS:-default} [UNDEFINED_VARIABLE]",
      ],
    ],
    ['duplicate-app', ["one.yaml:1:6: app: app 'twin' is also defined in nested/two.yaml:2 (app); app names must be unique across files: rename one [DUPLICATE_APP]"]],
    ['undeclared-volume', ["app.yaml:9:9: services.web.volumes[1]: volume 'logs' is not declared; add it under the top-level volumes (volumes: {logs: {}}) [VOLUME_UNDECLARED]"]],
    ['bind-escape', ['apps/app.yaml:6:9: services.web.volumes[0]: the bind source leaves the checkout; mount files of the repository, or an absolute host path [BIND_OUTSIDE_CHECKOUT]']],
    [
      'bind-missing',
      ["apps/app.yaml:6:9: services.web.volumes[0]: the bind source does not exist in the checkout (relative sources start from the manifest's folder, 'apps'); commit the file or fix the path [BIND_NOT_FOUND]"],
    ],
    [
      'port-conflict',
      [
        "a.yaml:9:13: services.scaled.ports[0]: service 'scaled' has 2 replicas but publishes the fixed host port 7000, which only one container can bind; leave out the host port to let Docker pick one per replica, or run 1 replica [PORT_REPLICAS]",
        "b.yaml:6:9: services.api.ports[0]: host port 8080/tcp on all addresses is already published by app 'alpha' service 'web' at a.yaml:5 (services.web.ports[0]); use another host port [PORT_CONFLICT]",
      ],
    ],
    ['merge-invalid', ['app.yaml:4:12: services.web.restart: must be one of no, always, on-failure, unless-stopped [SCHEMA]']],
  ];
  for (const [name, expected] of cases) {
    it(name, async () => assert.deepEqual(await problemsOf(fixture(name)), expected));
  }

  it('throws one ManifestError holding every problem of every file', async () => {
    await withTempDir(async (root) => {
      await writeFiles(root, {
        'a.yaml': 'app: a\nservices:\n  web:\n    image: x\n    replicas: -1\n',
        'b/b.yaml': 'app: b\nservices: {web: {image: x, colour: red}}\n',
        'c.yaml': 'app: [\n',
      });
      const error = await loadDesiredState({ root, commit: COMMIT, hashKey }).then(
        () => assert.fail('expected a ManifestError'),
        (thrown: unknown) => thrown,
      );
      assert.ok(error instanceof ManifestError);
      assert.equal(error.code, 'MANIFEST_INVALID');
      assert.equal(error.errorClass, 'terminal');
      assert.deepEqual(
        error.problems.map((problem) => [problem.file, problem.code]),
        [
          ['a.yaml', 'SCHEMA'],
          ['b/b.yaml', 'UNKNOWN_KEY'],
          ['c.yaml', 'YAML_SYNTAX'],
        ],
      );
      assert.match(error.message, /3 problems/);
    });
  });

  it('PATH_NOT_FOUND for a missing folder, a file, or a path leaving the checkout', async () => {
    for (const path of ['no-such-folder', 'hello.yaml', '../full']) {
      const result = await validateDir({ root: fixture('minimal'), path, commit: COMMIT, hashKey });
      assert.deepEqual(result.problems.map((problem) => [problem.code, problem.file]), [['PATH_NOT_FOUND', path]]);
    }
  });

  it('more problems, each at its line', async () => {
    await withTempDir(async (root) => {
      await writeFiles(root, {
        'empty.yaml': '# nothing yet\n',
        'multi-doc.yaml': 'app: a\n---\napp: b\n',
        'dup-key.yaml': 'app: a\napp: b\nservices: {}\n',
        'misc.yaml': [
          'app: misc',
          'services:',
          '  web:',
          '    image: x',
          '    command: echo "unterminated',
          '    labels: {capstan.app: other, ok: yes}',
          '    environment: [A=1, B, A=2]',
          '    volumes: ["/srv/a:/data", "/srv/b:/data", "/c"]',
          '    ports: ["8000-8001:80"]',
          '  Bad:',
          '    image: x',
          '',
        ].join('\n'),
      });
      assert.deepEqual(await problemsOf(root), [
        "dup-key.yaml:2:1: app: 'app' is written twice in the same map (first on line 1); keep one [YAML_SYNTAX]",
        'empty.yaml: the file is empty; a manifest needs at least app: and services: [EMPTY_MANIFEST]',
        "misc.yaml:10:3: services.Bad: invalid service name 'Bad': use lowercase letters, digits, '-' and '_', starting with a letter or digit, at most 63 characters [SCHEMA]",
        'multi-doc.yaml:2:1: a manifest holds one YAML document: split the `---` parts into separate files [YAML_SYNTAX]',
      ]);
      await rm(join(root, 'misc.yaml'));
      await writeFiles(root, {
        'misc.yaml': [
          'app: misc',
          'services:',
          '  web:',
          '    image: x',
          '    command: echo "unterminated',
          '    labels: {capstan.app: other, ok: yes}',
          '    environment: [A=1, B, A=2]',
          '    volumes: ["/srv/a:/data", "/srv/b:/data", "c"]',
          '    ports: ["8000-8001:80"]',
          '',
        ].join('\n'),
      });
      const misc = (await problemsOf(root)).filter((line) => line.startsWith('misc.yaml'));
      assert.deepEqual(misc, [
        'misc.yaml:5:14: services.web.command: unterminated double quote; for shell features write a list: ["sh", "-c", "…"] [COMMAND_INVALID]',
        "misc.yaml:6:14: services.web.labels[\"capstan.app\"]: keys starting with 'capstan.' are reserved for Capstan's own labels; rename the key [RESERVED_KEY]",
        'misc.yaml:7:27: services.web.environment[2]: this variable is already set by item 0; keep one [DUPLICATE_KEY]',
        'misc.yaml:8:31: services.web.volumes[1]: volumes[0] already mounts on the same container path; Docker refuses two mounts on one target [MOUNT_DUPLICATE_TARGET]',
        'misc.yaml:8:47: services.web.volumes[2]: a mount is SOURCE:TARGET, or an absolute container path alone for an anonymous volume (/app/node_modules) [MOUNT_INVALID]',
        'misc.yaml:9:13: services.web.ports[0]: port ranges are not supported: list each port on its own [PORT_INVALID]',
      ]);
    });
  });

  it('a symbolic link may not lead a bind or a manifest out of the checkout', async () => {
    await withTempDir(async (dir) => {
      const root = join(dir, 'checkout');
      await writeFiles(dir, {
        'outside/secret.conf': 'x\n',
        'outside/other.yaml': 'app: other\nservices: {web: {image: x}}\n',
        'checkout/app.yaml': 'app: linked\nservices:\n  web:\n    image: x\n    volumes: ["./conf:/conf"]\n',
      });
      await symlink(join(dir, 'outside'), join(root, 'conf'));
      await symlink(join(dir, 'outside/other.yaml'), join(root, 'other.yaml'));
      await symlink(join(root, 'app.yaml'), join(root, 'alias.yaml'));
      const result = await validateDir({ root, commit: COMMIT, hashKey });
      assert.deepEqual(
        result.problems.map((problem) => [problem.file, problem.code]),
        [
          ['alias.yaml', 'BIND_OUTSIDE_CHECKOUT'],
          ['app.yaml', 'DUPLICATE_APP'],
          ['app.yaml', 'BIND_OUTSIDE_CHECKOUT'],
          ['other.yaml', 'MANIFEST_OUTSIDE_CHECKOUT'],
        ],
      );
      assert.deepEqual(result.skipped, [{ path: 'conf', reason: 'symbolic link to a folder; not followed' }]);
    });
  });

  it('never puts a variable value into a problem', async () => {
    await withTempDir(async (root) => {
      const secret = 'Sup3r-Secret-Value';
      await writeFiles(root, {
        // Schema problems stop a file before normalizing, so each stage gets its own file.
        'schema.yaml': [
          'app: leak-schema',
          'services:',
          '  web:',
          '    image: ${SECRET}',
          '    replicas: ${SECRET}',
          '    restart: ${SECRET}',
          '    ports: [{target: "${SECRET}"}]',
          '    environment: {A: "${SECRET:?${SECRET}}", B: "${MISSING:?${SECRET}}", C: "${SECRET:+${}"}',
          '',
        ].join('\n'),
        'normalize.yaml': [
          'app: leak-normalize',
          'services:',
          '  web:',
          '    image: ${SECRET}',
          '    command: "${SECRET} \'open"',
          '    entrypoint: "${SECRET} | tee"',
          '    ports: ["${SECRET}:80", "${SECRET}", "127.0.0.1:${SECRET}:80"]',
          '    volumes: ["./${SECRET}:/x", "/x:${SECRET}", "${SECRET}/y:/y:${SECRET}"]',
          '    labels: ["capstan.${SECRET}=1"]',
          '',
        ].join('\n'),
      });
      const result = await validateDir({ root, commit: COMMIT, hashKey, lookup: (name) => (name === 'SECRET' ? secret : undefined) });
      assert.equal(result.problems.length, 14, JSON.stringify(result.problems));
      const text = JSON.stringify(result.problems) + result.problems.map(formatProblem).join('\n');
      assert.ok(!text.includes(secret), text);
      assert.ok(!text.toLowerCase().includes('sup3r'), text);
    });
  });
});
