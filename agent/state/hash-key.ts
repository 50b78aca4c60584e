import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The key of the config-hash HMAC. Config hashes are stored in Docker labels that anyone with
 * `docker inspect` reads; keyed, equal hashes reveal nothing about the values hashed (issue:
 * secrets must not be guessable from labels). Created once per state directory.
 */
export function loadHashKey(stateDir: string): Uint8Array {
  const file = join(stateDir, 'hash.key');
  try {
    return new Uint8Array(readFileSync(file));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const key = randomBytes(32);
  try {
    writeFileSync(file, key, { mode: 0o600, flag: 'wx' });
    return new Uint8Array(key);
  } catch (error) {
    // Another process created it first: use theirs, so both agree on every hash.
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return new Uint8Array(readFileSync(file));
    throw error;
  }
}
