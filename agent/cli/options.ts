import { Command } from 'commander';
import type { ConfigFlags } from './config.js';

/** The agent settings every command that talks to the repository or state accepts. */
export function withConfigOptions(command: Command): Command {
  return command
    .option('--repo <url-or-path>', 'manifests repository: HTTPS URL or local path (CAPSTAN_REPO)')
    .option('--branch <name>', 'branch to deploy (CAPSTAN_BRANCH, default main)')
    .option('--path <dir>', 'folder in the repository holding the manifests (CAPSTAN_PATH, default .)')
    .option('--schedule <cron>', 'cron expression for cycles (CAPSTAN_SCHEDULE, default every minute)')
    .option('--state-dir <dir>', 'SQLite database and git cache (CAPSTAN_STATE_DIR)')
    .option('--key-file <file>', 'key file for encrypted env files (CAPSTAN_KEY_FILE)')
    .option('--node <name>', 'this agent\'s node name (CAPSTAN_NODE, default the host name)');
}

export function configFlags(options: Record<string, unknown>): ConfigFlags {
  const flags: ConfigFlags = {};
  for (const key of ['repo', 'branch', 'path', 'schedule', 'stateDir', 'keyFile', 'node'] as const) {
    if (typeof options[key] === 'string') flags[key] = options[key] as string;
  }
  return flags;
}
