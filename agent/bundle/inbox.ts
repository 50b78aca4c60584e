// `capstan run --inbox DIR`: bundles dropped into DIR (a USB stick's mount, a folder an operator
// copies to) are imported before a cycle, which then deploys them as any new commit.
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import type { Clock } from '../clock.js';
import { importBundle, type ImportConfig, type ImportDeps } from './import.js';
import { BundleErrorCode } from './format.js';

/** A file changed this recently may still be being copied; it waits for the next cycle. */
export const SETTLE_MS = 5_000;
const MAX_PER_CYCLE = 16;

export interface InboxResult {
  imported: string[];
  rejected: Array<{ file: string; code: string; reason: string }>;
}

/**
 * Imports the regular files in `dir`, oldest first, at most 16 a cycle. Each imported bundle
 * moves to `DIR/imported/`, each refused one to `DIR/rejected/` with `<name>.reason` beside it
 * (where the folder is read-only they stay, and the record of imported commits keeps a bundle
 * from being imported twice). Links, folders and hidden files are left alone.
 */
export async function processInbox(dir: string, config: ImportConfig, deps: ImportDeps & { clock: Clock }): Promise<InboxResult> {
  const result: InboxResult = { imported: [], rejected: [] };
  const names = await fsp.readdir(dir).catch((error: NodeJS.ErrnoException) => {
    deps.logger.warn({ inbox: dir, error: error.code ?? error.message }, 'the inbox cannot be read');
    return [] as string[];
  });
  const candidates: Array<{ file: string; name: string; mtimeMs: number }> = [];
  for (const name of names) {
    if (name.startsWith('.')) continue;
    const file = join(dir, name);
    const info = await fsp.lstat(file).catch(() => undefined);
    if (!info?.isFile()) continue;
    if (deps.clock.now() - info.mtimeMs < SETTLE_MS) continue;
    candidates.push({ file, name, mtimeMs: info.mtimeMs });
  }
  candidates.sort((left, right) => left.mtimeMs - right.mtimeMs || left.name.localeCompare(right.name));
  for (const candidate of candidates.slice(0, MAX_PER_CYCLE)) {
    try {
      await importBundle(candidate.file, config, deps);
      result.imported.push(candidate.file);
      await moveAside(dir, 'imported', candidate.name, undefined, deps.logger);
    } catch (error) {
      const code = (error as { code?: string }).code ?? 'ERROR';
      const reason = (error as Error).message;
      // A bundle that failed to load into the engine may succeed later; every other refusal is final.
      if (code === BundleErrorCode.loadFailed || !code.startsWith('BUNDLE_')) {
        deps.logger.warn({ file: candidate.file, code, reason }, 'bundle import failed, retrying next cycle');
        continue;
      }
      deps.logger.error({ file: candidate.file, code, reason }, 'bundle refused, nothing imported');
      result.rejected.push({ file: candidate.file, code, reason });
      await moveAside(dir, 'rejected', candidate.name, `${code}: ${reason}\n`, deps.logger);
    }
  }
  return result;
}

async function moveAside(dir: string, folder: string, name: string, reason: string | undefined, logger: Logger): Promise<void> {
  const target = join(dir, folder);
  try {
    await fsp.mkdir(target, { recursive: true });
    await fsp.rename(join(dir, name), join(target, name));
    if (reason !== undefined) await fsp.writeFile(join(target, `${name}.reason`), reason);
  } catch (error) {
    logger.warn({ file: join(dir, name), error: (error as NodeJS.ErrnoException).code ?? String(error) }, `cannot move the bundle to ${folder}/`);
  }
}
