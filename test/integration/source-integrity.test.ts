// What is loaded must be exactly the verified commit's tree. A completed checkout is reused
// (after a restart, or for the rollback commit) only when every file and folder is as it was
// written; anything changed in it since (a file rewritten, added, removed or turned into a link)
// makes the source write it again from git.
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { appendFile, chmod, lstat, mkdir, readFile, readdir, readlink, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import http from 'isomorphic-git/http/node';
import pino from 'pino';
import { createGitSource, type GitSource } from '../../agent/source/index.js';
import { startGitServer, type GitServer, type RemoteRepo } from '../helpers/git-server.js';
import { tempDir, type TempDir } from '../helpers/paths.js';

function makeSource(repo: string, stateDir: string): GitSource {
  const logger = pino({ level: 'silent' });
  const clock = { now: () => Date.now(), sleep: async () => undefined };
  return createGitSource({ repo, branch: 'main', stateDir }, { fs, http, logger, clock });
}

/** Every entry under `dir`: type, executable bit, and content or link target. */
async function snapshot(dir: string, prefix = ''): Promise<Record<string, string>> {
  const entries: Record<string, string> = {};
  for (const name of (await readdir(join(dir, prefix))).sort()) {
    const relative = prefix === '' ? name : `${prefix}/${name}`;
    const absolute = join(dir, relative);
    const stat = await lstat(absolute);
    if (stat.isSymbolicLink()) entries[relative] = `symlink -> ${await readlink(absolute)}`;
    else if (stat.isDirectory()) Object.assign(entries, { [relative]: 'dir' }, await snapshot(dir, relative));
    else entries[relative] = `file ${stat.mode & 0o111 ? 'x' : '-'} ${(await readFile(absolute)).toString('base64')}`;
  }
  return entries;
}

async function gitArchive(repo: RemoteRepo, commit: string, scratch: string): Promise<Record<string, string>> {
  const dir = join(scratch, `archive-${commit}`);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  await repo.git('archive', '--format=tar', '-o', join(scratch, `${commit}.tar`), commit);
  execFileSync('tar', ['-x', '-f', join(scratch, `${commit}.tar`), '-C', dir], { timeout: 30_000 });
  return snapshot(dir);
}

describe('checkout integrity: a reused checkout is the commit\'s tree', () => {
  let server: GitServer;
  const temps: TempDir[] = [];
  const newTemp = async (prefix: string) => {
    const dir = await tempDir(prefix);
    temps.push(dir);
    return dir.path;
  };

  before(async () => {
    server = await startGitServer();
  });
  after(async () => {
    await server?.close();
    for (const dir of temps) await dir.cleanup();
  });

  it('writes the commit again after any change to its checkout, each checked by a fresh source (a restart)', async () => {
    const scratch = await newTemp('capstan-integrity-scratch');
    const stateDir = await newTemp('capstan-integrity-state');
    const repo = await server.createRepo('integrity');
    await repo.write({ 'apps/shop.yaml': 'app: shop\n', 'apps/conf/web.conf': 'listen 80\n', 'bin/run.sh': '#!/bin/sh\n' });
    await chmod(join(repo.workDir, 'bin/run.sh'), 0o755);
    await symlink('shop.yaml', join(repo.workDir, 'apps/current.yaml'));
    const commit = await repo.commit('base');
    await repo.push();
    const expected = await gitArchive(repo, commit, scratch);

    const first = makeSource(repo.url, stateDir);
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
      const restarted = makeSource(repo.url, stateDir);
      const checkout = await restarted.checkout(commit);
      assert.equal(checkout.dir, dir);
      assert.deepEqual(await snapshot(checkout.dir), expected, `after ${what}, the checkout is the commit's tree again`);
    }
  });
});
