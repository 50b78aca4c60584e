// Env files of a Compose folder: the folder's `.env` (variables for `${VAR}`) and the services'
// `env_file`s. Compose users commit them in plaintext, and the issue asks for Compose folders to
// run unchanged, so here a plaintext file is read as it is, with a note in `plan` saying anyone
// who reads the repository reads it; an encrypted one (capstan-secrets header, or SOPS metadata) goes through the
// loader's own env files: decrypted with the key file, checked for tampering. The native format
// keeps refusing plaintext: converting to it means encrypting these files.
import { parse as parseDotenv } from 'dotenv';
import { resolve } from 'node:path';
import { isEncryptedEnv } from '../../../secrets/format.js';
import { isSopsFile } from '../../../secrets/sops/index.js';
import type { EnvFileRead, EnvFiles } from '../variables/env-files.js';
import { isInside, toRepoPath, type Checkout } from '../files/repo-files.js';
import type { ManifestProblem } from '../../errors.js';
import type { Lookup } from '../variables/interpolate.js';
import type { Note } from './context.js';
import { expandDotenv } from './dotenv-expand.js';

/** `outer` resolves what a plaintext file's values use beyond their own file (dotenv-expand.ts); asked at each read. */
export function composeEnvFiles(checkout: Checkout, encrypted: EnvFiles, notes: Note[], outer: () => Lookup): EnvFiles {
  const plaintext = new Map<string, Promise<EnvFileRead | undefined>>();
  const read = async (fromDir: string, path: string): Promise<EnvFileRead> => {
    const absolute = resolve(fromDir, path);
    let pending = plaintext.get(absolute);
    if (!pending) {
      pending = readPlaintext(checkout, absolute, notes, outer(), encrypted.problems);
      plaintext.set(absolute, pending);
    }
    return (await pending) ?? encrypted.read(fromDir, path);
  };
  return {
    read,
    readDefault: (folder) => encrypted.readDefault(folder),
    readSecretFile: (fromDir, path) => encrypted.readSecretFile(fromDir, path),
    get problems() {
      return encrypted.problems;
    },
    get unchecked() {
      return encrypted.unchecked;
    },
    get secretValues() {
      return encrypted.secretValues;
    },
  };
}

/** The file's variables when it is a plaintext file inside the checkout; else undefined, for the loader's own checks. */
async function readPlaintext(checkout: Checkout, absolute: string, notes: Note[], outer: Lookup, problems: ManifestProblem[]): Promise<EnvFileRead | undefined> {
  if (!isInside(checkout.root, absolute)) return undefined;
  const real = await checkout.files.realpath(absolute).catch(() => undefined);
  if (!real || !isInside(checkout.realRoot, real) || !(await checkout.files.stat(real)).isFile()) return undefined;
  const file = toRepoPath(checkout.realRoot, real);
  const read = await checkout.reader.read(real, file).catch(() => undefined);
  const text = read && 'text' in read ? read.text : undefined;
  // A SOPS file, even one whose metadata was cut out, is never read as plaintext.
  if (text === undefined || isEncryptedEnv(text) || isSopsFile(text)) return undefined;
  notes.push({
    code: 'COMPOSE_NOTE',
    file,
    line: 0,
    column: 0,
    key: '',
    message: `plaintext env file, read as Compose does; anyone who reads the repository reads its values: encrypt it with \`capstan secrets encrypt ${file}\` (Capstan reads both)`,
  });
  const unmarked = text.replace(/^\uFEFF/, '');
  const values = expandDotenv(unmarked, parseDotenv(unmarked), outer, file, problems);
  return { variables: { values, opaque: false } };
}
