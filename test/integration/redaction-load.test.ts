import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { runCapstan, type RunResult } from '../helpers/cli.js';
import { uniqueName } from '../helpers/docker.js';
import { sharedAgent } from '../helpers/fixture.js';
import type { TempDir } from '../helpers/paths.js';

// A commit that fails to load because of a secret value (used as a volume name, as a bind path)
// used to carry the value into the error, the agent's log, SQLite and the "cycles failed in a
// row" notification: values to redact were collected only from commits that loaded. They are
// now registered the moment they are decrypted. And `plan` never prints an image named from one.

describe('redaction: a commit that fails to load on a secret value leaks nothing', () => {
  const agent = sharedAgent({ repoName: 'redaction-load' });
  const { node } = agent;
  const app = uniqueName('redact-load');
  const tag = randomBytes(5).toString('hex');
  const VOLUME = `S3NT1NEL-volume-${tag}`;
  const BIND = `/srv/S3NT1NEL-bind-${tag}`;
  const IMAGE_PART = `s3nt1nel-image-${tag}`;
  let keys: TempDir;
  let receiver: Server;
  let receiverUrl = '';
  const received: string[] = [];
  const outputs: RunResult[] = [];
  const run = async (args: string[], stdin?: string) => {
    const result = await runCapstan([...args, '--key-file', join(keys.path, 'capstan.keys')], {
      timeoutMs: 120_000,
      stdin,
      env: { CAPSTAN_REPO: agent.repo.url, CAPSTAN_STATE_DIR: agent.state.path, CAPSTAN_NODE: node, CAPSTAN_LOG_LEVEL: 'debug', CAPSTAN_NOTIFY: `webhook+${receiverUrl}/hook` },
    });
    outputs.push(result);
    return result;
  };
  const leaks = (text: string | Buffer) => [VOLUME, BIND, IMAGE_PART, 'S3NT1NEL', 's3nt1nel'].filter((value) => text.includes(value));

  before(async () => {
    receiver = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        if (received.length < 50) received.push(Buffer.concat(chunks).toString());
        response.writeHead(200).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
    keys = await agent.tempDir('capstan-redact-load-keys');
  });

  // After the label cleanup, whatever it meets.
  agent.defer(async () => {
    await new Promise((resolve) => receiver?.close(resolve));
    await keys?.cleanup();
  });

  it('keeps the values out of the error, the log, SQLite, status, history and the commit-refused notification', async () => {
    assert.equal((await run(['secrets', 'keygen'])).code, 0);
    mkdirSync(join(agent.repo.workDir, 'apps'), { recursive: true });
    const envPath = join(agent.repo.workDir, 'apps', 'store.env');
    for (const [name, value] of [['VOL', VOLUME], ['BIND_PATH', BIND], ['IMAGE_PART', IMAGE_PART]]) {
      assert.equal((await run(['secrets', 'set', envPath, name], `${value}\n`)).code, 0);
    }
    await agent.repo.write({
      [`apps/${app}.yaml`]: `app: ${app}\nenv_files: [store.env]\nservices:\n  web:\n    image: local/busybox:1\n    volumes: ["\${VOL}:/data", "\${BIND_PATH}:/srv"]\n`,
    });
    await agent.repo.commit('secrets used where they cannot be');
    await agent.repo.push();

    // The commit does not load: its cycles are blocked, and the refusal is notified once.
    for (let attempt = 0; attempt < 3; attempt++) {
      const result = await run(['once']);
      assert.equal(result.code, 1, 'the commit does not load');
      assert.match(result.stderr, /\[redacted\]/, 'the failure is reported, the values scrubbed');
    }
    await run(['status', '--json']);
    await run(['history', '--json']);
    assert.ok(received.some((body) => body.includes('commit-refused')), `the commit-refused notification was sent: ${received.join('\n')}`);
    for (const body of received) assert.deepEqual(leaks(body), [], `notification ${body}`);

    // A commit that loads, with an image named from a secret: plan prints it scrubbed.
    await agent.repo.write({ [`apps/${app}.yaml`]: `app: ${app}\nenv_files: [store.env]\nservices:\n  web:\n    image: local/\${IMAGE_PART}:1\n` });
    await agent.repo.commit('an image named from a secret');
    await agent.repo.push();
    const plan = await run(['plan']);
    assert.equal(plan.code, 2, plan.stdout + plan.stderr);
    assert.match(plan.stdout, /pull image local\/\[redacted\]:1/);
    const planJson = await run(['plan', '--json']);
    assert.equal(planJson.code, 2, planJson.stderr);
    // Applied: the pull fails (no such image); the operation's log lines and its journal row
    // in SQLite name the image, scrubbed (checked with every output and state file below).
    const applied = await run(['once']);
    assert.equal(applied.code, 1, applied.stderr);
    assert.match(applied.stderr, /pull image local\/\[redacted\]:1/);

    for (const output of outputs) {
      assert.deepEqual(leaks(output.stdout), [], `stdout of a command: ${output.stdout}`);
      assert.deepEqual(leaks(output.stderr), [], `stderr of a command: ${output.stderr}`);
    }
    for (const file of readdirSync(agent.state.path)) {
      const path = join(agent.state.path, file);
      if (statSync(path).isFile()) assert.deepEqual(leaks(readFileSync(path)), [], `${file} holds no value`);
    }
  });
});
