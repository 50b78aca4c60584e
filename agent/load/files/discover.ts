// Finds the manifests under the configured folder: every `*.yaml`/`*.yml`, recursively, sorted by
// path so problems and plans come out in the same order on every host. Dot-files and dot-folders
// (`.git`, `.github`, CI configs) are not manifests. Symbolic links to folders are not followed.
import { join } from 'node:path';
import { hasSopsMetadata } from '../../../secrets/sops/index.js';
import type { ManifestProblem } from '../../errors.js';
import { isComposeFile } from '../compose/files.js';
import { isInside, toRepoPath, type Checkout } from './repo-files.js';

const MANIFEST_FILE = /\.ya?ml$/;

export interface Skipped {
  /** Path relative to the checkout root. */
  path: string;
  reason: string;
}

export interface Discovery {
  /** Absolute paths, sorted by their path in the checkout. */
  files: string[];
  /** Folders holding a Compose file, absolute, sorted: each is one app (agent/load/compose). */
  composeFolders: string[];
  skipped: Skipped[];
  problems: ManifestProblem[];
}

export async function discoverManifests(checkout: Checkout, folder: string): Promise<Discovery> {
  const discovery: Discovery = { files: [], composeFolders: [], skipped: [], problems: [] };
  await visitFolder(checkout, folder, discovery, 0);
  discovery.files.sort((left, right) => compare(toRepoPath(checkout.root, left), toRepoPath(checkout.root, right)));
  discovery.composeFolders.sort((left, right) => compare(toRepoPath(checkout.root, left), toRepoPath(checkout.root, right)));
  return discovery;
}

function compare(left: string, right: string): number {
  return left < right ? -1 : left > right ? 1 : 0;
}

async function visitFolder(checkout: Checkout, folder: string, discovery: Discovery, depth: number): Promise<void> {
  const repoPath = toRepoPath(checkout.root, folder);
  // Deeper than any sensible manifests layout; stops a pathological tree from recursing forever.
  if (depth > 32) {
    discovery.skipped.push({ path: repoPath, reason: 'nested more than 32 folders deep' });
    return;
  }
  const entries = await checkout.files.readdir(folder);
  if (entries.some((entry) => isComposeFile(entry.name) && !entry.isDirectory())) {
    // A Compose project: the whole folder is one app; its other files are the app's own
    // (configs, Dockerfiles), never manifests.
    discovery.composeFolders.push(folder);
    return;
  }
  for (const entry of entries) {
    // Reserved for repository settings (load/files/settings.ts), never an app.
    if (entry.name.startsWith('.') || entry.name === 'capstan.yaml') continue;
    const absolute = join(folder, entry.name);
    if (entry.isDirectory()) {
      await visitFolder(checkout, absolute, discovery, depth + 1);
    } else if (entry.isSymbolicLink()) {
      await visitLink(checkout, absolute, discovery);
    } else if (entry.isFile() && MANIFEST_FILE.test(entry.name)) {
      if (await isSopsData(checkout, absolute)) discovery.skipped.push({ path: toRepoPath(checkout.root, absolute), reason: 'a SOPS-encrypted file (data for env_files, not a manifest)' });
      else discovery.files.push(absolute);
    }
  }
}

/** A SOPS YAML file kept beside the manifests (as Flux users do) is data, not an app. */
async function isSopsData(checkout: Checkout, absolute: string): Promise<boolean> {
  const text = await checkout.files.readFile(absolute).then((bytes) => bytes.toString('utf8'), () => '');
  return hasSopsMetadata(text);
}

async function visitLink(checkout: Checkout, absolute: string, discovery: Discovery): Promise<void> {
  const repoPath = toRepoPath(checkout.root, absolute);
  const target = await checkout.files.stat(absolute).catch(() => undefined);
  if (target?.isDirectory()) {
    discovery.skipped.push({ path: repoPath, reason: 'symbolic link to a folder; not followed' });
    return;
  }
  if (!MANIFEST_FILE.test(absolute)) return;
  const real = target ? await checkout.files.realpath(absolute) : undefined;
  if (!real || !isInside(checkout.realRoot, real)) {
    const message = 'this manifest is a symbolic link to nothing or to a file outside the checkout; commit the file itself';
    discovery.problems.push({ code: 'MANIFEST_OUTSIDE_CHECKOUT', file: repoPath, line: 0, column: 0, key: '', message });
    return;
  }
  discovery.files.push(absolute);
}
