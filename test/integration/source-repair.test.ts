// A damaged git cache is deleted and fetched afresh, once per call; the result is the same tree.
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { chmod, mkdir, readFile, readdir, rm, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import http from 'isomorphic-git/http/node';
import pino from 'pino';
import { CapstanError } from '../../agent/errors.js';
import { createGitSource, type GitSource } from '../../agent/source/index.js';
import { sharedAgent } from '../helpers/fixture.js';
import { gitEnvironment, type RemoteRepo } from '../helpers/git-server.js';

const token = `tok-${randomBytes(16).toString('hex')}`;
// Random bytes do not compress, so this blob fills the middle of the pack: garbling the middle
// damages a blob while the commit and the trees stay readable.
const largeBlob = randomBytes(64 * 1024).toString('base64');

function makeSource(repo: string, stateDir: string, fileSystem: typeof fs = fs): { source: GitSource; logLines: string[] } {
  const logLines: string[] = [];
  const logger = pino({ level: 'debug', base: undefined }, { write: (line: string) => void logLines.push(line) });
  const clock = { now: () => Date.now(), sleep: async () => undefined };
  return { source: createGitSource({ repo, branch: 'main', stateDir, token }, { fs: fileSystem, http, logger, clock }), logLines };
}

async function packFiles(stateDir: string): Promise<string[]> {
  const packDir = join(stateDir, 'git', 'objects', 'pack');
  return (await readdir(packDir)).map((name) => join(packDir, name));
}

async function garbleMiddle(file: string): Promise<void> {
  const content = await readFile(file);
  const middle = Math.floor(content.length / 2);
  for (let offset = middle; offset < middle + 64; offset++) content[offset] ^= 0xff;
  await writeFile(file, content);
}

/**
 * isomorphic-git only writes packs, and checks a pack's SHA-1 on first read, so any damage to a
 * pack shows up as soon as fetch looks at the commit. Unpacking into loose objects lets a test
 * damage one blob alone, which only the checkout notices.
 */
async function explodeIntoLooseObjects(stateDir: string): Promise<void> {
  const gitdir = join(stateDir, 'git');
  for (const file of await packFiles(stateDir)) {
    const content = await readFile(file);
    await rm(file);
    if (file.endsWith('.pack')) {
      execFileSync('git', ['unpack-objects', '-q'], { input: content, env: { ...gitEnvironment(stateDir), GIT_DIR: gitdir }, timeout: 30_000 });
    }
  }
}

function looseObjectPath(stateDir: string, oid: string): string {
  return join(stateDir, 'git', 'objects', oid.slice(0, 2), oid.slice(2));
}

let largeBlobOid = '';

const damages: Array<{ name: string; damage: (stateDir: string) => Promise<void> }> = [
  {
    name: 'a deleted loose object',
    damage: async (stateDir) => {
      await explodeIntoLooseObjects(stateDir);
      await rm(looseObjectPath(stateDir, largeBlobOid));
    },
  },
  {
    name: 'a garbled loose object',
    damage: async (stateDir) => {
      await explodeIntoLooseObjects(stateDir);
      await chmod(looseObjectPath(stateDir, largeBlobOid), 0o644);
      await garbleMiddle(looseObjectPath(stateDir, largeBlobOid));
    },
  },
  { name: 'a garbled HEAD', damage: (stateDir) => writeFile(join(stateDir, 'git', 'HEAD'), 'ref: \u0000\u0001garbage') },
  { name: 'a garbled tracking ref', damage: (stateDir) => writeFile(join(stateDir, 'git', 'refs', 'remotes', 'origin', 'main'), 'not-a-sha\n') },
  { name: 'a garbled shallow file', damage: (stateDir) => writeFile(join(stateDir, 'git', 'shallow'), 'zz\n') },
  {
    name: 'a truncated pack',
    damage: async (stateDir) => {
      for (const file of await packFiles(stateDir)) if (file.endsWith('.pack')) await truncate(file, 200);
    },
  },
  {
    name: 'a deleted pack index',
    damage: async (stateDir) => {
      for (const file of await packFiles(stateDir)) if (file.endsWith('.idx')) await rm(file);
    },
  },
  {
    name: 'deleted object files',
    damage: async (stateDir) => {
      for (const file of await packFiles(stateDir)) await rm(file);
    },
  },
  {
    name: 'garbled bytes inside the pack',
    damage: async (stateDir) => {
      for (const file of await packFiles(stateDir)) if (file.endsWith('.pack')) await garbleMiddle(file);
    },
  },
  {
    name: 'an interrupted clone',
    damage: async (stateDir) => {
      await rm(join(stateDir, 'git'), { recursive: true });
      await mkdir(join(stateDir, 'git', 'objects'), { recursive: true });
      await writeFile(join(stateDir, 'git', 'HEAD'), 'ref: refs/hea');
      await mkdir(join(stateDir, 'git.tmp-4242-1-1', 'objects'), { recursive: true });
    },
  },
];

describe('git cache self-repair', () => {
  // The fixture's git server and scratch folders; no agent runs here.
  const fixture = sharedAgent({ token });
  let repo: RemoteRepo;
  let commit: string;

  before(async () => {
    repo = await fixture.server.createRepo('repair');
    await repo.write({ 'apps/web.yaml': 'app: web\n', 'data/large.txt': largeBlob, 'README.md': 'manifests\n' });
    commit = await repo.commit('initial');
    await repo.push();
    largeBlobOid = (await repo.git('rev-parse', `${commit}:data/large.txt`)).trim();
  });

  for (const { name, damage } of damages) {
    it(`repairs ${name}`, async () => {
      const state = await fixture.tempDir('capstan-repair');
      const { source, logLines } = makeSource(repo.url, state.path);
      await source.checkout(await source.fetch());
      await damage(state.path);
      await rm(join(state.path, 'checkouts'), { recursive: true });

      const before = fixture.server.log.length;
      assert.equal(await source.fetch(), commit);
      const checkout = await source.checkout(commit);
      assert.equal(await readFile(join(checkout.dir, 'data/large.txt'), 'utf8'), largeBlob);
      assert.equal(await readFile(join(checkout.dir, 'apps/web.yaml'), 'utf8'), 'app: web\n');
      const packDownloads = fixture.server.log.slice(before).filter((record) => record.kind === 'fetch').length;
      assert.equal(packDownloads, 1, 'one fresh fetch repairs it');
      assert.deepEqual((await readdir(state.path)).sort(), ['checkouts', 'git']);
      if (name !== 'deleted object files') {
        assert.ok(logLines.some((line) => /fetching afresh/.test(line) && line.includes('"level":40')), 'the repair is logged as a warning');
      }
    });
  }

  it('gives up with GIT_CACHE_CORRUPT when the cache stays unreadable, after one fresh fetch per call', async () => {
    const state = await fixture.tempDir('capstan-repair');
    // A disk that garbles every pack it returns: fetching afresh cannot help.
    const garblingFs = {
      ...fs,
      promises: {
        ...fs.promises,
        readFile: (async (file: fs.PathLike | fs.promises.FileHandle, options?: unknown) => {
          const content = await fs.promises.readFile(file, options as undefined);
          if (!String(file).endsWith('.pack') || !Buffer.isBuffer(content)) return content;
          const copy = Buffer.from(content);
          for (let offset = 12; offset < copy.length - 20; offset++) copy[offset] ^= 0x5a;
          return copy;
        }) as typeof fs.promises.readFile,
      },
    } as typeof fs;
    const { source } = makeSource(repo.url, state.path, garblingFs);
    for (let call = 0; call < 2; call++) {
      const before = fixture.server.log.length;
      await assert.rejects(source.fetch(), (error: unknown) => {
        assert.ok(error instanceof CapstanError, String(error));
        assert.equal(error.code, 'GIT_CACHE_CORRUPT');
        assert.equal(error.errorClass, 'transient');
        return true;
      });
      const packDownloads = fixture.server.log.slice(before).filter((record) => record.kind === 'fetch').length;
      assert.ok(packDownloads >= 1 && packDownloads <= 2, `bounded re-fetching per call, got ${packDownloads}`);
    }
  });
});
