import type * as openpgp from 'openpgp';
import { AllowedSignersError, decodeKey, looksLikeKeyType, parseAllowedSignersLine } from './allowed-signers.js';
import { trustFileInvalid } from './errors.js';
import { sshFingerprint } from './ssh-keys.js';
import type { OpenPgpSigner, RevokedKey, TrustedSigner } from './types.js';

type Fs = typeof import('node:fs');

const pgpBegin = '-----BEGIN PGP PUBLIC KEY BLOCK-----';
const pgpEnd = '-----END PGP PUBLIC KEY BLOCK-----';

/**
 * Reads the host's trust file (`--trust-file` / `CAPSTAN_TRUST_FILE`; it lives on the host,
 * never in the repository it vouches for). Three kinds of entries may be mixed, in any order:
 *
 *   # comments and blank lines
 *   alice@example.com ssh-ed25519 AAAAC3Nz…              allowed_signers lines (ssh-keygen(1))
 *   -----BEGIN PGP PUBLIC KEY BLOCK----- … -----END …    OpenPGP public keys (`gpg --export --armor`)
 *   @revoked SHA256:…  |  @revoked ssh-ed25519 AAAA…     refused even if listed above
 *   @revoked 34CC6EB7695AC18F61DD59373AD10754E8728A5A    (an OpenPGP key or subkey fingerprint)
 *
 * An armored block may also be a revocation certificate (`gpg --gen-revoke`) for a key in the
 * file: it is checked against that key and marks it revoked. Any line that does not parse
 * fails the whole file: a typo must never quietly drop a revocation.
 */
export async function loadTrustFile(fs: Fs, file: string): Promise<TrustedSigner[]> {
  let text: string;
  try {
    text = await fs.promises.readFile(file, 'utf8');
  } catch (cause) {
    const reason = (cause as NodeJS.ErrnoException).code ?? 'unreadable';
    throw trustFileInvalid(file, 0, `cannot be read (${reason})`, { cause });
  }
  return parseTrustFile(text, file);
}

export async function parseTrustFile(text: string, file: string): Promise<TrustedSigner[]> {
  const lines = text.split(/\r?\n/);
  const signers: TrustedSigner[] = [];
  const armoredBlocks: Array<{ armored: string; line: number }> = [];
  for (let index = 0; index < lines.length; index++) {
    const lineNumber = index + 1;
    const line = lines[index].trim();
    if (line === '' || line.startsWith('#')) continue;
    if (/^-----BEGIN (PGP|OPENSSH|RSA|EC|DSA|ENCRYPTED)? ?PRIVATE KEY( BLOCK)?-----$/.test(line)) {
      // Said without echoing anything of the block.
      throw trustFileInvalid(file, lineNumber, 'holds a private key: only public keys belong here; remove it and consider the key exposed');
    }
    if (line === pgpBegin) {
      const end = lines.findIndex((candidate, candidateIndex) => candidateIndex > index && candidate.trim() === pgpEnd);
      if (end < 0) throw trustFileInvalid(file, lineNumber, `${pgpBegin} has no ${pgpEnd}`);
      armoredBlocks.push({ armored: lines.slice(index, end + 1).map((blockLine) => blockLine.trim()).join('\n') + '\n', line: lineNumber });
      index = end;
      continue;
    }
    try {
      signers.push(line.startsWith('@revoked') ? parseRevokedLine(line, lineNumber) : parseAllowedSignersLine(line, lineNumber));
    } catch (error) {
      if (error instanceof AllowedSignersError) throw trustFileInvalid(file, lineNumber, error.message);
      throw error;
    }
  }
  const revocationCertificates: Array<{ armored: string; line: number }> = [];
  for (const block of armoredBlocks) {
    const keys = await readPublicKeys(block.armored, file, block.line);
    if (keys === undefined) revocationCertificates.push(block);
    else signers.push(...keys.map((key) => describeKey(key, block.line)));
  }
  for (const certificate of revocationCertificates) await applyRevocationCertificate(signers, certificate, file);
  if (!signers.some((signer) => signer.kind !== 'revoked')) {
    throw trustFileInvalid(file, 0, 'lists no signer: add allowed_signers lines or armored OpenPGP public keys');
  }
  return signers;
}

function parseRevokedLine(line: string, lineNumber: number): RevokedKey {
  const fields = line.split(/\s+/).slice(1);
  if (fields.length === 1 && /^SHA256:[A-Za-z0-9+/]{43}$/.test(fields[0])) {
    return { kind: 'revoked', fingerprint: fields[0], line: lineNumber };
  }
  if (fields.length === 1 && /^([0-9A-Fa-f]{40}|[0-9A-Fa-f]{64})$/.test(fields[0])) {
    return { kind: 'revoked', fingerprint: fields[0].toUpperCase(), line: lineNumber };
  }
  if (fields.length >= 2 && looksLikeKeyType(fields[0])) {
    return { kind: 'revoked', fingerprint: sshFingerprint(decodeKey(fields[0], fields[1])), line: lineNumber };
  }
  throw new AllowedSignersError('expected `@revoked SHA256:…`, `@revoked <OpenPGP fingerprint>` or `@revoked <keytype> <base64-key>`');
}

/** Undefined when the block holds no key (a revocation certificate is tried next). */
async function readPublicKeys(armored: string, file: string, line: number): Promise<openpgp.Key[] | undefined> {
  // Imported on first use: openpgp.js adds ~15 MB to the agent's resident memory, and a trust
  // file of SSH keys only never needs it.
  const { readKeys } = await import('openpgp');
  let keys: openpgp.Key[];
  try {
    keys = await readKeys({ armoredKeys: armored });
  } catch (cause) {
    if (/no key packet/i.test(String((cause as Error).message))) return undefined;
    throw trustFileInvalid(file, line, `the OpenPGP block does not parse: ${(cause as Error).message}`, { cause });
  }
  // Said without echoing anything of the block: it holds secret key material.
  if (keys.some((key) => key.isPrivate())) {
    throw trustFileInvalid(file, line, 'the OpenPGP block holds a private key: export the public key with `gpg --export --armor`');
  }
  return keys;
}

function describeKey(key: openpgp.Key, line: number): OpenPgpSigner {
  return {
    kind: 'openpgp',
    fingerprint: key.getFingerprint().toUpperCase(),
    keyFingerprints: key.getKeys().map((keyOrSubkey) => keyOrSubkey.getFingerprint().toUpperCase()),
    userIds: key.getUserIDs(),
    key,
    line,
  };
}

async function applyRevocationCertificate(signers: TrustedSigner[], certificate: { armored: string; line: number }, file: string): Promise<void> {
  const { revokeKey } = await import('openpgp');
  for (const signer of signers) {
    if (signer.kind !== 'openpgp') continue;
    try {
      const { publicKey } = await revokeKey({ key: signer.key, revocationCertificate: certificate.armored, format: 'object' });
      signer.key = publicKey;
      return;
    } catch {
      // Not this key's certificate (or not a certificate at all): try the next key.
    }
  }
  throw trustFileInvalid(file, certificate.line,
    'the OpenPGP block is neither a public key nor a valid revocation certificate for a key in this file');
}
