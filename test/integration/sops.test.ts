import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { before, describe, it } from 'node:test';
import type { RunResult } from '../helpers/cli.js';
import { docker, exec } from '../helpers/docker.js';
import { sharedAgent, SLEEPER } from '../helpers/fixture.js';
import { filesUnder } from '../helpers/paths.js';
import { ageKeygen, buildSopsFile, type AgeKeyPair } from '../helpers/sops.js';

// Issue 18 end to end: a Compose app whose `.env` is a SOPS dotenv file and whose `env_file` is
// a SOPS YAML file (data keys wrapped for an age recipient by Debian's age CLI), pushed to a real
// git server and applied by `capstan once` to a real engine with CAPSTAN_AGE_KEY_FILE. A tampered
// file and a wrong key change nothing; the values reach the containers and nothing else.

const TOKEN = 'test-token-sops-51ab';
const DOTENV_SECRET = `S0PS-${randomBytes(8).toString('hex')}`;
const YAML_SECRET = `S0PS-${randomBytes(8).toString('hex')}`;
const FILE_SECRET = `S0PS-${randomBytes(8).toString('hex')}`;
const SENTINELS = [DOTENV_SECRET, YAML_SECRET, FILE_SECRET];

function compose(app: string): string {
  return `name: ${app}
services:
  web:
    image: local/busybox:1
    command: ${SLEEPER}
    env_file: [secrets.sops.yaml]
    environment:
      FROM_DOTENV: \${DOTENV_SECRET}
    secrets: [db_password]
secrets:
  db_password:
    file: ./db_password.sops
`;
}

describe('SOPS files from the repository to the containers (age key)', () => {
  // The app deployed with good files in before; each test pushes the files it needs (a tampered
  // .env, or the good files again) and the last searches every output the file's tests made.
  const agent = sharedAgent({ app: 'sops', token: TOKEN, env: { SOPS_AGE_KEY_FILE: undefined } });
  const { app } = agent;
  let hostKey: AgeKeyPair;
  let wrongKey: AgeKeyPair;
  let goodFiles: Record<string, string>;
  const goodDotenv = () => goodFiles[`apps/${app}/.env`];
  const outputs: RunResult[] = [];

  const once = async (ageKeyFile: string): Promise<RunResult> => {
    const result = await agent.run(['once'], { env: { CAPSTAN_LOG_LEVEL: 'debug', CAPSTAN_AGE_KEY_FILE: ageKeyFile } });
    outputs.push(result);
    return result;
  };
  const container = () => agent.container('web');
  const envOf = async (name: string) => {
    const result = await exec((await container()).id, ['sh', '-c', `printf '%s' "$${name}"`]);
    assert.equal(result.exitCode, 0, result.stderr);
    return result.stdout;
  };

  before(async () => {
    const keys = await agent.tempDir('capstan-sops-keys');
    hostKey = ageKeygen(keys.path, 'host.key');
    wrongKey = ageKeygen(keys.path, 'wrong.key');
    goodFiles = {
      [`apps/${app}/compose.yaml`]: compose(app),
      [`apps/${app}/.env`]: await buildSopsFile({ format: 'dotenv', values: { DOTENV_SECRET }, keyGroups: [[hostKey.recipient]] }),
      [`apps/${app}/db_password.sops`]: await buildSopsFile({ format: 'json', values: { data: FILE_SECRET }, keyGroups: [[hostKey.recipient]] }),
      [`apps/${app}/secrets.sops.yaml`]: await buildSopsFile({ format: 'yaml', values: { YAML_SECRET, LEVEL_unencrypted: 'info' }, keyGroups: [[hostKey.recipient]] }),
    };
    await agent.push(goodFiles, 'a Compose app with SOPS env files');
    const result = await once(hostKey.file);
    assert.equal(result.code, 0, result.stderr);
  });

  it('deploys a Compose app whose .env is a SOPS dotenv file, whose env_file is SOPS YAML and whose secret is a SOPS binary file', async () => {
    assert.equal(await envOf('FROM_DOTENV'), DOTENV_SECRET);
    assert.equal(await envOf('YAML_SECRET'), YAML_SECRET);
    assert.equal(await envOf('LEVEL_unencrypted'), 'info');
    const secretFile = await exec((await container()).id, ['sh', '-c', 'cat /run/secrets/db_password; echo; stat -c %a /run/secrets/db_password']);
    assert.equal(secretFile.stdout, `${FILE_SECRET}\n400\n`);
  });

  it('a tampered .env (values moved between keys) is refused by file, line and key; nothing changes', async () => {
    const before = (await container()).id;
    const lines = goodDotenv().split('\n');
    // A second variable, then the two encrypted values swapped: each decrypts only under its own key.
    const other = await buildSopsFile({ format: 'dotenv', values: { DOTENV_SECRET, OTHER: 'x' }, keyGroups: [[hostKey.recipient]] });
    const otherLines = other.split('\n');
    const valueOf = (line: string) => line.slice(line.indexOf('=') + 1);
    const swapped = [`DOTENV_SECRET=${valueOf(otherLines[1])}`, `OTHER=${valueOf(otherLines[0])}`, ...otherLines.slice(2)].join('\n');
    assert.notEqual(lines[0], swapped.split('\n')[0]);
    await agent.push({ [`apps/${app}/.env`]: swapped }, 'tampered .env');

    const result = await once(hostKey.file);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /SOPS_TAMPERED/);
    assert.match(result.stderr, new RegExp(`apps/${app}/\\.env:1:1: DOTENV_SECRET`));
    assert.equal((await container()).id, before);
    assert.equal(await envOf('FROM_DOTENV'), DOTENV_SECRET);
  });

  it('a wrong key is refused with the recipients it needs; nothing changes', async () => {
    await agent.push(goodFiles, 'the good files');
    const before = (await container()).id;
    const result = await once(wrongKey.file);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /SOPS_NO_MATCHING_KEY/);
    assert.ok(result.stderr.includes(hostKey.recipient), result.stderr);
    assert.equal((await container()).id, before);
  });

  it('doctor says which SOPS files this host\'s keys open, and which they do not', async () => {
    await agent.push(goodFiles, 'the good files');
    const doctor = async (ageKeyFile: string) => {
      const result = await agent.run(['doctor', '--json'], { env: { CAPSTAN_AGE_KEY_FILE: ageKeyFile } });
      outputs.push(result);
      const checks = JSON.parse(result.stdout) as Array<{ name: string; status: string; detail: string }>;
      return Object.fromEntries(checks.map((check) => [check.name, check]));
    };
    const good = await doctor(hostKey.file);
    assert.equal(good['sops keys'].status, 'ok');
    assert.ok(good['sops keys'].detail.includes(hostKey.recipient));
    assert.equal(good['sops files'].status, 'ok', good['sops files'].detail);
    assert.match(good['sops files'].detail, /3 open with this host's keys/);
    const wrong = await doctor(wrongKey.file);
    assert.equal(wrong['sops files'].status, 'fail');
    assert.ok(wrong['sops files'].detail.includes(`apps/${app}/.env`) && wrong['sops files'].detail.includes(hostKey.recipient), wrong['sops files'].detail);
  });

  it('no value in any output, any state file (SQLite and WAL) or any label', async () => {
    for (const result of outputs) {
      for (const sentinel of SENTINELS) assert.ok(!result.stdout.includes(sentinel) && !result.stderr.includes(sentinel), 'no value in command output');
    }
    for (const file of await filesUnder(agent.state.path)) {
      const bytes = await readFile(file);
      for (const sentinel of SENTINELS) assert.ok(!bytes.includes(sentinel), `no value in ${file}`);
    }
    const inspected = await docker.getContainer((await container()).id).inspect();
    for (const sentinel of SENTINELS) assert.ok(!JSON.stringify(inspected.Config.Labels).includes(sentinel), 'no value in labels');
  });
});
