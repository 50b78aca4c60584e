import { resolve } from 'node:path';
import { keyFilePath, modeOf, NEW_FILE_MODE, readRequired, write, writeAtomic, type FileOptions, type SecretsDeps } from './commands.js';
import { secretsError } from './errors.js';
import { encryptEnv, isEncryptedEnv } from './format.js';
import { loadKeyring } from './keyring.js';
import { serializePlainEnv } from './plaintext.js';
import { repoRelativePath } from './repo-path.js';
import { decryptSops, isSopsFile, loadSopsKeys, sopsEnvValues, sopsKeyFiles, type DecryptedSops, type SopsKeyOptions } from './sops/index.js';

// `capstan secrets decrypt` on a SOPS file and `capstan secrets import-sops`: for inspecting a
// SOPS file, and for leaving SOPS (the file becomes Capstan's own format, at the same path).

export async function decryptSopsText(deps: SecretsDeps, text: string, file: string, options: SopsKeyOptions): Promise<DecryptedSops> {
  const keyFiles = sopsKeyFiles(options, deps.env, deps.cwd);
  if (!keyFiles.ageKeyFile && !keyFiles.pgpKeyFile) {
    throw secretsError('SECRETS_NO_KEY_FILE', `${file} is a SOPS file: pass --age-key-file or --sops-pgp-key-file, or set CAPSTAN_AGE_KEY_FILE (or SOPS_AGE_KEY_FILE) or CAPSTAN_SOPS_PGP_KEY_FILE`, { file });
  }
  return decryptSops({ text, file, keys: await loadSopsKeys(keyFiles) });
}

/** Re-encrypts a flat SOPS env file (dotenv, YAML or JSON) into Capstan's format, in place. */
export async function importSopsFile(deps: SecretsDeps, file: string, options: FileOptions & SopsKeyOptions): Promise<void> {
  const path = resolve(deps.cwd, file);
  const text = await readRequired(deps.fs, path, file);
  if (isEncryptedEnv(text)) throw secretsError('SECRETS_ALREADY_ENCRYPTED', `${file} is already in Capstan's format`, { file });
  if (!isSopsFile(text)) throw secretsError('SECRETS_NOT_ENCRYPTED', `${file} is not a SOPS file (no sops metadata); for a plaintext file use \`capstan secrets encrypt\``, { file });
  const keyring = await loadKeyring(keyFilePath(deps, options), deps.fs);
  const decrypted = await decryptSopsText(deps, text, file, options);
  const values = Object.fromEntries(sopsEnvValues(decrypted, file));
  serializePlainEnv(values, file); // throws now for a value `decrypt` could not print back
  const repoPath = options.repoPath ?? (await repoRelativePath(file, deps.cwd, deps.fs));
  await writeAtomic(deps.fs, path, encryptEnv({ values, repoPath, keyring }), await modeOf(deps.fs, path, NEW_FILE_MODE));
  await write(
    deps.stderr,
    `imported ${Object.keys(values).length} variables from the SOPS file ${file} for ${repoPath} with key ${keyring.primary.id}; git history still holds the SOPS version, readable with the SOPS keys\n`,
  );
}
