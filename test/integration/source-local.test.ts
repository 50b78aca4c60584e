// An air-gapped site's repository read in place: working copy, bare, file:// URL. No network.
import { strict as assert } from 'node:assert';
import fs from 'node:fs';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { before, describe, it } from 'node:test';
import pino from 'pino';
import { CapstanError } from '../../agent/errors.js';
import { createGitSource, type GitSource, type HttpClient } from '../../agent/source/index.js';
import { sharedAgent } from '../helpers/fixture.js';
import { gitEnvironment, runGit } from '../helpers/git-server.js';

const noNetwork: HttpClient = {
  request: async () => {
    throw new Error('a local repository must not use the network');
  },
};

function makeSource(repo: string, stateDir: string, branch = 'main'): GitSource {
  const logger = pino({ level: 'silent' });
  const clock = { now: () => Date.now(), sleep: async () => undefined };
  return createGitSource({ repo, branch, stateDir }, { fs, http: noNetwork, logger, clock });
}

async function rejectsWithCode(promise: Promise<unknown>, code: string): Promise<CapstanError> {
  let caught: unknown;
  await assert.rejects(promise, (error: unknown) => {
    caught = error;
    return true;
  });
  assert.ok(caught instanceof CapstanError, `expected a CapstanError, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  return caught;
}

describe('git source from a local repository', () => {
  // No git server (the repository is a local folder): the fixture gives the scratch folders.
  const fixture = sharedAgent({ noRepo: true });
  let scratch: string;
  let workDir: string;
  let git: (...args: string[]) => Promise<string>;
  const newStateDir = async () => (await fixture.tempDir('capstan-source-local')).path;
  const commitFiles = async (files: Record<string, string>, message: string) => {
    for (const [file, content] of Object.entries(files)) {
      await fs.promises.mkdir(join(workDir, file, '..'), { recursive: true });
      await writeFile(join(workDir, file), content);
    }
    await git('add', '-A');
    await git('commit', '--quiet', '-m', message);
    return (await git('rev-parse', 'HEAD')).trim();
  };

  before(async () => {
    scratch = (await fixture.tempDir('capstan-local-repo')).path;
    workDir = join(scratch, 'work');
    const env = gitEnvironment(scratch);
    await runGit(scratch, ['init', '--quiet', '--initial-branch=main', workDir], env);
    git = (...args: string[]) => runGit(workDir, args, env);
    await git('config', 'user.name', 'Local Author');
    await git('config', 'user.email', 'local@example.test');
    await commitFiles({ 'README.md': 'manifests\n' }, 'initial');
  });

  it('reads a working copy in place and follows its new commits', async () => {
    const first = await commitFiles({ 'apps/web.yaml': 'app: web\n' }, 'first\n\nbody');
    const stateDir = await newStateDir();
    const source = makeSource(workDir, stateDir);
    assert.equal(await source.fetch(), first);
    const checkout = await source.checkout(first);
    assert.equal(checkout.author, 'Local Author <local@example.test>');
    assert.equal(checkout.message, 'first');
    assert.equal(await readFile(join(checkout.dir, 'apps/web.yaml'), 'utf8'), 'app: web\n');
    // No cache: only the checkout is written.
    assert.deepEqual(await readdir(stateDir), ['checkouts']);

    const second = await commitFiles({ 'apps/web.yaml': 'app: web2\n', 'apps/db.yaml': 'app: db\n' }, 'second');
    assert.equal(await source.fetch(), second);
    assert.equal(await readFile(join((await source.checkout(second)).dir, 'apps/db.yaml'), 'utf8'), 'app: db\n');
  });

  it('reads packed objects and packed refs after git gc', async () => {
    const head = await commitFiles({ 'after-gc.yaml': 'app: gc\n' }, 'before gc');
    await git('gc', '--quiet', '--aggressive', '--prune=now');
    const stateDir = await newStateDir();
    const source = makeSource(workDir, stateDir);
    assert.equal(await source.fetch(), head);
    assert.equal(await readFile(join((await source.checkout(head)).dir, 'after-gc.yaml'), 'utf8'), 'app: gc\n');
  });

  it('reads a bare repository given as a path or a file:// URL', async () => {
    const head = await commitFiles({ 'apps/bare.yaml': 'app: bare\n' }, 'for the bare clone');
    const bareDir = join(scratch, 'bare.git');
    await runGit(scratch, ['clone', '--quiet', '--bare', workDir, bareDir], gitEnvironment(scratch));
    for (const repo of [bareDir, pathToFileURL(bareDir).href]) {
      const source = makeSource(repo, await newStateDir());
      assert.equal(await source.fetch(), head, repo);
      const checkout = await source.checkout(head);
      assert.equal(await readFile(join(checkout.dir, 'apps/bare.yaml'), 'utf8'), 'app: bare\n');
    }
  });

  it('reports a missing branch, a missing path and an unknown commit', async () => {
    const missingBranch = await rejectsWithCode(makeSource(workDir, await newStateDir(), 'release').fetch(), 'GIT_BRANCH_NOT_FOUND');
    assert.equal(missingBranch.errorClass, 'terminal');
    const missingPath = await rejectsWithCode(makeSource(join(scratch, 'unmounted'), await newStateDir()).fetch(), 'GIT_UNREACHABLE');
    assert.equal(missingPath.errorClass, 'transient');
    await rejectsWithCode(makeSource(scratch, await newStateDir()).fetch(), 'GIT_UNREACHABLE');
    await rejectsWithCode(makeSource(workDir, await newStateDir()).checkout('0123456789abcdef0123456789abcdef01234567'), 'GIT_COMMIT_NOT_FOUND');
  });
});
