import { isAlias, isMap, isScalar, isSeq, LineCounter, parseAllDocuments, type Node as YamlNode } from 'yaml';
import { secretsError } from '../errors.js';

// A SOPS file as SOPS's stores read it (getsops/sops stores/{dotenv,yaml,json}): one tree per
// YAML document (branches), each a map of keys in file order, with the line of every key so a
// problem can name it. Comments are not kept: SOPS leaves them out of the MAC, and Capstan uses
// no comment-driven encryption rule (those are refused, metadata.ts).

export type SopsFormat = 'dotenv' | 'yaml' | 'json';

export type SopsScalarValue = string | number | bigint | boolean | null;
export interface SopsScalar {
  kind: 'scalar';
  value: SopsScalarValue;
  line: number;
}
export interface SopsMapItem {
  key: string;
  value: SopsNode;
  line: number;
}
export interface SopsMap {
  kind: 'map';
  items: SopsMapItem[];
  line: number;
}
export interface SopsList {
  kind: 'list';
  items: SopsNode[];
  line: number;
}
export type SopsNode = SopsScalar | SopsMap | SopsList;

export interface SopsTree {
  format: SopsFormat;
  /** One map per document (YAML may hold several), the `sops` metadata taken out. */
  branches: SopsMap[];
  /** The `sops` entry as plain data (dotenv's flattened `sops_*` keys unflattened), or absent. */
  metadata?: unknown;
  /** Line of the metadata (YAML/JSON `sops:` key, dotenv's first `sops_` line), 0 when absent. */
  metadataLine: number;
}

/** Above this a file is refused before parsing: env and secret files are small. */
export const MAX_SOPS_BYTES = 4 * 1024 * 1024;

const ENCRYPTED_VALUE = /ENC\[AES256_GCM,data:/;
/** Deeper than any secrets file; stops a pathological file from exhausting the stack. */
const MAX_DEPTH = 64;
const DOTENV_METADATA = /^sops_(?:lastmodified|mac|version)=/m;
const SOPS_PREFIX = 'sops_';
const LIST_SEPARATOR = '__list_';

/**
 * Whether a file is a SOPS file: its metadata (a top-level `sops` map, or dotenv `sops_*` keys),
 * or, so a file whose metadata was cut out is not read as plaintext, any SOPS-encrypted value.
 * Never decided from the file name.
 */
export function isSopsFile(text: string): boolean {
  // Too big to be parsed; a SOPS-looking start is still refused, as parseSopsTree refuses it.
  if (Buffer.byteLength(text) > MAX_SOPS_BYTES) return ENCRYPTED_VALUE.test(text.slice(0, 65536)) || DOTENV_METADATA.test(text.slice(0, 65536));
  if (ENCRYPTED_VALUE.test(text) || DOTENV_METADATA.test(text)) return true;
  if (!/^\s*"?sops"?\s*:/m.test(text)) return false;
  try {
    return sniffStructured(text)?.metadata !== undefined;
  } catch {
    return false;
  }
}

/** A YAML or JSON file with a top-level `sops` map holding SOPS's `lastmodified` or `mac`: SOPS data, never a manifest. */
export function hasSopsMetadata(text: string): boolean {
  if (!/^\s*"?sops"?\s*:/m.test(text) || Buffer.byteLength(text) > MAX_SOPS_BYTES) return false;
  try {
    const metadata = sniffStructured(text)?.metadata;
    return typeof metadata === 'object' && metadata !== null && ('lastmodified' in metadata || 'mac' in metadata);
  } catch {
    return false;
  }
}

/** Parses a SOPS file; throws SOPS_MALFORMED naming the file (and line) when it cannot be read. */
export function parseSopsTree(text: string, file: string): SopsTree {
  if (Buffer.byteLength(text) > MAX_SOPS_BYTES) {
    throw secretsError('SOPS_MALFORMED', `${file}: larger than ${MAX_SOPS_BYTES} bytes; refused`, { file });
  }
  const structured = sniffStructured(text, file);
  if (structured) return structured;
  return parseDotenvTree(text, file);
}

/** YAML or JSON with a top-level map; undefined when the text is neither (then it is dotenv). */
function sniffStructured(text: string, file = ''): SopsTree | undefined {
  const lineCounter = new LineCounter();
  const documents = parseAllDocuments(text, { lineCounter, uniqueKeys: true, prettyErrors: false, intAsBigInt: true });
  const list = Array.isArray(documents) ? documents : [documents];
  if (list.length === 0 || !isMap(list[0].contents)) return undefined;
  for (const document of list) {
    const error = document.errors[0];
    if (error) {
      const line = error.linePos?.[0]?.line ?? 0;
      throw secretsError('SOPS_MALFORMED', `${file}:${line}: not valid YAML or JSON (${error.code})`, { file, line });
    }
  }
  const format: SopsFormat = text.trimStart().startsWith('{') ? 'json' : 'yaml';
  const lineOf = (node: { range?: [number, number, number] | null } | null | undefined) => (node?.range ? lineCounter.linePos(node.range[0]).line : 0);
  const convert = (node: unknown, fallbackLine: number, depth = 0): SopsNode => {
    if (depth > MAX_DEPTH) throw secretsError('SOPS_MALFORMED', `${file}:${fallbackLine}: nested more than ${MAX_DEPTH} levels deep`, { file, line: fallbackLine });
    if (isAlias(node)) throw secretsError('SOPS_MALFORMED', `${file}:${lineOf(node)}: YAML aliases are not read in SOPS files`, { file, line: lineOf(node) });
    if (isMap(node)) {
      const items: SopsMapItem[] = [];
      for (const pair of node.items) {
        const keyNode = pair.key as YamlNode | null;
        const key = isScalar(keyNode) ? String(keyNode.value) : undefined;
        const line = lineOf(keyNode) || fallbackLine;
        if (key === undefined) throw secretsError('SOPS_MALFORMED', `${file}:${line}: only string keys are supported`, { file, line });
        items.push({ key, value: convert(pair.value, line, depth + 1), line });
      }
      return { kind: 'map', items, line: lineOf(node) || fallbackLine };
    }
    if (isSeq(node)) return { kind: 'list', items: node.items.map((item) => convert(item, lineOf(node) || fallbackLine, depth + 1)), line: lineOf(node) || fallbackLine };
    if (node === null || node === undefined) return { kind: 'scalar', value: null, line: fallbackLine };
    if (isScalar(node)) {
      const value = node.value;
      const line = lineOf(node) || fallbackLine;
      if (value === null || typeof value === 'string' || typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') {
        return { kind: 'scalar', value, line };
      }
      throw secretsError('SOPS_MALFORMED', `${file}:${line}: unsupported YAML value`, { file, line });
    }
    throw secretsError('SOPS_MALFORMED', `${file}:${fallbackLine}: unsupported YAML node`, { file, line: fallbackLine });
  };
  const branches: SopsMap[] = [];
  let metadata: unknown;
  let metadataLine = 0;
  for (const [index, document] of list.entries()) {
    const root = convert(document.contents, 1);
    if (root.kind !== 'map') throw secretsError('SOPS_MALFORMED', `${file}:${root.line}: each document of a SOPS file is a map`, { file, line: root.line });
    const kept: SopsMapItem[] = [];
    for (const item of root.items) {
      if (item.key !== 'sops') {
        kept.push(item);
        continue;
      }
      // SOPS reads the metadata of the first document; the others' copies are dropped.
      if (index === 0) {
        metadata = toPlain(item.value);
        metadataLine = item.line;
      }
    }
    branches.push({ ...root, items: kept });
  }
  return { format, branches, metadata, metadataLine };
}

function toPlain(node: SopsNode): unknown {
  if (node.kind === 'scalar') return typeof node.value === 'bigint' ? Number(node.value) : node.value;
  if (node.kind === 'list') return node.items.map(toPlain);
  return Object.fromEntries(node.items.map((item) => [item.key, toPlain(item.value)]));
}

/**
 * SOPS's dotenv store, byte for byte: lines split on LF only, empty lines skipped, `#` lines are
 * comments, a key is everything before the first `=` (not trimmed), and `\n` in a value is a
 * newline. `sops_*` keys are the flattened metadata.
 */
function parseDotenvTree(text: string, file: string): SopsTree {
  const items: SopsMapItem[] = [];
  const flatMetadata: Array<{ key: string; value: string; line: number }> = [];
  const lines = text.split('\n');
  for (const [index, line] of lines.entries()) {
    if (line.length === 0 || line.startsWith('#')) continue;
    const at = line.indexOf('=');
    if (at === -1) throw secretsError('SOPS_MALFORMED', `${file}:${index + 1}: not a KEY=VALUE line`, { file, line: index + 1 });
    const key = line.slice(0, at);
    const value = line.slice(at + 1).replaceAll('\\n', '\n');
    if (key.startsWith(SOPS_PREFIX)) flatMetadata.push({ key: key.slice(SOPS_PREFIX.length), value, line: index + 1 });
    else items.push({ key, value: { kind: 'scalar', value, line: index + 1 }, line: index + 1 });
  }
  const metadata = flatMetadata.length > 0 ? unflatten(flatMetadata, file) : undefined;
  return { format: 'dotenv', branches: [{ kind: 'map', items, line: 1 }], metadata, metadataLine: flatMetadata[0]?.line ?? 0 };
}

/** stores/flatten.go in reverse: `pgp__list_0__map_enc` → { pgp: [{ enc }] }. */
function unflatten(entries: Array<{ key: string; value: string; line: number }>, file: string): Record<string, unknown> {
  const root: Record<string, unknown> = Object.create(null);
  for (const entry of entries) {
    const tokens = entry.key.split(/(__map_|__list_)/);
    let container: Record<string, unknown> | unknown[] = root;
    let pending: string | number = tokens[0];
    for (let index = 1; index < tokens.length; index += 2) {
      const next: string | number = tokens[index] === LIST_SEPARATOR ? Number.parseInt(tokens[index + 1], 10) : tokens[index + 1];
      if (typeof next === 'number' && (!Number.isSafeInteger(next) || next < 0 || next > 1000)) {
        throw secretsError('SOPS_MALFORMED', `${file}:${entry.line}: invalid metadata key`, { file, line: entry.line });
      }
      const existing: unknown = (container as Record<string | number, unknown>)[pending];
      const child = existing ?? (typeof next === 'number' ? [] : Object.create(null));
      if (typeof child !== 'object' || child === null || Array.isArray(child) !== (typeof next === 'number')) {
        throw secretsError('SOPS_MALFORMED', `${file}:${entry.line}: metadata keys disagree on their structure`, { file, line: entry.line });
      }
      (container as Record<string | number, unknown>)[pending] = child;
      container = child as Record<string, unknown> | unknown[];
      pending = next;
    }
    if ((container as Record<string | number, unknown>)[pending] !== undefined) {
      throw secretsError('SOPS_MALFORMED', `${file}:${entry.line}: metadata key ${entry.key} is set twice`, { file, line: entry.line });
    }
    (container as Record<string | number, unknown>)[pending] = entry.value;
  }
  return root;
}
