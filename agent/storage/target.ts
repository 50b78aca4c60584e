// The storage stage of the containers target: wraps its converge so that volumes with
// `snapshot:` follow their service, with one writer at a time.
//
//   hand-offs   leases this node holds for volumes no longer placed here: stop, final
//               snapshot, hand-off record (volumes.ts)
//   claims      every snapshot volume placed here: hold its lease, or wait for the old node
//   converge    without the services of volumes not held yet (their volumes are created)
//   restores    volumes claimed from another node: restore into the new volume
//   converge    again, with the services whose volumes are now restored
//   snapshots   those that are due (decide.ts isDue), with retention
//
// A service whose volume this node may not write is left out of the desired state: never
// started here, and stopped if it ran. Waiting within `handoff_timeout` is a change line;
// after it, or when a lease is contended, the cycle fails with the reason (status, history,
// notifications). A failed snapshot does not fail the cycle: it is notified, counted, and
// shown by `capstan volumes`.
import type { Logger } from '../log.js';
import { REASON } from '../reasons.js';
import type { App, DesiredState } from '../model.js';
import type { Convergence, Target, TargetPlan } from '../targets/target.js';
import { renderPlan } from '../targets/print.js';
import { isDue, leaseState } from './decide.js';
import { describeStep, planStorage, type RepositoryFacts, type StorageStep } from './plan.js';
import { volumeHistory } from './repository.js';
import type { ResticRun } from './restic.js';
import type { Claim, SnapshotVolume, VolumeStorage } from './volumes.js';
import { startContainers } from './volume-data.js';

export function snapshotVolumes(desired: DesiredState): SnapshotVolume[] {
  return desired.apps.flatMap((app) =>
    app.volumes.flatMap((volume) => (volume.snapshot ? [{ app: app.name, volume: volume.name, dockerName: volume.dockerName, snapshot: volume.snapshot }] : [])),
  );
}

/** The desired state without the services that mount any of `volumes` (`app/volume`); the volumes stay. */
export function withoutServicesOf(desired: DesiredState, volumes: Set<string>): DesiredState {
  if (volumes.size === 0) return desired;
  const apps: App[] = desired.apps.map((app) => ({
    ...app,
    services: app.services.filter((service) => !service.mounts.some((mount) => mount.type === 'volume' && volumes.has(`${app.name}/${mount.volume}`))),
  }));
  return { ...desired, apps };
}

export class StorageTarget implements Target {
  constructor(
    private readonly inner: Target,
    private readonly storage: VolumeStorage,
    /** CAPSTAN_ALLOW_EMPTY: a commit with no services really removes everything (and hands it off). */
    private readonly allowEmpty = false,
  ) {}

  /**
   * The target's plan for what the cycle would run (without the services of volumes another
   * node still holds), then the storage steps (plan.ts), numbered after its operations and
   * counted with them. Reads the repositories with `--no-lock`: nothing is written, no lease
   * taken, no repository created.
   */
  async plan(desired: DesiredState): Promise<TargetPlan> {
    const { node, store, clock } = this.storage.deps;
    const placed = snapshotVolumes(desired);
    const rows = store.rows(node);
    const facts = new Map<string, RepositoryFacts>();
    for (const volume of placed) {
      const row = rows.find((candidate) => candidate.app === volume.app && candidate.volume === volume.volume);
      if (row?.state === 'restoring' && row.restoreFrom) continue;
      facts.set(`${volume.app}/${volume.volume}`, await this.readFacts(volume));
    }
    const { steps, heldBack } = planStorage({
      node,
      rows,
      placed,
      handsOff: desired.apps.length > 0 || (desired.placedElsewhere ?? 0) > 0 || this.allowEmpty,
      stays: (app, volume) => desired.apps.find((candidate) => candidate.name === app)?.volumes.some((candidate) => candidate.name === volume) ?? false,
      facts,
      now: clock.now(),
    });
    const inner = await this.inner.plan(withoutServicesOf(desired, heldBack));
    const first = inner.operations.length + 1;
    return { ...inner, operations: [...inner.operations, ...steps.map((step, index) => ({ id: first + index, ...step }))] };
  }

  print(plan: TargetPlan): string {
    const steps = plan.operations.filter(isStorageStep);
    const text = this.inner.print({ ...plan, operations: plan.operations.filter((operation) => !isStorageStep(operation)) });
    if (steps.length === 0) return text;
    return text + renderPlan(`volume storage on node ${plan.node}`, [], steps.map((step) => ({ id: step.id, text: describeStep(step), cause: step.cause, after: '' })));
  }

  /** One volume's lease records and latest snapshot, read-only; a repository not created yet reads as empty. */
  private async readFacts(volume: SnapshotVolume): Promise<RepositoryFacts> {
    try {
      const repository = (await this.storage.deps.repositories())[volume.snapshot.repository];
      if (!repository) return { error: `repository '${volume.snapshot.repository}' is not in this host's configuration` };
      const restic = await this.storage.deps.restic(repository);
      const readOnly: ResticRun = (args, options) => restic([args[0], '--no-lock', '--no-cache', ...args.slice(1)], options);
      const history = await volumeHistory(readOnly, volume);
      return { lease: leaseState(history.records), ...(history.data.length > 0 ? { latest: history.data.at(-1)!.id } : {}) };
    } catch (error) {
      const message = (error as Error).message;
      if (/Is there a repository at the following location|unable to open config file/.test(message)) return { lease: { holders: [] } };
      return { error: `cannot read repository ${volume.snapshot.repository}: ${message}` };
    }
  }

  afterApplied(desired: DesiredState, logger: Logger): Promise<void> {
    return this.inner.afterApplied(desired, logger);
  }

  async converge(desired: DesiredState, context: { logger: Logger; cycleId: number }): Promise<Convergence> {
    const { logger } = context;
    const { node, store, events } = this.storage.deps;
    const changes: string[] = [];
    const during: string[] = [];
    const after: string[] = [];
    const blocked: { reason: string; message: string }[] = [];
    const fail = (app: string, volume: string, reason: string, message: string) => {
      const text = `volume ${app}/${volume}: ${message}`;
      logger.error({ app, volume, reason, error: message }, 'volume storage failed');
      store.recordError(node, app, volume, `${reason}: ${message}`);
      events?.failed({ app, volume, reason, message: text });
      return text;
    };
    const placed = snapshotVolumes(desired);
    const placedKeys = new Set(placed.map((volume) => `${volume.app}/${volume.volume}`));
    // An app an operator suspended keeps its volumes where they are: no hand-off, no release.
    const suspended = new Set(desired.suspendedApps ?? []);

    // Hand-offs first: the old node's final snapshot is what the new node restores. A commit
    // with no services at all (a path typo) hands nothing off, as the planner prunes nothing;
    // a share emptied by placement (everything moved to other nodes) does.
    if (desired.apps.length > 0 || (desired.placedElsewhere ?? 0) > 0 || this.allowEmpty) {
      for (const row of store.rows(node)) {
        if (row.state === 'waiting' || placedKeys.has(`${row.app}/${row.volume}`) || suspended.has(row.app)) continue;
        const stays = desired.apps.find((app) => app.name === row.app)?.volumes.some((volume) => volume.name === row.volume);
        try {
          if (stays) changes.push(await this.storage.release(row));
          else changes.push(...(await this.storage.handOff(row, undefined)));
        } catch (error) {
          changes.push(fail(row.app, row.volume, codeOf(error, 'HANDOFF_FAILED'), `hand-off failed: ${(error as Error).message}`));
          blocked.push({ reason: 'HANDOFF_FAILED', message: `volume ${row.app}/${row.volume}: ${(error as Error).message}` });
        }
      }
      // A waiting row for a volume no longer placed here: nothing to wait for.
      for (const row of store.rows(node)) if (row.state === 'waiting' && !placedKeys.has(`${row.app}/${row.volume}`) && !suspended.has(row.app)) store.remove(node, row.app, row.volume);
    }

    const claims = new Map<string, Claim>();
    for (const volume of placed) {
      const key = `${volume.app}/${volume.volume}`;
      let claim: Claim;
      try {
        claim = await this.storage.claim(volume);
      } catch (error) {
        claim = { kind: 'blocked', reason: 'VOLUME_REPOSITORY_FAILED', message: (error as Error).message };
      }
      claims.set(key, claim);
      if (claim.kind === 'blocked') {
        if (claim.reason === 'VOLUME_HANDOFF_PENDING') changes.push(`volume ${key}: ${claim.message}`);
        else {
          changes.push(fail(volume.app, volume.volume, claim.reason, claim.message));
          blocked.push({ reason: claim.reason, message: `volume ${key}: ${claim.message}` });
        }
      } else if (claim.kind === 'restore') changes.push(`volume ${key}: lease taken; restoring snapshot ${claim.snapshot.slice(0, 8)} (${claim.from})`);
    }

    const notHeld = new Set([...claims].filter(([, claim]) => claim.kind !== 'holding').map(([key]) => key));
    let outcome = await this.inner.converge(withoutServicesOf(desired, notHeld), context);
    const restored = new Set<string>();
    for (const volume of placed) {
      const key = `${volume.app}/${volume.volume}`;
      const claim = claims.get(key);
      if (claim?.kind !== 'restore' || outcome.result === 'failed') continue;
      try {
        const stopped = await this.storage.restore(volume, claim.snapshot);
        await startContainers(this.storage.deps.docker, stopped);
        during.push(`volume ${key}: restored snapshot ${claim.snapshot.slice(0, 8)}`);
        restored.add(key);
      } catch (error) {
        during.push(fail(volume.app, volume.volume, codeOf(error, 'RESTORE_FAILED'), `restore failed: ${(error as Error).message}`));
        blocked.push({ reason: 'RESTORE_FAILED', message: `volume ${key}: ${(error as Error).message}` });
      }
    }
    const before = outcome.changes;
    if (restored.size > 0) {
      for (const key of restored) notHeld.delete(key);
      outcome = await this.inner.converge(withoutServicesOf(desired, notHeld), context);
    }
    outcome = { ...outcome, changes: restored.size > 0 ? [...before, ...during, ...outcome.changes] : [...before, ...during] };

    if (outcome.result !== 'failed') {
      for (const volume of placed) {
        const key = `${volume.app}/${volume.volume}`;
        if (claims.get(key)?.kind === 'blocked' || notHeld.has(key)) continue;
        const last = store.row(node, volume.app, volume.volume)?.lastSnapshotAt;
        if (!isDue(volume.snapshot.schedule, last ? Date.parse(last) : undefined, this.storage.deps.clock.now())) continue;
        try {
          const taken = await this.storage.snapshot(volume);
          after.push(`volume ${key}: snapshot ${taken.id.slice(0, 8)} (${taken.bytes} bytes, ${taken.added} new, ${taken.seconds.toFixed(1)} s)`);
          logger.info({ app: volume.app, volume: volume.volume, snapshot: taken.id.slice(0, 8), bytes: taken.bytes, added: taken.added, seconds: taken.seconds }, 'volume snapshot taken');
        } catch (error) {
          after.push(fail(volume.app, volume.volume, codeOf(error, 'SNAPSHOT_FAILED'), `snapshot failed: ${(error as Error).message}`));
        }
      }
    }

    const [first] = blocked;
    const merged = { ...outcome, changes: [...changes, ...outcome.changes, ...after] };
    if (!first || outcome.result === 'failed') return merged;
    // The volume's own code names what failed; a lease, a hand-off or a repository may come
    // right before the next scheduled cycle, so it is tried again early (cycle-retry.ts).
    return { ...merged, result: 'failed', reason: REASON.applyFailed, code: first.reason, errorClass: 'not-ready', message: blocked.map((item) => item.message).join('; ') };
  }
}

function isStorageStep(operation: unknown): operation is StorageStep {
  return (operation as { stage?: unknown }).stage === 'storage';
}

function codeOf(error: unknown, fallback: string): string {
  return (error as { code?: unknown }).code && typeof (error as { code: unknown }).code === 'string' && /^[A-Z_]+$/.test((error as { code: string }).code) ? (error as { code: string }).code : fallback;
}
