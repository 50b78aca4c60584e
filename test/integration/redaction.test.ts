import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { runCapstan, type RunResult } from '../helpers/cli.js';
import { docker, uniqueName } from '../helpers/docker.js';
import { sharedAgent } from '../helpers/fixture.js';
import type { TempDir } from '../helpers/paths.js';

// Capstan's own messages never hold a value; Docker's can. A command built from a secret that
// Docker cannot execute makes Docker quote it ("exec: \"<value>\": executable file not found"):
// that text must be scrubbed before any log line, SQLite row, status or history shows it.

describe('redaction: secret values quoted by Docker never leave Capstan', () => {
  const agent = sharedAgent({ repoName: 'redaction' });
  const { node } = agent;
  const app = uniqueName('redact');
  const SENTINEL = `S3NT1NEL-cmd-${randomBytes(6).toString('hex')}`;
  let keys: TempDir;
  const outputs: RunResult[] = [];
  const run = async (args: string[], stdin?: string) => {
    const result = await runCapstan([...args, '--key-file', join(keys.path, 'capstan.keys')], {
      timeoutMs: 120_000,
      stdin,
      env: agent.env({ CAPSTAN_LOG_LEVEL: 'debug' }),
    });
    outputs.push(result);
    return result;
  };

  before(async () => {
    keys = await agent.tempDir('capstan-redact-keys');
  });

  // After the label cleanup, whatever it meets.
  agent.defer(async () => {
    await keys?.cleanup();
  });

  it('scrubs the value from the failure everywhere it is reported', async () => {
    assert.equal((await run(['secrets', 'keygen'])).code, 0);
    mkdirSync(join(agent.repo.workDir, 'apps'), { recursive: true });
    assert.equal((await run(['secrets', 'set', join(agent.repo.workDir, 'apps', 'tool.env'), 'TOOL'], `${SENTINEL}\n`)).code, 0);
    await agent.repo.write({ [`apps/${app}.yaml`]: `app: ${app}\nenv_files: [tool.env]\nservices:\n  job:\n    image: local/busybox:1\n    command: ["\${TOOL}"]\n    update: { monitor: 1s }\n` });
    await agent.repo.commit('a command from a secret');
    await agent.repo.push();

    const result = await run(['once']);
    assert.equal(result.code, 1, 'Docker cannot start it');
    assert.match(result.stderr, /\[redacted\]/, 'the failure is reported, with the value scrubbed');
    await run(['status', '--json']);
    await run(['history', '--json']);

    for (const output of outputs) {
      assert.ok(!output.stdout.includes(SENTINEL) && !output.stderr.includes(SENTINEL), 'no command output holds the value');
    }
    for (const file of readdirSync(agent.state.path)) {
      const path = join(agent.state.path, file);
      if (statSync(path).isFile()) assert.ok(!readFileSync(path).includes(SENTINEL), `${file} holds no value`);
    }
    const containers = await docker.listContainers({ all: true, filters: { label: [`capstan.node=${node}`] } });
    assert.ok(containers.length > 0);
    for (const container of containers) assert.ok(!JSON.stringify(container.Labels).includes(SENTINEL), 'no label holds the value');
  });

  it('scrubs the value from the kept output of a failed replica that printed it (issue 14)', async () => {
    const migrate = `${app}m`;
    await agent.repo.write({ [`apps/${migrate}.yaml`]: `app: ${migrate}\nenv_files: [tool.env]\nservices:\n  migrate:\n    image: local/busybox:1\n    restart: "no"\n    environment: { TOKEN: "\${TOOL}" }\n    command: ["sh", "-c", "echo connecting with $$TOKEN; echo auth failed for $$TOKEN >&2; exit 3"]\n` });
    await agent.repo.commit('a migration that prints its secret');
    await agent.repo.push();
    const result = await run(['once']);
    assert.equal(result.code, 1);
    const history = await run(['history', '--json']);
    const kept = (JSON.parse(history.stdout) as { failureOutputs: { output: string }[] }[]).flatMap((cycle) => cycle.failureOutputs);
    assert.ok(kept.some((entry) => /auth failed for \[redacted\]/.test(entry.output)), JSON.stringify(kept));
    assert.match((await run(['status'])).stdout, /connecting with \[redacted\]/);
    for (const output of outputs) assert.ok(!output.stdout.includes(SENTINEL) && !output.stderr.includes(SENTINEL), 'no command output holds the value');
    for (const file of readdirSync(agent.state.path)) {
      const path = join(agent.state.path, file);
      if (statSync(path).isFile()) assert.ok(!readFileSync(path).includes(SENTINEL), `${file} holds no value`);
    }
  });
});
