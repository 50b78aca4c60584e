import crypto, { type KeyObject } from 'node:crypto';
import { SshWireError, SshWireReader } from './ssh-wire.js';

/** A parsed SSH public key, ready for node:crypto. */
export interface SshPublicKey {
  keyType: string;
  /** The wire-format blob the fingerprint is computed over. */
  blob: Buffer;
  keyObject: KeyObject;
  /** ECDSA only: the byte length of r and s (32, 48, 66). */
  coordinateLength?: number;
  /** RSA only: the modulus length in bytes, which every signature is padded to. */
  modulusLength?: number;
}

const ecdsaCurves: Record<string, { curveName: string; jwkCurve: string; coordinateLength: number; hash: string }> = {
  'ecdsa-sha2-nistp256': { curveName: 'nistp256', jwkCurve: 'P-256', coordinateLength: 32, hash: 'sha256' },
  'ecdsa-sha2-nistp384': { curveName: 'nistp384', jwkCurve: 'P-384', coordinateLength: 48, hash: 'sha384' },
  'ecdsa-sha2-nistp521': { curveName: 'nistp521', jwkCurve: 'P-521', coordinateLength: 66, hash: 'sha512' },
};

/** The signature algorithms SSHSIG accepts for RSA keys; `ssh-rsa` (SHA-1) is refused, as OpenSSH does. */
const rsaSignatureHashes: Record<string, string> = { 'rsa-sha2-256': 'sha256', 'rsa-sha2-512': 'sha512' };

/** Below this, an RSA key is factorable with public means; OpenSSH's own floor is 1024 bits. */
const minimumRsaBits = 2048;

const supportedKeyTypes = ['ssh-ed25519', 'ssh-rsa', ...Object.keys(ecdsaCurves)];

export class UnsupportedKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnsupportedKeyError';
  }
}

/** `SHA256:<base64 without padding>` of the key blob, as `ssh-keygen -l` prints it. */
export function sshFingerprint(blob: Buffer): string {
  return `SHA256:${crypto.createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/**
 * Parses a public key blob. Throws SshWireError when it is malformed and UnsupportedKeyError
 * for key types this module cannot verify (FIDO `sk-*` keys, certificates, DSA).
 */
export function parseSshPublicKey(blob: Buffer): SshPublicKey {
  const reader = new SshWireReader(blob);
  const keyType = reader.text();
  if (keyType === 'ssh-ed25519') {
    const publicBytes = reader.string();
    reader.end('ed25519 key');
    if (publicBytes.length !== 32) throw new SshWireError(`ed25519 key of ${publicBytes.length} bytes`);
    const keyObject = crypto.createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: publicBytes.toString('base64url') }, format: 'jwk' });
    return { keyType, blob, keyObject };
  }
  if (keyType === 'ssh-rsa') {
    const exponent = reader.unsignedMpint();
    const modulus = reader.unsignedMpint();
    reader.end('RSA key');
    if (modulus.length * 8 < minimumRsaBits) {
      throw new UnsupportedKeyError(`RSA key of ${modulus.length * 8} bits: at least ${minimumRsaBits} are required`);
    }
    const keyObject = crypto.createPublicKey({
      key: { kty: 'RSA', n: modulus.toString('base64url'), e: exponent.toString('base64url') },
      format: 'jwk',
    });
    return { keyType, blob, keyObject, modulusLength: modulus.length };
  }
  const curve = ecdsaCurves[keyType];
  if (curve !== undefined) {
    const curveName = reader.text();
    const point = reader.string();
    reader.end('ECDSA key');
    const size = curve.coordinateLength;
    if (curveName !== curve.curveName) throw new SshWireError(`${keyType} key names curve ${shown(curveName)}`);
    if (point.length !== 1 + 2 * size || point[0] !== 0x04) throw new SshWireError('ECDSA key is not an uncompressed point');
    const keyObject = crypto.createPublicKey({
      key: {
        kty: 'EC', crv: curve.jwkCurve,
        x: point.subarray(1, 1 + size).toString('base64url'),
        y: point.subarray(1 + size).toString('base64url'),
      },
      format: 'jwk',
    });
    return { keyType, blob, keyObject, coordinateLength: size };
  }
  if (keyType.startsWith('sk-')) throw new UnsupportedKeyError(`${keyType} (FIDO security key) signatures are not supported`);
  if (keyType.includes('-cert-')) throw new UnsupportedKeyError(`${keyType} certificates are not supported: list the signing key itself`);
  throw new UnsupportedKeyError(`SSH key type ${shown(keyType)} is not supported (supported: ${supportedKeyTypes.join(', ')})`);
}

/**
 * Checks an SSH signature blob (`string algorithm, string signature`) over `data`. Returns
 * false when it does not verify; throws SshWireError when the blob is malformed and
 * UnsupportedKeyError when the algorithm does not belong to the key.
 */
export function verifySshSignature(key: SshPublicKey, signatureBlob: Buffer, data: Buffer): boolean {
  const reader = new SshWireReader(signatureBlob);
  const algorithm = reader.text();
  const signature = reader.string();
  reader.end('signature');
  if (key.keyType === 'ssh-ed25519') {
    if (algorithm !== 'ssh-ed25519') throw new UnsupportedKeyError(`signature algorithm ${shown(algorithm)} for an ed25519 key`);
    return signature.length === 64 && crypto.verify(null, data, key.keyObject, signature);
  }
  if (key.keyType === 'ssh-rsa') {
    const hash = rsaSignatureHashes[algorithm];
    if (hash === undefined) throw new UnsupportedKeyError(`signature algorithm ${shown(algorithm)} for an RSA key (SHA-1 is refused)`);
    const modulusLength = key.modulusLength ?? 0;
    if (signature.length > modulusLength) return false;
    // OpenSSH accepts a signature shorter than the modulus and left-pads it; OpenSSL wants it full.
    const padded = Buffer.concat([Buffer.alloc(modulusLength - signature.length), signature]);
    return crypto.verify(hash, data, { key: key.keyObject, padding: crypto.constants.RSA_PKCS1_PADDING }, padded);
  }
  const curve = ecdsaCurves[key.keyType];
  if (curve === undefined) throw new UnsupportedKeyError(`SSH key type ${key.keyType} is not supported`);
  if (algorithm !== key.keyType) throw new UnsupportedKeyError(`signature algorithm ${shown(algorithm)} for a ${key.keyType} key`);
  const inner = new SshWireReader(signature);
  const r = inner.unsignedMpint();
  const s = inner.unsignedMpint();
  inner.end('ECDSA signature');
  const size = curve.coordinateLength;
  if (r.length > size || s.length > size) return false;
  const p1363 = Buffer.concat([Buffer.alloc(size - r.length), r, Buffer.alloc(size - s.length), s]);
  return crypto.verify(curve.hash, data, { key: key.keyObject, dsaEncoding: 'ieee-p1363' }, p1363);
}

/** Text read from a blob, quoted and cut short before it reaches a message. */
function shown(text: string): string {
  return JSON.stringify(text.slice(0, 64));
}
