import { Command } from 'commander';
import { join } from 'node:path';
import { LOCK_FILE, processExists, readHolder } from '../../state/cycle-lock.js';
import { TARGETS } from '../../targets/index.js';
import { resolveConfig } from '../config.js';
import { configFlags, withConfigOptions } from '../options.js';
import { readyCell, renderStatus, statusReport, type ServiceStatus } from '../status-report.js';
import { renderTable } from '../table.js';
import { connectDocker } from '../../docker.js';
import { openState } from '../../state/open.js';
import { JobRunStore } from '../../jobs/store.js';
import { renderJobStatus } from '../job-report.js';
import { ControlStore } from '../../control/store.js';
import { ImageUpdateStore } from '../../image-updates/store.js';
import { describeResolution, resolutionOfRow } from '../../image-updates/resolution.js';

export type { ServiceStatus } from '../status-report.js';

export function statusCommand(): Command {
  return withConfigOptions(new Command('status'))
    .description('whether the agent runs, the commit applied and attempted, the rollout in flight, each service\'s state and the last error, from SQLite and Docker')
    .option('--json', 'print JSON')
    .action(async (options: Record<string, unknown>) => {
      const config = resolveConfig(configFlags(options), process.env, process.cwd(), { requireRepo: false });
      const { db, store } = openState(config);
      const control = new ControlStore(db, config.node);
      try {
        const observed = await TARGETS[config.target].status(connectDocker(), config.node);
        const applied = store.lastAppliedCommit;
        const attempted = store.lastAttemptedCommit;
        const lastError = store.lastError;
        const report = statusReport({
          node: config.node,
          target: config.target,
          now: Date.now(),
          heartbeat: store.heartbeat,
          lockHolderPid: readHolder(join(config.stateDir, LOCK_FILE))?.pid ?? null,
          isAlive: processExists,
          appliedCommit: applied,
          attemptedCommit: attempted,
          lastError,
          lastCycle: store.cycles(1)[0] ?? null,
          commitCycles: [...(applied ? store.cyclesForCommit(applied, 20) : []), ...(attempted && attempted !== applied ? store.cyclesForCommit(attempted, 20) : [])],
          nextCycleAt: store.getMeta('next_cycle_at'),
          quarantined: store.quarantined(config.node),
          rollout: store.rolloutProgress(config.node),
          failureOutputs: lastError?.commit ? store.latestFailureOutputs(config.node, lastError.commit) : [],
          deployments: store.deployments(config.node),
          containers: observed.containers,
          pin: control.pinned(),
          suspensions: control.suspensions(),
        });
        /** The last offline bundle imported (`capstan bundle import`, `run --inbox`), if any. */
        const lastBundle = parseJson(store.getMeta('bundle_last_imported')) as { commit: string; branch: string; index: string; signer: string; at: string } | null;
        // Scheduled jobs (agent/jobs): each one's last run, with its exit code and output.
        const jobs = new JobRunStore(db).lastRuns(config.node);
        // A job has no replica (replicas 0): its runs are listed below the services, not as READY.
        const jobNames = new Set(jobs.map((run) => `${run.app}/${run.service}`));
        // Services with `update.image`: what runs, what the registry serves (agent/image-updates).
        const images = new ImageUpdateStore(store.database, config.node);
        const quarantinedImages = new Set(images.quarantined().map((row) => `${row.app}/${row.service}@${row.digest}`));
        const imageUpdates = images.rows().map((row) => resolutionOfRow(row, (digest) => quarantinedImages.has(`${row.app}/${row.service}@${digest}`)));
        if (options.json) {
          process.stdout.write(JSON.stringify({ ...report, lastBundle, jobs, imageUpdates, quarantinedImages: images.quarantined() }, null, 2) + '\n');
          return;
        }
        const lines = renderStatus(report, Date.now());
        if (lastBundle) lines.push(`last bundle: ${lastBundle.commit.slice(0, 12)} imported at ${lastBundle.at}, signed by ${lastBundle.signer}`);
        for (const update of imageUpdates) lines.push(`image ${update.app}/${update.service}: ${describeResolution(update)}`);
        process.stdout.write(lines.join('\n') + '\n\n');
        process.stdout.write(
          renderTable(
            ['APP', 'SERVICE', 'READY', 'HEALTH', 'IMAGE', 'CONFIG', 'LAST CHANGE'],
            report.services.map((service: ServiceStatus) => [
              service.app,
              service.service,
              jobNames.has(`${service.app}/${service.service}`) ? 'scheduled job' : service.desiredReplicas === 0 ? '0/0' : readyCell(service),
              service.health,
              service.image,
              service.configHash,
              service.lastChange,
            ]),
          ),
        );
        process.stdout.write(renderJobStatus(jobs));
      } finally {
        store.close();
      }
    });
}
function parseJson(text: string | null): unknown {
  if (text === null) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}
