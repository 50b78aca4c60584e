import type * as openpgp from 'openpgp';
import { TrustErrorCode } from './errors.js';
import type { OpenPgpSigner, TrustedSigner } from './types.js';
import type { SignatureVerdict } from './types.js';

/**
 * The signature names its issuer (key ID, and with GnuPG 2.2+ the full fingerprint); the key is
 * looked up among the trust file's OpenPGP keys by that key ID, primary keys and subkeys alike.
 * The cryptographic check, key binding and algorithm policy are openpgp.js's; key expiry and
 * revocation are judged at `now`, not at the signature's (signer-chosen) creation time.
 */
export async function verifyOpenPgpSignature(armored: string, payload: Buffer, signers: TrustedSigner[], now: Date): Promise<SignatureVerdict> {
  const format = 'openpgp';
  // Imported here, not at the top: openpgp.js adds ~15 MB to the agent's resident memory, and
  // only hosts that meet an OpenPGP signature need it.
  const { createMessage, readSignature, verify } = await import('openpgp');
  let signature: openpgp.Signature;
  try {
    signature = await readSignature({ armoredSignature: armored });
  } catch (error) {
    return { ok: false, code: TrustErrorCode.badSignature, format, reason: `malformed OpenPGP signature: ${messageOf(error)}` };
  }
  const issuer = issuerOf(signature);
  if (issuer === undefined) return { ok: false, code: TrustErrorCode.badSignature, format, reason: 'the OpenPGP signature names no issuer key' };
  // A 64-bit key ID can be made to collide; the issuer fingerprint, when present, cannot.
  const signer = signers.find((candidate): candidate is OpenPgpSigner =>
    candidate.kind === 'openpgp' && candidate.key.getKeys(issuer.keyId).some((keyOrSubkey) =>
      issuer.fingerprint === undefined || keyOrSubkey.getFingerprint().toUpperCase() === issuer.fingerprint));
  const revokedFingerprints = new Set(signers.flatMap((candidate) => (candidate.kind === 'revoked' ? [candidate.fingerprint] : [])));
  if (signer === undefined) {
    const fingerprint = issuer.fingerprint ?? `keyid:${issuer.keyId.toHex().toUpperCase()}`;
    if (issuer.fingerprint !== undefined && revokedFingerprints.has(issuer.fingerprint)) {
      return { ok: false, code: TrustErrorCode.revokedKey, format, fingerprint, reason: 'the key is listed under @revoked' };
    }
    return { ok: false, code: TrustErrorCode.untrustedSigner, format, fingerprint, reason: 'the key is not in the trust file' };
  }
  const signingKey = signer.key.getKeys(issuer.keyId).find((keyOrSubkey) =>
    issuer.fingerprint === undefined || keyOrSubkey.getFingerprint().toUpperCase() === issuer.fingerprint)!;
  const signingKeyFingerprint = signingKey.getFingerprint().toUpperCase();
  const fingerprint = signer.fingerprint;
  const identity = signingKeyFingerprint === fingerprint ? {} : { signingKeyFingerprint };
  if (revokedFingerprints.has(fingerprint) || revokedFingerprints.has(signingKeyFingerprint)) {
    return { ok: false, code: TrustErrorCode.revokedKey, format, fingerprint, reason: 'the key is listed under @revoked' };
  }
  if (await isRevoked(signer.key, signingKey, now)) {
    return { ok: false, code: TrustErrorCode.revokedKey, format, fingerprint, reason: 'the key carries an OpenPGP revocation signature' };
  }
  try {
    const message = await createMessage({ binary: new Uint8Array(payload) });
    const result = await verify({ message, signature, verificationKeys: [signer.key], date: now, expectSigned: true, format: 'binary' });
    await Promise.all(result.signatures.map((entry) => entry.verified));
  } catch (error) {
    const reason = messageOf(error);
    // openpgp.js reports an expired key the same way as a bad signature; the difference matters to whoever reads status.
    const code = /expired/i.test(reason) ? TrustErrorCode.untrustedSigner : TrustErrorCode.badSignature;
    return { ok: false, code, format, fingerprint, reason };
  }
  // openpgp.js judges the key at the signature's creation time, which the signer chooses
  // (`gpg --faked-system-time`): a key that expired years ago could still sign "back then".
  // Expiry is judged now, as revocation is; a key renewed since (a new self-signature) counts.
  try {
    await signer.key.getSigningKey(signingKey.getKeyID(), now);
  } catch (error) {
    const expiry = await signer.key.getExpirationTime().catch(() => null);
    const reason = expiry instanceof Date && expiry.getTime() <= now.getTime()
      ? `the key expired on ${expiry.toISOString()}`
      : `the signing key is not valid now: ${messageOf(error)}`;
    return { ok: false, code: TrustErrorCode.untrustedSigner, format, fingerprint, reason };
  }
  return { ok: true, signer: { format, fingerprint, ...identity, identities: signer.userIds } };
}

function issuerOf(signature: openpgp.Signature): { keyId: openpgp.KeyID; fingerprint?: string } | undefined {
  const packet = signature.packets[0];
  if (packet === undefined) return undefined;
  const fingerprint = packet.issuerFingerprint ? Buffer.from(packet.issuerFingerprint).toString('hex').toUpperCase() : undefined;
  const keyId = signature.getSigningKeyIDs()[0];
  return keyId === undefined ? undefined : { keyId, fingerprint };
}

async function isRevoked(key: openpgp.Key, signingKey: openpgp.Key | openpgp.Subkey, now: Date): Promise<boolean> {
  if (await key.isRevoked(undefined, undefined, now)) return true;
  if (signingKey === key) return false;
  // Subkey.isRevoked's typings demand a binding signature; null asks about the subkey itself.
  return (signingKey as openpgp.Subkey).isRevoked(null as unknown as openpgp.SignaturePacket, undefined as unknown as openpgp.PublicKeyPacket, now);
}

function messageOf(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0];
}
