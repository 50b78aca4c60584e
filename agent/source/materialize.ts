import path from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { CapstanError } from '../errors.js';
import type { Logger } from '../log.js';
import { forEachBounded } from './bounded.js';
import { GitErrorCode } from './errors.js';
import { copyFromPrevious, fingerprintOf, type InventoryFile, type PreviousCheckout } from './inventory.js';
import { readBlobContent, type ObjectStore } from './objects.js';
import { readTreeLayout, type TreeFile } from './tree-walk.js';

/** Objects read from git at once (trees, and the blobs of one batch). */
const concurrency = 16;

/**
 * Files written per batch. Each file is a few small system calls (write or copy, then lstat),
 * made synchronously: through the promise API each call is a trip to the libuv pool and back,
 * which made writing 2,000 small files cost ~0.8 s of a first checkout (BENCHMARKS.md figure 5).
 * Between batches the event loop runs, so a large tree never blocks the agent for long.
 */
const batchSize = 64;

const fileModes: Record<string, number> = { '100644': 0o644, '100755': 0o755, '100664': 0o644 };

export interface WrittenTree {
  /** Files and symlinks written. */
  fileCount: number;
  /** Of those, copied from the previous checkout rather than read from git. */
  reusedCount: number;
  /** The regular files, for the inventory. */
  files: InventoryFile[];
  /** Every folder below the tree's own, relative. */
  folders: string[];
}

/**
 * Writes a tree's files under `targetDir` (which must exist and be empty). A file whose blob and
 * mode are unchanged since `previous` is copied from there. Symlinks pointing outside the tree are
 * skipped, so nothing outside the checkout can be read through them.
 */
export async function writeTree(
  store: ObjectStore, treeOid: string, targetDir: string, logger: Logger, previous: PreviousCheckout | undefined,
): Promise<WrittenTree> {
  const { fs } = store;
  const layout = await readTreeLayout(store, treeOid, logger, concurrency);
  for (const folder of layout.folderLevels.flat()) {
    writingSync(folder, () => fs.mkdirSync(path.join(targetDir, folder)));
  }
  const written: WrittenTree = { fileCount: 0, reusedCount: 0, files: [], folders: layout.folderLevels.flat() };
  const symlinks: string[] = [];
  for (let start = 0; start < layout.files.length; start += batchSize) {
    const batch = layout.files.slice(start, start + batchSize).map((file) => ({ file, absolutePath: path.join(targetDir, file.path) }));
    const regular = batch.filter(({ file }) => file.mode !== '120000');
    const fromGit = regular.filter(({ file, absolutePath }) => {
      const reused = previous !== undefined && copyFromPrevious(fs, previous, file.path, file, absolutePath);
      if (reused) written.reusedCount++;
      return !reused;
    });
    const blobs = new Map<string, Uint8Array>();
    await forEachBounded(fromGit, concurrency, async ({ file }) => {
      blobs.set(file.path, await readBlobContent(store, file.oid));
    });
    for (const { file, absolutePath } of regular) {
      const blob = blobs.get(file.path);
      if (blob !== undefined) writingSync(file.path, () => fs.writeFileSync(absolutePath, blob, { mode: fileModes[file.mode] ?? 0o644 }));
      const stat = writingSync(file.path, () => fs.lstatSync(absolutePath, { bigint: true }));
      written.files.push({ ...file, fingerprint: fingerprintOf(stat) });
      written.fileCount++;
    }
    for (const { file, absolutePath } of batch) {
      if (file.mode === '120000' && (await writeSymlink(store, file, targetDir, absolutePath, logger))) symlinks.push(file.path);
    }
    await nextTurn();
  }
  written.fileCount += (await removeEscapingLinks(fs, targetDir, symlinks, logger)).length;
  return written;
}

/**
 * The check in writeSymlink reads the link's text only: `d -> .` with `x -> d/d/../..` passes
 * it, yet resolves above the checkout once `d` exists. With the whole tree written, each link is
 * resolved for real; one that lands outside, or loops, is removed. One pointing at nothing that
 * is not committed stays, as git leaves it. Returns the links kept.
 */
async function removeEscapingLinks(fs: ObjectStore['fs'], targetDir: string, symlinks: string[], logger: Logger): Promise<string[]> {
  const realRoot = await fs.promises.realpath(targetDir);
  const kept: string[] = [];
  for (const relativePath of symlinks.sort()) {
    const absolutePath = path.join(targetDir, relativePath);
    let escapes: boolean;
    try {
      const real = await fs.promises.realpath(absolutePath);
      escapes = real !== realRoot && !real.startsWith(realRoot + path.sep);
    } catch (error) {
      escapes = (error as NodeJS.ErrnoException).code !== 'ENOENT';
    }
    if (!escapes) {
      kept.push(relativePath);
      continue;
    }
    logger.warn({ path: relativePath }, 'symlink pointing outside the repository skipped in checkout');
    await writing(relativePath, () => fs.promises.unlink(absolutePath));
  }
  return kept;
}

/** Returns false when the link is skipped because it points outside the tree. */
async function writeSymlink(store: ObjectStore, file: TreeFile, targetDir: string, absolutePath: string, logger: Logger): Promise<boolean> {
  const linkTarget = Buffer.from(await readBlobContent(store, file.oid)).toString('utf8');
  const resolved = path.resolve(path.dirname(absolutePath), linkTarget);
  if (path.isAbsolute(linkTarget) || !resolved.startsWith(targetDir + path.sep)) {
    logger.warn({ path: file.path }, 'symlink pointing outside the repository skipped in checkout');
    return false;
  }
  await writing(file.path, () => store.fs.promises.symlink(linkTarget, absolutePath));
  return true;
}

async function writing<T>(relativePath: string, write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (cause) {
    throw writeFailure(relativePath, cause);
  }
}

function writingSync<T>(relativePath: string, write: () => T): T {
  try {
    return write();
  } catch (cause) {
    throw writeFailure(relativePath, cause);
  }
}

function writeFailure(relativePath: string, cause: unknown): CapstanError {
  const reason = (cause as NodeJS.ErrnoException).code ?? 'error';
  return new CapstanError(GitErrorCode.checkoutFailed, 'transient',
    `cannot write ${relativePath} of the checkout (${reason})`, { path: relativePath, reason }, { cause });
}
