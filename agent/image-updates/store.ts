// What this node knows of its services' image updates, in the state database (migration 5):
// one row per service with `update.image`, and the digests quarantined per service.
import type { Db } from '../state/db.js';

export interface ImageUpdateRow {
  app: string;
  service: string;
  /** The manifest's image (`repo:tag`) the policy follows. */
  image: string;
  /** `digest`, or `semver ^2.3` (`+prereleases`). */
  policy: string;
  mode: 'deploy' | 'notify';
  checkedAt: string | null;
  /** No check before this (the interval, or the registry's Retry-After). */
  nextCheckAt: string | null;
  checkError: string | null;
  /** What the registry serves now for the policy. */
  availableTag: string | null;
  availableDigest: string | null;
  /** What the service was rolled out with; null: the manifest's image. */
  deployedTag: string | null;
  deployedDigest: string | null;
  /** The service runs `repo@deployedDigest`; false: the manifest's image, found to be that digest here. */
  pinned: boolean;
  /** `tag@digest` last announced, so an update is announced once. */
  notified: string | null;
}

export interface ImageQuarantineRow {
  app: string;
  service: string;
  tag: string;
  digest: string;
  message: string;
  at: string;
}

interface Row {
  app: string;
  service: string;
  image: string;
  policy: string;
  mode: string;
  checked_at: string | null;
  next_check_at: string | null;
  check_error: string | null;
  available_tag: string | null;
  available_digest: string | null;
  deployed_tag: string | null;
  deployed_digest: string | null;
  pinned: number;
  notified: string | null;
}

export class ImageUpdateStore {
  constructor(
    private readonly db: Db,
    private readonly node: string,
    private readonly now: () => Date = () => new Date(),
  ) {}

  rows(): ImageUpdateRow[] {
    const rows = this.db.prepare('SELECT * FROM image_updates WHERE node = ? ORDER BY app, service').all(this.node) as Row[];
    return rows.map((row) => ({
      app: row.app,
      service: row.service,
      image: row.image,
      policy: row.policy,
      mode: row.mode === 'notify' ? 'notify' : 'deploy',
      checkedAt: row.checked_at,
      nextCheckAt: row.next_check_at,
      checkError: row.check_error,
      availableTag: row.available_tag,
      availableDigest: row.available_digest,
      deployedTag: row.deployed_tag,
      deployedDigest: row.deployed_digest,
      pinned: row.pinned === 1,
      notified: row.notified,
    }));
  }

  /** The row after a check: inserted for a new policy, reset when the image or policy changed. */
  recordCheck(row: Pick<ImageUpdateRow, 'app' | 'service' | 'image' | 'policy' | 'mode' | 'checkedAt' | 'nextCheckAt' | 'checkError' | 'availableTag' | 'availableDigest'>): void {
    this.db.transaction(() => {
      const existing = this.db.prepare('SELECT image, policy FROM image_updates WHERE node = ? AND app = ? AND service = ?').get(this.node, row.app, row.service) as
        | { image: string; policy: string }
        | undefined;
      if (existing && (existing.image !== row.image || existing.policy !== row.policy)) {
        // What was deployed followed another image or policy: the service returns to the manifest's image.
        this.db
          .prepare(
            `UPDATE image_updates SET image = ?, policy = ?, notified = NULL, deployed_tag = NULL, deployed_digest = NULL, pinned = 0,
               available_tag = NULL, available_digest = NULL WHERE node = ? AND app = ? AND service = ?`,
          )
          .run(row.image, row.policy, this.node, row.app, row.service);
      }
      this.db
        .prepare(
          `INSERT INTO image_updates (node, app, service, image, policy, mode, checked_at, next_check_at, check_error, available_tag, available_digest)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT(node, app, service) DO UPDATE SET mode = excluded.mode, checked_at = excluded.checked_at, next_check_at = excluded.next_check_at,
             check_error = excluded.check_error,
             available_tag = CASE WHEN excluded.check_error IS NULL THEN excluded.available_tag ELSE available_tag END,
             available_digest = CASE WHEN excluded.check_error IS NULL THEN excluded.available_digest ELSE available_digest END`,
        )
        .run(this.node, row.app, row.service, row.image, row.policy, row.mode, row.checkedAt, row.nextCheckAt, row.checkError, row.availableTag, row.availableDigest);
    })();
  }

  /**
   * After a converged commit: each service with a policy runs `deployed` (null: the manifest's
   * image); services without a policy lose their row, so removing the policy returns the
   * service to the manifest's tag and forgets what it followed.
   */
  recordApplied(services: { app: string; service: string; image: string; policy: string; mode: string; deployed: { tag: string; digest: string; pinned: boolean } | null }[]): void {
    this.db.transaction(() => {
      const keep = new Set(services.map(({ app, service }) => `${app}/${service}`));
      for (const row of this.rows()) {
        if (keep.has(`${row.app}/${row.service}`)) continue;
        this.db.prepare('DELETE FROM image_updates WHERE node = ? AND app = ? AND service = ?').run(this.node, row.app, row.service);
        this.db.prepare('DELETE FROM image_quarantine WHERE node = ? AND app = ? AND service = ?').run(this.node, row.app, row.service);
      }
      const upsert = this.db.prepare(
        `INSERT INTO image_updates (node, app, service, image, policy, mode, deployed_tag, deployed_digest, pinned) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT(node, app, service) DO UPDATE SET image = excluded.image, policy = excluded.policy, mode = excluded.mode,
           deployed_tag = excluded.deployed_tag, deployed_digest = excluded.deployed_digest, pinned = excluded.pinned`,
      );
      for (const entry of services) {
        upsert.run(this.node, entry.app, entry.service, entry.image, entry.policy, entry.mode, entry.deployed?.tag ?? null, entry.deployed?.digest ?? null, entry.deployed?.pinned ? 1 : 0);
      }
    })();
  }

  /** The manifest's image is `tag@digest` here already: what runs, without pinning it. */
  recordBaseline(app: string, service: string, ref: { tag: string; digest: string }): void {
    this.db
      .prepare('UPDATE image_updates SET deployed_tag = ?, deployed_digest = ?, pinned = 0 WHERE node = ? AND app = ? AND service = ? AND deployed_digest IS NULL')
      .run(ref.tag, ref.digest, this.node, app, service);
  }

  markNotified(app: string, service: string, what: string): void {
    this.db.prepare('UPDATE image_updates SET notified = ? WHERE node = ? AND app = ? AND service = ?').run(what, this.node, app, service);
  }

  quarantine(entry: Omit<ImageQuarantineRow, 'at'>): void {
    this.db
      .prepare('INSERT OR REPLACE INTO image_quarantine (node, app, service, tag, digest, message, at) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(this.node, entry.app, entry.service, entry.tag, entry.digest, entry.message, this.now().toISOString());
  }

  quarantined(): ImageQuarantineRow[] {
    return this.db.prepare('SELECT app, service, tag, digest, message, at FROM image_quarantine WHERE node = ? ORDER BY app, service, at').all(this.node) as ImageQuarantineRow[];
  }

  /** Lifts the service's quarantined images (for `capstan retry`); returns how many. */
  liftQuarantine(app: string, service: string): number {
    return this.db.prepare('DELETE FROM image_quarantine WHERE node = ? AND app = ? AND service = ?').run(this.node, app, service).changes;
  }
}
