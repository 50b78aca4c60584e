// One volume's history in a restic repository: its data snapshots and its lease records, all
// restic snapshots told apart by tags, so any node with the repository's credentials reads the
// same facts and nothing else needs to be shared between nodes.
//   capstan-app=APP, capstan-volume=VOLUME   on every one
//   capstan-kind=data                         the volume's files (from its folder, as `.`)
//   capstan-kind=lease|handoff|takeover       a record (an empty file from stdin); the node is
//                                             restic's host; a hand-off names its final
//                                             snapshot with capstan-snapshot=ID
import type { LeaseRecord } from './decide.js';
import { forgetArgs } from './decide.js';
import { parseBackupSummary, parseSnapshots, type BackupSummary, type ResticRun, type ResticSnapshot } from './restic.js';
import type { SnapshotSpec } from '../model.js';

export interface VolumeKey {
  app: string;
  volume: string;
}

const tags = ({ app, volume }: VolumeKey) => [`capstan-app=${app}`, `capstan-volume=${volume}`];
const tagOf = (snapshot: ResticSnapshot, prefix: string) => snapshot.tags?.find((tag) => tag.startsWith(`${prefix}=`))?.slice(prefix.length + 1);

export interface VolumeHistory {
  /** Data snapshots, oldest first. */
  data: ResticSnapshot[];
  records: LeaseRecord[];
}

export async function volumeHistory(restic: ResticRun, key: VolumeKey): Promise<VolumeHistory> {
  const all = parseSnapshots((await restic(['snapshots', '--json', '--tag', tags(key).join(',')])).stdout);
  const data: ResticSnapshot[] = [];
  const records: LeaseRecord[] = [];
  for (const snapshot of all) {
    const kind = tagOf(snapshot, 'capstan-kind');
    if (kind === 'data') data.push(snapshot);
    else if (kind === 'lease' || kind === 'handoff' || kind === 'takeover') {
      const handed = tagOf(snapshot, 'capstan-snapshot');
      records.push({ id: snapshot.id, kind, node: snapshot.hostname, at: snapshot.time, ...(handed ? { snapshot: handed } : {}) });
    }
  }
  data.sort((left, right) => (left.time < right.time ? -1 : left.time > right.time ? 1 : 0));
  return { data, records };
}

/** Writes a lease record; returns its id. */
export async function writeRecord(restic: ResticRun, key: VolumeKey, record: { kind: LeaseRecord['kind']; node: string; snapshot?: string }): Promise<string> {
  const recordTags = [...tags(key), `capstan-kind=${record.kind}`, ...(record.snapshot ? [`capstan-snapshot=${record.snapshot}`] : [])];
  const body = JSON.stringify({ kind: record.kind, node: record.node, ...key, ...(record.snapshot ? { snapshot: record.snapshot } : {}) });
  const { stdout } = await restic(['backup', '--json', '--stdin', '--stdin-filename', `${record.kind}.json`, '--host', record.node, '--tag', recordTags.join(',')], { stdin: body });
  return parseBackupSummary(stdout).snapshot_id;
}

export async function removeRecords(restic: ResticRun, ids: string[]): Promise<void> {
  if (ids.length > 0) await restic(['forget', ...ids]);
}

/**
 * Backs up the volume's folder as `.` (the snapshot's root holds the volume's files, so it
 * restores into any node's folder for the volume). restic writes the snapshot last: a backup
 * killed half-way leaves no snapshot and the previous ones intact; its stale lock is removed
 * by `unlock` before the next one.
 */
export async function backupFolder(restic: ResticRun, key: VolumeKey, folder: string, node: string): Promise<BackupSummary> {
  await restic(['unlock']);
  const { stdout } = await restic(['backup', '.', '--json', '--host', node, '--tag', [...tags(key), 'capstan-kind=data'].join(',')], { cwd: folder });
  return parseBackupSummary(stdout);
}

/** Retention: `forget --keep-*` over this volume's data snapshots (whichever node made them), then `--prune`. */
export async function applyRetention(restic: ResticRun, key: VolumeKey, keep: SnapshotSpec['keep']): Promise<void> {
  await restic(['forget', '--tag', [...tags(key), 'capstan-kind=data'].join(','), '--group-by', 'tags', ...forgetArgs(keep), '--prune']);
}

/** Restores a data snapshot into an empty folder. */
export async function restoreInto(restic: ResticRun, snapshotId: string, folder: string): Promise<void> {
  await restic(['restore', snapshotId, '--target', folder]);
}

/** Bytes of a snapshot's files, as restored (`restic stats`). */
export async function snapshotSize(restic: ResticRun, snapshotId: string): Promise<number> {
  const { stdout } = await restic(['stats', '--json', snapshotId]);
  return (JSON.parse(stdout) as { total_size?: number }).total_size ?? 0;
}
