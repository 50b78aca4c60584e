import { REASON, reasonCode, type CycleReason } from '../reasons.js';
import type { NotificationEvent } from './events.js';

/** The parts of a cycle's outcome that decide what operators are told. */
export interface OutcomeFacts {
  result: 'applied' | 'in-sync' | 'failed' | 'blocked' | 'deferred';
  commit: string | null;
  reason?: CycleReason;
  /** The error's own code, said instead of the reason when set (`MANIFEST_INVALID`). */
  code?: string;
  message?: string;
  /** `app/service` deployed with a new config by this cycle (new or changed), and those rolled back. */
  rollouts: string[];
  rollbacks: string[];
  /** The last output of each failed replica or build (already redacted). */
  outputs?: { app: string; service: string; subject: string; exitCode: number | null; output: string }[];
  /** Image updates found and not announced before (`update.mode: notify`), each said once. */
  imageUpdates?: { app: string; service: string; image: string; policy: string; running: { tag: string } | null; available: { tag: string; digest: string } | null }[];
  /** Apps whose change waits (agent/deferral/); `started`: this cycle is the first to hold it back. */
  deferrals?: { app: string; message: string; until?: string; started: boolean }[];
  /** Waits lifted this cycle (`--force`, or an update lock past its maximum). */
  overrides?: { app: string; message: string }[];
}

/** Lines of each kept output a notification quotes: the end of it, where the error is. */
export const NOTIFIED_OUTPUT_LINES = 20;

/** The failure message followed by what each failed replica printed last. */
export function withOutputs(message: string, outputs: OutcomeFacts['outputs']): string {
  const parts = (outputs ?? []).map(({ subject, exitCode, output }) => {
    const tail = output.split('\n').slice(-NOTIFIED_OUTPUT_LINES).join('\n');
    return `last output of ${subject}${exitCode === null ? '' : ` (exit code ${exitCode})`}:\n${tail}`;
  });
  return [message, ...parts].join('\n\n');
}

/** A run of this many failed cycles in a row is worth one "repeated failure" message. */
export const REPEATED_FAILURE_THRESHOLD = 3;

/**
 * Which notifications a finished cycle gives. Pure: every event is said once, when it happens,
 * never on each following cycle that finds the same state (a quarantined or refused head is
 * re-checked every minute; people hear about it once).
 *
 * @param previous the cycle before this one, to tell a new refusal from a repeated one
 * @param consecutiveFailures failed cycles in a row, this one included
 */
export function eventsForOutcome(
  outcome: OutcomeFacts,
  context: { node: string; previous: { commit: string | null; reason: string | null } | null; consecutiveFailures: number },
): Omit<NotificationEvent, 'at'>[] {
  const code = reasonCode(outcome);
  const base = { node: context.node, commit: outcome.commit, reason: code, message: outcome.message ?? '' };
  const events: Omit<NotificationEvent, 'at'>[] = [];
  if ((outcome.result === 'applied' || outcome.result === 'in-sync' || outcome.result === 'deferred') && outcome.rollouts.length > 0) {
    events.push({ ...base, kind: 'deployed', message: `deployed ${outcome.commit?.slice(0, 12)}: ${outcome.rollouts.join(', ')}` });
  }
  // Said once, when an app starts waiting, and when a wait is lifted; not on every cycle between.
  for (const wait of outcome.deferrals ?? []) {
    if (!wait.started) continue;
    const until = wait.until ? ` until ${wait.until}` : '';
    events.push({ ...base, kind: 'deferred', app: wait.app, reason: undefined, message: `${wait.app}: change of ${outcome.commit?.slice(0, 12)} waits: ${wait.message}${until}` });
  }
  for (const lifted of outcome.overrides ?? []) events.push({ ...base, kind: 'deferral-lifted', app: lifted.app, reason: undefined, message: lifted.message });
  const failedWithOutput = { ...base, message: withOutputs(base.message, outcome.outputs) };
  switch (outcome.reason) {
    case REASON.rolledBack:
      events.push({ ...failedWithOutput, kind: 'rollback' });
      events.push({ ...failedWithOutput, kind: 'quarantined' });
      break;
    case REASON.rolloutFailed:
    case REASON.preDeployFailed:
    case REASON.rollbackFailed:
      events.push({ ...failedWithOutput, kind: 'quarantined' });
      break;
  }
  for (const update of outcome.imageUpdates ?? []) {
    if (!update.available) continue;
    const running = update.running?.tag ?? update.image;
    const message = `${update.app}/${update.service}: running ${running}, ${update.available.tag} (${update.available.digest}) available (${update.policy}, notify mode: not deployed)`;
    events.push({ node: context.node, commit: outcome.commit, kind: 'image-update-available', app: update.app, service: update.service, message });
  }
  // `previous` is a history row, which keeps the code people see.
  const repeated = context.previous?.commit === outcome.commit && context.previous?.reason === code;
  // A head refused by signature policy, or blocked because it does not load, no longer counts
  // towards a repeated failure, so it is said once here; a quarantined one was said already.
  const refusedHead = outcome.reason === REASON.verifyFailed || (outcome.result === 'blocked' && outcome.reason !== REASON.commitQuarantined);
  if (refusedHead && !repeated) events.push({ ...base, kind: 'commit-refused' });
  if (outcome.result === 'failed' && context.consecutiveFailures === REPEATED_FAILURE_THRESHOLD) {
    events.push({ ...base, kind: 'repeated-failure', message: `${REPEATED_FAILURE_THRESHOLD} cycles failed in a row: ${base.message}` });
  }
  return events;
}
