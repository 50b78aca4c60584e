import { Command } from 'commander';
import * as fs from 'node:fs';
import { resolve } from 'node:path';
import { loadKeyring } from '../../../secrets/index.js';
import { createBundle } from '../../bundle/create.js';
import { importBundle } from '../../bundle/import.js';
import { inspectBundle } from '../../bundle/inspect.js';
import { systemClock } from '../../clock.js';
import { connectDocker } from '../../docker.js';
import { createLogger } from '../../log.js';
import { readPolicyFile } from '../../policy/index.js';
import { acquireCycleLock, lockTimeoutMs } from '../../state/cycle-lock.js';
import { loadTrustFile } from '../../trust/index.js';
import { resolveConfig } from '../config.js';
import { importConfig } from '../import-config.js';
import { configFlags, withConfigOptions } from '../options.js';
import { openState } from '../wiring.js';

/** `capstan bundle create|inspect|import`: signed offline bundles for sites with no network. */
export function bundleCommand(): Command {
  const bundle = new Command('bundle').description('signed offline bundles of commits and images, for air-gapped sites');

  bundle.command('create')
    .description('one file holding the branch\'s commits up to a commit, every image its manifests use, and a signed index')
    .requiredOption('--repo <url-or-path>', 'manifests repository: HTTPS URL or local path')
    .option('--branch <name>', 'branch', 'main')
    .option('--commit <commit>', 'commit of the branch to bundle (default its head)')
    .requiredOption('--out <file>', 'bundle file to write')
    .option('--since <bundle-or-commit>', 'a previous bundle (or a commit) the site holds: carry only the commits and layers that are new')
    .option('--sign-key <key>', 'private SSH key file, or an OpenPGP key ID/fingerprint (gpg:<fingerprint>) in your GnuPG keyring')
    .option('--path <dir>', 'folder in the repository holding the manifests', '.')
    .option('--key-file <file>', 'key file: decrypt env files while reading the manifests (without one, only their names are checked)')
    .option('--policy-file <file>', 'the site\'s host policy, to check the manifests against')
    .action(async (options: { repo: string; branch: string; commit?: string; out: string; since?: string; signKey?: string; path: string; keyFile?: string; policyFile?: string }) => {
      const logger = createLogger({ destination: 2 });
      const index = await createBundle({
        repo: options.repo,
        branch: options.branch,
        commit: options.commit,
        out: options.out,
        since: options.since,
        signKey: options.signKey,
        path: options.path,
        keyring: options.keyFile ? await loadKeyring(resolve(options.keyFile)) : undefined,
        policy: options.policyFile ? await readPolicyFile(resolve(options.policyFile)) : undefined,
      }, { docker: connectDocker(), logger, progress: (message) => process.stderr.write(`${message}\n`) });
      const bytes = index.parts.reduce((sum, part) => sum + part.size, 0);
      process.stdout.write(`${options.out}: ${index.branch} at ${index.commit.slice(0, 12)}, ${index.commits.length} commit(s), ${index.images.length} image(s), ${bytes} bytes${options.signKey ? '' : ', UNSIGNED'}\n`);
    });

  bundle.command('inspect')
    .description('what a bundle holds and whether its signature and parts check out, without importing it')
    .argument('<file>', 'bundle file')
    .option('--trust-file <file>', 'check the signature against these allowed signers (CAPSTAN_TRUST_FILE)')
    .option('--json', 'print as JSON')
    .action(async (file: string, options: { trustFile?: string; json?: boolean }) => {
      const trustFile = options.trustFile ?? process.env.CAPSTAN_TRUST_FILE;
      const signers = trustFile ? await loadTrustFile(fs, resolve(trustFile)) : undefined;
      const inspection = await inspectBundle(resolve(file), signers, new Date(systemClock.now()));
      const { index } = inspection;
      if (options.json) {
        const { signer: _signer, ...signature } = inspection.signature;
        process.stdout.write(JSON.stringify({ ...inspection, signature }, null, 2) + '\n');
      } else {
        const lines = [
          `bundle     ${file}`,
          `branch     ${index.branch} at ${index.commit}${index.since ? ` (delta on ${index.since})` : ''}`,
          `made       ${index.createdAt} from ${index.repo}`,
          `signature  ${inspection.signature.status}${inspection.signature.detail ? `: ${inspection.signature.detail}` : ''}`,
          `parts      ${inspection.partsIntact ? 'intact' : `NOT intact: ${inspection.problem}`}`,
          ...index.parts.map((part) => `  ${part.name.padEnd(12)} ${String(part.size).padStart(12)} bytes  sha256:${part.sha256}`),
          `commits    ${index.commits.length}`,
          ...index.commits.slice(0, 20).map((commit) => `  ${commit.id.slice(0, 12)} ${commit.subject}`),
          `apps       ${index.apps.length}`,
          ...index.apps.map((app) => `  ${app.name}: ${app.services.map((service) => `${service.name} (${service.image})`).join(', ')}`),
          `images     ${index.images.length}`,
          ...index.images.map((image) => `  ${image.ref}  ${image.id.slice(0, 19)}  ${image.carried.length}/${image.layers.length} layer(s) carried, ${image.carriedBytes} bytes`),
        ];
        process.stdout.write(lines.join('\n') + '\n');
      }
      if (!inspection.partsIntact || inspection.signature.status === 'refused' || (signers && inspection.signature.status === 'unsigned')) process.exitCode = 1;
    });

  withConfigOptions(bundle.command('import'))
    .description('verify a bundle (signature against the trust file, every part\'s sha256) and only then load its images and add its commits to the local repository')
    .argument('<file>', 'bundle file')
    .option('--lock-timeout <duration>', 'how long to wait for a cycle in flight on the same state dir (CAPSTAN_LOCK_TIMEOUT, default 10m)')
    .action(async (file: string, options: Record<string, unknown>) => {
      const config = resolveConfig(configFlags(options));
      const logger = createLogger({ destination: 2 });
      const lock = await acquireCycleLock(config.stateDir, 'bundle import', lockTimeoutMs(options.lockTimeout as string | undefined, process.env), { clock: systemClock });
      const { store } = openState(config);
      try {
        const imported = await importBundle(resolve(file), await importConfig(config, file), { docker: connectDocker(), store, logger, now: () => new Date(systemClock.now()) });
        process.stdout.write(`imported ${imported.index.branch} at ${imported.index.commit.slice(0, 12)} (${imported.index.images.length} image(s)), signed by ${imported.signer}; the next cycle deploys it\n`);
      } finally {
        store.close();
        lock.release();
      }
    });
  return bundle;
}
