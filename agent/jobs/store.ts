import type { Db } from '../state/db.js';

// The `job_runs` table (migration 6 in state/db.ts). Messages and output stored here are
// redacted by the runner before they arrive.

export type JobRunState = 'running' | 'succeeded' | 'failed' | 'timed-out' | 'interrupted' | 'skipped';

export interface JobRun {
  id: number;
  node: string;
  app: string;
  service: string;
  /** `schedule`: at its time; `missed`: made up at start for a time the agent was down at. */
  trigger: 'schedule' | 'missed';
  scheduledAt: string;
  startedAt: string;
  finishedAt: string | null;
  state: JobRunState;
  exitCode: number | null;
  message: string | null;
  /** The last lines it printed, bounded (output/bounded.ts) and redacted. */
  output: string | null;
  commit: string | null;
  configHash: string | null;
  container: string | null;
}

/** Runs kept per job, finished or skipped; older rows are deleted as new ones finish. */
export const KEEP_RUNS = 20;

const COLUMNS = `id, node, app, service, trigger, scheduled_at AS scheduledAt, started_at AS startedAt, finished_at AS finishedAt,
  state, exit_code AS exitCode, message, output, commit_id AS "commit", config_hash AS configHash, container`;

export class JobRunStore {
  constructor(private readonly db: Db) {}

  /** A run about to start, written before its container exists. */
  start(run: { node: string; app: string; service: string; trigger: JobRun['trigger']; scheduledAt: string; startedAt: string; commit: string; configHash: string }): number {
    const result = this.db
      .prepare(`INSERT INTO job_runs (node, app, service, trigger, scheduled_at, started_at, state, commit_id, config_hash) VALUES (?, ?, ?, ?, ?, ?, 'running', ?, ?)`)
      .run(run.node, run.app, run.service, run.trigger, run.scheduledAt, run.startedAt, run.commit, run.configHash);
    return Number(result.lastInsertRowid);
  }

  /** Until when every job's times have been looked at (ms since the epoch); undefined before the first look. */
  checkedAt(): number | undefined {
    const row = this.db.prepare("SELECT value FROM meta WHERE key = 'jobs_checked_at'").get() as { value: string } | undefined;
    const value = row === undefined ? NaN : Date.parse(row.value);
    return Number.isNaN(value) ? undefined : value;
  }

  setCheckedAt(at: number): void {
    this.db.prepare("INSERT INTO meta (key, value) VALUES ('jobs_checked_at', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value").run(new Date(at).toISOString());
  }

  setContainer(id: number, container: string): void {
    this.db.prepare('UPDATE job_runs SET container = ? WHERE id = ?').run(container, id);
  }

  /** A run that was due but did not start (the previous one still runs, or it was missed too long ago). */
  skip(run: { node: string; app: string; service: string; trigger: JobRun['trigger']; scheduledAt: string; at: string; message: string }): void {
    this.db
      .prepare(`INSERT INTO job_runs (node, app, service, trigger, scheduled_at, started_at, finished_at, state, message) VALUES (?, ?, ?, ?, ?, ?, ?, 'skipped', ?)`)
      .run(run.node, run.app, run.service, run.trigger, run.scheduledAt, run.at, run.at, run.message);
    this.prune(run.node, run.app, run.service);
  }

  finish(id: number, result: { state: Exclude<JobRunState, 'running' | 'skipped'>; finishedAt: string; exitCode: number | null; message: string | null; output: string | null }): void {
    this.db
      .prepare('UPDATE job_runs SET state = ?, finished_at = ?, exit_code = ?, message = ?, output = ? WHERE id = ?')
      .run(result.state, result.finishedAt, result.exitCode, result.message, result.output, id);
    const row = this.get(id);
    if (row) this.prune(row.node, row.app, row.service);
  }

  get(id: number): JobRun | undefined {
    return this.db.prepare(`SELECT ${COLUMNS} FROM job_runs WHERE id = ?`).get(id) as JobRun | undefined;
  }

  /** Runs still marked running on this node: at start, those a killed agent left behind. */
  running(node: string): JobRun[] {
    return this.db.prepare(`SELECT ${COLUMNS} FROM job_runs WHERE node = ? AND state = 'running' ORDER BY id`).all(node) as JobRun[];
  }

  /** The latest runs on this node, newest first; of one job when `job` is given. */
  recent(node: string, limit: number, job?: { app: string; service: string }): JobRun[] {
    if (job) {
      return this.db.prepare(`SELECT ${COLUMNS} FROM job_runs WHERE node = ? AND app = ? AND service = ? ORDER BY id DESC LIMIT ?`).all(node, job.app, job.service, limit) as JobRun[];
    }
    return this.db.prepare(`SELECT ${COLUMNS} FROM job_runs WHERE node = ? ORDER BY id DESC LIMIT ?`).all(node, limit) as JobRun[];
  }

  /** The last run of each job on this node (skipped ones included). */
  lastRuns(node: string): JobRun[] {
    return this.db
      .prepare(`SELECT ${COLUMNS} FROM job_runs WHERE id IN (SELECT MAX(id) FROM job_runs WHERE node = ? GROUP BY app, service) ORDER BY app, service`)
      .all(node) as JobRun[];
  }

  /** Keeps the newest KEEP_RUNS rows of a job; a running one is never deleted. */
  private prune(node: string, app: string, service: string): void {
    this.db
      .prepare(
        `DELETE FROM job_runs WHERE node = ? AND app = ? AND service = ? AND state != 'running'
         AND id NOT IN (SELECT id FROM job_runs WHERE node = ? AND app = ? AND service = ? ORDER BY id DESC LIMIT ?)`,
      )
      .run(node, app, service, node, app, service, KEEP_RUNS);
  }
}
