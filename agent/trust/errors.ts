import { CapstanError } from '../errors.js';

/**
 * Every refusal is terminal: nothing of the commit is applied and the host stays on the last
 * verified commit until a new one verifies. `data` always carries `commit`, and `fingerprint`
 * whenever a key could be identified; both are public, so status and logs may show them.
 */
export const TrustErrorCode = {
  unsignedCommit: 'UNSIGNED_COMMIT',
  /** Signed, but by a key the trust file does not list (or for a namespace or time it does not allow). */
  untrustedSigner: 'UNTRUSTED_SIGNER',
  /** The signature does not match the signed content: tampered, or copied from another object. */
  badSignature: 'BAD_SIGNATURE',
  /** Signed by a key that is listed under `@revoked` or carries an OpenPGP revocation. */
  revokedKey: 'REVOKED_KEY',
  /** The new head is older than (or an ancestor of) the applied commit and rewinds are not allowed. */
  rewindRefused: 'REWIND_REFUSED',
  /** Tag mode: no annotated tag matching the pattern names the head. */
  noSignedTag: 'NO_SIGNED_TAG',
  /** The trust file is missing, unreadable, or has a line that does not parse. */
  trustFileInvalid: 'TRUST_FILE_INVALID',
} as const;

export type TrustErrorCode = (typeof TrustErrorCode)[keyof typeof TrustErrorCode];

export class TrustError extends CapstanError {
  constructor(code: TrustErrorCode, message: string, data: Record<string, unknown>, options?: { cause?: unknown }) {
    super(code, 'terminal', message, data, options);
    this.name = 'TrustError';
  }
}

export function trustFileInvalid(file: string, line: number, problem: string, options?: { cause?: unknown }): TrustError {
  const where = line > 0 ? `${file}:${line}` : file;
  return new TrustError(TrustErrorCode.trustFileInvalid, `trust file ${where}: ${problem}`, { file, line }, options);
}
