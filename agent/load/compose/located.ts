// A Compose file as a tree whose every node knows where it is written. Merging the override file,
// `extends` and YAML merge keys move values between services and files; carrying the origin with
// each node is what lets a problem found after all that still name the file, line and key the
// person wrote. Anchors and merge keys are expanded here, so later stages see plain trees.
import { isAlias, isMap, isScalar, isSeq, type Document, type LineCounter, type Node, type Pair } from 'yaml';
import type { ManifestProblem } from '../../errors.js';
import { formatKeyPath, type KeyPath } from '../problems.js';

export interface Origin {
  /** Repository path of the file. */
  file: string;
  line: number;
  column: number;
  /** The key path where the value is written (or reached through an alias), as `services.web.ports[0]`. */
  key: string;
}

export type Scalar = string | number | boolean | null;
/** `!reset` drops an inherited value, `!override` replaces it whole (Compose's merge tags). */
export type MergeTag = 'reset' | 'override';

export type Located = LocatedScalar | LocatedMap | LocatedSeq;

export interface LocatedScalar {
  kind: 'scalar';
  value: Scalar;
  at: Origin;
  tag?: MergeTag;
}

export interface LocatedMap {
  kind: 'map';
  entries: Map<string, MapEntry>;
  at: Origin;
  tag?: MergeTag;
}

export interface LocatedSeq {
  kind: 'seq';
  items: Located[];
  at: Origin;
  tag?: MergeTag;
}

export interface MapEntry {
  /** Where the key itself is written. */
  keyAt: Origin;
  value: Located;
}

/** Alias expansion beyond this many nodes is an alias bomb, not a Compose file. */
const NODE_BUDGET = 200_000;

export function locatedTree(doc: Document, lineCounter: LineCounter, file: string): { tree?: Located; problems: ManifestProblem[] } {
  const problems: ManifestProblem[] = [];
  let budget = NODE_BUDGET;
  const originOf = (node: Node | null | undefined, path: KeyPath): Origin => {
    const offset = node?.range?.[0];
    const { line, col } = offset === undefined ? { line: 0, col: 0 } : lineCounter.linePos(offset);
    return { file, line, column: col, key: formatKeyPath(path) };
  };
  const problem = (node: Node | null | undefined, path: KeyPath, message: string) => {
    const { line, column, key } = originOf(node, path);
    problems.push({ code: 'YAML_SYNTAX', file, line, column, key, message });
  };
  const resolve = (node: unknown): unknown => {
    let current = node;
    for (let hops = 0; isAlias(current) && hops < 100; hops++) current = current.resolve(doc);
    return current;
  };

  const visit = (raw: unknown, path: KeyPath): Located => {
    budget -= 1;
    if (budget === 0) problem(null, path, 'the file expands to too many values (aliases of aliases); write the values out');
    const node = resolve(raw) as Node | null | undefined;
    const at = originOf(isAlias(raw) ? node : (raw as Node | null), path);
    const tag = mergeTag(raw as Node | null);
    if (budget <= 0 || node === null || node === undefined) return withTag({ kind: 'scalar', value: null, at }, tag);
    if (isScalar(node)) return withTag({ kind: 'scalar', value: scalarValue(node.value), at }, tag);
    if (isSeq(node)) return withTag({ kind: 'seq', items: node.items.map((item, index) => visit(item, [...path, index])), at }, tag);
    if (isMap(node)) return withTag({ kind: 'map', entries: mapEntries(node.items as Pair<Node, Node>[], path), at }, tag);
    problem(node, path, 'unexpected YAML node');
    return { kind: 'scalar', value: null, at };
  };

  const mapEntries = (pairs: Pair<Node, Node>[], path: KeyPath): Map<string, MapEntry> => {
    const own = new Set(pairs.filter((pair) => !isMergeKey(pair)).map((pair) => keyText(pair.key)));
    const entries = new Map<string, MapEntry>();
    for (const pair of pairs) {
      if (isMergeKey(pair)) {
        // `<<: *a` or `<<: [*a, *b]`: keys written in the map win, then the earlier source.
        const source = resolve(pair.value);
        const sources = isSeq(source) ? source.items : [pair.value];
        for (const item of sources) {
          const merged = visit(item, path);
          if (merged.kind !== 'map') {
            problem(pair.value, path, 'a merge key (<<) must refer to a map, such as an anchored x- block');
            continue;
          }
          for (const [key, entry] of merged.entries) if (!own.has(key) && !entries.has(key)) entries.set(key, entry);
        }
        continue;
      }
      const key = keyText(pair.key);
      if (key === undefined) {
        problem(pair.key, path, 'map keys must be plain strings');
        continue;
      }
      entries.set(key, { keyAt: originOf(pair.key, [...path, key]), value: visit(pair.value, [...path, key]) });
    }
    return entries;
  };

  const tree = visit(doc.contents, []);
  return problems.length > 0 ? { problems } : { tree, problems };
}

function withTag<T extends Located>(located: T, tag: MergeTag | undefined): T {
  if (tag !== undefined) located.tag = tag;
  return located;
}

function mergeTag(node: Node | null | undefined): MergeTag | undefined {
  const tag = (node as { tag?: string } | null | undefined)?.tag;
  return tag === '!reset' ? 'reset' : tag === '!override' ? 'override' : undefined;
}

function isMergeKey(pair: Pair): boolean {
  const key = pair.key;
  if (!isScalar(key)) return false;
  return key.value === '<<' || (typeof key.value === 'symbol' && key.value.description === '<<');
}

function keyText(key: unknown): string | undefined {
  if (!isScalar(key)) return undefined;
  const value = key.value;
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' ? String(value) : value === null ? '' : undefined;
}

function scalarValue(value: unknown): Scalar {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return value;
  return String(value);
}

/** Plain data, as `yaml`'s toJS would give it. */
export function toPlain(located: Located): unknown {
  switch (located.kind) {
    case 'scalar':
      return located.value;
    case 'seq':
      return located.items.map(toPlain);
    case 'map':
      return Object.fromEntries([...located.entries].map(([key, entry]) => [key, toPlain(entry.value)]));
  }
}

export function entry(map: Located | undefined, key: string): MapEntry | undefined {
  return map?.kind === 'map' ? map.entries.get(key) : undefined;
}

export function child(map: Located | undefined, key: string): Located | undefined {
  return entry(map, key)?.value;
}

/** A scalar's text: numbers and booleans as YAML would print them; undefined for maps, lists and null. */
export function text(located: Located | undefined): string | undefined {
  if (located?.kind !== 'scalar' || located.value === null) return undefined;
  return String(located.value);
}

export function mapOf(entries: [string, MapEntry][], at: Origin): LocatedMap {
  return { kind: 'map', entries: new Map(entries), at };
}
