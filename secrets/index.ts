// Encrypted env files: the library the agent's loader uses, and `capstan secrets …`.
export { isEncryptedEnv, decryptEnvFile, decryptEnvDocument, encryptEnv } from './format.js';
export { loadKeyring, parseKeyring, serializeKeyring, newKeyringKey, addPrimaryKey } from './keyring.js';
export type { Keyring, KeyringKey } from './keyring.js';
export { parsePlainEnv } from './plaintext.js';
export { keygen, setVariable, unsetVariable, encryptFile, decryptFile, editFile, rotateFiles } from './commands.js';
export type { SecretsDeps } from './commands.js';
export { secretsCommand } from './cli.js';
export { systemSecretsDeps, spawnEditor } from './system.js';
