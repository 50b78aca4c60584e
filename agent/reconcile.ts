import type { Keyring } from '../secrets/index.js';
import type { SopsKeys } from '../secrets/sops/index.js';
import type { HostPolicy } from './policy/index.js';
import type { ReadLimits } from './load/files/read-text.js';
import type { Clock } from './clock.js';
import { CapstanError, type ErrorClass } from './errors.js';
import { loadDesiredState } from './load/index.js';
import type { Logger } from './log.js';
import type { App, DesiredState } from './model.js';
import { REASON, reasonCode, type CycleReason } from './reasons.js';
import { redactValues } from './redact.js';
import type { SecretRegistry } from './secret-registry.js';
import { isOneShot, updateOf } from './targets/rollout.js';
import type { Checkout, GitSource } from './source/index.js';
import { describeResolution, type ImageResolution, type ImageUpdates } from './image-updates/index.js';
import type { StateStore } from './state/store.js';
import { withoutSuspended } from './control/decide.js';
import type { Convergence, KeptOutput, ServiceReadiness, Target, TargetPlan } from './targets/target.js';
import { changedApps, decideDeferrals, withDeferrals, type Deferral, type Override } from './deferral/gate.js';
import { DEFAULT_LOCK_MAX_WAIT_MS, type UpdateLocks } from './deferral/locks.js';
import { readDeferrals, writeDeferrals } from './deferral/store.js';

export type { ServiceReadiness } from './targets/target.js';

export interface ReconcilerDeps {
  source: GitSource;
  /** Where desired state is converged: containers on this engine, or Swarm services. */
  target: Target;
  store: StateStore;
  logger: Logger;
  clock: Clock;
  node: string;
  /** Folder inside the repository that holds the manifests. */
  path: string;
  /** Key of the config-hash HMAC (see load/normalize/hash.ts). */
  hashKey: Uint8Array;
  /**
   * Signature policy (agent/trust): throws a terminal error for a commit that must not be
   * applied. Absent when no trust file is configured.
   */
  verify?: (input: { commit: string; gitdir: string; appliedCommit: string | null; appliedCommittedAt?: string; pinned?: boolean }) => Promise<unknown>;
  /** The keyring for encrypted env files, read at each load; absent when no key file is configured. */
  keyring?: () => Promise<Keyring>;
  /** Age and OpenPGP keys for SOPS files, read at each load; absent when none is configured. */
  sopsKeys?: () => Promise<SopsKeys>;
  /**
   * Fleet mode: this node's share of a loaded desired state (agent/fleet/placement.ts). Absent
   * for Swarm, whose scheduler places services itself.
   */
  share?: (desired: DesiredState) => DesiredState;
  /** The host policy (agent/policy), read at each load; absent, the defaults refuse everything it governs. */
  policy?: () => Promise<HostPolicy>;
  /** Largest file and most bytes a load reads (--max-manifest-bytes, --max-tree-bytes). */
  readLimits?: ReadLimits;
  /** Every value decrypted so far, registered as decrypted (even by a commit that then fails to load). */
  secrets?: SecretRegistry;
  /**
   * A fetched commit's author and subject without materializing it, for the history rows of
   * commits that are not loaded (quarantined, refused). Absent: those rows carry none.
   */
  describeCommit?: (commit: string) => Promise<{ author: string; message: string }>;
  /** What operators set on the host (`capstan suspend`, `capstan pin`; agent/control/), read at each cycle. Absent: neither. */
  control?: OperatorControl;
  /**
   * Image update automation (agent/image-updates): services with `update.image` run what the
   * registry serves. Absent: every service runs the image its manifest names.
   */
  imageUpdates?: ImageUpdates;
  /** Update lock folders (agent/deferral/locks.ts); absent, no lock is ever held. */
  updateLocks?: UpdateLocks;
}

/** Operator control as a cycle sees it (agent/control/store.ts). */
export interface OperatorControl {
  /** Apps suspended one by one (a suspension of everything is honoured by `run` and `once`, which then run no cycle). */
  suspendedApps(): string[];
  /** The commit `capstan pin` (or `rollback`) holds the host on, instead of the branch head. */
  pinnedCommit(): string | null;
  /** What the cycle found of the pin: the branch head, how far ahead it is, or why the pin cannot be deployed. */
  pinChecked(commit: string, view: { head: string; ahead: number | null; problem: string | null }): void;
}

/** How one cycle runs. */
export interface CycleOptions {
  /**
   * Lift every deploy window and update lock for this cycle only (`capstan once --force`,
   * `capstan sync --force`); what was lifted is said in history and notified.
   */
  force?: boolean;
  /** The branch head `capstan run`'s reference check just read, when it started this cycle (GitSource.fetch). */
  head?: string;
}

export interface CycleOutcome {
  /**
   * `blocked`: the head is quarantined, invalid or refused; nothing failed on the host (state/store.ts).
   * `deferred`: converged, except changed apps that wait for a deploy window or an update lock.
   */
  result: 'applied' | 'in-sync' | 'failed' | 'blocked' | 'deferred';
  commit: string | null;
  /** Why the cycle ended so, when it did not converge (reasons.ts). */
  reason?: CycleReason;
  /** The error's own code (`MANIFEST_INVALID`, `UNTRUSTED_SIGNER`…), shown instead of the reason when set. */
  code?: string;
  /** What the failure calls for (errors.ts): transient retries with backoff, terminal waits for a new commit. */
  errorClass?: ErrorClass;
  message?: string;
  changes: string[];
  /** `app/service` this cycle deployed with a new config (new or changed), and those rolled back. */
  rollouts: string[];
  rollbacks: string[];
  /** Desired and ready replicas per service, as last observed (for metrics). */
  services?: ServiceReadiness[];
  /** What the failed replicas or builds of this cycle printed last (redacted), for the notification. */
  outputs?: (KeptOutput & { app: string; service: string })[];
  /** The cycle's row in SQLite (`history`), so an operator's `sync` can name it. */
  cycleId?: number;
  /** Image updates this cycle's registry checks found and nobody was told of yet (notify mode), for notifications. */
  imageUpdates?: ImageResolution[];
  /** Apps whose change waits (deploy window, update lock); `started`: they began waiting this cycle. */
  deferrals?: (Deferral & { started: boolean })[];
  /** Waits lifted this cycle, by `--force` or by the update lock's maximum. */
  overrides?: Override[];
}

export interface Preview {
  checkout: Checkout;
  desired: DesiredState;
  plan: TargetPlan;
  /** The plan as `capstan plan` prints it. */
  text: string;
}

interface Loaded {
  commit: string;
  checkout: Checkout;
  desired: DesiredState;
}

/**
 * One cycle reads as its stages, as in Flux's kustomize-controller: fetch, load, observe,
 * plan, execute, verify, record. Each failing stage records its own reason and stops.
 */
export class Reconciler {
  /** Loaded desired states by commit (the head and the last applied), so unchanged commits skip checkout and load. */
  private loaded = new Map<string, Loaded>();
  /** The applied commit that did not load for scheduled jobs (appliedDesired). */
  private appliedLoadFailed: string | undefined;
  /** Apps suspended at the start of the cycle in progress. */
  private suspended = new Set<string>();

  constructor(private readonly deps: ReconcilerDeps) {}

  private sensitiveValues(): string[] {
    return [...this.loaded.values()].flatMap((loaded) => loaded.desired.sensitiveValues ?? []).concat(this.deps.secrets?.values() ?? []);
  }

  /** `text` without any secret value this agent has decrypted: for what commands print (`plan`). */
  redact(text: string): string {
    return redactValues(text, this.sensitiveValues());
  }

  /** The head commit's desired state for this node, without looking at Docker (`capstan plan --share`). */
  async desiredShare(): Promise<{ checkout: Checkout; desired: DesiredState }> {
    return this.load(await this.deps.source.fetch());
  }

  /** Fetch, load and plan without changing anything on the host (`capstan plan`). */
  async preview(): Promise<Preview> {
    const head = await this.deps.source.fetch();
    // What the next cycle would do: on the pinned commit, without the suspended apps.
    const pinned = this.deps.control?.pinnedCommit() ?? null;
    if (pinned !== null) await this.deps.source.reach(pinned, head);
    this.suspended = new Set(this.deps.control?.suspendedApps() ?? []);
    const commit = pinned ?? head;
    const loaded = await this.load(commit);
    // Updates found by the last registry check are in the plan as they would be rolled out.
    const { checkout, desired } = this.withImages(loaded, commit === this.deps.store.lastAppliedCommit).loaded;
    const plan = await this.deps.target.plan(this.converging(desired));
    const images = this.deps.imageUpdates?.resolutions(loaded.desired, commit === this.deps.store.lastAppliedCommit) ?? [];
    const text = this.deps.target.print(plan) + (images.length > 0 ? `\n${imageUpdatesSection(images)}` : '');
    return { checkout, desired, plan, text: this.redact(text) };
  }

  /**
   * The last applied commit's desired state for this node (loaded once, then cached), which
   * scheduled jobs run with: a job changed by a newer commit runs as that commit once applied.
   * Undefined before the first applied commit, or when it no longer loads.
   */
  async appliedDesired(): Promise<DesiredState | undefined> {
    const applied = this.deps.store.lastAppliedCommit;
    if (!applied) return undefined;
    const cached = this.loaded.get(applied);
    if (cached) return cached.desired;
    // Said once per commit, not at every look (every 5 s); a cycle that loads it fills the cache.
    if (this.appliedLoadFailed === applied) return undefined;
    try {
      return (await this.load(applied)).desired;
    } catch (error) {
      this.appliedLoadFailed = applied;
      this.deps.logger.warn({ commit: applied.slice(0, 12), error: error instanceof Error ? error.message : String(error) }, 'the applied commit does not load: no scheduled job runs');
      return undefined;
    }
  }

  /** The head commit's checkout, not loaded: for `doctor`, which looks at its files. */
  async headCheckout(): Promise<Checkout> {
    return this.deps.source.checkout(await this.deps.source.fetch());
  }

  async cycle(trigger: string, options: CycleOptions = {}): Promise<CycleOutcome> {
    const { store, clock, node } = this.deps;
    this.suspended = new Set(this.deps.control?.suspendedApps() ?? []);
    const startedAt = clock.now();
    const cycleId = store.startCycle(trigger, node);
    let logger = this.deps.logger.child({ cycle: cycleId, ...(options.force ? { force: true } : {}) });
    const finish = (outcome: CycleOutcome, level?: 'error' | 'info'): CycleOutcome => {
      const { result, commit, reason, code, errorClass, rollouts, rollbacks, services, outputs, imageUpdates, deferrals, overrides } = outcome;
      // Messages can quote Docker, which can quote a command built from a secret.
      const secrets = this.sensitiveValues();
      const message = outcome.message === undefined ? undefined : redactValues(outcome.message, secrets);
      const changes = outcome.changes.map((change) => redactValues(change, secrets));
      const durationMs = clock.now() - startedAt;
      store.finishCycle(cycleId, { result, reason: reasonCode(outcome), message, changes, durationMs });
      logger[level ?? (result === 'failed' ? 'error' : 'info')]({ result, reason: reasonCode(outcome), error: message, durationMs, changes: changes.length }, 'cycle finished');
      const known = { ...(code === undefined ? {} : { code }), ...(errorClass === undefined ? {} : { errorClass }) };
      const waits = { ...(deferrals ? { deferrals } : {}), ...(overrides && overrides.length > 0 ? { overrides } : {}) };
      return { result, commit, reason, ...known, message, changes, rollouts, rollbacks, services, ...(outputs ? { outputs } : {}), ...(imageUpdates?.length ? { imageUpdates } : {}), ...waits, cycleId };
    };

    let commit: string;
    try {
      commit = await this.deps.source.fetch(options.head);
    } catch (error) {
      return finish(failure(null, error, REASON.fetchFailed));
    }
    // `capstan pin`: the pinned commit takes the head's place, through every check below.
    const pinned = this.deps.control?.pinnedCommit() ?? null;
    let pinRefusal: CycleOutcome | undefined;
    if (pinned !== null) {
      const head = commit;
      commit = pinned;
      try {
        const ahead = await this.deps.source.reach(pinned, head);
        this.deps.control?.pinChecked(pinned, { head, ahead, problem: null });
      } catch (error) {
        const refused = failure(pinned, error, REASON.verifyFailed);
        // Git unreachable while fetching deeper: tried again like any fetch.
        if (refused.errorClass === 'transient') return finish({ ...refused, reason: REASON.fetchFailed });
        this.deps.control?.pinChecked(pinned, { head, ahead: null, problem: refused.message ?? null });
        pinRefusal = { ...refused, result: 'blocked' };
      }
    }
    logger = logger.child({ commit: commit.slice(0, 12), ...(pinned !== null ? { pinned: true } : {}) });
    const lastApplied = store.lastAppliedCommit;

    // A commit that cannot be applied (it does not load, or its rollout failed before) is not
    // retried in a loop; the last applied commit keeps running and its drift is still repaired.
    // Such a cycle is `blocked`, not `failed`: said at error level the first time the commit is
    // seen, and at info level on each cycle after (one a minute, for as long as the head stays).
    let refusal: CycleOutcome | undefined;
    let target: Loaded | undefined;
    const firstSight = !store.commitSeenBefore(commit, cycleId);
    const refusedLevel = firstSight ? 'error' : 'info';
    const quarantined = pinRefusal ? null : store.quarantineOf(node, commit);
    const untrusted = pinRefusal || quarantined ? undefined : await this.refusedBySignature(commit, lastApplied, pinned !== null);
    if (pinRefusal) {
      store.setCycleCommit(cycleId, await this.describe(commit));
      refusal = pinRefusal;
      logger[refusedLevel]({ reason: reasonCode(refusal), error: refusal.message }, 'pinned commit not deployable, keeping the last applied state');
    } else if (untrusted) {
      // Checked again each cycle, not quarantined: a key added to the trust file or a signed
      // tag pushed later makes the same commit acceptable.
      store.setCycleCommit(cycleId, await this.describe(commit));
      refusal = { ...untrusted, result: 'blocked' };
      logger[refusedLevel]({ reason: reasonCode(refusal), error: refusal.message }, 'commit refused by signature policy, keeping the last applied state');
    } else if (quarantined) {
      store.setCycleCommit(cycleId, await this.describe(commit));
      refusal = {
        result: 'blocked',
        commit,
        reason: REASON.commitQuarantined,
        errorClass: 'terminal',
        message: `commit ${commit.slice(0, 12)} is quarantined since ${quarantined.at} (${quarantined.reason}: ${quarantined.message}); ${pinned !== null ? '`capstan retry` to try it again, or unpin' : 'push a new commit, or `capstan retry` to try it again'}`,
        changes: [],
        ...noRollouts,
      };
      logger[refusedLevel]({ reason: refusal.reason, quarantinedAt: quarantined.at }, 'commit is quarantined, keeping the last applied state');
    } else {
      try {
        target = await this.load(commit);
        store.setCycleCommit(cycleId, { id: commit, author: target.checkout.author, message: target.checkout.message });
      } catch (error) {
        store.setCycleCommit(cycleId, await this.describe(commit));
        refusal = { ...failure(commit, error, REASON.loadFailed), result: 'blocked' };
        logger[refusedLevel]({ reason: reasonCode(refusal), error: refusal.message }, 'commit not applied, keeping the last applied state');
      }
    }
    if (refusal) {
      if (!lastApplied || lastApplied === commit) return finish(refusal, refusedLevel);
      const loadedFallback = await this.load(lastApplied).catch(() => undefined);
      if (!loadedFallback) return finish(refusal, refusedLevel);
      // The last applied commit keeps the images its services were updated to.
      const fallback = this.withImages(loadedFallback, false).loaded;
      const kept = await this.deps.target.converge(this.converging(fallback.desired), { logger, cycleId });
      // Keeping the last applied commit running failed on the host: that is a failure.
      if (kept.result === 'failed') {
        const message = `${refusal.message}; converging the last applied commit ${lastApplied.slice(0, 12)} failed: ${reasonCode(kept)}: ${kept.message}`;
        return finish({ ...refusal, result: 'failed', errorClass: kept.errorClass, message, changes: kept.changes, services: kept.services });
      }
      return finish({ ...refusal, changes: kept.changes, services: kept.services }, refusedLevel);
    }

    // Image updates are rolled out only on a commit already applied: one change at a time, so a
    // failure is the commit's or the image's, never both (a new commit runs the images already deployed).
    const announced = (await this.deps.imageUpdates?.check(target!.desired, logger)) ?? [];
    const imageUpdates = announced.filter((resolution) => resolution.mode === 'notify');
    const { loaded: resolved, resolutions } = this.withImages(target!, target!.commit === lastApplied);
    // Changed apps wait for their deploy window or update lock; the rest converges (deferral/gate.ts).
    // Suspended apps are out of both (converging); a waiting app keeps the images it runs.
    let gated: Gated;
    try {
      gated = await this.gate({ ...resolved, desired: this.converging(resolved.desired) }, target!, options, logger);
    } catch (error) {
      return finish(failure(commit, error, REASON.loadFailed));
    }
    const { deferrals, overrides } = gated;
    const forced = overrides.map((item) => item.message);
    if (gated.freeze) {
      const message = `change freeze (deploy_windows.drift_repair: false): ${describeWaits(deferrals)}`;
      logger.info({ deferred: deferrals.map((item) => item.app) }, 'change freeze: nothing changed on the host');
      return finish({ result: 'deferred', commit, message, changes: [], ...noRollouts, deferrals, overrides, imageUpdates });
    }
    const outcome = await this.deps.target.converge(gated.desired, { logger, cycleId });
    if (outcome.rolloutFailures.length > 0) {
      const failed = new Set(outcome.rolloutFailures.map(({ app, service }) => `${app}/${service}`));
      const updates = resolutions.filter((resolution) => resolution.rollingOut && failed.has(`${resolution.app}/${resolution.service}`));
      if (updates.length > 0) return finish({ ...(await this.handleImageUpdateFailure(target!, resolved, outcome, updates, logger, cycleId)), imageUpdates, overrides });
      return finish({ ...(await this.handleRolloutFailure(resolved, outcome, lastApplied, logger, cycleId)), imageUpdates, overrides });
    }
    if (outcome.result === 'failed') return finish({ ...outcome, ...noRollouts, deferrals, overrides, imageUpdates });
    if (deferrals.length > 0) {
      // Not the last applied commit yet: what runs is recorded app by app, with the commit each came from.
      const rollouts = this.recordPartial(gated.desired, gated.commitOf);
      logger.info({ deferred: deferrals.map((item) => `${item.app} (${item.cause})`) }, 'changes deferred');
      return finish({ ...outcome, result: 'deferred', message: describeWaits(deferrals), changes: [...forced, ...outcome.changes], rollouts, rollbacks: [], deferrals, overrides, imageUpdates });
    }
    const rollouts = await this.recordApplied(resolved, outcome, logger);
    this.deps.imageUpdates?.recordApplied(resolutions);
    return finish({ ...outcome, changes: [...forced, ...outcome.changes], rollouts, rollbacks: [], deferrals, overrides, imageUpdates });
  }

  /**
   * The commit (cached, shared) with each image update policy's image resolved from the records;
   * with `candidates`, the updates found and not quarantined are rolled out too.
   */
  private withImages(loaded: Loaded, candidates: boolean): { loaded: Loaded; resolutions: ImageResolution[] } {
    if (!this.deps.imageUpdates) return { loaded, resolutions: [] };
    const { desired, resolutions } = this.deps.imageUpdates.resolve(loaded.desired, { candidates });
    return { loaded: desired === loaded.desired ? loaded : { ...loaded, desired }, resolutions };
  }

  /**
   * An image update failed on this host: quarantine its digest for the service (not the commit,
   * which ran before), keep the failed replicas' output, and converge the same commit with the
   * images deployed before, unless a failed service asks to pause.
   */
  private async handleImageUpdateFailure(target: Loaded, resolved: Loaded, outcome: Convergence, updates: ImageResolution[], logger: Logger, cycleId: number): Promise<CycleOutcome> {
    const images = this.deps.imageUpdates!;
    const what = outcome.rolloutFailures.map((item) => item.message).join('; ');
    const names = updates.map((update) => `${update.app}/${update.service} ${update.available!.tag}@${update.available!.digest.slice(0, 19)}`).join(', ');
    for (const update of updates) images.quarantine(update, what);
    const outputs = this.keepOutputs(outcome, target.commit, cycleId, logger);
    const failed = updates.map((update) => `${update.app}/${update.service}`);
    const pause = updates.some(({ app, service }) => {
      const spec = resolved.desired.apps.find((candidate) => candidate.name === app)?.services.find((candidate) => candidate.name === service);
      return spec !== undefined && updateOf(spec).failureAction === 'pause';
    });
    if (pause) {
      logger.error({ error: what, images: names }, 'image update failed; image quarantined, rollout paused');
      return { ...outcome, ...noRollouts, result: 'failed', commit: target.commit, reason: REASON.rolloutFailed, code: 'IMAGE_UPDATE_FAILED', errorClass: 'terminal', message: `image update ${names} failed, paused: ${what}`, outputs };
    }
    logger.error({ error: what, images: names }, 'image update failed; image quarantined, rolling back');
    const { loaded: previous, resolutions } = this.withImages(target, false);
    const rollback = await this.deps.target.converge(this.converging(previous.desired), { logger, cycleId });
    const changes = [...outcome.changes, ...rollback.changes.map((change) => `rollback: ${change}`)];
    if (rollback.result === 'failed') {
      const message = `image update ${names} failed: ${what}; rollback failed too: ${rollback.message}`;
      return { result: 'failed', commit: target.commit, reason: REASON.rollbackFailed, code: 'IMAGE_UPDATE_FAILED', errorClass: 'transient', message, changes, rollouts: [], rollbacks: failed, services: rollback.services, outputs };
    }
    this.recordDeployments(previous);
    images.recordApplied(resolutions);
    return {
      result: 'failed',
      commit: target.commit,
      reason: REASON.rolledBack,
      code: 'IMAGE_UPDATE_FAILED',
      errorClass: 'terminal',
      message: `image update ${names} failed: ${what}; quarantined for the service, rolled back to the image deployed before`,
      changes,
      rollouts: [],
      rollbacks: failed,
      services: rollback.services,
      outputs,
    };
  }

  /**
   * Decides which changed apps wait, records the waits, and returns the desired state to
   * converge: waiting apps at the version they run (loaded from the commit each was deployed
   * from, with the images it was updated to), the others at `target`. `raw`: the same commit
   * without image updates rolled out, for the apps of that commit that wait.
   */
  private async gate(target: Loaded, raw: Loaded, options: CycleOptions, logger: Logger): Promise<Gated> {
    const { store, node, clock } = this.deps;
    const policy = await this.deps.policy?.();
    const deployed = store.deployments(node);
    const commitOf = new Map(deployed.map((row) => [row.app, row.commit]));
    const previous = readDeferrals(store, node);
    const now = clock.now();
    const decide = (locksHeld: ReadonlySet<string>) =>
      decideDeferrals({
        desired: target.desired,
        deployed,
        windows: policy?.deployWindows,
        locksHeld,
        lockMaxWaitMs: policy?.updateLockMaxWaitMs ?? DEFAULT_LOCK_MAX_WAIT_MS,
        previous,
        force: options.force === true,
        now,
      });
    const locksHeld = new Set<string>();
    for (const app of changedApps(target.desired, deployed)) if (commitOf.has(app) && (await this.deps.updateLocks?.held(app))) locksHeld.add(app);
    let decision = decide(locksHeld);
    // Only the apps that wait or hold a lock are read at their running version (usually the last applied commit, loaded already).
    const running = new Map<string, App>();
    for (const app of new Set([...decision.deferred.map((item) => item.app), ...locksHeld])) {
      const commit = commitOf.get(app);
      if (commit === undefined) continue;
      const read = commit === raw.commit ? raw : await this.load(commit).catch((error: unknown) => {
        throw new CapstanError('DEFERRAL_FAILED', 'transient', `cannot read the running version of ${app} (commit ${commit.slice(0, 12)}) to keep it while its change waits: ${(error as Error).message}`, { app, commit }, { cause: error });
      });
      const loaded = this.withImages(read, false).loaded;
      const current = loaded.desired.apps.find((candidate) => candidate.name === app);
      // From another commit: its repository files are that commit's (App.commit).
      if (current) running.set(app, commit === target.commit ? current : { ...current, commit });
    }
    // A lock file left in the folder of an app whose running version asks for no lock holds nothing.
    const stale = [...locksHeld].filter((app) => !running.get(app)?.services.some((service) => service.updateLock));
    if (stale.length > 0) decision = decide(new Set([...locksHeld].filter((app) => !stale.includes(app))));
    for (const override of decision.overridden) logger.warn({ app: override.app, cause: override.cause }, override.message);
    // A waiting app is kept at its running version; one never deployed is left out; one missing from its own commit (impossible unless edited by hand) proceeds.
    const deferrals = decision.deferred
      .filter((item) => running.has(item.app) || !commitOf.has(item.app))
      .map((item) => ({ ...item, started: !previous.has(item.app) }));
    writeDeferrals(store, node, deferrals);
    const waiting = new Set(deferrals.map((item) => item.app));
    const prefetch = new Set(deferrals.filter((item) => item.cause === 'lock').map((item) => item.app));
    // `drift_repair: false` and a window of some apps: those it keeps waiting are left as they are.
    const frozen = new Set(deferrals.filter((item) => item.frozen).map((item) => item.app));
    const desired = withDeferrals(target.desired, waiting, running, prefetch, frozen);
    const commits = new Map(desired.apps.map((app) => [app.name, waiting.has(app.name) ? commitOf.get(app.name)! : target.commit]));
    return { desired, deferrals, overrides: decision.overridden, freeze: decision.freeze, commitOf: commits };
  }

  /**
   * Records what runs after a cycle in which some changes wait; returns the services it deployed.
   * Apps left alone (suspended, or frozen while they wait) keep their records: they run what they ran.
   */
  private recordPartial(desired: DesiredState, commitOf: ReadonlyMap<string, string>): string[] {
    const { store, node } = this.deps;
    const untouched = new Set(desired.suspendedApps ?? []);
    const before = store.deployments(node);
    const recorded = new Map(before.map((row) => [`${row.app}/${row.service}`, row.configHash]));
    const kept = before.filter((row) => untouched.has(row.app));
    const rows = desired.apps.flatMap((app) =>
      app.services.map((service) => ({
        app: app.name,
        service: service.name,
        configHash: service.configHash,
        image: service.image,
        replicas: service.replicas,
        commit: commitOf.get(app.name) ?? desired.commit,
        oneShot: isOneShot(service),
        hooksHash: app.hooksHash ?? '',
      })),
    );
    store.recordDeployments(node, [...kept, ...rows]);
    return rows.filter((row) => recorded.get(`${row.app}/${row.service}`) !== row.configHash).map((row) => `${row.app}/${row.service}`);
  }

  /**
   * The new config failed on this host. Quarantine the commit first, so that a crash during
   * the rollback cannot make the next cycle try the same commit again, then roll back to the
   * last applied commit unless a failed service asks to pause.
   */
  private async handleRolloutFailure(target: Loaded, outcome: Convergence, lastApplied: string | null, logger: Logger, cycleId: number): Promise<CycleOutcome> {
    const { store, node } = this.deps;
    const what = outcome.rolloutFailures.map((item) => item.message).join('; ');
    store.quarantine(node, { commit: target.commit, reason: REASON.rolloutFailed, message: what });
    // Kept before the rollback removes the failed replicas, and their logs with them.
    const outputs = this.keepOutputs(outcome, target.commit, cycleId, logger);
    const pause = outcome.rolloutFailures.some(({ app, service }) => {
      const spec = target.desired.apps.find((candidate) => candidate.name === app)?.services.find((candidate) => candidate.name === service);
      return spec !== undefined && updateOf(spec).failureAction === 'pause';
    });
    const loadedPrevious = !pause && lastApplied && lastApplied !== target.commit ? await this.load(lastApplied).catch(() => undefined) : undefined;
    // Back to the last applied commit with the images its services ran.
    const previous = loadedPrevious ? this.withImages(loadedPrevious, false).loaded : undefined;
    if (!previous) {
      logger.error({ error: what }, 'rollout failed; commit quarantined, rollout paused');
      return { ...outcome, ...noRollouts, result: 'failed', commit: target.commit, reason: REASON.rolloutFailed, code: undefined, errorClass: 'terminal', message: `rollout failed, paused: ${what}`, outputs };
    }
    const failed = [...new Set(outcome.rolloutFailures.map(({ app, service }) => `${app}/${service}`))];
    logger.error({ error: what, rollbackTo: lastApplied }, 'rollout failed; commit quarantined, rolling back');
    const rollback = await this.deps.target.converge(this.converging(previous.desired), { logger, cycleId });
    const changes = [...outcome.changes, ...rollback.changes.map((change) => `rollback: ${change}`)];
    if (rollback.result === 'failed') {
      const message = `rollout failed: ${what}; rollback failed too: ${rollback.message}`;
      // The commit is quarantined already; what failed is converging the last applied one, a host problem.
      return { result: 'failed', commit: target.commit, reason: REASON.rollbackFailed, errorClass: 'transient', message, changes, rollouts: [], rollbacks: failed, services: rollback.services, outputs };
    }
    this.recordDeployments(previous);
    // A pre_deploy job failed before any replica was replaced, and converging the last applied
    // commit changed nothing: say so, not "rolled back" (nothing was).
    const preDeployOnly = outcome.rolloutFailures.every((failure) => failure.hook === 'pre_deploy') && rollback.changes.length === 0;
    if (preDeployOnly) {
      return {
        result: 'failed',
        commit: target.commit,
        reason: REASON.preDeployFailed,
        errorClass: 'terminal',
        message: `pre_deploy failed, nothing replaced: ${what}; commit quarantined, ${previous.commit.slice(0, 12)} keeps running`,
        changes,
        rollouts: [],
        rollbacks: [],
        services: rollback.services,
        outputs,
      };
    }
    return {
      result: 'failed',
      commit: target.commit,
      reason: REASON.rolledBack,
      errorClass: 'terminal',
      message: `rollout failed: ${what}; rolled back to ${previous.commit.slice(0, 12)}`,
      changes,
      rollouts: [],
      rollbacks: failed,
      services: rollback.services,
      outputs,
    };
  }

  /** Stores each failed replica's or build's last output with the cycle, redacted of every secret known. */
  private keepOutputs(outcome: Convergence, commit: string, cycleId: number, logger: Logger): NonNullable<CycleOutcome['outputs']> {
    const secrets = this.sensitiveValues();
    const at = new Date(this.deps.clock.now()).toISOString();
    const outputs = outcome.rolloutFailures.flatMap(({ app, service, output }) =>
      output ? [{ ...output, app, service, output: redactValues(output.output, secrets) }] : [],
    );
    for (const kept of outputs) {
      this.deps.store.keepFailureOutput(this.deps.node, { ...kept, cycleId, commit, reason: REASON.rolloutFailed, at });
      logger.error({ app: kept.app, service: kept.service, [kept.kind]: kept.subject, exitCode: kept.exitCode, output: kept.output }, 'failed replica\'s last output');
    }
    return outputs;
  }

  /** A commit's author and subject for its history row, or blanks when it cannot be read. */
  private async describe(commit: string): Promise<{ id: string; author: string; message: string }> {
    const described = await this.deps.describeCommit?.(commit).catch(() => undefined);
    return { id: commit, author: described?.author ?? '', message: described?.message ?? '' };
  }

  /** Records a converged commit; returns the services it deployed (new, or with a new config). */
  private async recordApplied(target: Loaded, outcome: Convergence, logger: Logger): Promise<string[]> {
    const { store, node } = this.deps;
    const previous = store.lastAppliedCommit;
    // A suspended app's record stays as it was: it still runs what it ran.
    const recorded = new Map(store.deployments(node).filter((row) => !this.suspended.has(row.app)).map((row) => [`${row.app}/${row.service}`, row]));
    const services = this.converging(target.desired).apps.flatMap((app) => app.services.map((service) => ({ key: `${app.name}/${service.name}`, service })));
    const rollouts = services.filter(({ key, service }) => recorded.get(key)?.configHash !== service.configHash).map(({ key }) => key);
    // The cycle that applied this commit recorded it, pruned and collected; an in-sync cycle on
    // the same commit (every minute, for years) finds all that done and writes nothing.
    const unchanged =
      outcome.result === 'in-sync' &&
      target.commit === previous &&
      recorded.size === services.length &&
      services.every(
        ({ key, service }) =>
          recorded.get(key)?.configHash === service.configHash &&
          recorded.get(key)?.replicas === service.replicas &&
          // A state dir from before one_shot was recorded gets it on its first in-sync cycle.
          recorded.get(key)?.oneShot === isOneShot(service),
      );
    if (unchanged) return [];
    this.recordDeployments(target);
    // The rewind check of signature policy compares commit times with the applied commit's.
    store.setMeta('last_applied_committed_at', target.checkout.committedAt);
    // Containers whose config did not change keep bind mounts into the checkout of the
    // commit that created them, so those checkouts stay; so does the previous one, for rollback.
    const keep = new Set([target.commit, ...(previous ? [previous] : []), ...outcome.inUseCommits]);
    await this.deps.source.prune([...keep]).catch((error: unknown) => {
      logger.warn({ error: String(error) }, 'could not prune old checkouts');
    });
    await this.deps.target.afterApplied(target.desired, logger);
    for (const [commit] of this.loaded) if (!keep.has(commit)) this.loaded.delete(commit);
    return rollouts;
  }

  private recordDeployments(applied: Loaded): void {
    const kept = this.deps.store.deployments(this.deps.node).filter((row) => this.suspended.has(row.app));
    this.deps.store.recordDeployments(
      this.deps.node,
      [...kept, ...this.converging(applied.desired).apps.flatMap((app) =>
        app.services.map((service) => ({
          app: app.name,
          service: service.name,
          configHash: service.configHash,
          image: service.image,
          replicas: service.replicas,
          commit: applied.commit,
          oneShot: isOneShot(service),
          hooksHash: app.hooksHash ?? '',
        })),
      )],
    );
  }

  /** The desired state a target converges: without the apps an operator suspended (`capstan suspend APP`). */
  private converging(desired: DesiredState): DesiredState {
    return withoutSuspended(desired, [...this.suspended]);
  }

  /** The refusal when signature policy rejects `commit`; undefined when it may be applied. */
  private async refusedBySignature(commit: string, lastApplied: string | null, pinned: boolean): Promise<CycleOutcome | undefined> {
    const { verify, source, store } = this.deps;
    if (!verify) return undefined;
    try {
      const appliedCommittedAt = store.getMeta('last_applied_committed_at') ?? undefined;
      // A pinned commit's signature is checked as the head's; going back to it is the operator's choice, not a rewind.
      await verify({ commit, gitdir: await source.gitdir(), appliedCommit: lastApplied, appliedCommittedAt, pinned });
      return undefined;
    } catch (error) {
      return failure(commit, error, REASON.verifyFailed);
    }
  }

  private async load(commit: string): Promise<Loaded> {
    const cached = this.loaded.get(commit);
    if (cached) return cached;
    const checkout = await this.deps.source.checkout(commit);
    const desired = await loadDesiredState({
      root: checkout.dir,
      path: this.deps.path,
      commit,
      hashKey: this.deps.hashKey,
      keyring: await this.deps.keyring?.(),
      sopsKeys: await this.deps.sopsKeys?.(),
      policy: await this.deps.policy?.(),
      secrets: this.deps.secrets,
      readLimits: this.deps.readLimits,
    });
    const loaded = { commit, checkout, desired: this.deps.share ? this.deps.share(desired) : desired };
    this.loaded.set(commit, loaded);
    return loaded;
  }
}

const noRollouts = { rollouts: [] as string[], rollbacks: [] as string[] };

interface Gated {
  desired: DesiredState;
  deferrals: (Deferral & { started: boolean })[];
  overrides: Override[];
  freeze: boolean;
  /** The commit each app of `desired` comes from. */
  commitOf: ReadonlyMap<string, string>;
}

/** `shop waits for deny window "0 9 * * 1-5" for 8h until 2026-12-07T17:00:00.000Z; …` */
function describeWaits(deferrals: readonly Deferral[]): string {
  return deferrals.map((item) => `${item.app} waits: ${item.message}${item.until ? ` until ${item.until}` : ''}`).join('; ');
}

/**
 * A stage that threw. Its error's class decides what follows; an error that is not a
 * CapstanError is transient when fetching (the network) and terminal otherwise (the commit).
 */
function failure(commit: string | null, error: unknown, reason: CycleReason): CycleOutcome {
  const message = error instanceof Error ? error.message : String(error);
  const known = error instanceof CapstanError ? { code: error.code, errorClass: error.errorClass } : { errorClass: reason === REASON.fetchFailed ? ('transient' as const) : ('terminal' as const) };
  return { result: 'failed', commit, reason, ...known, message, changes: [], ...noRollouts };
}

/** `capstan plan`'s section on image update policies: what runs, what the registry serves. */
function imageUpdatesSection(resolutions: ImageResolution[]): string {
  const lines = resolutions.map((resolution) => `  ${resolution.app}/${resolution.service}: ${describeResolution(resolution)}`);
  return ['image updates:', ...lines].join('\n') + '\n';
}
