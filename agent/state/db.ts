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
