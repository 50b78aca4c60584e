// Issue 24: a new commit on an existing cache fetches only what changed (deepen-since the cached
// head, negotiated against it), not the whole tree again; where the server selects nothing that
// way (a force-push to a commit older than the cached head), the depth-1 fetch still follows.
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { open, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import http from 'isomorphic-git/http/node';
import pino from 'pino';
import { createGitSource } from '../../agent/source/index.js';
import { agentFor } from '../helpers/fixture.js';
import { gitEnvironment, runGit } from '../helpers/git-server.js';

const token = `tok-${randomBytes(16).toString('hex')}`;
const fileCount = 200;

/** Objects in each pack of the cache, newest last (a pack's header holds its object count). */
async function packObjectCounts(gitdir: string): Promise<Map<string, number>> {
  const packDir = join(gitdir, 'objects', 'pack');
  const counts = new Map<string, number>();
  for (const name of (await readdir(packDir)).filter((entry) => entry.endsWith('.pack'))) {
    const handle = await open(join(packDir, name), 'r');
    try {
      const header = Buffer.alloc(12);
      await handle.read(header, 0, 12, 0);
      counts.set(name, header.readUInt32BE(8));
    } finally {
      await handle.close();
    }
  }
  return counts;
}

describe('incremental fetch', () => {
  it('a one-file change brings a handful of objects; a force-push to an older commit still arrives', async (t) => {
    const { server, repo, state } = await agentFor(t, { app: 'incremental', token, repoName: 'incremental' });
    const files: Record<string, string> = {};
    for (let index = 0; index < fileCount; index++) files[`dir${index % 10}/file${index}.txt`] = `file ${index}\n`;
    await repo.write(files);
    const first = await repo.commit('many files');
    await repo.push();
    const lines: string[] = [];
    const logger = pino({ level: 'debug', base: undefined }, { write: (line: string) => void lines.push(line) });
    const source = createGitSource({ repo: repo.url, branch: 'main', stateDir: state.path, token },
      { fs, http, logger, clock: { now: () => Date.now(), sleep: async () => undefined } });
    assert.equal(await source.fetch(), first);
    const gitdir = await source.gitdir();
    const initial = await packObjectCounts(gitdir);
    assert.ok([...initial.values()].some((count) => count > fileCount), JSON.stringify([...initial]));

    await repo.write({ 'dir3/file3.txt': 'changed\n' });
    const second = await repo.commit('one file');
    await repo.push();
    assert.equal(await source.fetch(), second);
    const added = [...(await packObjectCounts(gitdir))].filter(([name]) => !initial.has(name));
    // The commit, the root tree, dir3's tree and the blob.
    assert.equal(added.length, 1, JSON.stringify(added));
    assert.ok(added[0][1] <= 4, `the new pack holds ${added[0][1]} objects`);
    assert.equal(await readFile(join((await source.checkout(second)).dir, 'dir3', 'file3.txt'), 'utf8'), 'changed\n');

    // A force-push to a new commit dated before the cached head: nothing is selected since then,
    // so the source falls back to the depth-1 fetch.
    await repo.git('reset', '--quiet', '--hard', first);
    await repo.write({ 'dir4/file4.txt': 'rewritten\n' });
    await repo.git('add', '-A');
    await runGit(repo.workDir, ['commit', '--quiet', '-m', 'back-dated'], { ...gitEnvironment(server.root), GIT_COMMITTER_DATE: '2001-01-01T00:00:00Z', GIT_AUTHOR_DATE: '2001-01-01T00:00:00Z' });
    const backDated = (await repo.git('rev-parse', 'HEAD')).trim();
    await repo.push({ force: true });
    assert.equal(await source.fetch(), backDated);
    assert.equal(await readFile(join((await source.checkout(backDated)).dir, 'dir4', 'file4.txt'), 'utf8'), 'rewritten\n');
    assert.ok(!lines.some((line) => line.includes('fetching afresh')), lines.join('\n'));
    assert.ok(lines.some((line) => /incremental fetch (refused|brought nothing)/.test(line)), lines.join('\n'));
  });
});
