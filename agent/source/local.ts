import path from 'node:path';
import git from '../git.js';
import { CapstanError } from '../errors.js';
import { readVerifiedCheckout, pruneCheckouts, writeCheckout } from './checkouts.js';
import { GitErrorCode, branchNotFound, assertCommitId, commitNotFound, readsMissingCommit } from './errors.js';
import { ObjectReadError } from './objects.js';
import { distanceFrom, pinNotInBranch } from './ancestry.js';
import type { GitSource, SourceDeps } from './types.js';

type Fs = typeof import('node:fs');

/**
 * An air-gapped site's repository, read in place: no network and no copy of its history, only
 * the checked-out tree is written under the state dir. Capstan does not own this repository, so
 * it never repairs it; damage is reported as GIT_REPO_CORRUPT.
 */
export function createLocalSource(config: { path: string; branch: string; stateDir: string }, deps: SourceDeps): GitSource {
  const { fs, logger } = deps;
  let writeCount = 0;
  const uniqueSuffix = () => `${process.pid}-${deps.clock.now()}-${++writeCount}`;

  return {
    async fetch() {
      const gitdir = await locateGitdir(fs, config.path);
      try {
        return await git.resolveRef({ fs, gitdir, ref: `refs/heads/${config.branch}` });
      } catch (error) {
        if ((error as { code?: string }).code === 'NotFoundError') throw branchNotFound(config.path, config.branch);
        throw new CapstanError(GitErrorCode.repoCorrupt, 'transient',
          `refs of the repository at ${config.path} cannot be read`, { repo: config.path }, { cause: error });
      }
    },

    async checkout(commit) {
      assertCommitId(config.path, commit);
      const completed = await readVerifiedCheckout(fs, config.stateDir, commit, logger);
      if (completed) return completed;
      const gitdir = await locateGitdir(fs, config.path);
      try {
        return await writeCheckout(fs, config.stateDir, commit, gitdir, logger, uniqueSuffix());
      } catch (error) {
        if (!(error instanceof ObjectReadError)) throw error;
        if (readsMissingCommit(error, commit)) throw commitNotFound(config.path, commit);
        throw new CapstanError(GitErrorCode.repoCorrupt, 'transient',
          `object ${error.oid} of commit ${commit} cannot be read from the repository at ${config.path}: run \`git fsck\` there`,
          { repo: config.path, commit, oid: error.oid }, { cause: error });
      }
    },

    prune: (keep) => pruneCheckouts(fs, config.stateDir, keep, logger),
    gitdir: () => locateGitdir(fs, config.path),

    // The repository holds all of its history: one walk decides.
    async reach(commit, head) {
      assertCommitId(config.path, commit);
      const found = await distanceFrom(fs, await locateGitdir(fs, config.path), head, commit);
      if (found.state === 'found') return found.ahead;
      throw pinNotInBranch(config.path, config.branch, commit, found.state === 'absent' ? 'not found in its whole history' : 'not found in the latest commits');
    },
  };
}

/** `<path>/.git` for a working copy (or the folder a `.git` file points to), `<path>` if bare. */
export async function locateGitdir(fs: Fs, repoPath: string): Promise<string> {
  const dotGit = path.join(repoPath, '.git');
  const dotGitStat = await fs.promises.stat(dotGit).catch(() => undefined);
  if (dotGitStat?.isDirectory()) return dotGit;
  if (dotGitStat?.isFile()) {
    const pointer = /^gitdir:\s*(.+?)\s*$/m.exec(await fs.promises.readFile(dotGit, 'utf8'));
    if (pointer) return path.resolve(repoPath, pointer[1]);
  }
  const [head, objects] = await Promise.all([
    fs.promises.stat(path.join(repoPath, 'HEAD')).catch(() => undefined),
    fs.promises.stat(path.join(repoPath, 'objects')).catch(() => undefined),
  ]);
  if (head?.isFile() && objects?.isDirectory()) return repoPath;
  const exists = await fs.promises.stat(repoPath).then(() => true, () => false);
  // Transient: an unmounted disk or a share not yet up looks the same and comes back.
  throw new CapstanError(GitErrorCode.unreachable, 'transient',
    exists ? `${repoPath} is not a git repository` : `local repository ${repoPath} does not exist`,
    { repo: repoPath });
}
