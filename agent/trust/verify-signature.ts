import { verifyOpenPgpSignature } from './openpgp-signature.js';
import { verifySshSignatureText } from './ssh-signature.js';
import type { SignatureFormat, SignatureVerdict, TrustedSigner } from './types.js';
import { TrustErrorCode } from './errors.js';

/** Whatever was signed (a commit, or a tag vouching for one), reduced to what verification needs. */
export interface SignedContent {
  payload: Buffer;
  signature?: string;
  /** Set when the object's structure is wrong before any cryptography is tried. */
  malformed?: string;
}

/**
 * Verifies `content` against the trust file's signers at time `now`. SSH signatures must be made
 * in `sshNamespace` (default `git`; offline bundles use `capstan-bundle`). Never throws for a bad
 * signature: a verdict comes back, so tag mode can weigh several tags before refusing.
 */
export async function checkSignature(content: SignedContent, signers: TrustedSigner[], now: Date, sshNamespace?: string): Promise<SignatureVerdict> {
  if (content.malformed !== undefined) return { ok: false, code: TrustErrorCode.badSignature, reason: content.malformed };
  const signature = content.signature;
  if (signature === undefined || signature.trim() === '') return { ok: false, code: TrustErrorCode.unsignedCommit, reason: 'no signature' };
  const format = signatureFormat(signature);
  if (format === 'ssh') return verifySshSignatureText(signature, content.payload, signers, now, sshNamespace);
  if (format === 'openpgp') return verifyOpenPgpSignature(signature, content.payload, signers, now);
  return { ok: false, code: TrustErrorCode.untrustedSigner, format, reason: `${format} signatures are not supported: sign with an SSH or OpenPGP key` };
}

export function signatureFormat(signature: string): SignatureFormat {
  const firstLine = signature.trimStart().split('\n')[0].trim();
  if (firstLine === '-----BEGIN SSH SIGNATURE-----') return 'ssh';
  if (firstLine === '-----BEGIN PGP SIGNATURE-----' || firstLine === '-----BEGIN PGP MESSAGE-----') return 'openpgp';
  if (firstLine === '-----BEGIN SIGNED MESSAGE-----') return 'x509';
  return 'unknown';
}
