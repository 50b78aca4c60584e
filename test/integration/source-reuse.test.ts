// A new commit's checkout is built from the previous one (unchanged files copied, the rest read
// from git) and must be exactly what the git CLI checks out, whatever changed in between.
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { chmod, lstat, readFile, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { sharedAgent } from '../helpers/fixture.js';
import type { RemoteRepo } from '../helpers/git-server.js';
import { gitArchive, makeSource, snapshot } from '../helpers/source.js';

const token = `tok-${randomBytes(16).toString('hex')}`;

function checkoutLog(logLines: string[], commit: string): { fileCount: number; reusedCount: number; reusedFrom?: string } {
  const line = logLines.map((text) => JSON.parse(text) as Record<string, unknown>).reverse()
    .find((entry) => entry.msg === 'checkout written' && entry.commit === commit);
  assert.ok(line, `no "checkout written" line for ${commit}`);
  return line as unknown as { fileCount: number; reusedCount: number; reusedFrom?: string };
}

describe('checkout built from the previous one', () => {
  // The fixture's git server and scratch folders; no agent runs here.
  const fixture = sharedAgent({ token });
  const newTemp = async (prefix: string) => (await fixture.tempDir(prefix)).path;

  /** 40 files in nested folders, an executable, two symlinks, and files the later commits move. */
  async function baseRepo(name: string): Promise<{ repo: RemoteRepo; commit: string }> {
    const repo = await fixture.server.createRepo(name);
    const files: Record<string, string> = {};
    for (let index = 0; index < 40; index++) files[`apps/group${index % 4}/app${index}.yaml`] = `app: app${index}\nreplicas: ${index}\n`;
    Object.assign(files, { 'bin/check.sh': '#!/bin/sh\nexit 0\n', 'conf/web.conf': 'listen 80\n', 'old/name.txt': 'renamed later\n', 'gone.txt': 'deleted later\n' });
    await repo.write(files);
    await chmod(join(repo.workDir, 'bin/check.sh'), 0o755);
    await symlink('apps/group1/app1.yaml', join(repo.workDir, 'current.yaml'));
    await symlink('apps/group2', join(repo.workDir, 'group-link'));
    const commit = await repo.commit('base');
    await repo.push();
    return { repo, commit };
  }

  it('matches the git CLI through edits, mode changes, deletions, renames and a file turned into a folder and back', async () => {
    const scratch = await newTemp('capstan-reuse-scratch');
    const { repo, commit: first } = await baseRepo('reuse');
    const stateDir = await newTemp('capstan-reuse-state');
    const { source, logLines } = makeSource(repo.url, stateDir, { token, logLevel: 'debug' });
    const commits = [first];
    const checkOut = async () => {
      const commit = await source.fetch();
      const checkout = await source.checkout(commit);
      assert.deepEqual(await snapshot(checkout.dir), await gitArchive(repo, commit, scratch), `checkout of ${commit}`);
      return checkout;
    };
    const firstCheckout = await checkOut();
    assert.equal(checkoutLog(logLines, first).reusedCount, 0);

    // One edit, one mode change (same blob), one deletion, one rename, a file becoming a folder,
    // a symlink retargeted.
    await repo.write({ 'apps/group0/app4.yaml': 'app: app4\nreplicas: 99\n', 'gone.txt': null, 'old/name.txt': null, 'new/name.txt': 'renamed later\n' });
    await chmod(join(repo.workDir, 'conf/web.conf'), 0o755);
    await rm(join(repo.workDir, 'apps/group3/app3.yaml'));
    await repo.write({ 'apps/group3/app3.yaml/inner.yaml': 'app: inner\n' });
    await unlink(join(repo.workDir, 'current.yaml'));
    await symlink('apps/group0/app4.yaml', join(repo.workDir, 'current.yaml'));
    commits.push(await repo.commit('many changes'));
    await repo.push();
    const secondCheckout = await checkOut();
    const second = checkoutLog(logLines, commits[1]);
    assert.equal(second.reusedFrom, first);
    // 43 files (39 apps, inner.yaml, check.sh, web.conf, new/name.txt) and 2 symlinks, which
    // always come from git; so do app4 (edited), web.conf (mode), new/name.txt (path), inner.yaml.
    assert.equal(second.fileCount, 45);
    assert.equal(second.reusedCount, 39);

    // The folder turned back into a file, the executable bit dropped again.
    await rm(join(repo.workDir, 'apps/group3/app3.yaml'), { recursive: true });
    await repo.write({ 'apps/group3/app3.yaml': 'app: app3\nreplicas: 3\n' });
    await chmod(join(repo.workDir, 'conf/web.conf'), 0o644);
    commits.push(await repo.commit('back'));
    await repo.push();
    await checkOut();
    assert.equal(checkoutLog(logLines, commits[2]).reusedFrom, commits[1]);

    // Copies, never hard links: a container writing a bind-mounted file touches one checkout only.
    const [before, after] = await Promise.all([firstCheckout, secondCheckout].map((checkout) => lstat(join(checkout.dir, 'apps/group1/app1.yaml'))));
    assert.notEqual(before.ino, after.ino);
    assert.equal(after.nlink, 1);
  });

  it('reads from git a file that was modified in the previous checkout', async () => {
    const scratch = await newTemp('capstan-reuse-scratch');
    const { repo, commit: first } = await baseRepo('modified');
    const stateDir = await newTemp('capstan-reuse-state');
    const { source, logLines } = makeSource(repo.url, stateDir, { token, logLevel: 'debug' });
    const firstCheckout = await source.checkout(await source.fetch());
    // As a container with a read-write bind mount could: same size, and a chmod.
    await writeFile(join(firstCheckout.dir, 'apps/group1/app5.yaml'), 'app: APP5\nreplicas: 5\n');
    await chmod(join(firstCheckout.dir, 'apps/group2/app6.yaml'), 0o600);

    await repo.write({ 'conf/web.conf': 'listen 8080\n' });
    const second = await repo.commit('edit');
    await repo.push();
    const checkout = await source.checkout(await source.fetch());
    assert.deepEqual(await snapshot(checkout.dir), await gitArchive(repo, second, scratch));
    assert.equal((await lstat(join(checkout.dir, 'apps/group2/app6.yaml'))).mode & 0o777, 0o644 & ~process.umask());
    const logged = checkoutLog(logLines, second);
    assert.equal(logged.reusedFrom, first);
    assert.equal(logged.reusedCount, 44 - 3, 'all but the edited file and the two touched ones are copied');
  });

  for (const damage of ['missing', 'garbled', 'of another commit'] as const) {
    it(`writes every file from git when the previous inventory is ${damage}`, async () => {
      const scratch = await newTemp('capstan-reuse-scratch');
      const { repo, commit: first } = await baseRepo(`inventory-${damage.replaceAll(' ', '-')}`);
      const stateDir = await newTemp('capstan-reuse-state');
      const { source, logLines } = makeSource(repo.url, stateDir, { token, logLevel: 'debug' });
      await source.checkout(await source.fetch());
      const inventory = join(stateDir, 'checkouts', `${first}.files.json`);
      if (damage === 'missing') await rm(inventory);
      if (damage === 'garbled') await writeFile(inventory, '{"commit":"' + first + '","files":[["apps/x","100644"');
      if (damage === 'of another commit') await writeFile(inventory, (await readFile(inventory, 'utf8')).replace(first, 'f'.repeat(40)));

      await repo.write({ 'conf/web.conf': 'listen 8080\n' });
      const second = await repo.commit('edit');
      await repo.push();
      const checkout = await source.checkout(await source.fetch());
      assert.deepEqual(await snapshot(checkout.dir), await gitArchive(repo, second, scratch));
      const logged = checkoutLog(logLines, second);
      assert.equal(logged.reusedCount, 0);
      assert.equal(logged.fileCount, 46);
    });
  }

  it('reads from git the files the previous checkout lost', async () => {
    const scratch = await newTemp('capstan-reuse-scratch');
    const { repo } = await baseRepo('lost');
    const stateDir = await newTemp('capstan-reuse-state');
    const { source, logLines } = makeSource(repo.url, stateDir, { token, logLevel: 'debug' });
    const firstCheckout = await source.checkout(await source.fetch());
    await rm(join(firstCheckout.dir, 'apps/group0'), { recursive: true });

    await repo.write({ 'conf/web.conf': 'listen 8080\n' });
    const second = await repo.commit('edit');
    await repo.push();
    const checkout = await source.checkout(await source.fetch());
    assert.deepEqual(await snapshot(checkout.dir), await gitArchive(repo, second, scratch));
    assert.equal(checkoutLog(logLines, second).reusedCount, 44 - 1 - 10);
  });
});
