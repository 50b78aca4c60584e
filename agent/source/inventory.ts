import type { BigIntStats } from 'node:fs';
import path from 'node:path';

type Fs = typeof import('node:fs');

/** A regular file of a complete checkout, as it was written. */
export interface InventoryFile {
  path: string;
  /** Git mode of a regular file: 100644, 100755, or 100664 in old trees. */
  mode: string;
  oid: string;
  /** Inode, size and ctime right after the write; see fingerprintOf. */
  fingerprint: string;
}

/** The newest complete checkout, whose unchanged files a new checkout copies instead of inflating. */
export interface PreviousCheckout {
  commit: string;
  dir: string;
  files: Map<string, InventoryFile>;
}

const fileModePattern = /^100[0-7]{3}$/;
const oidPattern = /^[0-9a-f]{40}$/;

/**
 * Containers bind-mount checkout files read-write, so a file may no longer hold its blob. Any
 * write, chmod or replacement changes the ctime (which no system call can set back) or the inode,
 * so an equal fingerprint means the file is still byte for byte what was written.
 */
export function fingerprintOf(stat: BigIntStats): string {
  return `${stat.ino}:${stat.size}:${stat.ctimeNs}`;
}

/**
 * `<commit>.files.json` beside the marker: every regular file of the checkout with its blob oid.
 * Written before the marker, so a marker never points at an inventory of another write.
 */
export async function writeInventory(
  fs: Fs, file: string, commit: string, files: InventoryFile[], uniqueSuffix: string, folders: FolderFingerprint[] = [],
): Promise<void> {
  const rows = [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
    .map((entry) => [entry.path, entry.mode, entry.oid, entry.fingerprint]);
  const folderRows = folders.map((folder) => [folder.path, folder.fingerprint]);
  await fs.promises.writeFile(`${file}.tmp-${uniqueSuffix}`, JSON.stringify({ commit, files: rows, folders: folderRows }) + '\n');
  await fs.promises.rename(`${file}.tmp-${uniqueSuffix}`, file);
}

/**
 * A folder of a complete checkout (`''` is the checkout's own folder) as it was left once the
 * checkout was in place. Adding, removing, renaming or relinking an entry changes its folder's
 * ctime, so equal fingerprints of every folder and file mean the tree is still the one written.
 */
export interface FolderFingerprint {
  path: string;
  fingerprint: string;
}

/** The folders' fingerprints; undefined when missing or garbled (an inventory written before they were kept). */
export async function readFolderFingerprints(fs: Fs, file: string, commit: string): Promise<FolderFingerprint[] | undefined> {
  let parsed: { commit?: unknown; folders?: unknown };
  try {
    parsed = JSON.parse(await fs.promises.readFile(file, 'utf8')) as typeof parsed;
  } catch {
    return undefined;
  }
  if (parsed === null || typeof parsed !== 'object' || parsed.commit !== commit || !Array.isArray(parsed.folders)) return undefined;
  const folders: FolderFingerprint[] = [];
  for (const row of parsed.folders as unknown[]) {
    if (!Array.isArray(row) || row.length !== 2 || !row.every((cell) => typeof cell === 'string')) return undefined;
    folders.push({ path: row[0] as string, fingerprint: row[1] as string });
  }
  return folders.some((folder) => folder.path === '') ? folders : undefined;
}

/** Undefined when missing, garbled or of another commit: the caller then writes every file from git. */
export async function readInventory(fs: Fs, file: string, commit: string): Promise<Map<string, InventoryFile> | undefined> {
  let parsed: { commit?: unknown; files?: unknown };
  try {
    parsed = JSON.parse(await fs.promises.readFile(file, 'utf8')) as typeof parsed;
  } catch {
    return undefined;
  }
  if (parsed === null || typeof parsed !== 'object' || parsed.commit !== commit || !Array.isArray(parsed.files)) return undefined;
  const files = new Map<string, InventoryFile>();
  for (const row of parsed.files as unknown[]) {
    if (!Array.isArray(row) || row.length !== 4 || !row.every((cell) => typeof cell === 'string')) return undefined;
    const [filePath, mode, oid, fingerprint] = row as string[];
    if (filePath === '' || !fileModePattern.test(mode) || !oidPattern.test(oid)) return undefined;
    files.set(filePath, { path: filePath, mode, oid, fingerprint });
  }
  return files;
}

/**
 * Copies the file at `relativePath` from the previous checkout when it holds the same blob with
 * the same mode, untouched since it was written. Returns false when the file must come from git
 * instead (changed, modified in place, gone, or the copy failed). Never a hard link: a checkout's
 * files are bind-mounted into containers, and two checkouts must not share what one container writes.
 */
export function copyFromPrevious(
  fs: Fs, previous: PreviousCheckout, relativePath: string, wanted: { mode: string; oid: string }, targetPath: string,
): boolean {
  const recorded = previous.files.get(relativePath);
  if (recorded === undefined || recorded.oid !== wanted.oid || recorded.mode !== wanted.mode) return false;
  const sourcePath = path.join(previous.dir, relativePath);
  // Synchronous: a few small system calls per file, in the batches writeTree yields between.
  const untouched = () => {
    const stat = fs.lstatSync(sourcePath, { bigint: true, throwIfNoEntry: false });
    return stat !== undefined && stat.isFile() && fingerprintOf(stat) === recorded.fingerprint;
  };
  if (!untouched()) return false;
  try {
    // A clone on file systems that share extents (btrfs, XFS), a plain copy elsewhere.
    fs.copyFileSync(sourcePath, targetPath, fs.constants.COPYFILE_FICLONE);
    // Checked again: a container writing the file during the copy leaves a torn copy.
    if (untouched()) return true;
  } catch {
    // Falls through to the write from git.
  }
  // The write from git must create the file, or it would keep the mode the copy gave it.
  try {
    fs.rmSync(targetPath, { force: true });
  } catch {
    // The write from git reports what is wrong with the folder.
  }
  return false;
}
