import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { docker, exec, testLabels, uniqueName } from '../helpers/docker.js';
import { agentFor, SLEEPER } from '../helpers/fixture.js';

// An external volume on the real engine (issue 23): a missing one stops the commit naming file,
// line and key and is not created; an existing one is mounted as it is, never labelled, and left
// alone when its app is removed from the repository.

const TOKEN = 'test-token-extv0l';

describe('Compose external volumes on the real engine', () => {
  it('refuses a missing one, then mounts the existing one unchanged and leaves it when the app goes', async (t) => {
    const agent = await agentFor(t, { app: 'cextv', token: TOKEN, timeoutMs: 180_000 });
    const volume = uniqueName('extvol');
    agent.defer(() => docker.getVolume(volume).remove().catch(() => undefined));
    const policyFile = join((await agent.tempDir('capstan-extv-policy')).path, 'policy.yaml');
    writeFileSync(policyFile, `allowed_volume_names: [${volume}]\n`);
    const capstan = (...args: string[]) => agent.run(args, { env: { CAPSTAN_PATH: 'apps', CAPSTAN_POLICY_FILE: policyFile } });
    const volumeExists = async () => ((await docker.listVolumes()).Volumes ?? []).some((candidate) => candidate.Name === volume);
    await agent.push({
      [`apps/${agent.app}/compose.yaml`]: `services:\n  web:\n    image: local/busybox:1\n    command: ${SLEEPER}\n    volumes: [media:/media]\nvolumes:\n  media:\n    external: true\n    name: ${volume}\n`,
    }, 'an app on an external volume');

    const missing = await capstan('once');
    assert.equal(missing.code, 1, missing.stdout + missing.stderr);
    assert.match(missing.stdout + missing.stderr, new RegExp(`apps/${agent.app}/compose\\.yaml:8: volumes\\.media\\.external: volume '${volume}' does not exist on this host`));
    assert.deepEqual(await agent.managed(), [], 'nothing applied');
    assert.equal(await volumeExists(), false, 'never created by Capstan');

    await docker.createVolume({ Name: volume, Labels: testLabels() });
    const deployed = await capstan('once');
    assert.equal(deployed.code, 0, deployed.stdout + deployed.stderr);
    const web = await docker.getContainer((await agent.container('web')).id).inspect();
    assert.deepEqual(web.Mounts.filter((mount) => mount.Type === 'volume').map((mount) => [mount.Name, mount.Destination]), [[volume, '/media']]);
    assert.deepEqual((await docker.getVolume(volume).inspect()).Labels, testLabels(), 'its labels are left as they were');

    await agent.push({ [`apps/${agent.app}/compose.yaml`]: null, [`apps/${agent.app}-keep/compose.yaml`]: `services:\n  keep:\n    image: local/busybox:1\n    command: ${SLEEPER}\n` }, 'the app removed');
    const pruned = await capstan('once');
    assert.equal(pruned.code, 0, pruned.stdout + pruned.stderr);
    assert.equal((await agent.managed()).some((container) => container.name === `${agent.app}-web-1`), false, 'pruned');
    assert.equal(await volumeExists(), true, 'the external volume is left alone');
  });

  it('volumes_from: the other service\'s named volume is mounted read-only at the same target', async (t) => {
    const agent = await agentFor(t, { app: 'cvfrom', token: TOKEN, timeoutMs: 180_000 });
    await agent.push({
      [`apps/${agent.app}/compose.yaml`]: `services:
  data:
    image: local/busybox:1
    command: ["sh", "-c", "echo written-by-data > /shared/marker; trap 'exit 0' TERM; sleep 3600 & wait"]
    volumes: [shared:/shared]
  reader:
    image: local/busybox:1
    command: ${SLEEPER}
    depends_on: [data]
    volumes_from: ["data:ro"]
volumes:
  shared:
`,
    }, 'volumes_from');
    const deployed = await agent.run(['once'], { env: { CAPSTAN_PATH: 'apps' } });
    assert.equal(deployed.code, 0, deployed.stdout + deployed.stderr);
    const reader = await docker.getContainer((await agent.container('reader')).id).inspect();
    assert.deepEqual(reader.Mounts.filter((mount) => mount.Type === 'volume').map((mount) => [mount.Name, mount.Destination, mount.RW]), [[`${agent.app}_shared`, '/shared', false]]);
    let seen = '';
    for (let attempt = 0; attempt < 20 && seen === ''; attempt++) {
      seen = (await exec(reader.Id, ['cat', '/shared/marker'])).stdout.trim();
      if (seen === '') await new Promise((resolve) => setTimeout(resolve, 250));
    }
    assert.equal(seen, 'written-by-data');
    const write = await exec(reader.Id, ['sh', '-c', 'echo x > /shared/other']);
    assert.notEqual(write.exitCode, 0, 'read-only');
  });
});
