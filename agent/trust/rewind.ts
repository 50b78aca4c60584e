import git from '../git.js';

type Fs = typeof import('node:fs');

/** How the new head relates to the applied commit in the history the host holds. */
export type Ancestry =
  /** The applied commit is an ancestor of the head: a fast-forward. */
  | 'head-descends'
  /** The head is an ancestor of the applied commit: the branch was moved back. */
  | 'head-is-ancestor'
  /** Both histories were walked to their roots and neither contains the other. */
  | 'unrelated'
  /** A walk stopped at a shallow boundary or the walk limit: history cannot tell. */
  | 'unknown';

export interface RewindFacts {
  head: { commit: string; committerTime: number };
  applied: { commit: string; committerTime?: number } | null;
  ancestry: Ancestry;
}

export type RewindVerdict = { refused: false } | { refused: true; reason: string };

/**
 * Whether moving from the applied commit to `head` is a rewind to refuse. History decides
 * when it can (a local repository has all of it); the shallow cache of a remote has only the
 * head, so then the committer times decide: they are inside the signed content, so whoever
 * replays an old signed commit cannot make it look newer. Worked cases, applied commit A at
 * 12:00:
 *   - head B, A's child, 12:05: fast-forward, deployed;
 *   - head is A's parent (11:50), found in history or not: older, refused;
 *   - head C from a force-push of a rebased branch, 12:10, history unknown: newer, deployed;
 *   - head D, unrelated, committed 12:00 exactly: not older, deployed (same-second commits are
 *     not ordered by time, and a replayed commit of the same second is not a rollback).
 * A legitimate commit with a committer clock behind the applied one's is refused too; the
 * operator allows rewinds for that one cycle, or the author commits again.
 */
export function rewindVerdict(facts: RewindFacts, allowRewind: boolean): RewindVerdict {
  const { head, applied, ancestry } = facts;
  if (allowRewind || applied === null || head.commit === applied.commit) return { refused: false };
  if (ancestry === 'head-descends') return { refused: false };
  if (ancestry === 'head-is-ancestor') return { refused: true, reason: 'the new head is an ancestor of the applied commit' };
  if (applied.committerTime === undefined) {
    return { refused: true, reason: 'the applied commit is not in the local history and its commit time is unknown, so a rewind cannot be ruled out' };
  }
  if (head.committerTime < applied.committerTime) {
    return {
      refused: true,
      reason: `the new head was committed at ${isoTime(head.committerTime)}, before the applied commit (${isoTime(applied.committerTime)})`,
    };
  }
  return { refused: false };
}

/** Past this many commits a walk gives up and says "unknown"; a deploy branch rarely moves that far at once. */
export const defaultWalkLimit = 2000;

/** Walks both histories in the repository at `gitdir` (bounded by `walkLimit` commits each). */
export async function findAncestry(fs: Fs, gitdir: string, head: string, applied: string, walkLimit = defaultWalkLimit): Promise<Ancestry> {
  const fromHead = await walkFor(fs, gitdir, head, applied, walkLimit);
  if (fromHead === 'found') return 'head-descends';
  const fromApplied = await walkFor(fs, gitdir, applied, head, walkLimit);
  if (fromApplied === 'found') return 'head-is-ancestor';
  return fromHead === 'complete' && fromApplied === 'complete' ? 'unrelated' : 'unknown';
}

/** `found` when `target` is reachable from `start`, `complete` when it is proven not to be. */
async function walkFor(fs: Fs, gitdir: string, start: string, target: string, walkLimit: number): Promise<'found' | 'complete' | 'incomplete'> {
  const seen = new Set<string>([start]);
  const pending = [start];
  const cache = {};
  let incomplete = false;
  while (pending.length > 0) {
    if (seen.size > walkLimit) return 'incomplete';
    const oid = pending.pop()!;
    if (oid === target) return 'found';
    let parents: string[];
    try {
      parents = (await git.readCommit({ fs, gitdir, oid, cache })).commit.parent;
    } catch (error) {
      if ((error as { code?: string }).code !== 'NotFoundError') throw error;
      // A shallow boundary: this line of history ends here, another may still reach the target.
      incomplete = true;
      continue;
    }
    for (const parent of parents) {
      if (!seen.has(parent)) {
        seen.add(parent);
        pending.push(parent);
      }
    }
  }
  return incomplete ? 'incomplete' : 'complete';
}

function isoTime(seconds: number): string {
  return new Date(seconds * 1000).toISOString();
}
