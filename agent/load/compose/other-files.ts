// Compose files a project reads besides its own (`include`, `extends.file`): files of the same
// checkout only. A path that leaves the checkout, or a symbolic link that points out of it, is
// refused at the key that names it, so a commit can never read a file of the host.
import { lstat, readFile, realpath } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { ManifestProblem } from '../../errors.js';
import { parseManifest } from '../files/parse.js';
import { isInside, toRepoPath, type Checkout } from '../files/repo-files.js';
import { locatedTree, type Located, type LocatedMap, type Origin } from './located.js';

/** A Compose file is text a person writes; beyond this it is not one. */
const MAX_BYTES = 1024 * 1024;

export interface OtherFile {
  /** Absolute path, as resolved from where it is named (not through links). */
  path: string;
  /** Its folder: relative paths in it start there. */
  folder: string;
  /** Repository path, for problems. */
  file: string;
  tree: LocatedMap;
}

function refuse(problems: ManifestProblem[], at: Origin, code: string, message: string): undefined {
  problems.push({ code, file: at.file, line: at.line, column: at.column, key: at.key, message });
  return undefined;
}

/** Reads `written` (relative to `fromFolder`) as a Compose file of the checkout, or adds a problem at `at`. */
export async function readOtherFile(checkout: Checkout, fromFolder: string, written: string, at: Origin, problems: ManifestProblem[]): Promise<OtherFile | undefined> {
  const path = resolve(fromFolder, written);
  const outside = 'the file is outside the repository; Capstan reads only files of the commit';
  if (!isInside(checkout.root, path)) return refuse(problems, at, 'COMPOSE_FILE_OUTSIDE', outside);
  let real: string;
  try {
    real = await realpath(path);
  } catch {
    return refuse(problems, at, 'COMPOSE_FILE_NOT_FOUND', `'${written}' does not exist in the repository (paths start from ${toRepoPath(checkout.root, fromFolder)})`);
  }
  if (!isInside(checkout.realRoot, real)) return refuse(problems, at, 'COMPOSE_FILE_OUTSIDE', `${outside} (through a symbolic link)`);
  const info = await lstat(real);
  if (!info.isFile()) return refuse(problems, at, 'COMPOSE_INVALID', `'${written}' is not a file`);
  if (info.size > MAX_BYTES) return refuse(problems, at, 'COMPOSE_INVALID', `'${written}' is ${info.size} bytes; a Compose file holds at most ${MAX_BYTES}`);
  const file = toRepoPath(checkout.root, path);
  const { parsed, problems: syntax } = parseManifest(await readFile(real, 'utf8'), file);
  problems.push(...syntax);
  if (!parsed) return undefined;
  const located = locatedTree(parsed.doc, parsed.lineCounter, file);
  problems.push(...located.problems);
  const tree: Located | undefined = located.tree;
  if (tree?.kind !== 'map') return refuse(problems, at, 'COMPOSE_INVALID', `'${written}' is not a Compose file (a map)`);
  return { path, folder: dirname(path), file, tree };
}

/**
 * Compose resolves relative paths of a file read from another folder against that folder;
 * Capstan does not rewrite them, so such paths are refused where they are written.
 */
export function relativePathProblems(service: Located, problems: ManifestProblem[]): void {
  if (service.kind !== 'map') return;
  const why = 'a relative path in a Compose file of another folder: Compose would resolve it from that folder, Capstan does not rewrite it; move the file beside compose.yaml or write the path in compose.yaml';
  const check = (located: Located | undefined, test: (value: string) => boolean) => {
    if (located?.kind === 'scalar' && typeof located.value === 'string' && test(located.value)) {
      problems.push({ code: 'COMPOSE_UNSUPPORTED', file: located.at.file, line: located.at.line, column: located.at.column, key: located.at.key, message: `not supported by Capstan: ${why}` });
    }
  };
  const relative = (value: string) => value.startsWith('.') || (!value.startsWith('/') && value.includes('/') && !value.includes(':'));
  const build = service.entries.get('build')?.value;
  check(build?.kind === 'map' ? build.entries.get('context')?.value : build, () => true);
  const envFile = service.entries.get('env_file')?.value;
  for (const item of envFile?.kind === 'seq' ? envFile.items : [envFile]) check(item?.kind === 'map' ? item.entries.get('path')?.value : item, () => true);
  const volumes = service.entries.get('volumes')?.value;
  for (const item of volumes?.kind === 'seq' ? volumes.items : []) {
    if (item.kind === 'map') check(item.entries.get('source')?.value, relative);
    else check(item, (value) => relative(value.split(':')[0]));
  }
}
