import crypto from 'node:crypto';
import { verifySshSignature, type SshPublicKey } from './ssh-keys.js';
import { SshWireError, SshWireReader } from './ssh-wire.js';

/**
 * The SSHSIG envelope git writes with `gpg.format=ssh` (OpenSSH's PROTOCOL.sshsig):
 *
 *   byte[6] "SSHSIG"  uint32 version (1)  string publickey  string namespace
 *   string reserved   string hash_algorithm  string signature
 *
 * and what the signature covers:
 *
 *   byte[6] "SSHSIG"  string namespace  string reserved  string hash_algorithm  string H(message)
 *
 * Binding the namespace into the signed data is what stops a signature made for another use
 * (`file`, `email`) from passing as a git signature.
 */
export interface SshSignatureEnvelope {
  publicKey: Buffer;
  namespace: string;
  reserved: Buffer;
  hashAlgorithm: string;
  signature: Buffer;
}

const magic = Buffer.from('SSHSIG');
const armorBegin = '-----BEGIN SSH SIGNATURE-----';
const armorEnd = '-----END SSH SIGNATURE-----';
const hashAlgorithms = new Set(['sha256', 'sha512']);

/** Throws SshWireError when the armor or the envelope is malformed. */
export function parseSshSignature(armored: string): SshSignatureEnvelope {
  const text = armored.trim();
  if (!text.startsWith(armorBegin) || !text.endsWith(armorEnd)) throw new SshWireError('not an armored SSH signature');
  const body = text.slice(armorBegin.length, text.length - armorEnd.length).replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body)) throw new SshWireError('SSH signature armor holds non-base64 characters');
  const reader = new SshWireReader(Buffer.from(body, 'base64'));
  if (!reader.bytes(magic.length).equals(magic)) throw new SshWireError('SSH signature lacks the SSHSIG preamble');
  const version = reader.uint32();
  if (version !== 1) throw new SshWireError(`SSHSIG version ${version} is not supported`);
  const envelope: SshSignatureEnvelope = {
    publicKey: Buffer.from(reader.string()),
    namespace: reader.text(),
    reserved: Buffer.from(reader.string()),
    hashAlgorithm: reader.text(),
    signature: Buffer.from(reader.string()),
  };
  reader.end('SSH signature');
  return envelope;
}

/** The exact bytes the signer's key signed, for `message` under the envelope's parameters. */
export function signedData(envelope: SshSignatureEnvelope, message: Buffer): Buffer {
  const digest = crypto.createHash(envelope.hashAlgorithm).update(message).digest();
  return Buffer.concat([magic, sshString(Buffer.from(envelope.namespace)), sshString(envelope.reserved),
    sshString(Buffer.from(envelope.hashAlgorithm)), sshString(digest)]);
}

export type SshSignatureCheck =
  | { valid: true }
  | { valid: false; reason: string };

/**
 * Verifies the envelope over `message` with `key` (which the caller has matched against the
 * trust file). Throws UnsupportedKeyError for algorithms that cannot be checked.
 */
export function verifySshEnvelope(envelope: SshSignatureEnvelope, key: SshPublicKey, message: Buffer, namespace: string): SshSignatureCheck {
  // Both fields are the signer's text: quoted and cut short before they reach a log line.
  if (envelope.namespace !== namespace) return { valid: false, reason: `signed for namespace ${quoted(envelope.namespace)}, not "${namespace}"` };
  if (!hashAlgorithms.has(envelope.hashAlgorithm)) return { valid: false, reason: `hash algorithm ${quoted(envelope.hashAlgorithm)} is not allowed` };
  if (!envelope.publicKey.equals(key.blob)) return { valid: false, reason: 'the envelope names another key' };
  if (!verifySshSignature(key, envelope.signature, signedData(envelope, message))) {
    return { valid: false, reason: 'the signature does not match the signed content' };
  }
  return { valid: true };
}

function quoted(text: string): string {
  return JSON.stringify(text.slice(0, 64));
}

function sshString(value: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(value.length);
  return Buffer.concat([length, value]);
}
