import { Command } from 'commander';
import { sopsKeyFiles as fromOptions, type SopsKeyFiles, type SopsKeyOptions } from '../../secrets/sops/index.js';

// Where the commands that read a checkout without the agent's configuration (`validate`,
// `convert`) find the keys for SOPS files: flags, then CAPSTAN_* variables, then SOPS's own
// SOPS_AGE_KEY_FILE.

export type { SopsKeyOptions } from '../../secrets/sops/index.js';

export function withSopsKeyOptions(command: Command): Command {
  return command
    .option('--age-key-file <file>', 'age identities for SOPS files (CAPSTAN_AGE_KEY_FILE, else SOPS_AGE_KEY_FILE)')
    .option('--sops-pgp-key-file <file>', 'OpenPGP secret keys for SOPS files, without a passphrase (CAPSTAN_SOPS_PGP_KEY_FILE)');
}

export function sopsKeyFiles(options: SopsKeyOptions, env: Record<string, string | undefined>, cwd = process.cwd()): SopsKeyFiles {
  return fromOptions(options, env, cwd);
}
