// Compose files a project reads besides its own (`include`, `extends.file`): files of the same
// checkout only. A path that leaves the checkout, or a symbolic link that points out of it, is
// refused at the key that names it, so a commit can never read a file of the host.
import { dirname, relative, resolve, sep } from 'node:path';
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
    real = await checkout.files.realpath(path);
  } catch {
    return refuse(problems, at, 'COMPOSE_FILE_NOT_FOUND', `'${written}' does not exist in the repository (paths start from ${toRepoPath(checkout.root, fromFolder)})`);
  }
  if (!isInside(checkout.realRoot, real)) return refuse(problems, at, 'COMPOSE_FILE_OUTSIDE', `${outside} (through a symbolic link)`);
  const info = await checkout.files.lstat(real);
  if (!info.isFile()) return refuse(problems, at, 'COMPOSE_INVALID', `'${written}' is not a file`);
  if (info.size > MAX_BYTES) return refuse(problems, at, 'COMPOSE_INVALID', `'${written}' is ${info.size} bytes; a Compose file holds at most ${MAX_BYTES}`);
  const file = toRepoPath(checkout.root, path);
  // Through the checkout's bounded reader, as every Compose file: size, the commit's total, UTF-8.
  const read = await checkout.reader.read(real, file);
  if ('problem' in read) return refuse(problems, at, read.problem.code, `'${written}': ${read.problem.message}`);
  const { parsed, problems: syntax } = parseManifest(read.text, file);
  problems.push(...syntax);
  if (!parsed) return undefined;
  const located = locatedTree(parsed.doc, parsed.lineCounter, file);
  problems.push(...located.problems);
  const tree: Located | undefined = located.tree;
  if (tree?.kind !== 'map') return refuse(problems, at, 'COMPOSE_INVALID', `'${written}' is not a Compose file (a map)`);
  return { path, folder: dirname(path), file, tree };
}

/**
 * Compose resolves the relative paths of a file read from another folder (`include`,
 * `extends.file`) against that folder: the service's build context, env files and bind sources
 * are rewritten to start from `toFolder` (where the project's own paths start), keeping where
 * they are written for problems. A path given by a variable cannot be rewritten before it is
 * interpolated, so it is refused where it is written.
 */
export function rebaseRelativePaths(service: Located, fromFolder: string, toFolder: string, problems: ManifestProblem[]): Located {
  if (service.kind !== 'map' || fromFolder === toFolder) return service;
  const rebase = (located: Located | undefined, isPath: (value: string) => boolean): Located | undefined => {
    if (located?.kind !== 'scalar' || typeof located.value !== 'string' || !isPath(located.value)) return located;
    if (located.value.includes('$')) {
      const why = 'a relative path given by a variable in a Compose file of another folder: Compose resolves it from that folder once interpolated, which Capstan cannot do before; write the path without a variable, or move the file beside compose.yaml';
      problems.push({ code: 'COMPOSE_UNSUPPORTED', file: located.at.file, line: located.at.line, column: located.at.column, key: located.at.key, message: `not supported by Capstan: ${why}` });
      return located;
    }
    return { ...located, value: rebased(located.value, fromFolder, toFolder) };
  };
  const remote = (value: string) => /^[a-z][a-z0-9+.-]*:\/\//i.test(value) || value.startsWith('git@') || value.startsWith('github.com/');
  const anyPath = (value: string) => !value.startsWith('/') && !remote(value);
  const relative = (value: string) => value === '.' || value === '..' || value.startsWith('./') || value.startsWith('../');
  const entries = new Map(service.entries);
  const replace = (key: string, value: Located | undefined) => {
    const entry = entries.get(key);
    if (entry && value && value !== entry.value) entries.set(key, { ...entry, value });
  };
  const build = service.entries.get('build')?.value;
  if (build?.kind === 'map') {
    const context = build.entries.get('context');
    if (context) replace('build', { ...build, entries: new Map([...build.entries, ['context', { ...context, value: rebase(context.value, anyPath)! }]]) });
  } else replace('build', rebase(build, anyPath));
  const envFile = service.entries.get('env_file')?.value;
  const envItem = (item: Located): Located => {
    if (item.kind !== 'map') return rebase(item, anyPath)!;
    const path = item.entries.get('path');
    return path ? { ...item, entries: new Map([...item.entries, ['path', { ...path, value: rebase(path.value, anyPath)! }]]) } : item;
  };
  if (envFile?.kind === 'seq') replace('env_file', { ...envFile, items: envFile.items.map(envItem) });
  else if (envFile) replace('env_file', envItem(envFile));
  const volumes = service.entries.get('volumes')?.value;
  if (volumes?.kind === 'seq') {
    const items = volumes.items.map((item): Located => {
      if (item.kind === 'map') {
        const source = item.entries.get('source');
        const type = item.entries.get('type')?.value;
        if (!source || !(type?.kind === 'scalar' && type.value === 'bind')) return item;
        return { ...item, entries: new Map([...item.entries, ['source', { ...source, value: rebase(source.value, anyPath)! }]]) };
      }
      if (item.kind !== 'scalar' || typeof item.value !== 'string') return item;
      // `${DIR:-./conf}:/conf`: a relative path known only once interpolated.
      if (item.value.includes('$') && item.value.includes('./')) return rebase(item, () => true)!;
      const [source, ...rest] = item.value.split(':');
      if (rest.length === 0 || !relative(source)) return item;
      if (source.includes('$')) return rebase(item, () => true)!;
      return { ...item, value: [rebased(source, fromFolder, toFolder), ...rest].join(':') };
    });
    replace('volumes', { ...volumes, items });
  }
  return { ...service, entries };
}

/** `path` (relative to `fromFolder`) as a path relative to `toFolder`, `./`-prefixed as Compose writes relative paths. */
function rebased(path: string, fromFolder: string, toFolder: string): string {
  const moved = relative(toFolder, resolve(fromFolder, path)).split(sep).join('/');
  if (moved === '') return '.';
  return moved.startsWith('..') ? moved : `./${moved}`;
}
