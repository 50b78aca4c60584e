import { Command, Option } from 'commander';
import { importSopsFile } from './sops-commands.js';
import { decryptFile, editFile, encryptFile, keygen, rotateFiles, setVariable, unsetVariable, type SecretsDeps } from './commands.js';

const keyFileOption = () => new Option('--key-file <file>', 'key file (default: $CAPSTAN_KEY_FILE)');
const ageKeyFileOption = () => new Option('--age-key-file <file>', 'age identities for SOPS files (default: $CAPSTAN_AGE_KEY_FILE, else $SOPS_AGE_KEY_FILE)');
const pgpKeyFileOption = () => new Option('--sops-pgp-key-file <file>', 'OpenPGP secret keys for SOPS files (default: $CAPSTAN_SOPS_PGP_KEY_FILE)');
type SopsFlags = { ageKeyFile?: string; sopsPgpKeyFile?: string };
const repoPathOption = () =>
  new Option('--repo-path <path>', 'bind the values to this repository-relative path instead of the one found from the nearest .git');

/** `capstan secrets …`; the caller attaches it with `program.addCommand(secretsCommand(deps))`. */
export function secretsCommand(deps: SecretsDeps): Command {
  const secrets = new Command('secrets').description('encrypted env files: variable names visible, each value encrypted');

  secrets
    .command('keygen')
    .description('write a new key file (mode 0600); with --add, add a new primary key to an existing one')
    .addOption(keyFileOption())
    .option('--add', 'add a key to an existing key file and make it primary')
    .action((options: { keyFile?: string; add?: boolean }) => keygen(deps, options));

  secrets
    .command('set')
    .description('set NAME to the value read from stdin (one trailing newline is dropped); creates FILE if needed')
    .argument('<file>')
    .argument('<name>')
    .addOption(keyFileOption())
    .addOption(repoPathOption())
    .action((file: string, name: string, options: { keyFile?: string; repoPath?: string }) => setVariable(deps, file, name, options));

  secrets
    .command('unset')
    .description('remove NAME; creates FILE if needed')
    .argument('<file>')
    .argument('<name>')
    .addOption(keyFileOption())
    .addOption(repoPathOption())
    .action((file: string, name: string, options: { keyFile?: string; repoPath?: string }) => unsetVariable(deps, file, name, options));

  secrets
    .command('encrypt')
    .description('encrypt a plaintext env file in place')
    .argument('<file>')
    .addOption(keyFileOption())
    .addOption(repoPathOption())
    .action((file: string, options: { keyFile?: string; repoPath?: string }) => encryptFile(deps, file, options));

  secrets
    .command('decrypt')
    .description('print the plaintext env file to stdout (a SOPS file: as `sops --decrypt` prints it)')
    .argument('<file>')
    .addOption(keyFileOption())
    .addOption(repoPathOption())
    .addOption(ageKeyFileOption())
    .addOption(pgpKeyFileOption())
    .action((file: string, options: { keyFile?: string; repoPath?: string } & SopsFlags) => decryptFile(deps, file, options));

  secrets
    .command('import-sops')
    .description('convert a SOPS env file (dotenv, YAML or JSON, flat) to Capstan\'s format in place, under the primary key')
    .argument('<file>')
    .addOption(keyFileOption())
    .addOption(repoPathOption())
    .addOption(ageKeyFileOption())
    .addOption(pgpKeyFileOption())
    .action((file: string, options: { keyFile?: string; repoPath?: string } & SopsFlags) => importSopsFile(deps, file, options));

  secrets
    .command('edit')
    .description('edit a plaintext copy in $EDITOR (kept in /dev/shm when possible, removed afterwards); creates FILE if needed')
    .argument('<file>')
    .addOption(keyFileOption())
    .addOption(repoPathOption())
    .action((file: string, options: { keyFile?: string; repoPath?: string }) => editFile(deps, file, options));

  secrets
    .command('rotate')
    .description('re-encrypt files under the primary key, values unchanged')
    .argument('<files...>')
    .addOption(keyFileOption())
    .addOption(repoPathOption())
    .action((files: string[], options: { keyFile?: string; repoPath?: string }) => rotateFiles(deps, files, options));

  // A value given as an argument would land in shell history and `ps`: refuse extra words.
  for (const subcommand of secrets.commands) subcommand.allowExcessArguments(false);
  return secrets;
}
