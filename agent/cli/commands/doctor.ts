import { Command } from 'commander';
import { createLogger } from '../../log.js';
import { diskCheck, dockerCheck, keyFileCheck, networkIsolationCheck, repositoryChecks, stateDirCheck, trustFileCheck, type CheckResult } from '../doctor/checks.js';
import { resolveConfig } from '../config.js';
import { sopsFilesCheck, sopsKeysCheck } from '../doctor/sops.js';
import { resolve } from 'node:path';
import { configFlags, withConfigOptions } from '../options.js';
import { connectDocker } from '../../docker.js';
import { createReconciler, hostIsolationCheck, openStore } from '../wiring.js';

const MARK = { ok: '✓', warn: '!', fail: '✗' } as const;

export function doctorCommand(): Command {
  return withConfigOptions(new Command('doctor'))
    .description('check what a new install gets wrong: Docker, key files (SOPS too), repository and credentials, manifests, clock, disk; changes nothing')
    .option('--json', 'print the checks as JSON')
    .action(async (options: Record<string, unknown>) => {
      const config = resolveConfig(configFlags(options));
      const docker = connectDocker();
      const sops = await sopsKeysCheck(config);
      const results: CheckResult[] = [await dockerCheck(docker), await stateDirCheck(config), await keyFileCheck(config), sops.result, await trustFileCheck(config)];
      const store = openStore(config);
      try {
        const reconciler = await createReconciler(config, store, createLogger({ destination: 2, level: 'silent' }));
        results.push(...(await repositoryChecks(reconciler)));
        // Which SOPS files the head commit holds and whether this host opens them, even when the
        // manifests do not load (a wrong key is the usual reason they do not).
        const checkout = await reconciler.headCheckout().catch(() => undefined);
        if (checkout) results.push(await sopsFilesCheck(checkout.dir, resolve(checkout.dir, config.path), sops.keys));
      } finally {
        store.close();
      }
      results.push(await networkIsolationCheck(docker, config.node, hostIsolationCheck(docker, config), config.networkIsolation));
      results.push(await diskCheck(docker, config.stateDir));
      if (options.json) process.stdout.write(JSON.stringify(results, null, 2) + '\n');
      else for (const result of results) process.stdout.write(`${MARK[result.status]} ${result.name.padEnd(16)} ${result.detail}\n`);
      if (results.some((result) => result.status === 'fail')) process.exitCode = 1;
    });
}
