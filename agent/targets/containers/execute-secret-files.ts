// Writes a service's secret files into a created container before it starts, through Docker's
// archive API: the tar is built in memory, so no plaintext file ever exists on the host's disk
// outside Docker's own storage of the container.
import type Docker from 'dockerode';
import tar from 'tar-stream';
import type { SecretFileSpec } from '../../model.js';

/** Numeric owner of the files; root until manifests can name a numeric `user:`. */
export interface FileOwner {
  uid: number;
  gid: number;
}

export const ROOT_OWNER: FileOwner = { uid: 0, gid: 0 };

/**
 * A tar of the files, paths relative to `/`. It holds no folder entries on purpose: Docker
 * applies a folder entry's mode to a folder that exists (an entry for `tmp` turns /tmp from 1777
 * into 0755), while folders that are missing it creates as root, mode 0755.
 */
export function secretFilesTar(files: SecretFileSpec[], owner: FileOwner = ROOT_OWNER): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = new Promise<Buffer>((resolve, reject) => {
    pack.on('data', (chunk: Buffer) => chunks.push(chunk));
    pack.on('end', () => resolve(Buffer.concat(chunks)));
    pack.on('error', reject);
  });
  for (const file of files) {
    const content = Buffer.from(file.value, 'utf8');
    pack.entry({ name: file.target.replace(/^\/+/, ''), type: 'file', mode: file.mode, uid: owner.uid, gid: owner.gid, size: content.length }, content);
  }
  pack.finalize();
  return done;
}

/**
 * Puts the files into `container`, which must not have started yet. If that fails the container
 * is removed, so that nothing can ever start it without its secrets; the error is rethrown.
 */
export async function writeSecretFiles(container: Docker.Container, files: SecretFileSpec[] | undefined, owner: FileOwner = ROOT_OWNER): Promise<void> {
  if (!files || files.length === 0) return;
  try {
    await container.putArchive(await secretFilesTar(files, owner), { path: '/' });
  } catch (error) {
    await container.remove({ force: true }).catch(() => undefined);
    throw error;
  }
}
