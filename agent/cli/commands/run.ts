import { Command } from 'commander';
import cron from 'node-cron';
import { createLogger } from '../../log.js';
import { SecretRegistry } from '../../secret-registry.js';
import { resolveConfig } from '../config.js';
import { configFlags, withConfigOptions } from '../options.js';
import { systemClock } from '../../clock.js';
import { createCycleHooks } from '../hooks.js';
import { createJobRunner, createReconciler, openState, operatorControl } from '../wiring.js';
import { ControlStore } from '../../control/store.js';
import { everythingSuspended } from '../../control/decide.js';
import { acquireCycleLock, lockTimeoutMs } from '../../state/cycle-lock.js';
import { resolve } from 'node:path';
import { connectDocker } from '../../docker.js';
import { CapstanError } from '../../errors.js';
import { cycleRetryDelayMs } from '../../cycle-retry.js';
import type { CycleOutcome } from '../../reconcile.js';
import * as fs from 'node:fs';
import http from 'isomorphic-git/http/node';
import { createHeadCheck, pollIntervalMs, RefPoller } from '../../source/poll.js';
import { createUpdateLocks } from '../../deferral/locks.js';
import { DeferralWake } from '../../deferral/wake.js';
import { collectGarbage } from '../collect-garbage.js';

export function runCommand(): Command {
  return withConfigOptions(new Command('run'))
    .description('the agent: a cycle at start and then on the schedule, never two at once')
    .option('--inbox <dir>', 'import signed offline bundles dropped into this folder before each cycle (CAPSTAN_INBOX); see `capstan bundle`')
    .option('--poll-interval <duration>', 'check the branch head this often (one request, no pack) and start a cycle as soon as it moves; 0 turns it off (CAPSTAN_POLL_INTERVAL, default 5s)')
    .option('--lock-timeout <duration>', 'how long a cycle waits for another process\'s cycle on the same state dir (`capstan once`) before skipping (CAPSTAN_LOCK_TIMEOUT, default 10m)')
    .action(async (options: Record<string, unknown>) => {
      const config = resolveConfig(configFlags(options));
      const lockTimeout = lockTimeoutMs(options.lockTimeout as string | undefined, process.env);
      const pollInterval = pollIntervalMs(options.pollInterval as string | undefined, process.env);
      const secrets = new SecretRegistry();
      const logger = createLogger({ redact: (line) => secrets.redact(line) });
      const { db, store } = openState(config);
      const hooks = createCycleHooks({ config, db, store, logger, clock: systemClock });
      hooks.start();
      const reconciler = await createReconciler(config, store, logger, secrets, operatorControl(db, config.node));
      // Operator commands (`capstan sync`, `pin`, …) write to the state database; a cycle takes
      // every request pending when it starts (agent/control/).
      const control = new ControlStore(db, config.node);
      // Scheduled jobs (agent/jobs): runs a killed agent left are closed before anything starts.
      const jobs = createJobRunner(config, db, logger, secrets);
      await jobs.recover().catch((error: unknown) => logger.error({ error: String(error) }, 'could not close the job runs of a previous agent'));
      // The heartbeat `status` reads: this pid, written at start and around each cycle.
      const startedAt = new Date().toISOString();
      const beat = (stopped = false) => {
        try {
          store.beat(process.pid, startedAt, stopped);
        } catch (error) {
          logger.warn({ error: String(error) }, 'could not write the heartbeat');
        }
      };
      beat();
      const inbox = (options.inbox as string | undefined) ?? process.env.CAPSTAN_INBOX;
      const inboxDir = inbox ? resolve(inbox) : undefined;
      if (inboxDir && !config.trustFile) {
        throw new CapstanError('CONFIG_INVALID', 'terminal', '--inbox needs a trust file (--trust-file / CAPSTAN_TRUST_FILE) listing who may sign bundles');
      }

      // Each cycle holds the state dir's lock (state/cycle-lock.ts), so a `capstan once` waits
      // for it, and this cycle waits for a `once` in flight. Cycles the lock found interrupted
      // (their process was killed) are marked so under the lock, never a live one.
      const lockedCycle = async (trigger: string, head?: string) => {
        beat();
        let lock;
        try {
          lock = await acquireCycleLock(config.stateDir, 'run', lockTimeout, { clock: systemClock });
        } catch (error) {
          logger.warn({ trigger, error: (error as Error).message }, 'another process holds the cycle lock, skipping this cycle');
          // The head this cycle was for is not deployed: the next reference check starts one again.
          poller?.forget();
          return;
        }
        const requests = control.takePendingCycleRequests();
        const requestIds = requests.map((request) => request.id);
        try {
          const interrupted = store.markInterrupted();
          if (interrupted > 0) logger.warn({ cycles: interrupted }, 'a previous cycle was interrupted; converging from what Docker shows');
          // `capstan suspend` without apps: no cycle at all, until `capstan resume`.
          const suspended = everythingSuspended(control.suspensions());
          if (suspended) {
            logger.info({ trigger, since: suspended.at, by: suspended.user, reason: suspended.reason }, 'everything is suspended, no cycle');
            control.finishCycleRequests(requestIds, { cycleId: null, result: 'suspended', message: `everything is suspended since ${suspended.at} by ${suspended.user}` });
            return undefined;
          }
          // Bundles first, through every check, so this very cycle deploys what they bring.
          if (inboxDir) await importInbox(inboxDir);
          const force = requests.some((request) => request.args.force === true);
          if (requests.length > 0) logger.info({ trigger, commands: requestIds, ...(force ? { force } : {}) }, 'cycle for operator commands');
          const outcome = await reconciler.cycle(trigger, { force, head });
          poller?.seen(outcome.commit);
          control.finishCycleRequests(requestIds, { cycleId: outcome.cycleId ?? null, result: outcome.result, message: outcome.message ?? (outcome.commit ? `commit ${outcome.commit.slice(0, 12)}, ${outcome.changes.length} change(s)` : null) });
          await hooks.afterCycle(outcome);
          return outcome;
        } catch (error) {
          control.finishCycleRequests(requestIds, { cycleId: null, result: 'failed', message: `cycle crashed: ${String(error)}` });
          throw error;
        } finally {
          lock.release();
        }
      };

      const inboxDocker = inboxDir ? connectDocker() : undefined;
      const importInbox = async (dir: string) => {
        try {
          // Loaded only with --inbox: the bundle format's schema (TypeBox) is no resident weight otherwise.
          const { processInbox } = await import('../../bundle/inbox.js');
          const { importConfig } = await import('../import-config.js');
          await processInbox(dir, await importConfig(config, dir), {
            docker: inboxDocker as NonNullable<typeof inboxDocker>, store, logger: logger.child({ stage: 'inbox' }), now: () => new Date(systemClock.now()), clock: systemClock,
          });
        } catch (error) {
          // A broken trust file or an unreadable inbox: nothing is imported, the cycle still runs.
          logger.error({ inbox: dir, error: (error as Error).message }, 'inbox not processed');
        }
      };

      // A transient or not-ready failure is tried again before the next scheduled cycle, backing
      // off with jitter (cycle-retry.ts); a terminal one waits for the schedule and a new commit.
      let retryTimer: NodeJS.Timeout | undefined;
      let failuresInARow = 0;
      const scheduleRetry = (outcome: CycleOutcome | undefined) => {
        if (!outcome) return;
        failuresInARow = outcome.result === 'failed' && outcome.errorClass !== 'terminal' ? failuresInARow + 1 : 0;
        const delayMs = cycleRetryDelayMs(outcome, failuresInARow, Math.random());
        const next = task.getNextRun();
        if (delayMs === undefined || (next && next.getTime() <= Date.now() + delayMs)) return;
        logger.info({ reason: outcome.reason, code: outcome.code, errorClass: outcome.errorClass, retryInMs: delayMs }, 'trying again before the next scheduled cycle');
        retryTimer = setTimeout(() => void runCycle('retry'), delayMs);
        retryTimer.unref();
      };

      // Scheduled jobs are looked at between cycles, with the last applied commit's
      // configuration: never while a cycle observes and changes the same containers.
      let jobLook: Promise<unknown> | undefined;
      const lookAtJobs = () => {
        if (inFlight || jobLook) return;
        jobLook = reconciler
          .appliedDesired()
          .then((desired) => jobs.tick(desired))
          .catch((error: unknown) => logger.error({ error: String(error) }, 'scheduled jobs not looked at'))
          .finally(() => {
            jobLook = undefined;
          });
      };
      const jobTimer = setInterval(lookAtJobs, JOB_LOOK_INTERVAL_MS);

      // Changes that wait (deploy window, update lock) go out when they may: a cycle at the
      // earliest `until` of the waits, and one as soon as a holding lock file is gone
      // (deferral/wake.ts), not only at the next scheduled cycle.
      const locks = createUpdateLocks(config.stateDir);
      const wake = new DeferralWake({ clock: systemClock, held: (app) => locks.held(app), wake: (trigger) => void runCycle(trigger) });
      let wakeAt: number | undefined;
      let wakeSaid: number | undefined;
      const armWake = (outcome: CycleOutcome | undefined) => {
        wakeAt = wake.arm(outcome?.deferrals ?? []);
        // Said once per end, not at each cycle of a long wait.
        if (wakeAt !== undefined && wakeAt !== wakeSaid) logger.info({ at: new Date(wakeAt).toISOString() }, 'a cycle is due when the wait ends');
        wakeSaid = wakeAt;
        return outcome;
      };

      let inFlight: Promise<unknown> | undefined;
      /** `head`: the branch head the reference check just read, when it starts the cycle. */
      const runCycle = (trigger: string, head?: string) => {
        if (inFlight) {
          logger.warn({ trigger }, 'previous cycle still running, skipping this one');
          return inFlight;
        }
        clearTimeout(retryTimer);
        wake.disarm();
        wakeAt = undefined;
        inFlight = (jobLook ?? Promise.resolve())
          .then(() => lockedCycle(trigger, head))
          .then(armWake)
          .then(scheduleRetry)
          .catch((error: unknown) => logger.error({ error: String(error) }, 'cycle crashed'))
          .finally(() => {
            inFlight = undefined;
            beat();
            const scheduled = task.getNextRun()?.getTime();
            const next = wakeAt !== undefined && (scheduled === undefined || wakeAt < scheduled) ? wakeAt : scheduled;
            store.setMeta('next_cycle_at', next !== undefined ? new Date(next).toISOString() : null);
            // What the cycle allocated is garbage now: collect it before idling (collect-garbage.ts).
            collectGarbage();
          });
        return inFlight;
      };

      // The reference check (source/poll.ts): a push starts a cycle within seconds, while the
      // schedule's full cycles go on repairing drift.
      const poller = pollInterval > 0
        ? new RefPoller({
          check: createHeadCheck(
            { repo: config.repo, branch: config.branch, token: config.gitToken, username: config.gitUsername },
            { fs, http, clock: systemClock }),
          intervalMs: pollInterval,
          clock: systemClock,
          logger: logger.child({ stage: 'poll' }),
          busy: () => inFlight !== undefined,
          onMove: (head) => void runCycle('push', head),
        })
        : undefined;
      const task = cron.schedule(config.schedule, () => void runCycle('schedule'), { name: 'capstan-cycle', noOverlap: true });
      logger.info({ repo: redactUrl(config.repo), branch: config.branch, path: config.path, schedule: config.schedule, pollInterval: pollInterval > 0 ? `${pollInterval / 1000}s` : 'off', node: config.node }, 'agent started');
      if (inboxDir) logger.info({ inbox: inboxDir }, 'importing bundles from the inbox before each cycle');
      void runCycle('startup');
      poller?.start();
      // Operator requests: one indexed SELECT a second; a request made during a cycle is taken
      // by the next one, which starts as soon as that cycle ends.
      const requestPoll = setInterval(() => {
        try {
          if (!inFlight && control.hasPendingCycleRequest()) void runCycle('sync');
        } catch (error) {
          logger.warn({ error: String(error) }, 'could not read operator requests');
        }
      }, 1000);

      await new Promise<void>((resolve) => {
        const stop = async (signal: string) => {
          logger.info({ signal }, 'stopping: waiting for the cycle in flight');
          clearInterval(jobTimer);
          await task.stop();
          clearInterval(requestPoll);
          await poller?.stop();
          await inFlight;
          clearTimeout(retryTimer);
          wake.disarm();
          await jobLook;
          await jobs.stop();
          await hooks.stop();
          store.setMeta('next_cycle_at', null);
          beat(true);
          store.close();
          logger.info('agent stopped');
          resolve();
        };
        process.once('SIGTERM', () => void stop('SIGTERM'));
        process.once('SIGINT', () => void stop('SIGINT'));
      });
    });
}

/** How often scheduled jobs are looked at: a run starts at most this late (between cycles). */
const JOB_LOOK_INTERVAL_MS = 5_000;

/** A URL may carry credentials (`https://user:token@host/…`); never log them. */
export function redactUrl(repo: string): string {
  return repo.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^@/]*@/i, '$1***@');
}
