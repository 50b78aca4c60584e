import { Command } from 'commander';
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { loadKeyring } from '../../../secrets/index.js';
import { loadSopsKeys } from '../../../secrets/sops/index.js';
import { sopsKeyFiles, withSopsKeyOptions, type SopsKeyOptions } from '../sops-options.js';
import { formatProblem } from '../../errors.js';
import { validateDir } from '../../load/index.js';
import { readPolicyFile } from '../../policy/index.js';
import { readLimits } from '../config.js';

export function validateCommand(): Command {
  return withSopsKeyOptions(new Command('validate'))
    .description('check a manifests checkout offline (for the manifests repository\'s own CI); exit 1 on any problem')
    .argument('[dir]', 'checkout root', '.')
    .option('--path <dir>', 'folder inside DIR holding the manifests', '.')
    .option('--key-file <file>', 'key file (CAPSTAN_KEY_FILE): decrypt the env files too; without one only their headers and variable names are checked')
    .option('--policy-file <file>', 'host policy (CAPSTAN_POLICY_FILE) to check the manifests against; without one, the defaults, which refuse privileged mode, host namespaces, devices, extra capabilities and host paths')
    .option('--max-manifest-bytes <size>', 'largest file read (CAPSTAN_MAX_MANIFEST_BYTES, default 1m)')
    .option('--max-tree-bytes <size>', 'most bytes read in all (CAPSTAN_MAX_TREE_BYTES, default 16m)')
    .option('--json', 'print the problems as JSON')
    .action(async (dir: string, options: { path: string; keyFile?: string; policyFile?: string; json?: boolean; maxManifestBytes?: string; maxTreeBytes?: string } & SopsKeyOptions) => {
      const keyFile = options.keyFile ?? process.env.CAPSTAN_KEY_FILE;
      const policyFile = options.policyFile ?? process.env.CAPSTAN_POLICY_FILE;
      const sopsFiles = sopsKeyFiles(options, process.env);
      const hasSops = Boolean(sopsFiles.ageKeyFile || sopsFiles.pgpKeyFile);
      const { problems, state, uncheckedEnvFiles } = await validateDir({
        root: resolve(dir),
        path: options.path,
        commit: 'working-tree',
        // Hashes are not shown by validate; any key will do.
        hashKey: randomBytes(32),
        keyring: keyFile ? await loadKeyring(resolve(keyFile)) : undefined,
        uncheckedEnvFiles: !keyFile,
        sopsKeys: hasSops ? await loadSopsKeys(sopsFiles) : undefined,
        uncheckedSopsFiles: !hasSops,
        policy: policyFile ? await readPolicyFile(resolve(policyFile)) : undefined,
        readLimits: readLimits(options.maxManifestBytes ?? process.env.CAPSTAN_MAX_MANIFEST_BYTES, options.maxTreeBytes ?? process.env.CAPSTAN_MAX_TREE_BYTES),
      });
      if (uncheckedEnvFiles.length > 0 && !options.json) {
        process.stderr.write(
          `note: ${uncheckedEnvFiles.length} env file(s) not decrypted (no key given): their headers were checked and the variables they name count as set, but not their values: ${uncheckedEnvFiles.join(', ')}\n`,
        );
      }
      if (options.json) process.stdout.write(JSON.stringify({ valid: problems.length === 0, problems, uncheckedEnvFiles }, null, 2) + '\n');
      else if (problems.length > 0) process.stderr.write(problems.map(formatProblem).join('\n') + '\n');
      else {
        const services = state?.apps.reduce((count, app) => count + app.services.length, 0) ?? 0;
        process.stdout.write(`valid: ${state?.apps.length ?? 0} app(s), ${services} service(s)\n`);
      }
      if (problems.length > 0) process.exitCode = 1;
    });
}
