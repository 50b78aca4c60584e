// What is loaded must be exactly the verified commit's tree. A completed checkout is reused
// (after a restart, or for the rollback commit) only when every file and folder is as it was
// written; anything changed in it since (a file rewritten, added, removed or turned into a link)
// makes the source write it again from git.
import { strict as assert } from 'node:assert';
import { appendFile, chmod, mkdir, symlink, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { sharedAgent } from '../helpers/fixture.js';
import { gitArchive, makeSource, snapshot } from '../helpers/source.js';

describe('checkout integrity: a reused checkout is the commit\'s tree', () => {
  // The fixture's git server and scratch folders; no agent runs here.
  const fixture = sharedAgent();
  const newTemp = async (prefix: string) => (await fixture.tempDir(prefix)).path;

  it('writes the commit again after any change to its checkout, each checked by a fresh source (a restart)', async () => {
    const scratch = await newTemp('capstan-integrity-scratch');
    const stateDir = await newTemp('capstan-integrity-state');
    const repo = await fixture.server.createRepo('integrity');
    await repo.write({ 'apps/shop.yaml': 'app: shop\n', 'apps/conf/web.conf': 'listen 80\n', 'bin/run.sh': '#!/bin/sh\n' });
    await chmod(join(repo.workDir, 'bin/run.sh'), 0o755);
    await symlink('shop.yaml', join(repo.workDir, 'apps/current.yaml'));
    const commit = await repo.commit('base');
    await repo.push();
    const expected = await gitArchive(repo, commit, scratch);

    const first = makeSource(repo.url, stateDir).source;
    assert.equal(await first.fetch(), commit);
    const dir = (await first.checkout(commit)).dir;
    assert.deepEqual(await snapshot(dir), expected);

    const tamperings: Array<[string, () => Promise<void>]> = [
      ['a manifest rewritten in place', () => writeFile(join(dir, 'apps/shop.yaml'), 'app: evil\n')],
      ['a manifest appended to', () => appendFile(join(dir, 'apps/shop.yaml'), '# planted\n')],
      ['a manifest planted in a folder', () => writeFile(join(dir, 'apps/conf/evil.yaml'), 'app: evil\n')],
      ['a folder planted', () => mkdir(join(dir, 'apps/evil'))],
      ['a file removed', () => unlink(join(dir, 'apps/conf/web.conf'))],
      ['a link retargeted', async () => {
        await unlink(join(dir, 'apps/current.yaml'));
        await symlink('conf/web.conf', join(dir, 'apps/current.yaml'));
      }],
      ['a file turned into a link', async () => {
        await unlink(join(dir, 'apps/shop.yaml'));
        await symlink('conf/web.conf', join(dir, 'apps/shop.yaml'));
      }],
      ['a mode changed', () => chmod(join(dir, 'bin/run.sh'), 0o644)],
    ];
    for (const [what, tamper] of tamperings) {
      await tamper();
      assert.notDeepEqual(await snapshot(dir), expected, `${what}: the tampering took`);
      const restarted = makeSource(repo.url, stateDir).source;
      const checkout = await restarted.checkout(commit);
      assert.equal(checkout.dir, dir);
      assert.deepEqual(await snapshot(checkout.dir), expected, `after ${what}, the checkout is the commit's tree again`);
    }
  });
});
