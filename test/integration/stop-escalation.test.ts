import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runCapstan } from '../helpers/cli.js';
import { uniqueName } from '../helpers/docker.js';
import { sharedAgent } from '../helpers/fixture.js';

// Issue 14: a replica that ignores SIGTERM is killed by Docker after its grace period; the log
// says so, naming the container, instead of a replacement that silently took the grace period.

function manifest(app: string, version: string, ignoresTerm: boolean): string {
  const command = ignoresTerm ? `["sh", "-c", "trap '' TERM; sleep 3600 & wait"]` : `["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]`;
  return [
    `app: ${app}`,
    'services:',
    '  web:',
    '    image: local/busybox:1',
    `    command: ${command}`,
    `    environment: { VERSION: "${version}" }`,
    '    stop_grace_period: 1s',
    '    update: { monitor: 1s }',
    '',
  ].join('\n');
}

describe('stop escalated to SIGKILL is logged', () => {
  const agent = sharedAgent({ repoName: 'sigkill' });
  const app = uniqueName('sigkill');
  const capstan = (...args: string[]) => runCapstan(args, { timeoutMs: 180_000, env: agent.env() });
  const push = async (text: string) => {
    await agent.repo.write({ [`${app}.yaml`]: text });
    await agent.repo.commit('change');
    await agent.repo.push();
  };

  it('logs a replica that ignored SIGTERM and was killed after the grace period, and not one that exited', async () => {
    await push(manifest(app, 'v1', true));
    assert.equal((await capstan('once')).code, 0);
    await push(manifest(app, 'v2', false));
    const replaced = await capstan('once');
    assert.equal(replaced.code, 0, replaced.stderr);
    const line = replaced.stderr.split('\n').find((entry) => entry.includes('killed (SIGKILL) after the grace period'));
    assert.ok(line, replaced.stderr);
    const logged = JSON.parse(line) as { level: number; container: string; graceSeconds: number; exitCode: number };
    assert.equal(logged.level, 40);
    assert.equal(logged.container, `${app}-web-1`);
    assert.equal(logged.graceSeconds, 1);
    assert.equal(logged.exitCode, 137);
    // v2 exits on SIGTERM: its replacement is no escalation.
    await push(manifest(app, 'v3', false));
    const clean = await capstan('once');
    assert.equal(clean.code, 0, clean.stderr);
    assert.doesNotMatch(clean.stderr, /SIGKILL/);
  });
});
