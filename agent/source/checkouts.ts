import path from 'node:path';
import type { Logger } from '../log.js';
import { forEachBounded } from './bounded.js';
import { fingerprintOf, readFolderFingerprints, readInventory, writeInventory, type FolderFingerprint, type PreviousCheckout } from './inventory.js';
import { writeTree } from './materialize.js';
import { mountsRoot } from './mount-copies.js';
import { objectReadingFs, readCommitInfo } from './objects.js';
import type { Checkout } from './types.js';

type Fs = typeof import('node:fs');

interface Marker {
  commit: string;
  author: string;
  message: string;
  committedAt: string;
}

/**
 * `<stateDir>/checkouts/<commit>/` holds the tree, and `<commit>.json` beside it says the tree is
 * complete (and carries the commit's metadata, so a finished checkout needs no git read). The
 * marker sits outside the folder to leave the tree exactly as committed; so does the inventory,
 * `<commit>.files.json`, which lets the next commit's checkout copy the files that did not change.
 */
export function checkoutPaths(stateDir: string, commit: string): { root: string; dir: string; marker: string; inventory: string } {
  const root = path.join(path.resolve(stateDir), 'checkouts');
  return { root, dir: path.join(root, commit), marker: path.join(root, `${commit}.json`), inventory: path.join(root, `${commit}.files.json`) };
}

export async function readCompletedCheckout(fs: Fs, stateDir: string, commit: string): Promise<Checkout | undefined> {
  const { dir, marker } = checkoutPaths(stateDir, commit);
  let parsed: Partial<Marker>;
  try {
    parsed = JSON.parse(await fs.promises.readFile(marker, 'utf8')) as Partial<Marker>;
  } catch {
    return undefined;
  }
  const stat = await fs.promises.stat(dir).catch(() => undefined);
  if (!stat?.isDirectory() || parsed.commit !== commit) return undefined;
  if (typeof parsed.author !== 'string' || typeof parsed.message !== 'string' || typeof parsed.committedAt !== 'string') return undefined;
  return { commit, dir, author: parsed.author, message: parsed.message, committedAt: parsed.committedAt };
}

/**
 * The complete checkout of `commit` when it is still exactly the tree that was written: every
 * file and folder of its inventory has its fingerprint (see inventory.ts). Anything else (a file
 * rewritten, planted or removed by whoever could write there, an inventory from an older version)
 * returns undefined, and the caller writes the commit again from git: what is loaded is the
 * verified commit's tree, never what was left in a folder. An lstat per entry: ~2,000 files cost
 * a few milliseconds, once per commit and process (the reconciler keeps what it loaded).
 */
export async function readVerifiedCheckout(fs: Fs, stateDir: string, commit: string, logger: Logger): Promise<Checkout | undefined> {
  const completed = await readCompletedCheckout(fs, stateDir, commit);
  if (completed === undefined) return undefined;
  const changed = await firstChange(fs, stateDir, commit, completed.dir);
  if (changed === undefined) return completed;
  logger.warn({ commit, path: changed }, 'checkout changed since it was written; writing it again from git');
  return undefined;
}

/** The first entry found changed, `(inventory)` when there is nothing to compare with; undefined when unchanged. */
async function firstChange(fs: Fs, stateDir: string, commit: string, dir: string): Promise<string | undefined> {
  const { inventory } = checkoutPaths(stateDir, commit);
  const [files, folders] = await Promise.all([readInventory(fs, inventory, commit), readFolderFingerprints(fs, inventory, commit)]);
  if (files === undefined || folders === undefined) return '(inventory)';
  const entries = [
    ...folders.map((folder) => ({ path: folder.path, fingerprint: folder.fingerprint, folder: true })),
    ...[...files.values()].map((file) => ({ path: file.path, fingerprint: file.fingerprint, folder: false })),
  ];
  let changed: string | undefined;
  await forEachBounded(entries, 16, async (entry) => {
    if (changed !== undefined) return;
    const stat = await fs.promises.lstat(path.join(dir, entry.path), { bigint: true }).catch(() => undefined);
    const same = stat !== undefined && (entry.folder ? stat.isDirectory() : stat.isFile()) && fingerprintOf(stat) === entry.fingerprint;
    if (!same) changed ??= entry.path === '' ? '.' : entry.path;
  });
  return changed;
}

/**
 * The complete checkout whose marker was written last, other than `commit`'s, with its inventory.
 * Pruning keeps only a few checkouts (the applied one, the previous one, those in use), and the
 * one written last is usually the closest to the next commit. Undefined when there is none or its
 * inventory is missing or garbled (a checkout written before inventories existed, say).
 */
export async function findPreviousCheckout(fs: Fs, stateDir: string, commit: string): Promise<PreviousCheckout | undefined> {
  const { root } = checkoutPaths(stateDir, commit);
  const entries = await fs.promises.readdir(root).catch(() => [] as string[]);
  let newest: { commit: string; writtenAtMs: number } | undefined;
  for (const entry of entries) {
    const candidate = /^([0-9a-f]{40})\.json$/.exec(entry)?.[1];
    if (candidate === undefined || candidate === commit) continue;
    const stat = await fs.promises.stat(path.join(root, entry)).catch(() => undefined);
    if (stat !== undefined && (newest === undefined || stat.mtimeMs > newest.writtenAtMs)) newest = { commit: candidate, writtenAtMs: stat.mtimeMs };
  }
  if (newest === undefined) return undefined;
  const completed = await readCompletedCheckout(fs, stateDir, newest.commit);
  if (completed === undefined) return undefined;
  const files = await readInventory(fs, checkoutPaths(stateDir, newest.commit).inventory, newest.commit);
  return files === undefined ? undefined : { commit: newest.commit, dir: completed.dir, files };
}

/**
 * Writes the commit's tree into a temp folder, renames it into place, then writes the inventory
 * and last the marker: a crash at any point leaves either no marker (the folder is rewritten next
 * time) or a complete checkout.
 */
export async function writeCheckout(
  fs: Fs, stateDir: string, commit: string, gitdir: string, logger: Logger, uniqueSuffix: string,
): Promise<Checkout> {
  const { root, dir, marker, inventory } = checkoutPaths(stateDir, commit);
  const temporary = path.join(root, `.tmp-${commit}-${uniqueSuffix}`);
  await fs.promises.mkdir(root, { recursive: true });
  await fs.promises.rm(temporary, { recursive: true, force: true });
  await fs.promises.mkdir(temporary);
  let info;
  let written;
  try {
    const store = { fs: objectReadingFs(fs, gitdir), gitdir, cache: {} };
    info = await readCommitInfo(store, commit);
    const previous = await findPreviousCheckout(fs, stateDir, commit);
    written = await writeTree(store, info.tree, temporary, logger, previous);
    await fs.promises.rm(marker, { force: true });
    await fs.promises.rm(inventory, { force: true });
    await fs.promises.rm(dir, { recursive: true, force: true });
    await fs.promises.rename(temporary, dir);
    logger.info({ commit, fileCount: written.fileCount, reusedCount: written.reusedCount, reusedFrom: previous?.commit }, 'checkout written');
  } finally {
    await fs.promises.rm(temporary, { recursive: true, force: true });
  }
  // Taken with the tree in place: the rename itself changes the top folder's ctime.
  const folders: FolderFingerprint[] = [];
  for (const folder of ['', ...written.folders]) {
    folders.push({ path: folder, fingerprint: fingerprintOf(await fs.promises.lstat(path.join(dir, folder), { bigint: true })) });
  }
  await writeInventory(fs, inventory, commit, written.files, uniqueSuffix, folders);
  const content: Marker = { commit, author: info.author, message: info.message, committedAt: info.committedAt };
  await fs.promises.writeFile(`${marker}.tmp-${uniqueSuffix}`, JSON.stringify(content, null, 2) + '\n');
  await fs.promises.rename(`${marker}.tmp-${uniqueSuffix}`, marker);
  return { ...content, dir };
}

/**
 * Removes every checkout, marker and inventory whose commit is not in `keep`, and every temp file
 * or folder a crash left behind (prune runs between cycles, so none is in use). Unknown entries
 * are left alone.
 */
export async function pruneCheckouts(fs: Fs, stateDir: string, keep: string[], logger: Logger): Promise<void> {
  const { root } = checkoutPaths(stateDir, '');
  const entries = await fs.promises.readdir(root).catch(() => [] as string[]);
  const kept = new Set(keep);
  // The copies containers of a commit mount (mount-copies.ts) go with the commit's checkout.
  const copies = mountsRoot(stateDir);
  for (const entry of await fs.promises.readdir(copies).catch(() => [] as string[])) {
    if (!/^[0-9a-f]{40}$/.test(entry) || kept.has(entry)) continue;
    await fs.promises.rm(path.join(copies, entry), { recursive: true, force: true });
    logger.debug({ entry }, 'mount copies pruned');
  }
  for (const entry of entries) {
    const complete = /^([0-9a-f]{40})(?:\.json|\.files\.json)?$/.exec(entry);
    const temporary = /^\.tmp-[0-9a-f]{40}-|^[0-9a-f]{40}(?:\.files)?\.json\.tmp-/.test(entry);
    if (!temporary && (!complete || kept.has(complete[1]))) continue;
    await fs.promises.rm(path.join(root, entry), { recursive: true, force: true });
    logger.debug({ entry }, 'checkout pruned');
  }
}
