import { strict as assert } from 'node:assert';
import fs from 'node:fs';
import { chmod, lstat, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { copyFromPrevious, fingerprintOf, readInventory, writeInventory, type InventoryFile, type PreviousCheckout } from '../../agent/source/inventory.js';
import { tempDir, type TempDir } from '../helpers/paths.js';

const commit = 'c'.repeat(40);
const oid = 'a'.repeat(40);

describe('checkout inventory', () => {
  let scratch: TempDir;
  before(async () => {
    scratch = await tempDir('capstan-inventory');
  });
  after(async () => {
    await scratch?.cleanup();
  });

  it('reads back what it wrote', async () => {
    const file = join(scratch.path, 'round-trip.files.json');
    const files: InventoryFile[] = [
      { path: 'b/x.yaml', mode: '100755', oid, fingerprint: '1:2:3' },
      { path: 'a.yaml', mode: '100644', oid: 'b'.repeat(40), fingerprint: '4:5:6' },
    ];
    await writeInventory(fs, file, commit, files, 'test');
    const read = await readInventory(fs, file, commit);
    assert.deepEqual([...(read?.values() ?? [])], [files[1], files[0]]);
    assert.equal(await readInventory(fs, file, 'd'.repeat(40)), undefined, 'another commit');
  });

  it('treats a missing or garbled inventory as none', async () => {
    const file = join(scratch.path, 'garbled.files.json');
    assert.equal(await readInventory(fs, file, commit), undefined);
    const garbled = [
      '', 'null', '[]', '{"commit":"' + commit + '"}', '{"commit":"' + commit + '","files":[["a"',
      JSON.stringify({ commit, files: [['a', '100644', oid]] }),
      JSON.stringify({ commit, files: [['a', '040000', oid, 'f']] }),
      JSON.stringify({ commit, files: [['a', '100644', 'not-an-oid', 'f']] }),
      JSON.stringify({ commit, files: [['', '100644', oid, 'f']] }),
      JSON.stringify({ commit, files: [['a', '100644', oid, 7]] }),
    ];
    for (const content of garbled) {
      await writeFile(file, content);
      assert.equal(await readInventory(fs, file, commit), undefined, content);
    }
  });

  it('copies an untouched file with the same blob and mode, and nothing else', async () => {
    const previousDir = join(scratch.path, 'previous');
    const targetDir = join(scratch.path, 'target');
    await mkdir(previousDir);
    await mkdir(targetDir);
    const files = new Map<string, InventoryFile>();
    for (const name of ['same.yaml', 'edited.yaml', 'chmodded.yaml', 'gone.yaml']) {
      await writeFile(join(previousDir, name), `content of ${name}\n`, { mode: 0o644 });
      files.set(name, { path: name, mode: '100644', oid, fingerprint: fingerprintOf(await lstat(join(previousDir, name), { bigint: true })) });
    }
    await writeFile(join(previousDir, 'edited.yaml'), 'changed in place\n');
    await chmod(join(previousDir, 'chmodded.yaml'), 0o755);
    await rm(join(previousDir, 'gone.yaml'));
    const previous: PreviousCheckout = { commit, dir: previousDir, files };
    const copy = (name: string, wanted = { mode: '100644', oid }) => copyFromPrevious(fs, previous, name, wanted, join(targetDir, name));

    assert.equal(await copy('same.yaml'), true);
    assert.equal(await readFile(join(targetDir, 'same.yaml'), 'utf8'), 'content of same.yaml\n');
    assert.notEqual((await lstat(join(targetDir, 'same.yaml'))).ino, (await lstat(join(previousDir, 'same.yaml'))).ino);
    for (const name of ['edited.yaml', 'chmodded.yaml', 'gone.yaml', 'unknown.yaml']) {
      assert.equal(await copy(name), false, name);
      assert.equal(fs.existsSync(join(targetDir, name)), false, `${name} left nothing behind`);
    }
    assert.equal(await copy('same.yaml', { mode: '100755', oid }), false, 'another mode');
    assert.equal(await copy('same.yaml', { mode: '100644', oid: 'b'.repeat(40) }), false, 'another blob');
  });
});
