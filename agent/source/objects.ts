import git from 'isomorphic-git';

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

/** Where objects are read from; `cache` is isomorphic-git's, shared by every read of one checkout. */
export interface ObjectStore {
  fs: Fs;
  gitdir: string;
  cache: object;
}

async function readObject<T>(oid: string, read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (error) {
    throw new ObjectReadError(oid, error);
  }
}

export async function readCommitInfo(store: ObjectStore, commit: string): Promise<CommitInfo> {
  const { commit: parsed } = await readObject(commit, () => git.readCommit({ ...store, oid: commit }));
  return {
    tree: parsed.tree,
    author: `${parsed.author.name} <${parsed.author.email}>`,
    message: parsed.message.split('\n')[0].trim(),
    committedAt: new Date(parsed.committer.timestamp * 1000).toISOString(),
  };
}

export async function readTreeEntries(store: ObjectStore, oid: string): Promise<git.TreeEntry[]> {
  const { tree } = await readObject(oid, () => git.readTree({ ...store, oid }));
  return tree;
}

export async function readBlobContent(store: ObjectStore, oid: string): Promise<Uint8Array> {
  const { blob } = await readObject(oid, () => git.readBlob({ ...store, oid }));
  return blob;
}
