// What every step of the conversion shares: the native document being built, the problems and
// notes found so far, and the variables, which decide a few things before the native pipeline
// interpolates (active profiles, the project name, whether a mount is a volume).
import type { ManifestProblem } from '../../errors.js';
import { interpolate, type Lookup } from '../variables/interpolate.js';
import { closest } from '../suggest.js';
import type { NativeDocument } from './document.js';
import { text, type Located, type LocatedMap, type MapEntry, type Origin } from './located.js';
import type { KeyScope } from './keys.js';
import type { OtherFile } from './other-files.js';

/** A note has a problem's shape (file, line, key, message) and a code, but stops nothing. */
export type Note = ManifestProblem;

export interface ConvertContext {
  doc: NativeDocument;
  problems: ManifestProblem[];
  notes: Note[];
  /** `.env`, then `capstan.env`: only for decisions, never copied into the document. */
  lookup: Lookup;
  /** Folder of the Compose file, absolute. */
  folder: string;
  /** Whether a path relative to the folder exists (for optional env files). */
  exists(relativePath: string): boolean;
  /** A file of the checkout, relative to the folder (`label_file`); undefined when it is missing or outside. */
  readText(relativePath: string): string | { refused: string } | undefined;
  /** Whether a file relative to the folder is a SOPS file (a secret's `file:`), at most MAX_SOPS_BYTES. */
  isSops(relativePath: string): boolean;
  /** Names whose top-level definition was refused: their uses are not reported again. */
  refused: { volumes: Set<string>; networks: Set<string>; secrets: Set<string>; configs: Set<string>; services?: Set<string> };
  /** Compose volume names the native format does not take (`etc-dnsmasq.d`) → the key used instead. */
  volumeKeys: Map<string, string>;
  /** Compose service names the native format does not take (`Web`, `my.app`) → the key used instead. */
  serviceKeys: Map<string, string>;
  /** `links` aliases (`db:database`), added to the linked service's networks once every service is converted. */
  linkAliases: { service: string; alias: string; at: Origin }[];
  /** Services whose `extends` could not be resolved: what they lack is not reported again. */
  incomplete?: Set<string>;
  /** Compose files read for `extends.file` and `include`, by absolute path. */
  otherFiles?: Map<string, OtherFile>;
  /** Container names Compose gives the app's services (`container_name`, `<app>-<service>-1`) → the service, for `network_mode: container:`. */
  containerNames?: Map<string, string>;
  /** Relative bind sources the repository lacks (folders Compose would create) → the app volume kept for each. */
  hostFolders: Map<string, string>;
  /** Services mounting each named volume read-write, to keep Compose's shared volumes shared. */
  writers: Map<string, { service: string; at: Origin }[]>;
  /** Services' `volumes_from`, applied once every service is converted (volumes-from.ts). */
  volumesFrom?: { service: string; entry: MapEntry }[];
}

export function problem(context: ConvertContext, origin: Origin, code: string, message: string): void {
  context.problems.push({ code, file: origin.file, line: origin.line, column: origin.column, key: origin.key, message });
}

export function note(context: ConvertContext, origin: Origin, message: string): void {
  context.notes.push({ code: 'COMPOSE_NOTE', file: origin.file, line: origin.line, column: origin.column, key: origin.key, message });
}

/** `reason` says why not, or what to write instead; empty when there is nothing more to say. */
export function refuse(context: ConvertContext, origin: Origin, reason: string): void {
  problem(context, origin, 'COMPOSE_UNSUPPORTED', reason === '' ? 'not supported by Capstan; remove it' : `not supported by Capstan: ${reason}`);
}

/**
 * Checks each key of a Compose map against its scope: unknown keys and refused ones are
 * problems, noted ones notes. `prefix` selects nested rules (`limits.` in deploy.resources).
 * Returns the keys to convert. `x-` keys are extensions and are left to the caller.
 */
export function checkKeys(context: ConvertContext, map: LocatedMap, scope: KeyScope, prefix = ''): string[] {
  const accepted: string[] = [];
  const known = Object.keys(scope.rules)
    .filter((key) => key.startsWith(prefix))
    .map((key) => key.slice(prefix.length))
    .filter((key) => !key.includes('.'));
  const nested = new Set(
    Object.keys(scope.rules)
      .filter((key) => key.startsWith(prefix) && key.slice(prefix.length).includes('.'))
      .map((key) => key.slice(prefix.length).split('.')[0]),
  );
  for (const [key, entry] of map.entries) {
    if (key.startsWith('x-')) continue;
    if (nested.has(key)) {
      accepted.push(key);
      continue;
    }
    const rule = known.includes(key) ? scope.rules[prefix + key] : undefined;
    if (!rule) {
      const suggestion = closest(key, [...known, ...nested]);
      problem(context, entry.keyAt, 'COMPOSE_UNKNOWN_KEY', `'${key}' is not a Compose key here${suggestion ? `; did you mean '${suggestion}'?` : ''}`);
    } else if (rule.status === 'refused') refuse(context, entry.keyAt, rule.capstan);
    else if (rule.status === 'noted') note(context, entry.keyAt, rule.capstan);
    else accepted.push(key);
  }
  return accepted;
}

/** The value with `${VAR}` resolved, for a decision only: never put it into the document or a message. */
export function peek(context: ConvertContext, located: Located | undefined): string | undefined {
  const raw = text(located);
  if (raw === undefined || !raw.includes('$')) return raw;
  return interpolate(raw, context.lookup).value;
}

/** A boolean as Compose reads one after interpolation (`true`, `yes`, `on`…, any case); undefined for anything else. */
export function peekBoolean(context: ConvertContext, located: Located | undefined): boolean | undefined {
  if (located?.kind === 'scalar' && typeof located.value === 'boolean') return located.value;
  const word = peek(context, located)?.trim().toLowerCase();
  if (word === undefined) return undefined;
  if (['true', 'y', 'yes', 'on'].includes(word)) return true;
  if (['false', 'n', 'no', 'off'].includes(word)) return false;
  return undefined;
}

export function expectMap(context: ConvertContext, located: Located | undefined, what: string): LocatedMap | undefined {
  if (located === undefined) return undefined;
  if (located.kind === 'map') return located;
  problem(context, located.at, 'COMPOSE_INVALID', `${what} must be a map`);
  return undefined;
}

/** `key: ~` and `key: {}` both mean "defaults" in Compose. */
export function isEmpty(located: Located | undefined): boolean {
  return located === undefined || (located.kind === 'scalar' && located.value === null) || (located.kind === 'map' && located.entries.size === 0);
}

/** The native key of a Compose service (`Web` → `web`); the name itself when it needs none. */
export function serviceKey(context: ConvertContext, name: string): string {
  return context.serviceKeys.get(name) ?? name;
}
