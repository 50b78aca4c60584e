import type { Identity, Stanza } from 'age-encryption';
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256, sha512 } from '@noble/hashes/sha2.js';
import { secretsError } from '../errors.js';

// An OpenSSH Ed25519 private key as an age identity, as the age CLI and SOPS accept one
// (age's agessh package): the `ssh-ed25519` stanza wraps the file key for X25519 with the key's
// Montgomery form, tweaked by an HKDF of the SSH public key. `age-encryption` has no SSH
// support, so this is that package's Identity interface over @noble primitives. RSA keys are
// not supported.

const LABEL = new TextEncoder().encode('age-encryption.org/v1/ssh-ed25519');
const FILE_KEY_BYTES = 16;

export interface SshEd25519Key {
  /** The SSH public key in wire format (`string "ssh-ed25519" ‖ string key`). */
  wire: Uint8Array;
  seed: Uint8Array;
  /** `ssh-ed25519 AAAA…`, as SOPS writes the recipient. */
  recipient: string;
}

function reader(bytes: Uint8Array, fail: () => Error) {
  let offset = 0;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const take = (length: number) => {
    if (length < 0 || offset + length > bytes.length) throw fail();
    const out = bytes.subarray(offset, offset + length);
    offset += length;
    return out;
  };
  const uint32 = () => {
    if (offset + 4 > bytes.length) throw fail();
    const value = view.getUint32(offset);
    offset += 4;
    return value;
  };
  return { take, uint32, string: () => take(uint32()), text: () => Buffer.from(take(uint32())).toString('latin1') };
}

/** An unencrypted `-----BEGIN OPENSSH PRIVATE KEY-----` block holding one Ed25519 key. */
export function parseOpenSshEd25519(pem: string, source: string, line: number): SshEd25519Key {
  const fail = (problem = 'not an OpenSSH Ed25519 private key') => secretsError('SOPS_KEY_FILE_INVALID', `${source}:${line}: ${problem}`, { file: source, line });
  const body = pem.replace(/-----(BEGIN|END) OPENSSH PRIVATE KEY-----/g, '').replace(/\s+/g, '');
  const bytes = new Uint8Array(Buffer.from(body, 'base64'));
  const magic = new TextEncoder().encode('openssh-key-v1\0');
  if (bytes.length < magic.length || !magic.every((byte, index) => bytes[index] === byte)) throw fail();
  const read = reader(bytes.subarray(magic.length), () => fail());
  const cipher = read.text();
  read.text(); // kdf name
  read.string(); // kdf options
  if (cipher !== 'none') throw fail('the SSH key is protected by a passphrase, which Capstan cannot ask for');
  if (read.uint32() !== 1) throw fail('the file holds more than one SSH key');
  const wire = new Uint8Array(read.string());
  const keyType = reader(wire, () => fail()).text();
  if (keyType !== 'ssh-ed25519') throw fail(`SSH ${keyType} keys are not supported; use an Ed25519 key or an age identity`);
  const secret = reader(read.string(), () => fail());
  if (secret.uint32() !== secret.uint32()) throw fail('the SSH key is damaged (check bytes differ)');
  if (secret.text() !== 'ssh-ed25519') throw fail();
  const publicKey = secret.string();
  const privateKey = secret.string();
  if (publicKey.length !== 32 || privateKey.length !== 64) throw fail();
  return { wire, seed: new Uint8Array(privateKey.subarray(0, 32)), recipient: `ssh-ed25519 ${Buffer.from(wire).toString('base64')}` };
}

/** agessh Ed25519Identity.unwrap. */
export function sshEd25519Identity(key: SshEd25519Key): Identity {
  const publicKey = key.wire.subarray(key.wire.length - 32);
  const ourMontgomery = ed25519.utils.toMontgomery(publicKey);
  const scalar = sha512(key.seed).subarray(0, 32);
  const tag = Buffer.from(sha256(key.wire).subarray(0, 4)).toString('base64').replace(/=+$/, '');
  return {
    unwrapFileKey(stanzas: Stanza[]): Uint8Array | null {
      for (const stanza of stanzas) {
        if (stanza.args[0] !== 'ssh-ed25519' || stanza.args.length !== 3 || stanza.args[1] !== tag) continue;
        const theirs = Buffer.from(stanza.args[2], 'base64');
        if (theirs.length !== 32) throw new Error('invalid ssh-ed25519 stanza');
        const tweak = hkdf(sha256, new Uint8Array(0), key.wire, LABEL, 32);
        const shared = x25519.getSharedSecret(tweak, x25519.getSharedSecret(scalar, theirs));
        const salt = new Uint8Array([...theirs, ...ourMontgomery]);
        const wrappingKey = hkdf(sha256, shared, salt, LABEL, 32);
        if (stanza.body.length !== FILE_KEY_BYTES + 16) throw new Error('invalid ssh-ed25519 stanza');
        try {
          return chacha20poly1305(wrappingKey, new Uint8Array(12)).decrypt(stanza.body);
        } catch {
          return null;
        }
      }
      return null;
    },
  };
}
