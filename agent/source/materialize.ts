import path from 'node:path';
import { CapstanError } from '../errors.js';
import type { Logger } from '../log.js';
import { forEachBounded } from './bounded.js';
import { GitErrorCode } from './errors.js';
import { copyFromPrevious, fingerprintOf, type InventoryFile, type PreviousCheckout } from './inventory.js';
import { readBlobContent, type ObjectStore } from './objects.js';
import { readTreeLayout, type TreeFile } from './tree-walk.js';

/**
 * Files written at once. Awaiting each write in turn left the process idle half the time on
 * 2,000 files; the libuv pool runs 4 file operations at a time, so 16 keeps it busy while
 * holding at most 16 blobs in memory.
 */
const concurrency = 16;

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
  for (const folders of layout.folderLevels) {
    await forEachBounded(folders, concurrency, (folder) => writing(folder, () => fs.promises.mkdir(path.join(targetDir, folder))));
  }
  const written: WrittenTree = { fileCount: 0, reusedCount: 0, files: [], folders: layout.folderLevels.flat() };
  const symlinks: string[] = [];
  await forEachBounded(layout.files, concurrency, async (file) => {
    const absolutePath = path.join(targetDir, file.path);
    if (file.mode === '120000') {
      if (await writeSymlink(store, file, targetDir, absolutePath, logger)) symlinks.push(file.path);
      return;
    }
    const reused = previous !== undefined && (await copyFromPrevious(fs, previous, file.path, file, absolutePath));
    if (!reused) {
      const blob = await readBlobContent(store, file.oid);
      await writing(file.path, () => fs.promises.writeFile(absolutePath, blob, { mode: fileModes[file.mode] ?? 0o644 }));
    }
    const stat = await writing(file.path, () => fs.promises.lstat(absolutePath, { bigint: true }));
    written.files.push({ ...file, fingerprint: fingerprintOf(stat) });
    written.fileCount++;
    if (reused) written.reusedCount++;
  });
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
    const reason = (cause as NodeJS.ErrnoException).code ?? 'error';
    throw new CapstanError(GitErrorCode.checkoutFailed, 'transient',
      `cannot write ${relativePath} of the checkout (${reason})`, { path: relativePath, reason }, { cause });
  }
}
