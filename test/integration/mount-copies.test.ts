import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runCapstan } from '../helpers/cli.js';
import { docker, listManaged, uniqueName, waitFor } from '../helpers/docker.js';
import { sharedAgent } from '../helpers/fixture.js';

// Containers used to bind-mount repository files from the commit's checkout itself, read-write;
// after a restart the same commit's checkout was reused as found, so a container could plant a
// manifest (or rewrite one) that the agent then deployed as the commit's. Now each container
// mounts a copy of its own, and a reused checkout is checked against what was written.

/** Every file under `dir`, relative, recursively. */
function filesUnder(dir: string, prefix = ''): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(join(dir, prefix)).flatMap((name) => {
    const relative = prefix === '' ? name : `${prefix}/${name}`;
    return statSync(join(dir, relative)).isDirectory() ? filesUnder(dir, relative) : [relative];
  });
}

describe('mounted repository files: what a container writes never feeds back into what is loaded', () => {
  const agent = sharedAgent({ repoName: 'mounts' });
  const { node } = agent;
  const app = uniqueName('mounts');
  const capstan = (...args: string[]) =>
    runCapstan(args, { timeoutMs: 120_000, env: agent.env() });

  // After the label cleanup, whatever it meets.
  agent.defer(async () => {
  });

  it('a container that plants a manifest and rewrites a mounted file changes nothing the restarted agent loads', async () => {
    // The container copies `payload.txt` (another app's manifest) to `evil.yaml` in the mounted
    // manifests folder, and rewrites the file mounted on its own.
    const evilApp = `${app}-evil`;
    await agent.repo.write({
      [`apps/${app}.yaml`]: [
        `app: ${app}`,
        'services:',
        '  web:',
        '    image: local/busybox:1',
        '    volumes: ["./conf:/conf", "./conf/settings.txt:/settings.txt"]',
        `    command: ["sh", "-c", "cp /conf/payload.txt /conf/evil.yaml && echo tampered > /settings.txt && echo done > /conf/done.txt; trap 'exit 0' TERM; sleep 3600 & wait"]`,
        '    update: { monitor: 1s }',
        '',
      ].join('\n'),
      'apps/conf/settings.txt': 'original\n',
      'apps/conf/payload.txt': `app: ${evilApp}\nservices:\n  planted:\n    image: local/busybox:1\n    command: ["sleep", "3600"]\n`,
    });
    const commit = await agent.repo.commit('a service mounting repository files read-write');
    await agent.repo.push();

    const first = await capstan('once');
    assert.equal(first.code, 0, first.stderr);
    // The container has done its writes (wherever they land).
    await waitFor(() => filesUnder(agent.state.path).some((file) => file.endsWith('conf/done.txt')), { what: 'the container\'s writes', timeoutMs: 30_000 });

    // A restart (a new process) on the same commit loads the commit's manifests: no planted app.
    const second = await capstan('once');
    assert.equal(second.code, 0, second.stderr);
    const containers = await listManaged(node);
    assert.deepEqual(containers.map((container) => container.app), [app], 'only the commit\'s app runs');
    const plan = await capstan('plan');
    assert.equal(plan.code, 0, `in sync: ${plan.stdout}${plan.stderr}`);
    assert.ok(!plan.stdout.includes(evilApp));

    // The container's writes land in a copy of its own, under the state dir, outside the checkout.
    const checkout = join(agent.state.path, 'checkouts', commit);
    assert.deepEqual(filesUnder(checkout).sort(), [`apps/${app}.yaml`, 'apps/conf/payload.txt', 'apps/conf/settings.txt'].sort(), 'the checkout holds the commit\'s files only');
    assert.equal(readFileSync(join(checkout, 'apps/conf/settings.txt'), 'utf8'), 'original\n');
    const copies = filesUnder(join(agent.state.path, 'mounts'));
    assert.ok(copies.some((file) => file.endsWith('conf/evil.yaml')), `the planted file is in the copy: ${copies.join(', ')}`);
    const settingsCopy = copies.find((file) => file.endsWith('conf/settings.txt') && readFileSync(join(agent.state.path, 'mounts', file), 'utf8') === 'tampered\n');
    assert.ok(settingsCopy, 'the rewritten file is the container\'s copy');

    // The container mounts the copy, never the checkout.
    const inspected = await docker.getContainer(containers[0].id).inspect();
    for (const mount of inspected.Mounts.filter((entry) => entry.Type === 'bind')) {
      assert.ok(mount.Source.startsWith(join(agent.state.path, 'mounts') + '/'), `${mount.Source} is a copy under mounts/`);
    }
  });
});
