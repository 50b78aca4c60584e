import git from '../git.js';
import { CapstanError } from '../errors.js';

type Fs = typeof import('node:fs');

/** Past this many commits a walk from the head gives up: a pin that far back is refused as not found. */
export const PIN_WALK_LIMIT = 5000;

/** The code of a pinned commit that the branch's history does not hold. */
export const PIN_NOT_IN_BRANCH = 'PIN_NOT_IN_BRANCH';

/**
 * Where `commit` is in the history of `head`, in the repository at `gitdir`: `found` with how
 * many commits `head` is ahead of it (the commits reached from `head` before it, breadth first:
 * exact on a linear branch), `absent` when every line of history was walked to its root
 * without it, `incomplete` when a walk stopped at a shallow boundary or at `limit`.
 */
export async function distanceFrom(
  fs: Fs,
  gitdir: string,
  head: string,
  commit: string,
  limit = PIN_WALK_LIMIT,
): Promise<{ state: 'found'; ahead: number } | { state: 'absent' | 'incomplete' }> {
  const seen = new Set<string>([head]);
  let frontier = [head];
  let visited = 0;
  let incomplete = false;
  const cache = {};
  while (frontier.length > 0) {
    const next: string[] = [];
    for (const oid of frontier) {
      if (oid === commit) return { state: 'found', ahead: visited };
      if (++visited > limit) return { state: 'incomplete' };
      let parents: string[];
      try {
        parents = (await git.readCommit({ fs, gitdir, oid, cache })).commit.parent;
      } catch (error) {
        if ((error as { code?: string }).code !== 'NotFoundError') throw error;
        // A shallow boundary: this line ends here in the cache, not in the repository.
        incomplete = true;
        continue;
      }
      for (const parent of parents) {
        if (!seen.has(parent)) {
          seen.add(parent);
          next.push(parent);
        }
      }
    }
    frontier = next;
  }
  return { state: incomplete ? 'incomplete' : 'absent' };
}

/** A commit the operator pinned that the branch does not hold (a typo, another branch, a force-push since). */
export function pinNotInBranch(repo: string, branch: string, commit: string, how: string): CapstanError {
  return new CapstanError(PIN_NOT_IN_BRANCH, 'terminal',
    `pinned commit ${commit} is not in the history of branch ${branch} of ${repo} (${how}); \`capstan unpin\` or pin another commit`,
    { repo, branch, commit });
}
