import path from 'node:path';
import git from '../git.js';

type Fs = typeof import('node:fs');

export type CacheInspection =
  | { state: 'missing' }
  | { state: 'ok'; packCount: number }
  | { state: 'corrupt'; problem: string };

const oidPattern = /^[0-9a-f]{40}$/;

/** Where a fetch of `branch` leaves the commit: the ref just moves on a force-push. */
export function trackingRef(branch: string): string {
  return `refs/remotes/origin/${branch}`;
}

/**
 * Cheap structural checks that catch what a crash or a bad disk leaves behind: a garbled HEAD
 * or ref, a pack without its index (a fetch interrupted between the two writes), a truncated
 * pack (its trailing checksum no longer matches the one recorded in the index). Garbled bytes
 * inside a pack pass these checks; reading the object then fails its SHA check and the caller
 * repairs.
 */
export async function inspectCache(fs: Fs, gitdir: string, branch: string): Promise<CacheInspection> {
  try {
    await fs.promises.stat(gitdir);
  } catch {
    return { state: 'missing' };
  }
  try {
    const head = await readTextIfExists(fs, path.join(gitdir, 'HEAD'));
    if (head === undefined) return corrupt('HEAD is missing');
    if (!/^(ref: refs\/\S+|[0-9a-f]{40})\s*$/.test(head)) return corrupt('HEAD is garbled');
    if ((await readTextIfExists(fs, path.join(gitdir, 'config'))) === undefined) return corrupt('config is missing');
    for (const folder of ['objects', 'refs']) {
      const stat = await fs.promises.stat(path.join(gitdir, folder)).catch(() => undefined);
      if (!stat?.isDirectory()) return corrupt(`${folder}/ is missing`);
    }
    const ref = await readTextIfExists(fs, path.join(gitdir, trackingRef(branch)));
    if (ref !== undefined && !oidPattern.test(ref.trim())) return corrupt(`${trackingRef(branch)} is garbled`);
    const packedRefs = await readTextIfExists(fs, path.join(gitdir, 'packed-refs'));
    if (packedRefs !== undefined && !packedRefs.split('\n').every(isPackedRefsLine)) return corrupt('packed-refs is garbled');
    const shallow = await readTextIfExists(fs, path.join(gitdir, 'shallow'));
    if (shallow !== undefined && !shallow.split('\n').every((line) => line === '' || oidPattern.test(line))) {
      return corrupt('shallow is garbled');
    }
    const packProblem = await inspectPacks(fs, path.join(gitdir, 'objects', 'pack'));
    if (typeof packProblem === 'string') return corrupt(packProblem);
    return { state: 'ok', packCount: packProblem };
  } catch (error) {
    return corrupt(`unreadable: ${(error as Error).message}`);
  }
}

function corrupt(problem: string): CacheInspection {
  return { state: 'corrupt', problem };
}

function isPackedRefsLine(line: string): boolean {
  return line === '' || line.startsWith('#') || /^\^[0-9a-f]{40}$/.test(line) || /^[0-9a-f]{40} refs\/\S+$/.test(line);
}

/** Returns the number of packs, or what is wrong with one of them. */
async function inspectPacks(fs: Fs, packDir: string): Promise<number | string> {
  const names = await fs.promises.readdir(packDir).catch(() => [] as string[]);
  const packs = names.filter((name) => name.endsWith('.pack')).map((name) => name.slice(0, -'.pack'.length));
  const indexes = names.filter((name) => name.endsWith('.idx')).map((name) => name.slice(0, -'.idx'.length));
  for (const index of indexes) if (!packs.includes(index)) return `${index}.idx has no pack`;
  for (const pack of packs) {
    if (!indexes.includes(pack)) return `${pack}.pack has no index`;
    // A pack ends with the SHA-1 of its content; an index (v2) ends with that same SHA-1
    // followed by its own, so the last 20 bytes of one must equal bytes -40..-20 of the other.
    const packTail = await readTail(fs, path.join(packDir, `${pack}.pack`), 20);
    const indexTail = await readTail(fs, path.join(packDir, `${pack}.idx`), 40);
    const packHead = await readHead(fs, path.join(packDir, `${pack}.pack`), 4);
    if (packHead.toString('latin1') !== 'PACK') return `${pack}.pack has no pack header`;
    if (packTail.length < 20 || indexTail.length < 40 || !packTail.equals(indexTail.subarray(0, 20))) {
      return `${pack}.pack is truncated or does not match its index`;
    }
  }
  return packs.length;
}

async function readTextIfExists(fs: Fs, file: string): Promise<string | undefined> {
  try {
    return await fs.promises.readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

async function readTail(fs: Fs, file: string, length: number): Promise<Buffer> {
  const handle = await fs.promises.open(file, 'r');
  try {
    const { size } = await handle.stat();
    const buffer = Buffer.alloc(Math.min(length, size));
    await handle.read(buffer, 0, buffer.length, size - buffer.length);
    return buffer;
  } finally {
    await handle.close();
  }
}

async function readHead(fs: Fs, file: string, length: number): Promise<Buffer> {
  const handle = await fs.promises.open(file, 'r');
  try {
    const buffer = Buffer.alloc(length);
    const { bytesRead } = await handle.read(buffer, 0, length, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/**
 * Creates an empty bare repository, whole or not at all: init in a temp folder, then rename.
 * The remote's URL (credential-free, see location.ts) and refspec are recorded because
 * isomorphic-git's fetch maps the branch to its tracking ref through them.
 */
export async function createCache(fs: Fs, gitdir: string, url: string, branch: string, uniqueSuffix: string): Promise<void> {
  const temporary = `${gitdir}.tmp-${uniqueSuffix}`;
  await fs.promises.mkdir(path.dirname(gitdir), { recursive: true });
  await removeLeftovers(fs, gitdir);
  await git.init({ fs, gitdir: temporary, bare: true, defaultBranch: branch });
  await git.setConfig({ fs, gitdir: temporary, path: 'remote.origin.url', value: url });
  await git.setConfig({ fs, gitdir: temporary, path: 'remote.origin.fetch', value: `+refs/heads/${branch}:${trackingRef(branch)}` });
  await fs.promises.rename(temporary, gitdir);
}

export async function removeCache(fs: Fs, gitdir: string): Promise<void> {
  await fs.promises.rm(gitdir, { recursive: true, force: true });
}

/** Temp folders of inits a crash interrupted. */
async function removeLeftovers(fs: Fs, gitdir: string): Promise<void> {
  const prefix = `${path.basename(gitdir)}.tmp-`;
  for (const entry of await fs.promises.readdir(path.dirname(gitdir))) {
    if (entry.startsWith(prefix)) await fs.promises.rm(path.join(path.dirname(gitdir), entry), { recursive: true, force: true });
  }
}

/**
 * Whether the commit and its root tree are readable. False when they are simply absent; a read
 * that fails otherwise (SHA mismatch, garbled zlib) throws, so the caller repairs the cache.
 */
export async function hasCommit(fs: Fs, gitdir: string, commit: string): Promise<boolean> {
  try {
    const { commit: parsed } = await git.readCommit({ fs, gitdir, oid: commit });
    await git.readTree({ fs, gitdir, oid: parsed.tree });
    return true;
  } catch (error) {
    if ((error as { code?: string }).code === 'NotFoundError') return false;
    throw error;
  }
}
