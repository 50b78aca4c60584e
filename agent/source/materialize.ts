import path from 'node:path';
import git from 'isomorphic-git';
import { CapstanError } from '../errors.js';
import type { Logger } from '../log.js';
import { GitErrorCode } from './errors.js';

type Fs = typeof import('node:fs');

export interface CommitInfo {
  tree: string;
  /** `Name <email>` */
  author: string;
  /** First line only: the rest can be long and is not needed to say what was deployed. */
  message: string;
  /** Committer time, ISO 8601 UTC. */
  committedAt: string;
}

/**
 * An object could not be read from the git store (missing, SHA mismatch, garbled zlib).
 * Kept apart from write failures so a full disk never triggers a needless re-clone.
 */
export class ObjectReadError extends Error {
  readonly oid: string;

  constructor(oid: string, cause: unknown) {
    super(`git object ${oid} cannot be read`, { cause });
    this.name = 'ObjectReadError';
    this.oid = oid;
  }
}

async function readObject<T>(oid: string, read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (error) {
    throw new ObjectReadError(oid, error);
  }
}

export async function readCommitInfo(fs: Fs, gitdir: string, commit: string, cache: object): Promise<CommitInfo> {
  const { commit: parsed } = await readObject(commit, () => git.readCommit({ fs, gitdir, oid: commit, cache }));
  return {
    tree: parsed.tree,
    author: `${parsed.author.name} <${parsed.author.email}>`,
    message: parsed.message.split('\n')[0].trim(),
    committedAt: new Date(parsed.committer.timestamp * 1000).toISOString(),
  };
}

const fileModes: Record<string, number> = { '100644': 0o644, '100755': 0o755, '100664': 0o644 };

/**
 * Writes a tree's files under `targetDir` (which must exist). Entries named `..` or holding a
 * slash cannot come from a real git client and would escape the folder: they fail the commit.
 * Symlinks pointing outside the tree are skipped, so nothing outside the checkout can be read
 * through them; submodules are skipped too (their content is in another repository).
 */
export async function writeTree(fs: Fs, gitdir: string, treeOid: string, targetDir: string, logger: Logger, cache: object): Promise<number> {
  const pending: Array<{ oid: string; relativeDir: string }> = [{ oid: treeOid, relativeDir: '' }];
  let fileCount = 0;
  // Bounded by the tree itself: every tree object is visited once.
  while (pending.length > 0) {
    const { oid, relativeDir } = pending.pop()!;
    const { tree } = await readObject(oid, () => git.readTree({ fs, gitdir, oid, cache }));
    for (const entry of tree) {
      if (entry.path === '' || entry.path === '.' || entry.path === '..' || /[/\\\0]/.test(entry.path)) {
        throw new CapstanError(GitErrorCode.treeUnsafe, 'terminal',
          `the commit holds a tree entry that would escape the checkout (${JSON.stringify(path.join(relativeDir, entry.path))})`,
          { path: path.join(relativeDir, entry.path) });
      }
      const relativePath = path.join(relativeDir, entry.path);
      const absolutePath = path.join(targetDir, relativePath);
      if (entry.type === 'tree') {
        await writing(relativePath, () => fs.promises.mkdir(absolutePath));
        pending.push({ oid: entry.oid, relativeDir: relativePath });
      } else if (entry.type === 'commit') {
        logger.debug({ path: relativePath }, 'submodule skipped in checkout');
      } else if (entry.mode === '120000') {
        const { blob } = await readObject(entry.oid, () => git.readBlob({ fs, gitdir, oid: entry.oid, cache }));
        const linkTarget = Buffer.from(blob).toString('utf8');
        const resolved = path.resolve(path.dirname(absolutePath), linkTarget);
        if (path.isAbsolute(linkTarget) || !resolved.startsWith(targetDir + path.sep)) {
          logger.warn({ path: relativePath }, 'symlink pointing outside the repository skipped in checkout');
          continue;
        }
        await writing(relativePath, () => fs.promises.symlink(linkTarget, absolutePath));
        fileCount++;
      } else {
        const { blob } = await readObject(entry.oid, () => git.readBlob({ fs, gitdir, oid: entry.oid, cache }));
        const mode = fileModes[entry.mode] ?? 0o644;
        await writing(relativePath, () => fs.promises.writeFile(absolutePath, blob, { mode }));
        fileCount++;
      }
    }
  }
  return fileCount;
}

async function writing(relativePath: string, write: () => Promise<unknown>): Promise<void> {
  try {
    await write();
  } catch (cause) {
    const reason = (cause as NodeJS.ErrnoException).code ?? 'error';
    throw new CapstanError(GitErrorCode.checkoutFailed, 'transient',
      `cannot write ${relativePath} of the checkout (${reason})`, { path: relativePath, reason }, { cause });
  }
}
