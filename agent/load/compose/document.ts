// The native manifest a Compose file converts to, built as plain data, and for each of its key
// paths the place in the Compose files it came from. The native pipeline reports problems by
// native key path; `locate` turns that back into the Compose file, line, column and key, so a
// person is never pointed at a document they do not have.
import { formatKeyPath, type KeyPath } from '../problems.js';
import type { Located, Origin } from './located.js';

export interface Place {
  at: Origin;
  /** Where the key is written, for problems about the key itself. */
  keyAt?: Origin;
}

export interface Location {
  file: string;
  line: number;
  column: number;
  key: string;
}

const pathKey = (path: KeyPath) => JSON.stringify(path);

export class NativeDocument {
  readonly data: Record<string, unknown> = {};
  private readonly places = new Map<string, Place>();

  constructor(private readonly root: Place) {}

  /** Sets a value, creating the maps and lists above it, and records where it came from. */
  set(path: KeyPath, value: unknown, place: Place): void {
    let parent: Record<string | number, unknown> = this.data;
    path.forEach((segment, index) => {
      if (index === path.length - 1) {
        parent[segment] = value;
        return;
      }
      const next = path[index + 1];
      if (parent[segment] === undefined || parent[segment] === null || typeof parent[segment] !== 'object') parent[segment] = typeof next === 'number' ? [] : {};
      parent = parent[segment] as Record<string | number, unknown>;
    });
    this.place(path, place);
  }

  /** A Compose value copied unchanged: every value below it keeps its own place. */
  copy(path: KeyPath, located: Located, keyAt?: Origin): void {
    this.set(path, plain(located), { at: located.at, keyAt });
    this.placeAll(path, located);
  }

  /** Appends to the list at `path`, returning the new item's index. */
  push(path: KeyPath, value: unknown, place: Place): number {
    const list = this.get(path);
    const index = Array.isArray(list) ? list.length : 0;
    this.set([...path, index], value, place);
    return index;
  }

  get(path: KeyPath): unknown {
    let current: unknown = this.data;
    for (const segment of path) {
      if (current === null || typeof current !== 'object') return undefined;
      current = (current as Record<string | number, unknown>)[segment];
    }
    return current;
  }

  /** Replaces the value at an existing path, keeping where it came from. */
  replace(path: KeyPath, value: unknown): void {
    const parent = this.get(path.slice(0, -1));
    if (parent !== null && typeof parent === 'object') (parent as Record<string | number, unknown>)[path[path.length - 1]] = value;
  }

  delete(path: KeyPath): void {
    const parent = this.get(path.slice(0, -1));
    if (parent !== null && typeof parent === 'object') delete (parent as Record<string | number, unknown>)[path[path.length - 1]];
  }

  place(path: KeyPath, place: Place): void {
    this.places.set(pathKey(path), place);
  }

  /** The Compose place of a native key path: the deepest recorded path above it, with the rest of the key appended. */
  locate(path: KeyPath, atKey = false): Location {
    for (let length = path.length; length >= 0; length--) {
      const place = this.places.get(pathKey(path.slice(0, length)));
      if (!place) continue;
      const origin = atKey && length === path.length && place.keyAt ? place.keyAt : place.at;
      return { file: origin.file, line: origin.line, column: origin.column, key: joinKey(origin.key, path.slice(length)) };
    }
    const origin = this.root.at;
    return { file: origin.file, line: origin.line, column: origin.column, key: formatKeyPath(path) };
  }

  private placeAll(path: KeyPath, located: Located): void {
    if (located.kind === 'map') {
      for (const [key, entry] of located.entries) {
        this.place([...path, key], { at: entry.value.at, keyAt: entry.keyAt });
        this.placeAll([...path, key], entry.value);
      }
    } else if (located.kind === 'seq') {
      located.items.forEach((item, index) => {
        this.place([...path, index], { at: item.at });
        this.placeAll([...path, index], item);
      });
    }
  }
}

function plain(located: Located): unknown {
  if (located.kind === 'scalar') return located.value;
  if (located.kind === 'seq') return located.items.map(plain);
  return Object.fromEntries([...located.entries].map(([key, entry]) => [key, plain(entry.value)]));
}

function joinKey(prefix: string, rest: KeyPath): string {
  const suffix = formatKeyPath(rest);
  if (suffix === '') return prefix;
  if (prefix === '' || suffix.startsWith('[')) return prefix + suffix;
  return `${prefix}.${suffix}`;
}
