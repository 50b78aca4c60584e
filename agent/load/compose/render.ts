// The converted manifest as YAML, as `capstan convert` prints it: the native format, with the
// schema comment editors use, ready to commit in place of the Compose file.
import { Document, isScalar, isSeq, visit } from 'yaml';

/** Lists of a few short scalars read best on one line: `command: [httpd, -f]`. */
const FLOW_WIDTH = 60;

export function renderManifest(manifest: Record<string, unknown>, options: { schema: string; from: string }): string {
  const document = new Document(manifest);
  visit(document, {
    Seq(_, seq) {
      if (!isSeq(seq) || !seq.items.every(isScalar)) return;
      const width = seq.items.reduce((total, item) => total + String((item as { value: unknown }).value).length + 2, 2);
      if (width <= FLOW_WIDTH) seq.flow = true;
    },
  });
  const body = document.toString({ lineWidth: 0, flowCollectionPadding: false });
  return `# yaml-language-server: $schema=${options.schema}\n# Converted from ${options.from} by capstan convert.\n${body}`;
}
