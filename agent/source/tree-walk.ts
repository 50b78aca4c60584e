import path from 'node:path';
import { CapstanError } from '../errors.js';
import type { Logger } from '../log.js';
import { forEachBounded } from './bounded.js';
import { GitErrorCode } from './errors.js';
import { readTreeEntries, type ObjectStore } from './objects.js';

/** A blob of the commit: a regular file (100644, 100755, 100664) or a symlink (120000). */
export interface TreeFile {
  path: string;
  mode: string;
  oid: string;
}

export interface TreeLayout {
  /** Folders to create, one list per depth, so each list's parents exist once the previous is done. */
  folderLevels: string[][];
  files: TreeFile[];
}

/**
 * Reads every tree object of a commit, one depth at a time, up to `concurrency` at once.
 * Entries named `..` or holding a slash cannot come from a real git client and would escape the
 * checkout folder: they fail the commit before anything is written. Submodules are left out
 * (their content is in another repository).
 */
export async function readTreeLayout(store: ObjectStore, treeOid: string, logger: Logger, concurrency: number): Promise<TreeLayout> {
  const layout: TreeLayout = { folderLevels: [], files: [] };
  let level = [{ oid: treeOid, relativeDir: '' }];
  // Bounded by the tree itself: every tree object is read once.
  while (level.length > 0) {
    const nextLevel: typeof level = [];
    await forEachBounded(level, concurrency, async ({ oid, relativeDir }) => {
      for (const entry of await readTreeEntries(store, oid)) {
        const relativePath = path.join(relativeDir, entry.path);
        if (entry.path === '' || entry.path === '.' || entry.path === '..' || /[/\\\0]/.test(entry.path)) {
          throw new CapstanError(GitErrorCode.treeUnsafe, 'terminal',
            `the commit holds a tree entry that would escape the checkout (${JSON.stringify(relativePath)})`,
            { path: relativePath });
        }
        if (entry.type === 'tree') nextLevel.push({ oid: entry.oid, relativeDir: relativePath });
        else if (entry.type === 'commit') logger.debug({ path: relativePath }, 'submodule skipped in checkout');
        else layout.files.push({ path: relativePath, mode: entry.mode, oid: entry.oid });
      }
    });
    if (nextLevel.length > 0) layout.folderLevels.push(nextLevel.map((folder) => folder.relativeDir));
    level = nextLevel;
  }
  return layout;
}
