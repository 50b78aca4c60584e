import git from '../git.js';
import type { AuthCallback, HttpClient } from 'isomorphic-git';
import { trackingRef } from '../source/cache.js';
import { globMatches } from './glob.js';

type Fs = typeof import('node:fs');

export interface TagFetchInput {
  fs: Fs;
  http: HttpClient;
  /** The source's cache, `<stateDir>/git`. */
  gitdir: string;
  url: string;
  onAuth?: AuthCallback;
  branch: string;
  /** The commits whose tags are wanted: the branch head just fetched, and an operator's pin. */
  commits: string[];
  tagPattern: string;
}

/**
 * The source's cache is shallow and single-branch, so it holds no tags. Tag mode needs only the
 * annotated tags that name the head (or the commit an operator pinned) and match the pattern: one ref listing (peeled, so tags
 * pointing elsewhere cost nothing) and one small fetch per such tag, with the branch's tracking
 * ref offered as "have" so the commit and tree are not sent again. Writes `refs/tags/<name>`
 * for each and removes every other tag ref. Returns the tag names written.
 * Errors are isomorphic-git's, for the caller to classify and retry like any other fetch.
 */
export async function fetchTagsAt(input: TagFetchInput): Promise<string[]> {
  const { fs, http, gitdir, url, onAuth } = input;
  const serverTags = await git.listServerRefs({ http, url, onAuth, prefix: 'refs/tags/', peelTags: true, protocolVersion: 2 });
  const wanted = serverTags.filter((tag) =>
    tag.peeled !== undefined && input.commits.includes(tag.peeled) && globMatches(input.tagPattern, tag.ref.slice('refs/tags/'.length)));
  const written: string[] = [];
  for (const tag of wanted) {
    const present = await git.readObject({ fs, gitdir, oid: tag.oid, format: 'content' }).then(() => true, () => false);
    if (!present) {
      await git.fetch({
        fs, http, gitdir, url, onAuth,
        ref: trackingRef(input.branch),
        remoteRef: tag.ref,
        singleBranch: true,
        depth: 1,
        tags: false,
      });
    }
    await git.writeRef({ fs, gitdir, ref: tag.ref, value: tag.oid, force: true });
    written.push(tag.ref.slice('refs/tags/'.length));
  }
  // Only tags naming those commits matter; one moved or deleted on the server must not linger.
  for (const localName of await git.listTags({ fs, gitdir })) {
    if (!written.includes(localName)) await git.deleteRef({ fs, gitdir, ref: `refs/tags/${localName}` });
  }
  return written;
}
