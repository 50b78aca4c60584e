// YAML text → document (kept for positions) and plain data. YAML 1.2 core schema, so `on`, `no`
// and `0755` stay strings as written; merge keys (`<<`) are enabled as Compose users expect.
import { LineCounter, parseDocument, type Document } from 'yaml';
import type { ManifestProblem } from '../errors.js';

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
