import { parseSshPublicKey, sshFingerprint, UnsupportedKeyError } from './ssh-keys.js';
import { SshWireError } from './ssh-wire.js';
import type { SshSigner } from './types.js';

/**
 * One line of git's `gpg.ssh.allowedSignersFile`, in ssh-keygen(1)'s ALLOWED SIGNERS format:
 *
 *   principals [options] keytype base64-key [comment]
 *
 *   alice@example.com ssh-ed25519 AAAAC3Nz… alice's laptop
 *   "ci bot",ops@example.com namespaces="git",valid-before="20271231Z" ssh-rsa AAAAB3…
 *
 * Options: `namespaces="a,b"` (the key signs only for these; git signs in namespace `git`),
 * `valid-after="…"` and `valid-before="…"` (YYYYMMDD or YYYYMMDDHHMM[SS], UTC with a trailing
 * Z, else the host's local time). `cert-authority` is refused: trusting a CA means checking
 * certificates, which this module does not do; list the signing keys themselves.
 */
export function parseAllowedSignersLine(text: string, line: number): SshSigner {
  const tokens = tokenize(text);
  if (tokens.length < 3) throw new AllowedSignersError('expected `principals [options] keytype base64-key [comment]`');
  const principals = splitList(unquote(tokens[0]));
  if (principals.length === 0 || principals.some((principal) => principal === '')) throw new AllowedSignersError('empty principal');
  const hasOptions = !looksLikeKeyType(tokens[1]);
  const options = hasOptions ? parseOptions(tokens[1]) : {};
  const keyIndex = hasOptions ? 2 : 1;
  const keyType = tokens[keyIndex];
  const encodedKey = tokens[keyIndex + 1];
  if (keyType === undefined || encodedKey === undefined || !looksLikeKeyType(keyType)) {
    throw new AllowedSignersError('expected a key type (ssh-ed25519, ssh-rsa, ecdsa-sha2-…) followed by the base64 key');
  }
  const publicKey = decodeKey(keyType, encodedKey);
  return { kind: 'ssh', principals, keyType, publicKey, fingerprint: sshFingerprint(publicKey), ...options, line };
}

/** Decodes and checks a `keytype base64` pair, as in allowed_signers and `@revoked` lines. */
export function decodeKey(keyType: string, encodedKey: string): Buffer {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encodedKey)) throw new AllowedSignersError('the key is not base64');
  const publicKey = Buffer.from(encodedKey, 'base64');
  try {
    const parsed = parseSshPublicKey(publicKey);
    if (parsed.keyType !== keyType) throw new AllowedSignersError(`the key is a ${parsed.keyType} key, not ${keyType}`);
  } catch (error) {
    if (error instanceof SshWireError) throw new AllowedSignersError(`the ${keyType} key does not parse: ${error.message}`);
    if (error instanceof UnsupportedKeyError) throw new AllowedSignersError(error.message);
    throw error;
  }
  return publicKey;
}

export class AllowedSignersError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AllowedSignersError';
  }
}

export function looksLikeKeyType(token: string): boolean {
  return /^(ssh-|ecdsa-|sk-)[a-z0-9@.-]+$/.test(token);
}

/** Splits on whitespace outside double quotes; quotes stay in the token. */
function tokenize(text: string): string[] {
  const tokens: string[] = [];
  let current = '';
  let quoted = false;
  for (const character of text.trim()) {
    if (character === '"') quoted = !quoted;
    if (!quoted && /\s/.test(character)) {
      if (current !== '') tokens.push(current);
      current = '';
    } else {
      current += character;
    }
  }
  if (quoted) throw new AllowedSignersError('unterminated quote');
  if (current !== '') tokens.push(current);
  return tokens;
}

function unquote(token: string): string {
  return token.replace(/"/g, '');
}

function splitList(value: string): string[] {
  return value.split(',').map((item) => item.trim());
}

type SignerOptions = Pick<SshSigner, 'namespaces' | 'validAfter' | 'validBefore'>;

function parseOptions(token: string): SignerOptions {
  const options: SignerOptions = {};
  for (const option of splitOptions(token)) {
    const equals = option.indexOf('=');
    const name = (equals < 0 ? option : option.slice(0, equals)).toLowerCase();
    const value = equals < 0 ? undefined : unquote(option.slice(equals + 1));
    if (name === 'cert-authority') {
      throw new AllowedSignersError('cert-authority is not supported: list the signing keys themselves');
    }
    if (value === undefined) throw new AllowedSignersError(`unknown option ${name}`);
    if (name === 'namespaces') options.namespaces = splitList(value).filter((namespace) => namespace !== '');
    else if (name === 'valid-after') options.validAfter = parseSshTime(value);
    else if (name === 'valid-before') options.validBefore = parseSshTime(value);
    else throw new AllowedSignersError(`unknown option ${name}`);
  }
  if (options.validAfter && options.validBefore && options.validAfter >= options.validBefore) {
    throw new AllowedSignersError('valid-after is not before valid-before');
  }
  return options;
}

/** Commas inside quotes belong to the value: `namespaces="git,file",valid-after="20250101"`. */
function splitOptions(token: string): string[] {
  const options: string[] = [];
  let current = '';
  let quoted = false;
  for (const character of token) {
    if (character === '"') quoted = !quoted;
    if (character === ',' && !quoted) {
      options.push(current);
      current = '';
    } else {
      current += character;
    }
  }
  options.push(current);
  return options.filter((option) => option !== '');
}

/** `20250131`, `202501311200`, `20250131120000`, each optionally ending in `Z` (UTC). */
export function parseSshTime(value: string): Date {
  const match = /^(\d{4})(\d{2})(\d{2})(?:(\d{2})(\d{2})(\d{2})?)?(Z?)$/i.exec(value);
  if (!match) throw new AllowedSignersError(`time "${value}" is not YYYYMMDD[HHMM[SS]][Z]`);
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map((part) => Number(part ?? 0));
  const utc = match[7] !== '';
  const date = utc
    ? new Date(Date.UTC(year, month - 1, day, hour, minute, second))
    : new Date(year, month - 1, day, hour, minute, second);
  const roundTrip = utc
    ? [date.getUTCFullYear(), date.getUTCMonth() + 1, date.getUTCDate(), date.getUTCHours(), date.getUTCMinutes()]
    : [date.getFullYear(), date.getMonth() + 1, date.getDate(), date.getHours(), date.getMinutes()];
  if (roundTrip.join() !== [year, month, day, hour, minute].join() || second > 59) {
    throw new AllowedSignersError(`time "${value}" is not a calendar date`);
  }
  return date;
}
