import { dirname, relative, resolve, sep } from 'node:path';

export interface PathProbe {
  stat(path: string): Promise<unknown>;
}

/**
 * The path that binds an env file's values: relative to the root of the enclosing git
 * repository (the nearest folder upward holding `.git`, a folder or a worktree's file), with /
 * separators, because that is the path the agent knows when it reads the file from a checkout.
 * Outside any repository: relative to `cwd`.
 */
export async function repoRelativePath(file: string, cwd: string, fs: PathProbe): Promise<string> {
  const absolute = resolve(cwd, file);
  let folder = dirname(absolute);
  for (;;) {
    try {
      await fs.stat(resolve(folder, '.git'));
      return relative(folder, absolute).split(sep).join('/');
    } catch {
      const parent = dirname(folder);
      if (parent === folder) return relative(cwd, absolute).split(sep).join('/');
      folder = parent;
    }
  }
}
