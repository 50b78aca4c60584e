// The loader reads the checkout only through the FileReader it is given (LoadInput.files), so the
// same tree loads the same from memory as from disk.
import assert from 'node:assert/strict';
import { lstat, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { formatProblem } from '../../agent/errors.js';
import { loadDesiredState, validateDir } from '../../agent/load/index.js';
import { DEFAULT_POLICY } from '../../agent/policy/index.js';
import { memoryFiles, type MemoryEntry } from '../helpers/memory-files.js';
import { repoRoot } from '../helpers/paths.js';

const COMMIT = 'c'.repeat(40);
const hashKey = new TextEncoder().encode('memory-test-key');
// The `full` fixture mounts /srv/shared and names the volume shared-cache (see load.test.ts).
const policy = { ...DEFAULT_POLICY, bindRoots: ['/srv'], allowedVolumeNames: ['shared-cache'] };
/** Nothing exists here on disk: a load that went to the real file system would not find it. */
const MEMORY_ROOT = '/capstan-memory-checkout';

/** A folder of the disk as memory entries: files with their mode, links with their target. */
async function entriesOf(folder: string, prefix = ''): Promise<Record<string, MemoryEntry>> {
  const entries: Record<string, MemoryEntry> = {};
  for (const name of await readdir(folder)) {
    const absolute = join(folder, name);
    const info = await lstat(absolute);
    if (info.isDirectory()) Object.assign(entries, await entriesOf(absolute, `${prefix}${name}/`));
    else if (info.isFile()) entries[prefix + name] = { bytes: await readFile(absolute), mode: info.mode & 0o777 };
  }
  return entries;
}

describe('loading from an in-memory file reader', () => {
  it('gives the desired state the same tree gives from disk, config hashes and file digests included', async () => {
    const onDisk = join(repoRoot(), 'test', 'fixtures', 'manifests', 'full');
    const fromDisk = await loadDesiredState({ root: onDisk, commit: COMMIT, hashKey, policy });
    const files = memoryFiles(MEMORY_ROOT, await entriesOf(onDisk));
    const fromMemory = await loadDesiredState({ root: MEMORY_ROOT, commit: COMMIT, hashKey, policy, files });
    assert.ok(fromMemory.apps.length > 0);
    assert.deepEqual(JSON.parse(JSON.stringify(fromMemory).replaceAll(MEMORY_ROOT, onDisk)), JSON.parse(JSON.stringify(fromDisk)));
  });

  it('refuses what the limits and the checkout refuse: a file over --max-manifest-bytes, a mount through a link out of the checkout', async () => {
    const files = memoryFiles(MEMORY_ROOT, {
      'big.yaml': `name: big\nservices:\n  web:\n    image: local/busybox:1\n# ${'x'.repeat(2048)}\n`,
      'app.yaml': 'app: app\nservices:\n  web:\n    image: local/busybox:1\n    volumes:\n      - ./conf:/etc/conf:ro\n',
      conf: { link: '../elsewhere' },
      '../elsewhere/app.conf': 'outside the checkout',
    });
    const result = await validateDir({ root: MEMORY_ROOT, commit: COMMIT, hashKey, files, readLimits: { maxManifestBytes: 1024, maxTreeBytes: 1024 * 1024 } });
    const problems = result.problems.map(formatProblem).join('\n');
    assert.match(problems, /big\.yaml.*FILE_TOO_LARGE/);
    assert.match(problems, /app\.yaml.*BIND_OUTSIDE_CHECKOUT/);
  });
});

describe('loading a Compose folder from an in-memory file reader', () => {
  it('reads compose.yaml, its include and extends files and .env through the reader alone', async () => {
    const files = memoryFiles(MEMORY_ROOT, {
      'shop/compose.yaml': 'include:\n  - ./db/compose.yaml\nservices:\n  web:\n    extends:\n      file: ./base.yaml\n      service: base\n    environment:\n      GREETING: ${GREETING}\n    label_file: ./web.labels\n    env_file:\n      - path: ./missing.env\n        required: false\n    volumes:\n      - ./conf:/etc/conf:ro\n',
      'shop/web.labels': 'com.example.team=memory\n',
      'shop/conf/app.conf': 'listen 80\n',
      'shop/base.yaml': 'services:\n  base:\n    image: local/busybox:${TAG}\n    command: ["sleep", "infinity"]\n',
      'shop/db/compose.yaml': 'services:\n  db:\n    image: local/busybox:1\n',
      'shop/.env': 'TAG=1\nGREETING=hello from memory\n',
    });
    const state = await loadDesiredState({ root: MEMORY_ROOT, commit: COMMIT, hashKey, policy, files });
    const app = state.apps.find((candidate) => candidate.name === 'shop');
    assert.ok(app, JSON.stringify(state));
    const text = JSON.stringify(app);
    assert.match(text, /local\/busybox:1/);
    assert.match(text, /hello from memory/);
    assert.match(text, /"db"/);
    assert.match(text, /com\.example\.team/);
    assert.match(text, /\/etc\/conf/);
  });
});
