import { readFile, stat } from 'node:fs/promises';
import { decodeBase64url, encodeBase64url, keyIdOf, MASTER_KEY_BYTES, newMasterKey } from './crypto.js';
import { secretsError } from './errors.js';

// Key file, text, one key a line (format in secrets/README.md):
//   capstan-keys v1
//   # comments and blank lines are ignored
//   key <id> <secret: 32 bytes, base64url> <created: ISO 8601> [primary]

export const KEY_FILE_VERSION_LINE = 'capstan-keys v1';

export interface KeyringKey {
  /** 16 hex characters derived from the secret (`keyIdOf`). */
  id: string;
  secret: Uint8Array;
  created: string;
  /** Marked `primary` in the file. */
  marked: boolean;
}

export interface Keyring {
  /** Where the keys came from, for messages. */
  source: string;
  keys: KeyringKey[];
  /** Encrypts: the key marked primary, else the last one listed (the newest). */
  primary: KeyringKey;
}

export function newKeyringKey(now: number): KeyringKey {
  const secret = newMasterKey();
  return { id: keyIdOf(secret), secret, created: new Date(now).toISOString(), marked: true };
}

export function findKey(keyring: Keyring, keyId: string): KeyringKey | undefined {
  return keyring.keys.find((key) => key.id === keyId);
}

function invalid(source: string, line: number, problem: string): Error {
  return secretsError('SECRETS_KEY_FILE_INVALID', `${source}:${line}: ${problem}`, { file: source, line });
}

function parseKeyLine(text: string, source: string, line: number): KeyringKey {
  const fields = text.trim().split(/\s+/);
  const [tag, id, encoded, created, flag] = fields;
  if (tag !== 'key' || fields.length < 4 || fields.length > 5 || (flag !== undefined && flag !== 'primary')) {
    throw invalid(source, line, 'expected `key <id> <secret> <created> [primary]`');
  }
  const secret = decodeBase64url(encoded);
  if (secret === undefined || secret.length !== MASTER_KEY_BYTES) {
    throw invalid(source, line, `key ${id}: the secret is not ${MASTER_KEY_BYTES} bytes of base64url`);
  }
  if (keyIdOf(secret) !== id) {
    throw invalid(source, line, `key ${id}: the id does not match the secret (the line was edited or damaged)`);
  }
  return { id, secret, created, marked: flag === 'primary' };
}

export function parseKeyring(text: string, source: string): Keyring {
  const lines = text.replace(/\r\n/g, '\n').split('\n');
  if (lines[0] !== KEY_FILE_VERSION_LINE) {
    throw secretsError(
      'SECRETS_KEY_FILE_INVALID',
      `${source}:1: not a capstan key file: the first line must be \`${KEY_FILE_VERSION_LINE}\` (create one with \`capstan secrets keygen\`)`,
      { file: source, line: 1 },
    );
  }
  const keys: KeyringKey[] = [];
  lines.forEach((text, index) => {
    if (index === 0 || text.trim() === '' || text.trimStart().startsWith('#')) return;
    const key = parseKeyLine(text, source, index + 1);
    if (keys.some((listed) => listed.id === key.id)) throw invalid(source, index + 1, `key ${key.id} is listed twice`);
    keys.push(key);
  });
  if (keys.length === 0) throw invalid(source, lines.length, 'the key file holds no key');
  const marked = keys.filter((key) => key.marked);
  if (marked.length > 1) throw invalid(source, 1, `${marked.length} keys are marked primary; mark at most one`);
  return { source, keys, primary: marked[0] ?? keys[keys.length - 1] };
}

export function serializeKeyring(keys: KeyringKey[]): string {
  const header = [
    KEY_FILE_VERSION_LINE,
    '# Capstan secrets key file. Keep it secret (mode 0600) and out of git.',
    '# Every key listed decrypts; the key marked primary (else the last) encrypts.',
    '# key <id> <secret> <created> [primary]',
  ];
  const lines = keys.map((key) =>
    ['key', key.id, encodeBase64url(key.secret), key.created, ...(key.marked ? ['primary'] : [])].join(' '),
  );
  return [...header, ...lines].join('\n') + '\n';
}

/** The keys after adding `key` as the new primary: older keys stay, so old files still decrypt. */
export function addPrimaryKey(keys: KeyringKey[], key: KeyringKey): KeyringKey[] {
  return [...keys.map((old) => ({ ...old, marked: false })), { ...key, marked: true }];
}

export interface KeyFileReader {
  readFile(path: string, encoding: 'utf8'): Promise<string>;
  stat(path: string): Promise<{ mode: number }>;
}

/** Permission bits a key file may not have: any access by group or others. */
const GROUP_OR_OTHERS = 0o077;

/**
 * Reads the key file, refusing it when group or others have any access to it, as ssh refuses
 * a private key (a key readable by other users on the host is as good as published). Every
 * command that reads the key (the agent, validate, doctor, secrets set) applies the same rule.
 */
export async function loadKeyring(path: string, fs: KeyFileReader = { readFile, stat }): Promise<Keyring> {
  let text: string;
  try {
    assertPrivateMode(path, (await fs.stat(path)).mode);
    text = await fs.readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw secretsError('SECRETS_KEY_FILE_MISSING', `key file ${path} does not exist (create one with \`capstan secrets keygen\`)`, { file: path });
    }
    throw error;
  }
  return parseKeyring(text, path);
}

function assertPrivateMode(path: string, mode: number): void {
  if ((mode & GROUP_OR_OTHERS) === 0) return;
  const octal = `0${(mode & 0o777).toString(8)}`;
  throw secretsError('SECRETS_KEY_FILE_MODE',
    `key file ${path} is accessible by group or others (mode ${octal}); it must be private to its owner: run \`chmod 600 ${path}\``,
    { file: path, mode: octal });
}
