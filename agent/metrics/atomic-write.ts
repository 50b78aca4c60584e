import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/**
 * Replaces `file` so that a reader sees the old content or the new one, never a part: the text
 * goes to a temporary file in the same folder (rename is atomic only within one file system),
 * is flushed to disk, then renamed over the target. The temporary name ends in `.tmp`, not
 * `.prom`, so node_exporter's textfile collector never reads it.
 */
export async function writeFileAtomic(file: string, text: string, mode = 0o644): Promise<void> {
  const directory = dirname(file);
  const temporary = join(directory, `.${basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    const handle = await open(temporary, 'wx', mode);
    try {
      await handle.writeFile(text, 'utf8');
      // The umask narrows the mode given to open; the collector may run as another user.
      await handle.chmod(mode);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, file);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
  await syncDirectory(directory);
}

/** Makes the rename itself durable across a power loss; best effort, as some file systems refuse. */
async function syncDirectory(directory: string): Promise<void> {
  try {
    const handle = await open(directory, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // Not durable, still atomic: the next cycle writes the file again.
  }
}
