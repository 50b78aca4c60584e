import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { randomBytes } from '@noble/ciphers/utils.js';

export const MASTER_KEY_BYTES = 32;
export const NONCE_BYTES = 24;
export const TAG_BYTES = 16;
/** Plaintexts are padded to a multiple of this, so a ciphertext shows a value's length only
 *  to within 32 bytes: "hunter2" and a 20-character password look the same. */
export const PAD_BLOCK = 32;
export const KEY_ID_BYTES = 8;

export interface FileKeys {
  encryptionKey: Uint8Array;
  macKey: Uint8Array;
}

// Separate subkeys, so the value cipher and the file MAC never share a key.
const INFO_ENCRYPTION = 'capstan-secrets v1 value-encryption';
const INFO_MAC = 'capstan-secrets v1 file-mac';
const INFO_KEY_ID = 'capstan-secrets v1 key-id';

function hkdf(masterKey: Uint8Array, info: string, length: number): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', masterKey, new Uint8Array(0), info, length));
}

export function deriveFileKeys(masterKey: Uint8Array): FileKeys {
  return { encryptionKey: hkdf(masterKey, INFO_ENCRYPTION, 32), macKey: hkdf(masterKey, INFO_MAC, 32) };
}

/** A key's id is derived from it, so a key file line whose id and secret disagree is caught
 *  on load, and an id reveals nothing usable about the key. 16 hex characters. */
export function keyIdOf(masterKey: Uint8Array): string {
  return Buffer.from(hkdf(masterKey, INFO_KEY_ID, KEY_ID_BYTES)).toString('hex');
}

export function newMasterKey(): Uint8Array {
  return randomBytes(MASTER_KEY_BYTES);
}

/** Associated data: a value decrypts only under the file path and variable it was written for. */
export function valueAad(repoPath: string, name: string): Uint8Array {
  return new TextEncoder().encode(`capstan-secrets v1 value\0${repoPath}\0${name}`);
}

function pad(plain: Uint8Array): Uint8Array {
  const padded = new Uint8Array(Math.ceil((plain.length + 1) / PAD_BLOCK) * PAD_BLOCK);
  padded.set(plain);
  padded[plain.length] = 0x80;
  return padded;
}

function unpad(padded: Uint8Array): Uint8Array | undefined {
  let end = padded.length - 1;
  while (end >= 0 && padded[end] === 0) end--;
  return end >= 0 && padded[end] === 0x80 ? padded.subarray(0, end) : undefined;
}

/** nonce ‖ ciphertext ‖ tag, with a fresh random 24-byte nonce for every value. */
export function sealValue(encryptionKey: Uint8Array, aad: Uint8Array, value: string): Uint8Array {
  const nonce = randomBytes(NONCE_BYTES);
  const sealed = xchacha20poly1305(encryptionKey, nonce, aad).encrypt(pad(new TextEncoder().encode(value)));
  const out = new Uint8Array(NONCE_BYTES + sealed.length);
  out.set(nonce);
  out.set(sealed, NONCE_BYTES);
  return out;
}

/** The value, or undefined when the bytes do not authenticate under this key, path and name. */
export function openValue(encryptionKey: Uint8Array, aad: Uint8Array, sealed: Uint8Array): string | undefined {
  if (sealed.length < NONCE_BYTES + TAG_BYTES + PAD_BLOCK) return undefined;
  let padded: Uint8Array;
  try {
    padded = xchacha20poly1305(encryptionKey, sealed.subarray(0, NONCE_BYTES), aad).decrypt(sealed.subarray(NONCE_BYTES));
  } catch {
    return undefined;
  }
  const plain = unpad(padded);
  if (plain === undefined) return undefined;
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(plain);
  } catch {
    return undefined;
  }
}

/** HMAC-SHA256 over every byte before the trailer, bound to the file's repository path. */
export function fileMac(macKey: Uint8Array, repoPath: string, body: string): Uint8Array {
  const hmac = createHmac('sha256', macKey);
  hmac.update(`capstan-secrets v1 file\0${repoPath}\0`, 'utf8');
  hmac.update(body, 'utf8');
  return new Uint8Array(hmac.digest());
}

export function macsEqual(expected: Uint8Array, actual: Uint8Array): boolean {
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

/** Strict base64url (no padding): Buffer.from alone skips characters it does not know. */
export function decodeBase64url(text: string): Uint8Array | undefined {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) return undefined;
  const bytes = Buffer.from(text, 'base64url');
  return bytes.toString('base64url') === text ? new Uint8Array(bytes) : undefined;
}

export function encodeBase64url(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64url');
}
