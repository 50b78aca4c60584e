import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { Clock } from '../../agent/clock.js';
import { CapstanError } from '../../agent/errors.js';
import { LOCK_FILE, acquireCycleLock, lockTimeoutMs } from '../../agent/state/cycle-lock.js';

// The state dir's cycle lock (issue 14): one cycle at a time across processes. The clock and
// "is this pid alive" are seams, so waiting and stale takeover are tested without sleeping.

function fakeClock(): Clock & { slept: number } {
  let now = Date.parse('2026-01-01T00:00:00Z');
  const clock = {
    slept: 0,
    now: () => now,
    sleep: async (ms: number) => {
      clock.slept += ms;
      now += ms;
    },
  };
  return clock;
}

describe('cycle lock', () => {
  const dirs: string[] = [];
  const stateDir = () => {
    const dir = mkdtempSync(join(tmpdir(), 'capstan-lock-'));
    dirs.push(dir);
    return dir;
  };
  after(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('writes the holder pid and removes the file on release', async () => {
    const dir = stateDir();
    const lock = await acquireCycleLock(dir, 'once', 0, { clock: fakeClock(), pid: 4242, isAlive: () => true });
    assert.equal(JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')).pid, 4242);
    lock.release();
    assert.equal(existsSync(join(dir, LOCK_FILE)), false);
  });

  it('refuses at once with timeout 0, naming the live holder', async () => {
    const dir = stateDir();
    await acquireCycleLock(dir, 'run', 0, { clock: fakeClock(), pid: 100, isAlive: () => true });
    await assert.rejects(
      acquireCycleLock(dir, 'once', 0, { clock: fakeClock(), pid: 200, isAlive: () => true }),
      (error: unknown) => error instanceof CapstanError && error.code === 'CYCLE_LOCKED' && /run, pid 100/.test(error.message) && /--lock-timeout/.test(error.message),
    );
  });

  it('waits up to the timeout for a live holder, then refuses', async () => {
    const dir = stateDir();
    await acquireCycleLock(dir, 'run', 0, { clock: fakeClock(), pid: 100, isAlive: () => true });
    const clock = fakeClock();
    await assert.rejects(acquireCycleLock(dir, 'once', 30_000, { clock, pid: 200, isAlive: () => true }), /waited 30 s/);
    assert.ok(clock.slept >= 30_000, `waited ${clock.slept} ms`);
  });

  it('takes the lock as soon as the holder releases it while waiting', async () => {
    const dir = stateDir();
    const held = await acquireCycleLock(dir, 'run', 0, { clock: fakeClock(), pid: 100, isAlive: () => true });
    const clock = fakeClock();
    const realSleep = clock.sleep;
    let sleeps = 0;
    clock.sleep = async (ms) => {
      if (++sleeps === 3) held.release();
      await realSleep(ms);
    };
    const lock = await acquireCycleLock(dir, 'once', 60_000, { clock, pid: 200, isAlive: () => true });
    assert.equal(JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')).pid, 200);
    assert.equal(sleeps, 3);
    lock.release();
  });

  it('takes over a lock whose holder no longer exists (killed with -9)', async () => {
    const dir = stateDir();
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: 999_999, command: 'run', since: 'then' }));
    const lock = await acquireCycleLock(dir, 'once', 0, { clock: fakeClock(), pid: 200, isAlive: (pid) => pid !== 999_999 });
    assert.equal(JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')).pid, 200);
    lock.release();
  });

  it('release never removes a lock another process took over', async () => {
    const dir = stateDir();
    const lock = await acquireCycleLock(dir, 'run', 0, { clock: fakeClock(), pid: 100, isAlive: () => true });
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: 300, command: 'once', since: 'now' }));
    lock.release();
    assert.equal(JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')).pid, 300);
  });

  it('parses --lock-timeout and refuses nonsense', () => {
    assert.equal(lockTimeoutMs('30s', {}), 30_000);
    assert.equal(lockTimeoutMs(undefined, { CAPSTAN_LOCK_TIMEOUT: '2m' }), 120_000);
    assert.equal(lockTimeoutMs(undefined, {}), 600_000);
    assert.equal(lockTimeoutMs('0', {}), 0);
    assert.throws(() => lockTimeoutMs('soon', {}), /invalid --lock-timeout/);
  });
});
