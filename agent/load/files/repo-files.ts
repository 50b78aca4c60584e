// Bind mounts of repository files (`./conf/app.conf:/etc/app.conf`): resolve them inside the
// checkout and digest their content, so the config hash changes when the file changes and not
// when only the checkout folder's absolute path does.
import { createHash } from 'node:crypto';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { nodeFileReader, type FileReader } from './file-reader.js';
import { TextReader, type ReadLimits } from './read-text.js';

export interface Checkout {
  /** Absolute checkout root as given, and with symbolic links resolved. */
  root: string;
  realRoot: string;
  /** Digests by real path, so a file mounted by several services is read once. */
  digests: Map<string, Promise<string>>;
  /** The file system this load reads (the real one, or memory in a unit test). */
  files: FileReader;
  /** Reads the text files of this load, within its limits (read-text.ts). */
  reader: TextReader;
}

export type RepoPathResult =
  | { source: string; repo: { path: string; digest: string } }
  | { code: 'BIND_OUTSIDE_CHECKOUT' | 'BIND_NOT_FOUND'; message: string };

/** `files` is the real file system unless a test passes another (load/index.ts passes LoadInput.files). */
export async function openCheckout(root: string, limits?: ReadLimits, files: FileReader = nodeFileReader): Promise<Checkout> {
  return { root, realRoot: await files.realpath(root), files, digests: new Map(), reader: new TextReader(files, limits) };
}

export function isInside(root: string, candidate: string): boolean {
  const path = relative(root, candidate);
  return path === '' || (path !== '..' && !path.startsWith('..' + sep) && !isAbsolute(path));
}

export function toRepoPath(root: string, absolute: string): string {
  return relative(root, absolute).split(sep).join('/') || '.';
}

export async function resolveRepoPath(checkout: Checkout, manifestDir: string, relativeSource: string): Promise<RepoPathResult> {
  const absolute = resolve(manifestDir, relativeSource);
  const outside = 'the bind source leaves the checkout; mount files of the repository, or an absolute host path';
  if (!isInside(checkout.root, absolute)) return { code: 'BIND_OUTSIDE_CHECKOUT', message: outside };
  let real: string;
  try {
    real = await checkout.files.realpath(absolute);
  } catch {
    const folder = toRepoPath(checkout.root, manifestDir);
    return {
      code: 'BIND_NOT_FOUND',
      message: `the bind source does not exist in the checkout (relative sources start from the manifest's folder, '${folder}'); commit the file or fix the path`,
    };
  }
  if (!isInside(checkout.realRoot, real)) return { code: 'BIND_OUTSIDE_CHECKOUT', message: `${outside} (through a symbolic link)` };
  let digest = checkout.digests.get(real);
  if (!digest) {
    digest = digestPath(checkout.files, real);
    checkout.digests.set(real, digest);
  }
  return { source: absolute, repo: { path: toRepoPath(checkout.root, absolute), digest: await digest } };
}

/**
 * `sha256:<hex>` of a file's bytes, or for a folder of a listing of its tree in sorted order:
 * each entry's relative path, its kind, for files the executable bit (the only mode git keeps,
 * so the umask of the checkout does not matter) and content digest, for links their target.
 * `.git` is skipped: its content changes with every fetch, not with the mounted files.
 */
export async function digestPath(files: FileReader, absolute: string): Promise<string> {
  const info = await files.stat(absolute);
  if (!info.isDirectory()) return 'sha256:' + createHash('sha256').update(await files.readFile(absolute)).digest('hex');
  const listing = createHash('sha256');
  await listFolder(files, absolute, '', listing);
  return 'sha256:' + listing.digest('hex');
}

async function listFolder(files: FileReader, folder: string, prefix: string, listing: ReturnType<typeof createHash>): Promise<void> {
  const names = (await files.readdir(folder)).map((entry) => entry.name).filter((name) => name !== '.git').sort();
  for (const name of names) {
    const absolute = join(folder, name);
    const path = prefix + name;
    const info = await files.lstat(absolute);
    if (info.isSymbolicLink()) {
      listing.update(`L ${JSON.stringify(path)} ${JSON.stringify(await files.readlink(absolute))}\n`);
    } else if (info.isDirectory()) {
      listing.update(`D ${JSON.stringify(path)}\n`);
      await listFolder(files, absolute, path + '/', listing);
    } else if (info.isFile()) {
      const executable = (info.mode & 0o111) !== 0 ? 'x' : '-';
      const content = createHash('sha256').update(await files.readFile(absolute)).digest('hex');
      listing.update(`F ${JSON.stringify(path)} ${executable} ${content}\n`);
    }
  }
}
