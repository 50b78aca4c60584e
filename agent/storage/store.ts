// What this node knows of its snapshot volumes, in the state database (its own table, created
// on first use): the lease it holds or waits for, a restore in flight (done again after a
// crash, before the service may start), the last snapshot and the last error.
import type { Db } from '../state/db.js';

export type VolumeState = 'holding' | 'waiting' | 'restoring' | 'released';

export interface VolumeRow {
  node: string;
  app: string;
  volume: string;
  dockerName: string;
  repository: string;
  state: VolumeState;
  /** When the state began (ISO): a wait's start, for the hand-off timeout. */
  since: string;
  /** restoring: the snapshot being restored. */
  restoreFrom: string | null;
  lastSnapshotId: string | null;
  lastSnapshotAt: string | null;
  lastSnapshotBytes: number | null;
  lastError: string | null;
}

export class StorageStore {
  private created = false;

  constructor(private readonly open: () => Db) {}

  /** The table, created on first use (so `capstan plan`, which wires the stage, writes nothing). */
  private get db(): Db {
    if (!this.created) {
      this.open().exec(`CREATE TABLE IF NOT EXISTS volume_storage (
      node TEXT NOT NULL, app TEXT NOT NULL, volume TEXT NOT NULL, docker_name TEXT NOT NULL, repository TEXT NOT NULL,
      state TEXT NOT NULL, since TEXT NOT NULL, restore_from TEXT,
      last_snapshot_id TEXT, last_snapshot_at TEXT, last_snapshot_bytes INTEGER, last_error TEXT,
      PRIMARY KEY (node, app, volume))`);
      this.created = true;
    }
    return this.open();
  }

  rows(node: string): VolumeRow[] {
    const rows = this.db.prepare('SELECT * FROM volume_storage WHERE node = ? ORDER BY app, volume').all(node) as Record<string, unknown>[];
    return rows.map(toRow);
  }

  row(node: string, app: string, volume: string): VolumeRow | undefined {
    const row = this.db.prepare('SELECT * FROM volume_storage WHERE node = ? AND app = ? AND volume = ?').get(node, app, volume) as Record<string, unknown> | undefined;
    return row ? toRow(row) : undefined;
  }

  /** Moves a volume to `state` (keeping its snapshot facts); `since` changes only with the state. */
  setState(key: { node: string; app: string; volume: string; dockerName: string; repository: string }, state: VolumeState, at: string, restoreFrom: string | null = null): void {
    this.db
      .prepare(
        `INSERT INTO volume_storage (node, app, volume, docker_name, repository, state, since, restore_from) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT(node, app, volume) DO UPDATE SET docker_name = excluded.docker_name, repository = excluded.repository,
           since = CASE WHEN state = excluded.state THEN since ELSE excluded.since END, state = excluded.state, restore_from = excluded.restore_from`,
      )
      .run(key.node, key.app, key.volume, key.dockerName, key.repository, state, at, restoreFrom);
  }

  recordSnapshot(node: string, app: string, volume: string, snapshot: { id: string; at: string; bytes: number }): void {
    this.db
      .prepare('UPDATE volume_storage SET last_snapshot_id = ?, last_snapshot_at = ?, last_snapshot_bytes = ?, last_error = NULL WHERE node = ? AND app = ? AND volume = ?')
      .run(snapshot.id, snapshot.at, snapshot.bytes, node, app, volume);
  }

  recordError(node: string, app: string, volume: string, message: string | null): void {
    this.db.prepare('UPDATE volume_storage SET last_error = ? WHERE node = ? AND app = ? AND volume = ?').run(message, node, app, volume);
  }

  remove(node: string, app: string, volume: string): void {
    this.db.prepare('DELETE FROM volume_storage WHERE node = ? AND app = ? AND volume = ?').run(node, app, volume);
  }
}

function toRow(row: Record<string, unknown>): VolumeRow {
  return {
    node: row.node as string,
    app: row.app as string,
    volume: row.volume as string,
    dockerName: row.docker_name as string,
    repository: row.repository as string,
    state: row.state as VolumeState,
    since: row.since as string,
    restoreFrom: (row.restore_from as string | null) ?? null,
    lastSnapshotId: (row.last_snapshot_id as string | null) ?? null,
    lastSnapshotAt: (row.last_snapshot_at as string | null) ?? null,
    lastSnapshotBytes: (row.last_snapshot_bytes as number | null) ?? null,
    lastError: (row.last_error as string | null) ?? null,
  };
}
