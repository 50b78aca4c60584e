import { parse } from 'dotenv';
import {
  decodeBase64url,
  deriveFileKeys,
  encodeBase64url,
  fileMac,
  macsEqual,
  NONCE_BYTES,
  openValue,
  PAD_BLOCK,
  sealValue,
  TAG_BYTES,
  valueAad,
} from './crypto.js';
import { secretsError, where } from './errors.js';
import { findKey, type Keyring } from './keyring.js';

// An encrypted env file is a valid dotenv file (layout byte by byte in secrets/README.md):
//   # capstan-secrets v1 key=<key id> path="<repo-relative path>"
//   NAME=<base64url(nonce ‖ ciphertext ‖ tag)>
//   …
//   # capstan-secrets-mac <base64url(HMAC-SHA256)>
// dotenv skips the two comment lines and reads NAME=<token> pairs; only capstan decrypts them.

const HEADER_PREFIX = '# capstan-secrets v';
const HEADER_VERSION = /^# capstan-secrets v(\d+)(?: |$)/;
const HEADER_V1 = /^# capstan-secrets v1 key=([0-9a-f]{16}) path=("(?:[^"\\\u0000-\u001f]|\\.)*")$/;
const TRAILER_PREFIX = '# capstan-secrets-mac ';
const TRAILER = /^# capstan-secrets-mac ([A-Za-z0-9_-]{43})$/;
const NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

export interface EncryptedEntry {
  name: string;
  value: string;
  /** The encrypted token as written, reused when a value is unchanged so its line stays the same. */
  token: string;
  line: number;
}

/** A decrypted file. Holds plaintext values: never log it. */
export interface DecryptedEnv {
  repoPath: string;
  keyId: string;
  entries: EncryptedEntry[];
}

export function isValidName(name: string): boolean {
  // `__proto__` would not survive as an object key.
  return NAME_PATTERN.test(name) && name !== '__proto__';
}

/** True when the file starts with a capstan-secrets header (any version). Never guesses from content. */
export function isEncryptedEnv(text: string): boolean {
  return text.startsWith(HEADER_PREFIX);
}

function checkRepoPath(repoPath: string): void {
  if (repoPath === '' || /[\u0000-\u001f]/.test(repoPath) || repoPath.startsWith('/') || repoPath.includes('\\')) {
    throw secretsError('SECRETS_MALFORMED', `invalid repository path ${JSON.stringify(repoPath)}: expected a relative path with / separators`, {
      file: repoPath,
    });
  }
}

function readHeader(line: string, repoPath: string): { keyId: string; boundPath: string } {
  if (!line.startsWith(HEADER_PREFIX)) {
    throw secretsError(
      'SECRETS_NOT_ENCRYPTED',
      `${repoPath}:1: no capstan-secrets header: the file is not encrypted (or its first line was changed); encrypt it with \`capstan secrets encrypt\``,
      { file: repoPath, line: 1 },
    );
  }
  const version = HEADER_VERSION.exec(line)?.[1];
  if (version !== undefined && version !== '1') {
    throw secretsError('SECRETS_UNSUPPORTED_VERSION', `${repoPath}:1: format v${version} is not supported by this capstan (it reads v1)`, {
      file: repoPath,
      line: 1,
      version,
    });
  }
  const match = HEADER_V1.exec(line);
  let boundPath: unknown;
  try {
    boundPath = match ? JSON.parse(match[2]) : undefined;
  } catch {
    boundPath = undefined;
  }
  if (!match || typeof boundPath !== 'string') {
    throw secretsError('SECRETS_MALFORMED', `${repoPath}:1: invalid capstan-secrets header`, { file: repoPath, line: 1 });
  }
  return { keyId: match[1], boundPath };
}

type EntryLine = { name: string; token: string; sealed: Uint8Array } | { name?: string; problem: string };

function readEntryLine(line: string): EntryLine {
  const parsed = parse(line);
  const names = Object.keys(parsed);
  if (names.length !== 1 || line !== `${names[0]}=${parsed[names[0]]}` || !isValidName(names[0])) {
    return { name: names.length === 1 ? names[0] : undefined, problem: 'not a NAME=<encrypted value> line' };
  }
  const [name] = names;
  const token = parsed[name];
  const sealed = decodeBase64url(token);
  const sealedLength = sealed ? sealed.length - NONCE_BYTES - TAG_BYTES : -1;
  if (!sealed || sealedLength < PAD_BLOCK || sealedLength % PAD_BLOCK !== 0) {
    return { name, problem: 'the value is not an encrypted token' };
  }
  return { name, token, sealed };
}

/**
 * Decrypts and verifies a whole file, or throws. `repoPath` is the file's path relative to the
 * root of its git repository, with / separators: values are bound to it.
 *
 * Checks, in order: header, path, key, trailer; then each line and value (so an error can name
 * the line and variable); then the MAC over the whole file (lines added, removed, reordered).
 * Nothing is returned unless every check passes.
 */
export function decryptEnvDocument(input: { text: string; repoPath: string; keyring: Keyring }): DecryptedEnv {
  const { keyring, repoPath } = input;
  checkRepoPath(repoPath);
  // git may check files out with CRLF; every other byte is authenticated as written.
  const text = input.text.replace(/\r\n/g, '\n');
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();

  const { keyId, boundPath } = readHeader(lines[0] ?? '', repoPath);
  if (boundPath !== repoPath) {
    throw secretsError(
      'SECRETS_PATH_MISMATCH',
      `${repoPath}: encrypted for ${JSON.stringify(boundPath)}, read as ${JSON.stringify(repoPath)}: values are bound to their repository path (to move a file, decrypt it at its old path and encrypt it at the new one)`,
      { file: repoPath, line: 1, boundPath },
    );
  }
  const key = findKey(keyring, keyId);
  if (!key) {
    const known = keyring.keys.map((listed) => listed.id).join(', ');
    throw secretsError(
      'SECRETS_UNKNOWN_KEY_ID',
      `${repoPath}: encrypted with key ${keyId}, which is not in ${keyring.source} (it holds ${known}): wrong key file?`,
      { file: repoPath, line: 1, keyId, keyFile: keyring.source },
    );
  }
  const trailer = lines.length >= 2 ? TRAILER.exec(lines[lines.length - 1]) : null;
  if (!trailer) {
    const problem = lines[lines.length - 1]?.startsWith(TRAILER_PREFIX) ? 'the MAC trailer is damaged' : 'the MAC trailer is missing: the file was truncated or lines were added after it';
    throw secretsError('SECRETS_TAMPERED', `${repoPath}: ${problem}`, { file: repoPath, line: lines.length });
  }

  const fileKeys = deriveFileKeys(key.secret);
  const bodyLines = lines.slice(0, -1);
  const body = bodyLines.join('\n') + '\n';
  const macMatches = macsEqual(fileMac(fileKeys.macKey, repoPath, body), decodeBase64url(trailer[1]) ?? new Uint8Array(0));
  // With a valid MAC the keyholder wrote the file, so a bad line is a format bug, not an attack.
  const broken = (line: number | undefined, variable: string | undefined, problem: string) =>
    secretsError(macMatches ? 'SECRETS_MALFORMED' : 'SECRETS_TAMPERED', `${where(repoPath, line, variable)}: ${problem}`, {
      file: repoPath,
      ...(line === undefined ? {} : { line }),
      ...(variable === undefined ? {} : { variable }),
    });

  const sealedEntries: Array<{ name: string; token: string; sealed: Uint8Array; line: number }> = [];
  for (let index = 1; index < bodyLines.length; index++) {
    const entry = readEntryLine(bodyLines[index]);
    if ('problem' in entry) throw broken(index + 1, entry.name, entry.problem);
    if (sealedEntries.some((seen) => seen.name === entry.name)) throw broken(index + 1, entry.name, 'set twice');
    sealedEntries.push({ ...entry, line: index + 1 });
  }
  // What we decrypt must be exactly what any dotenv reader sees in the file.
  const dotenvView = parse(text);
  if (Object.keys(dotenvView).length !== sealedEntries.length || sealedEntries.some((entry) => dotenvView[entry.name] !== entry.token)) {
    throw broken(undefined, undefined, 'dotenv reads the file differently from its lines');
  }

  const entries = sealedEntries.map(({ name, token, sealed, line }) => {
    const value = openValue(fileKeys.encryptionKey, valueAad(repoPath, name), sealed);
    if (value === undefined) {
      throw secretsError(
        'SECRETS_TAMPERED',
        `${where(repoPath, line, name)}: the value does not decrypt for this file and variable (changed, moved from another variable, or copied from another file)`,
        { file: repoPath, line, variable: name },
      );
    }
    return { name, value, token, line };
  });
  if (!macMatches) {
    throw secretsError('SECRETS_TAMPERED', `${repoPath}: the file MAC does not match: lines were added, removed, reordered or changed`, {
      file: repoPath,
    });
  }
  return { repoPath, keyId, entries };
}

/** The variables of an encrypted env file, for the agent's loader. Throws a CapstanError on any doubt. */
export function decryptEnvFile(input: { text: string; repoPath: string; keyring: Keyring }): Record<string, string> {
  return Object.fromEntries(decryptEnvDocument(input).entries.map((entry) => [entry.name, entry.value]));
}

/**
 * The encrypted file for `values`, under the keyring's primary key. With `previous` (the same
 * file, decrypted), unchanged values keep their tokens, so a diff shows only what changed.
 */
export function encryptEnv(input: { values: Record<string, string>; repoPath: string; keyring: Keyring; previous?: DecryptedEnv }): string {
  const { values, repoPath, keyring, previous } = input;
  checkRepoPath(repoPath);
  const key = keyring.primary;
  const fileKeys = deriveFileKeys(key.secret);
  const reusable = new Map(
    previous && previous.keyId === key.id && previous.repoPath === repoPath ? previous.entries.map((entry) => [entry.name, entry]) : [],
  );
  const lines = [`# capstan-secrets v1 key=${key.id} path=${JSON.stringify(repoPath)}`];
  for (const [name, value] of Object.entries(values)) {
    if (!isValidName(name)) {
      throw secretsError('SECRETS_INVALID_NAME', `${repoPath}: invalid variable name ${JSON.stringify(name)} (letters, digits, _ . -; not starting with a digit)`, {
        file: repoPath,
        variable: name,
      });
    }
    const old = reusable.get(name);
    const token = old && old.value === value ? old.token : encodeBase64url(sealValue(fileKeys.encryptionKey, valueAad(repoPath, name), value));
    lines.push(`${name}=${token}`);
  }
  const body = lines.join('\n') + '\n';
  return `${body}${TRAILER_PREFIX}${encodeBase64url(fileMac(fileKeys.macKey, repoPath, body))}\n`;
}
