import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { runCapstan, type RunResult } from '../helpers/cli.js';
import { docker, exec, listManaged, uniqueName } from '../helpers/docker.js';
import { sharedAgent } from '../helpers/fixture.js';
import type { TempDir } from '../helpers/paths.js';
import { startRegistry, type Registry } from '../helpers/registry.js';

// Issue 5, images: a private registry with htpasswd auth (Debian's docker-registry on 127.0.0.1),
// credentials from the repository's encrypted capstan.env or the host's Docker config; and builds
// from the commit's checkout. Sentinel secrets must reach Docker only.

const PASSWORD = `S3NT1NEL-registry-${randomBytes(8).toString('hex')}`;
const BUILD_TOKEN = `S3NT1NEL-build-${randomBytes(8).toString('hex')}`;
const SLEEPER = `["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]`;

async function filesUnder(folder: string, found: string[] = [], depth = 0): Promise<string[]> {
  if (depth > 20 || found.length > 10_000) return found;
  for (const entry of await readdir(folder, { withFileTypes: true })) {
    const path = join(folder, entry.name);
    if (entry.isDirectory()) await filesUnder(path, found, depth + 1);
    else if (entry.isFile()) found.push(path);
  }
  return found;
}

describe('spec: private registries and builds from the repository', () => {
  const agent = sharedAgent({ repoName: 'images' });
  const { node } = agent;
  const app = uniqueName('private');
  const site = uniqueName('site');
  const user = 'puller';
  let registry: Registry;
  let keys: TempDir;
  let dockerConfig: TempDir;
  let images: Record<string, string> = {};
  const outputs: { command: string; result: RunResult }[] = [];
  const run = async (args: string[], options: { stdin?: string; env?: Record<string, string> } = {}) => {
    const env = {
      CAPSTAN_REPO: agent.repo.url,
      CAPSTAN_STATE_DIR: agent.state.path,
      CAPSTAN_NODE: node,
      CAPSTAN_KEY_FILE: join(keys.path, 'keys'),
      CAPSTAN_LOG_LEVEL: 'debug',
      // No Docker config of the machine running the tests may lend credentials.
      DOCKER_CONFIG: join(keys.path, 'no-docker-config'),
      ...options.env,
    };
    const result = await runCapstan(args, { timeoutMs: 180_000, stdin: options.stdin, env });
    outputs.push({ command: args.join(' '), result });
    return result;
  };
  const setSecret = async (name: string, value: string) => {
    const result = await run(['secrets', 'set', join(agent.repo.workDir, 'capstan.env'), name], { stdin: value + '\n' });
    assert.equal(result.code, 0, result.stderr);
  };
  const variable = (suffix: string) => `REGISTRY_${registry.host.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_${suffix}`;
  const privateApp = (image: string) => `app: ${app}\nservices:\n  web:\n    image: ${image}\n    command: ${SLEEPER}\n    update: { monitor: 1s }\n`;
  const push = async (files: Record<string, string | null>, message: string) => {
    await agent.repo.write(files);
    await agent.repo.commit(message);
    await agent.repo.push();
  };
  const siteManifest = () => `app: ${site}\nservices:\n  web:\n    build:\n      context: site\n      args: { TOKEN: "\${BUILD_TOKEN}" }\n    command: ${SLEEPER}\n    update: { monitor: 1s }\n`;
  const siteV1 = () => ({
    [`${app}.yaml`]: null,
    [`${site}.yaml`]: siteManifest(),
    'site/Dockerfile': 'FROM local/busybox:1\nARG TOKEN\nCOPY . /ctx\nRUN echo "token is $TOKEN" && echo built > /built\n',
    'site/index.html': 'v1\n',
    'site/.dockerignore': 'notes.txt\n',
    'site/notes.txt': 'left out\n',
  });
  /** The site app built and running (as the build test leaves it); built here when missing. */
  const ensureSite = async () => {
    if ((await listManaged(node)).some((container) => container.app === site)) return;
    await setSecret('BUILD_TOKEN', BUILD_TOKEN);
    await push(siteV1(), 'site v1');
    const result = await run(['once']);
    assert.equal(result.code, 0, result.stderr);
  };

  before(async () => {
    registry = await startRegistry({ user, password: PASSWORD });
    for (const tag of ['v1', 'v2']) images[tag] = await registry.pushImage(`capstan-test/${app}`, tag);
    keys = await agent.tempDir('capstan-spec-images-keys');
    dockerConfig = await agent.tempDir('capstan-spec-images-docker-config');
    assert.equal((await run(['secrets', 'keygen'])).code, 0);
  });

  // After the label cleanup, whatever it meets.
  agent.defer(async () => {
    const built = await docker.listImages({ filters: { label: [`capstan.node=${node}`] } });
    for (const image of [...Object.values(images), ...built.map((entry) => entry.Id)]) await docker.getImage(image).remove({ force: true }).catch(() => undefined);
    await registry?.close();
    for (const dir of [keys, dockerConfig]) await dir?.cleanup();
    images = {};
  });

  it('a private image does not pull without credentials, and nothing is started', async () => {
    await push({ [`${app}.yaml`]: privateApp(images.v1) }, 'private v1');
    const result = await run(['once']);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /pull image/);
    assert.deepEqual(await listManaged(node), []);
  });

  it('pulls with the credentials of the encrypted capstan.env', async () => {
    await setSecret(variable('USERNAME'), user);
    await setSecret(variable('PASSWORD'), PASSWORD);
    // The private app as the first test pushed it (the same file when that test ran).
    await agent.repo.write({ [`${app}.yaml`]: privateApp(images.v1) });
    await agent.repo.commit('registry credentials');
    await agent.repo.push();
    const plan = await run(['plan']);
    assert.equal(plan.code, 2, plan.stderr);
    assert.match(plan.stdout, new RegExp(`pull image ${images.v1.replace(/[.]/g, '\\.')}\\s+image not present`));
    const result = await run(['once']);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual((await listManaged(node)).map((container) => container.image), [images.v1]);
  });

  it("falls back to the host's Docker config", async () => {
    const auth = Buffer.from(`${user}:${PASSWORD}`).toString('base64');
    await writeFile(join(dockerConfig.path, 'config.json'), JSON.stringify({ auths: { [registry.host]: { auth } } }));
    await push({ 'capstan.env': null, [`${app}.yaml`]: privateApp(images.v2) }, 'private v2, no repository credentials');
    const result = await run(['once'], { env: { DOCKER_CONFIG: dockerConfig.path } });
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual((await listManaged(node)).map((container) => container.image), [images.v2]);
  });

  it('builds an image from the checkout, honouring .dockerignore, and tags it by its context', async () => {
    await setSecret('BUILD_TOKEN', BUILD_TOKEN);
    await push(siteV1(), 'site v1');
    const plan = await run(['plan']);
    assert.equal(plan.code, 2, plan.stderr);
    const tag = new RegExp(`build image (capstan/${site}-web:[0-9a-f]{24})\\s+image not present \\(built from site\\)`).exec(plan.stdout);
    assert.ok(tag, plan.stdout);
    const result = await run(['once']);
    assert.equal(result.code, 0, result.stderr);
    const [container] = await listManaged(node);
    assert.equal(container.image, tag[1]);
    assert.equal((await exec(container.id, ['cat', '/ctx/index.html'])).stdout, 'v1\n');
    assert.notEqual((await exec(container.id, ['cat', '/ctx/notes.txt'])).exitCode, 0, '.dockerignore kept notes.txt out');
    assert.equal((await exec(container.id, ['cat', '/built'])).stdout, 'built\n');
    const labels = (await docker.getImage(tag[1]).inspect()).Config.Labels ?? {};
    assert.equal(labels['capstan.node'], node);

    const again = await run(['plan']);
    assert.equal(again.code, 0, 'an unchanged context is not built again');
    await push({ 'site/notes.txt': 'still left out, changed\n' }, 'an ignored file changes');
    assert.equal((await run(['plan'])).code, 0, 'a change to an ignored file builds nothing');
    await push({ 'site/index.html': 'v2\n' }, 'site v2');
    const changed = await run(['plan']);
    assert.equal(changed.code, 2);
    assert.match(changed.stdout, /build image capstan\//);
    assert.doesNotMatch(changed.stdout, new RegExp(tag[1]));
    assert.equal((await run(['once'])).code, 0);
    const [rebuilt] = await listManaged(node);
    assert.equal((await exec(rebuilt.id, ['cat', '/ctx/index.html'])).stdout, 'v2\n');
  });

  it('a Dockerfile that does not build fails with its error, changes nothing, quarantines the commit and keeps the build output', async () => {
    await ensureSite();
    const before = (await listManaged(node)).map((container) => container.id);
    await push({ 'site/Dockerfile': 'FROM local/busybox:1\nARG TOKEN\nRUN echo compiling step 7 of 9 with $TOKEN && exit 3\n' }, 'broken build');
    const broken = (await agent.repo.git('rev-parse', 'HEAD')).trim();
    const result = await run(['once']);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /returned a non-zero code: 3/);
    assert.deepEqual((await listManaged(node)).map((container) => container.id), before);
    const status = JSON.parse((await run(['status', '--json'])).stdout) as { quarantined: { commit: string }[] };
    assert.deepEqual(status.quarantined.map((entry) => entry.commit), [broken], 'not built again every cycle');
    // Issue 14: the build's last output is kept (build arguments masked) and shown.
    const history = await run(['history', broken]);
    assert.match(history.stdout, /last output of build of capstan\/\S+:\n(?: +\|.*\n)* +\| compiling step 7 of 9 with \*\*\*\n/);
    assert.match((await run(['status'])).stdout, /compiling step 7 of 9 with \*\*\*/);
  });

  it('no registry password or build argument reached any output, file of the state dir, or label', async () => {
    const leaks: string[] = [];
    const check = (where: string, text: string) => {
      for (const sentinel of [PASSWORD, BUILD_TOKEN]) if (text.includes(sentinel)) leaks.push(`${sentinel.slice(0, 17)}… in ${where}`);
    };
    // The build whose output is searched, when this test runs without the build test.
    await ensureSite();
    assert.ok(outputs.length >= 3);
    for (const { command, result } of outputs) {
      check(`stdout of capstan ${command}`, result.stdout);
      check(`stderr of capstan ${command}`, result.stderr);
    }
    assert.ok(outputs.some(({ result }) => result.stderr.includes('token is ***')), 'the build output was logged (at debug), masked');
    for (const file of await filesUnder(agent.state.path)) check(file, (await readFile(file)).toString('latin1'));
    for (const container of await listManaged(node)) check(`labels of ${container.name}`, JSON.stringify(container.labels));
    assert.deepEqual(leaks, []);
  });
});
