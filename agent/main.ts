#!/usr/bin/env node
import { Command } from 'commander';
import { setFlagsFromString } from 'node:v8';
import { RUN_V8_FLAGS } from './cli/run-v8-flags.js';
import { CapstanError } from './errors.js';

// Before any command's modules load, so that the young generation never grows.
if (process.argv[2] === 'run') for (const flag of RUN_V8_FLAGS) setFlagsFromString(flag);

// Each command's module is imported only when that command runs, so `capstan run` does not load
// the secrets editor, doctor or convert, and `capstan validate` in a manifests repository's CI
// does not load the Docker client or SQLite. Help and unknown commands load them all, so what
// they print is unchanged.
const commands: Array<[name: string, load: () => Promise<Command>]> = [
  ['run', async () => (await import('./cli/commands/run.js')).runCommand()],
  ['once', async () => (await import('./cli/commands/once.js')).onceCommand()],
  ['plan', async () => (await import('./cli/commands/plan.js')).planCommand()],
  ['status', async () => (await import('./cli/commands/status.js')).statusCommand()],
  ['history', async () => (await import('./cli/commands/history.js')).historyCommand()],
  ['logs', async () => (await import('./cli/commands/logs.js')).logsCommand()],
  ['validate', async () => (await import('./cli/commands/validate.js')).validateCommand()],
  ['convert', async () => (await import('./cli/commands/convert.js')).convertCommand()],
  ['doctor', async () => (await import('./cli/commands/doctor.js')).doctorCommand()],
  ['bundle', async () => (await import('./cli/commands/bundle.js')).bundleCommand()],
  ['volumes', async () => (await import('./cli/commands/volumes.js')).volumesCommand()],
  ['sync', async () => (await import('./cli/commands/sync.js')).syncCommand()],
  ['suspend', async () => (await import('./cli/commands/suspend.js')).suspendCommand()],
  ['resume', async () => (await import('./cli/commands/resume.js')).resumeCommand()],
  ['pin', async () => (await import('./cli/commands/pin.js')).pinCommand()],
  ['unpin', async () => (await import('./cli/commands/unpin.js')).unpinCommand()],
  ['rollback', async () => (await import('./cli/commands/rollback.js')).rollbackCommand()],
  ['retry', async () => (await import('./cli/commands/retry.js')).retryCommand()],
  ['secrets', async () => {
    const { secretsCommand, systemSecretsDeps } = await import('../secrets/index.js');
    return secretsCommand(systemSecretsDeps());
  }],
];

async function createProgram(argv: string[]): Promise<Command> {
  const program = new Command('capstan')
    .description('GitOps pull agent for Docker hosts: push to a git branch to deploy')
    .version('0.1.0');
  // argv[2] is the command when one is given first, as in every documented use.
  const requested = commands.filter(([name]) => name === argv[2]);
  for (const [, load] of requested.length > 0 ? requested : commands) program.addCommand(await load());
  return program;
}

createProgram(process.argv)
  .then((program) => program.parseAsync(process.argv))
  .catch((error: unknown) => {
    if (error instanceof CapstanError) {
      process.stderr.write(`capstan: ${error.code}: ${error.message}\n`);
    } else {
      process.stderr.write(`capstan: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
    }
    process.exitCode = 1;
  });
