import { Command } from 'commander';
import { join } from 'node:path';
import { LOCK_FILE, processExists, readHolder } from '../../state/cycle-lock.js';
import { TARGETS } from '../../targets/index.js';
import { resolveConfig } from '../config.js';
import { configFlags, withConfigOptions } from '../options.js';
import { readyCell, renderStatus, statusReport, type ServiceStatus } from '../status-report.js';
import { renderTable } from '../table.js';
import { connectDocker } from '../../docker.js';
import { openStore } from '../../state/open.js';
import { listLocks } from '../../deferral/locks.js';
import { readDeferrals } from '../../deferral/store.js';
import type { Deferral } from '../../deferral/gate.js';
import { coveringEnd, describeWindow, nextOpening } from '../../deferral/windows.js';
import { readPolicyFile } from '../../policy/index.js';

export type { ServiceStatus } from '../status-report.js';

export function statusCommand(): Command {
  return withConfigOptions(new Command('status'))
    .description('whether the agent runs, the commit applied and attempted, the rollout in flight, each service\'s state and the last error, from SQLite and Docker')
    .option('--json', 'print JSON')
    .action(async (options: Record<string, unknown>) => {
      const config = resolveConfig(configFlags(options), process.env, process.cwd(), { requireRepo: false });
      const store = openStore(config);
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
        });
        /** The last offline bundle imported (`capstan bundle import`, `run --inbox`), if any. */
        const lastBundle = parseJson(store.getMeta('bundle_last_imported')) as { commit: string; branch: string; index: string; signer: string; at: string } | null;
        // Changes waiting for a deploy window or an update lock, the locks, and the windows now (agent/deferral/).
        const waits = { deferrals: [...readDeferrals(store, config.node).values()], locks: await listLocks(config.stateDir), windows: await windowStates(config.policyFile, Date.now()) };
        if (options.json) {
          process.stdout.write(JSON.stringify({ ...report, lastBundle, ...waits }, null, 2) + '\n');
          return;
        }
        const lines = [...renderStatus(report, Date.now()), ...waitLines(waits)];
        if (lastBundle) lines.push(`last bundle: ${lastBundle.commit.slice(0, 12)} imported at ${lastBundle.at}, signed by ${lastBundle.signer}`);
        process.stdout.write(lines.join('\n') + '\n\n');
        process.stdout.write(
          renderTable(
            ['APP', 'SERVICE', 'READY', 'HEALTH', 'IMAGE', 'CONFIG', 'LAST CHANGE'],
            report.services.map((service: ServiceStatus) => [
              service.app,
              service.service,
              readyCell(service),
              service.health,
              service.image,
              service.configHash,
              service.lastChange,
            ]),
          ),
        );
      } finally {
        store.close();
      }
    });
}
/** Each deploy window of the policy file, in force (until when) or next opening; unreadable, one line saying so. */
async function windowStates(policyFile: string | undefined, now: number): Promise<{ window: string; apps?: string[]; inForce: boolean; until?: string; next?: string }[] | { error: string }> {
  if (!policyFile) return [];
  try {
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

function waitLines(waits: { deferrals: Deferral[]; locks: { app: string; held: boolean; since?: string }[]; windows: Awaited<ReturnType<typeof windowStates>> }): string[] {
  const lines: string[] = [];
  for (const wait of waits.deferrals) lines.push(`waiting:    ${wait.app} (commit ${wait.commit.slice(0, 12)}): ${wait.message}${wait.until ? ` until ${wait.until}` : ''}, since ${wait.since}`);
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
