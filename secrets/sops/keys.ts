import { readFile, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import type * as openpgp from 'openpgp';
import { secretsError } from '../errors.js';
import type { SshEd25519Key } from './ssh.js';

// age-encryption, openpgp and the SSH code are imported when a key is read, not with the loader:
// `capstan run` idles for the host's life, and most hosts hold no SOPS keys (run-footprint test).

// The keys that open SOPS files on this host: age identities (`AGE-SECRET-KEY-1…`, one a line,
// `#` comments, as age-keygen writes them and SOPS reads SOPS_AGE_KEY_FILE) and OpenPGP secret
// keys (armored or binary, unprotected: no agent, no passphrase prompt). Both files must be
// private to their owner, as Capstan's own key file.

export interface AgeKey {
  /** `AGE-SECRET-KEY-1…`, or '' for an SSH key. */
  identity: string;
  /** `age1…`, or `ssh-ed25519 AAAA…` for an SSH key. */
  recipient: string;
  ssh?: SshEd25519Key;
}

export interface SopsKeys {
  age: AgeKey[];
  ageSource?: string;
  pgp: openpgp.PrivateKey[];
  pgpSource?: string;
}

export interface SopsKeyFiles {
  ageKeyFile?: string;
  pgpKeyFile?: string;
}

/** Flags of the commands that name SOPS key files. */
export interface SopsKeyOptions {
  ageKeyFile?: string;
  sopsPgpKeyFile?: string;
}

/** Flags, then CAPSTAN_* variables, then SOPS's own SOPS_AGE_KEY_FILE. */
export function sopsKeyFiles(options: SopsKeyOptions, env: Record<string, string | undefined>, cwd: string): SopsKeyFiles {
  const age = options.ageKeyFile ?? env.CAPSTAN_AGE_KEY_FILE ?? env.SOPS_AGE_KEY_FILE;
  const pgp = options.sopsPgpKeyFile ?? env.CAPSTAN_SOPS_PGP_KEY_FILE;
  return { ageKeyFile: age ? resolve(cwd, age) : undefined, pgpKeyFile: pgp ? resolve(cwd, pgp) : undefined };
}

const GROUP_OR_OTHERS = 0o077;

async function readPrivateFile(path: string, what: string): Promise<Buffer> {
  let mode: number;
  try {
    mode = (await stat(path)).mode;
  } catch (error) {
    throw secretsError('SECRETS_KEY_FILE_MISSING', `${what} ${path} cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`, { file: path });
  }
  if ((mode & GROUP_OR_OTHERS) !== 0) {
    const octal = `0${(mode & 0o777).toString(8)}`;
    throw secretsError('SECRETS_KEY_FILE_MODE', `${what} ${path} is accessible by group or others (mode ${octal}); it must be private to its owner: run \`chmod 600 ${path}\``, {
      file: path,
      mode: octal,
    });
  }
  return readFile(path);
}

export async function parseAgeKeys(text: string, source: string): Promise<AgeKey[]> {
  const keys: AgeKey[] = [];
  const lines = text.split('\n');
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index].trim();
    if (line === '' || line.startsWith('#')) continue;
    // An OpenSSH Ed25519 private key, as age -i and SOPS accept one.
    if (line === '-----BEGIN OPENSSH PRIVATE KEY-----') {
      const end = lines.findIndex((candidate, at) => at > index && candidate.trim() === '-----END OPENSSH PRIVATE KEY-----');
      if (end === -1) throw secretsError('SOPS_KEY_FILE_INVALID', `${source}:${index + 1}: the SSH key has no END line`, { file: source, line: index + 1 });
      const { parseOpenSshEd25519 } = await import('./ssh.js');
      const ssh = parseOpenSshEd25519(lines.slice(index, end + 1).join('\n'), source, index + 1);
      keys.push({ identity: '', recipient: ssh.recipient, ssh });
      index = end;
      continue;
    }
    if (!line.startsWith('AGE-SECRET-KEY-')) {
      const problem = line.startsWith('AGE-PLUGIN-')
        ? 'age plugin identities are not supported'
        : line.startsWith('-----BEGIN')
          ? 'only age identities and unencrypted OpenSSH Ed25519 keys (-----BEGIN OPENSSH PRIVATE KEY-----) are read'
          : 'expected an age identity (AGE-SECRET-KEY-1…)';
      throw secretsError('SOPS_KEY_FILE_INVALID', `${source}:${index + 1}: ${problem}`, { file: source, line: index + 1 });
    }
    try {
      const { identityToRecipient } = await import('age-encryption');
      keys.push({ identity: line, recipient: await identityToRecipient(line) });
    } catch {
      throw secretsError('SOPS_KEY_FILE_INVALID', `${source}:${index + 1}: not a valid age identity`, { file: source, line: index + 1 });
    }
  }
  if (keys.length === 0) throw secretsError('SOPS_KEY_FILE_INVALID', `${source}: no age identity in the file`, { file: source });
  return keys;
}

export async function parsePgpKeys(bytes: Uint8Array, source: string): Promise<openpgp.PrivateKey[]> {
  let keys: openpgp.PrivateKey[];
  const { readPrivateKeys } = await import('openpgp');
  try {
    const text = Buffer.from(bytes).toString('latin1');
    keys = text.includes('-----BEGIN PGP PRIVATE KEY BLOCK-----')
      ? await readPrivateKeys({ armoredKeys: text })
      : await readPrivateKeys({ binaryKeys: bytes });
  } catch {
    throw secretsError('SOPS_KEY_FILE_INVALID', `${source}: no OpenPGP secret key could be read (export one with \`gpg --export-secret-keys --armor FINGERPRINT\`)`, { file: source });
  }
  for (const key of keys) {
    if (!key.isDecrypted()) {
      throw secretsError('SOPS_KEY_FILE_INVALID', `${source}: key ${key.getFingerprint().toUpperCase()} is protected by a passphrase, which Capstan cannot ask for; export a copy without one for this host`, {
        file: source,
      });
    }
  }
  return keys;
}

/** Reads the configured key files; either may be absent. */
export async function loadSopsKeys(files: SopsKeyFiles): Promise<SopsKeys> {
  const keys: SopsKeys = { age: [], pgp: [] };
  if (files.ageKeyFile) {
    keys.age = await parseAgeKeys((await readPrivateFile(files.ageKeyFile, 'age key file')).toString('utf8'), files.ageKeyFile);
    keys.ageSource = files.ageKeyFile;
  }
  if (files.pgpKeyFile) {
    keys.pgp = await parsePgpKeys(await readPrivateFile(files.pgpKeyFile, 'OpenPGP key file'), files.pgpKeyFile);
    keys.pgpSource = files.pgpKeyFile;
  }
  return keys;
}

export function hasSopsKeys(keys: SopsKeys | undefined): keys is SopsKeys {
  return keys !== undefined && (keys.age.length > 0 || keys.pgp.length > 0);
}

/** The data key (or Shamir part) an age stanza holds, or undefined when none of our identities opens it. */
export async function openAgeStanza(enc: string, recipient: string, keys: SopsKeys): Promise<Uint8Array | undefined> {
  // SOPS writes the recipient beside the stanza (an SSH one with its comment): try the matching identity first, then the rest.
  const matches = (key: AgeKey) => key.recipient === recipient || (key.ssh !== undefined && recipient.startsWith(`${key.recipient} `));
  const ordered = [...keys.age.filter(matches), ...keys.age.filter((key) => !matches(key))];
  if (ordered.length === 0) return undefined;
  const { armor, Decrypter } = await import('age-encryption');
  const { sshEd25519Identity } = await import('./ssh.js');
  let ciphertext: Uint8Array;
  try {
    ciphertext = enc.includes('-----BEGIN AGE ENCRYPTED FILE-----') ? armor.decode(enc.trim() + '\n') : Buffer.from(enc, 'utf8');
  } catch {
    return undefined;
  }
  const decrypter = new Decrypter();
  for (const key of ordered) decrypter.addIdentity(key.ssh ? sshEd25519Identity(key.ssh) : key.identity);
  try {
    return await decrypter.decrypt(ciphertext);
  } catch {
    return undefined;
  }
}

/** The data key (or Shamir part) an OpenPGP message holds, or undefined when none of our keys opens it. */
export async function openPgpStanza(enc: string, keys: SopsKeys): Promise<Uint8Array | undefined> {
  if (keys.pgp.length === 0) return undefined;
  const { readMessage, decrypt } = await import('openpgp');
  try {
    const message = await readMessage({ armoredMessage: enc });
    const { data } = await decrypt({ message, decryptionKeys: keys.pgp, format: 'binary' });
    return data as Uint8Array;
  } catch {
    return undefined;
  }
}

export function pgpFingerprints(keys: SopsKeys): string[] {
  return keys.pgp.flatMap((key) => [key.getFingerprint(), ...key.getSubkeys().map((subkey) => subkey.getFingerprint())]).map((fingerprint) => fingerprint.toUpperCase());
}
