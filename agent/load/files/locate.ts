// Maps a key path in the loaded data back to where it is written in the YAML source. Follows
// aliases to their anchor and looks into merge keys (`<<: *base`) when a key is not written
// directly, so inherited values point at the line that defines them.
import { isAlias, isMap, isScalar, isSeq, type Document, type LineCounter, type Node, type Pair } from 'yaml';
import type { KeyPath } from '../problems.js';

export interface Position {
  line: number;
  column: number;
}

type Found = { node: Node | null; keyNode: Node | null };

function resolve(doc: Document, node: unknown): unknown {
  let current = node;
  // An alias chain is at most as long as the document's anchors; 100 is far beyond real files.
  for (let hops = 0; isAlias(current) && hops < 100; hops++) current = current.resolve(doc);
  return current;
}

function isMergePair(pair: Pair): boolean {
  const key = pair.key;
  if (!isScalar(key)) return false;
  return key.value === '<<' || (typeof key.value === 'symbol' && key.value.description === '<<');
}

function findPair(doc: Document, map: unknown, key: string, depth: number): Pair<Node, Node> | undefined {
  if (depth > 20 || !isMap(map)) return undefined;
  for (const pair of map.items as Pair<Node, Node>[]) {
    if (isScalar(pair.key) && String(pair.key.value) === key && !isMergePair(pair)) return pair;
  }
  for (const pair of map.items as Pair<Node, Node>[]) {
    if (!isMergePair(pair)) continue;
    const source = resolve(doc, pair.value);
    const sources = isSeq(source) ? source.items.map((item) => resolve(doc, item)) : [source];
    for (const candidate of sources) {
      const found = findPair(doc, candidate, key, depth + 1);
      if (found) return found;
    }
  }
  return undefined;
}

/** The deepest node along `path` that exists, and the key node of the last pair walked. */
function walk(doc: Document, path: KeyPath): Found {
  let node = resolve(doc, doc.contents) as Node | null;
  let keyNode: Node | null = null;
  for (const segment of path) {
    if (isSeq(node) && typeof segment === 'number') {
      const item = node.items[segment];
      if (item === undefined) break;
      node = resolve(doc, item) as Node | null;
      keyNode = null;
    } else if (isMap(node)) {
      const pair = findPair(doc, node, String(segment), 0);
      if (!pair) break;
      keyNode = pair.key;
      node = resolve(doc, pair.value) as Node | null;
    } else {
      break;
    }
  }
  return { node, keyNode };
}

export function locate(doc: Document, lineCounter: LineCounter, path: KeyPath, atKey = false): Position {
  const { node, keyNode } = walk(doc, path);
  const chosen = atKey && keyNode ? keyNode : node?.range ? node : keyNode;
  const offset = chosen?.range?.[0];
  if (offset === undefined) return { line: 0, column: 0 };
  const { line, col } = lineCounter.linePos(offset);
  return { line, column: col };
}
