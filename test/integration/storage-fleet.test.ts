import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import type Docker from 'dockerode';
import { docker as engine1, uniqueName } from '../helpers/docker.js';
import { SLEEPER, sharedAgent, type Agent } from '../helpers/fixture.js';
import { startSecondEngine, type SecondEngine } from '../helpers/second-engine.js';

// A volume that follows its service across two engines (agent/storage): one restic repository
// on a local path both agents reach, placement moved in git. The old node stops the service,
// takes a final snapshot and hands off; the new node waits for that, restores, then starts.
// Never two writers: a node without the lease does not start the service, and a node that
// died is replaced by an explicit `capstan volumes takeover`. Each test moves its own app, so
// neither relies on where the other left its volume's lease.

describe('storage: a volume follows its service to another node', () => {
  // One repository, an agent per node; B's engine is a second dockerd, stopped with the fixture.
  const agentA = sharedAgent({ app: 'notes', repoName: 'storage-fleet', timeoutMs: 240_000 });
  const agentB = sharedAgent({ sameRepoAs: agentA, timeoutMs: 240_000 });
  const nodeA = agentA.node;
  const nodeB = agentB.node;
  let engine2: SecondEngine | undefined;
  agentB.defer(() => engine2?.stop());
  let policy = '';
  const engines = () => ({ [nodeA]: { docker: engine1 as Docker, host: undefined as string | undefined }, [nodeB]: { docker: engine2!.docker, host: engine2!.host } });
  const capstan = (node: string, ...args: string[]) => {
    const [agent, extra]: [Agent, Record<string, string>] = node === nodeA ? [agentA, {}] : [agentB, { DOCKER_HOST: engine2!.host, CAPSTAN_NETWORK_ISOLATION: 'off' }];
    return agent.run(args, { env: { CAPSTAN_POLICY_FILE: policy, ...extra } });
  };

  const push = (app: string, node: string, message: string) =>
    agentA.push(
      {
        [`${app}.yaml`]: [
          `app: ${app}`,
          'volumes:',
          '  data:',
          '    snapshot: { schedule: "0 0 1 1 *", keep: { last: 20 }, repository: shared, handoff_timeout: 1s }',
          'services:',
          '  db:',
          '    image: local/busybox:1',
          `    command: ${SLEEPER}`,
          '    update: { monitor: 1s }',
          '    volumes: ["data:/data"]',
          `    placement: { nodes: [${node}] }`,
          '',
        ].join('\n'),
      },
      message,
    );
  const once = async (node: string) => {
    const result = await capstan(node, 'once');
    assert.equal(result.code, 0, result.stderr);
  };
  const running = async (app: string, node: string) => {
    const containers = await engines()[node].docker.listContainers({ filters: { label: [`capstan.node=${node}`, `capstan.app=${app}`] } });
    return containers.map((container) => container.Id);
  };
  const dockerCli = (node: string, ...args: string[]) => execFileSync('docker', [...(engines()[node].host ? ['-H', engines()[node].host!] : []), ...args]).toString();
  const writeOn = async (app: string, node: string, text: string) => {
    const [id] = await running(app, node);
    dockerCli(node, 'exec', id, 'sh', '-c', `echo ${text} > /data/file && sync`);
  };
  const readOn = async (app: string, node: string) => {
    const [id] = await running(app, node);
    return dockerCli(node, 'exec', id, 'cat', '/data/file').trim();
  };
  const lastChanges = async (node: string) => {
    const history = await capstan(node, 'history', '--json');
    return (JSON.parse(history.stdout) as { changes: string[] }[])[0].changes;
  };
  const neverTwo = async (app: string) => {
    const both = (await running(app, nodeA)).length > 0 && (await running(app, nodeB)).length > 0;
    assert.equal(both, false, 'the service never runs on both nodes');
  };
  /** Indexes of the first change matching each pattern, in order. */
  const order = (changes: string[], patterns: RegExp[]) => patterns.map((pattern) => changes.findIndex((change) => pattern.test(change)));

  // Only read by the tests: the second engine and the host policy naming the shared restic repository.
  before(async () => {
    engine2 = await startSecondEngine();
    const scratch = await agentA.tempDir('capstan-storage-fleet');
    writeFileSync(join(scratch.path, 'password'), 'fleet restic password\n', { mode: 0o600 });
    policy = join(scratch.path, 'policy.yaml');
    writeFileSync(policy, `repositories:\n  shared:\n    path: ${join(scratch.path, 'restic')}\n    password_file: ${join(scratch.path, 'password')}\n`);
  });

  it('placement moves the service: B waits, A hands off, B restores and starts, in that order', async () => {
    const app = uniqueName('notes');
    await push(app, nodeA, 'notes on A');
    await once(nodeA);
    await writeOn(app, nodeA, 'written-on-a');

    await push(app, nodeB, 'notes to B');
    // B first: A still holds the lease, so B waits and starts nothing.
    await once(nodeB);
    assert.deepEqual(await running(app, nodeB), []);
    assert.ok((await lastChanges(nodeB)).some((change) => /waiting for node .* to hand off/.test(change)));
    await neverTwo(app);

    await once(nodeA);
    assert.deepEqual(await running(app, nodeA), []);
    const handoff = order(await lastChanges(nodeA), [/stopped .* for the hand-off/, /final snapshot/, /handed off/, /remove container/]);
    assert.ok(handoff.every((index, position) => index >= 0 && (position === 0 || index > handoff[position - 1])), `hand-off order on A: ${handoff.join(', ')}`);

    await once(nodeB);
    const takeover = order(await lastChanges(nodeB), [/lease taken; restoring snapshot/, /restored snapshot/, /start container/]);
    assert.ok(takeover.every((index, position) => index >= 0 && (position === 0 || index > takeover[position - 1])), `restore order on B: ${takeover.join(', ')}`);
    assert.equal(await readOn(app, nodeB), 'written-on-a', 'the data written on A is on B');
    await neverTwo(app);
  });

  it('a node that cannot get the lease does not start the service; takeover after the timeout', async () => {
    // The app starts on B, which takes its volume's lease.
    const app = uniqueName('notes');
    await push(app, nodeB, 'notes on B');
    await once(nodeB);
    assert.equal((await running(app, nodeB)).length, 1, 'the service runs on B');
    await writeOn(app, nodeB, 'written-on-b');
    // B writes a snapshot of its own (its last before it "dies").
    { const result = await capstan(nodeB, 'volumes', 'snapshot', `${app}/data`); assert.equal(result.code, 0, result.stderr); }
    await push(app, nodeA, 'notes to A, B is gone');
    await once(nodeA);
    assert.deepEqual(await running(app, nodeA), [], 'A waits: B holds the lease');
    // handoff_timeout is 1 s: the next cycle reports the timeout and what to do.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const timedOut = await capstan(nodeA, 'once');
    assert.equal(timedOut.code, 1);
    assert.match(timedOut.stderr, /VOLUME_HANDOFF_TIMEOUT/);
    assert.match(timedOut.stderr, new RegExp(`capstan volumes takeover ${app}/data`));
    assert.deepEqual(await running(app, nodeA), []);
    const status = await capstan(nodeA, 'status', '--json');
    assert.match(status.stdout, /VOLUME_HANDOFF_TIMEOUT/);
    await neverTwo(app);

    const takeover = await capstan(nodeA, 'volumes', 'takeover', `${app}/data`);
    assert.equal(takeover.code, 0, takeover.stderr);
    assert.match(takeover.stdout, new RegExp(`from ${nodeB}`));
    const commands = JSON.parse((await capstan(nodeA, 'history', '--commands', '--json')).stdout) as { command: string; args: { volume?: string }; result: string }[];
    assert.ok(commands.some((row) => row.command === 'volume-takeover' && row.args.volume === `${app}/data` && row.result === 'done'), JSON.stringify(commands));
    // B is "back" before A's next cycle: it no longer holds the lease, so it stops its
    // replica without a final snapshot over A's data.
    await once(nodeB);
    assert.deepEqual(await running(app, nodeB), []);
    const changesB = await lastChanges(nodeB);
    assert.ok(changesB.some((change) => /\(taken over\); no final snapshot/.test(change)), changesB.join('\n'));
    await once(nodeA);
    assert.equal(await readOn(app, nodeA), 'written-on-b', 'A restored the latest snapshot, B\'s');
    await neverTwo(app);
  });
});
