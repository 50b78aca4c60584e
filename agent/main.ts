#!/usr/bin/env node
import { Command } from 'commander';
import { convertCommand } from './cli/commands/convert.js';
import { doctorCommand } from './cli/commands/doctor.js';
import { historyCommand } from './cli/commands/history.js';
import { onceCommand } from './cli/commands/once.js';
import { planCommand } from './cli/commands/plan.js';
import { runCommand } from './cli/commands/run.js';
import { statusCommand } from './cli/commands/status.js';
import { validateCommand } from './cli/commands/validate.js';
import { CapstanError } from './errors.js';
import { secretsCommand, systemSecretsDeps } from '../secrets/index.js';

const program = new Command('capstan')
  .description('GitOps pull agent for Docker hosts: push to a git branch to deploy')
  .version('0.1.0')
  .addCommand(runCommand())
  .addCommand(onceCommand())
  .addCommand(planCommand())
  .addCommand(statusCommand())
  .addCommand(historyCommand())
  .addCommand(validateCommand())
  .addCommand(convertCommand())
  .addCommand(doctorCommand())
  .addCommand(secretsCommand(systemSecretsDeps()));

program.parseAsync(process.argv).catch((error: unknown) => {
  if (error instanceof CapstanError) {
    process.stderr.write(`capstan: ${error.code}: ${error.message}\n`);
  } else {
    process.stderr.write(`capstan: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
  }
  process.exitCode = 1;
});
