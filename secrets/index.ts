// Encrypted env files: the library the agent's loader uses, and `capstan secrets …`.
export { isEncryptedEnv, decryptEnvFile, decryptEnvDocument, encryptEnv, isValidName } from './format.js';
export type { DecryptedEnv, EncryptedEntry } from './format.js';
export { loadKeyring, parseKeyring, serializeKeyring, findKey, newKeyringKey, addPrimaryKey } from './keyring.js';
export type { Keyring, KeyringKey } from './keyring.js';
export { parsePlainEnv, serializePlainEnv } from './plaintext.js';
export { repoRelativePath } from './repo-path.js';
export type { SecretsErrorCode } from './errors.js';
export { keygen, setVariable, unsetVariable, encryptFile, decryptFile, editFile, rotateFiles } from './commands.js';
export type { SecretsDeps, SecretsFs, FileOptions, KeyFileOptions } from './commands.js';
export { secretsCommand } from './cli.js';
export { importSopsFile } from './sops-commands.js';
export { systemSecretsDeps, spawnEditor } from './system.js';
