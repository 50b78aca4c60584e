import { Command } from 'commander';
import { createLogger } from '../../log.js';
import { diskCheck, dockerCheck, keyFileCheck, networkIsolationCheck, repositoryChecks, stateDirCheck, trustFileCheck, type CheckResult } from '../doctor/checks.js';
import { resolveConfig } from '../config.js';
import { configFlags, withConfigOptions } from '../options.js';
import { connectDocker } from '../../docker.js';
import { createReconciler, hostIsolationCheck, openStore } from '../wiring.js';

const MARK = { ok: '✓', warn: '!', fail: '✗' } as const;

export function doctorCommand(): Command {
  return withConfigOptions(new Command('doctor'))
    .description('check what a new install gets wrong: Docker, key file, repository and credentials, manifests, clock, disk; changes nothing')
    .option('--json', 'print the checks as JSON')
    .action(async (options: Record<string, unknown>) => {
      const config = resolveConfig(configFlags(options));
      const docker = connectDocker();
      const results: CheckResult[] = [await dockerCheck(docker), await stateDirCheck(config), await keyFileCheck(config), await trustFileCheck(config)];
      const store = openStore(config);
      try {
        results.push(...(await repositoryChecks(createReconciler(config, store, createLogger({ destination: 2, level: 'silent' })))));
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
