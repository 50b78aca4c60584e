import type { Db } from '../state/db.js';

// Operator control without a port: the commands run on the host write here (the state dir's
// SQLite), and the running agent reads it. `operator_commands` is both the record `history`
// shows and the queue of cycle requests the agent polls once a second (one indexed SELECT).

export const OPERATOR_COMMANDS = ['sync', 'suspend', 'resume', 'pin', 'unpin', 'rollback', 'retry', 'volume-snapshot', 'volume-restore', 'volume-takeover'] as const;
export type OperatorCommandName = (typeof OPERATOR_COMMANDS)[number];

/** What a command was given; never holds a secret (apps, a commit id, a reason typed by a person). */
export interface CommandArgs {
  apps?: string[];
  commit?: string;
  reason?: string;
  /** `sync --force`: passed to the cycle as `force: true` (deploy windows yield to it). */
  force?: boolean;
  /** `retry --image APP/SERVICE`: the service whose quarantined image updates were lifted. */
  image?: string;
  /** `volumes snapshot|restore|takeover APP/VOLUME`. */
  volume?: string;
  /** `volumes restore --snapshot ID`: the snapshot asked for (the latest when absent). */
  snapshot?: string;
}

export interface OperatorCommand {
  id: number;
  command: OperatorCommandName;
  args: CommandArgs;
  /** The local user who ran it (`root (sudo from alice)`). */
  user: string;
  at: string;
  /** Asks the running agent for a cycle. */
  wantsCycle: boolean;
  /** When a cycle took it up. */
  takenAt: string | null;
  cycleId: number | null;
  /** The outcome of that cycle (`applied`, `in-sync`, `failed`, `blocked`), or why none ran. */
  result: string | null;
  message: string | null;
}

export interface Suspension {
  /** `*`: everything. */
  app: string;
  user: string;
  reason: string | null;
  at: string;
}

/** Every app of the host, as a suspension row. */
export const EVERYTHING = '*';

export interface Pin {
  commit: string;
  user: string;
  reason: string | null;
  at: string;
  /** What the last cycle found: the branch head then, and how many commits it is ahead of the pin. */
  head: string | null;
  ahead: number | null;
  /** Why the last cycle could not deploy the pin (not in the branch, refused), if it could not. */
  problem: string | null;
  checkedAt: string | null;
}

export class ControlStore {
  constructor(
    private readonly db: Db,
    private readonly node: string,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Records a command; returns its id. */
  record(command: OperatorCommandName, args: CommandArgs, user: string, wantsCycle: boolean): number {
    const info = this.db
      .prepare('INSERT INTO operator_commands (node, command, args, user, at, wants_cycle) VALUES (?, ?, ?, ?, ?, ?)')
      .run(this.node, command, JSON.stringify(args), user, this.now().toISOString(), wantsCycle ? 1 : 0);
    return Number(info.lastInsertRowid);
  }

  /** Whether a command asks for a cycle no cycle has taken up yet: the agent's poll, once a second. */
  hasPendingCycleRequest(): boolean {
    return this.db.prepare('SELECT 1 FROM operator_commands WHERE node = ? AND wants_cycle = 1 AND taken_at IS NULL LIMIT 1').get(this.node) !== undefined;
  }

  /** Marks every pending cycle request as taken by the cycle starting now; returns them. */
  takePendingCycleRequests(): OperatorCommand[] {
    return this.db.transaction(() => {
      const rows = this.db
        .prepare('SELECT * FROM operator_commands WHERE node = ? AND wants_cycle = 1 AND taken_at IS NULL ORDER BY id')
        .all(this.node) as CommandRow[];
      const at = this.now().toISOString();
      const take = this.db.prepare('UPDATE operator_commands SET taken_at = ? WHERE id = ?');
      for (const row of rows) take.run(at, row.id);
      return rows.map((row) => toCommand({ ...row, taken_at: at }));
    })();
  }

  /** The outcome of the cycle that took these requests, or why none ran (`result` `not-run`). */
  finishCycleRequests(ids: number[], outcome: { cycleId: number | null; result: string; message: string | null }): void {
    const finish = this.db.prepare('UPDATE operator_commands SET cycle_id = ?, result = ?, message = ? WHERE id = ?');
    this.db.transaction(() => {
      for (const id of ids) finish.run(outcome.cycleId, outcome.result, outcome.message, id);
    })();
  }

  command(id: number): OperatorCommand | null {
    const row = this.db.prepare('SELECT * FROM operator_commands WHERE id = ?').get(id) as CommandRow | undefined;
    return row ? toCommand(row) : null;
  }

  commands(limit = 50): OperatorCommand[] {
    return (this.db.prepare('SELECT * FROM operator_commands WHERE node = ? ORDER BY id DESC LIMIT ?').all(this.node, limit) as CommandRow[]).map(toCommand);
  }

  suspend(apps: readonly string[], user: string, reason: string | null): void {
    const at = this.now().toISOString();
    const upsert = this.db.prepare(
      'INSERT INTO suspensions (node, app, user, reason, at) VALUES (?, ?, ?, ?, ?) ON CONFLICT(node, app) DO UPDATE SET user = excluded.user, reason = excluded.reason, at = excluded.at',
    );
    this.db.transaction(() => {
      for (const app of apps.length === 0 ? [EVERYTHING] : apps) upsert.run(this.node, app, user, reason, at);
    })();
  }

  /** Lifts the suspension of these apps, or of everything (every row) when none is named; returns what was lifted. */
  resume(apps: readonly string[]): string[] {
    return this.db.transaction(() => {
      const before = this.suspensions().map((row) => row.app);
      const lifted = apps.length === 0 ? before : before.filter((app) => apps.includes(app));
      const remove = this.db.prepare('DELETE FROM suspensions WHERE node = ? AND app = ?');
      for (const app of lifted) remove.run(this.node, app);
      return lifted;
    })();
  }

  suspensions(): Suspension[] {
    return (this.db.prepare('SELECT app, user, reason, at FROM suspensions WHERE node = ? ORDER BY app').all(this.node) as Suspension[]).map((row) => ({ ...row }));
  }

  pin(commit: string, user: string, reason: string | null): void {
    this.db
      .prepare(
        'INSERT INTO pins (node, commit_id, user, reason, at) VALUES (?, ?, ?, ?, ?) ON CONFLICT(node) DO UPDATE SET commit_id = excluded.commit_id, user = excluded.user, reason = excluded.reason, at = excluded.at, head = NULL, ahead = NULL, problem = NULL, checked_at = NULL',
      )
      .run(this.node, commit, user, reason, this.now().toISOString());
  }

  /** Removes the pin; returns the commit it held, if any. */
  unpin(): string | null {
    const current = this.pinned();
    this.db.prepare('DELETE FROM pins WHERE node = ?').run(this.node);
    return current?.commit ?? null;
  }

  pinned(): Pin | null {
    const row = this.db.prepare('SELECT * FROM pins WHERE node = ?').get(this.node) as PinRow | undefined;
    if (!row) return null;
    return { commit: row.commit_id, user: row.user, reason: row.reason, at: row.at, head: row.head, ahead: row.ahead, problem: row.problem, checkedAt: row.checked_at };
  }

  /** What a cycle found of the pin `commit` (ignored when the pin changed meanwhile). */
  pinChecked(commit: string, view: { head: string; ahead: number | null; problem: string | null }): void {
    this.db
      .prepare('UPDATE pins SET head = ?, ahead = ?, problem = ?, checked_at = ? WHERE node = ? AND commit_id = ?')
      .run(view.head, view.ahead, view.problem, this.now().toISOString(), this.node, commit);
  }

  /** `capstan retry`: the commit is tried again at the next cycle. */
  liftQuarantine(commit: string): boolean {
    return this.db.prepare('DELETE FROM quarantine WHERE node = ? AND commit_id = ?').run(this.node, commit).changes > 0;
  }

  /**
   * The commit applied before `current` was first applied on this node: what `capstan rollback`
   * pins. Asked again after a rollback, it goes one further back (`current` is then the older
   * commit, first applied before the newer one). Two indexed queries, however long the history.
   */
  appliedBefore(current: string): string | null {
    const first = this.db
      .prepare("SELECT MIN(id) AS id FROM cycles WHERE node = ? AND commit_id = ? AND result IN ('applied', 'in-sync')")
      .get(this.node, current) as { id: number | null };
    if (first.id === null) return null;
    const row = this.db
      .prepare("SELECT commit_id FROM cycles WHERE node = ? AND id < ? AND result IN ('applied', 'in-sync') AND commit_id IS NOT NULL AND commit_id != ? ORDER BY id DESC LIMIT 1")
      .get(this.node, first.id, current) as { commit_id: string } | undefined;
    return row?.commit_id ?? null;
  }
}

interface CommandRow {
  id: number;
  command: OperatorCommandName;
  args: string;
  user: string;
  at: string;
  wants_cycle: number;
  taken_at: string | null;
  cycle_id: number | null;
  result: string | null;
  message: string | null;
}

interface PinRow {
  commit_id: string;
  user: string;
  reason: string | null;
  at: string;
  head: string | null;
  ahead: number | null;
  problem: string | null;
  checked_at: string | null;
}

function toCommand(row: CommandRow): OperatorCommand {
  return {
    id: row.id,
    command: row.command,
    args: JSON.parse(row.args) as CommandArgs,
    user: row.user,
    at: row.at,
    wantsCycle: row.wants_cycle === 1,
    takenAt: row.taken_at,
    cycleId: row.cycle_id,
    result: row.result,
    message: row.message,
  };
}
