// What a node does with its snapshot volumes, one operation each: snapshot, restore, claim the
// lease, hand off, take over. The containers target's storage stage (target.ts) and
// `capstan volumes` (cli/commands/volumes.ts) call these; decisions are in decide.ts.
import type Docker from 'dockerode';
import type { Clock } from '../clock.js';
import { CapstanError } from '../errors.js';
import type { SnapshotSpec } from '../model.js';
import { leaseDecision, leaseState, waitVerdict } from './decide.js';
import type { RepositoryConfig } from './repositories.js';
import { applyRetention, backupFolder, removeRecords, restoreInto, snapshotSize, volumeHistory, writeRecord, type VolumeKey } from './repository.js';
import { ensureRepository, type ResticRun } from './restic.js';
import type { StorageStore, VolumeRow } from './store.js';
import { emptyFolder, mountpointOf, runPreSnapshot, startContainers, stopMounting } from './volume-data.js';

export interface StorageEvents {
  /** A snapshot, restore, hand-off or lease failed (notified, counted in metrics). */
  failed(event: { app: string; volume: string; reason: string; message: string }): void;
  snapshotted(event: { app: string; volume: string; seconds: number; bytes: number; added: number }): void;
}

export interface VolumeStorageDeps {
  docker: Docker;
  node: string;
  store: StorageStore;
  clock: Clock;
  /** The host configuration's repositories, read at each use. */
  repositories: () => Promise<Record<string, RepositoryConfig>>;
  /** A restic runner for one repository (its environment built, its secrets registered). */
  restic: (repository: RepositoryConfig) => Promise<ResticRun>;
  redact: (text: string) => string;
  events?: StorageEvents;
}

/** A snapshot volume as the stage sees it: its app, names and `snapshot:`. */
export interface SnapshotVolume extends VolumeKey {
  dockerName: string;
  snapshot: SnapshotSpec;
}

export type Claim =
  | { kind: 'holding' }
  | { kind: 'restore'; snapshot: string; from: string }
  | { kind: 'blocked'; reason: 'VOLUME_HANDOFF_PENDING' | 'VOLUME_HANDOFF_TIMEOUT' | 'VOLUME_LEASE_HELD' | 'VOLUME_REPOSITORY_FAILED'; message: string };

export class VolumeStorage {
  private readonly ready = new Map<string, ResticRun>();

  constructor(readonly deps: VolumeStorageDeps) {}

  /** The runner for a repository the host configures; created (`restic init`) on first use. */
  async resticFor(name: string): Promise<ResticRun> {
    const cached = this.ready.get(name);
    if (cached) return cached;
    const repository = (await this.deps.repositories())[name];
    if (!repository) {
      throw new CapstanError('REPOSITORY_UNKNOWN', 'terminal', `repository '${name}' is not in this host's configuration; add it under repositories: in the policy file (--policy-file, CAPSTAN_POLICY_FILE)`, { repository: name });
    }
    const restic = await this.deps.restic(repository);
    await ensureRepository(restic);
    this.ready.set(name, restic);
    return restic;
  }

  private now(): string {
    return new Date(this.deps.clock.now()).toISOString();
  }

  private key(volume: SnapshotVolume) {
    return { node: this.deps.node, app: volume.app, volume: volume.volume, dockerName: volume.dockerName, repository: volume.snapshot.repository };
  }

  /**
   * One snapshot: consistent by stopping the services mounting the volume (`stop: true`) or by
   * their `pre_snapshot` command, then retention. `final`: the services are stopped already
   * (a hand-off), so neither is needed.
   */
  async snapshot(volume: SnapshotVolume, options: { final?: boolean } = {}): Promise<{ id: string; bytes: number; added: number; seconds: number }> {
    const { docker, node } = this.deps;
    const restic = await this.resticFor(volume.snapshot.repository);
    const folder = await mountpointOf(docker, volume.dockerName);
    const started = this.deps.clock.now();
    let stopped: string[] = [];
    let summary;
    try {
      if (!options.final && volume.snapshot.stop) stopped = await stopMounting(docker, node, volume.dockerName);
      else if (!options.final && volume.snapshot.preSnapshot) await runPreSnapshot(docker, node, volume.dockerName, volume.snapshot.preSnapshot, this.deps.redact);
      summary = await backupFolder(restic, volume, folder, node);
    } finally {
      await startContainers(docker, stopped);
    }
    await applyRetention(restic, volume, volume.snapshot.keep);
    const seconds = (this.deps.clock.now() - started) / 1000;
    const result = { id: summary.snapshot_id, bytes: summary.total_bytes_processed, added: summary.data_added, seconds };
    this.deps.store.recordSnapshot(node, volume.app, volume.volume, { id: result.id, at: this.now(), bytes: result.bytes });
    this.deps.events?.snapshotted({ app: volume.app, volume: volume.volume, seconds, bytes: result.bytes, added: result.added });
    return result;
  }

  /**
   * Replaces the volume's files with a snapshot's: the containers mounting it are stopped first
   * (returned, for the caller to start again), the folder emptied, the snapshot restored. The
   * row says `restoring` throughout, so a crash half-way restores again before anything starts.
   */
  async restore(volume: SnapshotVolume, snapshotId: string): Promise<string[]> {
    const { docker, node, store } = this.deps;
    const restic = await this.resticFor(volume.snapshot.repository);
    const history = await volumeHistory(restic, volume);
    const snapshot = history.data.find((candidate) => candidate.id.startsWith(snapshotId));
    if (!snapshot) throw new CapstanError('SNAPSHOT_UNKNOWN', 'terminal', `no snapshot ${snapshotId} of ${volume.app}/${volume.volume} in repository ${volume.snapshot.repository}`, { snapshot: snapshotId });
    store.setState(this.key(volume), 'restoring', this.now(), snapshot.id);
    const folder = await mountpointOf(docker, volume.dockerName);
    const stopped = await stopMounting(docker, node, volume.dockerName);
    await emptyFolder(folder);
    await restoreInto(restic, snapshot.id, folder);
    store.setState(this.key(volume), 'holding', this.now());
    store.recordSnapshot(node, volume.app, volume.volume, { id: snapshot.id, at: snapshot.time, bytes: await snapshotSize(restic, snapshot.id).catch(() => 0) });
    return stopped;
  }

  /**
   * May this node write the volume? Reads the lease records; takes a free lease (a record, read
   * back: two nodes racing both step back); says what to restore when the volume comes from
   * another node (its hand-off snapshot, or after a takeover the latest one).
   */
  async claim(volume: SnapshotVolume): Promise<Claim> {
    const { node, store } = this.deps;
    const row = store.row(node, volume.app, volume.volume);
    if (row?.state === 'restoring' && row.restoreFrom) return { kind: 'restore', snapshot: row.restoreFrom, from: 'an interrupted restore' };
    let restic: ResticRun;
    let history;
    try {
      restic = await this.resticFor(volume.snapshot.repository);
      history = await volumeHistory(restic, volume);
    } catch (error) {
      // The lease is ours as far as this node knows: the service keeps running meanwhile.
      if (row?.state === 'holding') return { kind: 'holding' };
      return { kind: 'blocked', reason: 'VOLUME_REPOSITORY_FAILED', message: `cannot read repository ${volume.snapshot.repository}: ${(error as Error).message}` };
    }
    const state = leaseState(history.records);
    const decision = leaseDecision(state, node);
    if (decision.kind === 'held') {
      store.setState(this.key(volume), 'holding', this.now());
      return { kind: 'holding' };
    }
    if (decision.kind === 'held-elsewhere') {
      store.setState(this.key(volume), 'waiting', this.now());
      const since = store.row(node, volume.app, volume.volume)!.since;
      const verdict = waitVerdict(Date.parse(since), this.deps.clock.now(), volume.snapshot.handoffTimeoutMs);
      const who = decision.nodes.join(', ');
      if (verdict === 'waiting') return { kind: 'blocked', reason: 'VOLUME_HANDOFF_PENDING', message: `waiting for node ${who} to hand off the volume (since ${since})` };
      return {
        kind: 'blocked',
        reason: 'VOLUME_HANDOFF_TIMEOUT',
        message: `node ${who} holds the volume's lease and has not handed it off since ${since}; if ${who} is gone for good, run: capstan volumes takeover ${volume.app}/${volume.volume}`,
      };
    }
    const mine = await writeRecord(restic, volume, { kind: 'lease', node });
    const again = leaseState((await volumeHistory(restic, volume)).records);
    const after = leaseDecision(again, node);
    if (after.kind !== 'held') {
      await removeRecords(restic, [mine]);
      const who = after.kind === 'held-elsewhere' ? after.nodes.join(', ') : 'another node';
      return { kind: 'blocked', reason: 'VOLUME_LEASE_HELD', message: `node ${who} claimed the volume at the same time; this node stepped back and tries again next cycle` };
    }
    const release = state.lastRelease;
    const latest = history.data.at(-1);
    // Restore only what another node left: its hand-off, or after a takeover the latest
    // snapshot. A lease taken with no release before (a first deployment) keeps the folder.
    const snapshot = release?.kind === 'handoff' ? release.snapshot : release?.kind === 'takeover' ? latest?.id : undefined;
    if (!snapshot) {
      store.setState(this.key(volume), 'holding', this.now());
      return { kind: 'holding' };
    }
    store.setState(this.key(volume), 'restoring', this.now(), snapshot);
    const from = release ? `${release.kind === 'handoff' ? 'handed off' : 'taken over'} from node ${release.kind === 'handoff' ? release.node : 'a dead node'}` : 'the latest snapshot';
    return { kind: 'restore', snapshot, from };
  }

  /**
   * The service left this node (placement moved it, or its app was removed): stop what still
   * mounts the volume, take a final snapshot, record the hand-off. Each step is safe to repeat
   * after a crash; a lease taken over meanwhile is left alone (no snapshot over newer data).
   */
  async handOff(row: VolumeRow, volume: SnapshotVolume | undefined): Promise<string[]> {
    const { docker, node, store } = this.deps;
    const changes: string[] = [];
    const name = `${row.app}/${row.volume}`;
    const restic = await this.resticFor(row.repository);
    const key = { app: row.app, volume: row.volume };
    const decision = leaseDecision(leaseState((await volumeHistory(restic, key)).records), node);
    const stopped = await stopMounting(docker, node, row.dockerName);
    if (stopped.length > 0) changes.push(`volume ${name}: stopped ${stopped.join(', ')} for the hand-off`);
    if (decision.kind !== 'held') {
      store.remove(node, row.app, row.volume);
      changes.push(`volume ${name}: lease no longer this node's (taken over); no final snapshot`);
      return changes;
    }
    const folder = await mountpointOf(docker, row.dockerName);
    const summary = await backupFolder(restic, key, folder, node);
    changes.push(`volume ${name}: final snapshot ${summary.snapshot_id.slice(0, 8)}`);
    if (volume) await applyRetention(restic, key, volume.snapshot.keep).catch(() => undefined);
    await writeRecord(restic, key, { kind: 'handoff', node, snapshot: summary.snapshot_id });
    store.remove(node, row.app, row.volume);
    changes.push(`volume ${name}: handed off (snapshot ${summary.snapshot_id.slice(0, 8)})`);
    return changes;
  }

  /** The volume stays here but asks for no snapshots any more: the lease is given up, nothing stops. */
  async release(row: VolumeRow): Promise<string> {
    const restic = await this.resticFor(row.repository);
    await writeRecord(restic, { app: row.app, volume: row.volume }, { kind: 'handoff', node: this.deps.node });
    this.deps.store.remove(this.deps.node, row.app, row.volume);
    return `volume ${row.app}/${row.volume}: no snapshots asked any more; lease released`;
  }

  /**
   * `capstan volumes takeover`: closes every lease on the volume (the old node is gone), so this
   * node's next cycle claims it and restores the latest snapshot.
   */
  async takeover(key: VolumeKey, repository: string): Promise<string[]> {
    const restic = await this.resticFor(repository);
    const holders = leaseState((await volumeHistory(restic, key)).records).holders.map((holder) => holder.node);
    await writeRecord(restic, key, { kind: 'takeover', node: this.deps.node });
    return holders;
  }
}
