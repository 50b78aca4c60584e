import { randomBytes } from 'node:crypto';
import type * as fsPromises from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import type { Clock } from '../agent/clock.js';
import { secretsError } from './errors.js';
import { decryptEnvDocument, encryptEnv, isEncryptedEnv, isValidName, type DecryptedEnv } from './format.js';
import { addPrimaryKey, loadKeyring, newKeyringKey, parseKeyring, serializeKeyring, type Keyring } from './keyring.js';
import { dotenvLine, parsePlainEnv, serializePlainEnv } from './plaintext.js';
import { repoRelativePath } from './repo-path.js';
import { decryptSopsText } from './sops-commands.js';
import { emitPlain, isSopsFile, type SopsKeyOptions } from './sops/index.js';

// `capstan secrets …`, as functions over injected I/O. Values travel only through stdin, the
// editor's temporary file and `decrypt`'s stdout; messages name files and variables only.

export type SecretsFs = Pick<typeof fsPromises, 'readFile' | 'writeFile' | 'rename' | 'rm' | 'stat' | 'mkdtemp' | 'chmod'>;

export interface SecretsDeps {
  fs: SecretsFs;
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  env: Record<string, string | undefined>;
  cwd: string;
  clock: Pick<Clock, 'now'>;
  /** Runs the editor command on a file and resolves with its exit status. */
  spawnEditor(editorCommand: string, filePath: string): Promise<number>;
  /** Folders `edit` may hold its plaintext copy in, first writable wins: memory-backed first. */
  editTempDirs: string[];
}

export interface KeyFileOptions {
  keyFile?: string;
}

export interface FileOptions extends KeyFileOptions {
  /** Overrides the repository-relative path the values are bound to. */
  repoPath?: string;
}

export const NEW_FILE_MODE = 0o644;
const KEY_FILE_MODE = 0o600;

export function keyFilePath(deps: SecretsDeps, options: KeyFileOptions): string {
  const path = options.keyFile ?? deps.env.CAPSTAN_KEY_FILE;
  if (!path) throw secretsError('SECRETS_NO_KEY_FILE', 'no key file: pass --key-file or set CAPSTAN_KEY_FILE');
  return resolve(deps.cwd, path);
}

async function readOptional(fs: SecretsFs, path: string): Promise<string | undefined> {
  try {
    return await fs.readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

export async function readRequired(fs: SecretsFs, path: string, file: string): Promise<string> {
  const text = await readOptional(fs, path);
  if (text === undefined) throw secretsError('SECRETS_FILE_MISSING', `${file} does not exist`, { file });
  return text;
}

export async function modeOf(fs: SecretsFs, path: string, fallback: number): Promise<number> {
  try {
    return (await fs.stat(path)).mode & 0o777;
  } catch {
    return fallback;
  }
}

/** Write beside the target, then rename: a crash leaves the old file or the new one, never half. */
export async function writeAtomic(fs: SecretsFs, path: string, text: string, mode: number): Promise<void> {
  const temporary = `${path}.${randomBytes(6).toString('hex')}.capstan-tmp`;
  try {
    await fs.writeFile(temporary, text, { mode, flag: 'wx' });
    await fs.chmod(temporary, mode);
    await fs.rename(temporary, path);
  } catch (error) {
    await fs.rm(temporary, { force: true });
    throw error;
  }
}

export function write(stream: NodeJS.WritableStream, text: string): Promise<void> {
  return new Promise((done, fail) => stream.write(text, (error) => (error ? fail(error) : done())));
}

interface Target {
  path: string;
  file: string;
  repoPath: string;
  keyring: Keyring;
  /** The decrypted file; undefined when it does not exist yet. */
  existing?: DecryptedEnv;
}

async function openTarget(deps: SecretsDeps, file: string, options: FileOptions, create: boolean): Promise<Target> {
  const keyring = await loadKeyring(keyFilePath(deps, options), deps.fs);
  const path = resolve(deps.cwd, file);
  const repoPath = options.repoPath ?? (await repoRelativePath(file, deps.cwd, deps.fs));
  const text = create ? await readOptional(deps.fs, path) : await readRequired(deps.fs, path, file);
  if (text !== undefined) refuseSops(text, file);
  const existing = text === undefined ? undefined : decryptEnvDocument({ text, repoPath, keyring });
  return { path, file, repoPath, keyring, existing };
}

/** A SOPS file is neither plaintext to encrypt nor Capstan's format to edit: say what works on it. */
function refuseSops(text: string, file: string): void {
  if (isEncryptedEnv(text) || !isSopsFile(text)) return;
  throw secretsError('SECRETS_ALREADY_ENCRYPTED', `${file} is a SOPS file: edit it with sops, print it with \`capstan secrets decrypt\`, or convert it to Capstan's format with \`capstan secrets import-sops ${file}\``, { file });
}

function valuesOf(env: DecryptedEnv | undefined): Record<string, string> {
  return Object.fromEntries((env?.entries ?? []).map((entry) => [entry.name, entry.value]));
}

function sameValues(before: Record<string, string>, after: Record<string, string>): boolean {
  const beforeNames = Object.keys(before);
  const afterNames = Object.keys(after);
  return beforeNames.length === afterNames.length && beforeNames.every((name, index) => afterNames[index] === name && after[name] === before[name]);
}

/** Re-encrypts only when something changed, keeping the tokens of unchanged values. */
async function save(deps: SecretsDeps, target: Target, values: Record<string, string>): Promise<boolean> {
  if (target.existing && sameValues(valuesOf(target.existing), values)) return false;
  const text = encryptEnv({ values, repoPath: target.repoPath, keyring: target.keyring, previous: target.existing });
  await writeAtomic(deps.fs, target.path, text, await modeOf(deps.fs, target.path, NEW_FILE_MODE));
  return true;
}

function checkName(name: string, file: string): void {
  if (!isValidName(name)) {
    throw secretsError('SECRETS_INVALID_NAME', `${file}: invalid variable name ${JSON.stringify(name)} (letters, digits, _ . -; not starting with a digit)`, {
      file,
      variable: name,
    });
  }
}

export async function keygen(deps: SecretsDeps, options: KeyFileOptions & { add?: boolean }): Promise<void> {
  const path = keyFilePath(deps, options);
  const existing = await readOptional(deps.fs, path);
  if (existing !== undefined && !options.add) {
    throw secretsError('SECRETS_KEY_FILE_EXISTS', `key file ${path} exists; refusing to overwrite it (pass --add to add a new primary key to it)`, {
      file: path,
    });
  }
  const key = newKeyringKey(deps.clock.now());
  if (existing === undefined) {
    await deps.fs.writeFile(path, serializeKeyring([key]), { mode: KEY_FILE_MODE, flag: 'wx' });
    await deps.fs.chmod(path, KEY_FILE_MODE);
  } else {
    await writeAtomic(deps.fs, path, serializeKeyring(addPrimaryKey(parseKeyring(existing, path).keys, key)), KEY_FILE_MODE);
  }
  await write(deps.stdout, `${key.id}\n`);
  await write(deps.stderr, `${existing === undefined ? 'wrote' : 'added'} key ${key.id} (primary) to ${path}\n`);
}

async function readValue(deps: SecretsDeps, name: string): Promise<string> {
  if (deps.stdin.isTTY) await write(deps.stderr, `value for ${name} (end with Ctrl-D):\n`);
  const chunks: Buffer[] = [];
  for await (const chunk of deps.stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

export async function setVariable(deps: SecretsDeps, file: string, name: string, options: FileOptions): Promise<void> {
  checkName(name, file);
  const target = await openTarget(deps, file, options, true);
  const value = await readValue(deps, name);
  // Refuse now what `decrypt` and `edit` could not print later.
  dotenvLine(name, value, file);
  const changed = await save(deps, target, { ...valuesOf(target.existing), [name]: value });
  await write(deps.stderr, changed ? `set ${name} in ${file}\n` : `${name} in ${file} is unchanged\n`);
}

export async function unsetVariable(deps: SecretsDeps, file: string, name: string, options: FileOptions): Promise<void> {
  checkName(name, file);
  const target = await openTarget(deps, file, options, true);
  const values = valuesOf(target.existing);
  const present = name in values;
  delete values[name];
  await save(deps, target, values);
  await write(deps.stderr, present ? `removed ${name} from ${file}\n` : `${name} is not set in ${file}\n`);
}

export async function encryptFile(deps: SecretsDeps, file: string, options: FileOptions): Promise<void> {
  const keyring = await loadKeyring(keyFilePath(deps, options), deps.fs);
  const path = resolve(deps.cwd, file);
  const text = await readRequired(deps.fs, path, file);
  if (isEncryptedEnv(text)) throw secretsError('SECRETS_ALREADY_ENCRYPTED', `${file} is already encrypted`, { file });
  refuseSops(text, file);
  const values = parsePlainEnv(text, file);
  serializePlainEnv(values, file); // throws now for a value `decrypt` could not print back
  const repoPath = options.repoPath ?? (await repoRelativePath(file, deps.cwd, deps.fs));
  await writeAtomic(deps.fs, path, encryptEnv({ values, repoPath, keyring }), await modeOf(deps.fs, path, NEW_FILE_MODE));
  await write(deps.stderr, `encrypted ${Object.keys(values).length} variables in ${file} for ${repoPath} with key ${keyring.primary.id}\n`);
}

export async function decryptFile(deps: SecretsDeps, file: string, options: FileOptions & SopsKeyOptions): Promise<void> {
  // A SOPS file prints as `sops --decrypt` would; it needs SOPS keys, not Capstan's key file.
  const text = await readRequired(deps.fs, resolve(deps.cwd, file), file);
  if (!isEncryptedEnv(text) && isSopsFile(text)) {
    await write(deps.stdout, emitPlain(await decryptSopsText(deps, text, file, options)));
    return;
  }
  const target = await openTarget(deps, file, options, false);
  await write(deps.stdout, serializePlainEnv(valuesOf(target.existing), file));
}

async function makeEditFolder(deps: SecretsDeps): Promise<string> {
  for (const root of deps.editTempDirs) {
    try {
      return await deps.fs.mkdtemp(join(root, 'capstan-edit-'));
    } catch {
      // Not writable here (no /dev/shm, read-only): try the next folder.
    }
  }
  throw secretsError('SECRETS_EDITOR_FAILED', `no writable folder for the temporary copy among ${deps.editTempDirs.join(', ')}`);
}

function describeChanges(before: Record<string, string>, after: Record<string, string>): string {
  const added = Object.keys(after).filter((name) => !(name in before));
  const removed = Object.keys(before).filter((name) => !(name in after));
  const changed = Object.keys(after).filter((name) => name in before && before[name] !== after[name]);
  const parts = [['added', added], ['changed', changed], ['removed', removed]] as const;
  return parts
    .filter(([, names]) => names.length > 0)
    .map(([verb, names]) => `${verb} ${names.join(', ')}`)
    .join('; ');
}

export async function editFile(deps: SecretsDeps, file: string, options: FileOptions): Promise<void> {
  const target = await openTarget(deps, file, options, true);
  const before = valuesOf(target.existing);
  const editor = deps.env.EDITOR || deps.env.VISUAL || 'vi';
  const folder = await makeEditFolder(deps);
  try {
    const copy = join(folder, basename(target.path));
    const intro = `# ${target.repoPath}: dotenv syntax, one NAME=value a line. Comments are not kept.\n`;
    await deps.fs.writeFile(copy, intro + serializePlainEnv(before, file), { mode: 0o600, flag: 'wx' });
    await deps.fs.chmod(copy, 0o600);
    const status = await deps.spawnEditor(editor, copy);
    if (status !== 0) {
      throw secretsError('SECRETS_EDITOR_FAILED', `editor ${JSON.stringify(editor)} exited with status ${status}; ${file} is unchanged`, { file, status });
    }
    const after = parsePlainEnv(await deps.fs.readFile(copy, 'utf8'), file);
    serializePlainEnv(after, file); // throws now for a value the next `edit` could not show
    if (!target.existing && Object.keys(after).length === 0) {
      await write(deps.stderr, `no variables; ${file} not created\n`);
      return;
    }
    const changed = await save(deps, target, after);
    await write(deps.stderr, changed ? `saved ${file}: ${describeChanges(before, after) || 'reordered'}\n` : `${file} is unchanged\n`);
  } finally {
    await deps.fs.rm(folder, { recursive: true, force: true });
  }
}

/** Re-encrypts every file under the primary key. All files are decrypted before any is written. */
export async function rotateFiles(deps: SecretsDeps, files: string[], options: FileOptions): Promise<void> {
  if (options.repoPath !== undefined && files.length > 1) {
    throw secretsError('SECRETS_USAGE', '--repo-path applies to one file; rotate the files one at a time');
  }
  const keyring = await loadKeyring(keyFilePath(deps, options), deps.fs);
  const rotations: Array<{ file: string; path: string; text: string; from: string }> = [];
  for (const file of files) {
    const path = resolve(deps.cwd, file);
    const repoPath = options.repoPath ?? (await repoRelativePath(file, deps.cwd, deps.fs));
    const text = await readRequired(deps.fs, path, file);
    refuseSops(text, file);
    const existing = decryptEnvDocument({ text, repoPath, keyring });
    if (existing.keyId === keyring.primary.id) {
      await write(deps.stderr, `${file} already uses key ${existing.keyId}\n`);
      continue;
    }
    rotations.push({ file, path, from: existing.keyId, text: encryptEnv({ values: valuesOf(existing), repoPath, keyring }) });
  }
  for (const rotation of rotations) {
    await writeAtomic(deps.fs, rotation.path, rotation.text, await modeOf(deps.fs, rotation.path, NEW_FILE_MODE));
    await write(deps.stderr, `rotated ${rotation.file}: key ${rotation.from} -> ${keyring.primary.id}\n`);
  }
}
