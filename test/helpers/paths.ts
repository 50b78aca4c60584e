// Compiled tests run from dist/test/..., so files they need are found from the repository root,
// never from the working directory or a path relative to the compiled file.
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let cachedRoot: string | undefined;

/** The folder holding package.json, found by walking up from this module. */
export function repoRoot(): string {
  if (cachedRoot !== undefined) return cachedRoot;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) {
      cachedRoot = dir;
      return dir;
    }
    const parent = dirname(dir);
    if (parent === dir) {
      throw new Error(`no package.json above ${fileURLToPath(import.meta.url)}`);
    }
    dir = parent;
  }
}

export interface TempDir {
  path: string;
  /** Removes the folder and everything in it; safe to call twice. */
  cleanup(): Promise<void>;
}

/** A fresh folder under the OS temp dir, e.g. /tmp/capstan-state-Ab12Cd. */
export async function tempDir(prefix: string): Promise<TempDir> {
  const path = await mkdtemp(join(tmpdir(), `${prefix}-`));
  return {
    path,
    cleanup: () => rm(path, { recursive: true, force: true, maxRetries: 3 }),
  };
}

/** Every regular file under `folder`, recursively; bounded (20 levels, 10,000 files). */
export async function filesUnder(folder: string, found: string[] = [], depth = 0): Promise<string[]> {
  if (depth > 20 || found.length > 10_000) return found;
  for (const entry of await readdir(folder, { withFileTypes: true })) {
    const path = join(folder, entry.name);
    if (entry.isDirectory()) await filesUnder(path, found, depth + 1);
    else if (entry.isFile()) found.push(path);
  }
  return found;
}
