import path from 'node:path';
import git from '../git.js';
import type { TreeEntry } from 'isomorphic-git';
import './native-inflate.js';

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

export async function readTreeEntries(store: ObjectStore, oid: string): Promise<TreeEntry[]> {
  const { tree } = await readObject(oid, () => git.readTree({ ...store, oid }));
  return tree;
}

export async function readBlobContent(store: ObjectStore, oid: string): Promise<Uint8Array> {
  const { blob } = await readObject(oid, () => git.readBlob({ ...store, oid }));
  return blob;
}

/**
 * The `fs` a checkout reads objects through: isomorphic-git looks for every object as a loose
 * file first (a failed open and an error object each) and lists `objects/pack` again for each
 * one. A checkout only reads, after its fetch, so the listing of `objects/pack` is taken once,
 * and a loose object whose two-letter folder did not exist at the start is answered "not found"
 * without a system call. The fetch writes packs only; a loose object (written by a git client in a
 * local cache) is still read. isomorphic-git also stats the gitdir on every read (to tell a
 * `.git` file from a folder): that answer is kept too. And it probes each `fs` it is handed by
 * calling `readFile()` with no path, once per read: that gets a ready-made rejection instead of
 * a new error with a stack trace. Everything else goes to `fs` unchanged.
 */
export function objectReadingFs(fs: Fs, gitdir: string): Fs {
  const objectsDir = path.join(gitdir, 'objects');
  const packDir = path.join(objectsDir, 'pack');
  let packListing: Promise<string[]> | undefined;
  let looseFolders: Promise<Set<string>> | undefined;
  let gitdirStat: ReturnType<Fs['promises']['stat']> | undefined;
  const noPath = Object.assign(new TypeError('readFile needs a path'), { code: 'ERR_INVALID_ARG_TYPE' });
  const notFound = Object.assign(new Error('ENOENT: no such loose object'), { code: 'ENOENT' });
  const loosePattern = /^([0-9a-f]{2})[/\\][0-9a-f]{38}$/;
  const promises = {
    ...fs.promises,
    readdir: ((target: string, options?: unknown) => {
      if (options !== undefined || path.normalize(target) !== packDir) return fs.promises.readdir(target, options as undefined);
      packListing ??= fs.promises.readdir(packDir);
      return packListing.then((names) => [...names]);
    }) as Fs['promises']['readdir'],
    stat: ((target: string, options?: unknown) => {
      if (options !== undefined || path.normalize(target) !== path.normalize(gitdir)) return fs.promises.stat(target, options as undefined);
      gitdirStat ??= fs.promises.stat(gitdir);
      return gitdirStat;
    }) as Fs['promises']['stat'],
    readFile: (async (target: string, options?: unknown) => {
      if (target === undefined) throw noPath;
      const relative = path.relative(objectsDir, path.normalize(String(target)));
      const loose = loosePattern.exec(relative);
      if (loose) {
        looseFolders ??= fs.promises.readdir(objectsDir).then((names) => new Set(names), () => new Set<string>());
        if (!(await looseFolders).has(loose[1])) throw notFound;
      }
      return fs.promises.readFile(target, options as undefined);
    }) as Fs['promises']['readFile'],
  };
  return { ...fs, promises } as Fs;
}
