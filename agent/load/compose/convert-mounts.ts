// What a Compose service mounts → native `volumes`, `tmpfs` and `secrets`:
//   volumes, short and long syntax   → `volumes` (as written when the native syntax takes it)
//   volumes with type: tmpfs, tmpfs  → `tmpfs`
//   secrets / configs from a file    → a read-only bind mount of that repository file
//   ... from environment or content  → a secret file (`secrets:`) holding `${VARIABLE}` or the content
import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import type { KeyPath } from '../problems.js';
import { checkKeys, expectMap, note, peek, peekBoolean, problem, refuse, type ConvertContext } from './context.js';
import { MOUNT, SECRET, SERVICE_SECRET } from './keys.js';
import { NAME_PATTERN } from '../schema/patterns.js';
import { child, entry, text, type Located, type LocatedMap, type MapEntry, type Origin } from './located.js';

/** Options the native short syntax takes as Compose does; consistency options are no-ops on Linux. */
const KEPT_OPTIONS = new Set(['ro', 'rw', 'z', 'Z', 'nocopy']);
const PROPAGATION_OPTIONS = new Set(['shared', 'rshared', 'slave', 'rslave', 'private', 'rprivate']);
const CONSISTENCY_OPTIONS = new Set(['cached', 'delegated', 'consistent']);

/** The service's tmpfs mounts, from `tmpfs:` and from `volumes:` entries of type tmpfs. */
export interface TmpfsMounts {
  items: { value: unknown; at: Origin }[];
}

export function convertVolumes(context: ConvertContext, path: KeyPath, service: string, volumesEntry: MapEntry, tmpfs: TmpfsMounts): void {
  const volumes = volumesEntry.value;
  if (volumes.kind !== 'seq') {
    problem(context, volumes.at, 'COMPOSE_INVALID', 'volumes must be a list');
    return;
  }
  // Secrets from files may have added bind mounts already.
  if (context.doc.get([...path, 'volumes']) === undefined) context.doc.set([...path, 'volumes'], [], { at: volumes.at, keyAt: volumesEntry.keyAt });
  else context.doc.place([...path, 'volumes'], { at: volumes.at, keyAt: volumesEntry.keyAt });
  for (const item of volumes.items) {
    if (item.kind === 'map') longMount(context, path, service, item, tmpfs);
    else shortMount(context, path, service, item);
  }
  if ((context.doc.get([...path, 'volumes']) as unknown[]).length === 0) context.doc.delete([...path, 'volumes']);
}

function shortMount(context: ConvertContext, path: KeyPath, service: string, item: Located): void {
  const written = text(item);
  const value = peek(context, item);
  if (written === undefined || value === undefined) {
    problem(context, item.at, 'COMPOSE_INVALID', 'a mount is SOURCE:TARGET[:OPTIONS] or a map');
    return;
  }
  const [writtenSource, target, ...rest] = value.split(':');
  const options = rest.length > 0 ? rest.join(':').split(',') : [];
  const renamed = target !== undefined ? context.volumeKeys.get(writtenSource) : undefined;
  const source = renamed ?? writtenSource;
  let dropped = renamed !== undefined;
  const kept: string[] = [];
  for (const option of options) {
    if (KEPT_OPTIONS.has(option)) {
      kept.push(option);
      continue;
    }
    if (CONSISTENCY_OPTIONS.has(option)) note(context, item.at, MOUNT.rules.consistency.capstan);
    else if (PROPAGATION_OPTIONS.has(option)) refuse(context, item.at, MOUNT.rules['bind.propagation'].capstan);
    // A value that came through ${VAR} is never quoted: it may be a secret.
    else problem(context, item.at, 'COMPOSE_INVALID', `unknown mount option${written.includes('$') ? '' : ` '${option}'`}; use ro or rw, z or Z, nocopy`);
    dropped = true;
  }
  if (target !== undefined && context.refused.volumes.has(writtenSource)) return;
  const readOnly = options.includes('ro');
  const created = target !== undefined ? hostFolderVolume(context, source, written, item.at) : undefined;
  if (created !== undefined) {
    // Compose creates the missing folder on the host and keeps it: here it is the app's volume,
    // mounted empty as the new folder would be (nocopy), kept across commits.
    if (!readOnly) recordWriter(context, created, service, item.at);
    context.doc.push([...path, 'volumes'], `${created}:${target}:${readOnly ? 'ro,' : ''}nocopy`, { at: item.at });
    return;
  }
  if (target !== undefined && isVolumeName(source) && !readOnly) recordWriter(context, source, service, item.at);
  // Only a mount written without placeholders can be rewritten (dropped options, renamed volume).
  const rewritten = dropped && !written.includes('$') ? `${source}:${target}${kept.length > 0 ? `:${kept.join(',')}` : ''}` : written;
  context.doc.push([...path, 'volumes'], rewritten, { at: item.at });
}

function longMount(context: ConvertContext, path: KeyPath, service: string, mount: LocatedMap, tmpfs: TmpfsMounts): void {
  const accepted = checkKeys(context, mount, MOUNT);
  for (const group of ['bind', 'volume']) {
    const nested = accepted.includes(group) ? expectMap(context, mount.entries.get(group)!.value, group) : undefined;
    if (nested) checkKeys(context, nested, MOUNT, `${group}.`);
  }
  const type = peek(context, mount.entries.get('type')?.value);
  const target = mount.entries.get('target');
  if (type === 'tmpfs') {
    const options = tmpfsOptions(context, accepted.includes('tmpfs') ? mount.entries.get('tmpfs')!.value : undefined);
    if (target) tmpfs.items.push({ value: `${text(target.value) ?? ''}${options ? `:${options}` : ''}`, at: mount.at });
    else problem(context, mount.at, 'COMPOSE_INVALID', 'a tmpfs mount needs a target');
    return;
  }
  if (type !== 'volume' && type !== 'bind') {
    const written = text(mount.entries.get('type')?.value) ?? '';
    refuse(context, mount.entries.get('type')?.value.at ?? mount.at, `mount type${written.includes('$') ? '' : ` '${written}'`}; use volume, bind or tmpfs`);
    return;
  }
  const source = mount.entries.get('source');
  const writtenName = peek(context, source?.value);
  if (type === 'volume' && writtenName !== undefined && context.refused.volumes.has(writtenName)) return;
  const renamed = type === 'volume' && writtenName !== undefined ? context.volumeKeys.get(writtenName) : undefined;
  const sourceName = renamed ?? writtenName;
  const native: Record<string, unknown> = { type };
  const index = context.doc.push([...path, 'volumes'], native, { at: mount.at });
  for (const key of ['source', 'target', 'read_only']) {
    const field = mount.entries.get(key);
    if (field) context.doc.copy([...path, 'volumes', index, key], key === 'source' && renamed ? { kind: 'scalar', value: renamed, at: field.value.at } : field.value, field.keyAt);
  }
  // `bind: {selinux}` and `volume: {nocopy}` are native too; create_host_path was noted above.
  for (const [group, option] of [['bind', 'selinux'], ['volume', 'nocopy']]) {
    const field = child(child(mount, group), option);
    const entryAt = entry(child(mount, group), option)?.keyAt;
    if (field) context.doc.copy([...path, 'volumes', index, group, option], field, entryAt);
  }
  const readOnly = peekBoolean(context, mount.entries.get('read_only')?.value) === true;
  if (type === 'volume' && sourceName !== undefined && !readOnly) recordWriter(context, sourceName, service, mount.at);
}

/** `tmpfs: {size: 64m, mode: 1777}` → `size=64m,mode=1777`, Docker's tmpfs options. */
function tmpfsOptions(context: ConvertContext, located: Located | undefined): string {
  const options = expectMap(context, located, 'tmpfs');
  if (!options) return '';
  return checkKeys(context, options, MOUNT, 'tmpfs.')
    .map((key) => {
      const value = options.entries.get(key)!.value;
      // Compose writes the mode in octal (1777); YAML 1.2 reads the digits as a decimal number.
      return `${key}=${text(value) ?? ''}`;
    })
    .join(',');
}

export function convertTmpfs(context: ConvertContext, tmpfsEntry: MapEntry, tmpfs: TmpfsMounts): void {
  const value = tmpfsEntry.value;
  const items = value.kind === 'seq' ? value.items : [value];
  for (const item of items) tmpfs.items.push({ value: text(item) ?? '', at: item.at });
}

/**
 * A relative bind source (short syntax) that the repository does not hold: Compose creates that
 * folder on the host, beside the Compose file, and keeps it across `up`, so it is the app's
 * data. The checkout is not the place for data, so the folder becomes a volume of the app, named
 * after the path (`./state/data` → `state_data`), declared once for every service that mounts it.
 * Returns its key; undefined for anything else (a named volume, an absolute path, a file or
 * folder the repository holds, a path leaving the checkout, which keep their own checks).
 */
function hostFolderVolume(context: ConvertContext, source: string, written: string, at: Origin): string | undefined {
  if (!(source === '.' || source === '..' || source.startsWith('./') || source.startsWith('../'))) return undefined;
  const normalized = posix.normalize(source).replace(/\/+$/, '');
  if (normalized.startsWith('..') || normalized === '.' || context.exists(normalized)) return undefined;
  const known = context.hostFolders.get(normalized);
  if (known !== undefined) return known;
  // A path that came through ${VAR} is never quoted, nor used as a name: it may be a secret.
  const fromVariable = written.includes('$');
  const digest = createHash('sha256').update(normalized).digest('hex');
  let key = fromVariable ? `folder-${digest.slice(0, 12)}` : normalized.toLowerCase().replace(/[^a-z0-9_-]+/g, '_').replace(/^[_-]+/, '').slice(0, 48);
  const taken = (name: string) => context.doc.get(['volumes', name]) !== undefined || !new RegExp(NAME_PATTERN).test(name);
  if (taken(key)) key = `${key.slice(0, 48) || 'folder'}-${digest.slice(0, 8)}`;
  if (taken(key)) return undefined;
  context.hostFolders.set(normalized, key);
  if (context.doc.get(['volumes']) === undefined) context.doc.set(['volumes'], {}, { at });
  context.doc.set(['volumes', key], {}, { at });
  const shown = fromVariable ? 'this folder' : `'${normalized}'`;
  note(context, at, `${shown} is not in the repository: Compose creates it on the host and keeps it; Capstan keeps it as the app's volume '${key}' (Docker name <app>_${key}), created empty and kept across commits`);
  return key;
}

function isVolumeName(source: string): boolean {
  return source !== '' && !source.startsWith('.') && !source.startsWith('/') && !source.startsWith('~') && !source.includes('/');
}

function recordWriter(context: ConvertContext, volume: string, service: string, at: Origin): void {
  const writers = context.writers.get(volume) ?? [];
  writers.push({ service, at });
  context.writers.set(volume, writers);
}

export type SecretKind = 'secrets' | 'configs';

/** Checks the top-level secrets or configs; refused ones are remembered so their uses stay quiet. */
export function checkSecretDefinitions(context: ConvertContext, kind: SecretKind, definitions: LocatedMap): void {
  for (const [name, definition] of definitions.entries) {
    const map = expectMap(context, definition.value, `${kind}.${name}`);
    if (!map) continue;
    const problemsBefore = context.problems.length;
    const accepted = checkKeys(context, map, SECRET);
    const sources = accepted.filter((key) => key === 'file' || key === 'environment' || key === 'content');
    if (kind === 'secrets' && sources.includes('content')) refuse(context, map.entries.get('content')!.keyAt, 'content is for configs; put a secret in an encrypted .env and use environment:');
    if (sources.length !== 1 && context.problems.length === problemsBefore) {
      problem(context, definition.keyAt, 'COMPOSE_INVALID', `a ${kind === 'secrets' ? 'secret' : 'config'} needs exactly one of file, environment${kind === 'configs' ? ' or content' : ''}`);
    }
    if (context.problems.length > problemsBefore) context.refused[kind].add(name);
    else if (sources[0] === 'file' && kind === 'secrets' && !isSopsSource(context, map.entries.get('file')!.value)) {
      note(context, map.entries.get('file')!.keyAt, 'this secret is a file committed in plaintext; anyone who reads the repository reads it (an `environment:` source from an encrypted .env is not)');
    }
  }
}

export function convertSecretRefs(context: ConvertContext, path: KeyPath, kind: SecretKind, refsEntry: MapEntry, definitions: LocatedMap | undefined): void {
  const refs = refsEntry.value;
  if (refs.kind !== 'seq') {
    problem(context, refs.at, 'COMPOSE_INVALID', `${kind} must be a list`);
    return;
  }
  for (const item of refs.items) {
    const options = item.kind === 'map' ? item : undefined;
    if (options) checkKeys(context, options, SERVICE_SECRET);
    const name = options ? text(options.entries.get('source')?.value) : text(item);
    if (name === undefined) {
      problem(context, item.at, 'COMPOSE_INVALID', `an entry of ${kind} is a name or a map with source`);
      continue;
    }
    if (context.refused[kind].has(name)) continue;
    const definition = definitions?.entries.get(name)?.value;
    if (definition?.kind !== 'map') {
      problem(context, item.at, 'COMPOSE_INVALID', `${kind === 'secrets' ? 'secret' : 'config'} '${name}' is not declared under the top-level ${kind}`);
      continue;
    }
    const target = targetPath(kind, name, text(options?.entries.get('target')?.value));
    const mode = options?.entries.get('mode');
    const file = definition.entries.get('file');
    if (file && isSopsSource(context, file.value)) {
      // A SOPS file is decrypted on the host into a secret file (mode 0400 unless `mode` says otherwise), never bind-mounted.
      const source = text(file.value) ?? '';
      const octal = mode ? octalMode(mode.value) : undefined;
      context.doc.set([...path, 'secrets', target], octal === undefined ? { file: source } : { file: source, mode: octal }, { at: item.at });
      continue;
    }
    if (file) {
      if (mode) note(context, mode.keyAt, 'a file is bind-mounted as it is in the repository: mode has no effect');
      context.doc.push([...path, 'volumes'], { type: 'bind', source: file.value.kind === 'scalar' ? file.value.value : null, target, read_only: true }, { at: item.at });
      continue;
    }
    const variable = text(definition.entries.get('environment')?.value);
    const value = variable !== undefined ? `\${${variable}}` : text(definition.entries.get('content')?.value) ?? '';
    const octal = mode ? octalMode(mode.value) : kind === 'configs' ? '0444' : undefined;
    context.doc.set([...path, 'secrets', target], octal === undefined ? value : { value, mode: octal }, { at: item.at });
  }
}

/** A secret's `file:` that is a SOPS file (by its metadata): decrypted into a secret file, not bind-mounted. */
function isSopsSource(context: ConvertContext, located: Located): boolean {
  const source = text(located);
  if (source === undefined || source === '') return false;
  return context.isSops(source);
}

/** Compose: secrets under /run/secrets/, configs at the root, unless the target is absolute. */
function targetPath(kind: SecretKind, name: string, target: string | undefined): string {
  const written = target ?? name;
  if (written.startsWith('/')) return written;
  return kind === 'secrets' ? `/run/secrets/${written}` : `/${written}`;
}

/** Compose means `mode: 0440` in octal, which YAML 1.2 reads as the decimal 440. */
function octalMode(located: Located): string {
  const value = located.kind === 'scalar' ? located.value : null;
  if (typeof value === 'number') {
    const digits = /^[0-7]+$/.test(String(value)) ? String(value) : value.toString(8);
    return digits.padStart(4, '0');
  }
  return String(value ?? '');
}
