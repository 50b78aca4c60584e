import { Command } from 'commander';
import { createLogger } from '../../log.js';
import { SecretRegistry } from '../../secret-registry.js';
import { resolveConfig } from '../config.js';
import { configFlags, withConfigOptions } from '../options.js';
import { planJson } from '../../targets/print.js';
import { renderTable } from '../table.js';
import { createReconciler, openState, operatorControl } from '../wiring.js';
import { previewJobs, printJobs } from '../../jobs/print.js';
import { systemClock } from '../../clock.js';

export function planCommand(): Command {
  return withConfigOptions(new Command('plan'))
    .description('show what `once` would do, changing nothing; exit 0 in sync, 2 when changes are pending, 1 on error')
    .option('--json', 'print the plan as JSON')
    .option('--share', 'list what the node (--node, --node-labels) runs from the head commit, without looking at Docker: any node\'s share, from any machine')
    .action(async (options: Record<string, unknown>) => {
      const config = resolveConfig(configFlags(options));
      const secrets = new SecretRegistry();
      const logger = createLogger({ destination: 2, level: process.env.CAPSTAN_LOG_LEVEL ?? 'warn', redact: (line) => secrets.redact(line) });
      const { db, store } = openState(config);
      try {
        // What the next cycle would do: on the pinned commit, without the suspended apps.
        const reconciler = await createReconciler(config, store, logger, secrets, operatorControl(db, config.node));
        // An image named from a secret (`image: ${REGISTRY}/web`) is printed scrubbed.
        const print = (text: string) => process.stdout.write(reconciler.redact(text));
        if (options.share) {
          const { checkout, desired } = await reconciler.desiredShare();
          const rows = desired.apps.flatMap((app) => app.services.map((service) => [`${app.name}/${service.name}`, `×${service.replicas}`, service.image]));
          if (options.json) print(JSON.stringify({ node: config.node, commit: checkout.commit, services: rows.map(([name, replicas, image]) => ({ name, replicas: Number(replicas.slice(1)), image })) }, null, 2) + '\n');
          else print(`share of node ${config.node} at ${checkout.commit.slice(0, 12)}:\n` + renderTable(['SERVICE', 'REPLICAS', 'IMAGE'], rows));
          return;
        }
        const { plan, text, desired } = await reconciler.preview();
        // Scheduled jobs change nothing at a deploy: their next runs are shown beside the plan.
        const applied = new Map(store.deployments(config.node).map((row) => [`${row.app}/${row.service}`, row.configHash]));
        const jobs = previewJobs(desired, systemClock.now(), applied);
        if (options.json) print(jobs.length === 0 ? planJson(plan) : JSON.stringify({ ...JSON.parse(planJson(plan)), scheduledJobs: jobs }, null, 2) + '\n');
        else print(text + printJobs(jobs));
        // Accepted but worth knowing (Compose keys with no effect here); never a value.
        const notes = (desired.notes ?? []).map((note) => `note: ${note}\n`).join('');
        if (notes) (options.json ? process.stderr : process.stdout).write(reconciler.redact(notes));
        if (plan.problems.length > 0) process.exitCode = 1;
        else if (plan.operations.length > 0) process.exitCode = 2;
      } finally {
        store.close();
      }
    });
}
