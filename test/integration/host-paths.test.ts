import assert from 'node:assert/strict';
import { mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { systemClock } from '../../agent/clock.js';
import { loadDesiredState } from '../../agent/load/index.js';
import { createLogger } from '../../agent/log.js';
import { createHostPathCheck, DEFAULT_POLICY } from '../../agent/policy/index.js';
import { openDb } from '../../agent/state/db.js';
import { StateStore } from '../../agent/state/store.js';
import { ContainerTarget } from '../../agent/targets/containers/index.js';
import { runCapstan } from '../helpers/cli.js';
import { docker, listManaged, uniqueName } from '../helpers/docker.js';
import { sharedAgent } from '../helpers/fixture.js';
import type { TempDir } from '../helpers/paths.js';

// Issue 21, hole 3: a link under a bind root (`root -> /`) let a manifest mount /etc. The agent
// resolves host paths at load, and again right before it creates a container: a folder that a
// container swaps for a link after the load is refused then, and nothing is created.

const SLEEPER = `["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]`;

describe('host paths are resolved on the host (hole 3)', () => {
  const agent = sharedAgent({ repoName: 'host-paths' });
  const { node } = agent;
  const app = uniqueName('paths');
  let host: TempDir;

  before(async () => {
    host = await agent.tempDir('capstan-host-paths-host');
  });
  // After the label cleanup, whatever it meets.
  agent.defer(async () => {
    await host?.cleanup();
  });

  it('the agent refuses a mount through a link under a bind root, and creates nothing', async () => {
    const roots = join(host.path, 'srv');
    await mkdir(roots);
    await symlink('/', join(roots, 'root'));
    const policy = join(host.path, 'policy.yaml');
    await writeFile(policy, `bind_roots: [${roots}]\n`);
    const manifest = `app: ${app}\nservices:\n  web:\n    image: local/busybox:1\n    command: ${SLEEPER}\n    volumes: ["${roots}/root/etc:/host-etc:ro"]\n`;
    await agent.repo.write({ [`${app}.yaml`]: manifest });
    await agent.repo.commit('mounts /etc through a link');
    await agent.repo.push();
    const result = await runCapstan(['once'], {
      timeoutMs: 120_000,
      env: agent.env({ CAPSTAN_POLICY_FILE: policy }),
    });
    assert.equal(result.code, 1);
    assert.match(result.stderr, new RegExp(`${app}\\.yaml:6:\\d+: services\\.web\\.volumes\\[0\\]: mounting host path \\S+/srv/root/etc, which resolves to /etc outside bind_roots, is refused by host policy`));
    assert.deepEqual(await listManaged(node), []);
  });

  it('checks again right before the container is created: a folder swapped for a link after the load', async () => {
    const checkout = join(host.path, 'checkout');
    const data = join(host.path, 'data');
    await mkdir(checkout);
    await mkdir(data);
    const swapApp = `${app}-swap`;
    await writeFile(join(checkout, 'a.yaml'), `app: ${swapApp}\nservices:\n  web:\n    image: local/busybox:1\n    command: ${SLEEPER}\n    volumes: ["${data}:/data"]\n`);
    const policy = { ...DEFAULT_POLICY, bindRoots: [host.path] };
    const desired = await loadDesiredState({ root: checkout, commit: 'c1', hashKey: new Uint8Array(32), policy });

    // Between the load and the create, something with write access to the bind root (a
    // container mounting it) replaces the folder by a link to /etc.
    await rm(data, { recursive: true });
    await symlink('/etc', data);

    const db = openDb(join(agent.state.path, 'target.db'));
    const store = new StateStore(db);
    try {
      const target = new ContainerTarget({ docker, store, clock: systemClock, node, allowEmpty: false, hostPaths: createHostPathCheck(async () => policy) });
      const logger = createLogger({ level: 'silent' });
      const outcome = await target.converge(desired, { logger, cycleId: store.startCycle('test', node) });
      assert.equal(outcome.result, 'failed');
      assert.match(outcome.message ?? '', new RegExp(`${swapApp}/web: mounting host path \\S+/data, which resolves to /etc outside bind_roots, is refused by host policy`));
      const created = (await listManaged(node)).filter((container) => container.app === swapApp);
      assert.deepEqual(created, [], 'no container was created');
    } finally {
      store.close();
    }
  });
});
