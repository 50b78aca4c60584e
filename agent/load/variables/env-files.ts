// Encrypted env files named by manifests (`env_files:`) and the repository default `capstan.env`:
// found inside the checkout, refused unless encrypted (told from the header, never guessed from
// the content), decrypted with the keyring, each once per load however many manifests name it.
// Values stay in memory; problems name files, lines and variables, never a value.
import { parse as parseDotenv } from 'dotenv';
import { join, resolve } from 'node:path';
import { decryptEnvFile, isEncryptedEnv } from '../../../secrets/format.js';
import type { Keyring } from '../../../secrets/keyring.js';
import { decryptSops, hasSopsKeys, isSopsFile, parseSopsTree, scalarText, sopsEnvNames, sopsEnvValues, sopsFileContent, type SopsKeys } from '../../../secrets/sops/index.js';
import { CapstanError, type ManifestProblem } from '../../errors.js';
import type { SecretRegistry } from '../../secret-registry.js';
import { isInside, toRepoPath, type Checkout } from '../files/repo-files.js';
import { DEFAULT_ENV_FILE } from '../schema/patterns.js';

/**
 * How env files are read: decrypted with a keyring; or, for `capstan validate` without a key
 * (`unchecked`), only their names are read, since names are stored in the clear. Without either,
 * naming an env file is a SECRETS_NO_KEY problem.
 */
export interface EnvFileAccess {
  keyring?: Keyring;
  /** Age identities and OpenPGP keys for SOPS files (CAPSTAN_AGE_KEY_FILE, CAPSTAN_SOPS_PGP_KEY_FILE). */
  sopsKeys?: SopsKeys;
  unchecked?: boolean;
  /** As `unchecked`, for SOPS files when no SOPS key is at hand (`capstan validate`). */
  sopsUnchecked?: boolean;
  /** The agent's registry: every value is registered as it is decrypted, before anything can quote it. */
  secrets?: SecretRegistry;
}

export interface EnvFileVariables {
  values: ReadonlyMap<string, string>;
  /** Only the names are known (read unchecked); the values are stand-ins. */
  opaque: boolean;
}

/** Wrong in how a manifest names the file; reported at that `env_files` entry. */
export interface ReferenceProblem {
  code: string;
  message: string;
}

/**
 * A failed read's problem is either about the reference (`reference`), or inside the file, in
 * which case it is in `EnvFiles.problems`, once per file.
 */
export type EnvFileRead = { variables: EnvFileVariables } | { failed: true; reference?: ReferenceProblem };

/** A secret file's source (`secrets: {target: {file}}`): the decrypted content of a SOPS file. */
export type SecretFileRead = { content: string; opaque: boolean } | { failed: true; reference?: ReferenceProblem };

export interface EnvFiles {
  /** `path` as written in a manifest, relative to `fromDir` (the manifest's folder). */
  read(fromDir: string, path: string): Promise<EnvFileRead>;
  /** `capstan.env` in the manifests folder; undefined when there is none. */
  readDefault(folder: string): Promise<EnvFileRead | undefined>;
  /** A SOPS file named as a secret file's source, relative to `fromDir`; its problems as `read`'s. */
  readSecretFile(fromDir: string, path: string): Promise<SecretFileRead>;
  /** Problems located in env files (not encrypted, tampered, unknown key…), one per file. */
  readonly problems: ManifestProblem[];
  /** Repository paths of the files read for their names only. */
  readonly unchecked: string[];
  /** Every decrypted value, so messages from elsewhere can be scrubbed of them (agent/redact.ts). */
  readonly secretValues: Set<string>;
}

/** What a variable of an unchecked file resolves to: non-empty, so `${VAR:?}` holds. */
const STAND_IN = 'unchecked';

export function openEnvFiles(checkout: Checkout, access: EnvFileAccess): EnvFiles {
  const problems: ManifestProblem[] = [];
  const unchecked: string[] = [];
  const secretValues = new Set<string>();
  /** A decrypted value: kept for this load's redaction and registered with the process's registry at once. */
  const keepSecret = (value: string) => {
    secretValues.add(value);
    access.secrets?.register(value);
  };
  /** Every encrypted leaf of a decrypted SOPS file. */
  const keepSopsSecrets = (decrypted: Awaited<ReturnType<typeof decryptSops>>) => {
    for (const leaf of decrypted.leaves) if (leaf.encrypted) keepSecret(scalarText(leaf.value));
  };
  const byRepoPath = new Map<string, Promise<EnvFileRead>>();

  const decrypt = async (real: string, repoPath: string): Promise<EnvFileRead> => {
    const fileProblem = (code: string, message: string, line = 0, variable = ''): EnvFileRead => {
      problems.push({ code, file: repoPath, line, column: line > 0 ? 1 : 0, key: variable, message });
      return { failed: true };
    };
    let text: string;
    try {
      const read = await checkout.reader.read(real, repoPath);
      if ('problem' in read) return fileProblem(read.problem.code, read.problem.message, read.problem.line);
      text = read.text;
    } catch (error) {
      return fileProblem('ENV_FILE_UNREADABLE', `the env file cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    const failed = (error: unknown): EnvFileRead => {
      if (!(error instanceof CapstanError)) throw error;
      const line = typeof error.data.line === 'number' ? error.data.line : 0;
      const variable = typeof error.data.variable === 'string' ? error.data.variable : '';
      return fileProblem(error.code, withoutPlace(error.message, repoPath, line, variable), line, variable);
    };
    if (!isEncryptedEnv(text) && isSopsFile(text)) return readSops(text, repoPath, failed);
    if (!isEncryptedEnv(text)) {
      const message = `the env file is not encrypted (line 1 is not a capstan-secrets header, and it has no SOPS metadata); encrypt it with \`capstan secrets encrypt ${repoPath}\` (or SOPS), and change any value that was pushed in plaintext: git history keeps it`;
      return fileProblem('SECRETS_NOT_ENCRYPTED', message, 1);
    }
    if (!access.keyring) {
      if (!access.unchecked) {
        const message = `env file '${repoPath}' cannot be decrypted: no key file is configured; pass --key-file or set CAPSTAN_KEY_FILE`;
        return { failed: true, reference: { code: 'SECRETS_NO_KEY', message } };
      }
      unchecked.push(repoPath);
      const names = Object.keys(parseDotenv(text));
      return { variables: { values: new Map(names.map((name) => [name, STAND_IN])), opaque: true } };
    }
    try {
      const values = decryptEnvFile({ text, repoPath, keyring: access.keyring });
      for (const value of Object.values(values)) keepSecret(value);
      return { variables: { values: new Map(Object.entries(values)), opaque: false } };
    } catch (error) {
      return failed(error);
    }
  };

  // A SOPS file (detected by its metadata): decrypted with the host's age or OpenPGP keys, its
  // MAC verified; each encrypted value registered before anything else can quote it.
  const readSops = async (text: string, repoPath: string, failed: (error: unknown) => EnvFileRead): Promise<EnvFileRead> => {
    if (!hasSopsKeys(access.sopsKeys)) {
      if (!access.sopsUnchecked) {
        const message = `env file '${repoPath}' is a SOPS file and no SOPS key is configured; set CAPSTAN_AGE_KEY_FILE (or SOPS_AGE_KEY_FILE) or CAPSTAN_SOPS_PGP_KEY_FILE`;
        return { failed: true, reference: { code: 'SOPS_NO_KEY', message } };
      }
      try {
        const names = sopsEnvNames(parseSopsTree(text, repoPath).branches);
        unchecked.push(repoPath);
        return { variables: { values: new Map(names.map((name) => [name, STAND_IN])), opaque: true } };
      } catch (error) {
        return failed(error);
      }
    }
    try {
      const decrypted = await decryptSops({ text, file: repoPath, keys: access.sopsKeys });
      keepSopsSecrets(decrypted);
      return { variables: { values: sopsEnvValues(decrypted, repoPath), opaque: false } };
    } catch (error) {
      return failed(error);
    }
  };

  const read = async (fromDir: string, path: string): Promise<EnvFileRead> => {
    const located = await locateEnvFile(checkout, fromDir, path);
    if ('code' in located) return { failed: true, reference: located };
    let pending = byRepoPath.get(located.repoPath);
    if (!pending) {
      pending = decrypt(located.real, located.repoPath);
      byRepoPath.set(located.repoPath, pending);
    }
    return pending;
  };

  const readDefault = async (folder: string): Promise<EnvFileRead | undefined> => {
    const exists = await checkout.files.stat(join(folder, DEFAULT_ENV_FILE)).then(
      () => true,
      () => false,
    );
    if (!exists) return undefined;
    const result = await read(folder, DEFAULT_ENV_FILE);
    if ('failed' in result && result.reference) {
      const file = toRepoPath(checkout.root, join(folder, DEFAULT_ENV_FILE));
      problems.push({ code: result.reference.code, file, line: 0, column: 0, key: '', message: result.reference.message });
    }
    return result;
  };

  const secretFiles = new Map<string, Promise<SecretFileRead>>();
  const decryptSecretFile = async (real: string, repoPath: string): Promise<SecretFileRead> => {
    const fileProblem = (code: string, message: string, line = 0, variable = ''): SecretFileRead => {
      problems.push({ code, file: repoPath, line, column: line > 0 ? 1 : 0, key: variable, message });
      return { failed: true };
    };
    // Bounded and strict UTF-8 like every file of the commit (load/files/read-text.ts).
    const read = await checkout.reader.read(real, repoPath).catch(() => undefined);
    const text = read && 'text' in read ? read.text : undefined;
    if (text === undefined) return fileProblem('SECRET_FILE_UNREADABLE', 'the secret file cannot be read');
    if (isEncryptedEnv(text) || !isSopsFile(text)) {
      const message = 'a secret file source must be a SOPS-encrypted file (anyone who reads the repository reads a plaintext one); encrypt it with sops, or use `value: ${VAR}` with an encrypted env file';
      return fileProblem('SECRET_FILE_NOT_ENCRYPTED', message, 1);
    }
    if (!hasSopsKeys(access.sopsKeys)) {
      if (access.sopsUnchecked) {
        unchecked.push(repoPath);
        return { content: STAND_IN, opaque: true };
      }
      const message = `secret file '${repoPath}' is a SOPS file and no SOPS key is configured; set CAPSTAN_AGE_KEY_FILE (or SOPS_AGE_KEY_FILE) or CAPSTAN_SOPS_PGP_KEY_FILE`;
      return { failed: true, reference: { code: 'SOPS_NO_KEY', message } };
    }
    try {
      const decrypted = await decryptSops({ text, file: repoPath, keys: access.sopsKeys });
      keepSopsSecrets(decrypted);
      const content = sopsFileContent(decrypted, repoPath);
      if (decrypted.leaves.some((leaf) => leaf.encrypted)) keepSecret(content);
      return { content, opaque: false };
    } catch (error) {
      if (!(error instanceof CapstanError)) throw error;
      const line = typeof error.data.line === 'number' ? error.data.line : 0;
      const variable = typeof error.data.variable === 'string' ? error.data.variable : '';
      return fileProblem(error.code, withoutPlace(error.message, repoPath, line, variable), line, variable);
    }
  };
  const readSecretFile = async (fromDir: string, path: string): Promise<SecretFileRead> => {
    const located = await locateEnvFile(checkout, fromDir, path);
    if ('code' in located) return { failed: true, reference: { code: located.code.replace(/^ENV_FILE_/, 'SECRET_FILE_'), message: located.message.replaceAll('env file', 'secret file') } };
    let pending = secretFiles.get(located.repoPath);
    if (!pending) {
      pending = decryptSecretFile(located.real, located.repoPath);
      secretFiles.set(located.repoPath, pending);
    }
    return pending;
  };

  return { read, readDefault, readSecretFile, problems, unchecked, secretValues };
}

async function locateEnvFile(checkout: Checkout, fromDir: string, path: string): Promise<{ real: string; repoPath: string } | ReferenceProblem> {
  const outside = 'the env file path leaves the checkout; env files must be committed in the manifests repository';
  const absolute = resolve(fromDir, path);
  if (!isInside(checkout.root, absolute)) return { code: 'ENV_FILE_OUTSIDE_CHECKOUT', message: outside };
  const notFound = {
    code: 'ENV_FILE_NOT_FOUND',
    message: `the env file does not exist in the checkout (paths start from the manifest's folder, '${toRepoPath(checkout.root, fromDir)}'); commit it or fix the path`,
  };
  const real = await checkout.files.realpath(absolute).catch(() => undefined);
  if (!real) return notFound;
  if (!isInside(checkout.realRoot, real)) return { code: 'ENV_FILE_OUTSIDE_CHECKOUT', message: `${outside} (through a symbolic link)` };
  if (!(await checkout.files.stat(real)).isFile()) return { ...notFound, message: 'the env file path names a folder, not a file' };
  // Values are bound to where the bytes live, so a link is read as the file it points to.
  return { real, repoPath: toRepoPath(checkout.realRoot, real) };
}

/** The secrets library's messages start with `file:line: variable:`, which the problem carries already. */
function withoutPlace(message: string, file: string, line: number, variable: string): string {
  const prefixes = [`${file}:${line}: ${variable}: `, `${file}:${line}: `, `${file}: ${variable}: `, `${file}: `];
  const prefix = prefixes.find((candidate) => message.startsWith(candidate));
  return prefix ? message.slice(prefix.length) : message;
}
