import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runCapstan } from '../helpers/cli.js';
import { docker, exec, listManaged, uniqueName } from '../helpers/docker.js';
import { sharedAgent } from '../helpers/fixture.js';

// Issue 5, resources and runtime: what the manifest says reaches Docker's HostConfig, a runtime
// the engine lacks stops the plan before anything changes, depends_on orders creation.

const SLEEPER = `["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]`;

function limited(app: string): string {
  return `app: ${app}
services:
  worker:
    image: local/busybox:1
    command: ${SLEEPER}
    resources: { cpus: 0.5, memory: 64m, memory_reservation: 32m, pids_limit: 64, shm_size: 16m }
    ulimits: { nofile: { soft: 1024, hard: 2048 } }
    user: "1000:1000"
    tmpfs: ["/scratch:size=8m"]
    cap_drop: [ALL]
    cap_add: [CHOWN]
    init: true
    stop_signal: SIGINT
    stop_grace_period: 3s
    secrets:
      /run/secrets/token: "not-a-real-secret"
    update: { monitor: 1s }
  sealed:
    image: local/busybox:1
    command: ${SLEEPER}
    read_only: true
    tmpfs: /tmp
    update: { monitor: 1s }
`;
}

function ordered(app: string): string {
  return `app: ${app}
services:
  migrate:
    image: local/busybox:1
    command: ["sh", "-c", "sleep 2"]
    restart: "no"
    update: { monitor: 1s }
  web:
    image: local/busybox:1
    command: ${SLEEPER}
    depends_on:
      migrate: { condition: service_completed_successfully }
    update: { monitor: 1s }
`;
}

describe('spec: resources, runtime and order', () => {
  const agent = sharedAgent({ repoName: 'runtime' });
  const { node } = agent;
  const app = uniqueName('limits');
  const jobs = uniqueName('jobs');
  const capstan = (...args: string[]) => runCapstan(args, { timeoutMs: 180_000, env: agent.env() });
  const push = async (files: Record<string, string | null>, message: string) => {
    await agent.repo.write(files);
    await agent.repo.commit(message);
    await agent.repo.push();
  };
  const inspect = async (name: string) => {
    const found = (await listManaged(node)).find((container) => container.name === name);
    assert.ok(found, `container ${name} exists`);
    return docker.getContainer(found.id).inspect();
  };

  it('applies resources, limits, user, read-only root, tmpfs, capabilities, init and stop settings', async () => {
    await push({ [`${app}.yaml`]: limited(app) }, 'limits');
    const result = await capstan('once');
    assert.equal(result.code, 0, result.stderr);
    const worker = await inspect(`${app}-worker-1`);
    const host = worker.HostConfig as Record<string, unknown>;
    assert.equal(host.NanoCpus, 500_000_000);
    assert.equal(host.Memory, 64 * 1024 * 1024);
    assert.equal(host.MemoryReservation, 32 * 1024 * 1024);
    assert.equal(host.PidsLimit, 64);
    assert.equal(host.ShmSize, 16 * 1024 * 1024);
    assert.deepEqual(host.Ulimits, [{ Name: 'nofile', Soft: 1024, Hard: 2048 }]);
    assert.deepEqual(host.Tmpfs, { '/scratch': 'size=8m' });
    assert.deepEqual(host.CapDrop, ['ALL']);
    assert.deepEqual(host.CapAdd, ['CHOWN']);
    assert.equal(host.Init, true);
    assert.equal(worker.Config.User, '1000:1000');
    assert.equal((worker.Config as { StopSignal?: string }).StopSignal, 'SIGINT');
    assert.equal((worker.Config as { StopTimeout?: number }).StopTimeout, 3);

    const id = worker.Id;
    assert.equal((await exec(id, ['id', '-u'])).stdout.trim(), '1000');
    const secret = await exec(id, ['cat', '/run/secrets/token']);
    assert.equal(secret.exitCode, 0, 'a numeric user owns its secret files (mode 0400)');
    assert.equal(secret.stdout, 'not-a-real-secret');
    const sealed = await inspect(`${app}-sealed-1`);
    assert.equal((sealed.HostConfig as { ReadonlyRootfs?: boolean }).ReadonlyRootfs, true);
    assert.notEqual((await exec(sealed.Id, ['touch', '/file'])).exitCode, 0, 'the root file system is read-only');
    assert.equal((await exec(sealed.Id, ['touch', '/tmp/file'])).exitCode, 0, 'its tmpfs is writable');
  });

  it('refuses a runtime the engine does not have before anything changes', async () => {
    const before = (await listManaged(node)).map((container) => container.id);
    await push({ [`${app}.yaml`]: limited(app).replace('    init: true\n', '    init: true\n    runtime: runsc\n') }, 'gVisor');
    const plan = await capstan('plan');
    assert.equal(plan.code, 1);
    assert.match(plan.stdout, /RUNTIME_UNKNOWN: service .+\/worker \(.+\.yaml:3\) asks for runtime 'runsc', which this Docker engine does not have \(it has .*runc/);
    const result = await capstan('once');
    assert.equal(result.code, 1);
    assert.match(result.stderr, /RUNTIME_UNKNOWN/);
    assert.deepEqual((await listManaged(node)).map((container) => container.id), before, 'nothing was stopped or replaced');
  });

  it('creates a dependent only once its dependency completed successfully', async () => {
    await push({ [`${app}.yaml`]: limited(app), [`${jobs}.yaml`]: ordered(jobs) }, 'jobs');
    const result = await capstan('once');
    assert.equal(result.code, 0, result.stderr);
    const migrate = await inspect(`${jobs}-migrate-1`);
    const web = await inspect(`${jobs}-web-1`);
    assert.equal(migrate.State.ExitCode, 0);
    assert.ok(Date.parse(web.Created) >= Date.parse(migrate.State.FinishedAt), `web created ${web.Created}, migrate finished ${migrate.State.FinishedAt}`);
  });
});
