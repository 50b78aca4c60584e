import type { Dirent } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { loadSopsKeys, MAX_SOPS_BYTES, isSopsFile, openSopsDataKey, pgpFingerprints, type SopsKeys } from '../../../secrets/sops/index.js';
import { CapstanError } from '../../errors.js';
import type { AgentConfig } from '../config.js';
import type { CheckResult } from './checks.js';

// `capstan doctor` on SOPS: which keys this host holds, and which SOPS files of the head commit
// they open (only the data key is opened; no value is decrypted or shown).

/** A repository walk bounded in depth and count, as discovery is. */
const MAX_DEPTH = 32;
const MAX_FILES = 20_000;

export async function sopsKeysCheck(config: AgentConfig): Promise<{ result: CheckResult; keys?: SopsKeys }> {
  const name = 'sops keys';
  if (!config.ageKeyFile && !config.sopsPgpKeyFile) return { result: { name, status: 'ok', detail: 'none configured (only needed for SOPS files)' } };
  try {
    const keys = await loadSopsKeys({ ageKeyFile: config.ageKeyFile, pgpKeyFile: config.sopsPgpKeyFile });
    const held = [
      ...keys.age.map((key) => `age ${key.recipient}`),
      ...(keys.pgp.length > 0 ? [`pgp ${pgpFingerprints(keys).join(', ')}`] : []),
    ];
    return { result: { name, status: 'ok', detail: held.join('; ') }, keys };
  } catch (error) {
    return { result: { name, status: 'fail', detail: error instanceof CapstanError ? `${error.code}: ${error.message}` : String(error) } };
  }
}

/** Every SOPS file under `folder` of the checkout `root`, and whether this host's keys open it. */
export async function sopsFilesCheck(root: string, folder: string, keys: SopsKeys | undefined): Promise<CheckResult> {
  const name = 'sops files';
  const files: string[] = [];
  await collect(folder, 0, files);
  const sopsFiles: Array<{ path: string; text: string }> = [];
  for (const file of files) {
    const text = await readFile(file, 'utf8').catch(() => '');
    if (isSopsFile(text)) sopsFiles.push({ path: relative(root, file).split(sep).join('/'), text });
  }
  if (sopsFiles.length === 0) return { name, status: 'ok', detail: 'none in the repository' };
  const opened: string[] = [];
  const refused: string[] = [];
  for (const { path, text } of sopsFiles) {
    try {
      opened.push(`${path} (${(await openSopsDataKey({ text, file: path, keys: keys ?? { age: [], pgp: [] } })).join(', ')})`);
    } catch (error) {
      refused.push(error instanceof CapstanError ? `${error.code}: ${error.message}` : `${path}: ${String(error)}`);
    }
  }
  if (refused.length === 0) return { name, status: 'ok', detail: `${opened.length} open with this host's keys: ${opened.join('; ')}` };
  return { name, status: 'fail', detail: `${refused.length} of ${sopsFiles.length} cannot be opened here: ${refused.join('; ')}` };
}

async function collect(folder: string, depth: number, files: string[]): Promise<void> {
  if (depth > MAX_DEPTH || files.length >= MAX_FILES) return;
  const entries: Dirent[] = await readdir(folder, { withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    if (entry.name === '.git' || files.length >= MAX_FILES) continue;
    const path = join(folder, entry.name);
    if (entry.isDirectory()) await collect(path, depth + 1, files);
    else if (entry.isFile() && (await stat(path)).size <= MAX_SOPS_BYTES) files.push(path);
  }
}
