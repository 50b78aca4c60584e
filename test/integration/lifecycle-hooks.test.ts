import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { demuxLogs } from '../../agent/output/frames.js';
import { join } from 'node:path';
import { openDb } from '../../agent/state/db.js';
import { StateStore } from '../../agent/state/store.js';
import { stopProcess } from '../helpers/cli.js';
import { docker } from '../helpers/docker.js';
import { agentFor, SLEEPER } from '../helpers/fixture.js';

// Issue 23: Compose's `post_start` and `pre_stop` lifecycle hooks, run with `docker exec` in the
// replicas on the real engine: after a start (before the replica counts as ready), and before a
// stop. Each test has its own agent, app and volume.

function manifest(app: string, options: { version: string; postStart?: string; preStop?: string }): string {
  return `app: ${app}
volumes:
  data: { shared: true }
services:
  web:
    image: local/busybox:1
    command: ${SLEEPER}
    environment: { VERSION: "${options.version}" }
    volumes: ["data:/data"]
    update: { monitor: 1s, progress_deadline: 60s }
    stop_grace_period: 5s
${options.postStart ? `    post_start:\n${options.postStart}` : ''}${options.preStop ? `    pre_stop:\n${options.preStop}` : ''}`;
}

/** A file's content inside a running container, read with docker exec (bounded by the test's timeout). */
async function readInside(id: string, path: string): Promise<string> {
  const exec = await docker.getContainer(id).exec({ Cmd: ['cat', path], AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({ hijack: true, stdin: false });
  const chunks: Buffer[] = [];
  await new Promise<void>((resolve) => {
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', resolve);
    stream.on('close', resolve);
    stream.on('error', () => resolve());
  });
  return demuxLogs(Buffer.concat(chunks), false).trim();
}

describe('lifecycle hooks (post_start, pre_stop)', () => {
  it('a post_start hook runs in each new replica, as its user and with its environment, before the deploy ends', async (t) => {
    const agent = await agentFor(t, { app: 'poststart' });
    const postStart = `      - command: ["sh", "-c", "echo \\"$$GREETING $$(id -u) $$VERSION\\" > /tmp/started"]
        user: "1000"
        environment: { GREETING: hello }
`;
    await agent.push({ [`${agent.app}.yaml`]: manifest(agent.app, { version: '1', postStart }) });
    const plan = await agent.capstan('plan');
    assert.match(plan.stdout, /start container .+-web-1, then run its post_start hooks \(1\)/);
    assert.ok(!plan.stdout.includes('GREETING'), 'the plan names the hooks, not their environment');
    const result = await agent.capstan('once');
    assert.equal(result.code, 0, result.stderr);
    const web = await agent.container('web');
    assert.equal(await readInside(web.id, '/tmp/started'), 'hello 1000 1', 'the hook ran as user 1000, with its own and the container\'s environment');
  });

  it('a failing post_start hook fails the rollout: the new replica is rolled back and the old one keeps serving', async (t) => {
    const agent = await agentFor(t, { app: 'postfail' });
    await agent.push({ [`${agent.app}.yaml`]: manifest(agent.app, { version: '1', postStart: '      - command: ["true"]\n' }) });
    assert.equal((await agent.capstan('once')).code, 0);
    const before = await agent.container('web');

    await agent.push({ [`${agent.app}.yaml`]: manifest(agent.app, { version: '2', postStart: '      - command: ["sh", "-c", "echo cannot register; exit 4"]\n' }) });
    const result = await agent.capstan('once');
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /post_start hook 1 of 1 \(sh\) in .+-web-1--next exited with code 4/);
    const after = (await agent.managed()).filter((container) => container.service === 'web');
    assert.deepEqual(after.map((container) => container.id), [before.id], 'only the old replica is left');
    assert.equal((await docker.getContainer(before.id).inspect()).State.Running, true);
  });

  it('kill -9 during a post_start hook: after the restart the hooks run again before the replica is proven (at least once)', async (t) => {
    const agent = await agentFor(t, { app: 'postkill' });
    // Each run adds a line; the first one then takes 60 s, so the agent is killed while it runs.
    const postStart = '      - command: ["sh", "-c", "echo run >> /tmp/runs; [ $$(wc -l < /tmp/runs) -gt 1 ] || sleep 60"]\n';
    await agent.push({ [`${agent.app}.yaml`]: manifest(agent.app, { version: '1', postStart }) });
    const first = agent.spawn(['once']);
    let runs = '';
    try {
      for (let attempt = 0; attempt < 60 && runs === ''; attempt++) {
        await new Promise((resolve) => setTimeout(resolve, 500));
        const web = (await agent.managed()).find((container) => container.service === 'web' && container.state === 'running');
        if (web) runs = await readInside(web.id, '/tmp/runs').catch(() => '');
      }
    } finally {
      await stopProcess(first, { signal: 'SIGKILL', timeoutMs: 10_000 });
    }
    assert.equal(runs, 'run', 'the agent was killed while the first run of the hook was going on');

    const plan = await agent.capstan('plan');
    assert.match(plan.stdout, /run the post_start hooks \(1\) of .+-web-1 again, then wait until .+-web-1 is ready/);
    const result = await agent.capstan('once');
    assert.equal(result.code, 0, result.stderr);
    const web = await agent.container('web');
    assert.equal(await readInside(web.id, '/tmp/runs'), 'run\nrun', 'the restarted agent ran the hook again in the same replica');
    const db = openDb(join(agent.state.path, 'capstan.db'));
    try {
      assert.ok(new StateStore(db).postStartDone(agent.node).includes(web.id), 'its finished hooks are recorded by container id, so a later failed cycle does not run them again');
    } finally {
      db.close();
    }
    const status = JSON.parse((await agent.capstan('status', '--json')).stdout) as { services: Array<{ readyReplicas: number }> };
    assert.equal(status.services[0].readyReplicas, 1);
  });

  it('a pre_stop hook runs in the old replica, while it still runs, before a replacement stops it', async (t) => {
    const agent = await agentFor(t, { app: 'prestop' });
    // The old replica writes its own host name (its id's first 12 characters) into the shared volume.
    const preStop = '      - command: ["sh", "-c", "hostname > /data/pre_stop"]\n';
    await agent.push({ [`${agent.app}.yaml`]: manifest(agent.app, { version: '1', preStop }) });
    assert.equal((await agent.capstan('once')).code, 0);
    const old = await agent.container('web');

    await agent.push({ [`${agent.app}.yaml`]: manifest(agent.app, { version: '2', preStop }) });
    const plan = await agent.capstan('plan');
    assert.match(plan.stdout, /run the pre_stop hooks \(1\) of .+-web-1, then stop container .+-web-1/);
    const result = await agent.capstan('once');
    assert.equal(result.code, 0, result.stderr);
    const replacement = await agent.container('web');
    assert.notEqual(replacement.id, old.id);
    assert.equal(await readInside(replacement.id, '/data/pre_stop'), old.id.slice(0, 12), 'the old replica ran the hook (an exec needs it running) before it was stopped');
  });
});
