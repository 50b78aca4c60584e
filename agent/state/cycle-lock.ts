import * as fs from 'node:fs';
import { join } from 'node:path';
import type { Clock } from '../clock.js';
import { CapstanError } from '../errors.js';

// One cycle at a time per state directory, across processes: `capstan once` started while
// `capstan run` is mid-rollout would plan from the same half-done state and race it on the
// same containers (Docker's 409 "removal already in progress"). The lock is a file created
// with O_EXCL holding the holder's pid; a file whose pid no longer exists (the holder was
// killed with -9) is stale and taken over. Read-only commands (plan, status, history) never
// take it: SQLite's WAL lets them read while a cycle writes.

export const LOCK_FILE = 'cycle.lock';

export interface LockHolder {
  pid: number;
  /** `run`, `once`…: what the holder is doing, for the message of whoever waits. */
  command: string;
  since: string;
}

export interface LockDeps {
  clock: Clock;
  /** Whether a process exists; a seam so stale-lock takeover is testable. */
  isAlive?: (pid: number) => boolean;
  pid?: number;
}

export interface CycleLock {
  release(): void;
}

/**
 * Takes the state directory's cycle lock, waiting up to `timeoutMs` for a live holder to
 * release it (0: refuse at once). Throws CYCLE_LOCKED naming the holder when it cannot.
 */
export async function acquireCycleLock(stateDir: string, command: string, timeoutMs: number, deps: LockDeps): Promise<CycleLock> {
  const file = join(stateDir, LOCK_FILE);
  const pid = deps.pid ?? process.pid;
  const isAlive = deps.isAlive ?? processExists;
  const deadline = deps.clock.now() + timeoutMs;
  fs.mkdirSync(stateDir, { recursive: true });
  for (;;) {
    const holder: LockHolder = { pid, command, since: new Date(deps.clock.now()).toISOString() };
    if (tryCreate(file, holder)) return { release: () => releaseIfOurs(file, pid) };
    const current = readHolder(file);
    // An empty file younger than a few seconds is a holder between its create and its write.
    const beingWritten = current === undefined && ageMs(file, deps.clock) < 5_000;
    if (!beingWritten && (current === undefined || !isAlive(current.pid) || current.pid === pid)) {
      // Stale (its holder died) or unreadable (a holder killed between create and write):
      // remove it only if it is still the same file, so two processes breaking the same
      // stale lock cannot remove each other's fresh one.
      removeIfUnchanged(file, current);
      continue;
    }
    if (deps.clock.now() >= deadline && current !== undefined) {
      const waited = timeoutMs > 0 ? `; waited ${Math.round(timeoutMs / 1000)} s` : '';
      throw new CapstanError(
        'CYCLE_LOCKED',
        'transient',
        `another capstan cycle is in flight on state dir ${stateDir} (${current.command}, pid ${current.pid}, since ${current.since})${waited}; ` +
          'try again when it finishes, or wait longer with --lock-timeout',
        { holder: current },
      );
    }
    await deps.clock.sleep(Math.min(200, Math.max(1, deadline - deps.clock.now())));
  }
}

function ageMs(file: string, clock: Clock): number {
  try {
    return clock.now() - fs.statSync(file).mtimeMs;
  } catch {
    return Number.POSITIVE_INFINITY;
  }
}

function tryCreate(file: string, holder: LockHolder): boolean {
  let descriptor: number;
  try {
    descriptor = fs.openSync(file, 'wx', 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
  try {
    fs.writeSync(descriptor, JSON.stringify(holder));
  } finally {
    fs.closeSync(descriptor);
  }
  return true;
}

/** The holder, or undefined when the file is gone, empty or not ours to read. */
export function readHolder(file: string): LockHolder | undefined {
  try {
    const parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<LockHolder>;
    if (typeof parsed.pid !== 'number' || !Number.isInteger(parsed.pid) || parsed.pid <= 0) return undefined;
    return { pid: parsed.pid, command: String(parsed.command ?? '?'), since: String(parsed.since ?? '?') };
  } catch {
    return undefined;
  }
}

function removeIfUnchanged(file: string, seen: LockHolder | undefined): void {
  const now = readHolder(file);
  if (JSON.stringify(now) !== JSON.stringify(seen)) return;
  try {
    fs.unlinkSync(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}

function releaseIfOurs(file: string, pid: number): void {
  if (readHolder(file)?.pid !== pid) return;
  try {
    fs.unlinkSync(file);
  } catch {
    // Already gone: nothing to release.
  }
}

/** Signal 0 checks existence; EPERM means it exists under another user. */
export function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** `--lock-timeout` / CAPSTAN_LOCK_TIMEOUT: `90s`, `10m`, `0` (refuse at once). Default 10 minutes. */
export function lockTimeoutMs(flag: string | undefined, env: NodeJS.ProcessEnv): number {
  const text = (flag ?? env.CAPSTAN_LOCK_TIMEOUT ?? '10m').trim();
  if (text === '0') return 0;
  const match = /^([0-9]+)(ms|s|m|h)$/.exec(text);
  if (!match) {
    throw new CapstanError('CONFIG_INVALID', 'terminal', `invalid --lock-timeout / CAPSTAN_LOCK_TIMEOUT '${text}': use a duration such as 30s, 10m or 0`);
  }
  const unit = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }[match[2] as 'ms' | 's' | 'm' | 'h'];
  return Number(match[1]) * unit;
}
