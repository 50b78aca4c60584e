// `extends`: a service starts from another service's definition and overrides it by Compose's
// merge rules (merge.ts). The base is in the same file, or with `file:` in another Compose file
// of the repository (read beforehand by preloadExtends, inside the checkout only). Chains are
// followed, cycles are errors.
import { resolve } from 'node:path';
import type { ManifestProblem } from '../../errors.js';
import type { Checkout } from '../files/repo-files.js';
import { problem, type ConvertContext } from './context.js';
import { text, type Located, type LocatedMap, type MapEntry } from './located.js';
import { mergeService } from './merge.js';
import { readOtherFile, rebaseRelativePaths, type OtherFile } from './other-files.js';

/** More files than this behind one project's `extends` and `include` is a mistake, not a design. */
export const MAX_OTHER_FILES = 64;

/** Reads every file named by `extends.file` under `services` (relative to `folder`), and the files those name. */
export async function preloadExtends(checkout: Checkout, files: Map<string, OtherFile>, services: Located | undefined, folder: string, problems: ManifestProblem[]): Promise<void> {
  if (services?.kind !== 'map') return;
  for (const entry of services.entries.values()) {
    const extendsValue = entry.value.kind === 'map' ? entry.value.entries.get('extends')?.value : undefined;
    const fileValue = extendsValue?.kind === 'map' ? extendsValue.entries.get('file')?.value : undefined;
    const written = text(fileValue);
    if (written === undefined || written.includes('$') || !fileValue) continue;
    const path = resolve(folder, written);
    if (files.has(path)) continue;
    if (files.size >= MAX_OTHER_FILES) {
      problems.push({ code: 'COMPOSE_INVALID', file: fileValue.at.file, line: fileValue.at.line, column: fileValue.at.column, key: fileValue.at.key, message: `more than ${MAX_OTHER_FILES} Compose files behind extends and include` });
      return;
    }
    const other = await readOtherFile(checkout, folder, written, fileValue.at, problems);
    if (!other) continue;
    files.set(path, other);
    await preloadExtends(checkout, files, other.tree.entries.get('services')?.value, other.folder, problems);
  }
}

/** Longer `extends` chains than this are a mistake, not a design. */
const MAX_DEPTH = 32;

/** The services of `services` with their `extends` resolved; `folder` is where their file is. */
export function resolveExtends(context: ConvertContext, services: LocatedMap, folder = context.folder, visitingFiles: Set<string> = new Set()): LocatedMap {
  const resolved = new Map<string, MapEntry>();
  const visiting = new Set<string>();

  const resolve = (name: string, depth: number): Located | undefined => {
    const written = services.entries.get(name);
    if (!written) return undefined;
    const done = resolved.get(name);
    if (done) return done.value;
    const service = written.value;
    const extendsEntry = service.kind === 'map' ? service.entries.get('extends') : undefined;
    if (service.kind !== 'map' || !extendsEntry) {
      resolved.set(name, written);
      return service;
    }
    const own: LocatedMap = { ...service, entries: new Map([...service.entries].filter(([key]) => key !== 'extends')) };
    const base = baseName(context, extendsEntry);
    let result: Located = own;
    const fileValue = extendsEntry.value.kind === 'map' ? extendsEntry.value.entries.get('file')?.value : undefined;
    if (base !== undefined && fileValue) {
      const baseService = fromOtherFile(context, fileValue, base, folder, visitingFiles);
      if (baseService) result = mergeService(baseService, own);
      else context.incomplete?.add(name);
    } else if (base === undefined) context.incomplete?.add(name);
    else {
      if (visiting.has(name) || depth > MAX_DEPTH) {
        problem(context, extendsEntry.keyAt, 'COMPOSE_EXTENDS_CYCLE', `extends forms a cycle through '${name}'`);
      } else if (!services.entries.has(base)) {
        problem(context, extendsEntry.value.at, 'COMPOSE_EXTENDS_UNKNOWN', `there is no service '${base}' in this file to extend`);
      } else {
        visiting.add(name);
        const baseService = resolve(base, depth + 1);
        visiting.delete(name);
        if (baseService) result = mergeService(baseService, own);
      }
    }
    resolved.set(name, { keyAt: written.keyAt, value: result });
    return result;
  };

  for (const name of services.entries.keys()) resolve(name, 0);
  return { ...services, entries: new Map([...services.entries.keys()].map((name) => [name, resolved.get(name)!])) };
}

/** The service `base` of the file `fileValue` names, its own `extends` resolved in that file. */
function fromOtherFile(context: ConvertContext, fileValue: Located, base: string, folder: string, visitingFiles: Set<string>): Located | undefined {
  const written = text(fileValue);
  if (written === undefined || written.includes('$')) {
    problem(context, fileValue.at, 'COMPOSE_INVALID', 'extends.file is a path, written without variables');
    return undefined;
  }
  const path = resolve(folder, written);
  const other = context.otherFiles?.get(path);
  if (!other) return undefined; // its problem was reported when it was read
  if (visitingFiles.has(path)) {
    problem(context, fileValue.at, 'COMPOSE_EXTENDS_CYCLE', `extends forms a cycle through ${other.file}`);
    return undefined;
  }
  const services = other.tree.entries.get('services')?.value;
  if (services?.kind !== 'map' || !services.entries.has(base)) {
    problem(context, fileValue.at, 'COMPOSE_EXTENDS_UNKNOWN', `there is no service '${base}' in ${other.file}`);
    return undefined;
  }
  visitingFiles.add(path);
  const resolvedThere = resolveExtends(context, services, other.folder, visitingFiles);
  visitingFiles.delete(path);
  const service = resolvedThere.entries.get(base)!.value;
  if (other.folder === folder) return service;
  // Compose resolves the base's relative paths from its own folder; problems once per place, however many services extend it.
  const before = context.problems.length;
  const moved = rebaseRelativePaths(service, other.folder, folder, context.problems);
  const added = context.problems.splice(before);
  for (const found of added) if (!context.problems.some((known) => known.file === found.file && known.line === found.line && known.column === found.column)) context.problems.push(found);
  return moved;
}

function baseName(context: ConvertContext, extendsEntry: MapEntry): string | undefined {
  const value = extendsEntry.value;
  if (value.kind === 'scalar') return text(value);
  if (value.kind !== 'map') {
    problem(context, value.at, 'COMPOSE_INVALID', 'extends is a service name or {service: name}');
    return undefined;
  }
  for (const [key, option] of value.entries) {
    if (key !== 'service' && key !== 'file') problem(context, option.keyAt, 'COMPOSE_UNKNOWN_KEY', `'${key}' is not a Compose key here`);
  }
  return text(value.entries.get('service')?.value);
}
