import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

export type Db = Database.Database;

// Each entry moves the schema one version forward; a fresh file runs them all in order.
// Never edit an entry that has shipped: add a new one.
const MIGRATIONS: string[] = [
  `
  CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
  );
  CREATE TABLE cycles (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at    TEXT NOT NULL,
    finished_at   TEXT,
    trigger       TEXT NOT NULL,
    node          TEXT NOT NULL,
    commit_id     TEXT,
    commit_author TEXT,
    commit_message TEXT,
    result        TEXT NOT NULL DEFAULT 'running',
    reason        TEXT,
    message       TEXT,
    changes       TEXT NOT NULL DEFAULT '[]',
    duration_ms   INTEGER
  );
  CREATE INDEX cycles_started ON cycles(started_at);
  CREATE TABLE deployments (
    app          TEXT NOT NULL,
    service      TEXT NOT NULL,
    node         TEXT NOT NULL,
    config_hash  TEXT NOT NULL,
    image        TEXT NOT NULL,
    replicas     INTEGER NOT NULL,
    commit_id    TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    PRIMARY KEY (node, app, service)
  );
  CREATE TABLE journal (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    cycle_id    INTEGER NOT NULL REFERENCES cycles(id),
    op_kind     TEXT NOT NULL,
    target      TEXT NOT NULL,
    cause       TEXT NOT NULL,
    state       TEXT NOT NULL,
    error       TEXT,
    started_at  TEXT NOT NULL,
    finished_at TEXT
  );
  CREATE INDEX journal_cycle ON journal(cycle_id);
  `,
  // Notifications and metrics (agent/notify, agent/metrics). The queue holds one row per
  // event and target; a target is named by a key that never includes its URL, because Slack
  // and Discord webhook URLs are credentials. Counters live here so they survive restarts.
  `
  CREATE TABLE notifications (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    target_key      TEXT NOT NULL,
    delivery_id     TEXT NOT NULL,
    event           TEXT NOT NULL,
    state           TEXT NOT NULL DEFAULT 'pending',
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    delivered_at    TEXT
  );
  CREATE INDEX notifications_due ON notifications(state, next_attempt_at);
  CREATE TABLE counters (
    name   TEXT NOT NULL,
    labels TEXT NOT NULL,
    value  INTEGER NOT NULL,
    PRIMARY KEY (name, labels)
  );
  CREATE INDEX cycles_node_result ON cycles(node, result);
  `,
  // Rollouts: a commit whose rollout failed is quarantined (not retried in a loop); images
  // Capstan pulled are remembered so only those are ever garbage-collected.
  `
  CREATE TABLE quarantine (
    commit_id   TEXT NOT NULL,
    node        TEXT NOT NULL,
    reason      TEXT NOT NULL,
    message     TEXT NOT NULL,
    at          TEXT NOT NULL,
    PRIMARY KEY (node, commit_id)
  );
  CREATE TABLE pulled_images (
    node       TEXT NOT NULL,
    image      TEXT NOT NULL,
    pulled_at  TEXT NOT NULL,
    PRIMARY KEY (node, image)
  );
  CREATE TABLE service_images (
    node       TEXT NOT NULL,
    app        TEXT NOT NULL,
    service    TEXT NOT NULL,
    image      TEXT NOT NULL,
    used_at    TEXT NOT NULL,
    PRIMARY KEY (node, app, service, image)
  );
  `,
  // Status that tells the truth (issue 14). A failed replica's (or build's) last output is kept
  // before the rollback removes it: bounded (agent/failure-output.ts) and redacted of secret
  // values. The rollout in flight, one row per service being rolled out, written as each of
  // its operations starts and ends, so `status` shows it while a cycle is watched. Whether a
  // service runs to completion, so `status` shows a finished one-shot as completed.
  `
  CREATE TABLE failure_output (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    cycle_id    INTEGER NOT NULL REFERENCES cycles(id),
    node        TEXT NOT NULL,
    commit_id   TEXT,
    app         TEXT NOT NULL,
    service     TEXT NOT NULL,
    kind        TEXT NOT NULL,
    subject     TEXT NOT NULL,
    exit_code   INTEGER,
    reason      TEXT NOT NULL,
    output      TEXT NOT NULL,
    at          TEXT NOT NULL
  );
  CREATE INDEX failure_output_cycle ON failure_output(cycle_id);
  CREATE INDEX failure_output_commit ON failure_output(node, commit_id);
  CREATE TABLE rollout_progress (
    node        TEXT NOT NULL,
    app         TEXT NOT NULL,
    service     TEXT NOT NULL,
    cycle_id    INTEGER NOT NULL,
    commit_id   TEXT NOT NULL,
    done        INTEGER NOT NULL,
    total       INTEGER NOT NULL,
    phase       TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (node, app, service)
  );
  ALTER TABLE deployments ADD COLUMN one_shot INTEGER NOT NULL DEFAULT 0;
  `,
  // Hook jobs (issue 22): each run of a pre_deploy or post_deploy job, written when it starts and
  // when it ends. A job passed for a commit is not run again for it; a row left `running` by a
  // killed agent counts as not passed, so the job runs again.
  `
  CREATE TABLE hook_runs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    cycle_id     INTEGER NOT NULL,
    node         TEXT NOT NULL,
    commit_id    TEXT NOT NULL,
    app          TEXT NOT NULL,
    phase        TEXT NOT NULL,
    job          TEXT NOT NULL,
    result       TEXT NOT NULL,
    exit_code    INTEGER,
    started_at   TEXT NOT NULL,
    finished_at  TEXT
  );
  CREATE INDEX hook_runs_commit ON hook_runs(node, commit_id);
  `,
  // Scheduled jobs (agent/jobs): one row per run, written before its container is created (so a
  // container labelled capstan.job-run always has its row) and finished with its exit code and
  // bounded, redacted output; the last runs per job are kept (jobs/store.ts KEEP_RUNS).
  `
  CREATE TABLE job_runs (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    node          TEXT NOT NULL,
    app           TEXT NOT NULL,
    service       TEXT NOT NULL,
    trigger       TEXT NOT NULL,
    scheduled_at  TEXT NOT NULL,
    started_at    TEXT NOT NULL,
    finished_at   TEXT,
    state         TEXT NOT NULL,
    exit_code     INTEGER,
    message       TEXT,
    output        TEXT,
    commit_id     TEXT,
    config_hash   TEXT,
    container     TEXT
  );
  CREATE INDEX job_runs_job ON job_runs(node, app, service, id);
  CREATE INDEX job_runs_state ON job_runs(node, state);
  `,
  // Operator control without a port (issue 16a, agent/control/): every command an operator ran
  // on the host (`sync`, `suspend`, `pin`…), with the local user, which the running agent
  // polls for cycle requests; what is suspended; the pinned commit and what the last cycle
  // found of it (the branch head, how many commits it is ahead).
  `
  CREATE TABLE operator_commands (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    node         TEXT NOT NULL,
    command      TEXT NOT NULL,
    args         TEXT NOT NULL DEFAULT '{}',
    user         TEXT NOT NULL,
    at           TEXT NOT NULL,
    wants_cycle  INTEGER NOT NULL DEFAULT 0,
    taken_at     TEXT,
    cycle_id     INTEGER,
    result       TEXT,
    message      TEXT
  );
  CREATE INDEX operator_commands_pending ON operator_commands(node, wants_cycle, taken_at);
  CREATE TABLE suspensions (
    node    TEXT NOT NULL,
    app     TEXT NOT NULL,
    user    TEXT NOT NULL,
    reason  TEXT,
    at      TEXT NOT NULL,
    PRIMARY KEY (node, app)
  );
  CREATE TABLE pins (
    node        TEXT PRIMARY KEY,
    commit_id   TEXT NOT NULL,
    user        TEXT NOT NULL,
    reason      TEXT,
    at          TEXT NOT NULL,
    head        TEXT,
    ahead       INTEGER,
    problem     TEXT,
    checked_at  TEXT
  );
  `,
  // Image update automation (agent/image-updates, issue 17). Per service with `update.image`:
  // the manifest image and policy it follows, the last registry check, what the registry serves
  // (`available_*`) and what the service runs (`deployed_*`; `pinned`: as `repo@digest`, fed to
  // the plan, else the manifest's tag, found to be that digest here when first checked; it is
  // created as `repo@digest` too, under the tag's config hash: agent/image-updates/index.ts).
  // A digest whose rollout failed is quarantined for that service until a newer one appears.
  `
  CREATE TABLE image_updates (
    node             TEXT NOT NULL,
    app              TEXT NOT NULL,
    service          TEXT NOT NULL,
    image            TEXT NOT NULL,
    policy           TEXT NOT NULL,
    mode             TEXT NOT NULL,
    checked_at       TEXT,
    next_check_at    TEXT,
    check_error      TEXT,
    available_tag    TEXT,
    available_digest TEXT,
    deployed_tag     TEXT,
    deployed_digest  TEXT,
    pinned           INTEGER NOT NULL DEFAULT 0,
    notified         TEXT,
    PRIMARY KEY (node, app, service)
  );
  CREATE TABLE image_quarantine (
    node     TEXT NOT NULL,
    app      TEXT NOT NULL,
    service  TEXT NOT NULL,
    tag      TEXT NOT NULL,
    digest   TEXT NOT NULL,
    message  TEXT NOT NULL,
    at       TEXT NOT NULL,
    PRIMARY KEY (node, app, service, digest)
  );
  `,
  // Hook jobs as applied (issue 22): per deployment row, the HMAC of its app's `hooks:` ('' for
  // none), so a commit that changes only a hook job runs the app's hooks. NULL: recorded before
  // this column, taken as unchanged (no hook runs again on an upgrade).
  `
  ALTER TABLE deployments ADD COLUMN hooks_hash TEXT;
  `,
  // Containers whose post_start hooks finished (the executor writes a row after they exit 0):
  // a replica an interrupted rollout started without one runs them again, at least once.
  `
  CREATE TABLE post_start_done (
    node         TEXT NOT NULL,
    container_id TEXT NOT NULL,
    at           TEXT NOT NULL,
    PRIMARY KEY (node, container_id)
  );
  `,
];

/** Opens (creating if needed) the state database in WAL mode and migrates it. */
export function openDb(file: string): Db {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  // NORMAL is durable across process crashes in WAL mode; only a power loss can drop the
  // last transactions, and the next cycle re-observes Docker anyway.
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  db.pragma('foreign_keys = ON');
  migrate(db);
  return db;
}

function migrate(db: Db): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  for (let version = current; version < MIGRATIONS.length; version++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[version]);
      db.pragma(`user_version = ${version + 1}`);
    })();
  }
}
