// Shared by the Compose unit tests: a Compose folder written to a temporary checkout, loaded
// through the real loader, with its problems and notes as the CLI prints them.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Keyring } from '../../secrets/index.js';
import { formatProblem } from '../../agent/errors.js';
import { formatNote, loadComposeFolder } from '../../agent/load/compose/index.js';
import { openEnvFiles } from '../../agent/load/variables/env-files.js';
import { validateDir } from '../../agent/load/index.js';
import { openCheckout } from '../../agent/load/files/repo-files.js';
import type { App, DesiredState } from '../../agent/model.js';
import { DEFAULT_POLICY, type HostPolicy } from '../../agent/policy/index.js';
import { tempDir, type TempDir } from '../helpers/paths.js';

export const hashKey = new Uint8Array(32).fill(3);

export interface Converted {
  /** The native manifest document. */
  manifest: Record<string, unknown>;
  problems: string[];
  notes: string[];
  /** Present when the whole load succeeded. */
  state?: DesiredState;
  app?: App;
}

const folders: TempDir[] = [];

/** Removes every checkout made so far; call from `after`. */
export async function cleanupCheckouts(): Promise<void> {
  for (const folder of folders.splice(0)) await folder.cleanup();
}

/** A temporary checkout holding `files` (paths relative to its root); removed by cleanupCheckouts. */
export async function writeCheckout(files: Record<string, string>): Promise<string> {
  const root = await tempDir('capstan-compose-unit');
  folders.push(root);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root.path, path)), { recursive: true });
    writeFileSync(join(root.path, path), text);
  }
  return root.path;
}

/** Writes `files` (paths relative to the checkout root) and loads the Compose folder `folder`. */
export async function convertFiles(
  files: Record<string, string>,
  options: { folder?: string; keyring?: Keyring; unchecked?: boolean; policy?: HostPolicy } = {},
): Promise<Converted> {
  const root = { path: await writeCheckout(files) };
  const folder = options.folder ?? 'app';
  const checkout = await openCheckout(root.path);
  const envFiles = openEnvFiles(checkout, { keyring: options.keyring, unchecked: options.unchecked });
  const load = await loadComposeFolder(join(root.path, folder), checkout, { envFiles, fallback: () => undefined }, options.policy ?? DEFAULT_POLICY);
  const validation = await validateDir({ root: root.path, path: folder, commit: 'a'.repeat(40), hashKey, keyring: options.keyring, uncheckedEnvFiles: options.unchecked, policy: options.policy });
  return {
    manifest: (load.conversion.document?.data ?? {}) as Record<string, unknown>,
    problems: validation.problems.map(formatProblem),
    notes: load.notes.map(formatNote),
    state: validation.state,
    app: validation.state?.apps[0],
  };
}

/** Loads `compose` as `app/compose.yaml`, with more files beside it (paths relative to the folder). */
export function convertCompose(compose: string, extra: Record<string, string> = {}, options: { keyring?: Keyring; unchecked?: boolean; policy?: HostPolicy } = {}): Promise<Converted> {
  const files: Record<string, string> = { 'app/compose.yaml': compose };
  for (const [path, text] of Object.entries(extra)) files[`app/${path}`] = text;
  return convertFiles(files, options);
}
