import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// The bench runs compiled from dist/bench/, so files are found from the repository root.
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let depth = 0; depth < 20; depth++) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    dir = dirname(dir);
  }
  throw new Error(`no package.json above ${fileURLToPath(import.meta.url)}`);
}

export function capstanEntry(): string {
  return join(repoRoot(), 'dist', 'agent', 'main.js');
}

/** Temporary folders of this run; `removeAll` is called once the run ends, failed or not. */
export class TempDirs {
  private readonly created: string[] = [];

  async make(prefix: string): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), `capstan-bench-${prefix}-`));
    this.created.push(dir);
    return dir;
  }

  async removeAll(): Promise<void> {
    for (const dir of this.created.splice(0)) await rm(dir, { recursive: true, force: true, maxRetries: 3 });
  }
}
