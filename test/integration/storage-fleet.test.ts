import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type Docker from 'dockerode';
import { runCapstan } from '../helpers/cli.js';
import { cleanupNode, docker as engine1, testNodeName, uniqueName } from '../helpers/docker.js';
import { startGitServer, type GitServer, type RemoteRepo } from '../helpers/git-server.js';
import { tempDir, type TempDir } from '../helpers/paths.js';
import { startSecondEngine, type SecondEngine } from '../helpers/second-engine.js';

// A volume that follows its service across two engines (agent/storage): one restic repository
// on a local path both agents reach, placement moved in git. The old node stops the service,
// takes a final snapshot and hands off; the new node waits for that, restores, then starts.
// Never two writers: a node without the lease does not start the service, and a node that
// died is replaced by an explicit `capstan volumes takeover`.

describe('storage: a volume follows its service to another node', () => {
  const nodeA = testNodeName();
  const nodeB = testNodeName();
  const app = uniqueName('notes');
  let engine2: SecondEngine;
  let server: GitServer;
  let repo: RemoteRepo;
  let scratch: TempDir;
  const states: TempDir[] = [];
  const env: Record<string, Record<string, string>> = {};
  const engines = () => ({ [nodeA]: { docker: engine1 as Docker, host: undefined as string | undefined }, [nodeB]: { docker: engine2.docker, host: engine2.host } });

  const push = async (node: string, message: string) => {
    await repo.write({
      [`${app}.yaml`]: [
        `app: ${app}`,
        'volumes:',
        '  data:',
        '    snapshot: { schedule: "0 0 1 1 *", keep: { last: 20 }, repository: shared, handoff_timeout: 1s }',
        'services:',
        '  db:',
        '    image: local/busybox:1',
        `    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]`,
        '    update: { monitor: 1s }',
        '    volumes: ["data:/data"]',
        `    placement: { nodes: [${node}] }`,
        '',
      ].join('\n'),
    });
    await repo.commit(message);
    await repo.push();
  };
  const once = (node: string) => runCapstan(['once'], { env: env[node], timeoutMs: 240_000 });
  const running = async (node: string) => {
    const containers = await engines()[node].docker.listContainers({ filters: { label: [`capstan.node=${node}`, `capstan.app=${app}`] } });
    return containers.map((container) => container.Id);
  };
  const dockerCli = (node: string, ...args: string[]) => execFileSync('docker', [...(engines()[node].host ? ['-H', engines()[node].host!] : []), ...args]).toString();
  const writeOn = async (node: string, text: string) => {
    const [id] = await running(node);
    dockerCli(node, 'exec', id, 'sh', '-c', `echo ${text} > /data/file && sync`);
  };
  const readOn = async (node: string) => {
    const [id] = await running(node);
    return dockerCli(node, 'exec', id, 'cat', '/data/file').trim();
  };
  const lastChanges = async (node: string) => {
    const history = await runCapstan(['history', '--json'], { env: env[node] });
    return (JSON.parse(history.stdout) as { changes: string[] }[])[0].changes;
  };
  const neverTwo = async () => {
    const both = (await running(nodeA)).length > 0 && (await running(nodeB)).length > 0;
    assert.equal(both, false, 'the service never runs on both nodes');
  };
  /** Indexes of the first change matching each pattern, in order. */
  const order = (changes: string[], patterns: RegExp[]) => patterns.map((pattern) => changes.findIndex((change) => pattern.test(change)));

  before(async () => {
    engine2 = await startSecondEngine();
    server = await startGitServer();
    repo = await server.createRepo('storage-fleet');
    scratch = await tempDir('capstan-storage-fleet');
    writeFileSync(join(scratch.path, 'password'), 'fleet restic password\n', { mode: 0o600 });
    const policy = join(scratch.path, 'policy.yaml');
    writeFileSync(policy, `repositories:\n  shared:\n    path: ${join(scratch.path, 'restic')}\n    password_file: ${join(scratch.path, 'password')}\n`);
    for (const [node, dockerHost] of [[nodeA, undefined], [nodeB, engine2.host]] as const) {
      const state = await tempDir('capstan-storage-fleet-state');
      states.push(state);
      env[node] = {
        CAPSTAN_REPO: repo.url,
        CAPSTAN_STATE_DIR: state.path,
        CAPSTAN_NODE: node,
        CAPSTAN_POLICY_FILE: policy,
        ...(dockerHost ? { DOCKER_HOST: dockerHost, CAPSTAN_NETWORK_ISOLATION: 'off' } : {}),
      };
    }
  });

  after(async () => {
    await cleanupNode(nodeA);
    await engine2?.stop();
    await server?.close();
    for (const state of states) await state.cleanup();
    await scratch?.cleanup();
  });

  it('placement moves the service: B waits, A hands off, B restores and starts, in that order', async () => {
    await push(nodeA, 'notes on A');
    { const result = await once(nodeA); assert.equal(result.code, 0, result.stderr); }
    await writeOn(nodeA, 'written-on-a');

    await push(nodeB, 'notes to B');
    // B first: A still holds the lease, so B waits and starts nothing.
    { const result = await once(nodeB); assert.equal(result.code, 0, result.stderr); }
    assert.deepEqual(await running(nodeB), []);
    assert.ok((await lastChanges(nodeB)).some((change) => /waiting for node .* to hand off/.test(change)));
    await neverTwo();

    { const result = await once(nodeA); assert.equal(result.code, 0, result.stderr); }
    assert.deepEqual(await running(nodeA), []);
    const handoff = order(await lastChanges(nodeA), [/stopped .* for the hand-off/, /final snapshot/, /handed off/, /remove container/]);
    assert.ok(handoff.every((index, position) => index >= 0 && (position === 0 || index > handoff[position - 1])), `hand-off order on A: ${handoff.join(', ')}`);

    { const result = await once(nodeB); assert.equal(result.code, 0, result.stderr); }
    const takeover = order(await lastChanges(nodeB), [/lease taken; restoring snapshot/, /restored snapshot/, /start container/]);
    assert.ok(takeover.every((index, position) => index >= 0 && (position === 0 || index > takeover[position - 1])), `restore order on B: ${takeover.join(', ')}`);
    assert.equal(await readOn(nodeB), 'written-on-a', 'the data written on A is on B');
    await neverTwo();
  });

  it('a node that cannot get the lease does not start the service; takeover after the timeout', async () => {
    await writeOn(nodeB, 'written-on-b');
    // B writes a snapshot of its own (its last before it "dies").
    { const result = await runCapstan(['volumes', 'snapshot', `${app}/data`], { env: env[nodeB], timeoutMs: 120_000 }); assert.equal(result.code, 0, result.stderr); }
    await push(nodeA, 'notes back to A, B is gone');
    { const result = await once(nodeA); assert.equal(result.code, 0, result.stderr); }
    assert.deepEqual(await running(nodeA), [], 'A waits: B holds the lease');
    // handoff_timeout is 1 s: the next cycle reports the timeout and what to do.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const timedOut = await once(nodeA);
    assert.equal(timedOut.code, 1);
    assert.match(timedOut.stderr, /VOLUME_HANDOFF_TIMEOUT/);
    assert.match(timedOut.stderr, new RegExp(`capstan volumes takeover ${app}/data`));
    assert.deepEqual(await running(nodeA), []);
    const status = await runCapstan(['status', '--json'], { env: env[nodeA] });
    assert.match(status.stdout, /VOLUME_HANDOFF_TIMEOUT/);
    await neverTwo();

    const takeover = await runCapstan(['volumes', 'takeover', `${app}/data`], { env: env[nodeA], timeoutMs: 120_000 });
    assert.equal(takeover.code, 0, takeover.stderr);
    assert.match(takeover.stdout, new RegExp(`from ${nodeB}`));
    // B is "back" before A's next cycle: it no longer holds the lease, so it stops its
    // replica without a final snapshot over A's data.
    { const result = await once(nodeB); assert.equal(result.code, 0, result.stderr); }
    assert.deepEqual(await running(nodeB), []);
    const changesB = await lastChanges(nodeB);
    assert.ok(changesB.some((change) => /\(taken over\); no final snapshot/.test(change)), changesB.join('\n'));
    { const result = await once(nodeA); assert.equal(result.code, 0, result.stderr); }
    assert.equal(await readOn(nodeA), 'written-on-b', 'A restored the latest snapshot, B\'s');
    await neverTwo();
  });
});
