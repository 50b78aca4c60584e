import type { Db } from './db.js';

/**
 * `blocked`: the head commit was not applied because it is quarantined, invalid or refused by
 * signature policy, and nothing failed on the host (the last applied commit keeps running). It
 * waits for a new commit; it is not a failure of the host, so it is not counted as one.
 * `deferred`: converged, but changed apps wait for a deploy window or an update lock
 * (agent/deferral/); the commit is not the last applied one until they have gone out.
 */
export type CycleResult = 'running' | 'applied' | 'in-sync' | 'failed' | 'blocked' | 'interrupted' | 'deferred';

export interface CycleRecord {
  id: number;
  startedAt: string;
  finishedAt: string | null;
  trigger: string;
  node: string;
  commit: string | null;
  commitAuthor: string | null;
  commitMessage: string | null;
  result: CycleResult;
  reason: string | null;
  message: string | null;
  changes: string[];
  durationMs: number | null;
}

export interface DeploymentRecord {
  app: string;
  service: string;
  configHash: string;
  image: string;
  replicas: number;
  commit: string;
  updatedAt: string;
  /** Runs to completion (`restart: no` or `on-failure`): a migration, a backup. */
  oneShot: boolean;
  /** The app's `hooks:` as applied (App.hooksHash, '' for none); null: recorded before it was kept. */
  hooksHash?: string | null;
}

/** A failed replica's or build's last output, kept before the replica is removed. */
export interface FailureOutput {
  cycleId: number;
  commit: string | null;
  app: string;
  service: string;
  kind: 'replica' | 'build' | 'hook';
  /** The container's name, or the image being built. */
  subject: string;
  exitCode: number | null;
  reason: string;
  /** Bounded and redacted (agent/failure-output.ts). */
  output: string;
  at: string;
}

/** One service of the rollout in flight: replicas proven ready of those being rolled out. */
export interface RolloutProgress {
  app: string;
  service: string;
  cycleId: number;
  commit: string;
  done: number;
  total: number;
  /** What it is doing now: `waiting for readiness of shop-web-2--next`. */
  phase: string;
  startedAt: string;
  updatedAt: string;
}

/** Written by `capstan run` at start and around each cycle, so `status` can tell whether it lives. */
export interface AgentHeartbeat {
  pid: number;
  startedAt: string;
  heartbeatAt: string;
  /** Set when it stopped on a signal (SIGTERM, SIGINT); absent while it runs or after a kill -9. */
  stoppedAt?: string;
}

/** How a hook job's run ended; `running` until it does (or for good, when the agent was killed). */
export type HookRunResult = 'running' | 'passed' | 'failed' | 'timed-out' | 'error';

export interface HookRun {
  cycleId: number;
  app: string;
  phase: string;
  job: string;
  result: HookRunResult;
  exitCode: number | null;
  startedAt: string;
  finishedAt: string | null;
}

interface HookRunRow {
  cycle_id: number;
  app: string;
  phase: string;
  job: string;
  result: string;
  exit_code: number | null;
  started_at: string;
  finished_at: string | null;
}

/** Failure outputs kept in all, oldest dropped first: 200 × 8 KB at most. */
const FAILURE_OUTPUTS_KEPT = 200;
/** Far more than the replicas with hooks one node runs: older rows name containers long gone. */
const POST_START_KEPT = 2000;

export interface LastError {
  code: string;
  message: string;
  commit: string | null;
  at: string;
}

/**
 * Everything Capstan remembers between cycles. Docker labels stay the truth about what runs;
 * this is the record of what was attempted and applied, for `status`, `history` and the
 * cheap no-change check. Messages stored here come from CapstanError messages, which never
 * carry secret values.
 */
export class StateStore {
  constructor(
    private readonly db: Db,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** The connection, for stores of their own tables that share it (agent/image-updates/store.ts). */
  get database(): Db {
    return this.db;
  }

  close(): void {
    this.db.close();
  }

  getMeta(key: string): string | null {
    const row = this.db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined;
    return row?.value ?? null;
  }

  setMeta(key: string, value: string | null): void {
    if (value === null) this.db.prepare('DELETE FROM meta WHERE key = ?').run(key);
    else this.db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value').run(key, value);
  }

  get lastAppliedCommit(): string | null {
    return this.getMeta('last_applied_commit');
  }

  get lastAttemptedCommit(): string | null {
    return this.getMeta('last_attempted_commit');
  }

  get lastError(): LastError | null {
    const raw = this.getMeta('last_error');
    return raw ? (JSON.parse(raw) as LastError) : null;
  }

  /** Marks what a previous process left half-done (after `kill -9`). Docker is re-observed anyway. */
  markInterrupted(): number {
    const at = this.now().toISOString();
    return this.db.transaction(() => {
      this.db.prepare("UPDATE journal SET state = 'interrupted', finished_at = ? WHERE state = 'started'").run(at);
      return this.db
        .prepare("UPDATE cycles SET result = 'interrupted', finished_at = ?, reason = 'ProcessKilled' WHERE result = 'running'")
        .run(at).changes;
    })();
  }

  startCycle(trigger: string, node: string): number {
    const info = this.db
      .prepare('INSERT INTO cycles (started_at, trigger, node) VALUES (?, ?, ?)')
      .run(this.now().toISOString(), trigger, node);
    return Number(info.lastInsertRowid);
  }

  setCycleCommit(cycleId: number, commit: { id: string; author: string; message: string }): void {
    this.db
      .prepare('UPDATE cycles SET commit_id = ?, commit_author = ?, commit_message = ? WHERE id = ?')
      .run(commit.id, commit.author, commit.message, cycleId);
    this.setMeta('last_attempted_commit', commit.id);
  }

  finishCycle(
    cycleId: number,
    outcome: { result: Exclude<CycleResult, 'running'>; reason?: string; message?: string; changes?: string[]; durationMs: number },
  ): void {
    const at = this.now().toISOString();
    this.db.transaction(() => {
      this.db
        .prepare('UPDATE cycles SET finished_at = ?, result = ?, reason = ?, message = ?, changes = ?, duration_ms = ? WHERE id = ?')
        .run(at, outcome.result, outcome.reason ?? null, outcome.message ?? null, JSON.stringify(outcome.changes ?? []), outcome.durationMs, cycleId);
      const commit = (this.db.prepare('SELECT commit_id FROM cycles WHERE id = ?').get(cycleId) as { commit_id: string | null }).commit_id;
      if (outcome.result === 'failed' || outcome.result === 'blocked') {
        const lastError: LastError = { code: outcome.reason ?? 'UNKNOWN', message: outcome.message ?? '', commit, at };
        this.setMeta('last_error', JSON.stringify(lastError));
      } else {
        this.setMeta('last_error', null);
        if (commit && outcome.result !== 'deferred') this.setMeta('last_applied_commit', commit);
      }
    })();
  }

  cycles(limit = 50): CycleRecord[] {
    const rows = this.db.prepare('SELECT * FROM cycles ORDER BY id DESC LIMIT ?').all(limit) as CycleRow[];
    return rows.map(toCycleRecord);
  }

  cyclesForCommit(commitPrefix: string, limit = -1): CycleRecord[] {
    const rows = this.db
      .prepare("SELECT * FROM cycles WHERE commit_id LIKE ? || '%' ORDER BY id DESC LIMIT ?")
      .all(commitPrefix, limit) as CycleRow[];
    return rows.map(toCycleRecord);
  }

  /** Whether a cycle before `cycleId` was recorded for `commit` (a refusal is logged at error once per commit). */
  commitSeenBefore(commit: string, cycleId: number): boolean {
    return this.db.prepare('SELECT 1 FROM cycles WHERE commit_id = ? AND id < ? LIMIT 1').get(commit, cycleId) !== undefined;
  }

  /** Whether any cycle of a commit with this id or prefix was recorded. */
  knowsCommit(commitPrefix: string): boolean {
    return this.db.prepare("SELECT 1 FROM cycles WHERE commit_id LIKE ? || '%' LIMIT 1").get(commitPrefix) !== undefined;
  }

  keepFailureOutput(node: string, entry: FailureOutput): void {
    this.db.transaction(() => {
      this.db
        .prepare(
          'INSERT INTO failure_output (cycle_id, node, commit_id, app, service, kind, subject, exit_code, reason, output, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
        )
        .run(entry.cycleId, node, entry.commit, entry.app, entry.service, entry.kind, entry.subject, entry.exitCode, entry.reason, entry.output, entry.at);
      this.db
        .prepare('DELETE FROM failure_output WHERE id NOT IN (SELECT id FROM failure_output ORDER BY id DESC LIMIT ?)')
        .run(FAILURE_OUTPUTS_KEPT);
    })();
  }

  /** Outputs kept by these cycles, by cycle id. */
  failureOutputsOf(cycleIds: number[]): Map<number, FailureOutput[]> {
    const byCycle = new Map<number, FailureOutput[]>();
    if (cycleIds.length === 0) return byCycle;
    const rows = this.db
      .prepare(`SELECT * FROM failure_output WHERE cycle_id IN (${cycleIds.map(() => '?').join(', ')}) ORDER BY id`)
      .all(...cycleIds) as FailureOutputRow[];
    for (const row of rows) byCycle.set(row.cycle_id, [...(byCycle.get(row.cycle_id) ?? []), toFailureOutput(row)]);
    return byCycle;
  }

  /** The outputs the latest cycle that kept any for `commit` kept: what made that commit fail. */
  latestFailureOutputs(node: string, commit: string): FailureOutput[] {
    const rows = this.db
      .prepare(
        'SELECT * FROM failure_output WHERE node = ? AND commit_id = ? AND cycle_id = (SELECT MAX(cycle_id) FROM failure_output WHERE node = ? AND commit_id = ?) ORDER BY id',
      )
      .all(node, commit, node, commit) as FailureOutputRow[];
    return rows.map(toFailureOutput);
  }

  /** Records that a hook job starts; returns the run's id for `hookRunFinished`. */
  hookRunStarted(node: string, run: { cycleId: number; commit: string; app: string; phase: string; job: string }): number {
    const result = this.db
      .prepare("INSERT INTO hook_runs (cycle_id, node, commit_id, app, phase, job, result, started_at) VALUES (?, ?, ?, ?, ?, ?, 'running', ?)")
      .run(run.cycleId, node, run.commit, run.app, run.phase, run.job, this.now().toISOString());
    return Number(result.lastInsertRowid);
  }

  hookRunFinished(id: number, result: HookRunResult, exitCode: number | null): void {
    this.db.prepare('UPDATE hook_runs SET result = ?, exit_code = ?, finished_at = ? WHERE id = ?').run(result, exitCode, this.now().toISOString(), id);
  }

  /** A container's post_start hooks all exited 0; the newest rows per node are kept (POST_START_KEPT). */
  recordPostStartDone(node: string, containerId: string): void {
    this.db.transaction(() => {
      this.db.prepare('INSERT OR REPLACE INTO post_start_done (node, container_id, at) VALUES (?, ?, ?)').run(node, containerId, new Date().toISOString());
      this.db
        .prepare('DELETE FROM post_start_done WHERE node = ? AND container_id NOT IN (SELECT container_id FROM post_start_done WHERE node = ? ORDER BY rowid DESC LIMIT ?)')
        .run(node, node, POST_START_KEPT);
    })();
  }

  /** Ids of the containers whose post_start hooks finished. */
  postStartDone(node: string): string[] {
    return (this.db.prepare('SELECT container_id AS id FROM post_start_done WHERE node = ?').all(node) as { id: string }[]).map((row) => row.id);
  }

  /** The hook jobs that passed for `commit` on this node, as `app/phase/job`: they are not run again. */
  hooksPassed(node: string, commit: string): string[] {
    const rows = this.db.prepare("SELECT DISTINCT app, phase, job FROM hook_runs WHERE node = ? AND commit_id = ? AND result = 'passed'").all(node, commit) as { app: string; phase: string; job: string }[];
    return rows.map((row) => `${row.app}/${row.phase}/${row.job}`).sort();
  }

  /** Every run of a commit's hook jobs on this node, oldest first (`history COMMIT`). */
  hookRuns(node: string, commit: string): HookRun[] {
    const rows = this.db.prepare('SELECT * FROM hook_runs WHERE node = ? AND commit_id = ? ORDER BY id').all(node, commit) as HookRunRow[];
    return rows.map((row) => ({
      cycleId: row.cycle_id,
      app: row.app,
      phase: row.phase,
      job: row.job,
      result: row.result as HookRun['result'],
      exitCode: row.exit_code,
      startedAt: row.started_at,
      finishedAt: row.finished_at,
    }));
  }

  /** Starts recording a converge's rollouts: one row per service with replicas to prove ready. */
  startRollout(node: string, cycleId: number, commit: string, totals: { app: string; service: string; total: number }[]): void {
    const at = this.now().toISOString();
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM rollout_progress WHERE node = ?').run(node);
      const insert = this.db.prepare(
        "INSERT INTO rollout_progress (node, app, service, cycle_id, commit_id, done, total, phase, started_at, updated_at) VALUES (?, ?, ?, ?, ?, 0, ?, 'planned', ?, ?)",
      );
      for (const { app, service, total } of totals) insert.run(node, app, service, cycleId, commit, total, at, at);
    })();
  }

  /** A step of a service's rollout: its phase now, and one more replica proven ready when `readyOne`. */
  rolloutStep(node: string, app: string, service: string, phase: string, readyOne = false): void {
    this.db
      .prepare('UPDATE rollout_progress SET phase = ?, done = MIN(total, done + ?), updated_at = ? WHERE node = ? AND app = ? AND service = ?')
      .run(phase, readyOne ? 1 : 0, this.now().toISOString(), node, app, service);
  }

  finishRollout(node: string): void {
    this.db.prepare('DELETE FROM rollout_progress WHERE node = ?').run(node);
  }

  rolloutProgress(node: string): RolloutProgress[] {
    return (this.db.prepare('SELECT * FROM rollout_progress WHERE node = ? ORDER BY app, service').all(node) as RolloutRow[]).map((row) => ({
      app: row.app,
      service: row.service,
      cycleId: row.cycle_id,
      commit: row.commit_id,
      done: row.done,
      total: row.total,
      phase: row.phase,
      startedAt: row.started_at,
      updatedAt: row.updated_at,
    }));
  }

  /** `capstan run`'s heartbeat; `stopped` marks a clean stop. */
  beat(pid: number, startedAt: string, stopped = false): void {
    const at = this.now().toISOString();
    const heartbeat: AgentHeartbeat = { pid, startedAt, heartbeatAt: at, ...(stopped ? { stoppedAt: at } : {}) };
    this.setMeta('agent_heartbeat', JSON.stringify(heartbeat));
  }

  get heartbeat(): AgentHeartbeat | null {
    const raw = this.getMeta('agent_heartbeat');
    return raw ? (JSON.parse(raw) as AgentHeartbeat) : null;
  }

  /** Replaces the record of what is deployed on this node with the state just applied. */
  recordDeployments(node: string, deployments: (Omit<DeploymentRecord, 'updatedAt' | 'oneShot'> & { oneShot?: boolean })[]): void {
    const at = this.now().toISOString();
    this.db.transaction(() => {
      const existing = new Map(
        (this.db.prepare('SELECT app, service, config_hash, updated_at FROM deployments WHERE node = ?').all(node) as {
          app: string;
          service: string;
          config_hash: string;
          updated_at: string;
        }[]).map((row) => [`${row.app}/${row.service}`, row]),
      );
      this.db.prepare('DELETE FROM deployments WHERE node = ?').run(node);
      const insert = this.db.prepare(
        'INSERT INTO deployments (node, app, service, config_hash, image, replicas, commit_id, updated_at, one_shot, hooks_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
      );
      for (const deployment of deployments) {
        const before = existing.get(`${deployment.app}/${deployment.service}`);
        // Keep the time of the last real change, so `status` shows when a service last changed.
        const updatedAt = before && before.config_hash === deployment.configHash ? before.updated_at : at;
        insert.run(
          node,
          deployment.app,
          deployment.service,
          deployment.configHash,
          deployment.image,
          deployment.replicas,
          deployment.commit,
          updatedAt,
          deployment.oneShot ? 1 : 0,
          deployment.hooksHash ?? null,
        );
      }
    })();
  }

  deployments(node: string): DeploymentRecord[] {
    const rows = this.db
      .prepare('SELECT * FROM deployments WHERE node = ? ORDER BY app, service')
      .all(node) as { app: string; service: string; config_hash: string; image: string; replicas: number; commit_id: string; updated_at: string; one_shot: number; hooks_hash: string | null }[];
    return rows.map((row) => ({
      app: row.app,
      service: row.service,
      configHash: row.config_hash,
      image: row.image,
      replicas: row.replicas,
      commit: row.commit_id,
      updatedAt: row.updated_at,
      oneShot: row.one_shot === 1,
      hooksHash: row.hooks_hash,
    }));
  }

  /** A commit whose rollout failed: not retried until a new commit arrives. */
  quarantine(node: string, entry: { commit: string; reason: string; message: string }): void {
    this.db
      .prepare('INSERT OR REPLACE INTO quarantine (node, commit_id, reason, message, at) VALUES (?, ?, ?, ?, ?)')
      .run(node, entry.commit, entry.reason, entry.message, this.now().toISOString());
  }

  quarantineOf(node: string, commit: string): QuarantineRecord | null {
    const row = this.db.prepare('SELECT commit_id, reason, message, at FROM quarantine WHERE node = ? AND commit_id = ?').get(node, commit) as
      | QuarantineRow
      | undefined;
    return row ? toQuarantineRecord(row) : null;
  }

  quarantined(node: string): QuarantineRecord[] {
    return (this.db.prepare('SELECT commit_id, reason, message, at FROM quarantine WHERE node = ? ORDER BY at DESC').all(node) as QuarantineRow[]).map(
      toQuarantineRecord,
    );
  }

  recordPulledImage(node: string, image: string): void {
    this.db
      .prepare('INSERT INTO pulled_images (node, image, pulled_at) VALUES (?, ?, ?) ON CONFLICT(node, image) DO UPDATE SET pulled_at = excluded.pulled_at')
      .run(node, image, this.now().toISOString());
  }

  forgetPulledImage(node: string, image: string): void {
    this.db.prepare('DELETE FROM pulled_images WHERE node = ? AND image = ?').run(node, image);
  }

  /** Images this node pulled itself: the only ones it may ever remove. */
  pulledImages(node: string): string[] {
    return (this.db.prepare('SELECT image FROM pulled_images WHERE node = ? ORDER BY image').all(node) as { image: string }[]).map((row) => row.image);
  }

  /**
   * Marks each image as what its `app/service` runs now; the history decides which image is the
   * rollback one. One transaction: 200 services are 200 upserts, not 200 commits.
   */
  touchServiceImages(node: string, uses: { app: string; service: string; image: string }[]): void {
    const at = this.now().toISOString();
    const upsert = this.db.prepare(
      'INSERT INTO service_images (node, app, service, image, used_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT(node, app, service, image) DO UPDATE SET used_at = excluded.used_at',
    );
    this.db.transaction(() => {
      for (const { app, service, image } of uses) upsert.run(node, app, service, image, at);
    })();
  }

  serviceImages(node: string): { app: string; service: string; image: string; usedAt: string }[] {
    return (
      this.db.prepare('SELECT app, service, image, used_at FROM service_images WHERE node = ? ORDER BY app, service, used_at DESC, image').all(node) as {
        app: string;
        service: string;
        image: string;
        used_at: string;
      }[]
    ).map((row) => ({ app: row.app, service: row.service, image: row.image, usedAt: row.used_at }));
  }

  forgetServiceImage(node: string, image: string): void {
    this.db.prepare('DELETE FROM service_images WHERE node = ? AND image = ?').run(node, image);
  }

  /** Written before each Docker call that changes something, so a crash leaves a trace. */
  journalStart(cycleId: number, opKind: string, target: string, cause: string): number {
    const info = this.db
      .prepare("INSERT INTO journal (cycle_id, op_kind, target, cause, state, started_at) VALUES (?, ?, ?, ?, 'started', ?)")
      .run(cycleId, opKind, target, cause, this.now().toISOString());
    return Number(info.lastInsertRowid);
  }

  journalFinish(entryId: number, state: 'done' | 'failed', error?: string): void {
    this.db
      .prepare('UPDATE journal SET state = ?, error = ?, finished_at = ? WHERE id = ?')
      .run(state, error ?? null, this.now().toISOString(), entryId);
  }

  journal(cycleId: number): { opKind: string; target: string; cause: string; state: string; error: string | null }[] {
    return (this.db.prepare('SELECT op_kind, target, cause, state, error FROM journal WHERE cycle_id = ? ORDER BY id').all(cycleId) as {
      op_kind: string;
      target: string;
      cause: string;
      state: string;
      error: string | null;
    }[]).map((row) => ({ opKind: row.op_kind, target: row.target, cause: row.cause, state: row.state, error: row.error }));
  }
}

export interface QuarantineRecord {
  commit: string;
  reason: string;
  message: string;
  at: string;
}

interface QuarantineRow {
  commit_id: string;
  reason: string;
  message: string;
  at: string;
}

function toQuarantineRecord(row: QuarantineRow): QuarantineRecord {
  return { commit: row.commit_id, reason: row.reason, message: row.message, at: row.at };
}

interface FailureOutputRow {
  cycle_id: number;
  commit_id: string | null;
  app: string;
  service: string;
  kind: 'replica' | 'build' | 'hook';
  subject: string;
  exit_code: number | null;
  reason: string;
  output: string;
  at: string;
}

function toFailureOutput(row: FailureOutputRow): FailureOutput {
  return {
    cycleId: row.cycle_id,
    commit: row.commit_id,
    app: row.app,
    service: row.service,
    kind: row.kind,
    subject: row.subject,
    exitCode: row.exit_code,
    reason: row.reason,
    output: row.output,
    at: row.at,
  };
}

interface RolloutRow {
  app: string;
  service: string;
  cycle_id: number;
  commit_id: string;
  done: number;
  total: number;
  phase: string;
  started_at: string;
  updated_at: string;
}

interface CycleRow {
  id: number;
  started_at: string;
  finished_at: string | null;
  trigger: string;
  node: string;
  commit_id: string | null;
  commit_author: string | null;
  commit_message: string | null;
  result: CycleResult;
  reason: string | null;
  message: string | null;
  changes: string;
  duration_ms: number | null;
}

function toCycleRecord(row: CycleRow): CycleRecord {
  return {
    id: row.id,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    trigger: row.trigger,
    node: row.node,
    commit: row.commit_id,
    commitAuthor: row.commit_author,
    commitMessage: row.commit_message,
    result: row.result,
    reason: row.reason,
    message: row.message,
    changes: JSON.parse(row.changes) as string[],
    durationMs: row.duration_ms,
  };
}
