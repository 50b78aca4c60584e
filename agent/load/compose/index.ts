// A Compose project folder → one app, through the native pipeline: the Compose files are parsed
// keeping positions, the override merged in, `extends` and profiles resolved, then converted key
// by key into a native manifest document, which is loaded exactly as a native file is (schema,
// interpolation, normalization, host policy). Problems of either stage name the Compose files.
import { basename, join, resolve } from 'node:path';
import type { ManifestProblem } from '../../errors.js';
import type { HostPolicy } from '../../policy/index.js';
import { emptyWhenUnset, type Lookup } from '../variables/interpolate.js';
import type { KeyPath } from '../problems.js';
import { loadManifestData, type FileResult } from '../load-file.js';
import type { VariableContext } from '../variables/manifest-variables.js';
import { isSopsFile, MAX_SOPS_BYTES } from '../../../secrets/sops/index.js';
import { parseManifest } from '../files/parse.js';
import { isInside, toRepoPath, type Checkout } from '../files/repo-files.js';
import { layerVariables } from '../variables/variables.js';
import type { ConvertContext, Note } from './context.js';
import { convertProject } from './convert-project.js';
import { NativeDocument } from './document.js';
import { checkKeyedLists } from './check-lists.js';
import { composeEnvFiles } from './env.js';
import { pickComposeFiles } from './files.js';
import { child, locatedTree, text, type Located, type LocatedMap, type MapEntry, type Origin } from './located.js';
import { MAX_OTHER_FILES, preloadExtends } from './extends.js';
import { readOtherFile, rebaseRelativePaths, type OtherFile } from './other-files.js';
import { mergeProject } from './merge.js';

export { isComposeFile } from './files.js';
export { renderManifest } from './render.js';
export type { Note } from './context.js';

export interface ComposeConversion {
  /** The Compose file the app is recorded from, relative to the checkout root. */
  file: string;
  /** The native manifest; absent when the Compose files could not be read. */
  document?: NativeDocument;
  /** Problems of the conversion itself (refused and unknown keys, YAML syntax). */
  problems: ManifestProblem[];
  notes: Note[];
  /** Services whose `extends` failed (already reported): their missing image is no news. */
  incomplete?: Set<string>;
}

/** Compose files → native manifest. `lookup` gives `.env` and `capstan.env`, for profiles and the project name. */
export async function convertComposeFolder(folder: string, checkout: Checkout, lookup: Lookup): Promise<ComposeConversion> {
  const names = (await checkout.files.readdir(folder)).map((entry) => entry.name);
  const picked = pickComposeFiles(names);
  const repoPath = (name: string) => toRepoPath(checkout.root, join(folder, name));
  const file = repoPath(picked.main ?? picked.override ?? '.');
  const notes: Note[] = picked.ignored.map((name) => ({
    code: 'COMPOSE_NOTE',
    file: repoPath(name),
    line: 0,
    column: 0,
    key: '',
    message: `not read: Compose reads ${name.includes('override') ? picked.override : picked.main} in this folder first`,
  }));
  if (!picked.main) {
    const message = `an override file needs a Compose file beside it (${'compose.yaml'}); Capstan reads the folder as Compose does`;
    return { file, problems: [{ code: 'COMPOSE_NO_FILE', file, line: 0, column: 0, key: '', message }], notes };
  }
  const problems: ManifestProblem[] = [];
  const trees: Located[] = [];
  for (const name of [picked.main, picked.override]) {
    if (name === undefined) continue;
    const tree = await readTree(checkout, folder, name, repoPath(name), problems);
    if (tree) trees.push(tree);
  }
  if (problems.length > 0 || trees.length === 0) return { file, problems, notes };
  const merged = trees.reduce((left, tree) => mergeProject(left, tree));
  const fileStart: Origin = { file, line: 1, column: 1, key: '' };
  if (merged.kind !== 'map') {
    return { file, problems: [{ code: 'COMPOSE_INVALID', file, line: 1, column: 1, key: '', message: 'a Compose file is a map with services:' }], notes };
  }
  const otherFiles = new Map<string, OtherFile>();
  const project = await applyIncludes(checkout, merged, folder, { mainFolder: folder, files: otherFiles, problems, depth: 0 });
  await preloadExtends(checkout, otherFiles, project.entries.get('services')?.value, folder, problems);

  const dotEnv = (await hasDotEnv(checkout, folder)) ? { file: repoPath('.env'), line: 0, column: 0, key: '' } : undefined;
  // The converter is synchronous; what it asks of the checkout is read here, through the
  // checkout's FileReader, and the conversion run again with the answers until it asks nothing new.
  const answers = new CheckoutAnswers(checkout, folder);
  for (let pass = 0; ; pass++) {
    const document = new NativeDocument({ at: fileStart });
    const context: ConvertContext = {
      doc: document,
      problems: [...problems],
      notes: [...notes],
      lookup,
      folder,
      exists: (relativePath) => answers.exists(relativePath),
      readText: (relativePath) => answers.readText(relativePath),
      isSops: (relativePath) => answers.isSops(relativePath),
      refused: { volumes: new Set(), networks: new Set(), secrets: new Set(), configs: new Set() },
      volumeKeys: new Map(),
      hostFolders: new Map(),
      serviceKeys: new Map(),
      linkAliases: [],
      writers: new Map(),
      otherFiles,
      incomplete: new Set(),
    };
    convertProject(context, { tree: project, folderName: basename(folder), dotEnv, fileStart });
    if (pass < MAX_CONVERT_PASSES && (await answers.readAsked())) continue;
    return { file, document, problems: context.problems, notes: context.notes, incomplete: context.incomplete };
  }
}

/** Each pass reads every path the one before asked; a project asks its paths in the first pass, or after one answer at most. */
const MAX_CONVERT_PASSES = 8;

/** The checkout's files the converter asks about, read through the FileReader ahead of the pass that uses them. */
class CheckoutAnswers {
  private readonly existing = new Map<string, boolean>();
  private readonly texts = new Map<string, string | { refused: string } | undefined>();
  private readonly sops = new Map<string, boolean>();
  private readonly asked: Array<() => Promise<void>> = [];

  constructor(
    private readonly checkout: Checkout,
    private readonly folder: string,
  ) {}

  exists(relativePath: string): boolean {
    return this.answer(this.existing, relativePath, false, async (absolute) => {
      // As existsSync: through links, any failure is "no".
      return this.checkout.files.stat(absolute).then(() => true, () => false);
    });
  }

  /** Through the checkout's bounded reader: a file too large or not UTF-8 is refused with the reader's reason. */
  readText(relativePath: string): string | { refused: string } | undefined {
    return this.answer<string | { refused: string } | undefined>(this.texts, relativePath, undefined, async (absolute) => {
      if (!isInside(this.checkout.root, absolute)) return undefined;
      try {
        const real = await this.checkout.files.realpath(absolute);
        if (!isInside(this.checkout.realRoot, real) || !(await this.checkout.files.stat(real)).isFile()) return undefined;
        const read = await this.checkout.reader.read(real, toRepoPath(this.checkout.root, absolute));
        return 'problem' in read ? { refused: read.problem.message } : read.text;
      } catch {
        return undefined;
      }
    });
  }

  isSops(relativePath: string): boolean {
    return this.answer(this.sops, relativePath, false, async (absolute) => {
      try {
        const info = await this.checkout.files.stat(absolute);
        if (!info.isFile() || info.size > MAX_SOPS_BYTES) return false;
        return isSopsFile((await this.checkout.files.readFile(absolute)).toString('utf8'));
      } catch {
        return false;
      }
    });
  }

  /** Reads what the last pass asked; false when it asked nothing new. */
  async readAsked(): Promise<boolean> {
    if (this.asked.length === 0) return false;
    const reads = this.asked.splice(0);
    for (const read of reads) await read();
    return true;
  }

  private answer<T>(known: Map<string, T>, relativePath: string, unknown: T, read: (absolute: string) => Promise<T>): T {
    const absolute = resolve(this.folder, relativePath);
    if (known.has(absolute)) return known.get(absolute) as T;
    this.asked.push(async () => {
      if (!known.has(absolute)) known.set(absolute, await read(absolute));
    });
    return unknown;
  }
}

const INCLUDED_SECTIONS = ['services', 'volumes', 'networks', 'secrets', 'configs'];

/** The `file:` of an included file's secrets and configs, from its own folder as Compose reads it. */
function rebaseSecretFiles(project: LocatedMap, fromFolder: string, toFolder: string, problems: ManifestProblem[]): LocatedMap {
  const entries = new Map(project.entries);
  for (const section of ['secrets', 'configs']) {
    const definitions = project.entries.get(section);
    if (definitions?.value.kind !== 'map') continue;
    const moved = new Map<string, MapEntry>();
    for (const [name, definition] of definitions.value.entries) {
      const file = definition.value.kind === 'map' ? definition.value.entries.get('file') : undefined;
      if (!file || definition.value.kind !== 'map') {
        moved.set(name, definition);
        continue;
      }
      // The same rewriting as a service's env file: a one-entry stand-in service.
      const standIn: LocatedMap = { kind: 'map', at: definition.value.at, entries: new Map([['env_file', file]]) };
      const rebased = rebaseRelativePaths(standIn, fromFolder, toFolder, problems) as LocatedMap;
      moved.set(name, { ...definition, value: { ...definition.value, entries: new Map([...definition.value.entries, ['file', rebased.entries.get('env_file')!]]) } });
    }
    entries.set(section, { ...definitions, value: { ...definitions.value, entries: moved } });
  }
  return { ...project, entries };
}
const MAX_INCLUDE_DEPTH = 8;

interface IncludeState {
  mainFolder: string;
  files: Map<string, OtherFile>;
  problems: ManifestProblem[];
  depth: number;
}

/**
 * Compose's `include`: each listed file of the repository is read (its own includes first) and
 * its services, volumes, networks, secrets and configs join the project's; a name defined twice
 * is an error, as in Compose. Returns the project without its `include` key.
 */
async function applyIncludes(checkout: Checkout, project: LocatedMap, folder: string, state: IncludeState): Promise<LocatedMap> {
  const include = project.entries.get('include');
  if (!include) return project;
  const result: LocatedMap = { ...project, entries: new Map([...project.entries].filter(([key]) => key !== 'include')) };
  const fail = (at: Origin, code: string, message: string) => state.problems.push({ code, file: at.file, line: at.line, column: at.column, key: at.key, message });
  if (state.depth >= MAX_INCLUDE_DEPTH) {
    fail(include.keyAt, 'COMPOSE_INVALID', `include nested more than ${MAX_INCLUDE_DEPTH} files deep`);
    return result;
  }
  const items = include.value.kind === 'seq' ? include.value.items : [include.value];
  for (const item of items) {
    let paths: Located[] = [];
    if (item.kind === 'scalar') paths = [item];
    else if (item.kind === 'map') {
      for (const [key, option] of item.entries) {
        if (key === 'path') paths = option.value.kind === 'seq' ? option.value.items : [option.value];
        else if (key === 'project_directory' || key === 'env_file') fail(option.keyAt, 'COMPOSE_UNSUPPORTED', `not supported by Capstan: include ${key}; variables come from the project's own .env, and paths from each file's folder`);
        else if (!key.startsWith('x-')) fail(option.keyAt, 'COMPOSE_UNKNOWN_KEY', `'${key}' is not a Compose key here`);
      }
    }
    if (paths.length === 0) fail(item.at, 'COMPOSE_INVALID', 'an include entry is a path or {path: …}');
    for (const pathValue of paths) {
      const written = text(pathValue);
      if (written === undefined || written.includes('$')) {
        fail(pathValue.at, 'COMPOSE_INVALID', 'an included file is a path, written without variables');
        continue;
      }
      if (state.files.size >= MAX_OTHER_FILES) {
        fail(pathValue.at, 'COMPOSE_INVALID', `more than ${MAX_OTHER_FILES} Compose files behind extends and include`);
        return result;
      }
      const other = await readOtherFile(checkout, folder, written, pathValue.at, state.problems);
      if (!other) continue;
      state.files.set(other.path, other);
      let included = await applyIncludes(checkout, other.tree, other.folder, { ...state, depth: state.depth + 1 });
      const services = included.entries.get('services')?.value;
      if (other.folder !== state.mainFolder && services?.kind === 'map') {
        // Compose resolves an included file's relative paths from its own folder.
        const moved = new Map<string, MapEntry>();
        for (const [name, service] of services.entries) {
          const extendsFile = service.value.kind === 'map' ? child(child(service.value, 'extends'), 'file') : undefined;
          if (extendsFile) fail(extendsFile.at, 'COMPOSE_UNSUPPORTED', 'not supported by Capstan: extends.file in an included file of another folder; include the base file too, or move the file beside compose.yaml');
          moved.set(name, { ...service, value: rebaseRelativePaths(service.value, other.folder, state.mainFolder, state.problems) });
        }
        const entry = included.entries.get('services')!;
        included = { ...included, entries: new Map([...included.entries, ['services', { ...entry, value: { ...services, entries: moved } }]]) };
      }
      if (other.folder !== state.mainFolder) included = rebaseSecretFiles(included, other.folder, state.mainFolder, state.problems);
      for (const section of INCLUDED_SECTIONS) {
        const addition = included.entries.get(section);
        if (addition?.value.kind !== 'map') continue;
        const existing = result.entries.get(section);
        const target: LocatedMap = existing?.value.kind === 'map' ? { ...existing.value, entries: new Map(existing.value.entries) } : { kind: 'map', entries: new Map(), at: addition.value.at };
        for (const [name, definition] of addition.value.entries) {
          const earlier = target.entries.get(name);
          if (earlier) fail(definition.keyAt, 'COMPOSE_INCLUDE_CONFLICT', `${section}.${name} is defined in ${earlier.keyAt.file} (line ${earlier.keyAt.line}) too; Compose refuses a name defined twice through include`);
          else target.entries.set(name, definition);
        }
        result.entries.set(section, { keyAt: existing?.keyAt ?? addition.keyAt, value: target });
      }
    }
  }
  return result;
}

async function readTree(checkout: Checkout, folder: string, name: string, file: string, problems: ManifestProblem[]): Promise<Located | undefined> {
  const read = await checkout.reader.read(join(folder, name), file);
  if ('problem' in read) {
    problems.push(read.problem);
    return undefined;
  }
  const { parsed, problems: syntax } = parseManifest(read.text, file);
  problems.push(...syntax);
  if (!parsed) return undefined;
  if (parsed.data === null || parsed.data === undefined) {
    problems.push({ code: 'EMPTY_MANIFEST', file, line: 0, column: 0, key: '', message: 'the Compose file is empty; it needs services:' });
    return undefined;
  }
  const located = locatedTree(parsed.doc, parsed.lineCounter, file);
  problems.push(...located.problems);
  checkKeyedLists(located.tree, problems);
  return located.tree;
}


async function hasDotEnv(checkout: Checkout, folder: string): Promise<boolean> {
  return checkout.files.stat(join(folder, '.env')).then((info) => info.isFile(), () => false);
}

export interface ComposeLoad {
  result: FileResult;
  notes: Note[];
  /** The conversion, for `capstan convert`. */
  conversion: ComposeConversion;
}

/** For the loader (index.ts): one Compose folder as one app, or its problems. */
export async function loadComposeFolder(folder: string, checkout: Checkout, context: VariableContext, policy: HostPolicy): Promise<ComposeLoad> {
  const notes: Note[] = [];
  // `.env` values may use capstan.env's variables; a service's env_file values `.env`'s too.
  let outer = layerVariables([context.defaults], context.fallback).lookup;
  const envFiles = composeEnvFiles(checkout, context.envFiles, notes, () => outer);
  const dotEnv = (await hasDotEnv(checkout, folder)) ? await envFiles.read(folder, '.env') : undefined;
  const variables = layerVariables([dotEnv, context.defaults], context.fallback);
  outer = variables.lookup;
  const conversion = await convertComposeFolder(folder, checkout, variables.lookup);
  notes.push(...conversion.notes);
  if (!conversion.document) return { result: { problems: conversion.problems, bindings: [], grants: [] }, notes: uniqueNotes(notes), conversion };
  const document = conversion.document;
  const result = await loadManifestData(
    { file: conversion.file, data: document.data, manifestDir: folder, located: (path, atKey) => document.locate(path, atKey) },
    checkout,
    { ...context, envFiles },
    policy,
    { compose: true },
  );
  notes.push(...(result.notes ?? []));
  writeEmptiedVariables(document, result.emptied ?? []);
  // A key or a value the conversion already refused has its problem: the native loader's view of
  // the same place is no news.
  const refusedKeys = conversion.problems.filter((problem) => problem.key !== '').map((problem) => problem.key);
  const refusedAt = new Set(conversion.problems.map((problem) => `${problem.file}:${problem.line}:${problem.column}`));
  const followOn = (problem: ManifestProblem) =>
    refusedKeys.some((key) => problem.key === key || problem.key.startsWith(`${key}.`) || problem.key.startsWith(`${key}[`)) ||
    refusedAt.has(`${problem.file}:${problem.line}:${problem.column}`) ||
    (problem.code === 'IMAGE_MISSING' && [...(conversion.incomplete ?? [])].some((name) => problem.key === `services.${name}`));
  const problems = unique([...conversion.problems, ...result.problems.filter((problem) => !followOn(problem)).map(composeHint)]);
  return { result: { ...result, problems }, notes: uniqueNotes(notes), conversion };
}

/**
 * An unset variable left empty under allow_unset_variables is written `${VAR:-}` in what
 * `convert` prints: the same value, and one the native loader (which refuses unset variables,
 * whatever the policy) accepts, while it still takes the variable's value once it is set.
 */
function writeEmptiedVariables(document: NativeDocument, emptied: Array<{ path: KeyPath; variable: string }>): void {
  const byPath = new Map<string, { path: KeyPath; names: Set<string> }>();
  for (const { path, variable } of emptied) {
    const key = JSON.stringify(path);
    const entry = byPath.get(key) ?? { path, names: new Set<string>() };
    entry.names.add(variable);
    byPath.set(key, entry);
  }
  for (const { path, names } of byPath.values()) {
    const value = document.get(path);
    if (typeof value === 'string') document.replace(path, emptyWhenUnset(value, names));
  }
}

/** What Compose does with a missing bind source, and what Capstan does instead. */
function composeHint(problem: ManifestProblem): ManifestProblem {
  if (problem.code !== 'BIND_NOT_FOUND') return problem;
  return { ...problem, message: `${problem.message}; Compose creates a missing folder only for the short syntax (./data:/data), which Capstan keeps as a volume of the app` };
}

function unique<T extends ManifestProblem>(problems: T[]): T[] {
  const seen = new Set<string>();
  return problems.filter((problem) => {
    const identity = JSON.stringify([problem.file, problem.line, problem.column, problem.key, problem.message]);
    return seen.has(identity) ? false : (seen.add(identity), true);
  });
}

/** An anchor shared by several services gives the same note at the same place once per service: once is enough. */
function uniqueNotes(notes: Note[]): Note[] {
  const seen = new Set<string>();
  return notes
    .filter((note) => {
      const identity = JSON.stringify([note.file, note.line, note.column, note.message]);
      return seen.has(identity) ? false : (seen.add(identity), true);
    })
    .sort((left, right) => (left.file !== right.file ? (left.file < right.file ? -1 : 1) : left.line - right.line || left.column - right.column));
}

export function formatNote(note: Note): string {
  const where = note.line > 0 ? `${note.file}:${note.line}:${note.column}` : note.file;
  return `${where}:${note.key ? ` ${note.key}:` : ''} ${note.message}`;
}
