// Why a cycle ended as it did: one typed set of reasons, as Flux's `meta.*Reason` constants, so
// every consumer (history, status, notifications, metrics, the retry decision) switches on the
// same type and a typo is a compile error. The reason names the stage that stopped the cycle;
// the error's own code (`MANIFEST_INVALID`, `UNTRUSTED_SIGNER`, `NAME_CONFLICT`…), when there is
// one, travels beside it as `code`, and is what people see (`reasonCode`).

export const REASON = {
  /** The branch could not be fetched. */
  fetchFailed: 'FETCH_FAILED',
  /** Signature policy refused the head commit. */
  verifyFailed: 'VERIFY_FAILED',
  /** The head commit's manifests do not load. */
  loadFailed: 'LOAD_FAILED',
  /** The head commit failed a rollout before; it waits for a new commit. */
  commitQuarantined: 'COMMIT_QUARANTINED',
  /** The target could not be observed (Docker unreachable). */
  observeFailed: 'OBSERVE_FAILED',
  /** The plan has problems (a name held by another, an empty commit…): nothing was changed. */
  planBlocked: 'PLAN_BLOCKED',
  /** An operation failed, not because of the new config (Docker or a registry). */
  applyFailed: 'APPLY_FAILED',
  /** Observing again after executing still finds work to do. */
  notConverged: 'NOT_CONVERGED',
  /** The new config failed; the commit is quarantined and the rollout paused (`failure_action: pause`, or nothing to roll back to). */
  rolloutFailed: 'ROLLOUT_FAILED',
  /** The new config failed; the commit is quarantined and the last applied commit converged again. */
  rolledBack: 'ROLLED_BACK',
  /** A pre_deploy hook job failed before anything was replaced: the commit is quarantined, the last applied commit keeps running. */
  preDeployFailed: 'PRE_DEPLOY_FAILED',
  /** The new config failed and converging the last applied commit failed too. */
  rollbackFailed: 'ROLLBACK_FAILED',
} as const;

export type CycleReason = (typeof REASON)[keyof typeof REASON];

/** What people see and SQLite keeps: the error's own code when there is one, else the reason. */
export function reasonCode(outcome: { reason?: CycleReason; code?: string }): string | undefined {
  return outcome.code ?? outcome.reason;
}
