// YAML text → document (kept for positions) and plain data. YAML 1.2 core schema, so `on`, `no`
// and `0755` stay strings as written; merge keys (`<<`) are enabled as Compose users expect.
//
// Linear in the file's size: the library's own duplicate-key check (`uniqueKeys`) compares each
// key with every earlier one of its map (40,000 keys took 18 s), so duplicates are found here
// with one set per map; aliases expand at most 1000 times (an alias bomb is a problem).
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, visit, type Document } from 'yaml';
import type { ManifestProblem } from '../errors.js';

export interface ParsedManifest {
  doc: Document;
  lineCounter: LineCounter;
  data: unknown;
}

export function parseManifest(text: string, file: string): { parsed?: ParsedManifest; problems: ManifestProblem[] } {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, merge: true, prettyErrors: false, uniqueKeys: false });
  const errors = doc.errors.map((error) => ({ offset: error.pos[0], message: yamlMessage(error.code, error.message) }));
  if (errors.length === 0) errors.push(...duplicateKeys(doc));
  if (errors.length > 0) {
    const problems = errors.map((error): ManifestProblem => {
      const { line, col } = lineCounter.linePos(error.offset);
      return { code: 'YAML_SYNTAX', file, line, column: col, key: '', message: error.message };
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

/** Keys written twice in one map, each at its second place; one set per map, so linear. */
function duplicateKeys(doc: Document): { offset: number; message: string }[] {
  const found: { offset: number; message: string }[] = [];
  visit(doc, {
    Map(_, map) {
      if (!isMap(map)) return;
      const seen = new Set<string>();
      for (const pair of map.items) {
        const key = pair.key;
        // Merge keys may repeat; non-scalar keys are not valid manifest keys anyway (the schema says so).
        if (!isScalar(key) || (key.value === '<<' && key.type === 'PLAIN')) continue;
        const identity = `${typeof key.value}:${String(key.value)}`;
        if (seen.has(identity)) found.push({ offset: key.range?.[0] ?? 0, message: 'Map keys must be unique: the key is written twice in the same map' });
        seen.add(identity);
      }
    },
  });
  return found;
}
