// The manifest's `snapshot:` under a named volume (native manifests; `x-capstan: {snapshot: …}`
// under a Compose volume). Imported by load/schema.ts, so it is part of manifests-schema/.
import { Type, type Static } from '@sinclair/typebox';
import { DURATION_PATTERN } from '../load/schema/patterns.js';

import { MAX_KEEP } from './decide.js';

const keepCount = (what: string) => Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_KEEP, description: `Keep the last snapshot of each of this many ${what}.` }));

export const Snapshot = Type.Object(
  {
    schedule: Type.String({
      minLength: 1,
      maxLength: 200,
      description: 'When to take a snapshot: a cron expression (node-cron; a 6th leading field is seconds), e.g. `0 */6 * * *`. Checked at every cycle: a tick missed while the agent was down is made up at the next cycle.',
    }),
    keep: Type.Object(
      { last: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_KEEP, description: 'Keep this many most recent snapshots.' })), hourly: keepCount('hours'), daily: keepCount('days'), weekly: keepCount('weeks'), monthly: keepCount('months'), yearly: keepCount('years') },
      { additionalProperties: false, minProperties: 1, description: 'Retention, as `restic forget --keep-*` (then `--prune`): e.g. `{daily: 7, weekly: 4}`. At least one.' },
    ),
    repository: Type.String({
      pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$',
      description: 'Name of a restic repository the host configuration lists (`repositories:` in the policy file: a path, SFTP or S3 endpoint and its credentials, never in git).',
    }),
    pre_snapshot: Type.Optional(
      Type.Union([Type.String({ minLength: 1, maxLength: 4096 }), Type.Array(Type.String({ maxLength: 4096 }), { minItems: 1, maxItems: 100 })], {
        description: 'A command run in the first replica of the service mounting the volume before each snapshot (e.g. a database dump into the volume); a string runs with `sh -c`. A non-zero exit fails the snapshot.',
      }),
    ),
    stop: Type.Optional(Type.Boolean({ default: false, description: 'Stop the services mounting the volume during each snapshot (a consistent copy of software that cannot dump), and start them again after.' })),
    handoff_timeout: Type.Optional(
      Type.String({ pattern: DURATION_PATTERN, maxLength: 32, default: '10m', description: 'Fleet mode: how long a node the service moves to waits for the old node\'s hand-off before it reports `VOLUME_HANDOFF_TIMEOUT` (then `capstan volumes takeover` if the old node is gone).' }),
    ),
  },
  {
    additionalProperties: false,
    description: 'Snapshots of this volume with restic, on a schedule, with retention; in fleet mode the volume follows its service to another node (hand-off, restore) with a single writer.',
  },
);
export type SnapshotManifest = Static<typeof Snapshot>;
