// What the storage stage (target.ts) would do in a cycle, decided with no I/O, for `capstan
// plan`: the same decisions as `converge`, taken from this node's rows (store.ts), the lease
// records read from each repository (read by target.ts with `--no-lock`: nothing is written,
// no lease taken) and the schedule (decide.ts isDue). No repository location or credential is
// in a step: a step names its volume, its repository by name and short snapshot ids.
import { isDue, leaseDecision, waitVerdict, type LeaseState } from './decide.js';
import type { VolumeRow } from './store.js';
import type { SnapshotVolume } from './volumes.js';

export type StorageStepKind = 'hand-off-volume' | 'release-volume' | 'wait-for-volume' | 'claim-volume' | 'restore-volume' | 'snapshot-volume';

/** One storage step, printed after the target's own operations and counted with them. */
export interface StorageStep {
  id: number;
  stage: 'storage';
  kind: StorageStepKind;
  /** `app/volume`. */
  volume: string;
  /** restore-volume: the snapshot restored (8 characters). */
  snapshot?: string;
  cause: string;
}

/** What the repository says of one volume; `error` when it could not be read (already redacted). */
export type RepositoryFacts = { lease: LeaseState; latest?: string } | { error: string };

export interface StoragePlanInput {
  node: string;
  rows: VolumeRow[];
  placed: SnapshotVolume[];
  /** Whether hand-offs happen at all (not for a commit with no services, as in converge). */
  handsOff: boolean;
  /** Whether `app/volume` is still a volume of the desired state (no `snapshot:` any more: released, not handed off). */
  stays: (app: string, volume: string) => boolean;
  /** Per `app/volume` placed here; absent for a volume with an interrupted restore (not read). */
  facts: Map<string, RepositoryFacts>;
  now: number;
}

/**
 * Example: node b, volume shop/db handed off by node a with snapshot 1a2b3c4d, no row yet →
 * restore-volume shop/db 1a2b3c4d ("handed off from node a"); heldBack is empty, as the
 * service starts once restored. A volume another node still holds is held back: its services
 * are left out of the target's plan, as converge leaves them out.
 */
export function planStorage(input: StoragePlanInput): { steps: Omit<StorageStep, 'id'>[]; heldBack: Set<string> } {
  const { node, rows, placed, now } = input;
  const steps: Omit<StorageStep, 'id'>[] = [];
  const heldBack = new Set<string>();
  const step = (kind: StorageStepKind, volume: string, cause: string, snapshot?: string) =>
    steps.push({ stage: 'storage', kind, volume, cause, ...(snapshot ? { snapshot: snapshot.slice(0, 8) } : {}) });
  const placedKeys = new Set(placed.map((volume) => `${volume.app}/${volume.volume}`));

  if (input.handsOff) {
    for (const row of rows) {
      const key = `${row.app}/${row.volume}`;
      if (row.state === 'waiting' || placedKeys.has(key)) continue;
      if (input.stays(row.app, row.volume)) step('release-volume', key, 'no snapshot: asked any more; the lease is given up, nothing stops');
      else step('hand-off-volume', key, 'no longer placed on this node: stop its services, final snapshot, hand-off record');
    }
  }

  const snapshotting: SnapshotVolume[] = [];
  for (const volume of placed) {
    const key = `${volume.app}/${volume.volume}`;
    const row = rows.find((candidate) => candidate.app === volume.app && candidate.volume === volume.volume);
    if (row?.state === 'restoring' && row.restoreFrom) {
      step('restore-volume', key, 'an interrupted restore, done again before the service starts', row.restoreFrom);
      continue;
    }
    const facts = input.facts.get(key);
    if (!facts || 'error' in facts) {
      // As claim: the lease is ours as far as this node knows, so the service keeps running.
      if (row?.state === 'holding') snapshotting.push(volume);
      else {
        step('claim-volume', key, `VOLUME_REPOSITORY_FAILED: ${facts ? facts.error : 'repository not read'}; the service does not start`);
        heldBack.add(key);
      }
      continue;
    }
    const decision = leaseDecision(facts.lease, node);
    if (decision.kind === 'held') {
      snapshotting.push(volume);
      continue;
    }
    if (decision.kind === 'held-elsewhere') {
      heldBack.add(key);
      const who = decision.nodes.join(', ');
      const since = row?.state === 'waiting' ? row.since : new Date(now).toISOString();
      const verdict = waitVerdict(Date.parse(since), now, volume.snapshot.handoffTimeoutMs);
      step(
        'wait-for-volume',
        key,
        verdict === 'waiting'
          ? `node ${who} holds the lease; waiting for its hand-off since ${since}, the service does not start`
          : `VOLUME_HANDOFF_TIMEOUT: node ${who} has not handed off since ${since}; if it is gone for good: capstan volumes takeover ${key}`,
      );
      continue;
    }
    const release = facts.lease.lastRelease;
    const snapshot = release?.kind === 'handoff' ? release.snapshot : release?.kind === 'takeover' ? facts.latest : undefined;
    if (snapshot) {
      step('restore-volume', key, release?.kind === 'handoff' ? `lease taken; handed off from node ${release.node}` : 'lease taken; taken over from a dead node (the latest snapshot)', snapshot);
      continue;
    }
    step('claim-volume', key, `no node holds it: lease taken in repository ${volume.snapshot.repository}; the volume's files are kept`);
    snapshotting.push(volume);
  }

  for (const volume of snapshotting) {
    const key = `${volume.app}/${volume.volume}`;
    const last = rows.find((row) => row.app === volume.app && row.volume === volume.volume)?.lastSnapshotAt ?? undefined;
    if (!isDue(volume.snapshot.schedule, last ? Date.parse(last) : undefined, now)) continue;
    step('snapshot-volume', key, last ? `schedule '${volume.snapshot.schedule}' due since the snapshot at ${last}` : 'no snapshot yet');
  }
  return { steps, heldBack };
}

export function describeStep(step: Pick<StorageStep, 'kind' | 'volume' | 'snapshot'>): string {
  switch (step.kind) {
    case 'hand-off-volume':
      return `hand off volume ${step.volume}`;
    case 'release-volume':
      return `release volume ${step.volume}`;
    case 'wait-for-volume':
      return `wait for volume ${step.volume}`;
    case 'claim-volume':
      return `claim volume ${step.volume}`;
    case 'restore-volume':
      return `restore volume ${step.volume} from ${step.snapshot}`;
    case 'snapshot-volume':
      return `snapshot volume ${step.volume}`;
  }
}
