import path from 'node:path';
import type { Logger } from '../log.js';
import { readInventory, writeInventory, type PreviousCheckout } from './inventory.js';
import { writeTree } from './materialize.js';
import { readCommitInfo } from './objects.js';
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
    const store = { fs, gitdir, cache: {} };
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
  await writeInventory(fs, inventory, commit, written.files, uniqueSuffix);
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
  for (const entry of entries) {
    const complete = /^([0-9a-f]{40})(?:\.json|\.files\.json)?$/.exec(entry);
    const temporary = /^\.tmp-[0-9a-f]{40}-|^[0-9a-f]{40}(?:\.files)?\.json\.tmp-/.test(entry);
    if (!temporary && (!complete || kept.has(complete[1]))) continue;
    await fs.promises.rm(path.join(root, entry), { recursive: true, force: true });
    logger.debug({ entry }, 'checkout pruned');
  }
}
