import { secretsError } from '../errors.js';

// The `sops` metadata as SOPS's stores read it (getsops/sops stores/stores.go `ToInternal`):
// key groups (the top-level key lists make one group, else `key_groups`), the encryption rule
// (at most one; none means `unencrypted_suffix: _unencrypted`), the MAC and its timestamp.

export interface AgeStanzaKey {
  type: 'age';
  recipient: string;
  enc: string;
}
export interface PgpStanzaKey {
  type: 'pgp';
  fingerprint: string;
  enc: string;
}
/** A cloud or Vault key: listed so a message can say what would open the file, never used. */
export interface OtherKey {
  type: 'kms' | 'gcp_kms' | 'azure_kv' | 'hc_vault' | 'hckms';
  name: string;
}
export type MasterKey = AgeStanzaKey | PgpStanzaKey | OtherKey;

export type EncryptionRule =
  | { kind: 'unencrypted_suffix' | 'encrypted_suffix'; suffix: string }
  | { kind: 'unencrypted_regex' | 'encrypted_regex'; pattern: RegExp; source: string };

export interface SopsMetadata {
  keyGroups: MasterKey[][];
  shamirThreshold: number;
  /** `lastmodified` as Go's time.Format(RFC3339) writes it: the MAC's associated data. */
  lastModified: string;
  /** The encrypted MAC, or '' when the file has none. */
  mac: string;
  macOnlyEncrypted: boolean;
  rule: EncryptionRule;
  version: string;
}

const OTHER_KINDS = [
  ['kms', 'arn'],
  ['gcp_kms', 'resource_id'],
  ['azure_kv', 'vault_url'],
  ['hc_vault', 'vault_address'],
  ['hckms', 'key_id'],
] as const;

type Plain = Record<string, unknown>;

function isPlainMap(value: unknown): value is Plain {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function readMetadata(raw: unknown, file: string, line: number): SopsMetadata {
  const malformed = (problem: string) => secretsError('SOPS_MALFORMED', `${file}:${line}: sops metadata: ${problem}`, { file, line, variable: 'sops' });
  if (!isPlainMap(raw)) throw malformed('not a map');
  const text = (key: string): string => {
    const value = raw[key];
    if (value === undefined || value === null) return '';
    if (typeof value === 'string') return value;
    if (typeof value === 'number' || typeof value === 'boolean') return String(value);
    throw malformed(`${key} is not a string`);
  };

  const lastModified = goRfc3339(text('lastmodified'));
  if (lastModified === undefined) throw malformed('lastmodified is missing or not an RFC 3339 time');

  const rules: EncryptionRule[] = [];
  for (const kind of ['unencrypted_suffix', 'encrypted_suffix'] as const) {
    if (text(kind) !== '') rules.push({ kind, suffix: text(kind) });
  }
  for (const kind of ['unencrypted_regex', 'encrypted_regex'] as const) {
    if (text(kind) !== '') rules.push({ kind, source: text(kind), pattern: goRegex(text(kind), () => malformed(`${kind} is not a regular expression Capstan can read`)) });
  }
  for (const kind of ['unencrypted_comment_regex', 'encrypted_comment_regex']) {
    if (text(kind) !== '') {
      throw secretsError('SOPS_UNSUPPORTED', `${file}:${line}: sops metadata: ${kind} is not supported by Capstan (values are chosen by key only); re-encrypt the file with a key-based rule such as encrypted_regex`, {
        file,
        line,
        variable: `sops.${kind}`,
      });
    }
  }
  if (rules.length > 1) throw malformed('more than one of encrypted_suffix, unencrypted_suffix, encrypted_regex, unencrypted_regex');

  const macOnly = raw.mac_only_encrypted;
  const threshold = text('shamir_threshold');
  const shamirThreshold = threshold === '' ? 0 : Number(threshold);
  if (!Number.isSafeInteger(shamirThreshold) || shamirThreshold < 0 || shamirThreshold > 255) throw malformed('shamir_threshold is not a small whole number');
  return {
    keyGroups: keyGroups(raw, malformed),
    shamirThreshold,
    lastModified,
    mac: text('mac'),
    macOnlyEncrypted: macOnly === true || macOnly === 'true' || macOnly === 'True',
    rule: rules[0] ?? { kind: 'unencrypted_suffix', suffix: '_unencrypted' },
    version: text('version'),
  };
}

function keyGroups(raw: Plain, malformed: (problem: string) => Error): MasterKey[][] {
  const hasTopLevel = ['pgp', 'age', ...OTHER_KINDS.map(([kind]) => kind)].some((kind) => Array.isArray(raw[kind]) && (raw[kind] as unknown[]).length > 0);
  if (hasTopLevel) return [groupFrom(raw, malformed)];
  const groups = raw.key_groups;
  if (Array.isArray(groups) && groups.length > 0) {
    return groups.map((group) => {
      if (!isPlainMap(group)) throw malformed('a key group is not a map');
      return groupFrom(group, malformed);
    });
  }
  throw malformed('no keys found in the file');
}

function groupFrom(group: Plain, malformed: (problem: string) => Error): MasterKey[] {
  const entries = (kind: string): Plain[] => {
    const list = group[kind];
    if (list === undefined || list === null) return [];
    if (!Array.isArray(list) || !list.every(isPlainMap)) throw malformed(`${kind} is not a list of keys`);
    return list;
  };
  const field = (entry: Plain, name: string): string => (typeof entry[name] === 'string' ? (entry[name] as string) : '');
  const keys: MasterKey[] = [];
  for (const [kind, nameField] of OTHER_KINDS) {
    for (const entry of entries(kind)) keys.push({ type: kind, name: field(entry, nameField) });
  }
  for (const entry of entries('pgp')) keys.push({ type: 'pgp', fingerprint: field(entry, 'fp').toUpperCase(), enc: field(entry, 'enc') });
  for (const entry of entries('age')) keys.push({ type: 'age', recipient: field(entry, 'recipient'), enc: field(entry, 'enc') });
  return keys;
}

/**
 * Go's time.Parse(RFC3339) then Format(RFC3339): fractional seconds dropped, a zero offset
 * written `Z`. SOPS authenticates its MAC under exactly that string.
 */
export function goRfc3339(value: string): string | undefined {
  const match = /^(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(?:\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/.exec(value);
  if (!match || Number.isNaN(Date.parse(`${match[1]}T${match[2]}Z`))) return undefined;
  const zone = match[3].toUpperCase() === 'Z' || match[3] === '+00:00' || match[3] === '-00:00' ? 'Z' : match[3];
  return `${match[1]}T${match[2]}${zone}`;
}

/** Go's RE2 patterns as JavaScript ones: a leading `(?i)`, `(?s)`, `(?m)` become flags. */
function goRegex(source: string, fail: () => Error): RegExp {
  let flags = 'u';
  let pattern = source;
  const inline = /^\(\?([ims]+)\)/.exec(pattern);
  if (inline) {
    flags += [...new Set(inline[1])].join('');
    pattern = pattern.slice(inline[0].length);
  }
  try {
    return new RegExp(pattern, flags);
  } catch {
    throw fail();
  }
}

export function describeKey(key: MasterKey): string {
  if (key.type === 'age') return `age ${key.recipient}`;
  if (key.type === 'pgp') return `pgp ${key.fingerprint}`;
  return `${key.type} ${key.name}`;
}
