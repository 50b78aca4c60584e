import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readiness, recheckDelayMs, type ContainerStateView } from '../../agent/targets/containers/execute-readiness.js';
import { durationMs, normalizeUpdate } from '../../agent/load/normalize/rollout.js';
import type { Service } from '../../agent/model.js';
import { batches, effectiveOrder, rolloutBounds } from '../../agent/targets/rollout.js';

describe('rollout arithmetic', () => {
  it('batches slots by parallelism; 0 means all at once', () => {
    const table: [number[], number, number[][]][] = [
      [[1, 2, 3, 4, 5], 2, [[1, 2], [3, 4], [5]]],
      [[1, 2, 3], 1, [[1], [2], [3]]],
      [[1, 2, 3], 5, [[1, 2, 3]]],
      [[2, 3], 0, [[2, 3]]],
      [[], 1, []],
    ];
    for (const [slots, parallelism, expected] of table) assert.deepEqual(batches(slots, parallelism), expected, `${slots} by ${parallelism}`);
  });

  it('bounds what a rollout may show: start-first never dips, stop-first never surges', () => {
    const table: [number, number, 'start-first' | 'stop-first', { minReady: number; maxContainers: number }][] = [
      [3, 1, 'start-first', { minReady: 3, maxContainers: 4 }],
      [3, 2, 'start-first', { minReady: 3, maxContainers: 5 }],
      [3, 0, 'start-first', { minReady: 3, maxContainers: 6 }],
      [3, 1, 'stop-first', { minReady: 2, maxContainers: 3 }],
      [1, 5, 'stop-first', { minReady: 0, maxContainers: 1 }],
    ];
    for (const [replicas, parallelism, order, expected] of table) assert.deepEqual(rolloutBounds(replicas, parallelism, order), expected);
  });

  it('forces stop-first for a fixed host port, keeps an ephemeral one start-first', () => {
    const base = { ports: [], update: undefined } as unknown as Service;
    assert.deepEqual(effectiveOrder(base), { order: 'start-first' });
    assert.equal(effectiveOrder({ ...base, ports: [{ containerPort: 80, protocol: 'tcp' }] }).order, 'start-first');
    assert.equal(effectiveOrder({ ...base, ports: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }] }).order, 'stop-first');
    assert.deepEqual(effectiveOrder({ ...base, update: { ...normalizeUpdate({ order: 'stop-first' })! } }), { order: 'stop-first' });
  });

  it('parses Compose durations', () => {
    const table: [string, number][] = [
      ['10s', 10_000],
      ['1m30s', 90_000],
      ['500ms', 500],
      ['1h', 3_600_000],
      ['1.5s', 1_500],
      ['0s', 0],
    ];
    for (const [text, expected] of table) assert.equal(durationMs(text), expected, text);
  });
});

describe('readiness of a new replica', () => {
  const now = Date.parse('2026-01-01T00:00:10Z');
  const rule = { monitorMs: 5_000, oneShot: false, deadline: now + 60_000 };
  const running = (startedSecondsAgo: number, extra: Partial<ContainerStateView> = {}): ContainerStateView => ({
    Status: 'running',
    Running: true,
    Restarting: false,
    ExitCode: 0,
    StartedAt: new Date(now - startedSecondsAgo * 1000).toISOString(),
    ...extra,
  });

  const table: [string, ContainerStateView, Partial<typeof rule>, string][] = [
    ['running past monitor', running(6), {}, 'ready'],
    ['running shorter than monitor', running(2), {}, 'pending'],
    ['running shorter than monitor, past deadline', running(2), { deadline: now - 1 }, 'failed'],
    ['healthy', running(1, { Health: { Status: 'healthy' } }), {}, 'ready'],
    ['health starting', running(30, { Health: { Status: 'starting' } }), {}, 'pending'],
    ['health starting past deadline', running(30, { Health: { Status: 'starting' } }), { deadline: now - 1 }, 'failed'],
    ['unhealthy', running(30, { Health: { Status: 'unhealthy', FailingStreak: 3 } }), {}, 'failed'],
    ['crash loop', running(1, { Running: false, Restarting: true, Status: 'restarting', ExitCode: 1 }), {}, 'failed'],
    ['exited 1', running(1, { Running: false, Status: 'exited', ExitCode: 1 }), {}, 'failed'],
    ['exited 0, long-running service', running(1, { Running: false, Status: 'exited', ExitCode: 0 }), {}, 'failed'],
    ['exited 0, one-shot', running(1, { Running: false, Status: 'exited', ExitCode: 0 }), { oneShot: true }, 'ready'],
    ['exited 2, one-shot', running(1, { Running: false, Status: 'exited', ExitCode: 2 }), { oneShot: true }, 'failed'],
    ['created, not started yet', running(0, { Running: false, Status: 'created' }), {}, 'pending'],
    ['running again after a restart by Docker since the wait began', running(1, { RestartsSinceWaitBegan: 1, ExitCode: 1 }), {}, 'failed'],
    ['running past monitor, restarted meanwhile', running(6, { RestartsSinceWaitBegan: 2 }), {}, 'failed'],
  ];
  for (const [name, view, override, expected] of table) {
    it(name, () => assert.equal(readiness(view, { ...rule, ...override }, now).state, expected));
  }

  it('waits out the rest of a monitor window instead of polling, never past the deadline', () => {
    // Running 2 s of 5: the verdict cannot turn ready before 3 s more.
    const inWindow = readiness(running(2), rule, now);
    assert.deepEqual(inWindow, { state: 'pending', why: 'running for 2000 of 5000 ms', recheckInMs: 3_000 });
    assert.equal(recheckDelayMs(inWindow, rule, now, 250), 3_000);
    assert.equal(recheckDelayMs(inWindow, { ...rule, deadline: now + 1_000 }, now, 250), 1_001, 'the deadline comes first');
    assert.equal(recheckDelayMs(readiness(running(4.9), rule, now), rule, now, 250), 250, 'never below the poll interval');
    // Health checks and one-shots can change any moment: polled.
    const starting = readiness(running(30, { Health: { Status: 'starting' } }), rule, now);
    assert.equal(recheckDelayMs(starting, rule, now, 250), 250);
    const oneShot = { ...rule, oneShot: true };
    assert.equal(recheckDelayMs(readiness(running(2), oneShot, now), oneShot, now, 250), 250);
  });

  it('says why it failed, without any output of the check', () => {
    const verdict = readiness(running(30, { Health: { Status: 'unhealthy', FailingStreak: 3 } }), rule, now);
    assert.deepEqual(verdict, { state: 'failed', reason: 'unhealthy (3 failed checks in a row)' });
  });
});
