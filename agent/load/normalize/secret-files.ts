// A service's `secrets:` (container path → value, or {value, mode}) → the model's secret files.
// Pure. Problems quote container paths and modes, never a value.
import { posix } from 'node:path';
import type { MountSpec, SecretFileSpec } from '../../model.js';
import type { KeyPath, PathProblem } from '../problems.js';

export const DEFAULT_SECRET_MODE = 0o400;

/** A `secrets:` entry once a `file:` source has been read (normalize.ts): its content and mode. */
export type SecretFileContent = string | { value: string; mode?: string };

export function normalizeSecretFiles(
  secrets: Record<string, SecretFileContent> | undefined,
  path: KeyPath,
  mounts: MountSpec[],
): { secretFiles: SecretFileSpec[]; problems: PathProblem[] } {
  const secretFiles: SecretFileSpec[] = [];
  const problems: PathProblem[] = [];
  for (const [target, entry] of Object.entries(secrets ?? {})) {
    const entryPath = [...path, target];
    // `/run/secrets/../x` and `/run//x` would make two keys for one file, and a key path that
    // Docker's archive extraction reads differently from what the manifest says.
    if (target === '/' || target.endsWith('/') || posix.normalize(target) !== target) {
      problems.push({ code: 'SECRET_TARGET_INVALID', path: entryPath, atKey: true, message: 'write the container path of a file in normal form: no trailing \'/\', \'//\', \'.\' or \'..\' segments' });
      continue;
    }
    // The mount hides what is written beneath its target in the container's own filesystem.
    const mount = mounts.find((candidate) => target === candidate.target || target.startsWith(candidate.target.replace(/\/$/, '') + '/'));
    if (mount) {
      problems.push({ code: 'SECRET_TARGET_IN_MOUNT', path: entryPath, atKey: true, message: `the file would be inside the mount on '${mount.target}', which hides it; pick a path outside mounts, such as /run/secrets/…` });
      continue;
    }
    const value = typeof entry === 'string' ? entry : entry.value;
    const mode = typeof entry === 'string' || entry.mode === undefined ? DEFAULT_SECRET_MODE : Number.parseInt(entry.mode, 8);
    secretFiles.push({ target, value, mode });
  }
  secretFiles.sort((left, right) => (left.target < right.target ? -1 : left.target > right.target ? 1 : 0));
  return { secretFiles, problems };
}
