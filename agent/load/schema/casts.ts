// Which fields of the manifest are booleans or numbers, read from the generated JSON Schema, so a
// value written as a string there (`read_only: ${RO:-false}`, `init: "true"`) is typed after
// interpolation, as compose-go's type-cast table does (loader/interpolate.go), for every such
// field rather than a list that falls behind the schema.
import { readSchemaFile, SCHEMA_FILE } from '../../schema-file.js';
import type { KeyPath } from '../problems.js';

interface SchemaNode {
  type?: string;
  anyOf?: SchemaNode[];
  properties?: Record<string, SchemaNode>;
  patternProperties?: Record<string, SchemaNode>;
  items?: SchemaNode;
}

export type Cast = (text: string) => unknown;

/** YAML 1.1's words for booleans, as compose-go's toBoolean takes them; anything else stays a string for the schema to refuse. */
const toBoolean: Cast = (text) => {
  const word = text.trim().toLowerCase();
  if (['true', 'y', 'yes', 'on'].includes(word)) return true;
  if (['false', 'n', 'no', 'off'].includes(word)) return false;
  return text;
};
const toInteger: Cast = (text) => (/^[-+]?\d+$/.test(text.trim()) ? Number(text.trim()) : text);
const toNumber: Cast = (text) => (/^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$/.test(text.trim()) ? Number(text.trim()) : text);

let root: SchemaNode | undefined;
const patterns = new Map<string, RegExp>();

function expand(node: SchemaNode): SchemaNode[] {
  return node.anyOf ? node.anyOf.flatMap(expand) : [node];
}

function children(node: SchemaNode, segment: string | number): SchemaNode[] {
  if (typeof segment === 'number') return node.items ? expand(node.items) : [];
  const named = node.properties?.[segment];
  if (named) return expand(named);
  const candidates = Object.entries(node.patternProperties ?? {}).filter(([pattern]) => pattern !== '^x-');
  const matching = candidates.filter(([pattern]) => {
    let regex = patterns.get(pattern);
    if (!regex) patterns.set(pattern, (regex = new RegExp(pattern, 'u')));
    return regex.test(segment);
  });
  // A key the pattern refuses (a bad service name) is reported by the schema; its fields are still typed.
  if (segment.startsWith('x-') && matching.length === 0) return [];
  return (matching.length > 0 ? matching : candidates).flatMap(([, child]) => expand(child));
}

/** The cast for a string at `path`: undefined when the schema takes a string there (or anything). */
export function castAt(path: KeyPath, schema: SchemaNode = (root ??= readSchemaFile(SCHEMA_FILE) as SchemaNode)): Cast | undefined {
  let nodes = expand(schema);
  for (const segment of path) {
    nodes = nodes.flatMap((node) => children(node, segment));
    if (nodes.length === 0) return undefined;
  }
  const types = new Set(nodes.map((node) => node.type));
  if (types.has(undefined) || types.has('string')) return undefined;
  if (types.has('boolean')) return toBoolean;
  if (types.has('integer')) return toInteger;
  if (types.has('number')) return toNumber;
  return undefined;
}
