import { CapstanError } from '../agent/errors.js';

// Every failure of an encrypted env file is terminal for the agent: the same commit will fail
// the same way, so it waits for a new one and changes nothing. Messages and data name the
// file, line and variable; they never carry a value, a prefix of one, or key material.
export type SecretsErrorCode =
  | 'SECRETS_FILE_MISSING'
  | 'SECRETS_NOT_ENCRYPTED'
  | 'SECRETS_ALREADY_ENCRYPTED'
  | 'SECRETS_UNSUPPORTED_VERSION'
  | 'SECRETS_MALFORMED'
  | 'SECRETS_TAMPERED'
  | 'SECRETS_PATH_MISMATCH'
  | 'SECRETS_UNKNOWN_KEY_ID'
  | 'SECRETS_NO_KEY_FILE'
  | 'SECRETS_KEY_FILE_MISSING'
  | 'SECRETS_KEY_FILE_INVALID'
  /** Group or others may read or write the key file; refused as ssh refuses such a private key. */
  | 'SECRETS_KEY_FILE_MODE'
  | 'SECRETS_KEY_FILE_EXISTS'
  | 'SECRETS_INVALID_NAME'
  | 'SECRETS_UNREPRESENTABLE'
  | 'SECRETS_EDITOR_FAILED'
  | 'SECRETS_USAGE'
  /** SOPS files (secrets/sops): unreadable file or metadata; a MAC, value or metadata that does not verify. */
  | 'SOPS_MALFORMED'
  | 'SOPS_TAMPERED'
  /** None of the host's age identities or OpenPGP keys opens the file's data key (wrong or missing key). */
  | 'SOPS_NO_MATCHING_KEY'
  /** A SOPS feature Capstan does not read (comment-based encryption rules). */
  | 'SOPS_UNSUPPORTED'
  | 'SOPS_KEY_FILE_INVALID';

export interface SecretsErrorData {
  file?: string;
  line?: number;
  variable?: string;
  [detail: string]: unknown;
}

export function secretsError(code: SecretsErrorCode, message: string, data: SecretsErrorData = {}): CapstanError {
  return new CapstanError(code, 'terminal', message, data);
}

/** `file:line: variable:` prefix, as far as it is known. */
export function where(file: string, line?: number, variable?: string): string {
  const place = line === undefined ? file : `${file}:${line}`;
  return variable === undefined ? place : `${place}: ${variable}`;
}
