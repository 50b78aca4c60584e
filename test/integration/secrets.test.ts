import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import type { RunResult } from '../helpers/cli.js';
import { docker, exec } from '../helpers/docker.js';
import { sharedAgent, SLEEPER } from '../helpers/fixture.js';
import { filesUnder } from '../helpers/paths.js';

// Issue 3 end to end: env files encrypted with the real `capstan secrets` commands in the
// manifests repository's working copy, pushed to a real git server, applied by `capstan once` to
// a real Docker engine. Sentinel values must reach the containers and nothing else: no command
// output, no file of the state dir (SQLite and its WAL included), no Docker label.

const TOKEN = 'test-token-secrets-9c2e';
const FIRST = `S3NT1NEL-${randomBytes(8).toString('hex')}`;
const SECOND = `S3NT1NEL-${randomBytes(8).toString('hex')}`;
const SENTINELS = [FIRST, SECOND];

function manifest(app: string): string {
  return `app: ${app}
env_files: [${app}.env]
services:
  api:
    image: local/busybox:1
    command: ${SLEEPER}
    environment:
      DB_PASSWORD: \${DB_PASSWORD}
    secrets:
      /run/secrets/db_password: \${DB_PASSWORD}
  web:
    image: local/busybox:1
    command: ${SLEEPER}
    env_files: [web.env]
    environment:
      GREETING: \${GREETING}
`;
}

describe('secrets: encrypted env files from the repository to the containers', () => {
  // The app is deployed in before; each test changes what it checks (a value, the key, a tampered
  // file) on top of whatever the tests before it left, and the last searches every output.
  const agent = sharedAgent({ app: 'vault', token: TOKEN, env: { CAPSTAN_LOG_LEVEL: 'debug' } });
  const { app } = agent;
  const envPath = `apps/${app}.env`;
  let keyFile: string;
  /** Every command's output, searched for the sentinels at the end. */
  const outputs: { command: string; result: RunResult }[] = [];

  const run = async (args: string[], options: { stdin?: string; keyFile?: boolean } = {}): Promise<RunResult> => {
    const result = await agent.run([...args, ...(options.keyFile === false ? [] : ['--key-file', keyFile])], { stdin: options.stdin });
    outputs.push({ command: args.join(' '), result });
    return result;
  };
  const setSecret = async (file: string, name: string, value: string) => {
    const result = await run(['secrets', 'set', join(agent.repo.workDir, file), name], { stdin: value + '\n' });
    assert.equal(result.code, 0, result.stderr);
  };
  const ids = agent.ids;
  const containerOf = (service: string) => agent.container(service);
  /** busybox here has no `printenv` applet; `sh` prints one variable, exactly. */
  const envOf = (service: string, name: string) => inContainer(service, ['sh', '-c', `printf '%s' "$${name}"`]);
  const inContainer = async (service: string, cmd: string[]) => {
    const result = await exec((await containerOf(service)).id, cmd);
    assert.equal(result.exitCode, 0, result.stderr);
    return result.stdout;
  };

  before(async () => {
    keyFile = join((await agent.tempDir('capstan-secrets-keys')).path, 'capstan.keys');
    const keygen = await run(['secrets', 'keygen']);
    assert.equal(keygen.code, 0, keygen.stderr);
    await agent.repo.write({ [`apps/${app}.yaml`]: manifest(app) });
    await setSecret(envPath, 'DB_PASSWORD', FIRST);
    await setSecret(envPath, 'GREETING', 'hello');
    await setSecret('apps/web.env', 'LEVEL', 'info');
    assert.ok(!(await readFile(join(agent.repo.workDir, envPath), 'utf8')).includes(FIRST), 'the committed file holds no plaintext');
    await agent.repo.commit('add the vault app');
    await agent.repo.push();
    const result = await run(['once']);
    assert.equal(result.code, 0, result.stderr);
  });

  it('delivers values from encrypted env files as environment variables and as a 0400 file', async () => {
    assert.equal((await stat(keyFile)).mode & 0o777, 0o600);
    assert.deepEqual(Object.keys(await ids()), [`${app}-api-1`, `${app}-web-1`]);
    assert.equal(await envOf('api', 'DB_PASSWORD'), FIRST);
    assert.equal(await inContainer('api', ['cat', '/run/secrets/db_password']), FIRST);
    assert.equal(await inContainer('api', ['stat', '-c', '%a %u:%g', '/run/secrets/db_password']), '400 0:0\n');
    assert.equal(await envOf('web', 'GREETING'), 'hello');
    assert.equal(await envOf('web', 'LEVEL'), 'info');
  });

  it('refuses to load without the key file and changes nothing', async () => {
    const before = await ids();
    const result = await run(['once'], { keyFile: false });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /SECRETS_NO_KEY/);
    assert.match(result.stderr, new RegExp(`apps/${app}\\.yaml:2:\\d+: env_files\\[0\\]`));
    assert.deepEqual(await ids(), before);
  });

  it('plan, status and history run with the secrets in place', async () => {
    const plan = await run(['plan']);
    assert.equal(plan.code, 0, plan.stdout + plan.stderr);
    assert.equal((await run(['plan', '--json'])).code, 0);
    assert.equal((await run(['status', '--json'], { keyFile: false })).code, 0);
    assert.equal((await run(['history', '--json'], { keyFile: false })).code, 0);
  });

  it('a changed value replaces exactly the service that uses it', async () => {
    const before = await ids();
    await setSecret(envPath, 'DB_PASSWORD', SECOND);
    await agent.repo.commit('new database password');
    await agent.repo.push();

    const plan = await run(['plan']);
    assert.equal(plan.code, 2, plan.stdout + plan.stderr);
    assert.match(plan.stdout, /config-hash changed/);
    assert.doesNotMatch(plan.stdout, new RegExp(`${app}-web`));

    const result = await run(['once']);
    assert.equal(result.code, 0, result.stderr);
    const afterIds = await ids();
    assert.notEqual(afterIds[`${app}-api-1`], before[`${app}-api-1`]);
    assert.equal(afterIds[`${app}-web-1`], before[`${app}-web-1`]);
    assert.equal(Object.keys(afterIds).length, 2);
    assert.equal(await inContainer('api', ['cat', '/run/secrets/db_password']), SECOND);
    assert.equal(await envOf('api', 'DB_PASSWORD'), SECOND);
  });

  it('rotating to a new key replaces no container', async () => {
    const before = await ids();
    const oldText = await readFile(join(agent.repo.workDir, envPath), 'utf8');
    assert.equal((await run(['secrets', 'keygen', '--add'])).code, 0);
    const rotate = await run(['secrets', 'rotate', join(agent.repo.workDir, envPath), join(agent.repo.workDir, 'apps/web.env')]);
    assert.equal(rotate.code, 0, rotate.stderr);
    const newText = await readFile(join(agent.repo.workDir, envPath), 'utf8');
    assert.notEqual(newText.split('\n')[0], oldText.split('\n')[0], 'the header names the new key');
    await agent.repo.commit('rotate the secrets key');
    await agent.repo.push();

    const result = await run(['once']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^in-sync/);
    assert.deepEqual(await ids(), before);
  });

  it('a tampered env file is refused, named, and changes nothing', async () => {
    const before = await ids();
    const lines = (await readFile(join(agent.repo.workDir, envPath), 'utf8')).split('\n');
    const index = lines.findIndex((line) => line.startsWith('DB_PASSWORD='));
    const token = lines[index].slice('DB_PASSWORD='.length);
    lines[index] = `DB_PASSWORD=${token.slice(0, 30)}${token[30] === 'A' ? 'B' : 'A'}${token.slice(31)}`;
    await agent.repo.write({ [envPath]: lines.join('\n') });
    await agent.repo.commit('tamper with the env file');
    await agent.repo.push();

    const result = await run(['once']);
    assert.equal(result.code, 1);
    assert.match(result.stderr, new RegExp(`${envPath.replace('.', '\\.')}:${index + 1}:1: DB_PASSWORD: .*\\[SECRETS_TAMPERED\\]`));
    assert.deepEqual(await ids(), before);
    const status = JSON.parse((await run(['status', '--json'])).stdout) as { lastError: { code: string } };
    assert.equal(status.lastError.code, 'MANIFEST_INVALID');
    assert.equal((await run(['plan'])).code, 1);
    assert.equal((await run(['history', '--json'])).code, 0);
  });

  it('no value reached any output, file of the state dir, or Docker label', async () => {
    const leaks: string[] = [];
    const check = (where: string, text: string) => {
      for (const sentinel of SENTINELS) if (text.includes(sentinel)) leaks.push(`${sentinel === FIRST ? 'first' : 'second'} value in ${where}`);
    };
    // Run here too, so the reading commands are searched when this test runs alone.
    for (const args of [['plan'], ['status', '--json'], ['history', '--json']]) await run(args);
    assert.ok(outputs.length >= 8, 'every command was recorded');
    for (const { command, result } of outputs) {
      check(`stdout of capstan ${command}`, result.stdout);
      check(`stderr of capstan ${command}`, result.stderr);
    }
    const files = await filesUnder(agent.state.path);
    assert.ok(files.some((file) => file.endsWith('capstan.db')), 'the SQLite file is among the files searched');
    for (const file of files) check(file, (await readFile(file)).toString('latin1'));
    const containers = await agent.managed();
    assert.equal(containers.length, 2);
    for (const container of containers) {
      const inspected = await docker.getContainer(container.id).inspect();
      check(`labels of ${container.name}`, JSON.stringify(inspected.Config.Labels));
      // The search works: it finds the value where it belongs, in the api's environment.
      if (container.service === 'api') assert.ok(SENTINELS.some((sentinel) => JSON.stringify(inspected.Config.Env).includes(sentinel)));
    }
    assert.deepEqual(leaks, []);
  });
});
