import { stringify } from 'yaml';
import { secretsError } from '../errors.js';
import { isValidName } from '../format.js';
import type { DecryptedSops } from './decrypt.js';
import type { SopsNode, SopsScalarValue } from './tree.js';
import { goFormatFloat } from './decrypt.js';

// What a decrypted SOPS file gives: environment variables (a flat map, as `sops exec-env` and
// SOPS's dotenv store allow), or the plaintext file `sops --decrypt` would print.

/** A leaf as a string, as an env variable or a dotenv line holds it. */
export function scalarText(value: SopsScalarValue): string {
  if (value === null) return '';
  if (typeof value === 'number') return goFormatFloat(value);
  return String(value);
}

/**
 * The variables of a decrypted file: top-level keys of the (single) document whose values are
 * scalars. A nested map or list cannot be an environment variable: refused by key and line.
 */
export function sopsEnvValues(decrypted: DecryptedSops, file: string): Map<string, string> {
  if (decrypted.branches.length !== 1) {
    throw secretsError('SOPS_MALFORMED', `${file}: a SOPS env file holds one document, not ${decrypted.branches.length}`, { file });
  }
  const values = new Map<string, string>();
  for (const item of decrypted.branches[0].items) {
    const place = { file, line: item.line, variable: item.key };
    if (!isValidName(item.key)) {
      throw secretsError('SOPS_MALFORMED', `${file}:${item.line}: ${JSON.stringify(item.key)} is not a valid variable name (letters, digits, _ . -; not starting with a digit)`, place);
    }
    if (item.value.kind !== 'scalar') {
      throw secretsError('SOPS_MALFORMED', `${file}:${item.line}: ${item.key}: a nested ${item.value.kind} cannot be an environment variable; keep env files flat`, place);
    }
    if (values.has(item.key)) throw secretsError('SOPS_MALFORMED', `${file}:${item.line}: ${item.key}: set twice`, place);
    values.set(item.key, scalarText(item.value.value));
  }
  return values;
}

/** The names a SOPS env file defines, readable without a key (`capstan validate` unchecked). */
export function sopsEnvNames(branches: Array<{ items: Array<{ key: string }> }>): string[] {
  return branches[0]?.items.map((item) => item.key) ?? [];
}

/** The plaintext file, in the file's own format (as `sops --decrypt` prints it, comments aside). */
export function emitPlain(decrypted: DecryptedSops): string {
  if (decrypted.format === 'dotenv') {
    const items = decrypted.branches[0]?.items ?? [];
    return items.map((item) => `${item.key}=${item.value.kind === 'scalar' ? scalarText(item.value.value).replaceAll('\n', '\\n') : ''}\n`).join('');
  }
  if (decrypted.format === 'json') return `${jsonOf(decrypted.branches[0])}\n`;
  return decrypted.branches.map((branch) => stringify(dataOf(branch), { lineWidth: 0 })).join('---\n');
}

function dataOf(node: SopsNode): unknown {
  if (node.kind === 'scalar') return node.value;
  if (node.kind === 'list') return node.items.map(dataOf);
  return new Map(node.items.map((item) => [item.key, dataOf(item.value)]));
}

function jsonOf(node: SopsNode, indent = ''): string {
  const inner = `${indent}\t`;
  if (node.kind === 'scalar') {
    const value = node.value;
    if (typeof value === 'bigint') return value.toString();
    if (typeof value === 'number') return goFormatFloat(value);
    return JSON.stringify(value);
  }
  if (node.kind === 'list') return node.items.length === 0 ? '[]' : `[\n${node.items.map((item) => inner + jsonOf(item, inner)).join(',\n')}\n${indent}]`;
  return node.items.length === 0 ? '{}' : `{\n${node.items.map((item) => `${inner}${JSON.stringify(item.key)}: ${jsonOf(item.value, inner)}`).join(',\n')}\n${indent}}`;
}

/**
 * The content `sops --decrypt FILE` prints, which SOPS chooses by the file's extension: YAML,
 * JSON and dotenv files print in their format; any other name is a binary file, stored as
 * `{"data": …}` and printed as the raw `data`. INI is not read.
 */
export function sopsFileContent(decrypted: DecryptedSops, file: string): string {
  const extension = /\.([^./]+)$/.exec(file)?.[1]?.toLowerCase() ?? '';
  if (['yaml', 'yml', 'json', 'env'].includes(extension)) return emitPlain(decrypted);
  if (extension === 'ini') throw secretsError('SOPS_UNSUPPORTED', `${file}: SOPS INI files are not supported`, { file });
  const items = decrypted.branches.length === 1 ? decrypted.branches[0].items : [];
  const data = items.length === 1 && items[0].key === 'data' && items[0].value.kind === 'scalar' ? items[0].value.value : undefined;
  if (typeof data !== 'string') {
    throw secretsError('SOPS_MALFORMED', `${file}: read as a SOPS binary file (its name does not end in .yaml, .yml, .json or .env), which holds exactly one key, data`, { file });
  }
  return data;
}
