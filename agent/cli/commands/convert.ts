import { Command } from 'commander';
import { existsSync, statSync } from 'node:fs';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { loadKeyring } from '../../../secrets/index.js';
import { loadSopsKeys } from '../../../secrets/sops/index.js';
import { sopsKeyFiles, withSopsKeyOptions, type SopsKeyOptions } from '../sops-options.js';
import { formatProblem } from '../../errors.js';
import { formatNote, isComposeFile, loadComposeFolder, renderManifest } from '../../load/compose/index.js';
import { openEnvFiles } from '../../load/variables/env-files.js';
import { portProblems } from '../../load/checks.js';
import { SCHEMA_FILE } from '../../schema-file.js';
import { openCheckout } from '../../load/files/repo-files.js';
import { DEFAULT_POLICY, readPolicyFile } from '../../policy/index.js';

interface ConvertOptions extends SopsKeyOptions {
  root?: string;
  keyFile?: string;
  policyFile?: string;
  schema?: string;
}

export function convertCommand(): Command {
  return withSopsKeyOptions(new Command('convert'))
    .description('print the native manifest a Compose folder converts to; problems go to stderr, with exit 1')
    .argument('<path>', 'a folder holding compose.yaml (or docker-compose.yml…), or the Compose file itself')
    .option('--root <dir>', 'repository root, which relative paths must stay inside (default: the enclosing git repository, else the folder)')
    .option('--key-file <file>', 'key file (CAPSTAN_KEY_FILE) to decrypt an encrypted .env; without one only its variable names are read')
    .option('--policy-file <file>', 'host policy (CAPSTAN_POLICY_FILE) to check the result against; default: the defaults')
    .option('--schema <ref>', 'what the yaml-language-server comment points at (default: the repository\'s manifests-schema file, relative to the folder)')
    .action(async (path: string, options: ConvertOptions) => {
      const target = resolve(path);
      const isFile = existsSync(target) && statSync(target).isFile();
      if (!existsSync(target) || (isFile && !isComposeFile(basename(target)))) {
        process.stderr.write(`capstan: ${path} is not a folder holding a Compose file, nor a compose.yaml, compose.yml, docker-compose.yaml or docker-compose.yml\n`);
        process.exitCode = 1;
        return;
      }
      const folder = isFile ? dirname(target) : target;
      const root = options.root ? resolve(options.root) : repositoryRoot(folder);
      const keyFile = options.keyFile ?? process.env.CAPSTAN_KEY_FILE;
      const policyFile = options.policyFile ?? process.env.CAPSTAN_POLICY_FILE;
      const checkout = await openCheckout(root);
      const sopsFiles = sopsKeyFiles(options, process.env);
      const hasSops = Boolean(sopsFiles.ageKeyFile || sopsFiles.pgpKeyFile);
      const envFiles = openEnvFiles(checkout, {
        keyring: keyFile ? await loadKeyring(resolve(keyFile)) : undefined,
        unchecked: !keyFile,
        sopsKeys: hasSops ? await loadSopsKeys(sopsFiles) : undefined,
        sopsUnchecked: !hasSops,
      });
      const context = { envFiles, defaults: await envFiles.readDefault(root), fallback: () => undefined };
      const policy = policyFile ? await readPolicyFile(resolve(policyFile)) : DEFAULT_POLICY;
      const { result, notes, conversion } = await loadComposeFolder(folder, checkout, context, policy);
      // The app's own ports clash checks as validate's do (validate checks across every app).
      const problems = [...result.problems, ...envFiles.problems, ...portProblems(result.bindings)];
      for (const note of notes) process.stderr.write(`note: ${formatNote(note)}\n`);
      if (problems.length > 0 || !conversion.document) {
        process.stderr.write(problems.map(formatProblem).join('\n') + '\n');
        process.exitCode = 1;
        return;
      }
      const schema = options.schema ?? toSlashes(relative(folder, join(root, SCHEMA_FILE)));
      process.stdout.write(renderManifest(conversion.document.data, { schema, from: basename(conversion.file) }));
    });
}

/** The enclosing git work tree, so `../shared/…` paths of the Compose file resolve as in a checkout. */
function repositoryRoot(folder: string): string {
  for (let dir = folder, depth = 0; depth < 64; dir = dirname(dir), depth++) {
    if (existsSync(join(dir, '.git'))) return dir;
    if (dirname(dir) === dir) break;
  }
  return folder;
}

function toSlashes(path: string): string {
  return path.split(sep).join('/');
}
