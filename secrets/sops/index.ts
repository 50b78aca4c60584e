// SOPS files (getsops/sops) read beside Capstan's own format: age and OpenPGP keys, dotenv, YAML
// and JSON, MAC verified. See the README's SOPS section for what is and is not supported.
export { isSopsFile, hasSopsMetadata, parseSopsTree, MAX_SOPS_BYTES } from './tree.js';
export { decryptSops, openSopsDataKey, goFormatFloat } from './decrypt.js';
export type { DecryptedSops } from './decrypt.js';
export { loadSopsKeys, sopsKeyFiles, parseAgeKeys, parsePgpKeys, hasSopsKeys, pgpFingerprints } from './keys.js';
export type { SopsKeys, SopsKeyFiles, SopsKeyOptions } from './keys.js';
export { goRfc3339 } from './metadata.js';
export { sopsEnvValues, sopsEnvNames, emitPlain, scalarText, sopsFileContent } from './plain.js';
