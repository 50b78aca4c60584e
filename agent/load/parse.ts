// YAML text → document (kept for positions) and plain data. YAML 1.2 core schema, so `on`, `no`
// and `0755` stay strings as written; merge keys (`<<`) are enabled as Compose users expect.
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import type { ManifestProblem } from '../errors.js';
import { formatKeyPath, type KeyPath } from './problems.js';

export interface ParsedManifest {
  doc: Document;
  lineCounter: LineCounter;
  data: unknown;
}

export function parseManifest(text: string, file: string): { parsed?: ParsedManifest; problems: ManifestProblem[] } {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, merge: true, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const problems = doc.errors.map((error): ManifestProblem => {
      const { line, col } = lineCounter.linePos(error.pos[0]);
      const duplicate = error.code === 'DUPLICATE_KEY' ? duplicateKey(doc.contents, error.pos[0], []) : undefined;
      if (duplicate) {
        const first = lineCounter.linePos(duplicate.firstOffset).line;
        const message = `'${String(duplicate.path[duplicate.path.length - 1])}' is written twice in the same map (first on line ${first}); keep one`;
        return { code: 'YAML_SYNTAX', file, line, column: col, key: formatKeyPath(duplicate.path), message };
      }
      return { code: 'YAML_SYNTAX', file, line, column: col, key: '', message: yamlMessage(error.code, error.message) };
    });
    return { problems };
  }
  try {
    return { parsed: { doc, lineCounter, data: doc.toJS({ maxAliasCount: 1000 }) }, problems: [] };
  } catch (error) {
    // toJS throws for alias bombs and for merge keys whose source is not a map.
    const message = error instanceof Error ? error.message : String(error);
    return { problems: [{ code: 'YAML_SYNTAX', file, line: 0, column: 0, key: '', message }] };
  }
}

function yamlMessage(code: string, message: string): string {
  // The library appends " at line L, column C"; the problem carries the position already.
  const text = message.replace(/ at line \d+, column \d+:?[\s\S]*$/, '');
  if (code === 'MULTIPLE_DOCS') return 'a manifest holds one YAML document: split the `---` parts into separate files';
  if (code === 'DUPLICATE_KEY') return `${text}: the key is written twice in the same map`;
  return text;
}

/** The key path of the key written at `offset`, a duplicate of an earlier key of its map, and where that one is. */
function duplicateKey(node: unknown, offset: number, path: KeyPath): { path: KeyPath; firstOffset: number } | undefined {
  // Hostile nesting must not overflow the stack; the problem is then reported without its key.
  if (path.length > 100) return undefined;
  if (isSeq(node)) {
    for (const [index, item] of node.items.entries()) {
      const found = duplicateKey(item, offset, [...path, index]);
      if (found) return found;
    }
  }
  if (!isMap(node)) return undefined;
  const seen = new Map<string, number>();
  for (const pair of node.items) {
    const key = pair.key as Node | null;
    const name = isScalar(key) ? String(key.value) : undefined;
    const start = key?.range?.[0];
    if (name !== undefined && start !== undefined) {
      if (start === offset && seen.has(name)) return { path: [...path, name], firstOffset: seen.get(name)! };
      if (!seen.has(name)) seen.set(name, start);
    }
    const found = duplicateKey(pair.value, offset, [...path, name ?? '?']);
    if (found) return found;
  }
  return undefined;
}
