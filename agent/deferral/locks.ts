// Update locks, as balena's: a service whose manifest says `update_lock: true` gets a folder of
// the host mounted at /capstan/lock, one per app, owned by Capstan under the state directory.
// While a file `updates.lock` exists there (the service creates it before a critical section and
// removes it after), a rollout of that app waits, up to the maximum the host's policy sets
// (`update_locks.max_wait`), after which it proceeds and says so.
import { chmod, lstat, mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';

/** Where the folder is mounted in each service that asks for it. */
export const LOCK_MOUNT_TARGET = '/capstan/lock';
/** The file whose presence holds the lock (balena calls theirs `updates.lock` too). */
export const LOCK_FILE = 'updates.lock';
/** Default `update_locks.max_wait`: an hour, then the rollout proceeds. */
export const DEFAULT_LOCK_MAX_WAIT_MS = 3_600_000;

export interface UpdateLocks {
  /** The app's lock folder on the host, created on first use; what services mount. */
  prepare(app: string): Promise<string>;
  /** Whether the app's lock is held now: `updates.lock` exists (a file, a folder, a link). */
  held(app: string): Promise<boolean>;
}

export function locksRoot(stateDir: string): string {
  return join(stateDir, 'locks');
}

export function createUpdateLocks(stateDir: string): UpdateLocks {
  const folder = (app: string) => join(locksRoot(stateDir), app);
  return {
    async prepare(app) {
      const path = folder(app);
      await mkdir(path, { recursive: true });
      // Writable by the service's user whoever it is, sticky as /tmp is. Only the state dir
      // (0700 under root) reaches it on the host.
      await chmod(path, 0o1777);
      return path;
    },
    held: (app) => lstat(join(folder(app), LOCK_FILE)).then(
      () => true,
      () => false,
    ),
  };
}

/** Each app with a lock folder on this host, and whether (and since when) its lock is held: for `status`. */
export async function listLocks(stateDir: string): Promise<{ app: string; held: boolean; since?: string }[]> {
  const apps = await readdir(locksRoot(stateDir)).catch(() => [] as string[]);
  const locks = [];
  for (const app of apps.sort()) {
    const stat = await lstat(join(locksRoot(stateDir), app, LOCK_FILE)).catch(() => undefined);
    locks.push(stat ? { app, held: true, since: stat.mtime.toISOString() } : { app, held: false });
  }
  return locks;
}
