import path from 'node:path';
import type { Logger } from '../log.js';
import { readCommitInfo, writeTree } from './materialize.js';
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
 * marker sits outside the folder to leave the tree exactly as committed.
 */
export function checkoutPaths(stateDir: string, commit: string): { root: string; dir: string; marker: string } {
  const root = path.join(path.resolve(stateDir), 'checkouts');
  return { root, dir: path.join(root, commit), marker: path.join(root, `${commit}.json`) };
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
 * Writes the commit's tree into a temp folder, renames it into place, then writes the marker:
 * a crash at any point leaves either no marker (the folder is rewritten next time) or a
 * complete checkout.
 */
export async function writeCheckout(
  fs: Fs, stateDir: string, commit: string, gitdir: string, logger: Logger, uniqueSuffix: string,
): Promise<Checkout> {
  const { root, dir, marker } = checkoutPaths(stateDir, commit);
  const temporary = path.join(root, `.tmp-${commit}-${uniqueSuffix}`);
  await fs.promises.mkdir(root, { recursive: true });
  await fs.promises.rm(temporary, { recursive: true, force: true });
  await fs.promises.mkdir(temporary);
  let info;
  try {
    const cache = {};
    info = await readCommitInfo(fs, gitdir, commit, cache);
    const fileCount = await writeTree(fs, gitdir, info.tree, temporary, logger, cache);
    await fs.promises.rm(marker, { force: true });
    await fs.promises.rm(dir, { recursive: true, force: true });
    await fs.promises.rename(temporary, dir);
    logger.info({ commit, fileCount }, 'checkout written');
  } finally {
    await fs.promises.rm(temporary, { recursive: true, force: true });
  }
  const content: Marker = { commit, author: info.author, message: info.message, committedAt: info.committedAt };
  await fs.promises.writeFile(`${marker}.tmp-${uniqueSuffix}`, JSON.stringify(content, null, 2) + '\n');
  await fs.promises.rename(`${marker}.tmp-${uniqueSuffix}`, marker);
  return { ...content, dir };
}

/**
 * Removes every checkout and marker whose commit is not in `keep`, and every temp folder a crash
 * left behind (prune runs between cycles, so none is in use). Unknown entries are left alone.
 */
export async function pruneCheckouts(fs: Fs, stateDir: string, keep: string[], logger: Logger): Promise<void> {
  const { root } = checkoutPaths(stateDir, '');
  const entries = await fs.promises.readdir(root).catch(() => [] as string[]);
  const kept = new Set(keep);
  for (const entry of entries) {
    const complete = /^([0-9a-f]{40})(?:\.json)?$/.exec(entry);
    const temporary = /^\.tmp-[0-9a-f]{40}-|^[0-9a-f]{40}\.json\.tmp-/.test(entry);
    if (!temporary && (!complete || kept.has(complete[1]))) continue;
    await fs.promises.rm(path.join(root, entry), { recursive: true, force: true });
    logger.debug({ entry }, 'checkout pruned');
  }
}
