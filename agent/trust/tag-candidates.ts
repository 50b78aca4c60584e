import git from '../git.js';
import { globMatches } from './glob.js';
import { readRawObject, splitSignedTag, type SignedTag } from './signed-object.js';

type Fs = typeof import('node:fs');

export interface TagCandidates {
  /** Annotated tags naming `commit` directly, matching the pattern, signed name equal to ref name. */
  annotated: SignedTag[];
  /** Lightweight tags on `commit` matching the pattern: they cannot carry a signature. */
  lightweight: string[];
}

/**
 * The tags in `gitdir` that could vouch for `commit`. A tag of a tag is not followed: what is
 * signed must name the deployed commit itself. The name inside the tag object is the one that
 * is signed; the ref name is not, so it must equal the signed one: a tag signed as `test-1`
 * pushed under `refs/tags/v1` does not pass for a release.
 */
export async function findTagCandidates(fs: Fs, gitdir: string, commit: string, pattern: string): Promise<TagCandidates> {
  const candidates: TagCandidates = { annotated: [], lightweight: [] };
  const names = (await git.listTags({ fs, gitdir })).filter((name) => globMatches(pattern, name)).sort();
  for (const name of names) {
    const oid = await git.resolveRef({ fs, gitdir, ref: `refs/tags/${name}` });
    const { type } = await git.readObject({ fs, gitdir, oid, format: 'content' });
    if (type === 'commit') {
      if (oid === commit) candidates.lightweight.push(name);
      continue;
    }
    if (type !== 'tag') continue;
    const tag = splitSignedTag(oid, await readRawObject(fs, gitdir, oid, 'tag'));
    if (tag.objectType === 'commit' && tag.object === commit && tag.tagName === name && globMatches(pattern, tag.tagName)) {
      candidates.annotated.push(tag);
    }
  }
  return candidates;
}
