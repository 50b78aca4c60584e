import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import git from 'isomorphic-git';
import { objectReadingFs } from '../../agent/source/objects.js';
import { useNativeInflate } from '../../agent/source/native-inflate.js';
import { tempDir, type TempDir } from '../helpers/paths.js';

const gitEnv = { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@example.test', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@example.test' };

function run(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd, env: gitEnv, encoding: 'utf8' }).trim();
}

describe('reading git objects for a checkout', () => {
  let scratch: TempDir;
  let gitdir: string;
  const packed = new Map<string, string>();
  let loose: { oid: string; content: string };

  before(async () => {
    scratch = await tempDir('capstan-object-reads');
    const work = join(scratch.path, 'work');
    fs.mkdirSync(work);
    run(work, 'init', '--quiet', '--initial-branch=main');
    for (let index = 0; index < 12; index++) {
      // Similar files, so the pack holds deltas too.
      const content = `name: file-${index}\n${'line of a manifest\n'.repeat(40)}index: ${index}\n`;
      fs.writeFileSync(join(work, `f${index}.yaml`), content);
      packed.set(run(work, 'hash-object', `f${index}.yaml`), content);
    }
    run(work, 'add', '.');
    run(work, 'commit', '--quiet', '-m', 'files');
    run(work, 'gc', '--quiet', '--aggressive');
    gitdir = join(work, '.git');
    const content = 'written after the pack\n';
    fs.writeFileSync(join(work, 'loose.txt'), content);
    loose = { oid: run(work, 'hash-object', '-w', 'loose.txt'), content };
  });
  after(async () => {
    await scratch?.cleanup();
  });

  it('points the pako isomorphic-git loads at zlib, with the same results and errors', () => {
    assert.equal(useNativeInflate(), true);
    const pako = createRequire(createRequire(import.meta.url).resolve('isomorphic-git'))('pako') as { inflate(data: Uint8Array): Uint8Array };
    const data = Buffer.from('some bytes to round-trip '.repeat(100));
    // A pack entry is followed by the next one: the bytes after the stream are ignored.
    assert.deepEqual(Buffer.from(pako.inflate(Buffer.concat([deflateSync(data), Buffer.from('next object')]))), data);
    assert.throws(() => pako.inflate(Buffer.from('not deflated at all')));
  });

  it('reads packed, deltified and loose objects as git wrote them, listing the pack folder once', async () => {
    let packListings = 0;
    const counting = { ...fs, promises: { ...fs.promises, readdir: ((path: string, options?: unknown) => {
      if (path.endsWith('pack')) packListings++;
      return fs.promises.readdir(path, options as undefined);
    }) as typeof fs.promises.readdir } } as typeof fs;
    const store = { fs: objectReadingFs(counting, gitdir), gitdir, cache: {} };
    for (const [oid, content] of packed) {
      const { blob } = await git.readBlob({ ...store, oid });
      assert.equal(Buffer.from(blob).toString('utf8'), content, oid);
    }
    const { blob } = await git.readBlob({ ...store, oid: loose.oid });
    assert.equal(Buffer.from(blob).toString('utf8'), loose.content);
    assert.equal(packListings, 1);
    await assert.rejects(git.readBlob({ ...store, oid: 'e'.repeat(40) }), /Could not find/);
  });
});
