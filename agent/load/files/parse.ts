// YAML text → document (kept for positions) and plain data. YAML 1.2 core schema, so `on`, `no`
// and `0755` stay strings as written; merge keys (`<<`) are enabled as Compose users expect.
//
// Linear in the file's size: the library's own duplicate-key check (`uniqueKeys`) compares each
// key with every earlier one of its map (40,000 keys took 18 s), so duplicates are found here
// with one set per map; aliases expand at most 1000 times (an alias bomb is a problem).
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, visit, type Document, type Node } from 'yaml';
import type { ManifestProblem } from '../../errors.js';
import { formatKeyPath, type KeyPath } from '../problems.js';

export interface ParsedManifest {
  doc: Document;
  lineCounter: LineCounter;
  data: unknown;
}

export function parseManifest(text: string, file: string): { parsed?: ParsedManifest; problems: ManifestProblem[] } {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, merge: true, prettyErrors: false, uniqueKeys: false });
  const errors: { offset: number; message: string; key: string }[] = doc.errors.map((error) => ({ offset: error.pos[0], message: yamlMessage(error.code, error.message), key: '' }));
  if (errors.length === 0) {
    for (const duplicate of duplicateKeys(doc.contents, [])) {
      const first = lineCounter.linePos(duplicate.firstOffset).line;
      const name = String(duplicate.path[duplicate.path.length - 1]);
      errors.push({ offset: duplicate.offset, key: formatKeyPath(duplicate.path), message: `'${name}' is written twice in the same map (first on line ${first}); keep one` });
    }
  }
  if (errors.length > 0) {
    const problems = errors.map((error): ManifestProblem => {
      const { line, col } = lineCounter.linePos(error.offset);
      return { code: 'YAML_SYNTAX', file, line, column: col, key: error.key, message: error.message };
    });
    return { problems };
  }
  try {
    return { parsed: { doc, lineCounter, data: doc.toJS({ maxAliasCount: 1000 }) }, problems: [] };
  } catch (error) {
    // toJS throws for alias bombs and for merge keys whose source is not a map.
    const message = error instanceof Error ? error.message : String(error);
    const { line, col } = lineCounter.linePos(toJsErrorOffset(doc, message));
    return { problems: [{ code: 'YAML_SYNTAX', file, line, column: col, key: '', message }] };
  }
}

function yamlMessage(code: string, message: string): string {
  // The library appends " at line L, column C"; the problem carries the position already.
  const text = message.replace(/ at line \d+, column \d+:?[\s\S]*$/, '');
  if (code === 'MULTIPLE_DOCS') return 'a manifest holds one YAML document: split the `---` parts into separate files';
  if (code === 'DUPLICATE_KEY') return `${text}: the key is written twice in the same map`;
  return text;
}

/**
 * Where toJS's error is, which it does not say: the first alias (alias count), or the first merge
 * key whose source is not a map; else the document's start.
 */
function toJsErrorOffset(doc: Document, message: string): number {
  let offset: number | undefined;
  visit(doc, {
    Alias(_, alias) {
      if (offset === undefined && /alias/i.test(message)) offset = alias.range?.[0];
    },
    Pair(_, pair) {
      if (offset !== undefined || !/merge/i.test(message) || !isScalar(pair.key) || pair.key.value !== '<<') return;
      const source = isAlias(pair.value) ? pair.value.resolve(doc) : pair.value;
      const sources = isSeq(source) ? source.items.map((item) => (isAlias(item) ? item.resolve(doc) : item)) : [source];
      if (sources.some((item) => !isMap(item))) offset = pair.key.range?.[0];
    },
  });
  return offset ?? (doc.contents?.range?.[0] ?? 0);
}

/**
 * Keys written twice in one map, each at its second place with the first one's offset and its
 * key path; one set per map, so linear. Hostile nesting deeper than 100 is not walked (the
 * schema refuses such a document anyway).
 */
function duplicateKeys(node: unknown, path: KeyPath): { offset: number; firstOffset: number; path: KeyPath }[] {
  if (path.length > 100) return [];
  const found: { offset: number; firstOffset: number; path: KeyPath }[] = [];
  if (isSeq(node)) {
    for (const [index, item] of node.items.entries()) for (const duplicate of duplicateKeys(item, [...path, index])) found.push(duplicate);
    return found;
  }
  if (!isMap(node)) return found;
  const seen = new Map<string, number>();
  for (const pair of node.items) {
    const key = pair.key as Node | null;
    const name = isScalar(key) ? String(key.value) : undefined;
    const start = key?.range?.[0];
    // Merge keys may repeat; non-scalar keys are not valid manifest keys anyway (the schema says so).
    const merge = isScalar(key) && key.value === '<<' && key.type === 'PLAIN';
    if (name !== undefined && start !== undefined && !merge) {
      const identity = `${typeof (key as { value: unknown }).value}:${name}`;
      const first = seen.get(identity);
      if (first !== undefined) found.push({ offset: start, firstOffset: first, path: [...path, name] });
      else seen.set(identity, start);
    }
    for (const duplicate of duplicateKeys(pair.value, [...path, name ?? '?'])) found.push(duplicate);
  }
  return found;
}
