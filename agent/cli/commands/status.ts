import { Command } from 'commander';
import { join } from 'node:path';
import { LOCK_FILE, processExists, readHolder } from '../../state/cycle-lock.js';
import { TARGETS } from '../../targets/index.js';
import { resolveConfig } from '../config.js';
import { configFlags, withConfigOptions } from '../options.js';
import { controlLines, readyCell, renderStatus, statusReport, type ServiceStatus, type StatusReport } from '../status-report.js';
import { CapstanError } from '../../errors.js';
import type { StateStore } from '../../state/store.js';
import type { Db } from '../../state/db.js';
import { renderTable } from '../table.js';
import { connectDocker } from '../../docker.js';
import { openState } from '../../state/open.js';
import { JobRunStore } from '../../jobs/store.js';
import { renderJobStatus } from '../job-report.js';
import { ControlStore } from '../../control/store.js';
import { ImageUpdateStore } from '../../image-updates/store.js';
import { describeResolution, resolutionOfRow } from '../../image-updates/resolution.js';
import { listLocks } from '../../deferral/locks.js';
import { readDeferrals } from '../../deferral/store.js';
import type { Deferral } from '../../deferral/gate.js';
import { coveringEnd, describeWindow, nextOpening, parseWindowDuration } from '../../deferral/windows.js';

export type { ServiceStatus } from '../status-report.js';

export function statusCommand(): Command {
  return withConfigOptions(new Command('status'))
    .description('whether the agent runs, the commit applied and attempted, the rollout in flight, each service\'s state and the last error, from SQLite and Docker')
    .option('--json', 'print JSON')
    .option('--watch', 'a compact live view, redrawn in place on a terminal (one frame per interval otherwise); Ctrl-C to quit')
    .option('--interval <duration>', 'with --watch: time between frames, 1s to 1h (default 2s)')
    .action(async (options: Record<string, unknown>) => {
      const config = resolveConfig(configFlags(options), process.env, process.cwd(), { requireRepo: false });
      if (options.watch) {
        const intervalMs = parseWindowDuration(String(options.interval ?? '2s'));
        if (intervalMs === undefined || intervalMs < 1_000 || intervalMs > 3_600_000) {
          throw new CapstanError('CONFIG_INVALID', 'terminal', `--interval must be a duration from 1s to 1h (such as 2s, 30s, 1m), not '${String(options.interval)}'`);
        }
        await watch(config, intervalMs);
        return;
      }
      const { db, store } = openState(config);
      try {
        const facts = await gather(config, db, store);
        const { report, lastBundle, waits, jobs, imageUpdates, quarantinedImages } = facts;
        // A job has no replica (replicas 0): its runs are listed below the services, not as READY.
        const jobNames = new Set(jobs.map((run) => `${run.app}/${run.service}`));
        if (options.json) {
          process.stdout.write(JSON.stringify({ ...report, lastBundle, jobs, imageUpdates, quarantinedImages, ...waits }, null, 2) + '\n');
          return;
        }
        const lines = [...renderStatus(report, Date.now()), ...waitLines(waits)];
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

type Config = ReturnType<typeof resolveConfig>;

/** Everything `status` shows, read now from SQLite, Docker, the lock folders and the policy file. */
async function gather(config: Config, db: Db, store: StateStore) {
  const control = new ControlStore(db, config.node);
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
  // Changes waiting for a deploy window or an update lock, the locks, and the windows now (agent/deferral/).
  const waits = { deferrals: [...readDeferrals(store, config.node).values()], locks: await listLocks(config.stateDir), windows: await windowStates(config.policyFile, Date.now()) };
  // Scheduled jobs (agent/jobs): each one's last run, with its exit code and output.
  const jobs = new JobRunStore(db).lastRuns(config.node);
  // Services with `update.image`: what runs, what the registry serves (agent/image-updates).
  const images = new ImageUpdateStore(store.database, config.node);
  const quarantinedImages = images.quarantined();
  const quarantinedKeys = new Set(quarantinedImages.map((row) => `${row.app}/${row.service}@${row.digest}`));
  const imageUpdates = images.rows().map((row) => resolutionOfRow(row, (digest) => quarantinedKeys.has(`${row.app}/${row.service}@${digest}`)));
  return { report, lastBundle, waits, jobs, imageUpdates, quarantinedImages };
}

/**
 * `status --watch`: a frame per interval. On a terminal the frame is redrawn in place (cursor
 * home, each line cleared, the rest of the screen cleared, lines cut to the width); otherwise
 * frames follow one another, separated by a blank line, with no escape codes. Ctrl-C (SIGINT)
 * or SIGTERM ends it with exit code 0 and the cursor shown again.
 */
async function watch(config: Config, intervalMs: number): Promise<void> {
  const tty = process.stdout.isTTY === true;
  const { db, store } = openState(config);
  let stopped = false;
  let wake: (() => void) | undefined;
  const stop = () => {
    stopped = true;
    wake?.();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  if (tty) process.stdout.write('\x1b[?25l\x1b[2J');
  try {
    while (!stopped) {
      let lines: string[];
      try {
        const facts = await gather(config, db, store);
        lines = watchFrame(facts.report, facts.waits, new Date().toISOString());
      } catch (error) {
        lines = [`capstan status --watch: ${(error as Error).message}`];
      }
      if (tty) {
        const width = process.stdout.columns || 120;
        process.stdout.write('\x1b[H' + lines.map((line) => line.slice(0, width) + '\x1b[K').join('\n') + '\n\x1b[J');
      } else {
        process.stdout.write(lines.join('\n') + '\n\n');
      }
      if (stopped) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, intervalMs);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  } finally {
    if (tty) process.stdout.write('\x1b[?25h');
    store.close();
  }
}

/** The compact view: one line of agent and commits, one per service (ready, rollout), then pins, suspensions and what waits. */
function watchFrame(report: StatusReport, waits: Waits, at: string): string[] {
  const last = report.lastCycle;
  const lines = [
    `capstan ${report.node}  agent ${report.agent.state}  applied ${report.appliedCommit?.slice(0, 12) ?? '-'}  last cycle ${last ? `${last.result}${last.reason ? ` [${last.reason}]` : ''}` : '-'}  ${at}`,
  ];
  const progress = new Map((report.rollout?.services ?? []).map((item) => [`${item.app}/${item.service}`, item]));
  const rows = report.services.map((service) => {
    const rollout = progress.get(`${service.app}/${service.service}`);
    return [`${service.app}/${service.service}`, readyCell(service), service.health, rollout ? `${rollout.done}/${rollout.total} ${rollout.phase}` : '-'];
  });
  lines.push(...renderTable(['SERVICE', 'READY', 'HEALTH', 'ROLLOUT'], rows).trimEnd().split('\n'));
  // What operators set (`capstan pin`, `suspend`), as plain `status` says it.
  lines.push(...controlLines(report));
  for (const entry of report.quarantined) lines.push(`quarantined ${entry.commit.slice(0, 12)}: ${entry.reason}`);
  lines.push(...waitLines(waits));
  if (report.lastError) lines.push(`last error [${report.lastError.code}]: ${report.lastError.message.split('\n')[0]}`);
  return lines;
}

/** Each deploy window of the policy file, in force (until when) or next opening; unreadable, one line saying so. */
async function windowStates(policyFile: string | undefined, now: number): Promise<{ window: string; apps?: string[]; inForce: boolean; until?: string; next?: string }[] | { error: string }> {
  if (!policyFile) return [];
  try {
    // Only with a policy file: its reader (YAML, the schema validator) is the loader's start-up cost.
    const { readPolicyFile } = await import('../../policy/index.js');
    const policy = await readPolicyFile(policyFile);
    return (policy.deployWindows?.windows ?? []).map((window) => {
      const end = coveringEnd(window, now);
      const apps = window.apps ? { apps: window.apps } : {};
      if (end !== undefined) return { window: describeWindow(window), ...apps, inForce: true, ...(Number.isFinite(end) ? { until: new Date(end).toISOString() } : {}) };
      const next = nextOpening(window, now);
      return { window: describeWindow(window), ...apps, inForce: false, ...(next === undefined ? {} : { next: new Date(next).toISOString() }) };
    });
  } catch (error) {
    return { error: (error as Error).message };
  }
}

interface Waits {
  deferrals: Deferral[];
  locks: { app: string; held: boolean; since?: string }[];
  windows: Awaited<ReturnType<typeof windowStates>>;
}

function waitLines(waits: Waits): string[] {
  const lines: string[] = [];
  for (const wait of waits.deferrals) {
    const frozen = wait.frozen ? ', left as it is (drift_repair: false)' : '';
    lines.push(`waiting:    ${wait.app} (commit ${wait.commit.slice(0, 12)}): ${wait.message}${wait.until ? ` until ${wait.until}` : ''}${frozen}, since ${wait.since}`);
  }
  for (const lock of waits.locks.filter((item) => item.held)) lines.push(`lock:       ${lock.app} holds its update lock since ${lock.since}`);
  if ('error' in waits.windows) lines.push(`windows:    cannot read: ${waits.windows.error}`);
  else {
    for (const state of waits.windows) {
      const scope = state.apps ? ` (${state.apps.join(', ')})` : '';
      const when = state.inForce ? `in force${state.until ? ` until ${state.until}` : ''}` : `next ${state.next ?? 'never'}`;
      lines.push(`window:     ${state.window}${scope}: ${when}`);
    }
  }
  return lines;
}

function parseJson(text: string | null): unknown {
  if (text === null) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}
