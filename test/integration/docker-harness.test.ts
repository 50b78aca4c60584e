// Proves the Docker harness that the fixture stands on, against the real engine: so no fixture here.
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import {
  cleanupNode,
  docker,
  exec,
  listManaged,
  registerCleanup,
  removeContainer,
  runUnmanagedContainer,
  TEST_IMAGE,
  testLabels,
  testNodeName,
  uniqueName,
  waitFor,
  WaitTimeoutError,
} from '../helpers/docker.js';

function statusCodeOf(error: unknown): number | undefined {
  return (error as { statusCode?: number }).statusCode;
}

async function exists(inspect: () => Promise<unknown>): Promise<boolean> {
  try {
    await inspect();
    return true;
  } catch (error) {
    if (statusCodeOf(error) === 404) return false;
    throw error;
  }
}

/** What the agent would create for `node`: a container, a network and a volume, all labelled. */
async function createManagedObjects(node: string, app: string) {
  const labels = testLabels({
    'capstan.managed': 'true',
    'capstan.node': node,
    'capstan.app': app,
    'capstan.service': 'web',
    'capstan.replica': '1',
  });
  const network = await docker.createNetwork({ Name: `${app}-net`, Labels: labels });
  const volume = await docker.createVolume({ Name: `${app}-data`, Labels: labels });
  const container = await docker.createContainer({
    name: `${app}-web-1`,
    Image: TEST_IMAGE,
    Cmd: ['sleep', '3600'],
    Labels: labels,
    HostConfig: { NetworkMode: `${app}-net`, Mounts: [{ Type: 'volume', Source: `${app}-data`, Target: '/data' }] },
  });
  await container.start();
  return { networkId: network.id, volumeName: `${app}-data`, containerId: container.id };
}

describe('docker harness', () => {
  it('runs the test image and executes commands in it', async (t) => {
    const name = uniqueName('harness-exec');
    registerCleanup(() => removeContainer(name), t);
    const { id } = await runUnmanagedContainer(name);

    const greeting = await exec(id, ['sh', '-c', 'echo hello; echo warning >&2']);
    assert.deepEqual(greeting, { exitCode: 0, stdout: 'hello\n', stderr: 'warning\n' });

    const failing = await exec(id, ['sh', '-c', 'exit 3']);
    assert.equal(failing.exitCode, 3);

    const nobody = await exec(id, ['sh', '-c', 'id -u; touch /tmp/ok && echo writable'], { user: 'nobody' });
    assert.equal(nobody.stdout, '65534\nwritable\n');
  });

  it('cleanupNode removes what is labelled for that node and nothing else', async (t) => {
    const node = testNodeName();
    const otherNode = testNodeName();
    registerCleanup(node, t);
    registerCleanup(otherNode, t);
    const bystanderName = uniqueName('harness-bystander');
    registerCleanup(() => removeContainer(bystanderName), t);

    const ours = await createManagedObjects(node, uniqueName('mine'));
    const theirs = await createManagedObjects(otherNode, uniqueName('theirs'));
    // Unmanaged but attached to our network: cleanup must detach it, not remove it.
    const bystander = await runUnmanagedContainer(bystanderName, { labels: { 'capstan.app': 'lookalike' } });
    await docker.getNetwork(ours.networkId).connect({ Container: bystander.id });

    const managed = await listManaged(node);
    assert.deepEqual(
      managed.map(({ id, state, service, replica }) => ({ id, state, service, replica })),
      [{ id: ours.containerId, state: 'running', service: 'web', replica: '1' }],
    );

    const report = await cleanupNode(node);
    assert.deepEqual(report, { containers: 1, networks: 1, volumes: 1 });
    assert.deepEqual(await listManaged(node), []);
    assert.equal(await exists(() => docker.getContainer(ours.containerId).inspect()), false);
    assert.equal(await exists(() => docker.getNetwork(ours.networkId).inspect()), false);
    assert.equal(await exists(() => docker.getVolume(ours.volumeName).inspect()), false);

    const bystanderState = await docker.getContainer(bystander.id).inspect();
    assert.equal(bystanderState.State.Running, true, 'the unmanaged container was stopped');
    assert.equal((await listManaged(otherNode)).length, 1, "another node's container was removed");
    assert.equal(await exists(() => docker.getNetwork(theirs.networkId).inspect()), true);
    assert.equal(await exists(() => docker.getVolume(theirs.volumeName).inspect()), true);

    assert.deepEqual(await cleanupNode(node), { containers: 0, networks: 0, volumes: 0 });
  });

  it('waitFor polls Docker until a state appears, and times out boundedly', async (t) => {
    const name = uniqueName('harness-wait');
    registerCleanup(() => removeContainer(name), t);
    const { id } = await runUnmanagedContainer(name, { cmd: ['sh', '-c', 'sleep 1; exit 7'] });

    const exited = await waitFor(
      async () => {
        const info = await docker.getContainer(id).inspect();
        return info.State.Running ? undefined : info.State;
      },
      { timeoutMs: 20_000, intervalMs: 100, what: `${name} to exit` },
    );
    assert.equal(exited.ExitCode, 7);

    const started = Date.now();
    await assert.rejects(
      waitFor(async () => (await docker.getContainer(id).inspect()).State.Running, { timeoutMs: 500, intervalMs: 100 }),
      WaitTimeoutError,
    );
    assert.ok(Date.now() - started < 5_000, 'waitFor overran its timeout');
  });
});
