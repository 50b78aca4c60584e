import * as fs from 'node:fs';
import git from '../git.js';
import { expandPrefix, isCommitPrefix } from '../control/decide.js';
import { CapstanError } from '../errors.js';
import { locateGitdir } from '../source/local.js';
import { parseRepoLocation } from '../source/location.js';
import type { Operator } from './operator.js';
import { join } from 'node:path';

/**
 * A commit id or prefix an operator typed, as a full id: from the commits this node's history
 * recorded, or from the git objects it holds (the fetch cache, or a local repository). The agent
 * checks at its cycle that the commit is in the branch and passes signature policy.
 */
export async function resolveCommit(operator: Operator, text: string): Promise<string> {
  if (!isCommitPrefix(text)) throw new CapstanError('UNKNOWN_COMMIT', 'terminal', `'${text.slice(0, 80)}' is not a commit id: give 4 to 40 hex digits`);
  const prefix = text.toLowerCase();
  if (prefix.length === 40) return prefix;
  const candidates = new Set(operator.store.cyclesForCommit(prefix, 200).flatMap((cycle) => (cycle.commit ? [cycle.commit] : [])));
  const fromGit = await expandFromGit(operator, prefix);
  if (fromGit) candidates.add(fromGit);
  const found = expandPrefix(prefix, candidates);
  if (found === 'ambiguous') throw new CapstanError('UNKNOWN_COMMIT', 'terminal', `${prefix} names more than one commit: give more digits`);
  if (found === 'unknown') {
    throw new CapstanError('UNKNOWN_COMMIT', 'terminal', `no commit ${prefix} is known on this host (history or fetched objects): give its full 40-digit id`);
  }
  return found;
}

async function expandFromGit(operator: Operator, prefix: string): Promise<string | undefined> {
  const { repo, stateDir } = operator.config;
  if (!repo) return undefined;
  try {
    const location = parseRepoLocation(repo);
    const gitdir = location.kind === 'local' ? await locateGitdir(fs, location.path) : join(stateDir, 'git');
    return await git.expandOid({ fs, gitdir, oid: prefix });
  } catch {
    // Not fetched yet, or ambiguous there: history may still know it.
    return undefined;
  }
}
