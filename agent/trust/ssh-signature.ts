import { TrustErrorCode } from './errors.js';
import { globMatches } from './glob.js';
import { parseSshPublicKey, sshFingerprint, UnsupportedKeyError } from './ssh-keys.js';
import { SshWireError } from './ssh-wire.js';
import { parseSshSignature, verifySshEnvelope } from './sshsig.js';
import type { SshSigner, TrustedSigner } from './types.js';
import type { SignatureVerdict } from './types.js';

/** git signs commits and tags in this SSHSIG namespace (`ssh-keygen -Y sign -n git`). */
export const gitNamespace = 'git';

/**
 * The order matters: the key is identified from the envelope first, so every refusal names it;
 * revocation wins over any listing; trust is decided before any cryptography, so an unknown
 * key is "untrusted" whether or not its signature is sound.
 */
export function verifySshSignatureText(armored: string, payload: Buffer, signers: TrustedSigner[], now: Date, namespace = gitNamespace): SignatureVerdict {
  const format = 'ssh';
  let envelope;
  try {
    envelope = parseSshSignature(armored);
  } catch (error) {
    if (error instanceof SshWireError) return { ok: false, code: TrustErrorCode.badSignature, format, reason: `malformed SSH signature: ${error.message}` };
    throw error;
  }
  const fingerprint = sshFingerprint(envelope.publicKey);
  if (signers.some((signer) => signer.kind === 'revoked' && signer.fingerprint === fingerprint)) {
    return { ok: false, code: TrustErrorCode.revokedKey, format, fingerprint, reason: 'the key is listed under @revoked' };
  }
  const listed = signers.filter((signer): signer is SshSigner => signer.kind === 'ssh' && signer.publicKey.equals(envelope.publicKey));
  if (listed.length === 0) return { ok: false, code: TrustErrorCode.untrustedSigner, format, fingerprint, reason: 'the key is not in the trust file' };
  const usable = listed.filter((signer) => refusalOf(signer, now, namespace) === undefined);
  if (usable.length === 0) {
    return { ok: false, code: TrustErrorCode.untrustedSigner, format, fingerprint, reason: listed.map((signer) => refusalOf(signer, now, namespace)).join('; ') };
  }
  try {
    const check = verifySshEnvelope(envelope, parseSshPublicKey(envelope.publicKey), payload, namespace);
    if (!check.valid) return { ok: false, code: TrustErrorCode.badSignature, format, fingerprint, reason: check.reason };
  } catch (error) {
    if (error instanceof SshWireError || error instanceof UnsupportedKeyError) {
      return { ok: false, code: TrustErrorCode.badSignature, format, fingerprint, reason: error.message };
    }
    throw error;
  }
  return { ok: true, signer: { format, fingerprint, identities: [...new Set(usable.flatMap((signer) => signer.principals))] } };
}

/** Why this listing of the key does not allow a signature in `namespace` now; undefined when it does. */
function refusalOf(signer: SshSigner, now: Date, namespace: string): string | undefined {
  const line = `trust file line ${signer.line}`;
  if (signer.namespaces !== undefined && !signer.namespaces.some((allowed) => globMatches(allowed, namespace))) {
    return `${line} allows the key only for namespaces ${signer.namespaces.join(',')}`;
  }
  if (signer.validAfter !== undefined && now < signer.validAfter) return `${line} makes the key valid only after ${signer.validAfter.toISOString()}`;
  if (signer.validBefore !== undefined && now >= signer.validBefore) return `${line} made the key valid only before ${signer.validBefore.toISOString()}`;
  return undefined;
}
